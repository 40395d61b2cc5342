import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/main.js';
import { F, FibRig, fibLiveReason, ip, type FibCase as Case } from '../helpers/fib-live.js';

// bpf_fib_lookup with family AF_INET6 (bpf_ipv6_fib_lookup) side by side with this
// machine's kernel, as fib-live.test.ts holds the IPv4 lookup: in a namespace this test
// creates, a veth pair; in nkemu's init namespace, a netkit pair (L2); both with the same
// addresses (nodad: no DAD to wait for), MACs, MTUs, IPv6 routes (reject ones too) and
// neighbours. The
// kernel runs the program inside that namespace (BPF_PROG_TEST_RUN looks up in the
// caller's). The struct comes back with its ifindex as a device name.

const NS = `nkemu-fib6-${process.pid}`;
const reason = fibLiveReason();

// `ip` lines for both sides (the pair itself differs: veth there, netkit here).
const TOPOLOGY = [
  'link set lo up',
  'link set nka address 02:00:00:00:0a:01',
  'link set nkb address 02:00:00:00:0b:01',
  'link set nka mtu 1500',
  'link set nkb mtu 1400',
  'link set nka up',
  'link set nkb up',
  '-6 addr add 2001:db8:1::1/64 dev nka nodad',
  '-6 addr add 2001:db8:2::1/64 dev nkb nodad',
  '-6 addr add 2001:db8:2:0:8000::1/65 dev nkb nodad',
  '-6 route add 2001:db8:9::/48 via 2001:db8:1::fe metric 7',
  '-6 route add 2001:db8:8::/48 via 2001:db8:2::fe',
  '-6 route add 2001:db8:7::/48 via 2001:db8:1::fe metric 20',
  '-6 route add 2001:db8:7::/48 via 2001:db8:2::fe metric 10',
  '-6 route add 2001:db8:5::/48 dev nka metric 3',
  '-6 route add blackhole 2001:db8:6::/48',
  '-6 route add unreachable 2001:db8:6:1::/64 metric 4',
  '-6 route add prohibit 2001:db8:6:2::2',
  '-6 neigh add 2001:db8:1::fe lladdr 02:00:00:00:fe:01 dev nka nud permanent',
  '-6 neigh add 2001:db8:2::5 lladdr 02:00:00:00:05:02 dev nkb nud permanent',
  '-6 neigh add 2001:db8:2::6 lladdr 02:00:00:00:06:02 dev nkb nud stale',
  '-6 neigh add 2001:db8:5::9 lladdr 02:00:00:00:09:05 dev nka nud reachable',
];



const FORWARDING_OFF: Case[] = [
  { name: 'forwarding off', dev: 'nka', dst: '2001:db8:9::1', rc: 5 },
  { name: 'forwarding off, from the egress side', dev: 'nka', dst: '2001:db8:9::1', flags: F.OUTPUT, rc: 5 },
  { name: 'forwarding off, a link-local destination', dev: 'nka', dst: 'fe80::1', rc: 4 },
  { name: 'forwarding off, an unknown device', dev: 'nosuch', dst: '2001:db8:9::1', rc: -19 },
];
const CASES: Case[] = [
  { name: 'via a gateway with a neighbour', dst: '2001:db8:9::1', rc: 0 },
  { name: 'via a gateway without one', dst: '2001:db8:8::1', rc: 7 },
  { name: 'without the neighbour lookup', dst: '2001:db8:8::1', flags: F.SKIP_NEIGH, rc: 0 },
  { name: 'connected, permanent neighbour', dst: '2001:db8:2::5' },
  { name: 'connected, stale neighbour', dst: '2001:db8:2::6', rc: 0 },
  { name: 'connected, no neighbour', dst: '2001:db8:2::7', rc: 7 },
  { name: 'a device route, reachable neighbour', dst: '2001:db8:5::9' },
  { name: 'flowinfo in, rt_metric out', dst: '2001:db8:9::1', tos: 0x5a },
  { name: 'tot_len past the MTU', dst: '2001:db8:2::5', totLen: 1401, rc: 8 },
  { name: 'tot_len at the MTU', dst: '2001:db8:2::5', totLen: 1400 },
  { name: 'a packet longer than the egress MTU', dst: '2001:db8:2::5', pad: 1300 },
  { name: 'no route', dst: '2001:db8:3::1', rc: 4 },
  { name: 'a blackhole route', dst: '2001:db8:6:9::9', rc: 1 },
  { name: 'an unreachable route', dst: '2001:db8:6:1::1', rc: 2 },
  { name: 'a prohibit route', dst: '2001:db8:6:2::2', rc: 3 },
  { name: 'a blackhole route from the egress side', dev: 'nkb', dst: '2001:db8:6:9::9', flags: F.OUTPUT, rc: 1 },
  { name: 'a blackhole route, tot_len past every MTU', dst: '2001:db8:6:9::9', totLen: 9000, rc: 1 },
  { name: 'a local address', dst: '2001:db8:1::1', rc: 4 },
  { name: 'a local address, main table only (its connected route)', dst: '2001:db8:1::1', flags: F.DIRECT, rc: 7 },
  { name: 'a subnet-router anycast address', dst: '2001:db8:2::', rc: 4 },
  { name: 'a subnet-router anycast address, main table only', dst: '2001:db8:2::', flags: F.DIRECT },
  { name: 'loopback', dst: '::1', rc: 4 },
  { name: 'a link-local destination', dst: 'fe80::1', rc: 4 },
  { name: 'a multicast destination', dst: 'ff02::1', rc: 4 },
  { name: 'a link-local source', src: 'fe80::1', dst: '2001:db8:9::1', rc: 4 },
  { name: 'a global source', src: '2001:db8:1::77', dst: '2001:db8:9::1' },
  { name: 'lowest metric', dst: '2001:db8:7::1', rc: 7 },
  // (the egress device only ranks routes of one prefix and metric: no RT6_LOOKUP_F_IFACE)
  { name: 'from the egress side of a device the best route does not use', dev: 'nka', dst: '2001:db8:7::1', flags: F.OUTPUT, rc: 7 },
  { name: 'from the egress side of a device no route uses', dev: 'nkb', dst: '2001:db8:9::1', flags: F.OUTPUT, rc: 0 },
  { name: 'source address of a gateway route', dst: '2001:db8:9::1', flags: F.SRC },
  // (the longest common prefix counts no further than an address's own: 2001:db8:2::1/64
  // and 2001:db8:2:0:8000::1/65 tie at 64 here, and the newer, listed first, wins)
  { name: 'source address of a connected route', dst: '2001:db8:2::5', flags: F.SRC | F.SKIP_NEIGH },
  { name: 'source address, the longer common prefix', dst: '2001:db8:2:0:8000::5', flags: F.SRC | F.SKIP_NEIGH },
  { name: 'source address of a device route', dst: '2001:db8:5::9', flags: F.SRC },
  { name: 'the main table by id', dst: '2001:db8:9::1', flags: F.DIRECT | F.TBID, tbid: 254 },
  { name: 'the local table by id', dst: '2001:db8:9::1', flags: F.DIRECT | F.TBID, tbid: 255, rc: 4 },
  { name: 'table id 0 (main)', dst: '2001:db8:9::1', flags: F.DIRECT | F.TBID, tbid: 0, rc: 0 },
  { name: 'the default table by id', dst: '2001:db8:9::1', flags: F.DIRECT | F.TBID, tbid: 253, rc: 4 },
  { name: 'a table that does not exist', dst: '2001:db8:9::1', flags: F.DIRECT | F.TBID, tbid: 100 },
  { name: 'a table id without DIRECT', dst: '2001:db8:9::1', flags: F.TBID, tbid: 100 },
  { name: 'a local address from the egress side of its device', dev: 'nka', dst: '2001:db8:1::1', flags: F.OUTPUT },
  { name: 'from a device with forwarding on', dev: 'nkb', dst: '2001:db8:9::1' },
  { name: 'an unknown device', dev: 'nosuch', dst: '2001:db8:9::1', rc: -19 },
];

const rig = new FibRig(NS, TOPOLOGY, 10, 'net.ipv6.conf.all.forwarding');
let emu: FibRig['emu'];
beforeAll(async () => {
  if (reason) return;
  await rig.setup();
  emu = rig.emu;
});
afterAll(async () => {
  if (!reason) await rig.teardown();
});
const forwarding = (on: boolean): Promise<void> => rig.forwarding(on);
const compare = (program: 'fib_tc' | 'fib_xdp', cases: Case[]): void => rig.compare(program, cases);

describe.skipIf(reason !== undefined)(`bpf_fib_lookup (AF_INET6) against this machine's kernel in a namespace (${reason ?? 'root, bpftool, ip, nsenter'})`, () => {
  it('from tc and XDP, with forwarding off: FWD_DISABLED', async () => {
    await forwarding(false);
    compare('fib_tc', FORWARDING_OFF);
    compare('fib_xdp', FORWARDING_OFF);
  });

  it.each(['fib_tc', 'fib_xdp'] as const)('%s, with forwarding on: the same answers and the same struct', async (program) => {
    await forwarding(true);
    compare(program, CASES);
  });

  it("a device's own forwarding switch: net.ipv6.conf.DEV.forwarding, which a write to all resets", async () => {
    await forwarding(true);
    const sysctl = async (w: string): Promise<void> => {
      const real = spawnSync('ip', ['netns', 'exec', NS, 'sysctl', w], { encoding: 'utf8' });
      const mine = await runCommand(emu, ['sysctl', w]);
      expect({ out: mine.stdout, err: mine.stderr, code: mine.code }, `sysctl ${w}`).toEqual({ out: real.stdout, err: real.stderr, code: real.status });
    };
    await sysctl('net.ipv6.conf.nka.forwarding=0');
    await sysctl('net.ipv6.conf.nka.forwarding');
    await sysctl('net.ipv6.conf.nkb.forwarding');
    await sysctl('net.ipv6.conf.all.forwarding');
    await sysctl('net.ipv6.conf.nosuch.forwarding');
    compare('fib_tc', [
      { name: 'from the device with forwarding off', dev: 'nka', dst: '2001:db8:9::1', rc: 5 },
      { name: 'from the device with forwarding off, egress side', dev: 'nka', dst: '2001:db8:9::1', flags: F.OUTPUT, rc: 5 },
      { name: 'from another device, out of the one with forwarding off', dev: 'nkb', dst: '2001:db8:9::1', rc: 0 },
      // (the device left its subnet-router anycast address: the connected route answers)
      { name: 'the subnet-router anycast address of the device with forwarding off', dev: 'nkb', dst: '2001:db8:1::', rc: 7 },
      { name: 'the subnet-router anycast address of the other device', dev: 'nkb', dst: '2001:db8:2::', rc: 4 },
    ]);
    await forwarding(true);
    await sysctl('net.ipv6.conf.nka.forwarding');
    compare('fib_tc', [{ name: 'after all.forwarding=1 again', dev: 'nka', dst: '2001:db8:9::1', rc: 0 }]);
    await forwarding(false);
    await sysctl('net.ipv6.conf.nkb.forwarding=1');
    compare('fib_tc', [
      { name: 'all off, the device on', dev: 'nkb', dst: '2001:db8:9::1', rc: 0 },
      { name: 'all off, another device', dev: 'nka', dst: '2001:db8:9::1', rc: 5 },
    ]);
  });

  it('an address in DAD: neither local nor a source yet (the kernel\'s DAD takes a second; nkemu\'s clock stands still)', async () => {
    await forwarding(true);
    const line = '-6 addr add 2001:db8:1::3/64 dev nka';
    ip(['-n', NS, ...line.split(' ')]);
    expect((await runCommand(emu, ['ip', ...line.split(' ')])).code).toBe(0);
    compare('fib_tc', [
      { name: 'a tentative address', dst: '2001:db8:1::3', rc: 7 },
      { name: 'source address beside a tentative one', dst: '2001:db8:1::44', flags: F.SRC | F.SKIP_NEIGH, rc: 0 },
    ]);
  });
});
