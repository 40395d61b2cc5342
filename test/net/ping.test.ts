import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { NetError } from '../../src/errors.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

/** The kernel selftests' topology: nk1 in init (10.0.0.1), nk0 in foo (10.0.0.2). */
async function topo(mode: 'l2' | 'l3', o: { workers?: number } = {}): Promise<Emulator> {
  emu = await Emulator.create({ seed: 7, workers: o.workers ?? 0 });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode, peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('foo', 'nk0', { up: true });
  emu.addAddress('init', 'nk1', '10.0.0.1/24');
  emu.addAddress('foo', 'nk0', '10.0.0.2/24');
  return emu;
}

describe('ping across a netkit pair (netkit selftests topology)', () => {
  for (const mode of ['l2', 'l3'] as const) {
    it(`${mode}: echo request and reply cross the pair; counters on both ends`, async () => {
      await topo(mode);
      const r = await emu.ping('init', '10.0.0.2', { count: 3 });
      expect(r.transmitted).toBe(3);
      expect(r.received).toBe(3);
      expect(r.format()).toMatch(/^PING 10\.0\.0\.2 \(10\.0\.0\.2\) 56\(84\) bytes of data\.\n64 bytes from 10\.0\.0\.2: icmp_seq=1 ttl=64 time=\d+\.\d{3} ms\n/);
      expect(r.format()).toContain('3 packets transmitted, 3 received, 0% packet loss, time 2000ms');
      const nk1 = emu.stats(emu.device('init', 'nk1'));
      const nk0 = emu.stats(emu.device('foo', 'nk0'));
      // L2 adds one ARP request (nk1 → nk0) and one reply (nk0 → nk1).
      const arp = mode === 'l2' ? 1n : 0n;
      expect(nk1.txPackets).toBe(3n + arp);
      expect(nk0.rxPackets).toBe(3n + arp);
      expect(nk0.txPackets).toBe(3n + arp);
      expect(nk1.rxPackets).toBe(3n + arp);
      expect(emu.stack('foo').counters.icmp.InEchos).toBe(3);
      expect(emu.stack('init').counters.icmp.InEchoReps).toBe(3);
      const neigh = emu.stack('init').neighbours();
      if (mode === 'l2') {
        expect(neigh).toHaveLength(1);
        expect(neigh[0]!.state).toBe('REACHABLE');
        expect([...neigh[0]!.lladdr!]).toEqual([...emu.device('foo', 'nk0').mac]);
      } else {
        expect(neigh).toHaveLength(0);
        expect(emu.stack('init').counters.arp.OutRequests).toBe(0);
      }
    });
  }

  it('L3: frames carry the zero MAC; L2 frames carry the real MACs', async () => {
    for (const mode of ['l2', 'l3'] as const) {
      await topo(mode);
      const seen: string[] = [];
      emu.onReceive((dev, f) => seen.push(`${dev.name} ${[...f.subarray(0, 12)].some((b) => b !== 0) ? 'mac' : 'zero'} ${(f[12]! << 8) | f[13]!}`));
      await emu.ping('init', '10.0.0.2');
      if (mode === 'l3') expect(seen).toEqual(['nk0 zero 2048', 'nk1 zero 2048']);
      else expect(seen).toEqual(['nk0 mac 2054', 'nk1 mac 2054', 'nk0 mac 2048', 'nk1 mac 2048']);
      await emu.close();
    }
  });

  it('blackhole policy: requests are dropped and counted; ping reports 100% loss', async () => {
    await topo('l3');
    emu.setLink('init', 'nk1', { data: { policy: 'blackhole' } });
    const r = await emu.ping('init', '10.0.0.2', { count: 2 });
    expect(r.received).toBe(0);
    expect(r.format()).toContain('2 packets transmitted, 0 received, 100% packet loss, time 1000ms');
    expect(r.format()).not.toContain('rtt');
    expect(emu.stats(emu.device('init', 'nk1')).dropReasons).toEqual({ NETKIT_POLICY_DROP: 2n });
  });

  it('L2 without an answer: ARP retries three times, then Destination Host Unreachable', async () => {
    await topo('l2');
    const r = await emu.ping('init', '10.0.0.9');
    expect(r.received).toBe(0);
    expect(r.errors).toHaveLength(1);
    expect(r.format()).toContain('From 10.0.0.1 icmp_seq=1 Destination Host Unreachable');
    expect(r.format()).toContain('1 packets transmitted, 0 received, +1 errors, 100% packet loss');
    expect(emu.stack('init').counters.arp.OutRequests).toBe(3);
    expect(emu.stack('init').counters.arp.ResolveFailed).toBe(1);
  });

  it('no route: ENETUNREACH; own address answers through loopback', async () => {
    await topo('l3');
    await expect(emu.ping('init', '192.168.1.1')).rejects.toMatchObject({ errno: 'ENETUNREACH' });
    const r = await emu.ping('init', '10.0.0.1');
    expect(r.received).toBe(1);
    expect(emu.stats(emu.device('init', 'nk1')).txPackets).toBe(0n);
  });

  it('link down removes connected routes; up restores them', async () => {
    await topo('l3');
    emu.setLink('init', 'nk1', { up: false });
    await expect(emu.ping('init', '10.0.0.2')).rejects.toMatchObject({ errno: 'ENETUNREACH' });
    emu.setLink('init', 'nk1', { up: true });
    expect((await emu.ping('init', '10.0.0.2')).received).toBe(1);
  });

  it('forwarding through a router namespace with LPM routes and TTL', async () => {
    emu = await Emulator.create({ seed: 1 });
    emu.addNetns('a');
    emu.addNetns('b');
    emu.addNetns('r');
    emu.addLink({ ifname: 'ra', netns: 'r', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'a0', netns: 'a' } } } });
    emu.addLink({ ifname: 'rb', netns: 'r', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'b0', netns: 'b' } } } });
    for (const [ns, dev] of [['r', 'ra'], ['r', 'rb'], ['a', 'a0'], ['b', 'b0']] as const) emu.setLink(ns, dev, { up: true });
    emu.addAddress('r', 'ra', '10.1.0.1/24');
    emu.addAddress('r', 'rb', '10.2.0.1/24');
    emu.addAddress('a', 'a0', '10.1.0.2/24');
    emu.addAddress('b', 'b0', '10.2.0.2/24');
    emu.addRoute('a', { dst: 'default', via: '10.1.0.1' });
    emu.addRoute('b', { dst: '10.0.0.0/8', via: '10.2.0.1' });
    emu.addRoute('b', { dst: '10.1.0.0/16', dev: 'b0', metric: 5 }); // longer prefix, wrong way; the /24 below wins
    emu.delRoute('b', { dst: '10.1.0.0/16', metric: 5 });
    // forwarding off (the default): the router drops
    expect((await emu.ping('a', '10.2.0.2')).received).toBe(0);
    expect(emu.stack('r').counters.ip.InAddrErrors).toBe(1);
    emu.stack('r').forwarding = true;
    const r = await emu.ping('a', '10.2.0.2', { count: 2 });
    expect(r.received).toBe(2);
    expect(r.replies[0]!.ttl).toBe(63);
    expect(emu.stack('r').counters.ip.ForwDatagrams).toBe(4);
    const t = await emu.ping('a', '10.2.0.2', { ttl: 1 });
    expect(t.errors).toEqual([{ seq: 1, from: '10.1.0.1', kind: 'ttl' }]);
    expect(t.format()).toContain('From 10.1.0.1 icmp_seq=1 Time to live exceeded');
  });

  it('blackhole, unreachable and prohibit routes: a router drops, or answers host unreachable / administratively filtered; its own sends fail', async () => {
    emu = await Emulator.create({ seed: 1 });
    emu.addNetns('a');
    emu.addNetns('r');
    emu.addLink({ ifname: 'ra', netns: 'r', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'a0', netns: 'a' } } } });
    emu.setLink('r', 'ra', { up: true });
    emu.setLink('a', 'a0', { up: true });
    emu.addAddress('r', 'ra', '10.1.0.1/24');
    emu.addAddress('a', 'a0', '10.1.0.2/24');
    emu.addRoute('a', { dst: 'default', via: '10.1.0.1' });
    emu.stack('r').forwarding = true;
    emu.addRoute('r', { dst: '10.5.0.0/16', type: 'blackhole' });
    emu.addRoute('r', { dst: '10.6.0.0/16', type: 'unreachable' });
    emu.addRoute('r', { dst: '10.7.0.0/16', type: 'prohibit' });
    const err = (f: () => void): NetError => { try { f(); } catch (e) { return e as NetError; } throw new Error('no error'); };
    expect(err(() => emu.addRoute('r', { dst: '10.8.0.0/16', type: 'blackhole', dev: 'ra' })).iproute2()).toBe('Error: Gateway, device and multipath can not be specified for this route type.');
    expect(err(() => emu.addRoute('r', { dst: '10.8.0.0/16', via: '10.5.0.1' })).iproute2()).toBe('Error: Nexthop has invalid gateway.');
    expect(err(() => emu.delRoute('r', { dst: '10.5.0.0/16', type: 'prohibit' })).errno).toBe('ESRCH');
    const icmpOut = (): number => emu.stack('r').counters.icmp.OutDestUnreachs;
    expect((await emu.ping('a', '10.5.0.1')).errors).toEqual([]);
    expect(icmpOut()).toBe(0);
    const unreachable = await emu.ping('a', '10.6.0.1');
    expect(unreachable.errors).toEqual([{ seq: 1, from: '10.1.0.1', kind: 'unreachable' }]);
    expect(unreachable.format()).toContain('From 10.1.0.1 icmp_seq=1 Destination Host Unreachable');
    const prohibited = await emu.ping('a', '10.7.0.1');
    expect(prohibited.errors).toEqual([{ seq: 1, from: '10.1.0.1', kind: 'unreachable' }]);
    expect(prohibited.format()).toContain('From 10.1.0.1 icmp_seq=1 Packet filtered');
    expect(icmpOut()).toBe(2);
    expect((await emu.ping('a', '10.9.0.1')).format()).toContain('From 10.1.0.1 icmp_seq=1 Destination Net Unreachable');
    // (ip_route_output_key: -EINVAL, -EHOSTUNREACH, -EACCES)
    for (const [dst, errno] of [['10.5.0.1', 'EINVAL'], ['10.6.0.1', 'EHOSTUNREACH'], ['10.7.0.1', 'EACCES']] as const) {
      await expect(emu.ping('r', dst)).rejects.toMatchObject({ errno });
    }
  });

  it('route and address errors: kernel errno and messages, nothing changed', async () => {
    await topo('l3');
    const before = emu.stack('init').routes.list().length;
    const err = (f: () => void): NetError => { try { f(); } catch (e) { return e as NetError; } throw new Error('no error'); };
    expect(err(() => emu.addRoute('init', { dst: '10.5.0.0/16', via: '10.9.9.9' })).iproute2()).toBe('Error: Nexthop has invalid gateway.');
    expect(err(() => emu.addRoute('init', { dst: '10.0.0.0/24', dev: 'nk1' })).iproute2()).toBe('RTNETLINK answers: File exists');
    expect(err(() => emu.addRoute('init', { dst: '10.0.0.1/8', dev: 'nk1' })).iproute2()).toBe('Error: Invalid prefix for given prefix length.');
    expect(err(() => emu.delRoute('init', { dst: '10.7.0.0/16' })).iproute2()).toBe('RTNETLINK answers: No such process');
    // (the kernel's extack texts, as iproute2 prints them: test/cli/ip-live.test.ts holds them to this machine's)
    expect(err(() => emu.addAddress('init', 'nk1', '10.0.0.1/24')).iproute2()).toBe('Error: ipv4: Address already assigned.');
    expect(err(() => emu.delAddress('init', 'nk1', '10.0.0.7/24')).iproute2()).toBe('Error: ipv4: Address not found.');
    expect(err(() => emu.addAddress('init', 'nk1', '10.0.0.300/24')).iproute2()).toBe('Error: any valid prefix is expected rather than "10.0.0.300/24".');
    emu.setLink('init', 'nk1', { up: false });
    expect(err(() => emu.addRoute('init', { dst: '10.6.0.0/16', dev: 'nk1' })).iproute2()).toBe('Error: Nexthop device is not up.');
    emu.setLink('init', 'nk1', { up: true });
    expect(emu.stack('init').routes.list().length).toBe(before);
    expect(emu.stack('init').addresses(emu.device('init', 'nk1').ifindex).map((a) => a.local)).toEqual([0x0a000001]);
  });

  it('deleting a primary address takes its subnet\'s secondaries (no promote_secondaries); a secondary goes alone', async () => {
    await topo('l3');
    const local = (): number[] => emu.stack('init').addresses(emu.device('init', 'nk1').ifindex).map((a) => a.local);
    emu.addAddress('init', 'nk1', '10.0.0.5/24');
    emu.addAddress('init', 'nk1', '10.0.0.6/24');
    emu.addAddress('init', 'nk1', '10.9.0.1/16');
    emu.delAddress('init', 'nk1', '10.0.0.6/24');
    expect(local()).toEqual([0x0a000001, 0x0a000005, 0x0a090001]);
    emu.delAddress('init', 'nk1', '10.0.0.1/24');
    expect(local()).toEqual([0x0a090001]);
  });

  it('UDP: bound socket receives with queue and mark; unbound port gets ICMP port unreachable', async () => {
    await topo('l3');
    const rx = emu.stack('foo').udpBind({ port: 5000 });
    const tx = emu.stack('init').udpBind({});
    tx.send(0x0a000002, 5000, new TextEncoder().encode('hello'), { mark: 9 });
    tx.send(0x0a000002, 5001, new Uint8Array(4));
    await emu.settle();
    const got = rx.recv();
    expect(got).toHaveLength(1);
    expect(new TextDecoder().decode(got[0]!.data)).toBe('hello');
    expect(got[0]!.sport).toBe(tx.port);
    expect(got[0]!.mark).toBe(0); // scrubbed crossing namespaces (scrub default)
    expect(emu.stack('foo').counters.udp.NoPorts).toBe(1);
    expect(emu.stack('init').counters.icmp.InDestUnreachs).toBe(1);
    expect(() => emu.stack('foo').udpBind({ port: 5000 })).toThrow(expect.objectContaining({ errno: 'EADDRINUSE' }));
  });

  it('same pings give identical counters inline and with 2 workers', async () => {
    const snap = async (workers: number): Promise<unknown> => {
      await topo('l2', { workers });
      const r = await emu.ping('init', '10.0.0.2', { count: 5 });
      const out = { recv: r.received, nk1: emu.stats(emu.device('init', 'nk1')), nk0: emu.stats(emu.device('foo', 'nk0')), snmp: emu.stack('foo').counters };
      await emu.close();
      return out;
    };
    expect(await snap(2)).toEqual(await snap(0));
  });
});
