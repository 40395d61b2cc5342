/**
 * `npm run fixtures:record`: runs every fixture case (test/fixtures/bpf/cases.ts) on this
 * machine's kernel with BPF_PROG_TEST_RUN (bpftool prog run), for each CPU version the
 * object was compiled for, and writes test/fixtures/bpf/expected.json; then the program
 * corpus (test/fixtures/corpus/cases.ts, -mcpu=v3 only) into test/fixtures/corpus/expected.json.
 * `--fixtures` or `--corpus` records only one of them. Needs root, clang-built objects
 * (scripts/build-fixtures.sh) and bpftool.
 */

import { existsSync, writeFileSync } from 'node:fs';
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

function record(dir: string, cases: FixtureCase[], cpus: readonly (typeof CPUS)[number][]): void {
  const out: Record<string, Recorded> = {};
  for (const c of cases) {
    for (const cpu of cpus) {
      const file = dir + objectFile(c.object, cpu);
      if (!existsSync(file)) continue;
      const key = `${c.name}@${cpu}`;
      try {
        const r = kernelRun(file, c.program, c.packet, 1, { ctxIn: c.ctx, maps: c.maps, mapsIn: c.mapsIn, type: c.type });
        out[key] = { retval: r.retval, dataOut: hex(r.dataOut), ...(r.ctxOut ? { ctxOut: hex(r.ctxOut) } : {}), ...(r.maps ? { maps: r.maps } : {}) };
      } catch (e) {
        out[key] = { retval: 0, dataOut: '', error: (e as Error).message.split('\n').slice(-1)[0]! };
      }
    }
  }
  writeFileSync(dir + 'expected.json', JSON.stringify({ kernel, recorded: out }, null, 1) + '\n');
  const errors = Object.entries(out).filter(([, r]) => r.error);
  console.log(`${dir}: recorded ${Object.keys(out).length} runs on ${kernel}; ${errors.length} refused by the kernel`);
  for (const [k, r] of errors) console.log(`  ${k}: ${r.error}`);
}

const only = process.argv[2];
if (only !== '--corpus') record(new URL('../test/fixtures/bpf/', import.meta.url).pathname, CASES, CPUS);
if (only !== '--fixtures') record(new URL('../test/fixtures/corpus/', import.meta.url).pathname, CORPUS_CASES, ['v3']);
