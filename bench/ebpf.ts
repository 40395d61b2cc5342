/**
 * eBPF execution: ns per packet for fixture programs on nkemu's interpreter (through
 * BPF_PROG_TEST_RUN, `testRun`, 20,000 repetitions) next to the kernel's own
 * BPF_PROG_TEST_RUN average for the same object and packet (bpftool prog run … repeat,
 * when root and bpftool are there), and ns per executed eBPF instruction.
 */

import { readFileSync } from 'node:fs';
import { Emulator } from '../src/emulator.js';
import type { BpfProgram } from '../src/ebpf/program.js';
import { CASES } from '../test/fixtures/bpf/cases.js';
import { kernelRun, kernelUnavailableReason } from '../test/helpers/kernel.js';
import { defineSuite, type BenchCase } from './runner.js';

const DIR = new URL('../test/fixtures/bpf/', import.meta.url).pathname;
const REPEAT = 20000;
const PICK = ['fix_csum/bad', 'drop_port/udp53', 'count/udp', 'nat/udp53', 'loop_sum/udp'];

let emu: Emulator;
const progs = new Map<string, BpfProgram>();

async function setup(): Promise<void> {
  if (emu) return;
  emu = await Emulator.create({});
  for (const name of PICK) {
    const c = CASES.find((x) => x.name === name)!;
    progs.set(name, emu.loadObject(readFileSync(`${DIR}${c.object}.o`), { programs: [c.program] }).programs.get(c.program)!);
  }
}

async function teardown(): Promise<void> {
  await emu?.close();
}

function interp(name: string, perInsn: boolean): number {
  const c = CASES.find((x) => x.name === name)!;
  const r = emu.testRun(progs.get(name)!, { data: c.packet, ctx: c.ctx, repeat: REPEAT });
  if (r.fault) throw new Error(`${name}: fault ${r.fault}`);
  return perInsn ? r.durationNs / r.executed : r.durationNs;
}

const kernelWhy = kernelUnavailableReason();
const ns = { metric: 'time', unit: 'ns/pkt', higherIsBetter: false } as const;

const cases: BenchCase[] = PICK.flatMap((name) => {
  const c = CASES.find((x) => x.name === name)!;
  const out: BenchCase[] = [];
  if (!kernelWhy) out.push({ name: `${name} kernel`, ...ns, external: () => kernelRun(`${DIR}${c.object}.o`, c.program, c.packet, REPEAT, { ctxIn: c.ctx }).durationNs });
  out.push({ name: `${name} interp`, ...ns, ...(kernelWhy ? {} : { baseline: `${name} kernel` }), setup, teardown, external: () => interp(name, false) });
  out.push({ name: `${name} interp/insn`, metric: 'time', unit: 'ns/insn', higherIsBetter: false, setup, teardown, external: () => interp(name, true) });
  return out;
});

if (kernelWhy) process.stderr.write(`bench ebpf: no kernel column (${kernelWhy})\n`);

export default defineSuite({ name: 'ebpf', cases });
