import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { NetError } from '../../src/errors.js';
import { buildIpv4, parseIp } from '../../src/net/stack/packet.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 11 });
});
afterEach(async () => {
  await emu.close();
});

function err(fn: () => unknown): NetError {
  try { fn(); } catch (e) { if (e instanceof NetError) return e; throw e; }
  throw new Error('expected a NetError');
}

/** A TCP segment from the wire to dst:dport (only the 20-byte header, no options). */
function tcp(dstMac: Uint8Array, dst: string, dport: number, sport: number): Uint8Array {
  const seg = new Uint8Array(20 + 100);
  new DataView(seg.buffer).setUint16(0, sport);
  new DataView(seg.buffer).setUint16(2, dport);
  seg[12] = 5 << 4;
  return buildIpv4(dstMac, new Uint8Array([2, 0xaa, 0, 0, 0, 1]), { src: parseIp('192.168.1.2')!, dst: parseIp(dst)!, proto: 6, ttl: 64 }, seg);
}

/** The io_uring zero-copy seed: eth0 queue 15 leased to the peer nk0 (queue 1) in netns foo. */
function seed(): { eth0: ReturnType<Emulator['addNic']> } {
  const eth0 = emu.addNic({ name: 'eth0', rxQueues: 16 });
  emu.setLink('init', 'eth0', { up: true });
  emu.addAddress('init', 'eth0', '192.168.1.1/24');
  emu.addLink({ linkinfo: { kind: 'netkit', data: { peerInfo: { numRxQueues: 2 } } } });
  const nk0 = emu.device('init', 'nk0');
  expect(emu.queueCreate({ ifindex: nk0.ifindex, type: 'rx', lease: { ifindex: eth0.ifindex, queue: { id: 15, type: 'rx' } } })).toEqual({ id: 1 });
  emu.addNetns('foo');
  emu.setLink('init', 'nk0', { netns: 'foo' });
  emu.setLink('foo', 'nk0', { up: true });
  emu.setLink('init', 'nk1', { up: true });
  emu.addAddress('foo', 'nk0', '1.2.3.4/32');
  emu.addRoute('init', { dst: '1.2.3.4/32', dev: 'nk1' });
  emu.stack('init').forwarding = true;
  emu.setRss('init', 'eth0', { start: 0, equal: 15 });
  emu.addNtuple('init', 'eth0', { flowType: 'tcp4', dstIp: parseIp('1.2.3.4')!, dstPort: 5000, action: 15 });
  return { eth0 };
}

describe('memory providers through a leased queue (netkit.md §6.4, the io_uring seed)', () => {
  it('a receiver on nk0 queue 1 is installed on eth0 queue 15; steered traffic lands in its buffers and reaches foo', async () => {
    const { eth0 } = seed();
    const zcrx = emu.bindProvider('foo', 'nk0', 1, { buffers: 64 });
    expect(zcrx.queue.dev).toBe(eth0);
    expect(zcrx.queue.index).toBe(15);
    for (let i = 0; i < 20; i++) emu.wireIn('init', 'eth0', tcp(eth0.mac, '1.2.3.4', 5000, 40000 + i));
    for (let i = 0; i < 5; i++) emu.wireIn('init', 'eth0', tcp(eth0.mac, '1.2.3.4', 6000, 40000 + i)); // RSS, not 15
    await emu.settle();
    const q = emu.queueStats('init', 'eth0');
    expect(q[15]!.rxPackets).toBe(20n);
    expect(q.slice(0, 15).reduce((a, x) => a + x.rxPackets, 0n)).toBe(5n);
    // all 25 are forwarded to foo; only the 20 steered ones arrive in the receiver's buffers
    expect(emu.stats(emu.device('foo', 'nk0')).rxPackets).toBe(25n);
    expect(zcrx.delivered).toBe(20);
    expect(emu.stack('init').counters.ip.ForwDatagrams).toBe(25);
  });

  it('without buffers in the fill ring the queue drops (counted by reason), and refills recover', async () => {
    const { eth0 } = seed();
    const zcrx = emu.bindProvider('foo', 'nk0', 1, { buffers: 4 });
    for (let i = 0; i < 10; i++) emu.wireIn('init', 'eth0', tcp(eth0.mac, '1.2.3.4', 5000, 1000 + i));
    await emu.settle();
    expect(zcrx.delivered).toBe(4);
    expect(emu.stats(eth0).dropReasons).toEqual({ PROVIDER_EMPTY: 6n });
    for (let i = 0; i < 3; i++) emu.wireIn('init', 'eth0', tcp(eth0.mac, '1.2.3.4', 5000, 2000 + i));
    await emu.settle();
    expect(zcrx.delivered).toBe(7);
  });

  it('open checks in the kernel order, with errno and message', () => {
    seed();
    expect(err(() => emu.bindProvider('foo', 'nk0', 2)).iproute2()).toBe('Error: rx queue index out of range.');
    expect(err(() => emu.bindProvider('foo', 'nk0', 0)).iproute2()).toBe('Error: rx queue is mapped to a virtual netdev.');
    expect(err(() => emu.bindProvider('init', 'eth0', 15)).errno).toBe('EOPNOTSUPP');
    expect(err(() => emu.bindProvider('init', 'eth0', 15, { kind: 'devmem' })).iproute2()).toBe('Error: rx queue peered to a virtual netdev.');
    emu.bindProvider('foo', 'nk0', 1);
    expect(err(() => emu.bindProvider('foo', 'nk0', 1)).iproute2()).toBe('Error: designated queue already memory provider bound.');
  });

  it('the netkit device going away closes the provider and frees the physical queue', async () => {
    const { eth0 } = seed();
    const zcrx = emu.bindProvider('foo', 'nk0', 1);
    emu.delNetns('foo');
    await emu.settle();
    expect(zcrx.closed).toBe(true);
    expect(eth0.rxq[15]!.provider).toBeUndefined();
    expect(eth0.rxq[15]!.lease).toBeUndefined();
    const direct = emu.bindProvider('init', 'eth0', 15, { kind: 'devmem' });
    expect(direct.queue).toBe(eth0.rxq[15]);
  });
});
