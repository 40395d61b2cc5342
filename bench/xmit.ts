/**
 * netkit xmit throughput: pktgen → netkit xmit → the peer's rx ring → drop sink, batch
 * 64, at 64 B and 1500 B. The Wasm dataplane against a plain TypeScript loop doing the
 * same work over the same memory (xmit-baseline.ts), inline on one thread; and the Wasm
 * dataplane on one worker thread, driven from the host.
 */

import { Emulator } from '../src/emulator.js';
import { assemble } from '../src/ebpf/assembler.js';
import type { NetDevice } from '../src/net/netdev.js';
import { defineSuite, rate, type BenchCase } from './runner.js';
import { tsPktgen } from './xmit-baseline.js';
import { benchFrame as frame } from './frame.js';
import { udpPortParser } from './parser.js';

/** Packets per measured operation: enough to amortise the JS→Wasm call, small enough to tier up. */
const OP = 8192;
const BATCH = 64;

let inline: Emulator;
let worker: Emulator;
const pairs: Record<string, NetDevice> = {};
const templates: Record<number, number> = {};

/** The parser the cases attach (bench/parser.ts): DROP for port 8080, else NEXT. */
const PARSE = udpPortParser(8080);

/**
 * A pair whose primary has `n` parser programs attached (compiled, or on the interpreter);
 * `text` the program (default PARSE).
 */
function progPair(emu: Emulator, name: string, n: number, jit = true, text = PARSE): NetDevice {
  const p = pair(emu, name);
  for (let i = 0; i < n; i++) {
    const prog = emu.loadProgram({ name: `parse${i}`, type: 'sched_cls', insns: assemble(text), jit });
    emu.progAttach('init', { ifindex: p.ifindex, attachType: 'netkit_primary', prog });
  }
  return p;
}

function pair(emu: Emulator, name: string): NetDevice {
  const [p, q] = emu.addLink({ ifname: `${name}1`, linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: `${name}0` } } } });
  emu.setLink('init', p!.name, { up: true });
  emu.setLink('init', q!.name, { up: true });
  emu.setRxSink('init', q!.name, 'drop');
  return p!;
}

async function setup(): Promise<void> {
  if (inline) return;
  inline = await Emulator.create({ framesPerThread: 1024 });
  worker = await Emulator.create({ workers: 1, framesPerThread: 1024 });
  pairs.wasm = pair(inline, 'w');
  pairs.ts = pair(inline, 't');
  pairs.worker = pair(worker, 'k');
  pairs.kp1 = progPair(worker, 'kp1x', 1);
  pairs.kp1i = progPair(worker, 'kp1i', 1, false);
  for (const n of [1, 2, 8]) pairs[`p${n}`] = progPair(inline, `p${n}x`, n);
  pairs.p1i = progPair(inline, 'p1i', 1, false);
  for (const size of [64, 1500]) {
    const t = inline.dp.alloc(size);
    inline.dp.bytes().set(frame(size), t);
    templates[size] = t;
  }
}

async function teardown(): Promise<void> {
  await inline?.close();
  await worker?.close();
}

function cases(size: number): BenchCase[] {
  const mpps = { metric: 'Mpps', unit: 'Mpps', higherIsBetter: true } as const;
  return [
    {
      name: `ts ${size}B`, ...mpps, setup, teardown,
      run: () => tsPktgen(inline.dp, pairs.ts!.slot, templates[size]!, size, OP, BATCH),
      value: rate(1e6),
    },
    {
      name: `wasm ${size}B`, ...mpps, baseline: `ts ${size}B`, setup,
      run: () => inline.dp.exports.pktgen(0, pairs.wasm!.slot, templates[size]!, size, OP, BATCH, 1, 0, 0x0008),
      value: rate(1e6),
    },
    {
      name: `wasm ${size}B 1 worker`, ...mpps, baseline: `ts ${size}B`, setup,
      external: () => workerRate(pairs.worker!, size),
    },
  ];
}

/** pktgen on the worker that owns `dev`, after a tier-up run (pktgen waits for the worker's JIT installs). */
async function workerRate(dev: NetDevice, size: number): Promise<number> {
  const count = 1 << 21;
  const f = frame(size);
  await worker.pktgen('init', dev.name, f, { count: 1 << 16 }); // tier-up
  const t0 = performance.now();
  const sent = await worker.pktgen('init', dev.name, f, { count });
  return sent / ((performance.now() - t0) / 1e3) / 1e6;
}

/**
 * xmit at 64 B with 1, 2 and 8 attached compiled programs, and 1 on the interpreter,
 * against no program.
 */
function progCases(): BenchCase[] {
  const mpps = { metric: 'Mpps', unit: 'Mpps', higherIsBetter: true } as const;
  const one = (name: string, key: string): BenchCase => ({
    name, ...mpps, baseline: 'wasm 64B', setup,
    run: () => inline.dp.exports.pktgen(0, pairs[key]!.slot, templates[64]!, 64, OP, BATCH, 1, 0, 0x0008),
    value: rate(1e6),
  });
  const inWorker = (name: string, key: string): BenchCase => ({
    name, ...mpps, baseline: 'wasm 64B 1 worker', setup,
    external: () => workerRate(pairs[key]!, 64),
  });
  return [
    ...[1, 2, 8].map((n) => one(`wasm 64B ${n} prog${n === 1 ? '' : 's'}`, `p${n}`)), one('wasm 64B 1 prog interpreter', 'p1i'),
    inWorker('wasm 64B 1 worker 1 prog', 'kp1'), inWorker('wasm 64B 1 worker 1 prog interpreter', 'kp1i'),
  ];
}

let fresh = 0;

/**
 * A program's first batch (64 packets at 64 B through a pair it was attached to just now)
 * ÷ its steady-state batch (the median of calls 1,500 to 2,000), compiled. Each call loads
 * a program of its own bytes (V8 shares compiled code between modules of the same bytes).
 * One batch through another pair goes first: the first call after any load pays for the
 * configuration change, whatever the program.
 */
function firstCallRatio(): number {
  const k = fresh++;
  const p = progPair(inline, `f${k}x`, 1, true, `mov %r0, ${k}${PARSE}`);
  const call = (slot: number): number => {
    const t0 = performance.now();
    inline.dp.exports.pktgen(0, slot, templates[64]!, 64, BATCH, BATCH, 1, 0, 0x0008);
    return performance.now() - t0;
  };
  call(pairs.p1!.slot);
  const first = call(p.slot);
  const later: number[] = [];
  for (let i = 0; i < 2000; i++) later.push(call(p.slot));
  const steady = later.slice(1500).sort((a, b) => a - b)[250]!;
  return first / steady;
}

const firstCase: BenchCase = {
  name: 'wasm 64B 1 prog first call / steady', metric: 'ratio', unit: 'x', higherIsBetter: false, setup, external: firstCallRatio,
};

export default defineSuite({ name: 'xmit', cases: [...cases(64), ...progCases(), firstCase, ...cases(1500)] });
