/**
 * AF_XDP bind modes (spec/af_xdp.md): need_wakeup and the kicks (§2.6–§2.7), shared UMEM
 * (§1.4), zero-copy bind (§3.4, netkit.md §7.2) and receive (§1.3, §3.5), and multi-buffer
 * (§4). Every test that
 * moves frames checks the UMEM chunk accounting: each chunk in exactly one of FILL, RX,
 * TX, COMPLETION or the application's hands.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import { assemble } from '../../src/ebpf/assembler.js';
import {
  MSG_DONTWAIT, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, XDP_COPY, XDP_PKT_CONTD, XDP_SHARED_UMEM, XDP_USE_NEED_WAKEUP, XDP_USE_SG,
  XDP_ZEROCOPY, XskSocket,
} from '../../src/xdp/socket.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';
import { readPcapng } from '../../src/trace/pcapng.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 8 });
});
afterEach(async () => {
  await emu.close();
});

const errno = (f: () => unknown): string => { try { f(); } catch (e) { return (e as { errno: string }).errno; } return 'ok'; };
const mac = (q: number): Uint8Array => new Uint8Array([0x02, 0x56, 0x4d, 0, 0, q]);

/** A UDP frame to the MAC that steers to queue `q` (payload bytes of `size`). */
function frame(q: number, sport = 1000, size = 32): Uint8Array {
  const s = parseIp('192.168.1.2')!;
  const d = parseIp('192.168.1.50')!;
  const payload = new Uint8Array(size).map((_, i) => (i * 7 + sport) & 0xff);
  return buildIpv4(mac(q), new Uint8Array([2, 0, 0, 0, 0, 9]), { src: s, dst: d, proto: 17 }, buildUdp(s, d, sport, 9, payload));
}

/** eth0 (16 queues) with the XSKMAP program; frames to mac(q) land on queue q, whose key in `xsks` is q. */
function nic(o: { xskZeroCopy?: boolean; xskMaxSegs?: number } = {}): BpfMap {
  emu.addNic({ name: 'eth0', rxQueues: 16, ...o });
  emu.setLink('init', 'eth0', { up: true });
  for (const q of [2, 3, 15]) emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: mac(q), action: q });
  const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_xsk.o', import.meta.url)));
  emu.setXdp('init', 'eth0', obj.programs.get('xsk_redirect')!);
  return obj.maps.get('xsks')!;
}

/** eth0 queue 15 leased to a single netkit `nk` (queue 1) in netns foo. */
function leased(pairing: 'single' | 'pair' = 'single'): BpfMap {
  const xsks = nic();
  const eth0 = emu.device('init', 'eth0');
  const links = emu.addLink({ ifname: 'nk', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing, ...(pairing === 'pair' ? { peerInfo: { ifname: 'nkp', numRxQueues: 2 } } : {}) } } });
  const target = pairing === 'pair' ? links[1]! : links[0]!;
  emu.queueCreate({ ifindex: target.ifindex, type: 'rx', lease: { ifindex: eth0.ifindex, queue: { id: 15, type: 'rx' } } });
  emu.addNetns('foo');
  emu.setLink('init', target.name, { netns: 'foo' });
  emu.setLink('foo', target.name, { up: true });
  return xsks;
}

const chunks = (n: number, size = 4096): number[] => Array.from({ length: n }, (_, i) => i * size);
const base = (addr: number, chunk = 4096): number => addr - (addr % chunk);

describe('need_wakeup and the kicks (af_xdp.md §2.6, §2.7)', () => {
  it('copy mode: the TX flag is set at ring creation and never cleared; FILL is never flagged; an empty FILL drops into rx_dropped', async () => {
    const xsks = nic();
    const s = new XskSocket(emu.dp, { umemSize: 16 * 4096 });
    expect(s.needsWakeup('tx')).toBe(true);
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY | XDP_USE_NEED_WAKEUP });
    xsks.setSocket(2, s);
    expect(s.options().zerocopy).toBe(false);
    emu.wireIn('init', 'eth0', frame(2));
    await emu.settle();
    expect(s.statistics()).toMatchObject({ rx_dropped: 1n, rx_fill_ring_empty_descs: 1n });
    expect(s.needsWakeup('fill')).toBe(false);
    s.txRing([{ addr: 0, len: 60 }]);
    expect(emu.xskSendto(s)).toEqual({ sent: 1, result: 0 });
    expect(s.needsWakeup('tx')).toBe(true);
    expect(s.unaccounted(chunks(15, 4096).map((c) => c + 4096))).toEqual([]);
  });

  it('zero-copy through the lease: FILL runs empty → flag set and RX stops (not rx_dropped) until recvfrom re-arms it', async () => {
    const xsks = leased();
    const s = new XskSocket(emu.dp, { umemSize: 16 * 4096 });
    emu.xskBind('foo', 'nk', 1, s, { flags: XDP_USE_NEED_WAKEUP });
    xsks.setSocket(15, s);
    expect(s.options().zerocopy).toBe(true);
    expect(s.needsWakeup('fill')).toBe(false);
    s.fillRing([0, 4096]);
    for (let i = 0; i < 4; i++) emu.wireIn('init', 'eth0', frame(15, 100 + i));
    await emu.settle();
    expect(s.recv().map((d) => d.addr)).toEqual([256, 4096 + 256]);
    // the third frame found FILL empty: the driver flagged FILL and stopped
    expect(s.needsWakeup('fill')).toBe(true);
    expect(s.statistics()).toMatchObject({ rx_dropped: 0n, rx_fill_ring_empty_descs: 1n });
    // refilling alone does not restart the driver
    s.fillRing([0, 4096]);
    emu.wireIn('init', 'eth0', frame(15, 200));
    await emu.settle();
    expect(s.recv()).toHaveLength(0);
    expect(emu.xskPoll(s) & POLLIN).toBe(0);
    emu.xskRecvfrom(s);
    expect(s.needsWakeup('fill')).toBe(false);
    emu.wireIn('init', 'eth0', frame(15, 201));
    await emu.settle();
    expect(emu.xskPoll(s) & (POLLIN | POLLRDNORM)).toBe(POLLIN | POLLRDNORM);
    const got = s.recv();
    expect(got).toHaveLength(1);
    expect([...got[0]!.data]).toEqual([...frame(15, 201)]);
    // a kick with FILL still empty leaves the flag set and counts the empty FILL
    emu.wireIn('init', 'eth0', frame(15, 202)); // the last buffer
    emu.wireIn('init', 'eth0', frame(15, 203));
    await emu.settle();
    expect(s.needsWakeup('fill')).toBe(true);
    emu.xskRecvfrom(s);
    expect(s.needsWakeup('fill')).toBe(true);
    expect(s.statistics().rx_fill_ring_empty_descs).toBe(3n);
    expect(s.unaccounted([got[0]!.addr, ...chunks(14).map((c) => c + 8192)])).toEqual([]); // 202 still on RX
    expect(s.recv().map((d) => d.addr)).toEqual([4096 + 256]);
  });

  it('zero-copy without need_wakeup: the driver keeps polling FILL, so a refill alone resumes RX; flags untouched', async () => {
    const xsks = leased();
    const s = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    emu.xskBind('foo', 'nk', 1, s);
    xsks.setSocket(15, s);
    expect(s.options().zerocopy).toBe(true);
    emu.wireIn('init', 'eth0', frame(15));
    await emu.settle();
    expect(s.needsWakeup('fill')).toBe(false);
    expect(s.statistics()).toMatchObject({ rx_dropped: 0n, rx_fill_ring_empty_descs: 1n });
    s.fillRing([8192]);
    emu.wireIn('init', 'eth0', frame(15, 7));
    await emu.settle();
    expect(s.recv().map((d) => d.addr)).toEqual([8192 + 256]);
    expect(s.needsWakeup('tx')).toBe(true);
  });

  it('zero-copy TX: sendto wakes the driver; it stays active (TX flag clear, no kick needed) while COMPLETION is full and sets the flag when idle', async () => {
    nic();
    const s = new XskSocket(emu.dp, { umemSize: 8 * 4096, compSize: 4 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP });
    const f = frame(9);
    for (const c of chunks(8)) emu.dp.bytes().set(f, s.umem + c);
    expect(s.txRing(chunks(8).map((addr) => ({ addr, len: f.length })))).toBe(8);
    expect(emu.xskSendto(s)).toEqual({ sent: 0, result: 0 }); // the driver runs with the dataplane
    expect(s.txCompleted).toBe(0);
    await emu.settle();
    expect(s.txCompleted).toBe(4);
    expect(s.needsWakeup('tx')).toBe(false);
    // active: a kick is not needed and does nothing
    expect(emu.xskSendto(s)).toEqual({ sent: 0, result: 0 });
    expect(s.completions()).toEqual(chunks(4));
    expect(s.unaccounted(chunks(4))).toEqual([]);
    await emu.settle(); // no kick: the active driver continues
    expect(s.completions()).toEqual(chunks(8).slice(4));
    expect(s.needsWakeup('tx')).toBe(true);
    expect(emu.stats(emu.device('init', 'eth0')).txPackets).toBe(8n);
    expect(s.statistics().tx_ring_empty_descs).toBeGreaterThan(0n);
    expect(s.unaccounted(chunks(8))).toEqual([]);
  });

  it('kick errors in the spec order: ENXIO, ENETDOWN, EOPNOTSUPP (blocking), ENOBUFS (no ring); poll reports nothing when unbound or down', async () => {
    nic();
    const s = new XskSocket(emu.dp, { umemSize: 4 * 4096, rxSize: 0 });
    expect(errno(() => emu.xskSendto(s))).toBe('ENXIO');
    expect(errno(() => emu.xskRecvfrom(s))).toBe('ENXIO');
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY });
    expect(errno(() => emu.xskSendto(s, 0))).toBe('EOPNOTSUPP');
    expect(errno(() => emu.xskRecvfrom(s))).toBe('ENOBUFS');
    expect(emu.xskPoll(s)).toBe(POLLOUT | POLLWRNORM);
    emu.setLink('init', 'eth0', { up: false });
    expect(errno(() => emu.xskSendto(s, 0))).toBe('ENETDOWN');
    expect(errno(() => emu.xskRecvfrom(s, MSG_DONTWAIT))).toBe('ENETDOWN');
    expect(emu.xskPoll(s)).toBe(0);
    emu.setLink('init', 'eth0', { up: true });
    const t = new XskSocket(emu.dp, { umemSize: 4 * 4096, txSize: 0 });
    emu.xskBind('init', 'eth0', 3, t, { flags: XDP_COPY });
    expect(errno(() => emu.xskSendto(t))).toBe('ENOBUFS');
    expect(emu.xskPoll(t)).toBe(0);
    // POLLOUT only while at most half the TX ring is outstanding; each poll runs a copy TX
    // pass, which stops at (and consumes) an invalid descriptor
    const u = new XskSocket(emu.dp, { umemSize: 4 * 4096, txSize: 4 });
    emu.xskBind('init', 'eth0', 15, u, { flags: XDP_COPY });
    expect(u.txRing([{ addr: 0, len: 0 }, { addr: 0, len: 0 }, { addr: 0, len: 0 }, { addr: 0, len: 60 }])).toBe(4);
    expect(emu.xskPoll(u)).toBe(0);
    expect(emu.xskPoll(u)).toBe(POLLOUT | POLLWRNORM);
    expect(u.statistics().tx_invalid_descs).toBe(2n);
    emu.xskClose(s);
    expect(emu.xskPoll(s)).toBe(0);
    expect(errno(() => emu.xskSendto(s))).toBe('ENXIO');
    expect(errno(() => emu.xskBind('init', 'eth0', 2, s))).toBe('EBUSY');
  });
});

describe('shared UMEM (af_xdp.md §1.4)', () => {
  it('same queue: one pool, the first socket\'s FILL/COMPLETION; the XSKMAP picks the socket; chunks accounted over both', async () => {
    const xsks = nic();
    const a = new XskSocket(emu.dp, { umemSize: 16 * 4096 });
    emu.xskBind('init', 'eth0', 2, a, { flags: XDP_COPY });
    const b = new XskSocket(emu.dp, { umemSize: 0, fillSize: 0, compSize: 0 });
    emu.xskBind('init', 'eth0', 2, b, { flags: XDP_SHARED_UMEM, sharedUmem: a });
    expect(b.fill).toBe(a.fill);
    expect(b.comp).toBe(a.comp);
    expect(b.umem).toBe(a.umem);
    a.fillRing(chunks(8));
    xsks.setSocket(2, a);
    emu.wireIn('init', 'eth0', frame(2, 1));
    await emu.settle();
    xsks.setSocket(2, b);
    emu.wireIn('init', 'eth0', frame(2, 2));
    emu.wireIn('init', 'eth0', frame(2, 3));
    await emu.settle();
    const ra = a.recv();
    const rb = b.recv();
    expect(ra.map((d) => d.addr)).toEqual([256]);
    expect(rb.map((d) => d.addr)).toEqual([4096 + 256, 8192 + 256]);
    expect([...rb[1]!.data]).toEqual([...frame(2, 3)]);
    const held = [...ra, ...rb].map((d) => d.addr).concat(chunks(8).map((c) => c + 8 * 4096));
    expect(a.unaccounted(held, [b])).toEqual([]);
    expect(a.unaccounted(held)).toEqual([]);
    // the second socket sends through the shared COMPLETION ring
    b.txRing([{ addr: rb[0]!.addr, len: rb[0]!.len }]);
    expect(emu.xskSendto(b)).toEqual({ sent: 1, result: 0 });
    expect(a.completions()).toEqual([rb[0]!.addr]);
    // the pool stays while one socket uses it
    emu.xskClose(a);
    expect(errno(() => emu.xskBind('init', 'eth0', 2, new XskSocket(emu.dp, { umemSize: 4096 }), { flags: XDP_COPY }))).toBe('EBUSY');
    emu.xskClose(b);
    emu.xskBind('init', 'eth0', 2, new XskSocket(emu.dp, { umemSize: 4096 }), { flags: XDP_COPY });
  });

  it('different queue: a new pool with the second socket\'s own FILL/COMPLETION, registered on that queue, inheriting zero-copy and need_wakeup', async () => {
    const xsks = nic();
    const a = new XskSocket(emu.dp, { umemSize: 16 * 4096 });
    emu.xskBind('init', 'eth0', 2, a, { flags: XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP });
    const b = new XskSocket(emu.dp, { umemSize: 0 });
    emu.xskBind('init', 'eth0', 3, b, { flags: XDP_SHARED_UMEM, sharedUmem: a });
    expect(b.fill).not.toBe(a.fill);
    expect(b.options().zerocopy).toBe(true);
    expect(errno(() => emu.xskBind('init', 'eth0', 3, new XskSocket(emu.dp, { umemSize: 4096 })))).toBe('EBUSY');
    xsks.setSocket(2, a);
    xsks.setSocket(3, b);
    a.fillRing(chunks(4));
    b.fillRing(chunks(4).map((c) => c + 4 * 4096));
    emu.wireIn('init', 'eth0', frame(3, 1));
    emu.wireIn('init', 'eth0', frame(2, 2));
    await emu.settle();
    expect(b.recv().map((d) => d.addr)).toEqual([4 * 4096 + 256]);
    expect(a.recv().map((d) => d.addr)).toEqual([256]);
    expect(a.unaccounted([256, 4 * 4096 + 256, ...chunks(8).map((c) => c + 8 * 4096)], [b])).toEqual([]);
    // b's pool ran dry on its own: its FILL flag, not a's
    for (let i = 0; i < 4; i++) emu.wireIn('init', 'eth0', frame(3, 10 + i));
    await emu.settle();
    expect(b.needsWakeup('fill')).toBe(true);
    expect(a.needsWakeup('fill')).toBe(false);
    expect(b.statistics().rx_fill_ring_empty_descs).toBe(1n);
    expect(a.statistics().rx_fill_ring_empty_descs).toBe(0n);
    // the NIC goes: both sockets are unbound, both registrations cleared; counters stay readable
    emu.delNic('init', 'eth0');
    await emu.settle();
    expect([a.state, b.state]).toEqual(['unbound', 'unbound']);
    expect(errno(() => emu.xskSendto(b))).toBe('ENXIO');
    expect(b.statistics().rx_fill_ring_empty_descs).toBe(1n);
  });

  it('errors: other flags or an own UMEM EINVAL, not a socket ENOTSOCK, an unbound partner EBADF, FILL/COMP rules EINVAL', () => {
    nic();
    const a = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    const noFq = (): XskSocket => new XskSocket(emu.dp, { umemSize: 0, fillSize: 0, compSize: 0 });
    expect(errno(() => emu.xskBind('init', 'eth0', 2, noFq(), { flags: XDP_SHARED_UMEM, sharedUmem: a }))).toBe('EBADF');
    emu.xskBind('init', 'eth0', 2, a, { flags: XDP_COPY });
    expect(errno(() => emu.xskBind('init', 'eth0', 2, noFq(), { flags: XDP_SHARED_UMEM | XDP_USE_NEED_WAKEUP, sharedUmem: a }))).toBe('EINVAL');
    expect(errno(() => emu.xskBind('init', 'eth0', 2, noFq(), { flags: XDP_SHARED_UMEM | XDP_COPY, sharedUmem: a }))).toBe('EINVAL');
    expect(errno(() => emu.xskBind('init', 'eth0', 2, new XskSocket(emu.dp, { umemSize: 4096, fillSize: 0, compSize: 0 }), { flags: XDP_SHARED_UMEM, sharedUmem: a }))).toBe('EINVAL');
    expect(errno(() => emu.xskBind('init', 'eth0', 2, noFq(), { flags: XDP_SHARED_UMEM, sharedUmem: {} as XskSocket }))).toBe('ENOTSOCK');
    expect(errno(() => emu.xskBind('init', 'eth0', 2, new XskSocket(emu.dp, { umemSize: 0 }), { flags: XDP_SHARED_UMEM, sharedUmem: a }))).toBe('EINVAL');
    expect(errno(() => emu.xskBind('init', 'eth0', 3, noFq(), { flags: XDP_SHARED_UMEM, sharedUmem: a }))).toBe('EINVAL');
    expect(errno(() => emu.xskBind('init', 'eth0', 3, new XskSocket(emu.dp, { umemSize: 0 })))).toBe('EINVAL'); // no UMEM, no shared flag
    expect(errno(() => emu.xskBind('init', 'eth0', 3, a, { flags: 1 << 5 }))).toBe('EINVAL');
    emu.xskBind('init', 'eth0', 2, noFq(), { flags: XDP_SHARED_UMEM, sharedUmem: a });
  });
});

describe('XDP_ZEROCOPY bind (af_xdp.md §3.4, netkit.md §7.2)', () => {
  it('a single netkit\'s leased queue and the NIC do zero-copy; netkit queue 0, a pair, a NIC without XSK support: EOPNOTSUPP when forced, copy otherwise', () => {
    leased();
    const zc = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    emu.xskBind('foo', 'nk', 1, zc, { flags: XDP_ZEROCOPY });
    expect(zc.options().zerocopy).toBe(true);
    const q0 = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    expect(errno(() => emu.xskBind('foo', 'nk', 0, q0, { flags: XDP_ZEROCOPY }))).toBe('EOPNOTSUPP');
    emu.xskBind('foo', 'nk', 0, q0); // the failed forced bind left no pool behind
    expect(q0.options().zerocopy).toBe(false);
    expect(errno(() => emu.xskBind('init', 'eth0', 4, new XskSocket(emu.dp, { umemSize: 4096 }), { flags: XDP_COPY | XDP_ZEROCOPY }))).toBe('EINVAL');
    emu.addNic({ name: 'eth1', rxQueues: 2, xskZeroCopy: false });
    const plain = new XskSocket(emu.dp, { umemSize: 4096 });
    expect(errno(() => emu.xskBind('init', 'eth1', 1, plain, { flags: XDP_ZEROCOPY }))).toBe('EOPNOTSUPP');
    emu.xskBind('init', 'eth1', 1, plain);
    expect(plain.options().zerocopy).toBe(false);
  });

  it('through a pair\'s leased queue only copy mode; a memory provider on the NIC is EBUSY when forced', () => {
    leased('pair');
    const s = new XskSocket(emu.dp, { umemSize: 4096 });
    expect(errno(() => emu.xskBind('foo', 'nkp', 1, s, { flags: XDP_ZEROCOPY }))).toBe('EOPNOTSUPP');
    emu.xskBind('foo', 'nkp', 1, s);
    expect(s.options().zerocopy).toBe(false);
    emu.addNic({ name: 'eth1', rxQueues: 4 });
    emu.bindProvider('init', 'eth1', 2);
    const t = new XskSocket(emu.dp, { umemSize: 4096 });
    expect(errno(() => emu.xskBind('init', 'eth1', 1, t, { flags: XDP_ZEROCOPY }))).toBe('EBUSY');
    emu.xskBind('init', 'eth1', 1, t);
    expect(t.options().zerocopy).toBe(false);
  });

  it('multi-buffer zero-copy needs the driver\'s max segments > 1 (and never through netkit)', () => {
    leased();
    expect(errno(() => emu.xskBind('init', 'eth0', 2, new XskSocket(emu.dp, { umemSize: 4096 }), { flags: XDP_ZEROCOPY | XDP_USE_SG }))).toBe('EOPNOTSUPP');
    expect(errno(() => emu.xskBind('foo', 'nk', 1, new XskSocket(emu.dp, { umemSize: 4096 }), { flags: XDP_ZEROCOPY | XDP_USE_SG }))).toBe('EOPNOTSUPP');
    emu.addNic({ name: 'eth1', rxQueues: 2, xskMaxSegs: 4 });
    const s = new XskSocket(emu.dp, { umemSize: 4096 });
    emu.xskBind('init', 'eth1', 1, s, { flags: XDP_ZEROCOPY | XDP_USE_SG });
    expect(s.options().zerocopy).toBe(true);
  });
});

describe('multi-buffer receive and transmit (af_xdp.md §4)', () => {
  // 2 KiB chunks with 512 bytes of headroom: 1280 bytes of packet data per buffer.
  const CHUNK = 2048;
  const FRAME_LEN = CHUNK - 512 - 256;

  it('a frame larger than a buffer spans descriptors with XDP_PKT_CONTD on all but the last; without XDP_USE_SG it is rx_dropped', async () => {
    const xsks = nic();
    const sg = new XskSocket(emu.dp, { umemSize: 16 * CHUNK, chunkSize: CHUNK, headroom: 512 });
    emu.xskBind('init', 'eth0', 2, sg, { flags: XDP_COPY | XDP_USE_SG });
    const one = new XskSocket(emu.dp, { umemSize: 4 * CHUNK, chunkSize: CHUNK, headroom: 512 });
    emu.xskBind('init', 'eth0', 3, one, { flags: XDP_COPY });
    xsks.setSocket(2, sg);
    xsks.setSocket(3, one);
    sg.fillRing(chunks(16, CHUNK));
    one.fillRing(chunks(4, CHUNK));
    const big = frame(2, 5, 2900); // 2942 bytes: 1280 + 1280 + 382
    const small = frame(2, 6, 100);
    emu.wireIn('init', 'eth0', big);
    emu.wireIn('init', 'eth0', small);
    emu.wireIn('init', 'eth0', frame(3, 7, 2900));
    await emu.settle();
    const got = sg.recv();
    expect(got.map((d) => [d.len, d.options])).toEqual([[FRAME_LEN, XDP_PKT_CONTD], [FRAME_LEN, XDP_PKT_CONTD], [big.length - 2 * FRAME_LEN, 0], [small.length, 0]]);
    expect(got.every((d) => d.addr % CHUNK === 512 + 256)).toBe(true);
    const joined = new Uint8Array(big.length);
    let off = 0;
    for (const d of got.slice(0, 3)) { joined.set(d.data, off); off += d.len; }
    expect(joined).toEqual(big);
    expect(one.statistics()).toMatchObject({ rx_dropped: 1n, rx_ring_full: 0n });
    expect(one.recv()).toHaveLength(0);
    expect(sg.unaccounted(got.map((d) => d.addr))).toEqual([]);

    // transmit the three buffers back as one packet
    sg.txRing(got.slice(0, 3).map((d) => ({ addr: d.addr, len: d.len, options: d.options })));
    const before = emu.stats(emu.device('init', 'eth0'));
    expect(emu.xskSendto(sg)).toEqual({ sent: 3, result: 0 });
    const after = emu.stats(emu.device('init', 'eth0'));
    expect(after.txPackets - before.txPackets).toBe(1n);
    expect(after.txBytes - before.txBytes).toBe(BigInt(big.length));
    expect(sg.completions()).toEqual(got.slice(0, 3).map((d) => d.addr));
    // without XDP_USE_SG a descriptor with XDP_PKT_CONTD is invalid
    one.txRing([{ addr: 0, len: 60, options: XDP_PKT_CONTD }, { addr: 0, len: 60 }]);
    expect(emu.xskSendto(one)).toEqual({ sent: 0, result: 0 });
    expect(one.statistics().tx_invalid_descs).toBe(1n);
  });

  it('copy-mode TX: up to 18 descriptors make one packet; a longer one is dropped whole (all counted invalid, none completed)', () => {
    nic();
    const s = new XskSocket(emu.dp, { umemSize: 64 * CHUNK, chunkSize: CHUNK });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY | XDP_USE_SG });
    const run = (n: number, first: number) => Array.from({ length: n }, (_, i) => ({ addr: (first + i) * CHUNK, len: 60, options: i + 1 < n ? XDP_PKT_CONTD : 0 }));
    const eth0 = emu.device('init', 'eth0');
    s.txRing(run(18, 0));
    expect(emu.xskSendto(s)).toEqual({ sent: 18, result: 0 });
    expect(emu.stats(eth0)).toMatchObject({ txPackets: 1n, txBytes: 18n * 60n });
    expect(s.completions()).toHaveLength(18);
    // 19 descriptors: the 18th still continues, so the packet so far is dropped; the 19th stands alone
    s.txRing(run(19, 20));
    expect(emu.xskSendto(s)).toEqual({ sent: 1, result: 0 });
    expect(s.statistics().tx_invalid_descs).toBe(18n);
    expect(s.completions()).toEqual([38 * CHUNK]);
    expect(emu.stats(eth0)).toMatchObject({ txPackets: 2n, txBytes: 19n * 60n });
  });

  it('copy mode takes buffers off the pool\'s free list (filled by frames that found RX full) before FILL, for one buffer and for several', async () => {
    const xsks = nic();
    const s = new XskSocket(emu.dp, { umemSize: 8 * CHUNK, chunkSize: CHUNK, headroom: 512, rxSize: 2 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY | XDP_USE_SG });
    xsks.setSocket(2, s);
    s.fillRing(chunks(5, CHUNK));
    await emu.settle();
    for (let i = 0; i < 4; i++) emu.wireIn('init', 'eth0', frame(2, 10 + i));
    await emu.settle();
    // the third took FILL's buffer and found RX full; the fourth got it off the free list, and the same
    expect(s.statistics()).toMatchObject({ rx_ring_full: 2n, rx_dropped: 0n });
    expect(s.kernelHeld()).toEqual([2 * CHUNK]);
    expect(s.recv().map((d) => base(d.addr, CHUNK))).toEqual([0, CHUNK]);
    // three buffers: the free list's, then FILL's two
    const big = frame(2, 5, 2900);
    emu.wireIn('init', 'eth0', big);
    await emu.settle();
    expect(s.statistics().rx_ring_full).toBe(3n); // RX holds 2: checked before any buffer is taken
    expect(s.kernelHeld()).toEqual([2 * CHUNK]);
    s.recv(); // (nothing)
    const roomy = new XskSocket(emu.dp, { umemSize: 0, fillSize: 0, compSize: 0, rxSize: 8 });
    emu.xskBind('init', 'eth0', 2, roomy, { flags: XDP_SHARED_UMEM, sharedUmem: s });
    xsks.setSocket(2, roomy);
    emu.wireIn('init', 'eth0', big);
    await emu.settle();
    const got = roomy.recv();
    expect(got.map((d) => base(d.addr, CHUNK))).toEqual([2 * CHUNK, 3 * CHUNK, 4 * CHUNK]);
    const joined = new Uint8Array(big.length);
    let off = 0;
    for (const d of got) { joined.set(d.data, off); off += d.len; }
    expect(joined).toEqual(big);
    expect(s.kernelHeld()).toEqual([]);
    expect(s.unaccounted([0, CHUNK, 2 * CHUNK, 3 * CHUNK, 4 * CHUNK, 5 * CHUNK, 6 * CHUNK, 7 * CHUNK], [roomy])).toEqual([]);
  });

  it('all or nothing: too few FILL buffers is rx_dropped (fill-empty only when none), too few RX slots is rx_ring_full', async () => {
    const xsks = nic();
    const s = new XskSocket(emu.dp, { umemSize: 8 * CHUNK, chunkSize: CHUNK, headroom: 512, rxSize: 2 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY | XDP_USE_SG });
    xsks.setSocket(2, s);
    s.fillRing([0, CHUNK]);
    emu.wireIn('init', 'eth0', frame(2, 1, 2900)); // needs 3 buffers, FILL has 2
    await emu.settle();
    expect(s.statistics()).toMatchObject({ rx_dropped: 1n, rx_fill_ring_empty_descs: 0n, rx_ring_full: 0n });
    s.fillRing([2 * CHUNK, 3 * CHUNK]);
    emu.wireIn('init', 'eth0', frame(2, 2, 2900)); // 4 buffers now, but the RX ring holds 2
    await emu.settle();
    expect(s.statistics()).toMatchObject({ rx_dropped: 1n, rx_ring_full: 1n });
    expect(s.recv()).toHaveLength(0);
    emu.wireIn('init', 'eth0', frame(2, 3, 2000)); // 2 descriptors fit
    await emu.settle();
    const got = s.recv();
    expect(got.map((d) => d.options)).toEqual([XDP_PKT_CONTD, 0]);
    expect(s.unaccounted([...got.map((d) => base(d.addr, CHUNK)), ...chunks(4, CHUNK).map((c) => c + 4 * CHUNK)])).toEqual([]);
  });
});

describe('zero-copy receive (af_xdp.md §1.3, §3.5)', () => {
  /** A UDP frame to mac(q) with destination port `dport` (xdp_zc's verdict). */
  function udpTo(q: number, dport: number, size = 32): Uint8Array {
    const src = parseIp('192.168.1.2')!;
    const dst = parseIp('192.168.1.50')!;
    const payload = new Uint8Array(size).map((_, i) => (i * 5 + dport) & 0xff);
    return buildIpv4(mac(q), new Uint8Array([2, 0, 0, 0, 0, 9]), { src, dst, proto: 17 }, buildUdp(src, dst, 1000, dport, payload));
  }
  /** The frame as the program leaves it before a redirect: the first payload byte 0xa5. */
  const marked = (f: Uint8Array): number[] => { const m = f.slice(); m[42] = 0xa5; return [...m]; };

  /** eth0 (16 queues) running xdp_zc (verdict by UDP port); frames to mac(q) land on queue q. */
  function zcNic(): BpfMap {
    emu.addNic({ name: 'eth0', rxQueues: 16 });
    emu.setLink('init', 'eth0', { up: true });
    for (const q of [2, 3]) emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: mac(q), action: q });
    const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_zc.o', import.meta.url)));
    emu.setXdp('init', 'eth0', obj.programs.get('xsk_ports')!);
    return obj.maps.get('xsks')!;
  }
  const wire = async (...frames: Uint8Array[]): Promise<void> => {
    for (const f of frames) emu.wireIn('init', 'eth0', f);
    await emu.settle();
  };

  it.each(['XDP over batches', 'one frame at a time (tcx ingress too)'])('the driver receives into FILL\'s buffers before XDP runs; a redirect posts the buffer itself (a head adjustment moves its address); drop, pass and XDP_TX give it to the pool\'s free list, used before FILL (%s)', async (mode) => {
    const xsks = zcNic();
    const eth0 = emu.device('init', 'eth0');
    if (mode !== 'XDP over batches') {
      const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url)));
      emu.progAttach('init', { ifindex: eth0.ifindex, attachType: 'tcx_ingress', prog: obj.programs.get('count')! });
    }
    const s = new XskSocket(emu.dp, { umemSize: 8 * 4096 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_ZEROCOPY });
    xsks.setSocket(2, s);
    s.fillRing(chunks(4));
    await wire(udpTo(2, 7)); // XDP_DROP: the buffer the frame came in stays the kernel's
    expect(s.kernelHeld()).toEqual([0]);
    expect(emu.stats(eth0).dropReasons).toEqual({ XDP_DROP: 1n });
    const red = udpTo(2, 5000);
    await wire(red); // from the free list first
    let got = s.recv();
    expect(got.map((d) => [d.addr, d.len])).toEqual([[256, red.length]]);
    expect([...got[0]!.data]).toEqual(marked(red));
    expect(s.kernelHeld()).toEqual([]);
    const strip = udpTo(2, 10);
    await wire(strip); // the head moved 14 bytes: the descriptor points past the Ethernet header
    got = [...got, ...s.recv()];
    expect(got.map((d) => [d.addr, d.len])).toEqual([[256, red.length], [4096 + 256 + 14, strip.length - 14]]);
    expect([...got[1]!.data]).toEqual(marked(strip).slice(14));
    // XDP_PASS: copied into an skb that goes up (captured as received); XDP_TX: out of eth0
    const cap = emu.startCapture({ devices: [{ ns: 'init', dev: 'eth0' }] });
    const before = emu.stats(eth0);
    const pass = udpTo(2, 8);
    await wire(pass, udpTo(2, 9));
    const after = emu.stats(eth0);
    expect([after.rxPackets - before.rxPackets, after.txPackets - before.txPackets]).toEqual([1n, 1n]);
    const inbound = readPcapng(emu.stopCapture(cap)).packets.filter((p) => p.direction === 'in');
    expect(inbound.map((p) => [...p.data])).toEqual([[...pass]]);
    // over batches both frames were received (into the last two FILL buffers) before XDP
    // ran on either; one at a time, the second reuses the buffer the first gave back
    expect(s.kernelHeld()).toEqual(mode === 'XDP over batches' ? [8192, 12288] : [8192]);
    expect(s.unaccounted([0, 4096, ...chunks(4).map((c) => c + 4 * 4096)])).toEqual([]);
    expect(s.statistics()).toMatchObject({ rx_dropped: 0n, rx_ring_full: 0n, rx_fill_ring_empty_descs: 0n });
  });

  it('copy mode on the same program: XDP runs on the driver\'s own buffer, the socket gets a copy at chunk + headroom + 256, and frames XDP drops leave FILL alone', async () => {
    const xsks = zcNic();
    const c = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    emu.xskBind('init', 'eth0', 3, c, { flags: XDP_COPY });
    xsks.setSocket(3, c);
    c.fillRing(chunks(4));
    const strip = udpTo(3, 10);
    await wire(udpTo(3, 7), strip);
    expect(c.kernelHeld()).toEqual([]);
    const got = c.recv();
    expect(got.map((d) => [d.addr, d.len])).toEqual([[256, strip.length - 14]]);
    expect([...got[0]!.data]).toEqual(marked(strip).slice(14));
    expect(c.unaccounted([0])).toEqual([]); // 4096, 8192 and 12288 still in FILL
  });

  it('a full RX ring is rx_ring_full and the buffer goes to the free list; with none left the frame is dropped before XDP runs (XSK_NO_BUFFER); a redirect to a socket of another queue returns the buffer', async () => {
    const xsks = zcNic();
    const eth0 = emu.device('init', 'eth0');
    const s = new XskSocket(emu.dp, { umemSize: 4 * 4096, rxSize: 2 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP });
    xsks.setSocket(2, s);
    s.fillRing(chunks(3));
    await wire(udpTo(2, 5000), udpTo(2, 5001), udpTo(2, 5002));
    expect(s.statistics()).toMatchObject({ rx_ring_full: 1n, rx_dropped: 0n, rx_fill_ring_empty_descs: 0n });
    expect(s.kernelHeld()).toEqual([8192]);
    expect(emu.stats(eth0).dropReasons).toEqual({ REDIRECT_FAILED: 1n });
    const first = s.recv();
    expect(first.map((d) => d.addr)).toEqual([256, 4096 + 256]);
    // the free list's buffer, then nothing: FILL is empty, the driver flags it and stops;
    // the port-7 frame never reaches XDP (no XDP_DROP)
    await wire(udpTo(2, 5003), udpTo(2, 7));
    expect(s.recv().map((d) => d.addr)).toEqual([8192 + 256]);
    expect(emu.stats(eth0).dropReasons).toEqual({ REDIRECT_FAILED: 1n, XSK_NO_BUFFER: 1n });
    expect(s.statistics()).toMatchObject({ rx_fill_ring_empty_descs: 1n, rx_dropped: 0n });
    expect(s.needsWakeup('fill')).toBe(true);
    // queue 2's XSKMAP slot now holds a socket bound to queue 3: the redirect fails, the buffer returns to queue 2's pool
    const other = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    emu.xskBind('init', 'eth0', 3, other, { flags: XDP_COPY });
    other.fillRing(chunks(4));
    xsks.setSocket(2, other);
    s.fillRing([0]);
    emu.xskRecvfrom(s);
    await wire(udpTo(2, 5004));
    expect(s.kernelHeld()).toEqual([0]);
    expect(emu.stats(eth0).dropReasons).toEqual({ REDIRECT_FAILED: 2n, XSK_NO_BUFFER: 1n });
    expect(other.recv()).toEqual([]);
    expect(s.unaccounted([4096, 8192, 12288])).toEqual([]);
  });

  it('a devmap redirect from a zero-copy queue sends a copy out of the target; XDP_PASS with no frame left for the skb is NOMEM; the buffer returns to the free list either way', async () => {
    await emu.close();
    emu = await Emulator.create({ seed: 8, framesPerThread: 256 });
    const xsks = zcNic();
    const eth0 = emu.device('init', 'eth0');
    const s = new XskSocket(emu.dp, { umemSize: 68 * 4096 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_ZEROCOPY });
    xsks.setSocket(2, s);
    s.fillRing(chunks(64)); // a batch's worth: each pktgen batch of 64 takes them all before XDP runs
    // nothing drains eth0's rx rings during one pktgen call: 256 skbs, then no frame for a copy
    const pass = udpTo(2, 8);
    expect(await emu.pktgen('init', 'eth0', pass, { count: 300 })).toBe(300);
    expect(emu.stats(eth0)).toMatchObject({ rxPackets: 256n, dropReasons: { NOMEM: 44n } });
    expect(emu.queueStats('init', 'eth0')[2]!.rxPackets).toBe(256n);
    expect(s.kernelHeld().sort((a, b) => a - b)).toEqual(chunks(64)); // the same 64 buffers did for all 300
    await emu.settle();
    // devmap: out of eth1, captured there with the frame's bytes
    const eth1 = emu.addNic({ name: 'eth1', rxQueues: 1 });
    emu.setLink('init', 'eth1', { up: true });
    const dev = new BpfMap(emu.dp, { name: 'tx', type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 1 });
    dev.update(new Uint8Array(4), new Uint8Array(new Uint32Array([eth1.ifindex]).buffer));
    emu.setXdp('init', 'eth0', emu.loadProgram({ name: 'fwd', type: 'xdp', insns: assemble(`lddw %r1, ${dev.record}\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit`), maps: [dev.record] }));
    const cap = emu.startCapture({ devices: [{ ns: 'init', dev: 'eth1' }] });
    const out = udpTo(2, 5000);
    emu.wireIn('init', 'eth0', out);
    await emu.settle();
    expect(readPcapng(emu.stopCapture(cap)).packets.filter((p) => p.direction === 'out').map((p) => [...p.data])).toEqual([[...out]]);
    expect(emu.stats(eth1).txPackets).toBe(1n);
    expect(s.kernelHeld()).toHaveLength(64);
    expect(s.unaccounted(chunks(4).map((c) => c + 64 * 4096))).toEqual([]);
  });

  it.each(['XDP over batches', 'one frame at a time (tcx ingress too)'])('on a zero-copy multi-buffer queue a frame larger than a buffer goes the copy way (the NIC\'s own buffer, copied at the redirect) between frames received into FILL\'s buffers (%s)', async (mode) => {
    emu.addNic({ name: 'eth0', rxQueues: 4, xskMaxSegs: 4 });
    emu.setLink('init', 'eth0', { up: true });
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: mac(2), action: 2 });
    const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_zc.o', import.meta.url)));
    emu.setXdp('init', 'eth0', obj.programs.get('xsk_ports')!);
    const eth0 = emu.device('init', 'eth0');
    if (mode !== 'XDP over batches') {
      const tc = emu.loadObject(readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url)));
      emu.progAttach('init', { ifindex: eth0.ifindex, attachType: 'tcx_ingress', prog: tc.programs.get('count')! });
    }
    const C = 2048;
    const s = new XskSocket(emu.dp, { umemSize: 8 * C, chunkSize: C });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_ZEROCOPY | XDP_USE_SG });
    obj.maps.get('xsks')!.setSocket(2, s);
    s.fillRing(chunks(8, C));
    const frames = [udpTo(2, 5000), udpTo(2, 5001, 2900), udpTo(2, 5002), udpTo(2, 5003)];
    await wire(...frames);
    const got = s.recv();
    // one at a time: the buffers in arrival order; over batches the three small frames took
    // theirs while the batch was received, the large one its two when redirected
    const order = mode === 'XDP over batches' ? [0, 3, 4, 1, 2] : [0, 1, 2, 3, 4];
    expect(got.map((d) => base(d.addr, C))).toEqual(order.map((c) => c * C));
    expect(got.map((d) => d.options ?? 0)).toEqual([0, XDP_PKT_CONTD, 0, 0, 0]);
    const big = new Uint8Array([...got[1]!.data, ...got[2]!.data]);
    expect([...big]).toEqual(marked(frames[1]!));
    expect([got[0], got[3], got[4]].map((d) => [...d!.data])).toEqual([frames[0], frames[2], frames[3]].map(marked));
    expect(emu.stats(eth0).dropReasons).toEqual({});
    expect(s.unaccounted(got.map((d) => base(d.addr, C)))).toEqual([]); // (5, 6, 7 still in FILL)
    // two frames XDP drops leave their buffers on the free list (over batches both were
    // received before XDP ran; one at a time the second reused the first's): a large frame
    // going the copy way takes from there first, the top first
    await wire(udpTo(2, 7), udpTo(2, 7));
    expect(s.kernelHeld()).toEqual(mode === 'XDP over batches' ? [5 * C, 6 * C] : [5 * C]);
    const big2 = udpTo(2, 5004, 2900);
    await wire(big2);
    const got2 = s.recv();
    expect(got2.map((d) => base(d.addr, C))).toEqual(mode === 'XDP over batches' ? [6 * C, 5 * C] : [5 * C, 6 * C]);
    expect([...got2[0]!.data, ...got2[1]!.data]).toEqual(marked(big2));
    expect(s.kernelHeld()).toEqual([]);
    expect(s.unaccounted([...got, ...got2].map((d) => base(d.addr, C)))).toEqual([]); // (7 still in FILL)
  });

  it('closing the pool\'s last socket gives the queue back to the driver\'s own buffers: FILL is no longer read, the free list stays the kernel\'s', async () => {
    const xsks = zcNic();
    const eth0 = emu.device('init', 'eth0');
    const s = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_ZEROCOPY });
    xsks.setSocket(2, s);
    s.fillRing(chunks(2));
    await wire(udpTo(2, 7));
    expect(s.kernelHeld()).toEqual([0]);
    // (the unbind that close does first, as device unregistration does it: the socket's
    // memory is still there to look at; close then frees it)
    (emu as unknown as { xsk: { close(s: XskSocket): void } }).xsk.close(s);
    await wire(udpTo(2, 7), udpTo(2, 5000));
    expect(emu.stats(eth0).dropReasons).toEqual({ XDP_DROP: 2n, REDIRECT_FAILED: 1n });
    expect(s.kernelHeld()).toEqual([0]);
    expect(s.unaccounted(chunks(2).map((c) => c + 2 * 4096))).toEqual([]); // 4096 still in FILL
    emu.xskClose(s);
    expect(() => s.statistics()).toThrow(expect.objectContaining({ errno: 'EBADF' }));
  });
});
