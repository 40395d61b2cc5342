/**
 * The package as users get it: `npm pack` of this repository, installed into an empty
 * project in a temporary directory (its dependencies come from the registry).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface Installed {
  /** The project directory (package.json with `"type": "module"`, node_modules/nkemu). */
  dir: string;
  /** The tarball `npm pack` made. */
  tarball: string;
  /** `npm pack --json`'s file list. */
  files: { path: string; size: number }[];
  cleanup(): void;
}

const npm = (cwd: string, args: string[]): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export function packAndInstall(extra: string[] = []): Installed {
  const root = mkdtempSync(join(tmpdir(), 'nkemu-pkg-'));
  try {
    const packed = JSON.parse(npm(repo, ['pack', '--json', '--pack-destination', root])) as { filename: string; files: { path: string; size: number }[] }[];
    const tarball = join(root, packed[0]!.filename);
    const dir = join(root, 'app');
    mkdirSync(dir);
    npm(dir, ['init', '-y']);
    npm(dir, ['pkg', 'set', 'type=module']);
    npm(dir, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...extra]);
    if (!readdirSync(join(dir, 'node_modules')).includes('nkemu')) throw new Error('nkemu not installed');
    return { dir, tarball, files: packed[0]!.files, cleanup: () => rmSync(root, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}
