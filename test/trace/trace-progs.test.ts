/**
 * The trace names the programs that ran at the hook (issue 22): a list's programs run in
 * order until one returns a verdict other than NEXT, so a later one may not run; the
 * record keeps their ids as they were for that packet, whatever is attached later.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assemble } from '../../src/ebpf/assembler.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import { Emulator } from '../../src/emulator.js';
import { buildPacket } from '../../src/packet.js';
import type { TraceEvent } from '../../src/trace/trace.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const udp = (dport = 7): Uint8Array => buildPacket({ eth: { dst: new Uint8Array(6), src: '02:00:00:00:00:09' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport }, payload: new Uint8Array(8) });
const tc = (name: string, r0: number): BpfProgram => emu.loadProgram({ name, type: 'sched_cls', insns: assemble(`mov %r0, ${r0}\nexit`) });
const row = (e: TraceEvent) => [e.verdictName, e.progsRun, e.progIds, e.progLast];

/** nk1 (primary, init) / nk0 (peer, foo), up, the peer dropping what it receives; tracing on. */
async function pair(jit: boolean): Promise<number> {
  emu = await Emulator.create({ seed: 7, jit, workers: 0 });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('foo', 'nk0', { up: true });
  emu.setRxSink('foo', 'nk0', 'drop');
  emu.tracer.enable();
  return emu.device('init', 'nk1').ifindex;
}

/** Sends `n` frames, transmitted one by one (then taken together) or as pktgen batches of 64. */
async function send(how: 'transmit' | 'pktgen', n: number): Promise<TraceEvent[]> {
  if (how === 'pktgen') await emu.pktgen('init', 'nk1', udp(), { count: n, batch: 64 });
  else {
    for (let i = 0; i < n; i++) emu.transmit('init', 'nk1', udp());
    await emu.settle();
  }
  return emu.tracer.drain();
}

// Compiled programs run a netkit list over batches of packets (its batch code); on the
// interpreter, or with the peer's tcx ingress, packet by packet.
const path = (jit: boolean): string => (jit ? 'compiled: in batches' : 'interpreter: per packet');

describe('trace: the programs that ran', () => {
  for (const jit of [true, false]) {
    for (const how of ['transmit', 'pktgen'] as const) {
      it(`[A, B]: A's verdict stops the walk, A's NEXT lets B decide (${path(jit)}, ${how})`, async () => {
        const nk1 = await pair(jit);
        const a = tc('a_drop', 2);
        const b = tc('b_pass', 0);
        emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: a });
        emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: b });
        await emu.settleJit();
        const dropped = await send(how, 70);
        expect(dropped).toHaveLength(70);
        for (const e of dropped) expect(row(e)).toEqual(['DROP', 1, [a.id], a.id]);

        const next = tc('a_next', -1);
        emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: a });
        emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: b });
        emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: next });
        emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: b });
        await emu.settleJit();
        const both = await send(how, 70);
        expect(both).toHaveLength(70);
        for (const e of both) expect(row(e)).toEqual(['PASS', 2, [next.id, b.id], b.id]);
      });
    }

    it(`the peer's tcx ingress (per packet) after the list does not count as the hook's programs; no list: none (${jit ? 'compiled' : 'interpreter'})`, async () => {
      const nk1 = await pair(jit);
      const nk0 = emu.device('foo', 'nk0').ifindex;
      const a = tc('a_next', -1);
      const b = tc('b_next', -1);
      const c = tc('c_pass', 0);
      const ing = tc('ing', 0);
      for (const p of [a, b, c]) emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
      emu.progAttach('foo', { ifindex: nk0, attachType: 'tcx_ingress', prog: ing });
      await emu.settleJit();
      const ev = await send('transmit', 3);
      for (const e of ev) expect(row(e)).toEqual(['PASS', 3, [a.id, b.id, c.id], c.id]);
      // Nothing attached: the policy decided, no program ran.
      for (const p of [a, b, c]) emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
      for (const e of await send('pktgen', 2)) expect(row(e)).toEqual(['PASS', 0, [], 0]);
    });

    it(`a long list keeps the first ${5} ids, the count and the last (${path(jit)})`, async () => {
      const nk1 = await pair(jit);
      const ps = Array.from({ length: 8 }, (_, i) => tc(`p${i}`, i === 7 ? 2 : -1));
      for (const p of ps) emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
      await emu.settleJit();
      const [e] = await send('transmit', 1);
      expect(row(e!)).toEqual(['DROP', 8, ps.slice(0, 5).map((p) => p.id), ps[7]!.id]);
    });
  }

  it('in batches as per packet: the same records for a list whose verdicts vary by packet', async () => {
    // A: by the UDP destination port's low bits, 0 NEXT, 1 DROP, else PASS; B: PASS.
    const A = 'ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r0, -1\nmov %r4, %r2\nadd %r4, 38\njgt %r4, %r3, out\n'
      + 'ldxb %r5, [%r2+37]\nand %r5, 3\njeq %r5, 0, out\nmov %r0, 2\njeq %r5, 1, out\nmov %r0, 0\nout:\nexit';
    const runs: unknown[][][] = [];
    for (const jit of [true, false]) {
      const nk1 = await pair(jit);
      const a = emu.loadProgram({ name: 'a', type: 'sched_cls', insns: assemble(A) });
      const b = tc('b', 0);
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: a });
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: b });
      await emu.settleJit();
      for (let i = 0; i < 100; i++) emu.transmit('init', 'nk1', udp(1000 + i));
      // (one too short: dropped before the hook, no program ran)
      emu.transmit('init', 'nk1', new Uint8Array(10));
      await emu.settle();
      const name = (id: number): string | number => (id === a.id ? 'a' : id === b.id ? 'b' : id);
      runs.push(emu.tracer.drain().map((e) => [e.verdictName, e.progsRun, e.progIds.map(name), name(e.progLast), e.reason, e.len]));
      await emu.close();
    }
    const [batched, single] = runs;
    const sorted = (r: unknown[][]) => r.map((x) => JSON.stringify(x)).sort();
    expect(sorted(batched!)).toEqual(sorted(single!));
    expect(single!.slice(0, 4)).toEqual([['PASS', 2, ['a', 'b'], 'b', 0, 50], ['DROP', 1, ['a'], 'a', expect.any(Number), 50], ['PASS', 1, ['a'], 'a', 0, 50], ['PASS', 1, ['a'], 'a', 0, 50]]);
    expect(single!.at(-1)).toEqual(['EARLY_DROP', 0, [], 0, expect.any(Number), 10]);
  });
});
