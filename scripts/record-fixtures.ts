/**
 * `npm run fixtures:record`: runs every fixture case (test/fixtures/bpf/cases.ts) on this
 * machine's kernel with BPF_PROG_TEST_RUN (bpftool prog run), for each CPU version the
 * object was compiled for, and writes test/fixtures/bpf/expected.json. Needs root,
 * clang-built objects (scripts/build-fixtures.sh) and bpftool.
 */

import { existsSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { CASES, CPUS, objectFile, type Recorded } from '../test/fixtures/bpf/cases.js';
import { kernelRun, kernelUnavailableReason } from '../test/helpers/kernel.js';

const dir = new URL('../test/fixtures/bpf/', import.meta.url).pathname;
const why = kernelUnavailableReason();
if (why) {
  console.error(`fixtures:record: cannot run programs in the kernel: ${why}`);
  process.exit(1);
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const out: Record<string, Recorded> = {};
for (const c of CASES) {
  for (const cpu of CPUS) {
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
const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
writeFileSync(dir + 'expected.json', JSON.stringify({ kernel, recorded: out }, null, 1) + '\n');
const errors = Object.entries(out).filter(([, r]) => r.error);
console.log(`recorded ${Object.keys(out).length} runs on ${kernel}; ${errors.length} refused by the kernel`);
for (const [k, r] of errors) console.log(`  ${k}: ${r.error}`);
