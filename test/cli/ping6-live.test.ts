import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

// `ping -6` / `ping6` and the IPv6 packet path held to this machine's iputils and kernel: a
// device pair across two namespaces (veth here, netkit L2 in nkemu: neighbour discovery
// runs), 2001:db8::1/64 on nka and 2001:db8::2/64 on nkb, DAD off (accept_dad 0) so the
// addresses are usable at once. The lines run on nka's side. Times differ (the kernel's
// are wall-clock, nkemu's virtual), so every `time=…`, `time …ms` and rtt line is cut.

const A = `nkemu-p6a-${process.pid}`;
const B = `nkemu-p6b-${process.pid}`;
const missing = process.getuid?.() !== 0 ? 'not root' : ['ip', 'ping', 'sysctl'].find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const reason = missing === undefined ? undefined : missing === 'not root' ? missing : `${missing} is not installed`;

let emu: Emulator;
beforeAll(async () => {
  if (reason) return;
  for (const a of [
    ['netns', 'add', A], ['netns', 'add', B],
    ...[A, B].map((n) => ['netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']),
    ['-n', A, 'link', 'add', 'nka', 'address', '02:00:00:00:00:0a', 'type', 'veth', 'peer', 'name', 'nkb', 'address', '02:00:00:00:00:0b', 'netns', B],
    ['-n', A, 'link', 'set', 'lo', 'up'], ['-n', A, 'link', 'set', 'nka', 'up'], ['-n', B, 'link', 'set', 'nkb', 'up'],
    ['-n', A, '-6', 'addr', 'add', '2001:db8::1/64', 'dev', 'nka'], ['-n', B, '-6', 'addr', 'add', '2001:db8::2/64', 'dev', 'nkb'],
  ]) {
    expect(spawnSync('ip', a).status, a.join(' ')).toBe(0);
  }
  emu = await Emulator.create({});
  const setup = [
    'ip netns add b',
    'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0',
    'ip netns exec b sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0',
    'ip link add nka address 02:00:00:00:00:0a type netkit mode l2 peer name nkb address 02:00:00:00:00:0b netns b',
    'ip link set nka up', 'ip -n b link set nkb up',
    'ip -6 addr add 2001:db8::1/64 dev nka', 'ip -n b -6 addr add 2001:db8::2/64 dev nkb',
  ].join('\n');
  expect((await runScript(emu, setup)).stderr).toBe('');
});
afterAll(async () => {
  if (reason) return;
  spawnSync('ip', ['netns', 'del', A]);
  spawnSync('ip', ['netns', 'del', B]);
  await emu.close();
});

function normalise(out: string): string {
  return out.replace(/time=\d+(\.\d+)? ms/g, 'time=T ms').replace(/time \d+ms/g, 'time Tms').replace(/^rtt min\/avg\/max\/mdev = .*$/gm, 'rtt …');
}

async function both(line: string): Promise<[object, object]> {
  const real = spawnSync('ip', ['netns', 'exec', A, ...splitWords(line)], { encoding: 'utf8' });
  const mine = await runCommand(emu, splitWords(line));
  return [
    { out: normalise(real.stdout), err: real.stderr, code: real.status },
    { out: normalise(mine.stdout), err: mine.stderr, code: mine.code },
  ];
}

describe.skipIf(reason !== undefined)(`ping -6 against this machine's iputils and kernel (${reason ?? 'root, ip, iputils'})`, () => {
  it.each([
    'ping -6 -c 2 -i 0.2 2001:db8::2',
    'ping6 -c 1 ::1',
    'ping -c 1 2001:db8::1',
    'ping -c 1 -s 100 2001:db8::2',
    'ping -c 1 -s 0 2001:db8::2',
    'ping -c 1 -t 1 2001:db8::2',
    'ping -c 1 -q 2001:db8::2',
    'ping -c 1 3000::1',
    'ping -4 -c 1 2001:db8::2',
    'ping -6 -c 1 127.0.0.1',
    'ping -4 -6 -c 1 ::1',
    'ip -6 neigh show 2001:db8::2',
    'ip -6 neigh show dev nka to 2001:db8::/64 nud reachable',
    'ip -j -6 neigh show 2001:db8::2',
    // neighbour discovery gets no answer: three solicitations a second apart, then the
    // queued echo is answered with address unreachable
    'ping -c 1 2001:db8::9',
    'sysctl net.ipv6.conf.all.forwarding',
    'sysctl -w net.ipv6.conf.all.forwarding=1',
    'sysctl net.ipv6.conf.all.forwarding',
    'sysctl -w net.ipv6.conf.all.forwarding=0',
    // reject routes: connect() fails as ip6_route_output's dst error says
    'ip -6 route add blackhole 2001:db8:60::/48',
    'ip -6 route add unreachable 2001:db8:61::/64',
    'ip -6 route add prohibit 2001:db8:62::/64',
    'ping -c 1 2001:db8:60::1',
    'ping -c 1 2001:db8:61::1',
    'ping -c 1 2001:db8:62::1',
  ])('%s', async (line) => {
    const [real, mine] = await both(line);
    expect(mine).toEqual(real);
  }, 15_000);
});
