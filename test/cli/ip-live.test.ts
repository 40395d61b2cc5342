import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

// nkemu's `ip` side by side with this machine's iproute2 on the same topology: a device
// pair nka/nkb with fixed MACs, both up, lo up, in a namespace this test creates (veth
// there, netkit in L2 mode in nkemu, the kind closest to veth; names that are no prefix
// of an ip keyword, since `ip link set a …` reads `a` as `address`). The same lines in the
// same order must give the same stdout, stderr and exit code.
//
// nkemu's stack is IPv4 only, so the namespace runs with IPv6 disabled (no fe80:: link-local
// addresses, no addrgenmode in a dump to tell apart): `-6` then finds nothing on either side.
// Not compared, for want of the feature in nkemu:
//   - IPv6 addresses and routes (`ip -6 addr add …`, link-local fe80::/64 on up);
//   - tables other than main (`ip route add … table 100`, `ip route show table local|all`);
//   - `ip link show type veth` (nkemu's pair is netkit) and the host-wide `ip netns list`;
//   - a refused `ip neigh add ADDR dev DEV` (no lladdr) leaves a NUD_NONE entry in the kernel
//     that `nud all` lists; nkemu refuses it without one, so the nud lines come before it.
// One normalisation, for `-d` only: the details after `promiscuity` depend on the device kind
// (veth: 2 queues, tso_max_size 524280; netkit: its mode and policies), on IPv6 (addrgenmode)
// and on the iproute2 version (6.1 prints `promiscuity 0  allmulti` and no gso_ipv4_max_size;
// nkemu prints as the netkit-aware iproute2 does; test/cli/golden keeps that form).

const NS = `nkemu-ip-${process.pid}`;
const reason = process.getuid?.() !== 0 ? 'not root'
  : spawnSync('sh', ['-c', 'command -v ip && command -v sysctl']).status !== 0 ? 'ip or sysctl is not installed' : undefined;

let emu: Emulator;
beforeAll(async () => {
  if (reason) return;
  for (const a of [
    ['netns', 'add', NS],
    ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'],
    ['-n', NS, 'link', 'add', 'nka', 'address', '02:00:00:00:00:0a', 'type', 'veth', 'peer', 'name', 'nkb', 'address', '02:00:00:00:00:0b'],
    ['-n', NS, 'link', 'set', 'lo', 'up'], ['-n', NS, 'link', 'set', 'nka', 'up'], ['-n', NS, 'link', 'set', 'nkb', 'up'],
  ]) {
    expect(spawnSync('ip', a).status, a.join(' ')).toBe(0);
  }
  emu = await Emulator.create({});
  const setup = 'ip link add nka address 02:00:00:00:00:0a type netkit mode l2 peer name nkb address 02:00:00:00:00:0b\nip link set nka up\nip link set nkb up';
  expect((await runScript(emu, setup)).stderr).toBe('');
});
afterAll(async () => {
  if (reason) return;
  spawnSync('ip', ['netns', 'del', NS]);
  await emu.close();
});

const DETAIL_KEYS = ['promiscuity', 'allmulti', 'min_mtu', 'max_mtu', 'linkinfo', 'inet6_addr_gen_mode', 'num_tx_queues', 'num_rx_queues',
  'gso_max_size', 'gso_max_segs', 'tso_max_size', 'tso_max_segs', 'gro_max_size', 'gso_ipv4_max_size', 'gro_ipv4_max_size'];

/** `-d` output with its details cut (see above); every other line as it is. */
function normalise(line: string, out: string): string {
  const words = splitWords(line);
  if (!words.includes('-d') && !words.includes('-details')) return out;
  if (words.includes('-j') || words.includes('-json')) {
    const list = JSON.parse(out) as Record<string, unknown>[];
    for (const o of list) for (const k of DETAIL_KEYS) delete o[k];
    return `${JSON.stringify(list)}\n`;
  }
  return out.replace(/ promiscuity .*(\n {4}(?!link\/|inet |RX|TX)\S.*)?/g, ' promiscuity …');
}

async function both(line: string): Promise<[object, object]> {
  const real = spawnSync('ip', ['netns', 'exec', NS, ...splitWords(line)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const mine = await runCommand(emu, splitWords(line));
  return [
    { out: normalise(line, real.stdout), err: real.stderr, code: real.status },
    { out: normalise(line, mine.stdout), err: mine.stderr, code: mine.code },
  ];
}

describe.skipIf(reason !== undefined)(`ip against this machine's iproute2 (${reason ?? 'root, ip'})`, () => {
  it.each([
    // usage and help: stderr, exit 255
    'ip',
    'ip help',
    'ip link help',
    'ip addr help',
    'ip address help',
    'ip route help',
    'ip neigh help',
    'ip netns help',
    'ip a help',
    'ip r help',
    // unknown objects, commands, options
    'ip frob',
    'ip -frob link',
    'ip -n nosuchns link',
    'ip link frob',
    'ip addr frob',
    'ip route frob',
    'ip neigh frob',
    'ip netns frob',
    'ip -f frob link',
    'ip -f',
    'ip -4 -6 frob',
    // links: the forms and abbreviations
    'ip link',
    'ip l',
    'ip li',
    'ip link show',
    'ip link list',
    'ip link ls',
    'ip link show nka',
    'ip link show dev nka',
    'ip link show dev nosuch',
    'ip link show nosuch',
    'ip link show up',
    'ip link show type dummy',
    'ip link show dev nka up',
    'ip link show nka nkb',
    'ip link show dev',
    'ip -br link',
    'ip -br link show nka',
    'ip -brief link show dev nkb',
    'ip -o link',
    'ip -o link show nka',
    'ip -oneline link show lo',
    'ip -s link show nka',
    'ip -s -s link show nka',
    'ip -stats link show lo',
    'ip -j link show nka',
    'ip -j link',
    'ip -j -p link show nka',
    'ip -j -p link',
    'ip -j -s link show nka',
    'ip -j -s -s link show nka',
    'ip -p -j link show lo',
    'ip -4 link show nka',
    'ip -0 link show nka',
    'ip -br -o link show nka',
    'ip -d link show lo',
    'ip -d link show nka',
    'ip -j -d link show lo',
    'ip -br -j link show nka',
    'ip -br -j -p link',
    'ip -br -s link show nka',
    'ip -o -s link show nka',
    'ip -j -o link show lo',
    'ip --json link show lo',
    'ip -json -pretty link show nkb',
    'ip -- link show lo',
    'ip -l 1 link show lo',
    'ip -b',
    // link changes
    'ip link set nkb down',
    'ip link show',
    'ip -br link',
    'ip link show up',
    'ip -j link show nka',
    'ip link set nkb up',
    'ip link show up',
    'ip link set nka mtu 9000',
    'ip link show nka',
    'ip link set nka mtu 70000',
    'ip link set nka mtu 67',
    'ip link set nka mtu -5',
    'ip link set nka mtu 3000000000',
    'ip link set nka mtu 0x5dc',
    'ip link show nka',
    'ip link set nka mtu 1500',
    'ip link set nka txqueuelen 500',
    'ip link show nka',
    'ip link set nka txqueuelen 1000',
    'ip link set nka name nkc',
    'ip link show nkc',
    'ip -br link',
    'ip link set nkc name nka',
    'ip link set nkb down',
    'ip link set nkb name nkd',
    'ip link show nka',
    'ip link set nkd name nkb',
    'ip link set nkb up',
    'ip link set nka name nkb',
    'ip link set nka address 02:00:00:00:00:1a',
    'ip link show nka',
    'ip link set nka address zz',
    'ip link set nka address 02:00:00:00:00:0a',
    'ip link set nosuch up',
    'ip link set dev nka frob',
    'ip link set',
    'ip link del nosuch',
    'ip link del',
    'ip link add dev x dev y type veth',
    'ip link add x',
    // addresses
    'ip addr',
    'ip a',
    'ip address show',
    'ip addr show nka',
    'ip addr show dev nosuch',
    'ip -4 addr',
    'ip -6 addr',
    'ip -br addr',
    'ip -o addr',
    'ip addr add 10.0.0.1/24 dev nka',
    'ip addr add 10.0.0.1/24 dev nka',
    'ip addr show dev nka',
    'ip addr show',
    'ip -4 addr show nka',
    'ip -6 addr show nka',
    'ip -br addr',
    'ip -br addr show nka',
    'ip -br -4 addr',
    'ip -o addr',
    'ip -o addr show nka',
    'ip -o -4 addr',
    'ip -j addr show nka',
    'ip -j -p addr show nka',
    'ip -j -4 addr',
    'ip addr add 10.0.0.2/24 dev nka',
    'ip addr add 10.0.1.1/24 broadcast 10.0.1.255 dev nka',
    'ip addr add 10.0.2.1/24 brd + dev nka',
    'ip addr add 192.168.9.1 dev nka',
    'ip addr show nka',
    'ip -br addr show nka',
    'ip -o addr show nka',
    'ip -j addr show nka',
    'ip addr show up',
    'ip addr show to 10.0.0.0/16',
    'ip addr show to 10.0.1.0/24',
    'ip -br addr show to 10.0.0.0/8',
    'ip addr show to 10.0.0.300',
    'ip -br -j addr',
    'ip -br -j -p addr show nka',
    'ip -s addr show nka',
    'ip -s -j addr show lo',
    'ip -j -p -s -s link show lo',
    'ip addr del 10.0.0.2/24 dev nka',
    'ip addr del 192.168.9.1/32 dev nka',
    'ip addr show nka',
    'ip addr add 10.0.0.1/33 dev nka',
    'ip addr add 10.0.0.300/24 dev nka',
    'ip addr add 10.0.0.1/24',
    'ip addr add 10.0.0.1/24 dev nosuch',
    'ip addr add dev nka',
    'ip addr del 10.9.9.9/24 dev nka',
    'ip addr add 10.0.5.1/24 dev nka dev nkb',
    'ip addr flush',
    'ip addr flush dev nosuch',
    'ip addr add 10.1.1.1/24 dev nkb',
    'ip addr flush dev nkb',
    'ip addr show nkb',
    'ip -br addr',
    // routes
    'ip route',
    'ip r',
    'ip route show',
    'ip route list',
    'ip -4 route',
    'ip -6 route',
    'ip route show table main',
    'ip -o route',
    'ip -j route',
    'ip -j -p route',
    'ip route add 10.9.0.0/16 via 10.0.0.254',
    'ip route add 10.9.0.0/16 via 10.0.0.254',
    'ip route add 10.8.0.0/16 via 10.0.0.254 metric 10',
    'ip route add 10.7.0.0/16 dev nka',
    'ip route add 10.6.0.0/16 dev nka src 10.0.0.1',
    'ip route add default via 10.0.0.254',
    'ip route show',
    'ip route show dev nka',
    'ip -j route show',
    'ip -j -p route show dev nka',
    'ip route add 10.1.0.1/16 via 10.0.0.254',
    'ip route add 10.5.0.0/16 via 10.99.9.9',
    'ip route add 10.5.0.0/16 dev nosuch',
    'ip route add 10.5.0.0/33 dev nka',
    'ip route add 10.5.0.0/16 dev nka dev nkb',
    'ip route add 10.1.0.0/16',
    'ip route del 10.99.0.0/16',
    'ip route del 10.8.0.0/16 via 10.0.0.254 metric 10',
    'ip route show dev nosuch',
    // ip route get: the lookup the kernel would make
    'ip route get 10.0.0.5',
    'ip route get 10.0.0.1',
    'ip route get 127.0.0.1',
    'ip route get 8.8.8.8',
    'ip route get 10.9.1.2',
    'ip route get 10.6.1.1',
    'ip route get 10.0.0.5 from 10.0.0.1',
    'ip route get 10.0.0.5 oif nka',
    'ip route get 10.0.0.5 mark 7',
    'ip route get 10.0.0.5 from 10.0.0.1 oif nka mark 7',
    'ip route get to 10.0.0.5',
    'ip -j route get 10.0.0.5',
    'ip -j -p route get 8.8.8.8',
    'ip -o route get 10.0.0.5',
    'ip route get',
    'ip route get 10.0.0.300',
    'ip route get 10.0.0.5 oif nosuch',
    'ip route get 10.0.0.255',
    'ip route get 10.0.1.255',
    'ip -j route get 10.0.0.1',
    'ip -j route get 10.0.0.5 from 10.0.0.1 mark 3',
    'ip -j route get 10.0.0.255',
    'ip route get 10.0.0.5 from 10.0.0.9',
    'ip route get 10.0.0.5 mark frob',
    'ip route get 10.0.0.5 oif nkb',
    'ip link set nkb down',
    'ip route get 10.0.0.5 oif nkb',
    'ip link set nkb up',
    'ip route del default',
    'ip route get 8.8.8.8',
    'ip route flush',
    'ip route flush dev nosuch',
    'ip route flush dev nka',
    'ip route show',
    'ip route show table frob',
    'ip route show table 100',
    'ip route flush table main',
    'ip route show',
    'ip route get 10.0.0.5',
    'ip addr del 10.0.0.1/24 dev nka',
    'ip addr add 10.0.0.1/24 dev nka',
    'ip route show',
    // neighbours (one entry at a time: the kernel lists its hash table in a boot-random order)
    'ip neigh show',
    'ip n',
    'ip -j neigh show',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev nka',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev nka',
    'ip neigh show',
    'ip -4 neigh show',
    'ip -6 neigh',
    'ip -j neigh show',
    'ip -j -p neigh show',
    'ip -o neigh',
    'ip neigh show dev nka',
    'ip neigh show dev nkb',
    'ip neigh show dev nosuch',
    'ip neigh replace 10.0.0.9 lladdr 02:00:00:00:00:0a dev nka nud reachable',
    'ip neigh show',
    'ip neigh flush dev nka',
    'ip neigh show',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:0b dev nka nud stale',
    'ip neigh flush to 10.0.0.0/24',
    'ip neigh show',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:0b dev nka nud stale',
    'ip neigh flush all',
    'ip neigh show',
    'ip neigh del 10.0.0.9 dev nka',
    'ip neigh del 10.0.0.9 dev nka',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:0b dev nka nud stale',
    'ip neigh show nud stale',
    'ip neigh show nud permanent',
    'ip neigh show nud all',
    'ip neigh show to 10.0.0.9',
    'ip neigh show to 10.1.0.0/16',
    'ip neigh flush nud stale',
    'ip neigh show nud all',
    'ip neigh show nud frob',
    'ip neigh change 10.0.0.9 lladdr 02:00:00:00:00:0b dev nka',
    'ip neigh show to 10.0.0.300',
    'ip neigh del 10.0.0.9 dev nka',
    'ip neigh add 10.0.0.7 dev nka',
    'ip neigh add 10.0.0.7 lladdr zz dev nka',
    'ip neigh add 10.0.0.7 lladdr 02:00:00:00:00:07',
    'ip neigh add 10.0.0.7 lladdr 02:00:00:00:00:07 dev nka nud bogus',
    'ip neigh add 10.0.0.300 lladdr 02:00:00:00:00:07 dev nka',
    'ip neigh flush',
    'ip neigh show',
    // namespaces (only the error paths: the list is the host's)
    'ip netns add a/b',
    'ip netns add',
    'ip netns del',
  ])('%s', async (line) => {
    const [real, mine] = await both(line);
    expect(mine).toEqual(real);
  });
});
