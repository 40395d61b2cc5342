/**
 * `npm run fixtures:record`: runs every fixture case (test/fixtures/bpf/cases.ts) on this
 * machine's kernel with BPF_PROG_TEST_RUN (bpftool prog run), for each CPU version the
 * object was compiled for, and writes test/fixtures/bpf/expected.json; then the program
 * corpus (test/fixtures/corpus/cases.ts, -mcpu=v3 only) into test/fixtures/corpus/expected.json.
 * `--fixtures` or `--corpus` records only one of them; names after it (case-name
 * prefixes) record only those cases, the rest of the file kept. Needs root, clang-built objects
 * (scripts/build-fixtures.sh) and bpftool.
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

function record(dir: string, cases: FixtureCase[], cpus: readonly (typeof CPUS)[number][]): void {
  const pick = (c: FixtureCase): boolean => prefixes.length === 0 || prefixes.some((p) => c.name.startsWith(p));
  const old = prefixes.length > 0 && existsSync(dir + 'expected.json')
    ? (JSON.parse(readFileSync(dir + 'expected.json', 'utf8')) as { recorded: Record<string, Recorded> }).recorded : {};
  // (the recorded runs of the cases not picked stay, in their order; new ones go after them)
  const out: Record<string, Recorded> = {};
  const names = new Set(cases.flatMap((c) => cpus.map((cpu) => `${c.name}@${cpu}`)));
  for (const [k, r] of Object.entries(old)) if (names.has(k)) out[k] = r;
  for (const c of cases) {
    if (!pick(c)) continue;
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
const prefixes = process.argv.slice(3);
if (only !== '--corpus') record(new URL('../test/fixtures/bpf/', import.meta.url).pathname, CASES, CPUS);
if (only !== '--fixtures') record(new URL('../test/fixtures/corpus/', import.meta.url).pathname, CORPUS_CASES, ['v3']);
