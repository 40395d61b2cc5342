/**
 * AF_XDP through netkit (the seed's headline use case, copy mode): eth0 steers the VM's
 * MAC to queue 15, an XDP program redirects into an XSKMAP, queue 15 is leased to a single
 * netkit device in netns foo, and a socket bound to nk queue 1 receives the frames.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import type { BpfMap } from '../../src/ebpf/maps.js';
import { XDP_COPY, XDP_ZEROCOPY, XskSocket } from '../../src/xdp/socket.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 8 });
});
afterEach(async () => {
  await emu.close();
});

const VM = new Uint8Array([0x02, 0x56, 0x4d, 0, 0, 1]);
const errno = (f: () => unknown): string => { try { f(); } catch (e) { return (e as { errno: string }).errno; } return 'ok'; };

function frame(sport: number): Uint8Array {
  const s = parseIp('192.168.1.2')!;
  const d = parseIp('192.168.1.50')!;
  return buildIpv4(VM, new Uint8Array([2, 0, 0, 0, 0, 9]), { src: s, dst: d, proto: 17 }, buildUdp(s, d, sport, 9, new Uint8Array(32)));
}

function seed(flags = XDP_COPY): { sock: XskSocket; xsks: BpfMap } {
  const eth0 = emu.addNic({ name: 'eth0', rxQueues: 16 });
  emu.setLink('init', 'eth0', { up: true });
  emu.setRss('init', 'eth0', { start: 0, equal: 15 });
  emu.setRss('init', 'eth0', { start: 15, equal: 1, context: 'new' });
  emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: VM, action: 15 });
  const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_xsk.o', import.meta.url)));
  emu.setXdp('init', 'eth0', obj.programs.get('xsk_redirect')!);
  const [nk] = emu.addLink({ ifname: 'nk', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
  emu.queueCreate({ ifindex: nk!.ifindex, type: 'rx', lease: { ifindex: eth0.ifindex, queue: { id: 15, type: 'rx' } } });
  emu.addNetns('foo');
  emu.setLink('init', 'nk', { netns: 'foo' });
  emu.setLink('foo', 'nk', { up: true });
  const sock = new XskSocket(emu.dp, { umemSize: 64 * 4096 });
  emu.xskBind('foo', 'nk', 1, sock, { flags });
  const xsks = obj.maps.get('xsks')!;
  xsks.setSocket(15, sock); // the program uses rx_queue_index (15) as the key
  return { sock, xsks };
}

describe('AF_XDP receive through a leased queue (af_xdp.md §3.5, §6)', () => {
  it('steered frames land in the socket bound to nk queue 1; others take the normal path', async () => {
    const { sock } = seed();
    expect(sock.fillRing(Array.from({ length: 32 }, (_, i) => i * 4096))).toBe(32);
    for (let i = 0; i < 10; i++) emu.wireIn('init', 'eth0', frame(1000 + i));
    await emu.settle();
    const got = sock.recv();
    expect(got).toHaveLength(10);
    expect(got.every((f) => f.addr % 4096 === 256 && f.len === 74)).toBe(true);
    expect([...got[0]!.data.subarray(0, 6)]).toEqual([...VM]);
    expect(emu.queueDump('init', emu.device('init', 'eth0').ifindex).find((q) => q.id === 15 && q.type === 'rx')).toMatchObject({ xsk: {} });
    expect(sock.statistics()).toMatchObject({ rx_dropped: 0n, rx_ring_full: 0n, rx_fill_ring_empty_descs: 0n });
  });

  it('an empty FILL ring drops and counts rx_dropped and rx_fill_ring_empty_descs; a full RX ring counts rx_ring_full and the buffer goes to the pool\'s free list, used before FILL', async () => {
    const { sock, xsks } = seed();
    emu.wireIn('init', 'eth0', frame(1));
    await emu.settle();
    expect(sock.statistics()).toMatchObject({ rx_dropped: 1n, rx_fill_ring_empty_descs: 1n });
    const small = new XskSocket(emu.dp, { umemSize: 16 * 4096, rxSize: 2 });
    emu.xskClose(sock);
    emu.xskBind('foo', 'nk', 1, small, { flags: XDP_COPY });
    xsks.setSocket(15, small);
    small.fillRing([0, 4096, 8192, 12288]);
    for (let i = 0; i < 4; i++) emu.wireIn('init', 'eth0', frame(10 + i));
    await emu.settle();
    const got = small.recv();
    expect(got.map((d) => d.addr)).toEqual([256, 4096 + 256]);
    expect(small.statistics()).toMatchObject({ rx_ring_full: 2n, rx_dropped: 0n });
    // the third took its buffer from FILL before finding RX full; the fourth got that one
    // back off the free list (12288 stays in FILL)
    expect(small.kernelHeld()).toEqual([8192]);
    expect(small.unaccounted([0, 4096, ...Array.from({ length: 12 }, (_, i) => (i + 4) * 4096)])).toEqual([]);
    small.fillRing([0]);
    for (let i = 0; i < 3; i++) emu.wireIn('init', 'eth0', frame(20 + i));
    await emu.settle();
    expect(small.recv().map((d) => d.addr)).toEqual([8192 + 256, 12288 + 256]);
    expect(small.kernelHeld()).toEqual([0]); // the third: FILL's last buffer, RX full again
    expect(small.statistics().rx_ring_full).toBe(3n);
  });

  it('FILL addresses (§1.2): an offset inside a chunk means the chunk; past the UMEM is skipped and consumed, also when no valid buffer is left', async () => {
    const { sock, xsks } = seed();
    // 64 chunks: 4096 + 100 is chunk 1, 64 * 4096 and beyond are outside.
    expect(sock.fillRing([4096 + 100, 64 * 4096, 70 * 4096, 3 * 4096 + 4095])).toBe(4);
    for (let i = 0; i < 2; i++) emu.wireIn('init', 'eth0', frame(20 + i));
    await emu.settle();
    expect(sock.recv().map((f) => f.addr)).toEqual([4096 + 256, 3 * 4096 + 256]);
    // A 4-entry FILL ring of invalid addresses: the frame is dropped, and the ring is empty again.
    const small = new XskSocket(emu.dp, { umemSize: 16 * 4096, fillSize: 4 });
    emu.xskClose(sock);
    emu.xskBind('foo', 'nk', 1, small, { flags: XDP_COPY });
    xsks.setSocket(15, small);
    expect(small.fillRing([16 * 4096, 17 * 4096, 18 * 4096, 19 * 4096])).toBe(4);
    emu.wireIn('init', 'eth0', frame(30));
    await emu.settle();
    expect(small.statistics()).toMatchObject({ rx_dropped: 1n, rx_fill_ring_empty_descs: 1n, rx_invalid_descs: 0n });
    expect(small.fillRing([0, 4096, 8192, 12288])).toBe(4);
    emu.wireIn('init', 'eth0', frame(31));
    await emu.settle();
    expect(small.recv().map((f) => f.addr)).toEqual([256]);
  });

  it('TX in copy mode: frames go out of the bound NIC queue and come back on COMPLETION; a leased netkit queue sends nothing; invalid descriptors counted', async () => {
    const { sock } = seed();
    // bound through nk queue 1: netkit has one TX queue, so the copy pass sends nothing (af_xdp.md §6.5)
    sock.txRing([{ addr: 0, len: 60 }]);
    expect(emu.xskSendto(sock)).toEqual({ sent: 0, result: 0 });
    const direct = new XskSocket(emu.dp, { umemSize: 8 * 4096 });
    emu.xskBind('init', 'eth0', 2, direct, { flags: XDP_COPY });
    const f = frame(7);
    emu.dp.bytes().set(f, direct.umem + 4096);
    direct.txRing([{ addr: 4096, len: f.length }, { addr: 4096 + 4000, len: 200 }, { addr: 0, len: 60 }]);
    expect(emu.xskSendto(direct)).toEqual({ sent: 1, result: 0 });
    await emu.settle();
    expect(direct.completions()).toEqual([4096]);
    expect(emu.stats(emu.device('init', 'eth0')).txPackets).toBe(1n);
    expect(direct.statistics()).toMatchObject({ tx_invalid_descs: 1n });
    // the descriptor after the invalid one is sent by the next kick; an empty ring is counted
    expect(emu.xskSendto(direct)).toEqual({ sent: 1, result: 0 });
    expect(direct.statistics().tx_ring_empty_descs).toBe(1n);
    expect(errno(() => direct.setTxBudget(31))).toBe('EACCES');
    expect(errno(() => direct.setTxBudget(4096))).toBe('EACCES');
    direct.setTxBudget(32);
    direct.txRing(Array.from({ length: 34 }, () => ({ addr: 4096, len: 60 })));
    expect(emu.xskSendto(direct)).toEqual({ sent: 32, result: 'EAGAIN' });
    expect(emu.xskSendto(direct)).toEqual({ sent: 2, result: 0 });
  });

  it('bind errors: leased physical queue EBUSY, a second socket EBUSY, queue out of range EINVAL, no device ENODEV', () => {
    const { sock } = seed();
    const other = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    expect(errno(() => emu.xskBind('init', 'eth0', 15, other))).toBe('EBUSY');
    expect(errno(() => emu.xskBind('foo', 'nk', 1, other))).toBe('EBUSY');
    expect(errno(() => emu.xskBind('foo', 'nk', 2, other))).toBe('EINVAL');
    expect(errno(() => emu.xskBind('foo', 'nope', 0, other))).toBe('ENODEV');
    expect(errno(() => emu.xskBind('foo', 'nk', 1, sock))).toBe('EBUSY');
    expect(errno(() => new XskSocket(emu.dp, { chunkSize: 1000 }))).toBe('EINVAL');
    emu.xskBind('init', 'eth0', 3, other);
  });

  it.each([['copy', XDP_COPY], ['zero-copy', XDP_ZEROCOPY]] as const)('removing the NIC during traffic takes the netkit device along, unbinds the socket, and every UMEM chunk is accounted for (%s)', async (_mode, flags) => {
    const { sock } = seed(flags);
    expect(sock.options().zerocopy).toBe(flags === XDP_ZEROCOPY);
    const chunks = Array.from({ length: 64 }, (_, i) => i * 4096);
    sock.fillRing(chunks);
    const held: number[] = [];
    // a non-IP frame to the VM each round: XDP passes it (zero-copy: out of a UMEM buffer, which the pool keeps)
    const other = new Uint8Array(60);
    other.set(VM, 0);
    other.set([0x88, 0xb5], 12);
    for (let round = 0; round < 5; round++) {
      emu.wireIn('init', 'eth0', other);
      for (let i = 0; i < 7; i++) emu.wireIn('init', 'eth0', frame(round * 10 + i));
      await emu.settle();
      // the application keeps some frames, returns the others to FILL
      const got = sock.recv();
      got.forEach((f, i) => (i % 2 ? held.push(f.addr) : sock.fillRing([f.addr - (f.addr % 4096)])));
      expect(sock.unaccounted(held)).toEqual([]);
    }
    for (let i = 0; i < 5; i++) emu.wireIn('init', 'eth0', frame(100 + i)); // in flight when the NIC goes
    emu.delNic('init', 'eth0');
    await emu.settle();
    expect(sock.bound).toBeUndefined();
    expect(emu.links('foo').map((d) => d.name)).toEqual(['lo']);
    expect(sock.kernelHeld().length > 0).toBe(flags === XDP_ZEROCOPY);
    expect(sock.unaccounted(held)).toEqual([]);
    expect(sock.statistics().rx_dropped).toBe(0n);
  });
});

