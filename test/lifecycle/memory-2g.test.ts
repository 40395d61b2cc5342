/**
 * The datapath past 2 GiB of shared memory: with the first 2 GiB taken, everything made
 * after (device records, program images and records, maps, AF_XDP UMEM and rings, the
 * compiled code's embedded addresses) sits at addresses with the top bit set. Each is used
 * here the way a harness uses it — netkit traffic through a tc program counting into an
 * array and a hash map, a ring buffer, NIC → XDP → XSKMAP → a leased queue's socket, map
 * reads and an XSKMAP slot cleared when its socket closes — on both engines and with
 * workers. (Wasm hands addresses to JavaScript as i32: a host read that forgets `>>> 0`
 * sees them negative; this is the test that notices.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';
import { XDP_COPY, XskSocket } from '../../src/xdp/socket.js';

const TWO_GIB = 2 ** 31;
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/bpf/${name}`, import.meta.url)));
const VM = new Uint8Array([0x02, 0x56, 0x4d, 0, 0, 1]);
const SRC = parseIp('192.168.1.2')!;
const DST = parseIp('192.168.1.50')!;
const udp = (sport: number, dstMac = new Uint8Array([2, 0, 0, 0, 0, 9])): Uint8Array =>
  buildIpv4(dstMac, new Uint8Array([2, 0, 0, 0, 0, 7]), { src: SRC, dst: DST, proto: 17 }, buildUdp(SRC, DST, sport, 9, new Uint8Array(32)));
const u64 = (b: Uint8Array | Uint8Array[] | undefined): bigint => {
  const all = b === undefined ? [] : Array.isArray(b) ? b : [b];
  return all.reduce((s, x) => s + new DataView(x.buffer, x.byteOffset).getBigUint64(0, true), 0n);
};
const key32 = (v: number, le = true): Uint8Array => { const k = new Uint8Array(4); new DataView(k.buffer).setUint32(0, v, le); return k; };

/** Traffic, maps, a ring buffer and AF_XDP on an emulator whose next allocations sit high; returns the lowest address of its program record and maps. */
async function scenario(emu: Emulator, jit: boolean): Promise<number> {
    // netkit: a tc program counting protocols (array) and bytes per source (hash)
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('init', 'nk0', { up: true });
    emu.setRxSink('init', 'nk0', 'drop');
    const counters = emu.loadObject(fixture('tc_counters.o'));
    const count = counters.programs.get('count')!;
    const protoCount = counters.maps.get('proto_count')!;
    expect(count.record).toBeGreaterThan(TWO_GIB);
    expect(protoCount.values).toBeGreaterThan(TWO_GIB);
    expect(count.jit.reason === '').toBe(jit);
    emu.linkCreate('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: count });
    const f = udp(5);
    expect(await emu.pktgen('init', 'nk1', f, { count: 100 })).toBe(100);
    await emu.settle();
    expect(emu.stats(emu.device('init', 'nk0')).rxPackets).toBe(100n);
    expect(u64(protoCount.lookup(key32(17)))).toBe(100n);
    expect(u64(counters.maps.get('src_bytes')!.lookup(key32(SRC, false)))).toBe(BigInt(100 * f.length));

    // a ring buffer written by test runs
    const rb = emu.loadObject(fixture('ringbuf.o'));
    const events = rb.maps.get('events')!;
    expect(events.values).toBeGreaterThan(TWO_GIB);
    expect(emu.testRun(rb.programs.get('report')!, { data: f, repeat: 5 }).retval).toBe(0);
    expect(events.drain()).toHaveLength(10);

    // NIC → XDP → XSKMAP → a queue leased to a netkit device → an AF_XDP socket
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 16 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRss('init', 'eth0', { start: 0, equal: 15 });
    emu.setRss('init', 'eth0', { start: 15, equal: 1, context: 'new' });
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: VM, action: 15 });
    const xsk = emu.loadObject(fixture('xdp_xsk.o'));
    emu.setXdp('init', 'eth0', xsk.programs.get('xsk_redirect')!);
    const [nk] = emu.addLink({ ifname: 'nk', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
    emu.queueCreate({ ifindex: nk!.ifindex, type: 'rx', lease: { ifindex: eth0.ifindex, queue: { id: 15, type: 'rx' } } });
    emu.setLink('init', 'nk', { up: true });
    const sock = new XskSocket(emu.dp, { umemSize: 64 * 4096 });
    emu.xskBind('init', 'nk', 1, sock, { flags: XDP_COPY });
    const xsks = xsk.maps.get('xsks')!;
    xsks.setSocket(15, sock);
    expect(sock.fillRing(Array.from({ length: 32 }, (_, i) => i * 4096))).toBe(32);
    for (let i = 0; i < 10; i++) emu.wireIn('init', 'eth0', udp(1000 + i, VM));
    await emu.settle();
    const got = sock.recv();
    expect(got).toHaveLength(10);
    expect(got.every((x) => x.len === f.length && x.data[0] === VM[0] && x.data[5] === VM[5])).toBe(true);
    expect(u64(xsk.maps.get('redirected')!.lookup(key32(0)))).toBe(10n);
    // closing the socket empties its XSKMAP slot (the slot holds an address past 2 GiB)
    expect(xsks.lookup(key32(15))).toBeDefined();
    emu.xskClose(sock);
    expect(xsks.lookup(key32(15))).toBeUndefined();
  return Math.min(count.record, protoCount.values, events.values);
}

describe('the datapath past 2 GiB of shared memory', () => {
  for (const o of [{ workers: 0, jit: true }, { workers: 0, jit: false }, { workers: 2, jit: true }]) {
    it(`workers ${o.workers}, ${o.jit ? 'compiled code' : 'the interpreter'}: traffic, maps, ring buffers and AF_XDP above 2 GiB`, async () => {
      const emu = await Emulator.create({ seed: 3, ...o });
      try {
        // Take the first 2 GiB (and a little more) with sockets nobody binds.
        const filler: XskSocket[] = [];
        while (emu.dp.memoryBytes < TWO_GIB + (64 << 20)) filler.push(new XskSocket(emu.dp, { umemSize: 256 << 20 }));
        // and the blocks start-up gave back below it, or will once the workers move past
        // them (the allocator reuses a block of the exact size first: a program record
        // could land in one of them)
        const dp = emu.dp as unknown as { free: Map<number, number[]>; retired: unknown[] };
        dp.free.clear();
        dp.retired.length = 0;

        await scenario(emu, o.jit);
      } finally {
        await emu.close();
      }
    }, 120_000);
  }

  it('the shared memory grows to the wasm32 limit (4 GiB); past it ENOMEM with nothing changed; the datapath works at the top', async () => {
    const emu = await Emulator.create({ seed: 4 });
    try {
      const filler: XskSocket[] = [];
      let err: unknown;
      for (;;) {
        try { filler.push(new XskSocket(emu.dp, { umemSize: 256 << 20 })); } catch (e) { err = e; break; }
      }
      expect(err).toMatchObject({ name: 'NetError', errno: 'ENOMEM' });
      // (and the blocks start-up gave back, as above: a program record could land in one;
      // since IPv6 changes republish the FIB, one does)
      const dp = emu.dp as unknown as { free: Map<number, number[]>; retired: unknown[] };
      dp.free.clear();
      dp.retired.length = 0;
      expect(emu.dp.memoryBytes).toBe(2 ** 32);
      const live = emu.dp.liveBytes;
      expect(() => new XskSocket(emu.dp, { umemSize: 256 << 20 })).toThrow(expect.objectContaining({ errno: 'ENOMEM' }));
      expect(emu.dp.liveBytes).toBe(live);
      // the last bytes below 4 GiB, and what a closed socket gave back, carry traffic
      emu.xskClose(filler.pop()!);
      await emu.settle();
      expect(await scenario(emu, true)).toBeGreaterThan(3.5 * 2 ** 30);
      // to the last byte: no allocation ends at 4 GiB (its end, as the datapath's u32 bound, would be 0)
      let top = 0;
      for (const size of [1 << 20, 1 << 16, 4096, 64]) {
        for (;;) {
          try { top = Math.max(top, emu.dp.alloc(size) + size); } catch (e) { expect(e).toMatchObject({ errno: 'ENOMEM' }); break; }
        }
      }
      expect(top).toBeGreaterThan(2 ** 32 - (1 << 20));
      expect(top).toBeLessThan(2 ** 32);
    } finally {
      await emu.close();
    }
  }, 120_000);
});
