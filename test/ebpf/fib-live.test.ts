import { afterAll, beforeAll, describe, it } from 'vitest';
import { F, FibRig, fibLiveReason, type FibCase as Case } from '../helpers/fib-live.js';

// bpf_fib_lookup's forwarding answers (the gateway as ipv4_dst, smac/dmac, the egress
// ifindex, rt_metric, the MTU checks, NO_NEIGH, the local table, the egress-side filter,
// prefsrc, tables by id) side by side with this machine's kernel on one topology: in a
// namespace this test creates, a veth pair; in nkemu's init namespace, a netkit pair
// (L2); both with the same addresses, MACs, MTUs, routes and neighbours. The kernel runs
// the program inside that namespace (BPF_PROG_TEST_RUN looks up in the caller's). The
// struct comes back with its ifindex as a device name (the two sides number differently).

const NS = `nkemu-fib-${process.pid}`;
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
  'addr add 10.1.0.1/24 dev nka',
  'addr add 10.2.0.1/24 dev nkb',
  'route add 10.9.0.0/16 via 10.1.0.254 metric 7',
  'route add 10.8.0.0/16 via 10.2.0.254',
  'route add 10.7.0.0/16 via 10.1.0.254 metric 20',
  'route add 10.7.0.0/16 via 10.2.0.254 metric 10',
  'route add blackhole 10.6.0.0/16',
  'route add unreachable 10.6.1.0/24 metric 4',
  'route add prohibit 10.6.2.2',
  'neigh add 10.1.0.254 lladdr 02:00:00:00:fe:01 dev nka nud permanent',
  'neigh add 10.2.0.5 lladdr 02:00:00:00:05:02 dev nkb nud permanent',
  'neigh add 10.2.0.6 lladdr 02:00:00:00:06:02 dev nkb nud stale',
];



const FORWARDING_OFF: Case[] = [{ name: 'forwarding off', dev: 'nka', dst: '10.9.1.1', rc: 5 }];
const CASES: Case[] = [
  { name: 'via a gateway with a neighbour', dst: '10.9.1.1', rc: 0 },
  { name: 'via a gateway without one', dst: '10.8.1.1', rc: 7 },
  { name: 'without the neighbour lookup', dst: '10.8.1.1', flags: F.SKIP_NEIGH },
  { name: 'connected, permanent neighbour', dst: '10.2.0.5' },
  { name: 'connected, stale neighbour', dst: '10.2.0.6' },
  { name: 'connected, no neighbour', dst: '10.2.0.7' },
  { name: 'tot_len past the MTU', dst: '10.2.0.5', totLen: 1401, rc: 8 },
  { name: 'tot_len at the MTU', dst: '10.2.0.5', totLen: 1400 },
  { name: 'a packet longer than the egress MTU', dst: '10.2.0.5', pad: 1300 },
  { name: 'no route', dst: '10.3.0.1', rc: 4 },
  { name: 'a blackhole route', dst: '10.6.9.9', rc: 1 },
  { name: 'an unreachable route', dst: '10.6.1.1', rc: 2 },
  { name: 'a prohibit route', dst: '10.6.2.2', rc: 3 },
  { name: 'a blackhole route from the egress side', dev: 'nkb', dst: '10.6.9.9', flags: F.OUTPUT },
  { name: 'a local address', dst: '10.1.0.1' },
  { name: 'a local address, main table only', dst: '10.1.0.1', flags: F.DIRECT },
  { name: 'a subnet broadcast', dst: '10.2.0.255' },
  { name: 'loopback', dst: '127.0.0.1' },
  { name: 'lowest metric', dst: '10.7.1.1' },
  { name: 'egress side through the other device', dev: 'nka', dst: '10.7.1.1', flags: F.OUTPUT },
  { name: 'egress side through no route', dev: 'nkb', dst: '10.9.1.1', flags: F.OUTPUT },
  { name: 'source address of a gateway route', dst: '10.9.1.1', flags: F.SRC },
  { name: 'source address of a connected route', dst: '10.2.0.5', flags: F.SRC | F.SKIP_NEIGH },
  { name: 'the main table by id', dst: '10.9.1.1', flags: F.DIRECT | F.TBID, tbid: 254 },
  { name: 'the local table by id', dst: '10.9.1.1', flags: F.DIRECT | F.TBID, tbid: 255 },
  { name: 'the default table by id', dst: '10.9.1.1', flags: F.DIRECT | F.TBID, tbid: 253 },
  { name: 'a table that does not exist', dst: '10.9.1.1', flags: F.DIRECT | F.TBID, tbid: 100 },
  { name: 'a table id without DIRECT', dst: '10.9.1.1', flags: F.TBID, tbid: 100 },
  { name: 'a local address from the egress side of its device', dev: 'nka', dst: '10.1.0.1', flags: F.OUTPUT },
  { name: 'a local address from the egress side of another device', dev: 'nkb', dst: '10.1.0.1', flags: F.OUTPUT },
  { name: 'from a device with forwarding on', dev: 'nkb', dst: '10.9.1.1' },
  { name: 'an unknown device', dev: 'nosuch', dst: '10.9.1.1', rc: -19 },
];

const rig = new FibRig(NS, TOPOLOGY, 2, 'net.ipv4.ip_forward');
beforeAll(async () => {
  if (!reason) await rig.setup();
});
afterAll(async () => {
  if (!reason) await rig.teardown();
});
const forwarding = (on: boolean): Promise<void> => rig.forwarding(on);
const compare = (program: 'fib_tc' | 'fib_xdp', cases: Case[]): void => rig.compare(program, cases);

describe.skipIf(reason !== undefined)(`bpf_fib_lookup against this machine's kernel in a namespace (${reason ?? 'root, bpftool, ip, nsenter'})`, () => {
  it('from tc and XDP, with forwarding off: FWD_DISABLED', async () => {
    await forwarding(false);
    compare('fib_tc', FORWARDING_OFF);
    compare('fib_xdp', FORWARDING_OFF);
  });

  it.each(['fib_tc', 'fib_xdp'] as const)('%s, with forwarding on: the same answers and the same struct', async (program) => {
    await forwarding(true);
    compare(program, CASES);
  });
});
