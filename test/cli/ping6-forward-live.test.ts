import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

// IPv6 forwarding and the ICMPv6 errors a router sends, held to this machine's kernel and
// iputils: host a — router r — host b, each link a device pair across two namespaces (veth
// here, netkit L2 in nkemu), net.ipv6.conf.all.forwarding 1 on r, DAD off everywhere.
// The lines run on a; times are cut as in ping6-live.test.ts. Not compared: `ip -6 route get`
// after a packet too big (the kernel keeps the learnt MTU as a route exception, `expires
// 599sec mtu 1400`; nkemu keeps none).

const P = `nkemu-fw-${process.pid}`;
const [A, R, B] = ['a', 'r', 'b'].map((n) => `${P}-${n}`) as [string, string, string];
const missing = process.getuid?.() !== 0 ? 'not root' : ['ip', 'ping', 'sysctl'].find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const reason = missing === undefined ? undefined : missing === 'not root' ? missing : `${missing} is not installed`;

/** The topology as `ip` lines, namespace names given. */
function topology(a: string, r: string, b: string, kind: string): string[][] {
  return [
    ...[a, r, b].map((n) => ['netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']),
    ['-n', a, 'link', 'add', 'va', 'type', ...kind.split(' '), 'peer', 'name', 'ra', 'netns', r],
    ['-n', b, 'link', 'add', 'vb', 'type', ...kind.split(' '), 'peer', 'name', 'rb', 'netns', r],
    ['-n', a, 'link', 'set', 'lo', 'up'], ['-n', a, 'link', 'set', 'va', 'up'], ['-n', b, 'link', 'set', 'vb', 'up'],
    ['-n', r, 'link', 'set', 'ra', 'up'], ['-n', r, 'link', 'set', 'rb', 'up'], ['-n', r, 'link', 'set', 'rb', 'mtu', '1400'],
    ['-n', a, '-6', 'addr', 'add', '2001:db8:a::1/64', 'dev', 'va'], ['-n', r, '-6', 'addr', 'add', '2001:db8:a::fe/64', 'dev', 'ra'],
    ['-n', r, '-6', 'addr', 'add', '2001:db8:b::fe/64', 'dev', 'rb'], ['-n', b, '-6', 'addr', 'add', '2001:db8:b::1/64', 'dev', 'vb'],
    ['-n', a, '-6', 'route', 'add', 'default', 'via', '2001:db8:a::fe'], ['-n', b, '-6', 'route', 'add', 'default', 'via', '2001:db8:b::fe'],
    ['netns', 'exec', r, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'],
    // reject routes on the router: a blackhole drops in silence, unreachable and prohibit answer
    ['-n', r, '-6', 'route', 'add', 'blackhole', '2001:db8:60::/48'],
    ['-n', r, '-6', 'route', 'add', 'unreachable', '2001:db8:61::/64'],
    ['-n', r, '-6', 'route', 'add', 'prohibit', '2001:db8:62::/64'],
  ];
}

let emu: Emulator;
beforeAll(async () => {
  if (reason) return;
  for (const n of [A, R, B]) expect(spawnSync('ip', ['netns', 'add', n]).status).toBe(0);
  for (const a of topology(A, R, B, 'veth')) expect(spawnSync('ip', a, { encoding: 'utf8' }).status, a.join(' ')).toBe(0);
  emu = await Emulator.create({});
  const lines = ['ip netns add r', 'ip netns add b', ...topology('init', 'r', 'b', 'netkit mode l2').map((a) => ['ip', ...a].join(' '))];
  expect((await runScript(emu, lines.join('\n').replace(/ip -n init /g, 'ip ').replace(/ip netns exec init /g, ''))).stderr).toBe('');
});
afterAll(async () => {
  if (reason) return;
  for (const n of [A, R, B]) spawnSync('ip', ['netns', 'del', n]);
  await emu.close();
});

function normalise(out: string): string {
  return out.replace(/time=\d+(\.\d+)? ms/g, 'time=T ms').replace(/time \d+ms/g, 'time Tms').replace(/^rtt min\/avg\/max\/mdev = .*$/gm, 'rtt …');
}

describe.skipIf(reason !== undefined)(`IPv6 through a router against this machine's kernel (${reason ?? 'root, ip, iputils'})`, () => {
  it.each([
    'ping -c 1 2001:db8:a::fe',
    'ping -c 2 -i 0.2 2001:db8:b::1',
    'ping -c 1 2001:db8:b::fe',
    'ping -c 1 -t 1 2001:db8:b::1',
    'ping -c 1 -t 2 2001:db8:b::1',
    'ping -c 1 2001:db8:c::1',
    'ping -c 1 -s 1400 2001:db8:b::1',
    'ping -c 1 -s 1352 2001:db8:b::1',
    // (no answer: iputils waits its 10 s linger)
    'ping -c 1 2001:db8:60::1',
    'ping -c 1 2001:db8:61::1',
    'ping -c 1 2001:db8:62::1',
  ])('%s', async (line) => {
    const real = spawnSync('ip', ['netns', 'exec', A, ...splitWords(line)], { encoding: 'utf8' });
    const mine = await runCommand(emu, splitWords(line));
    expect({ out: normalise(mine.stdout), err: mine.stderr, code: mine.code }).toEqual({ out: normalise(real.stdout), err: real.stderr, code: real.status });
  }, 15_000);
});
