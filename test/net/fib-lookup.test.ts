import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { fibArgs, fibPacket } from '../fixtures/bpf/cases.js';

// bpf_fib_lookup in the datapath: a netkit program runs with skb->dev its peer, so it
// looks up in the peer's namespace (here `red`), in the tables that namespace's stack
// publishes, and sees them change as `ip neigh` / `ip route` / the forwarding sysctl
// change them; a NIC's XDP program looks up in the NIC's namespace. tunnel_fib.c's fib_tc
// (fib_xdp.c's fib_xdp) writes the return value and the struct into the packet, which the
// stack receives. (test/ebpf/fib-live.test.ts holds the answers themselves to the kernel's.)

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

/** An emulator with a netkit pair, nk1 in init and nk0 (02:00:00:00:00:0b) in namespace red, both up. */
async function redPair(seed: number, jit: boolean): Promise<Emulator> {
  const e = await Emulator.create({ seed, jit });
  e.addNetns('red');
  e.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'red', address: '02:00:00:00:00:0b' } } } });
  e.setLink('init', 'nk1', { up: true });
  e.setLink('red', 'nk0', { up: true });
  return e;
}

describe.each([true, false])('bpf_fib_lookup from a netkit program (compiled: %s)', (jit) => {
  it("answers from the peer's namespace, and follows its neighbours, routes and forwarding", async () => {
    emu = await redPair(5, jit);
    emu.addAddress('red', 'nk0', '10.0.0.2/24');
    const red = emu.stack('red');
    red.addRoute({ dst: 0x0a050000, prefixLen: 16, via: 0x0a000009, metric: 3 });
    red.addNeighbour(emu.device('red', 'nk0').ifindex, 0x0a000009, new Uint8Array([2, 0, 0, 0, 0, 9]));
    const nk0 = emu.device('red', 'nk0').ifindex;
    const obj = emu.loadObject(readFileSync(FIX + 'tunnel_fib.o'), { programs: ['fib_tc'] });
    emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: obj.programs.get('fib_tc')! });
    const seen: Uint8Array[] = [];
    emu.onReceive((dev, frame) => { if (dev.name === 'nk0') seen.push(frame.slice()); });

    /** One packet through nk1: the lookup's return value, egress ifindex, dst, smac and dmac. */
    const lookup = async (dst: string): Promise<{ rc: number; ifindex: number; dst: string; smac: string; dmac: string }> => {
      seen.length = 0;
      const p = fibPacket(fibArgs({ ifindex: nk0, dst }));
      p.set([2, 0, 0, 0, 0, 0x0b], 0);
      emu.transmit('init', 'nk1', p);
      await emu.settle();
      expect(seen).toHaveLength(1);
      const out = seen[0]!.subarray(42 + 72);
      const v = new DataView(out.buffer, out.byteOffset);
      const hex = (a: number, n: number): string => Buffer.from(out.subarray(a, a + n)).toString('hex');
      return { rc: Number(v.getBigInt64(0, true)), ifindex: v.getUint32(16, true), dst: [...out.subarray(40, 44)].join('.'), smac: hex(60, 6), dmac: hex(66, 6) };
    };

    // red's forwarding is off, as a new namespace's is
    expect((await lookup('10.5.1.1')).rc).toBe(5);
    red.forwarding = true;
    expect(await lookup('10.5.1.1')).toEqual({ rc: 0, ifindex: nk0, dst: '10.0.0.9', smac: '02000000000b', dmac: '020000000009' });
    red.delNeighbour(nk0, 0x0a000009);
    expect((await lookup('10.5.1.1')).rc).toBe(7); // NO_NEIGH
    red.delRoute({ dst: 0x0a050000, prefixLen: 16 });
    expect((await lookup('10.5.1.1')).rc).toBe(4); // NOT_FWDED: no route
    expect((await lookup('10.0.0.2')).rc).toBe(4); // its own address
  });
});

describe.each([true, false])('bpf_fib_lookup from a NIC\'s XDP program (compiled: %s)', (jit) => {
  it("answers from the NIC's namespace", async () => {
    emu = await Emulator.create({ seed: 6, jit });
    emu.addNetns('blue');
    emu.addNic({ name: 'eth0', netns: 'blue', address: '02:00:00:00:00:e0' });
    emu.setLink('blue', 'eth0', { up: true });
    emu.addAddress('blue', 'eth0', '10.4.0.1/24');
    emu.addRoute('blue', { dst: '10.44.0.0/16', via: '10.4.0.7', metric: 9 });
    emu.stack('blue').addNeighbour(emu.device('blue', 'eth0').ifindex, 0x0a040007, new Uint8Array([2, 0, 0, 0, 0, 7]));
    emu.stack('blue').forwarding = true;
    const eth0 = emu.device('blue', 'eth0').ifindex;
    const obj = emu.loadObject(readFileSync(FIX + 'fib_xdp.o'), { programs: ['fib_xdp'] });
    emu.setXdp('blue', 'eth0', obj.programs.get('fib_xdp')!);
    const seen: Uint8Array[] = [];
    emu.onReceive((dev, frame) => { if (dev.name === 'eth0') seen.push(frame.slice()); });
    const p = fibPacket(fibArgs({ ifindex: eth0, dst: '10.44.0.1' }));
    p.set([2, 0, 0, 0, 0, 0xe0], 0);
    emu.wireIn('blue', 'eth0', p);
    await emu.settle();
    expect(seen).toHaveLength(1);
    const out = seen[0]!.subarray(42 + 72);
    const v = new DataView(out.buffer, out.byteOffset);
    expect(Number(v.getBigInt64(0, true))).toBe(0);
    expect(v.getUint16(8 + 6, true)).toBe(1500); // mtu_result: XDP always checks the MTU
    expect(v.getUint32(8 + 8, true)).toBe(eth0);
    expect(v.getUint32(8 + 12, true)).toBe(9); // rt_metric
    expect([...out.subarray(8 + 32, 8 + 36)].join('.')).toBe('10.4.0.7');
    expect(Buffer.from(out.subarray(8 + 52, 8 + 64)).toString('hex')).toBe('02000000' + '00e0' + '020000000007');
  });
});

describe.each([true, false])('bpf_fib_lookup with AF_INET6 from a netkit program (compiled: %s)', (jit) => {
  it("answers from the peer's namespace, and follows its IPv6 neighbours, routes, addresses and forwarding", async () => {
    emu = await redPair(7, jit);
    const nk0 = emu.device('red', 'nk0').ifindex;
    const ip = async (line: string): Promise<void> => {
      const r = await runCommand(emu, ['ip', '-n', 'red', ...line.split(' ')]);
      expect(r.stderr, line).toBe('');
      expect(r.code, line).toBe(0);
    };
    await ip('-6 addr add 2001:db8::2/64 dev nk0 nodad');
    await ip('-6 route add 2001:db8:5::/48 via 2001:db8::9 metric 3');
    await ip('-6 neigh add 2001:db8::9 lladdr 02:00:00:00:00:09 dev nk0 nud permanent');
    const red = emu.stack('red');
    const obj = emu.loadObject(readFileSync(FIX + 'tunnel_fib.o'), { programs: ['fib_tc'] });
    emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: obj.programs.get('fib_tc')! });
    const seen: Uint8Array[] = [];
    emu.onReceive((dev, frame) => { if (dev.name === 'nk0') seen.push(frame.slice()); });

    /** One packet through nk1: the lookup's return value, egress ifindex, src, dst, metric, smac and dmac. */
    const lookup = async (dst: string, flags = 0): Promise<{ rc: number; ifindex: number; metric: number; src: string; dst: string; smac: string; dmac: string }> => {
      seen.length = 0;
      const p = fibPacket(fibArgs({ family: 10, ifindex: nk0, dst }, flags));
      p.set([2, 0, 0, 0, 0, 0x0b], 0);
      emu.transmit('init', 'nk1', p);
      await emu.settle();
      expect(seen).toHaveLength(1);
      const out = seen[0]!.subarray(42 + 72);
      const v = new DataView(out.buffer, out.byteOffset);
      const hex = (a: number, n: number): string => Buffer.from(out.subarray(a, a + n)).toString('hex');
      return { rc: Number(v.getBigInt64(0, true)), ifindex: v.getUint32(16, true), metric: v.getUint32(20, true), src: hex(24, 16), dst: hex(40, 16), smac: hex(60, 6), dmac: hex(66, 6) };
    };

    // red's IPv6 forwarding is off, as a new namespace's is
    expect((await lookup('2001:db8:5::1')).rc).toBe(5);
    expect((await runCommand(emu, ['ip', 'netns', 'exec', 'red', 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'])).code).toBe(0);
    const gw = '20010db8000000000000000000000009';
    expect(await lookup('2001:db8:5::1')).toEqual({ rc: 0, ifindex: nk0, metric: 3, src: '0'.repeat(32), dst: gw, smac: '02000000000b', dmac: '020000000009' });
    // BPF_FIB_LOOKUP_SRC: the stack's source address for the destination
    expect((await lookup('2001:db8:5::1', 16)).src).toBe('20010db8000000000000000000000002');
    await ip('-6 neigh del 2001:db8::9 dev nk0');
    expect((await lookup('2001:db8:5::1')).rc).toBe(7); // NO_NEIGH
    // a neighbour the stack learns counts as one added does
    red.ip6.addNeighbour(nk0, 0x20010db8000000000000000000000009n, new Uint8Array([2, 0, 0, 0, 0, 0x19]), { state: 'STALE' });
    expect((await lookup('2001:db8:5::1')).dmac).toBe('020000000019');
    await ip('-6 route del 2001:db8:5::/48');
    expect((await lookup('2001:db8:5::1')).rc).toBe(4); // NOT_FWDED: no route
    expect((await lookup('2001:db8::2')).rc).toBe(4); // its own address
    expect((await lookup('2001:db8::')).rc).toBe(4); // the subnet-router anycast address (forwarding on)
    expect((await lookup('fe80::1')).rc).toBe(4); // link-local: never forwarded
    // an address in DAD is not local yet (its prefix route answers, and no neighbour) nor a
    // source; its DAD ending on the virtual clock makes it both, with nothing republished
    await ip('-6 addr add 2001:db8::3/64 dev nk0');
    expect((await lookup('2001:db8::3')).rc).toBe(7);
    expect((await lookup('2001:db8::44', 16 | 4)).src).toBe('20010db8000000000000000000000002');
    emu.sleep(1);
    expect((await lookup('2001:db8::3')).rc).toBe(4);
    expect((await lookup('2001:db8::44', 16 | 4)).src).toBe('20010db8000000000000000000000003');
    await ip('-6 addr del 2001:db8::3/64 dev nk0');
    await ip('-6 addr del 2001:db8::2/64 dev nk0');
    expect((await lookup('2001:db8::2')).rc).toBe(4); // no route left: the prefix route went with the address
    red.ip6.forwarding = false;
    expect((await lookup('2001:db8::2')).rc).toBe(5);
  });
});
