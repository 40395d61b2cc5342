/**
 * Builds the verdict-parity corpus (test/fixtures/verifier/corpus.ts) and records the
 * local kernel's verdicts: each entry is compiled with clang to
 * test/fixtures/verifier/obj/NAME.o, loaded with `bpftool -d prog load` (as root), and
 * its verdict, errno and refusal line (the one before `processed N insns`) written to
 * test/fixtures/verifier/kernel-verdicts.json. Needs root, clang and bpftool.
 *
 *   npx tsx scripts/build-verifier-corpus.ts [--no-kernel] [NAME_PREFIX…]
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CORPUS, cSource, type CorpusEntry } from '../test/fixtures/verifier/corpus.js';
import { kernelVerdict } from '../test/helpers/verdict.js';

const run = promisify(execFile);
const root = new URL('../test/fixtures/verifier/', import.meta.url).pathname;
const objDir = join(root, 'obj');
const jsonPath = join(root, 'kernel-verdicts.json');
const args = process.argv.slice(2);
const noKernel = args.includes('--no-kernel');
const prefixes = args.filter((a) => !a.startsWith('--'));
const pick = (e: CorpusEntry): boolean => prefixes.length === 0 || prefixes.some((p) => e.name.startsWith(p));

mkdirSync(objDir, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'nkemu-vcorpus-'));

async function compile(e: CorpusEntry): Promise<void> {
  const src = join(tmp, `${e.name}.c`);
  writeFileSync(src, cSource(e));
  await run('clang', ['-O2', ...(e.maps?.length ? ['-g'] : []), '-target', 'bpf', '-mcpu=v3', '-I/usr/include/x86_64-linux-gnu', '-c', src, '-o', join(objDir, `${e.name}.o`)]);
}

const todo = CORPUS.filter(pick);
// Two at a time: this machine has two slow cores shared with others.
for (let i = 0; i < todo.length; i += 2) await Promise.all(todo.slice(i, i + 2).map(compile));
// Objects of entries no longer in the corpus go.
const names = new Set(CORPUS.map((e) => `${e.name}.o`));
for (const f of readdirSync(objDir)) if (!names.has(f)) unlinkSync(join(objDir, f));
rmSync(tmp, { recursive: true, force: true });
console.log(`compiled ${todo.length} programs into ${objDir}`);

if (!noKernel) {
  const old = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) as { entries: Record<string, unknown> } : { entries: {} };
  const entries: Record<string, unknown> = {};
  for (const e of CORPUS) {
    entries[e.name] = pick(e) ? kernelVerdict(join(objDir, `${e.name}.o`)) : old.entries[e.name];
  }
  writeFileSync(jsonPath, JSON.stringify({ kernel: release(), entries }, null, 1) + '\n');
  const refused = Object.values(entries).filter((v) => !(v as { ok: boolean }).ok).length;
  console.log(`kernel ${release()}: ${CORPUS.length - refused} accepted, ${refused} refused; written to ${jsonPath}`);
}
