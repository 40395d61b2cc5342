/**
 * The differential fuzzing of every compiled entry point against the interpreter
 * (test/ebpf/entry-fuzz.test.ts, and `npm run fuzz`: scripts/fuzz-entries.ts), on
 * programs in the shapes real projects compile to (shaped-prog.ts), verified ones and
 * mutated ones the load-time checks refuse:
 * - per-packet code and the batch entry: BPF_PROG_TEST_RUN once and repeated (repeat 3
 *   runs a verified program's batch code), compiled vs `interpreter: true`: r0, fault,
 *   fault pc, packet and context out, executed count;
 * - netkit xmit, tcx and NIC XDP batches: the same program attached in an emulator that
 *   compiles and in one that does not (`jit: false`), the same frames sent: every frame
 *   delivered (device, bytes, mark, priority) in order, and every counter and drop reason;
 *   a verified tc program also in a list of two (twice over, or first before the last such
 *   program of its type), which the compiling emulator runs on a list module when both
 *   may be part of one (codegen/list.ts).
 */

import * as A from '../../src/abi.generated.js';
import { assemble } from '../../src/ebpf/assembler.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import type { TestRunOptions, TestRunResult } from '../../src/ebpf/testrun.js';
import { Emulator } from '../../src/emulator.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import { frames, mutate, placeTailMap, shapedProgram, type ShapedType } from './shaped-prog.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * emu.testRun on a budget of TEST_BUDGET instructions per run instead of the dataplane's
 * 1,000,000 (BPF_PROG_TEST_RUN has no such option: the test VM's run gets it), so a program
 * that loops forever ends on the budget in a few hundred microseconds, on both engines.
 */
const TEST_BUDGET = 50_000;
function testRun(emu: Emulator, p: BpfProgram, o: TestRunOptions): TestRunResult {
  const test = (): { run: (...a: unknown[]) => unknown } | undefined => (emu as unknown as { testVm?: { run: (...a: unknown[]) => unknown } }).testVm;
  if (test() === undefined) emu.testRun(p, { data: new Uint8Array(14) }); // (the test VM exists from the first run)
  const vm = test()!;
  const run = vm.run;
  vm.run = (...a: unknown[]) => run.call(vm, a[0], a[1], { ...(a[2] as object), budget: TEST_BUDGET });
  try {
    return emu.testRun(p, o);
  } finally {
    vm.run = run;
  }
}

function outcome(r: TestRunResult): object {
  return { retval: r.retval, fault: r.fault, faultPc: r.faultPc, data: hex(r.dataOut), ctx: hex(r.ctxOut), executed: r.executed };
}

export interface Rig { emu: Emulator; seen: string[]; tails: BpfMap; listed?: boolean }

/** Whether the device record at `slot` names a list module for its list at `field` (abi PGL_JIT). */
function listModule(emu: Emulator, slot: number, field: number): boolean {
  const dv = emu.dp.view();
  const list = dv.getUint32(emu.dp.deviceRecord(slot) + field, true);
  return list !== 0 && dv.getUint32(list + A.PGL_JIT, true) !== 0;
}

/**
 * One fuzz case, drawn from `rnd`: a shaped program (mutated a quarter of the time, unless
 * it has a subprogram), in a fifth of the cases with a tail call into the rig's
 * PROG_ARRAY, whose slot 1 then holds a second shaped program (itself tail-calling through
 * slot 1 a third of the time: chains up to the 33-call limit), in a fifth (independently)
 * with a bpf-to-bpf call (a verified one takes the slim calling convention); and the frames.
 */
export function draw(rnd: () => number): { type: ShapedType; asm: string; insns: Uint8Array; mutated: boolean; target?: string; fs: Uint8Array[] } {
  const type: ShapedType = rnd() < 0.5 ? 'xdp' : 'sched_cls';
  const tail = rnd() < 0.2;
  const sub = rnd() < 0.2;
  const shaped = shapedProgram(rnd, type, tail, sub);
  const insns = assemble(shaped.asm);
  // (not one with a subprogram: a mutated jump may leave it, which the code generator
  // refuses to compile, as the kernel's checks refuse it)
  const mutated = rnd() < 0.25 && !sub;
  if (mutated) mutate(rnd, insns);
  const target = tail ? shapedProgram(rnd, type, rnd() < 0.33).asm : undefined;
  return { type, asm: shaped.asm, insns, mutated, ...(target ? { target } : {}), fs: frames(rnd) };
}

/** A netkit pair (nk1 in init, nk0 in b) and a NIC (eth0, 2 queues), every delivery recorded. */
export async function rig(jit: boolean): Promise<Rig> {
  const emu = await Emulator.create({ jit, seed: 7 });
  emu.addNetns('b');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'b' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('b', 'nk0', { up: true });
  emu.addNic({ name: 'eth0', rxQueues: 2 });
  emu.setLink('init', 'eth0', { up: true });
  const seen: string[] = [];
  emu.onReceive((dev, frame, meta) => { seen.push(`${dev.name} ${hex(frame)} mark ${meta.mark} prio ${meta.priority}`); });
  const tails = new BpfMap(emu.dp, { name: 'tails', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });
  return { emu, seen, tails };
}

type Path = 'netkit' | 'tcx' | 'xdp';

/**
 * Zeroes the eBPF stacks (the host thread's and the test VM's): what a run reads of stack
 * it has not written is another run's leftovers (the kernel's verifier refuses such reads
 * for unprivileged programs; privileged ones see garbage), and those differ between the
 * engines' layouts (a spilled context pointer of a batch entry is not the per-packet
 * context's), so no run of the comparison starts with another program's.
 */
function clearStacks(emu: Emulator): void {
  const dp = emu.dp;
  const area = dp.view().getUint32(dp.thread(0).state + A.T_BPF, true);
  dp.bytes().fill(0, area + A.BPF_STACK, area + A.BPF_STACK + A.VM_STACK_SIZE);
  const vm = (emu as unknown as { testVm?: { stack: number } }).testVm;
  if (vm) dp.bytes().fill(0, vm.stack, vm.stack + A.VM_STACK_SIZE);
}

/**
 * Runs `frames` through `path` with `prog` attached (and `then` after it: a list of two,
 * which the compiling rig may run on a list module, codegen/list.ts); what came out, and
 * every device's counters.
 */
async function through(r: Rig, path: Path, prog: BpfProgram, fs: Uint8Array[], then?: BpfProgram): Promise<string> {
  const { emu } = r;
  const nk1 = emu.device('init', 'nk1'), nk0 = emu.device('b', 'nk0');
  const progs = then ? [prog, then] : [prog];
  if (path === 'netkit') for (const q of progs) emu.progAttach('init', { ifindex: nk1.ifindex, attachType: 'netkit_primary', prog: q });
  else if (path === 'tcx') for (const q of progs) emu.progAttach('b', { ifindex: nk0.ifindex, attachType: 'tcx_ingress', prog: q });
  else emu.setXdp('init', 'eth0', prog);
  if (then) r.listed = listModule(emu, path === 'netkit' ? nk1.slot : nk0.slot, path === 'netkit' ? A.D_PROGS : A.D_TCX_INGRESS);
  r.seen.length = 0;
  clearStacks(emu);
  try {
    for (const f of fs) {
      if (path === 'xdp') emu.wireIn('init', 'eth0', f);
      else emu.transmit('init', 'nk1', f);
    }
    await emu.settle();
  } finally {
    if (path === 'netkit') for (const q of progs) emu.progDetach('init', { ifindex: nk1.ifindex, attachType: 'netkit_primary', prog: q });
    else if (path === 'tcx') for (const q of progs) emu.progDetach('b', { ifindex: nk0.ifindex, attachType: 'tcx_ingress', prog: q });
    else emu.setXdp('init', 'eth0', undefined);
  }
  const stats = [nk1, nk0, emu.device('init', 'eth0')].map((d) => emu.stats(d));
  return JSON.stringify({ seen: r.seen, stats }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}


/** The last verified program of each type the list check ran (diffProgram's list of two). */
const previous = new Map<ShapedType, Uint8Array>();

/** What one program did differently on the two engines, or undefined. */
export async function fuzzOne(compiled: Rig, interp: Rig, k: number, rnd: () => number, stats: Record<string, number>): Promise<string | undefined> {
  const { type, asm, insns, mutated, target, fs } = draw(rnd);
  const what = `${mutated ? 'mutated ' : ''}${type} program:\n${asm}${target ? `\ntail-call target in slot 1:\n${target}` : ''}`;
  return diffProgram(compiled, interp, k, type, insns, fs, stats, what, target);
}

/**
 * What program `insns` of `type` did differently on the two engines over frames `fs`
 * (testRun once and repeated, then the netkit or tcx path, or NIC XDP), or undefined;
 * `what` describes it in the report. With `target` (assembly), the program's TAIL_MAP is
 * each rig's PROG_ARRAY, and slot 1 holds that program for the run.
 */
export async function diffProgram(compiled: Rig, interp: Rig, k: number, type: ShapedType, insns: Uint8Array, fs: Uint8Array[], stats: Record<string, number>, what: string, target?: string): Promise<string | undefined> {
  const targets = target ? [compiled, interp].map((r) => {
    const t = r.emu.loadProgram({ name: `t${k}`, type, insns: placeTailMap(assemble(target), r.tails.record), maps: [r.tails.record], jit: r === compiled, verify: false });
    r.emu.progArraySet(r.tails, 1, t);
    return t;
  }) : [];
  const maps = (r: Rig): { maps?: number[] } => (target ? { maps: [r.tails.record] } : {});
  const p = compiled.emu.loadProgram({ name: `f${k}`, type, insns: placeTailMap(insns, compiled.tails.record), ...maps(compiled), verify: false });
  const q = interp.emu.loadProgram({ name: `f${k}`, type, insns: placeTailMap(insns, interp.tails.record), ...maps(interp), jit: false, verify: false });
  const fail = (why: string): string => `${why}\n${what}\nbytes ${hex(insns)}`;
  try {
    if (target) stats['tail calls'] = (stats['tail calls'] ?? 0) + 1;
    if (p.jit.slot === 0) return fail(`not compiled: ${p.jit.reason}`);
    const verified = (compiled.emu.dp.view().getUint32(p.record + A.PR_CTX_USE, true) & A.PR_CTX_VERIFIED) !== 0;
    stats[verified ? 'verified' : 'refused'] = (stats[verified ? 'verified' : 'refused'] ?? 0) + 1;
    if (/call local/.test(what) && verified) stats['bpf-to-bpf calls verified'] = (stats['bpf-to-bpf calls verified'] ?? 0) + 1;
    if (target && verified) stats['tail calls verified'] = (stats['tail calls verified'] ?? 0) + 1;
    for (const data of fs) {
      for (const repeat of [1, 3]) {
        clearStacks(compiled.emu);
        const c = outcome(testRun(compiled.emu, p, { data, repeat }));
        clearStacks(compiled.emu);
        const i = outcome(testRun(compiled.emu, p, { data, repeat, interpreter: true }));
        if (JSON.stringify(c) !== JSON.stringify(i)) return fail(`testRun repeat ${repeat} on ${hex(data).slice(0, 40)}…: compiled ${JSON.stringify(c).slice(0, 400)} interpreter ${JSON.stringify(i).slice(0, 400)}`);
        const f = (c as { fault: string | null }).fault ?? 'none';
        stats[`fault ${f}`] = (stats[`fault ${f}`] ?? 0) + 1;
      }
    }
    const path: Path = type === 'xdp' ? 'xdp' : k % 2 === 0 ? 'netkit' : 'tcx';
    const compare = (a: string, b: string, how: string): string | undefined => {
      if (a === b) return undefined;
      let at = 0;
      while (a[at] === b[at]) at++;
      const from = Math.max(0, at - 300);
      return fail(`${how}, from character ${from}: compiled …${a.slice(from, at + 300)}\ninterpreter …${b.slice(from, at + 300)}`);
    };
    const diff = compare(await through(compiled, path, p, fs), await through(interp, path, q, fs), path);
    if (diff !== undefined || path === 'xdp' || !verified || target) return diff;
    // A list of two: this program twice, or (every other pair of programs) this one, then
    // the last verified program of its type before it; the compiling rig runs it on a list
    // module when both may be part of one (codegen/list.ts).
    const then = ((k >> 1) & 1) === 1 ? previous.get(type) ?? insns : insns;
    const other = then !== insns;
    previous.set(type, insns);
    const p2 = compiled.emu.loadProgram({ name: `g${k}`, type, insns: placeTailMap(then, compiled.tails.record), verify: false });
    const q2 = interp.emu.loadProgram({ name: `g${k}`, type, insns: placeTailMap(then, interp.tails.record), jit: false, verify: false });
    try {
      compiled.listed = false;
      const d = compare(await through(compiled, path, p, fs, p2), await through(interp, path, q, fs, q2), `${path}, ${other ? `then the program before it:\n${hex(then)}` : 'the program twice'}`);
      if (compiled.listed) stats['list module'] = (stats['list module'] ?? 0) + 1;
      if (compiled.listed && other) stats['list module, two programs'] = (stats['list module, two programs'] ?? 0) + 1;
      return d;
    } finally {
      compiled.emu.closeProgram(p2);
      interp.emu.closeProgram(q2);
    }
  } catch (e) {
    return fail(`threw ${(e as Error).stack}`);
  } finally {
    compiled.emu.closeProgram(p);
    interp.emu.closeProgram(q);
    [compiled, interp].forEach((r, j) => {
      if (!targets[j]) return;
      r.emu.progArraySet(r.tails, 1, undefined);
      r.emu.closeProgram(targets[j]!);
    });
  }
}

