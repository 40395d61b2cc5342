import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane.js';
import { assemble } from '../../src/ebpf/assembler.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import { Emulator } from '../../src/emulator.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';
import { WorkerPool } from '../../src/worker/pool.js';

// Compiled programs in dataplane workers. The proof that a worker runs compiled code is its
// own function table: `progRun` calls the slot in the program record (PR_JIT) of the
// calling thread's table, which holds either the interpreter (`jitFallback`) or the
// module's `run`; the worker answers which, for the slot the host allocated.

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function pair(o: { workers: number; jit?: boolean }): Promise<Emulator> {
  const e = await Emulator.create({ seed: 4, workers: o.workers, jit: o.jit });
  e.addNetns('foo');
  e.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  e.setLink('init', 'nk1', { up: true });
  e.setLink('foo', 'nk0', { up: true });
  e.setRxSink('foo', 'nk0', 'drop');
  return e;
}

function udp(dport: number, payload = 8): Uint8Array {
  const src = parseIp('10.0.0.1')!;
  const dst = parseIp('10.0.0.2')!;
  return buildIpv4(new Uint8Array(6), new Uint8Array(6), { src, dst, proto: 17 }, buildUdp(src, dst, 1000, dport, new Uint8Array(payload)));
}

const asm = (e: Emulator, name: string, text: string, verify = true): BpfProgram => e.loadProgram({ name, type: 'sched_cls', insns: assemble(text), verify });
const big = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

/**
 * Two programs on nk1's primary list: odd-length frames dropped (else NEXT), then the
 * clang-compiled drop_port (UDP to 8080 dropped). Seeded frames; returns nk1's and nk0's counters.
 */
async function verdicts(e: Emulator): Promise<{ stats: string; progs: BpfProgram[] }> {
  const nk1 = e.device('init', 'nk1').ifindex;
  const odd = asm(e, 'odd', 'ldxw %r2, [%r1+0]\nand %r2, 1\njeq %r2, 0, next\nmov %r0, 2\nexit\nnext:\nmov %r0, -1\nexit');
  const port = e.loadObject(readFileSync(FIX + 'netkit_drop_port.o')).programs.get('drop_port')!;
  e.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: odd });
  e.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: port });
  let seed = 7;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let round = 0; round < 10; round++) {
    for (let k = 0; k < 40; k++) e.transmit('init', 'nk1', udp(rnd() < 0.3 ? 8080 : 53, Math.floor(rnd() * 64)));
    await e.settle();
  }
  const stats = JSON.stringify([e.stats(e.device('init', 'nk1')), e.stats(e.device('foo', 'nk0'))], big);
  return { stats, progs: [odd, port] };
}

describe('compiled programs in dataplane workers', () => {
  it('a program loaded with 1 worker is installed in the worker\'s table and carries the worker\'s traffic', async () => {
    emu = await pair({ workers: 1 });
    const drop = asm(emu, 'drop', 'mov %r0, 2\nexit');
    expect(drop.jit.slot).toBeGreaterThan(0);
    // loadProgram is synchronous; the worker installs when its message arrives
    await emu.settleJit();
    expect(await emu.jitInstalled(drop)).toEqual([true, true]);
    emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: drop });
    // with a pool every device belongs to a worker: pktgen runs in worker 1, xmit and the program with it
    expect(await emu.pktgen('init', 'nk1', udp(5), { count: 1000 })).toBe(1000);
    await emu.settle();
    expect(emu.stats(emu.device('init', 'nk1'))).toMatchObject({ txPackets: 0n, txDropped: 1000n, dropReasons: { BPF_DROP: 1000n } });
    expect(await emu.jitInstalled(drop)).toEqual([true, true]);
    // a program the compiler refuses runs on the interpreter everywhere
    // A jump between functions: the verifier refuses it too, so it is loaded unverified.
    const refused = asm(emu, 'refused', 'call local f\nja f\nexit\nf:\nmov %r0, 1\nexit', false);
    await emu.settleJit();
    expect(refused.jit.slot).toBe(0);
    expect(await emu.jitInstalled(refused)).toEqual([false, false]);
  });

  it('programs compiled before the pool starts, and while it starts, are installed at worker init', async () => {
    const dp = await Dataplane.create({ workers: 2 });
    const prog = assemble('mov %r0, 2\nexit');
    const before = dp.jit.compile(prog).slot;
    const starting = WorkerPool.start(dp);
    let done = false;
    void starting.then(() => (done = true), () => (done = true));
    // compiles while the workers are spawned and initialised (snapshot or message, never neither)
    const during: number[] = [];
    while (!done) {
      during.push(dp.jit.compile(prog).slot);
      await new Promise((r) => setImmediate(r));
    }
    const pool = await starting;
    try {
      await pool.jitSettled();
      expect(during.length).toBeGreaterThan(0);
      for (const slot of [before, ...during]) expect([slot, await pool.jitInstalled(slot)]).toEqual([slot, [true, true]]);
      const unused = Math.max(...during) + 1;
      expect(await pool.jitInstalled(unused)).toEqual([false, false]);
    } finally {
      await pool.stop();
    }
  });

  it('verdicts from the worker equal the inline run (and the interpreter\'s)', async () => {
    emu = await pair({ workers: 0 });
    const inline = await verdicts(emu);
    await emu.close();
    emu = await pair({ workers: 1 });
    const worker = await verdicts(emu);
    expect(await emu.jitInstalled(worker.progs[0]!)).toEqual([true, true]);
    expect(await emu.jitInstalled(worker.progs[1]!)).toEqual([true, true]);
    await emu.close();
    emu = await pair({ workers: 1, jit: false });
    const interpreted = await verdicts(emu);
    expect(worker.stats).toBe(inline.stats);
    expect(interpreted.stats).toBe(inline.stats);
    // every kind of verdict happened
    expect(inline.stats).toMatch(/"txPackets":"[1-9]/);
    expect(inline.stats).toMatch(/"BPF_DROP":"[1-9]/);
  });

  it('freeing a program uninstalls it in every worker; its slot is reused once every worker has let go of it', async () => {
    emu = await pair({ workers: 2 });
    const nk1 = emu.device('init', 'nk1').ifindex;
    const drop = asm(emu, 'drop', 'mov %r0, 2\nexit');
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: drop });
    await emu.settleJit();
    expect(await emu.jitInstalled(drop)).toEqual([true, true, true]);
    // closed but attached: still installed
    emu.closeProgram(drop);
    await emu.settleJit();
    expect(await emu.jitInstalled(drop)).toEqual([true, true, true]);
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' });
    // (the workers have not acknowledged the uninstall yet: the slot is not handed out)
    const early = asm(emu, 'early', 'mov %r0, 2\nexit');
    expect(early.jit.slot).not.toBe(drop.jit.slot);
    await emu.settleJit();
    expect(await emu.jitInstalled(drop)).toEqual([false, false, false]);
    const next = asm(emu, 'next', 'mov %r0, 2\nexit');
    expect(next.jit.slot).toBe(drop.jit.slot);
    await emu.settle();
    expect(await emu.jitInstalled(next)).toEqual([true, true, true]);
    expect(await emu.jitInstalled(early)).toEqual([true, true, true]);
  });
});
