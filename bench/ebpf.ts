/**
 * eBPF execution: ns per packet for fixture programs compiled to WebAssembly and on the
 * interpreter (both through BPF_PROG_TEST_RUN, `testRun`, 20,000 repetitions), next to
 * the kernel's own BPF_PROG_TEST_RUN average for the same object and packet (bpftool prog
 * run … repeat, when root and bpftool are there); ns per executed eBPF instruction for
 * both engines on each; and the time to compile each program (code generation, validation and
 * instantiation) and a generated 1,000-instruction program, with and without the batch
 * loop tc and XDP programs get. Compiled tc and XDP programs run their repetitions on
 * their batch code (one call for up to 64), as xmit and the NIC's XDP hook run them.
 * The fixtures include issue 23's slow shapes (hash and per-CPU lookups, tail calls, helper
 * rewriting, a checksum loop leaving on data_end, calls doing div/mod); a case's maps are
 * filled (`mapsIn`) and its tail-call targets loaded (`with`) on both sides. The table's
 * range is the spread of the paired ratios over processes and rounds; the last row is the
 * median of the fixtures' compiled ÷ kernel ratios (range: the smallest and the largest).
 */

import { readFileSync } from 'node:fs';
import { Emulator } from '../src/emulator.js';
import { assemble } from '../src/ebpf/assembler.js';
import { compileProgram } from '../src/ebpf/codegen/compile.js';
import type { BpfProgram } from '../src/ebpf/program.js';
import { CASES } from '../test/fixtures/bpf/cases.js';
import { kernelRefusal, kernelRun, kernelUnavailableReason } from '../test/helpers/kernel.js';
import { longProgram } from '../test/helpers/random-prog.js';
import { putElem } from '../test/helpers/recorded.js';
import { defineSuite, type BenchCase } from './runner.js';

const DIR = new URL('../test/fixtures/bpf/', import.meta.url).pathname;
const REPEAT = 20000;
const PICK = [
  'fix_csum/bad', 'sum_payload/udp1500', 'drop_port/udp53', 'count/udp', 'nat/udp53', 'loop_sum/udp', 'redir/7000', 'xdp_head/udp',
  // issue 23's slow shapes: per-CPU and hash lookups, tail calls (an empty slot, then a jump),
  // helper rewriting, a 16-bit checksum loop leaving on data_end, calls doing div/mod/shifts
  'xdp_filter/udp8080', 'tail_root/tos0', 'tail_root/tos1', 'rewrite/0', 'csum_words_tc/udp600', 'csum_words_xdp/udp100', 'flow_hash/1',
];

let emu: Emulator;
const progs = new Map<string, BpfProgram>();

async function setup(): Promise<void> {
  if (emu) return;
  emu = await Emulator.create({});
  for (const name of PICK) {
    const c = CASES.find((x) => x.name === name)!;
    const loaded = emu.loadObject(readFileSync(`${DIR}${c.object}.o`), { programs: [c.program, ...(c.with ?? [])] });
    for (const e of c.mapsIn ?? []) putElem(loaded.maps, e);
    const p = loaded.programs.get(c.program)!;
    if (p.jit.slot === 0) throw new Error(`${name}: not compiled (${p.jit.reason})`);
    progs.set(name, p);
    compileMs(p.insns, 10, batchOf(p));
    // Warm both engines up (the compiled code tiers up from V8's baseline compiler).
    for (let k = 0; k < 5; k++) for (const interpreter of [false, true]) emu.testRun(p, { data: c.packet, ctx: c.ctx, repeat: 5000, interpreter });
  }
}

async function teardown(): Promise<void> {
  await emu?.close();
}

/** Test runs per sample, on both sides (their median is the sample): one run of a small program is a fraction of a millisecond. */
const RUNS = 5;

function run(name: string, interpreter: boolean, perInsn: boolean): number {
  const c = CASES.find((x) => x.name === name)!;
  const t: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const r = emu.testRun(progs.get(name)!, { data: c.packet, ctx: c.ctx, repeat: REPEAT, interpreter });
    if (r.fault) throw new Error(`${name}: fault ${r.fault}`);
    t.push(perInsn ? r.durationNs / r.executed : r.durationNs);
  }
  return t.sort((a, b) => a - b)[RUNS >> 1]!;
}

/** The batch loop a program of this type is compiled with (Emulator.loadProgram). */
const batchOf = (p: BpfProgram): 'skb' | 'xdp' | undefined => (p.type === 'sched_cls' ? 'skb' : p.type === 'xdp' ? 'xdp' : undefined);

/**
 * Median time of `n` compiles (generate, validate, instantiate) of `insns`, in ms; `batch`:
 * with the batch loop for that context, as tc and XDP programs are compiled (the main
 * function twice).
 */
function compileMs(insns: Uint8Array, n = 50, batch?: 'skb' | 'xdp'): number {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const info = emu.dp.jit.compile(insns, { batch });
    t.push(performance.now() - t0);
    emu.dp.jit.release(info.slot);
  }
  return t.sort((a, b) => a - b)[n >> 1]!;
}

/** A 1,000-instruction program: bounds-checked packet reads, stack traffic, branches. */
function bigProgram(): Uint8Array {
  const p = assemble(longProgram(999));
  compileProgram(p); // fails loudly here rather than in a measured case
  return p;
}

/** Maps the kernel run pins (a prog array loses its programs when no pin or fd holds it). */
const kernelMaps = (c: (typeof CASES)[number]): string[] | undefined => (c.with ? (Array.isArray(c.maps) ? c.maps : undefined) : undefined);

const kernelWhy = kernelUnavailableReason();
const ns = { metric: 'time', unit: 'ns/pkt', higherIsBetter: false } as const;
const perInsn = { metric: 'time', unit: 'ns/insn', higherIsBetter: false } as const;
const ms = { metric: 'compile', unit: 'ms', higherIsBetter: false } as const;

const cases: BenchCase[] = PICK.flatMap((name) => {
  const c = CASES.find((x) => x.name === name)!;
  const out: BenchCase[] = [];
  // A fixture this kernel refuses (kernel builds differ) runs without its kernel baseline.
  const refused = kernelWhy ? undefined : kernelRefusal(`${DIR}${c.object}.o`, c.program);
  if (refused !== undefined) console.error(`ebpf bench: ${name}: no kernel baseline, refused by this kernel: ${refused}`);
  const withKernel = !kernelWhy && refused === undefined;
  const base = withKernel ? { baseline: `${name} kernel` } : {};
  if (withKernel) out.push({ name: `${name} kernel`, ...ns, external: () => kernelRun(`${DIR}${c.object}.o`, c.program, c.packet, REPEAT, { ctxIn: c.ctx, mapsIn: c.mapsIn, maps: kernelMaps(c), runs: RUNS }).durationNs });
  out.push({ name: `${name} compiled`, ...ns, ...base, ...(withKernel ? { group: 'compiled ÷ kernel over the fixtures' } : {}), setup, teardown, external: () => run(name, false, false) });
  out.push({ name: `${name} interp`, ...ns, ...base, setup, teardown, external: () => run(name, true, false) });
  out.push({ name: `${name} interp/insn`, ...perInsn, setup, teardown, external: () => run(name, true, true) });
  out.push({ name: `${name} compiled/insn`, ...perInsn, baseline: `${name} interp/insn`, setup, teardown, external: () => run(name, false, true) });
  out.push({ name: `${name} compile`, ...ms, setup, teardown, external: () => compileMs(progs.get(name)!.insns, 50, batchOf(progs.get(name)!)) });
  return out;
});
let big: Uint8Array;
// The code generator is JavaScript: warm it up like the dataplane is before measuring.
const bigSetup = async (): Promise<void> => { await setup(); if (!big) { big = bigProgram(); compileMs(big, 40); compileMs(big, 40, 'skb'); } };
cases.push({ name: '1000 insns compile', ...ms, teardown, setup: bigSetup, external: () => compileMs(big, 20) });
cases.push({ name: '1000 insns compile tc (batch loop)', ...ms, teardown, setup: bigSetup, external: () => compileMs(big, 20, 'skb') });

if (kernelWhy) process.stderr.write(`bench ebpf: no kernel column (${kernelWhy})\n`);

export default defineSuite({ name: 'ebpf', cases });
