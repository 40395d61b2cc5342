/**
 * Corpora the repository cannot contain (the bpf_conformance suite) live in the project's
 * shared directory: `$NKEMU_SHARED` if set, else `../shared` beside the repository. A fresh
 * clone has neither; the tests that need them skip with a one-line note.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

const root = fileURLToPath(new URL('../..', import.meta.url));
const noted = new Set<string>();

/** The directory `sub` of the shared corpora (with a trailing slash), or undefined when absent. */
export function sharedDir(sub: string): string | undefined {
  const base = process.env.NKEMU_SHARED ? resolve(process.env.NKEMU_SHARED) : join(root, '..', 'shared');
  const dir = join(base, sub);
  if (existsSync(dir)) return dir.endsWith('/') ? dir : `${dir}/`;
  if (!noted.has(dir)) {
    noted.add(dir);
    console.warn(`skipped: ${dir} not found (set NKEMU_SHARED to the directory holding ${sub})`);
  }
  return undefined;
}
