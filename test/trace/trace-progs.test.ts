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

const udp = (): Uint8Array => buildPacket({ eth: { dst: new Uint8Array(6), src: '02:00:00:00:00:09' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport: 7 }, payload: new Uint8Array(8) });
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

/** Sends `n` frames one at a time (per packet) or as pktgen batches of 64. */
async function send(how: 'per-packet' | 'batch', n: number): Promise<TraceEvent[]> {
  if (how === 'batch') await emu.pktgen('init', 'nk1', udp(), { count: n, batch: 64 });
  else {
    for (let i = 0; i < n; i++) emu.transmit('init', 'nk1', udp());
    await emu.settle();
  }
  return emu.tracer.drain();
}

describe('trace: the programs that ran', () => {
  for (const jit of [true, false]) {
    for (const how of ['per-packet', 'batch'] as const) {
      it(`[A, B]: A's verdict stops the walk, A's NEXT lets B decide (${how}, ${jit ? 'compiled' : 'interpreter'})`, async () => {
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

    it(`the peer's tcx ingress after the list does not count as the hook's programs; no list: none (${jit ? 'compiled' : 'interpreter'})`, async () => {
      const nk1 = await pair(jit);
      const nk0 = emu.device('foo', 'nk0').ifindex;
      const a = tc('a_next', -1);
      const b = tc('b_next', -1);
      const c = tc('c_pass', 0);
      const ing = tc('ing', 0);
      for (const p of [a, b, c]) emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
      emu.progAttach('foo', { ifindex: nk0, attachType: 'tcx_ingress', prog: ing });
      await emu.settleJit();
      const ev = await send('per-packet', 3);
      for (const e of ev) expect(row(e)).toEqual(['PASS', 3, [a.id, b.id, c.id], c.id]);
      // Nothing attached: the policy decided, no program ran.
      for (const p of [a, b, c]) emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
      for (const e of await send('batch', 2)) expect(row(e)).toEqual(['PASS', 0, [], 0]);
    });

    it(`a long list keeps the first ${6} ids, the count and the last (${jit ? 'compiled' : 'interpreter'})`, async () => {
      const nk1 = await pair(jit);
      const ps = Array.from({ length: 8 }, (_, i) => tc(`p${i}`, i === 7 ? 2 : -1));
      for (const p of ps) emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
      await emu.settleJit();
      const [e] = await send('per-packet', 1);
      expect(row(e!)).toEqual(['DROP', 8, ps.slice(0, 6).map((p) => p.id), ps[7]!.id]);
    });
  }
});
