/**
 * `npm run fixtures:record`: runs every fixture case (test/fixtures/bpf/cases.ts) on this
 * machine's kernel with BPF_PROG_TEST_RUN (bpftool prog run), for each CPU version the
 * object was compiled for, and writes test/fixtures/bpf/expected.json; then the program
 * corpus (test/fixtures/corpus/cases.ts, -mcpu=v3 only) into test/fixtures/corpus/expected.json.
 * `--fixtures` or `--corpus` records only one of them; `--only NAME,…` (after either) only
 * the cases whose names start with one of these, merged into the recording there is (which
 * must be this kernel's). Needs root, clang-built objects (scripts/build-fixtures.sh) and
 * bpftool.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { CASES, CPUS, objectFile, type FixtureCase, type Recorded } from '../test/fixtures/bpf/cases.js';
import { CORPUS_CASES } from '../test/fixtures/corpus/cases.js';
import { kernelRun, kernelUnavailableReason } from '../test/helpers/kernel.js';

const why = kernelUnavailableReason();
if (why) {
  console.error(`fixtures:record: cannot run programs in the kernel: ${why}`);
  process.exit(1);
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();

/** Case-name prefixes `--only` picks (undefined: every case). */
const onlyAt = process.argv.indexOf('--only');
const picked = onlyAt < 0 ? undefined : (process.argv[onlyAt + 1] ?? '').split(',').filter(Boolean);
if (picked && picked.length === 0) {
  console.error('fixtures:record: --only takes case names (prefixes), separated by commas');
  process.exit(1);
}

function record(dir: string, all: FixtureCase[], cpus: readonly (typeof CPUS)[number][]): void {
  const cases = picked ? all.filter((c) => picked.some((p) => c.name.startsWith(p))) : all;
  if (picked && cases.length === 0) return;
  let out: Record<string, Recorded> = {};
  if (picked) {
    // (one recording is one kernel's: a partial run goes into it only on that kernel)
    const prev = JSON.parse(readFileSync(dir + 'expected.json', 'utf8')) as { kernel: string; recorded: Record<string, Recorded> };
    if (prev.kernel !== kernel) {
      console.error(`fixtures:record: ${dir}expected.json is ${prev.kernel}'s, this is ${kernel}: record every case (no --only)`);
      process.exit(1);
    }
    out = prev.recorded;
  }
  const fresh: Record<string, Recorded> = {};
  for (const c of cases) {
    for (const cpu of cpus) {
      const file = dir + objectFile(c.object, cpu);
      if (!existsSync(file)) continue;
      const key = `${c.name}@${cpu}`;
      try {
        const r = kernelRun(file, c.program, c.packet, 1, { ctxIn: c.ctx, maps: c.maps, mapsIn: c.mapsIn, type: c.type });
        fresh[key] = { retval: r.retval, dataOut: hex(r.dataOut), ...(r.ctxOut ? { ctxOut: hex(r.ctxOut) } : {}), ...(r.maps ? { maps: r.maps } : {}) };
      } catch (e) {
        fresh[key] = { retval: 0, dataOut: '', error: (e as Error).message.split('\n').slice(-1)[0]! };
      }
    }
  }
  // (merged cases keep their place; new ones go after, in the cases' order)
  out = { ...out, ...fresh };
  writeFileSync(dir + 'expected.json', JSON.stringify({ kernel, recorded: out }, null, 1) + '\n');
  const errors = Object.entries(fresh).filter(([, r]) => r.error);
  console.log(`${dir}: recorded ${Object.keys(fresh).length} runs on ${kernel}${picked ? ` (into the ${Object.keys(out).length} there)` : ''}; ${errors.length} refused by the kernel`);
  for (const [k, r] of errors) console.log(`  ${k}: ${r.error}`);
}

const only = process.argv.find((a) => a === '--corpus' || a === '--fixtures');
if (only !== '--corpus') record(new URL('../test/fixtures/bpf/', import.meta.url).pathname, CASES, CPUS);
if (only !== '--fixtures') record(new URL('../test/fixtures/corpus/', import.meta.url).pathname, CORPUS_CASES, ['v3']);
