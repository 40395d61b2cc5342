import { afterEach, describe, expect, it } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { Emulator } from '../../src/emulator.js';
import type { NetDevice } from '../../src/net/netdev.js';
import type { RxMeta } from '../../src/net/traffic.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

function frame(dst: number[], len = 60, type = 0x88b5): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set([0x02, 0, 0, 0, 0, 0x99], 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

async function pair(opts: { mode?: 'l2' | 'l3'; peerNs?: string; scrub?: 'default' | 'none'; peerScrub?: 'default' | 'none'; policy?: 'forward' | 'blackhole' } = {}): Promise<[NetDevice, NetDevice]> {
  emu = await Emulator.create({ seed: 3 });
  if (opts.peerNs) emu.addNetns(opts.peerNs);
  const [p, q] = emu.addLink({
    ifname: 'nk1',
    linkinfo: { kind: 'netkit', data: { mode: opts.mode ?? 'l2', scrub: opts.scrub, peerScrub: opts.peerScrub, policy: opts.policy, peerInfo: { ifname: 'nk0', netns: opts.peerNs } } },
  });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink(opts.peerNs ?? 'init', 'nk0', { up: true });
  return [p!, q!];
}

function capture(): { dev: string; meta: RxMeta; len: number }[] {
  const got: { dev: string; meta: RxMeta; len: number }[] = [];
  emu.onReceive((dev, f, meta) => got.push({ dev: dev.name, meta, len: f.length }));
  return got;
}

describe('netkit xmit (netkit.md §4)', () => {
  it('scrub matrix: same netns keeps mark/priority/tstamp; across namespaces tstamp goes, and mark/priority with scrub default', async () => {
    const meta = { mark: 42, priority: 0xeb9f, tstamp: 12345n };
    const cases: [string | undefined, 'default' | 'none', [number, number, bigint]][] = [
      [undefined, 'default', [42, 0xeb9f, 12345n]],
      [undefined, 'none', [42, 0xeb9f, 12345n]],
      ['foo', 'none', [42, 0xeb9f, 0n]],
      ['foo', 'default', [0, 0, 0n]],
    ];
    for (const [ns, scrub, [mark, prio, ts]] of cases) {
      const [p, q] = await pair({ peerNs: ns, scrub });
      const got = capture();
      emu.transmit('init', 'nk1', frame([...q.mac]), meta);
      await emu.settle();
      expect(got, `${ns ?? 'same'}/${scrub}`).toHaveLength(1);
      expect(got[0]!.dev).toBe('nk0');
      expect([got[0]!.meta.mark, got[0]!.meta.priority, got[0]!.meta.tstamp], `${ns ?? 'same'}/${scrub}`).toEqual([mark, prio, ts]);
      expect(got[0]!.meta.ifindex).toBe(q.ifindex);
      void p;
      await emu.close();
    }
  });

  it('the peer scrub setting governs peer → primary traffic', async () => {
    const [p] = await pair({ peerNs: 'foo', scrub: 'none', peerScrub: 'default' });
    const got = capture();
    emu.transmit('foo', 'nk0', frame([...p.mac]), { mark: 7, priority: 9 });
    emu.transmit('init', 'nk1', frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), { mark: 7, priority: 9 });
    await emu.settle();
    const byDev = Object.fromEntries(got.map((g) => [g.dev, g.meta]));
    expect([byDev.nk1!.mark, byDev.nk1!.priority]).toEqual([0, 0]);
    expect([byDev.nk0!.mark, byDev.nk0!.priority]).toEqual([7, 9]);
  });

  it('pkt_type is set against the peer MAC', async () => {
    const [, q] = await pair({ mode: 'l2' });
    const got = capture();
    const dsts = [[...q.mac], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x01, 0x00, 0x5e, 0, 0, 1], [0x02, 9, 9, 9, 9, 9]];
    for (const d of dsts) emu.transmit('init', 'nk1', frame(d));
    await emu.settle();
    expect(got.map((g) => g.meta.pktType)).toEqual([A.PACKET_HOST, A.PACKET_BROADCAST, A.PACKET_MULTICAST, A.PACKET_OTHERHOST]);
  });

  it('counts tx on the sender and rx on the peer; drops by reason', async () => {
    const [p, q] = await pair({});
    emu.transmit('init', 'nk1', frame([...q.mac], 100));
    emu.transmit('init', 'nk1', frame([...q.mac], 200));
    emu.transmit('init', 'nk1', new Uint8Array(13));
    await emu.settle();
    let sp = emu.stats(p);
    let sq = emu.stats(q);
    expect([sp.txPackets, sp.txBytes, sp.txDropped]).toEqual([2n, 300n, 1n]);
    expect(sp.dropReasons).toEqual({ PKT_TOO_SMALL: 1n });
    expect([sq.rxPackets, sq.rxBytes, sq.txPackets]).toEqual([2n, 300n, 0n]);
    // peer down: early drop
    emu.setLink('init', 'nk0', { up: false });
    emu.transmit('init', 'nk1', frame([...q.mac]));
    await emu.settle();
    sp = emu.stats(p);
    expect(sp.dropReasons).toEqual({ PKT_TOO_SMALL: 1n, NETKIT_PEER_DOWN: 1n });
    expect(sp.txDropped).toBe(2n);
    // blackhole policy
    emu.setLink('init', 'nk0', { up: true });
    emu.setLink('init', 'nk1', { data: { policy: 'blackhole' } });
    emu.transmit('init', 'nk1', frame([...q.mac]));
    await emu.settle();
    sp = emu.stats(p);
    sq = emu.stats(q);
    expect(sp.dropReasons.NETKIT_POLICY_DROP).toBe(1n);
    expect(sp.txDropped).toBe(3n);
    expect(sq.rxPackets).toBe(2n);
  });

  it('single mode drops everything it transmits (no peer)', async () => {
    emu = await Emulator.create();
    const [s] = emu.addLink({ linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
    emu.setLink('init', s!.name, { up: true });
    for (let i = 0; i < 5; i++) emu.transmit('init', s!.name, frame([0, 0, 0, 0, 0, 0]));
    await emu.settle();
    const st = emu.stats(s!);
    expect([st.txPackets, st.txDropped]).toEqual([0n, 5n]);
    expect(st.dropReasons).toEqual({ NETKIT_NO_PEER: 5n });
  });

  it('a full backlog (peer rx ring) drops with BACKLOG_FULL and counts tx_dropped', async () => {
    emu = await Emulator.create({ ringSize: 64 });
    const [p, q] = emu.addLink({ linkinfo: { kind: 'netkit', data: {} } });
    emu.setLink('init', p!.name, { up: true });
    emu.setLink('init', q!.name, { up: true });
    // Nothing drains the peer between these pushes: pktgen sends 200 frames in one go.
    const sent = await emu.pktgen('init', p!.name, frame([0, 0, 0, 0, 0, 0], 64), { count: 200 });
    expect(sent).toBe(200);
    const st = emu.stats(p!);
    expect(st.txPackets).toBe(64n);
    expect(st.txDropped).toBe(136n);
    expect(st.dropReasons).toEqual({ BACKLOG_FULL: 136n });
    await emu.settle();
  });

  it('pktgen into a drop sink delivers everything and returns every frame', async () => {
    emu = await Emulator.create({ framesPerThread: 256 });
    const [p, q] = emu.addLink({ linkinfo: { kind: 'netkit', data: {} } });
    emu.setLink('init', p!.name, { up: true });
    emu.setLink('init', q!.name, { up: true });
    emu.setRxSink('init', q!.name, 'drop');
    const sent = await emu.pktgen('init', p!.name, frame([0, 0, 0, 0, 0, 0], 64), { count: 10_000 });
    expect(sent).toBe(10_000);
    expect(emu.stats(p!).txPackets).toBe(10_000n);
    expect(emu.stats(q!).rxPackets).toBe(10_000n);
    expect(emu.stats(q!).rxBytes).toBe(640_000n);
    expect(emu.dp.exports.framesAvailable(0)).toBe(256);
  });
});
