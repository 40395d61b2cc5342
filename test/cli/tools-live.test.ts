import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

// nkemu's `sysctl`, `ping` and `ethtool` side by side with this machine's procps sysctl,
// iputils ping and ethtool in a namespace this test creates (and removes): the same lines,
// in the same order, give the same output, errors and exit codes. Needs root, ip, sysctl,
// ping and ethtool.

const NS = `nkemu-t-${process.pid}`;
const missing = process.getuid?.() !== 0 ? 'not root'
  : ['ip', 'sysctl', 'ping', 'ethtool'].find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const reason = missing === undefined ? undefined : missing === 'not root' ? missing : `${missing} is not installed`;

let emu: Emulator;
beforeAll(async () => {
  if (reason) return;
  spawnSync('ip', ['netns', 'add', NS]);
  spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  emu = await Emulator.create({});
});
afterAll(async () => {
  if (reason) return;
  spawnSync('ip', ['netns', 'del', NS]);
  await emu.close();
});

async function both(line: string): Promise<[object, object]> {
  const real = spawnSync('ip', ['netns', 'exec', NS, ...splitWords(line)], { encoding: 'utf8' });
  const mine = await runCommand(emu, splitWords(line));
  return [{ out: real.stdout, err: real.stderr, code: real.status }, { out: mine.stdout, err: mine.stderr, code: mine.code }];
}

describe.skipIf(reason !== undefined)(`sysctl and ping against this machine's (${reason ?? 'root, procps, iputils, ethtool'})`, () => {
  it.each([
    'sysctl net.ipv4.ip_forward',
    'sysctl -n net.ipv4.ip_forward',
    'sysctl -N net.ipv4.ip_forward',
    'sysctl net/ipv4/ip_forward',
    'sysctl net.ipv4.ip_forward=3',
    'sysctl net.ipv4.conf.all.forwarding',
    'sysctl -q net.ipv4.ip_forward=1',
    'sysctl net.ipv4.ip_forward net.ipv4.conf.all.forwarding',
    'sysctl -w net.ipv4.ip_forward=0',
    'sysctl -w net.ipv4.ip_forward',
    'sysctl net.ipv4.ip_forward=abc',
    'sysctl net.ipv4.nosuch',
    'sysctl -e net.ipv4.nosuch',
    'sysctl net.ipv4.nosuch net.ipv4.ip_forward',
    'ping -c 0 127.0.0.1',
    'ping -c abc 127.0.0.1',
    'ping -c -1 127.0.0.1',
    'ping -t 256 127.0.0.1',
    'ping -t -1 127.0.0.1',
    'ping -t abc 127.0.0.1',
    'ping -c 1 -t 0 127.0.0.1',
    // help and usage texts, wrong options
    'ping', 'ping -h', 'ping -V', 'ping -c', 'ping -Z', 'ping -c 1 -Z 127.0.0.1',
    'sysctl', 'sysctl -h', 'sysctl --help', 'sysctl -Z',
    'ethtool', 'ethtool -h', 'ethtool --help', 'ethtool -Z', 'ethtool --frob lo',
    // ethtool on a device without the NIC features (lo)
    'ethtool -l lo', 'ethtool -x lo', 'ethtool -n lo', 'ethtool -L lo combined 2', 'ethtool -l nosuch',
    // ethtool -N's rule parser (rxclass_parse_ruleopts) runs before the device is asked: its
    // errors, then a well-formed rule refused by a device without ntuple ops (lo)
    ...[
      'tcp6 dst-ip 2001:db8::1 m ::ffff:ffff:ffff:ffff dst-port 443 tclass 0x20 action 3', 'udp6 src-ip fe80::1 src-port 53 queue 2 loc 7',
      'ip6 l4proto 58 dst-ip ff02::1 action -1', 'ip6 src-port 1 src-port-mask 0xff dst-port 2 action 1', 'tcp4 src-ip 10.0.0.1 tos 4 m 3 action 0',
      'ether dst 1:2:3:4:5:6 m ff:ff:ff:ff:ff:ff action 1', 'sctp6 dst-port 9 action 1', 'esp6 spi 7 action 1', 'tcp6 vlan 5 user-def 0x10 action 1',
      'tcp6 src-ip 10.0.0.1 action 1', 'tcp4 src-ip 2001:db8::1 action 1', 'tcp6 dst-port 80 dst-port 81 action 1', 'tcp6 dst-ip ::1 m',
      'tcp6 dst-ip ::1 m zz', 'tcp6 l4proto 6 action 1', 'tcp6 action 1 queue 2', 'tcp6 action 1 vf 2', 'tcp7 action 1', 'tcp6 dst-port 9 action 1 dst-port-mask 0',
      'ip6 src-port 1 l4data 2 action 1', 'ip6 tos 1 action 1', 'sctp6 context 4294967295', 'tcp6 context', 'tcp6 context x',
      'udp6 dst-port 0x10000 action 1', 'udp6 dst-port -1', 'udp6 dst-port 08', 'udp6 dst-port 010 src-port 0x10 action 0xf', 'tcp6 action -1',
      'ether dst 1-2-3-4-5-6 action 1', 'udp6 src-ip',
    ].map((r) => `ethtool -N lo flow-type ${r}`),
    'ethtool -N lo flow-type', 'ethtool -N lo', 'ethtool -N lo delete 5', 'ethtool -U lo frob',
  ])('%s', async (line) => {
    const [real, mine] = await both(line);
    expect(mine).toEqual(real);
  });

  it('ping over a blackhole, unreachable or prohibit route (or none) fails at connect(), in iputils\' words', async () => {
    for (const r of ['blackhole 10.6.0.0/16', 'unreachable 10.7.0.0/16', 'prohibit 10.8.0.0/16']) {
      expect(spawnSync('ip', ['-n', NS, 'route', 'add', ...r.split(' ')]).status, r).toBe(0);
      expect((await runCommand(emu, ['ip', 'route', 'add', ...r.split(' ')])).code, r).toBe(0);
    }
    for (const dst of ['10.6.0.1', '10.7.0.1', '10.8.0.1', '10.9.0.1']) {
      const [real, mine] = await both(`ping -c 1 ${dst}`);
      expect(mine, dst).toEqual(real);
    }
  });
});
