import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { NetError } from '../../src/errors.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { junk, trafficInCalls } from '../helpers/churn.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 9 });
});
afterEach(async () => {
  await emu.close();
});

const ip = (s: string): number => s.split('.').reduce((a, b) => (a << 8) | Number(b), 0) >>> 0;

/** An Ethernet/IPv4/TCP-or-UDP frame (checksums not needed by the NIC). */
function l4(o: { dst?: string; src?: string; sport?: number; dport?: number; proto?: number; dmac?: number[] } = {}): Uint8Array {
  const f = new Uint8Array(64);
  const dv = new DataView(f.buffer);
  f.set(o.dmac ?? [0x02, 1, 1, 1, 1, 1], 0);
  f.set([0x02, 9, 9, 9, 9, 9], 6);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, 50);
  f[22] = 64;
  f[23] = o.proto ?? 6;
  dv.setUint32(26, ip(o.src ?? '10.0.0.1'));
  dv.setUint32(30, ip(o.dst ?? '10.0.0.2'));
  dv.setUint16(34, o.sport ?? 1234);
  dv.setUint16(36, o.dport ?? 80);
  return f;
}

function rxByQueue(): number[] {
  return emu.queueStats('init', 'eth0').map((q) => Number(q.rxPackets));
}

describe('NIC rx steering (netns-unregister.md §6)', () => {
  it('the seed example: RSS over 0..14, a context on 15, an ntuple rule steering a flow to 15', async () => {
    emu.addNic({ name: 'eth0', rxQueues: 16 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    emu.setRss('init', 'eth0', { start: 0, equal: 15 });
    expect(emu.setRss('init', 'eth0', { context: 'new', start: 15, equal: 1 })).toBe(1);
    emu.addNtuple('init', 'eth0', { flowType: 'tcp4', dstIp: ip('1.2.3.4'), dstPort: 5000, action: 15 });
    for (let i = 0; i < 300; i++) emu.wireIn('init', 'eth0', l4({ src: `10.0.${i >> 8}.${i & 255}`, sport: 1000 + i }));
    for (let i = 0; i < 40; i++) emu.wireIn('init', 'eth0', l4({ dst: '1.2.3.4', dport: 5000, sport: 2000 + i }));
    // same address and port but UDP: not the rule's flow type
    for (let i = 0; i < 10; i++) emu.wireIn('init', 'eth0', l4({ dst: '1.2.3.4', dport: 5000, sport: 3000 + i, proto: 17 }));
    await emu.settle();
    const q = rxByQueue();
    expect(q[15]).toBe(40);
    expect(q.slice(0, 15).reduce((a, b) => a + b, 0)).toBe(310);
    expect(q.slice(0, 15).filter((n) => n > 0).length).toBeGreaterThan(10);
    expect(Number(emu.stats(emu.device('init', 'eth0')).rxPackets)).toBe(350);
  });

  it('the same flow always lands on the same queue; a context rule spreads over its table', async () => {
    emu.addNic({ name: 'eth0', rxQueues: 8 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    for (let i = 0; i < 20; i++) emu.wireIn('init', 'eth0', l4({ sport: 4242 }));
    await emu.settle();
    const before = rxByQueue();
    expect(before.filter((n) => n > 0)).toEqual([20]);
    const ctx = emu.setRss('init', 'eth0', { context: 'new', start: 4, equal: 4 });
    emu.addNtuple('init', 'eth0', { flowType: 'udp4', dstPort: 53, action: 0, context: ctx, location: 0 });
    for (let i = 0; i < 200; i++) emu.wireIn('init', 'eth0', l4({ proto: 17, dport: 53, sport: 100 + i }));
    await emu.settle();
    const q = rxByQueue().map((n, i) => n - before[i]!);
    expect(q.slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect(q.slice(4).reduce((a, b) => a + b, 0)).toBe(200);
    expect(q.slice(4).every((n) => n > 0)).toBe(true);
  });

  it('an ether rule by destination MAC (the AF_XDP example) and a discard rule', async () => {
    emu.addNic({ name: 'eth0', rxQueues: 16 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    const vm = Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: vm, action: 15 });
    emu.addNtuple('init', 'eth0', { flowType: 'tcp4', dstPort: 23, action: -1, location: 3 });
    for (let i = 0; i < 5; i++) emu.wireIn('init', 'eth0', l4({ dmac: [...vm], sport: i }));
    for (let i = 0; i < 7; i++) emu.wireIn('init', 'eth0', l4({ dport: 23, sport: i }));
    await emu.settle();
    expect(rxByQueue()[15]).toBe(5);
    const st = emu.stats(emu.device('init', 'eth0'));
    expect(st.rxDropped).toBe(7n);
    expect(st.dropReasons).toEqual({ NTUPLE_DISCARD: 7n });
  });

  it.each([1, 3])('pktgen sends its frames on the wire (%i flows): the driver receives each into a frame of its own, and with none left drops it (NOMEM); ntuple discards and runts take no frame', async (flows) => {
    await emu.close();
    emu = await Emulator.create({ seed: 9, framesPerThread: 256 });
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 2 });
    emu.setLink('init', 'eth0', { up: true });
    emu.addNtuple('init', 'eth0', { flowType: 'tcp4', dstPort: 23, action: -1 });
    const o = { flows, portOffset: 34 }; // the TCP source port
    // nothing drains the rx rings during one pktgen call: 256 frames, then none
    expect(await emu.pktgen('init', 'eth0', l4({ dmac: [...eth0.mac] }), { count: 1000, ...o })).toBe(1000);
    expect(emu.stats(eth0)).toMatchObject({ rxPackets: 256n, rxDropped: 744n, dropReasons: { NOMEM: 744n } });
    await emu.settle();
    expect(await emu.pktgen('init', 'eth0', l4({ dport: 23 }), { count: 1000, ...o })).toBe(1000);
    expect(await emu.pktgen('init', 'eth0', l4().subarray(0, 13), { count: 10 })).toBe(10);
    expect(emu.stats(eth0).dropReasons).toEqual({ NOMEM: 744n, NTUPLE_DISCARD: 1000n, PKT_TOO_SMALL: 10n });
    await emu.settle();
    expect(emu.dp.exports.framesAvailable(0)).toBe(256); // every frame back
  });

  it('pktgen refuses what it cannot send: counts, batches and flows that are not whole numbers in range, a varied port outside the frame (EINVAL); nothing is sent', async () => {
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 1 });
    emu.setLink('init', 'eth0', { up: true });
    const errno = async (f: () => Promise<unknown>): Promise<string> => { try { await f(); } catch (e) { return (e as NetError).errno; } return 'ok'; };
    const f = l4();
    for (const o of [{ count: -1 }, { count: 1.5 }, { count: 1, batch: 0 }, { count: 1, batch: 65 }, { count: 1, flows: 0 }, { count: 1, flows: 2, portOffset: 63 }, { count: 1, portOffset: -1 }]) {
      expect(await errno(() => emu.pktgen('init', 'eth0', f, o)), JSON.stringify(o)).toBe('EINVAL');
    }
    expect(await emu.pktgen('init', 'eth0', f, { count: 1, flows: 2, portOffset: 62 })).toBe(1);
    expect(emu.stats(eth0).rxPackets).toBe(1n);
  });

  it('ether rules compare only what their masks cover: a whole destination MAC, a masked one, a source MAC, an EtherType, two together', async () => {
    emu.addNic({ name: 'eth0', rxQueues: 8 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    const m = (...b: number[]) => Uint8Array.from(b);
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: m(2, 0xaa, 0, 0, 0, 1), action: 1, location: 0 });
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: m(2, 0xbb, 0, 0, 0, 0), dstMacMask: m(0xff, 0xff, 0, 0, 0, 0), action: 2, location: 1 });
    emu.addNtuple('init', 'eth0', { flowType: 'ether', srcMac: m(2, 0xcc, 0, 0, 0, 7), action: 3, location: 2 });
    emu.addNtuple('init', 'eth0', { flowType: 'ether', proto: 0x88b5, action: 4, location: 3 });
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: m(2, 0xdd, 0, 0, 0, 1), proto: 0x88b6, action: 5, location: 4 });
    /** A frame of no IPv4 flow (RSS sends it to queue 0): destination, source, EtherType. */
    const f = (dst: number[], src: number[], type: number): Uint8Array => {
      const b = new Uint8Array(60);
      b.set(dst, 0);
      b.set(src, 6);
      b[12] = type >> 8;
      b[13] = type & 0xff;
      return b;
    };
    const other = [2, 9, 9, 9, 9, 9];
    const cases: [Uint8Array, number][] = [
      [f([2, 0xaa, 0, 0, 0, 1], other, 0x88b7), 1],
      [f([2, 0xaa, 0, 0, 0, 2], other, 0x88b7), 0],
      [f([2, 0xbb, 0x12, 0x34, 0x56, 0x78], other, 0x88b7), 2],
      [f([2, 0xbc, 0, 0, 0, 0], other, 0x88b7), 0],
      [f([2, 1, 1, 1, 1, 1], [2, 0xcc, 0, 0, 0, 7], 0x88b7), 3],
      [f([2, 1, 1, 1, 1, 1], [2, 0xcc, 0, 0, 0, 8], 0x88b7), 0],
      [f([2, 1, 1, 1, 1, 1], other, 0x88b5), 4],
      [f([2, 0xdd, 0, 0, 0, 1], other, 0x88b6), 5],
      [f([2, 0xdd, 0, 0, 0, 1], other, 0x88b7), 0],
      [f([2, 0xdd, 0, 0, 0, 2], other, 0x88b6), 0],
    ];
    for (const [frame, q] of cases) {
      const before = rxByQueue();
      emu.wireIn('init', 'eth0', frame);
      await emu.settle();
      const after = rxByQueue();
      expect(after.findIndex((n, i) => n !== before[i]), [...frame.subarray(0, 14)].join(',')).toBe(q);
    }
  });

  it('wireIn and pktgen refuse a frame larger than the receive buffers (EMSGSIZE, nothing sent); the largest that fits arrives whole', async () => {
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 1 });
    emu.setLink('init', 'eth0', { up: true });
    const room = emu.dp.frameSize - 256;
    const big = new Uint8Array(room).map((_, i) => i & 0xff);
    big.set(eth0.mac, 0);
    big.set([0x88, 0xb5], 12);
    const errno = async (f: () => unknown): Promise<string> => { try { await f(); } catch (e) { return (e as NetError).errno; } return 'ok'; };
    expect(await errno(() => emu.wireIn('init', 'eth0', new Uint8Array(room + 1)))).toBe('EMSGSIZE');
    expect(await errno(() => emu.pktgen('init', 'eth0', new Uint8Array(room + 1), { count: 1 }))).toBe('EMSGSIZE');
    const seen: number[][] = [];
    emu.onReceive((d, f) => { if (d.name === 'eth0') seen.push([...f]); });
    emu.wireIn('init', 'eth0', big);
    expect(await emu.pktgen('init', 'eth0', big, { count: 1 })).toBe(1);
    await emu.settle();
    expect(seen).toEqual([[...big], [...big]]);
    expect(emu.stats(eth0)).toMatchObject({ rxPackets: 2n, rxDropped: 0n });
  });

  it('refuses bad steering configuration with EINVAL and channel shrinks that strand tables or rules', () => {
    emu.addNic({ name: 'eth0', rxQueues: 4 });
    const e = (fn: () => unknown): [string, string | undefined] => {
      try { fn(); } catch (x) { return [(x as NetError).errno, (x as NetError).extack]; }
      return ['ok', undefined];
    };
    expect(e(() => emu.setRss('init', 'eth0', { start: 2, equal: 3 }))).toEqual(['EINVAL', undefined]);
    expect(e(() => emu.addNtuple('init', 'eth0', { flowType: 'tcp4', action: 4 }))).toEqual(['EINVAL', undefined]);
    expect(e(() => emu.addNtuple('init', 'eth0', { flowType: 'tcp4', action: 0, context: 7 }))).toEqual(['EINVAL', undefined]);
    emu.setRss('init', 'eth0', { start: 0, equal: 4 });
    expect(e(() => emu.setChannels('init', 'eth0', 3))).toEqual(['EINVAL', 'requested channel counts are too low for existing indirection table (3)']);
    emu.setRss('init', 'eth0', { reset: true });
    emu.addNtuple('init', 'eth0', { flowType: 'udp4', dstPort: 1, action: 2 });
    expect(e(() => emu.setChannels('init', 'eth0', 2))).toEqual(['EINVAL', 'requested channel counts are too low for existing ntuple filter settings']);
    emu.setChannels('init', 'eth0', 3);
    expect(emu.channels('init', 'eth0').combined).toBe(3);
  });
});

describe('configuration changed under traffic', () => {
  /** eth0 (`rxQueues`, up, its rx rings drained) in an emulator with 2 workers, carrying 100 × 10,000 frames from one of them. */
  async function nicUnderTraffic(rxQueues: number, frame: (call: number) => Uint8Array): Promise<{ eth0: ReturnType<Emulator['addNic']>; done: () => boolean; all: (reason: string) => Promise<void> }> {
    await emu.close();
    emu = await Emulator.create({ seed: 9, workers: 2 });
    const eth0 = emu.addNic({ name: 'eth0', rxQueues, maxChannels: rxQueues });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    const { sent, done } = trafficInCalls(emu, 'init', 'eth0', frame, 100, 10_000);
    // Every frame was received or dropped for `reason`, and for nothing else.
    const all = async (reason: string): Promise<void> => {
      expect(await sent).toBe(1_000_000);
      await emu.settle();
      const st = emu.stats(eth0);
      expect(st.rxPackets + (st.dropReasons[reason] ?? 0n)).toBe(1_000_000n);
      expect(Object.keys(st.dropReasons).filter((r) => r !== reason)).toEqual([]);
    };
    return { eth0, done, all };
  }

  it('XDP programs replaced (each closed at once: the NIC holds it) while a worker carries traffic into the NIC: every frame passes or is dropped by a program', async () => {
    const { done, all } = await nicUnderTraffic(4, (i) => l4({ proto: 17, sport: 1000 + i }));
    for (let i = 0; i < 300 || !done(); i++) {
      const p = emu.loadProgram({ name: `x${i}`, type: 'xdp', insns: assemble(i % 2 ? 'mov %r0, 1\nexit' : 'mov %r0, 2\nexit') });
      emu.setXdp('init', 'eth0', p);
      emu.closeProgram(p);
      junk(emu);
      await new Promise((r) => setImmediate(r));
    }
    await all('XDP_DROP');
  }, 120_000);

  it('ntuple rules, RSS tables and channels changed while a worker carries traffic into the NIC: every frame lands on a queue or is discarded by a rule', async () => {
    const { done, all } = await nicUnderTraffic(8, (i) => l4({ proto: 17, sport: 1000 + i, dport: 53 + (i % 4) }));
    for (let i = 0; i < 300 || !done(); i++) {
      const loc = emu.addNtuple('init', 'eth0', { flowType: 'udp4', dstPort: 53 + (i % 4), action: i % 3 === 0 ? -1 : i % 4 });
      emu.setRss('init', 'eth0', { start: 0, equal: 1 + (i % 4) });
      if (i % 10 === 0) emu.setChannels('init', 'eth0', i % 20 === 0 ? 4 : 8);
      junk(emu);
      await new Promise((r) => setImmediate(r));
      emu.delNtuple('init', 'eth0', loc);
    }
    await all('NTUPLE_DISCARD');
  }, 120_000);
});

describe('ethtool channel/RSS/ntuple ops on a device that is not a NIC', () => {
  it('each refuses a netkit device with EOPNOTSUPP (no get_channels, set_rxfh, set_rxnfc in netkit_ethtool_ops) and a missing device with ENODEV', () => {
    emu.addLink({ ifname: 'nk0', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk1' } } } });
    const ops: [string, (dev: string) => unknown][] = [
      ['channels', (d) => emu.channels('init', d)],
      ['setChannels', (d) => emu.setChannels('init', d, 2)],
      ['setRss', (d) => emu.setRss('init', d, { start: 0, equal: 1 })],
      ['addNtuple', (d) => emu.addNtuple('init', d, { flowType: 'ether', dstMac: new Uint8Array(6), action: 0 })],
      ['delNtuple', (d) => emu.delNtuple('init', d, 0)],
    ];
    for (const [name, op] of ops) {
      expect(() => op('nk0'), name).toThrow(expect.objectContaining({ errno: 'EOPNOTSUPP' }));
      expect(() => op('nosuch'), name).toThrow(expect.objectContaining({ errno: 'ENODEV' }));
    }
  });
});
