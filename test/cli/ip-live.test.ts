import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

// nkemu's `ip` side by side with this machine's iproute2 on the same topology — a device
// pair nka/nkb, up, in a namespace this test creates (veth there, netkit in nkemu; a
// name that is no prefix of an ip keyword, since `ip link set a …` reads `a` as
// `address`) — for the error paths and outputs that do not name the device kind: the
// same lines in the same order give the same output, errors and exit codes. Root and ip.

const NS = `nkemu-ip-${process.pid}`;
const reason = process.getuid?.() !== 0 ? 'not root' : spawnSync('sh', ['-c', 'command -v ip']).status !== 0 ? 'ip is not installed' : undefined;

let emu: Emulator;
beforeAll(async () => {
  if (reason) return;
  for (const a of [['netns', 'add', NS], ['-n', NS, 'link', 'add', 'nka', 'type', 'veth', 'peer', 'name', 'nkb'], ['-n', NS, 'link', 'set', 'nka', 'up'], ['-n', NS, 'link', 'set', 'nkb', 'up']]) {
    expect(spawnSync('ip', a).status, a.join(' ')).toBe(0);
  }
  emu = await Emulator.create({});
  expect((await runScript(emu, 'ip link add nka type netkit peer name nkb\nip link set nka up\nip link set nkb up')).stderr).toBe('');
});
afterAll(async () => {
  if (reason) return;
  spawnSync('ip', ['netns', 'del', NS]);
  await emu.close();
});

async function both(line: string): Promise<[object, object]> {
  const real = spawnSync('ip', ['netns', 'exec', NS, ...splitWords(line)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const mine = await runCommand(emu, splitWords(line));
  return [{ out: real.stdout, err: real.stderr, code: real.status }, { out: mine.stdout, err: mine.stderr, code: mine.code }];
}

describe.skipIf(reason !== undefined)(`ip against this machine's iproute2 (${reason ?? 'root, ip'})`, () => {
  it.each([
    'ip link show dev nosuch',
    'ip addr show dev nosuch',
    'ip addr add 10.0.0.1/33 dev nka',
    'ip addr add 10.0.0.300/24 dev nka',
    'ip frob',
    'ip addr add 10.0.0.1/24 dev nka',
    'ip addr add 10.0.0.1/24 dev nka',
    'ip addr del 10.9.9.9/24 dev nka',
    'ip link set nka address zz',
    'ip link add dev x dev y type veth',
    'ip route add 10.1.0.0/16',
    'ip route show dev nosuch',
    'ip route show dev nka',
    'ip route add 10.1.0.0/16 via 10.0.0.254',
    'ip route del 10.99.0.0/16',
    'ip -n nosuchns link',
    'ip netns add a/b',
    'ip link set nosuch up',
    'ip link del nosuch',
    'ip addr del 10.0.0.1/24 dev nka',
    'ip route show dev nka',
    // the dump order (by network, longer prefixes first, then metric), the device's routes
    // going with its last address
    'ip addr add 10.0.0.1/24 dev nka',
    'ip route add 10.0.0.0/8 via 10.0.0.254',
    'ip route add 9.0.0.0/8 via 10.0.0.254',
    'ip route add 10.0.0.0/16 via 10.0.0.254',
    'ip route add default via 10.0.0.254',
    'ip route add 10.0.0.0/16 via 10.0.0.253 metric 5',
    'ip route show',
    'ip route show dev nka',
    'ip -j route show',
    'ip -j route show dev nka',
    'ip addr del 10.0.0.1/24 dev nka',
    'ip route show',
    // neighbours (one entry at a time: the kernel lists its hash table in a boot-random order)
    'ip addr add 10.0.0.1/24 dev nka',
    'ip neigh show',
    'ip -j neigh show',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev nka',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev nka',
    'ip neigh show',
    'ip -j neigh show',
    'ip neigh show dev nka',
    'ip neigh replace 10.0.0.9 lladdr 02:00:00:00:00:0a dev nka nud reachable',
    'ip neigh show',
    'ip neigh flush dev nka',
    'ip neigh show',
    'ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:0b dev nka',
    'ip neigh flush all',
    'ip neigh show',
    'ip neigh del 10.0.0.9 dev nka',
    'ip neigh del 10.0.0.9 dev nka',
    'ip neigh add 10.0.0.7 dev nka',
    'ip neigh add 10.0.0.7 lladdr zz dev nka',
    'ip neigh add 10.0.0.7 lladdr 02:00:00:00:00:07',
    'ip neigh add 10.0.0.7 lladdr 02:00:00:00:00:07 dev nka nud bogus',
    'ip neigh flush',
    'ip neigh show',
    // the route types without a nexthop: no device or gateway, their type first in the dump,
    // a delete naming another type finds nothing, a gateway they cover is invalid
    'ip route add blackhole 10.6.0.0/16',
    'ip route add unreachable 10.7.0.0/16 metric 5',
    'ip route add prohibit 10.8.1.1',
    'ip route add blackhole 10.6.0.0/16',
    'ip route add blackhole 10.9.0.0/16 dev nka',
    'ip route add unreachable 10.9.0.0/16 via 10.0.0.254',
    'ip route add 10.5.0.0/16 via 10.6.0.1',
    'ip route show',
    'ip -j route show',
    'ip route show dev nka',
    'ip route del blackhole 10.8.1.1',
    'ip route del prohibit 10.8.1.1',
    'ip route del 10.7.0.0/16',
    'ip route add blackhole default',
    'ip route show',
  ])('%s', async (line) => {
    const [real, mine] = await both(line);
    expect(mine).toEqual(real);
  });
});
