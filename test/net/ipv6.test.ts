import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runScript } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { ipv6Router } from '../helpers/ipv6-topology.js';
import { formatIp6, parseIp6 } from '../../src/net/stack/addr6.js';

// The IPv6 packet path across namespaces (ipv6.ts): host a — netkit L2 pair (neighbour
// discovery) — router r — netkit L3 pair (NOARP) — host b. Forwarding with
// net.ipv6.conf.all.forwarding, the hop limit, and the ICMPv6 errors a router sends
// (time exceeded, no route, packet too big with the MTU); a pcapng capture read by tshark.

let emu: Emulator;
beforeEach(async () => {
  emu = await ipv6Router();
});
afterEach(async () => { await emu.close(); });

const lines = async (ns: string, dst: string, o: { ttl?: number; size?: number } = {}): Promise<string[]> => {
  const r = await emu.ping(ns, dst, { count: 1, ...o });
  return r.format().split('\n').slice(1, -3).filter(Boolean).map((l) => l.replace(/ time=.*/, ''));
};

describe('IPv6 across a router', () => {
  it('neighbour discovery on the L2 link: NS to the solicited-node group, NA back, REACHABLE on both sides of the exchange', async () => {
    expect(await lines('a', '2001:db8:a::fe')).toEqual(['64 bytes from 2001:db8:a::fe: icmp_seq=1 ttl=64']);
    const st = emu.stack('a').ip6;
    expect(st.neighbours().map((n) => [n.state, [...n.lladdr!].map((b) => b.toString(16)).join(':')])).toEqual([['REACHABLE', '2:0:0:0:0:1']]);
    expect(emu.stack('r').ip6.neighbours().map((n) => n.state)).toEqual(['STALE']);
    expect(st.counters.Icmp6OutNeighborSolicits).toBe(1);
    expect(emu.stack('r').ip6.counters.Icmp6OutNeighborAdvertisements).toBe(1);
    // (an L3 device does none)
    expect(await lines('b', '2001:db8:b::fe')).toEqual(['64 bytes from 2001:db8:b::fe: icmp_seq=1 ttl=64']);
    expect(emu.stack('b').ip6.counters.Icmp6OutNeighborSolicits).toBe(0);
  });

  it('forwards only with net.ipv6.conf.all.forwarding, one hop less; hop limit 1 is time exceeded', async () => {
    expect(await lines('a', '2001:db8:b::1')).toEqual([]);
    expect(emu.stack('r').ip6.counters.Ip6InAddrErrors).toBe(1);
    expect((await runScript(emu, 'ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=1')).stderr).toBe('');
    expect(await lines('a', '2001:db8:b::1')).toEqual(['64 bytes from 2001:db8:b::1: icmp_seq=1 ttl=63']);
    expect(await lines('b', '2001:db8:a::1')).toEqual(['64 bytes from 2001:db8:a::1: icmp_seq=1 ttl=63']);
    expect(emu.stack('r').ip6.counters.Ip6OutForwDatagrams).toBe(4);
    expect(await lines('a', '2001:db8:b::1', { ttl: 1 })).toEqual(['From 2001:db8:a::fe icmp_seq=1 Time exceeded: Hop limit']);
    expect(await lines('a', '2001:db8:c::1')).toEqual(['From 2001:db8:a::fe icmp_seq=1 Destination unreachable: No route']);
    await runScript(emu, 'ip -n r link set rb mtu 1400');
    expect(await lines('a', '2001:db8:b::1', { size: 1400 })).toEqual(['From 2001:db8:a::fe icmp_seq=1 Packet too big: mtu=1400']);
    expect(emu.stack('r').ip6.counters).toMatchObject({ Icmp6OutTimeExcds: 1, Icmp6OutDestUnreachs: 1, Icmp6OutPktTooBigs: 1 });
  });

  it('an unanswered neighbour solicitation: three a second apart, then address unreachable', async () => {
    expect(await lines('a', '2001:db8:a::9')).toEqual(['From 2001:db8:a::1 icmp_seq=1 Destination unreachable: Address unreachable']);
    expect(emu.stack('a').ip6.counters.Icmp6OutNeighborSolicits).toBe(3);
    expect(emu.stack('a').ip6.neighbours()).toEqual([]);
  });

  it('UDP over IPv6: a datagram across the router to a bound socket, its reply back; no socket is port unreachable', async () => {
    await runScript(emu, 'ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=1');
    const srv = emu.stack('b').udp6Bind({ port: 53 });
    const cli = emu.stack('a').udp6Bind();
    cli.send(parseIp6('2001:db8:b::1')!, 53, new TextEncoder().encode('query'));
    await emu.settle();
    const [d] = srv.recv();
    expect(d && { src: formatIp6(d.src), sport: d.sport, dst: formatIp6(d.dst), data: new TextDecoder().decode(d.data) })
      .toEqual({ src: '2001:db8:a::1', sport: cli.port, dst: '2001:db8:b::1', data: 'query' });
    srv.send(d!.src, d!.sport, new TextEncoder().encode('answer'));
    await emu.settle();
    expect(cli.recv().map((x) => [formatIp6(x.src), x.sport, new TextDecoder().decode(x.data)])).toEqual([['2001:db8:b::1', 53, 'answer']]);
    expect(() => emu.stack('a').udp6Bind({ port: cli.port })).toThrow(expect.objectContaining({ errno: 'EADDRINUSE' }));
    expect(() => emu.stack('a').udp6Bind({ addr: parseIp6('2001:db8:b::1')! })).toThrow(expect.objectContaining({ errno: 'EADDRNOTAVAIL' }));
    cli.send(parseIp6('2001:db8:b::1')!, 54, new Uint8Array(4));
    await emu.settle();
    expect(emu.stack('b').ip6.counters).toMatchObject({ Udp6InDatagrams: 1, Udp6NoPorts: 1, Icmp6OutDestUnreachs: 1 });
    expect(emu.stack('a').ip6.counters.Icmp6InDestUnreachs).toBe(1);
    srv.close();
    cli.close();
  });

  it.runIf((() => { try { execFileSync('tshark', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })())(
    'tshark reads a capture of it: NS, NA, echo request and reply with their checksums right', async () => {
      const cap = emu.startCapture({ devices: [{ ns: 'a', dev: 'va' }] });
      await emu.ping('a', '2001:db8:a::fe', { count: 1 });
      const file = join(mkdtempSync(join(tmpdir(), 'nkemu-ip6-')), 'ip6.pcapng');
      writeFileSync(file, emu.stopCapture(cap));
      const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|',
        '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'icmpv6.type', '-e', 'ipv6.hlim', '-e', 'icmpv6.checksum.status'], { encoding: 'utf8' });
      // (icmpv6.checksum.status 1: tshark verified the checksum)
      expect(out.trim().split('\n').map((l) => l.split('|'))).toEqual([
        ['2001:db8:a::1', 'ff02::1:ff00:fe', '135', '255', '1'],
        ['2001:db8:a::fe', '2001:db8:a::1', '136', '255', '1'],
        ['2001:db8:a::1', '2001:db8:a::fe', '128', '64', '1'],
        ['2001:db8:a::fe', '2001:db8:a::1', '129', '64', '1'],
      ]);
    });
});

describe('IPv6 through netkit programs', () => {
  // A netkit_primary program that drops ICMPv6 echo requests (EtherType 0x86dd, next
  // header 58, type 128) and passes the rest (NETKIT_NEXT: the device's policy).
  const DROP_ECHO6 = [
    'ldxw %r2, [%r1+76]', 'ldxw %r3, [%r1+80]', 'mov %r4, %r2', 'add %r4, 55', 'jgt %r4, %r3, pass',
    'ldxh %r5, [%r2+12]', 'jne %r5, 0xdd86, pass', 'ldxb %r5, [%r2+20]', 'jne %r5, 58, pass', 'ldxb %r5, [%r2+54]', 'jne %r5, 128, pass',
    'mov %r0, 2', 'exit', 'pass:', 'mov %r0, -1', 'exit',
  ].join('\n');

  for (const mode of ['l2', 'l3'] as const) {
    it(`a pair in ${mode} mode: ping -6 passes, then the program drops the echo requests (BPF_DROP), then passes again`, async () => {
      const { assemble } = await import('../../src/ebpf/assembler.js');
      const r = await runScript(emu, [
        'ip netns add c',
        `ip link add nk1 type netkit mode ${mode} peer name nk0 netns c`,
        'ip link set nk1 up', 'ip -n c link set nk0 up',
        'ip -6 addr add 2001:db8:c::1/64 dev nk1 nodad', 'ip -n c -6 addr add 2001:db8:c::2/64 dev nk0 nodad',
      ].join('\n'));
      expect(r.stderr).toBe('');
      expect((await emu.ping('init', '2001:db8:c::2', { count: 2 })).received).toBe(2);
      const prog = emu.loadProgram({ name: 'drop_echo6', type: 'sched_cls', insns: assemble(DROP_ECHO6) });
      const link = emu.linkCreate('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog });
      const res = await emu.ping('init', '2001:db8:c::2', { count: 3 });
      expect([res.transmitted, res.received]).toEqual([3, 0]);
      expect(emu.stats(emu.device('init', 'nk1')).dropReasons).toMatchObject({ BPF_DROP: 3n });
      emu.linkDetach(link);
      expect((await emu.ping('init', '2001:db8:c::2', { count: 1 })).received).toBe(1);
    });
  }
});
