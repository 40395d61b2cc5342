import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

const GOLDEN = new URL('./golden/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 1 });
});
afterEach(async () => {
  await emu.close();
});

async function sh(line: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return runCommand(emu, splitWords(line));
}

async function ok(line: string): Promise<string> {
  const r = await sh(line);
  expect(r.stderr, line).toBe('');
  expect(r.code, line).toBe(0);
  return r.stdout;
}

/** Compares with test/cli/golden/NAME (UPDATE_GOLDEN=1 rewrites it). */
function golden(name: string, text: string): void {
  const file = GOLDEN + name;
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

async function topology(): Promise<void> {
  for (const line of [
    'ip netns add blue',
    'ip link add nk1 type netkit mode l3 scrub none peer scrub default nk0 netns blue',
    'ip link add nkb type netkit mode l2 forward peer blackhole nka address 02:00:00:00:00:0a',
    'ip link add numrxqueues 4 solo type netkit single',
    'ip link set nk1 up',
    'ip -n blue link set nk0 up',
    'ip link set nka up',
  ]) await ok(line);
}

/** Everything about every device, to prove a failed command changed nothing. */
async function snapshot(): Promise<string> {
  const parts = [await ok('ip -j -d -s link show'), await ok('ip -j addr show'), await ok('ip route show')];
  for (const ns of emu.listNetns()) parts.push(await ok(`ip -n ${ns} -j -d -s link show`));
  return parts.join('\n');
}

describe('nkemu ip link (iproute2 shapes)', () => {
  it('ip -d link show: primary, peer across namespaces, L2 pair, single device', async () => {
    await topology();
    golden('ip-d-link-show.txt', await ok('ip -d link show') + await ok('ip -n blue -d link show'));
  });

  it('ip -j -d link show: the same as JSON (snake_case keys, flags arrays)', async () => {
    await topology();
    const j = JSON.parse(await ok('ip -j -d link show')) as Record<string, unknown>[];
    expect(j.find((x) => x.ifname === 'nk1')).toMatchObject({
      link_index: expect.any(Number), link_netnsid: 0, flags: ['BROADCAST', 'MULTICAST', 'NOARP', 'UP', 'LOWER_UP'],
      linkinfo: { info_kind: 'netkit', info_data: { mode: 'l3', type: 'primary', policy: 'forward', peer_policy: 'forward', scrub: 'none', peer_scrub: 'default' } },
    });
    expect(j.find((x) => x.ifname === 'nka')).toMatchObject({ link: 'nkb', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP', 'M-DOWN'], address: '02:00:00:00:00:0a' });
    expect((j.find((x) => x.ifname === 'solo')!.linkinfo as { info_data: Record<string, unknown> }).info_data).toEqual({ mode: 'l3', type: 'primary', policy: 'forward' });
    golden('ip-j-d-link-show.json', JSON.stringify(j, null, 1) + '\n' + JSON.stringify(JSON.parse(await ok('ip -n blue -j -d link show')), null, 1) + '\n');
  });

  it('ip -s link show counts what a ping moved; addr and route show', async () => {
    await topology();
    await ok('ip addr add 10.0.0.1/24 dev nk1');
    await ok('ip -n blue addr add 10.0.0.2/24 dev nk0');
    await ok('ip route add 10.9.0.0/16 via 10.0.0.2 metric 10');
    expect(await ok('ping -c 2 10.0.0.2')).toContain('2 packets transmitted, 2 received, 0% packet loss');
    golden('ip-s-link-addr-route.txt', await ok('ip -s link show nk1') + await ok('ip addr show dev nk1') + await ok('ip route show') + await ok('ip -j route show'));
  });

  it('ip link help netkit: the kind\'s own help on stdout, exit 0 (a kind nkemu lacks: the link usage, exit 255)', async () => {
    const r = await sh('ip link help netkit');
    expect([r.code, r.stderr, r.stdout.split('\n')[0]]).toEqual([0, '', 'Usage: ... netkit [ mode MODE ] [ POLICY ] [ scrub SCRUB ] [ peer [ POLICY <options> ] ]']);
    const v = await sh('ip link help veth');
    expect([v.code, v.stdout, v.stderr.split('\n')[0]]).toEqual([255, '', 'Usage: ip link add [link DEV | parentdev NAME] [ name ] NAME']);
  });

  it('bad input: the real tool\'s error, a non-zero status, nothing changed', async () => {
    await topology();
    const before = await snapshot();
    const cases: [string, string, number][] = [
      ['ip link add nkx type netkit mode l3 mode l2', 'Error: duplicate "mode": "l2" is the second value.', 255],
      ['ip link add nkx type netkit mode l4', 'Error: argument of "mode" must be either "l3" or "l2"', 255],
      ['ip link add nkx type netkit scrub some', 'Error: scrub must be either "none" or "default"', 255],
      ['ip link add nkx type netkit bogus', 'netkit: unknown option "bogus"?', 255],
      ['ip link add nkx numrxqueues lots type netkit', 'Error: argument "lots" is wrong: Invalid "numrxqueues" value', 255],
      ['ip link add averyveryverylongname type netkit', 'Error: argument "averyveryverylongname" is wrong: "name" not a valid ifname', 255],
      ['ip link add nkx extra type netkit', 'Error: either "dev" is duplicate, or "extra" is a garbage.', 255],
      ['ip link add nk1 type netkit', 'RTNETLINK answers: File exists', 2],
      ['ip link add nkx numrxqueues 1025 type netkit', 'RTNETLINK answers: Operation not supported', 2],
      ['ip link add nkx type netkit single peer blackhole', 'RTNETLINK answers: Operation not supported', 2],
      ['ip link add nkx type netkit mode l2 single blackhole', 'RTNETLINK answers: Operation not supported', 2],
      ['ip link add nkx type veth', 'Error: Unknown device type "veth".', 2],
      ['ip link set nope up', 'Cannot find device "nope"', 1],
      ['ip link set nk1 mtu 70000', 'Error: mtu greater than device maximum.', 2],
      ['ip link set nk1 mtu 60', 'Error: mtu less than device minimum.', 2],
      ['ip link set nk1 name nkb', 'RTNETLINK answers: File exists', 2],
      ['ip link set nk1 netns nowhere', 'Error: argument "nowhere" is wrong: Invalid "netns" value', 255],
      ['ip link set nk1 address 02:00:00:00:00:01', 'RTNETLINK answers: Operation not supported', 2],
      ['ip link set nka type netkit blackhole', 'Error: netkit link settings can be changed only through the primary device.', 2],
      ['ip link del nope', 'Cannot find device "nope"', 1],
      ['ip addr add 10.0.0.300/24 dev nk1', 'Error: any valid prefix is expected rather than "10.0.0.300/24".', 1],
      ['ip addr add 10.0.0.1/24 dev nope', 'Cannot find device "nope"', 1],
      ['ip route add 10.5.0.0/16 via 10.77.0.1', 'Error: Nexthop has invalid gateway.', 2],
      ['ip route del 10.5.0.0/16', 'RTNETLINK answers: No such process', 2],
      ['ip netns add blue', 'Cannot create namespace file "/run/netns/blue": File exists', 1],
      ['ip netns del green', 'Cannot remove namespace file "/run/netns/green": No such file or directory', 1],
      ['ip bogus', 'Object "bogus" is unknown, try "ip help".', 1],
    ];
    for (const [line, err, code] of cases) {
      const r = await sh(line);
      expect(r.stderr.split('\n')[0], line).toBe(err);
      expect(r.code, line).toBe(code);
      expect(r.stdout, line).toBe('');
    }
    expect(await snapshot()).toBe(before);
  });
});

describe('ethtool, ynl, scripts', () => {
  it('ethtool -l on a NIC (netkit has no get_channels); -L refused on a leased queue; -X / -x; -N / -n', async () => {
    await ok('nic add eth0 rxqueues 16');
    await ok('ip link add type netkit peer numrxqueues 2');
    golden('ethtool-l.txt', await ok('ethtool -l eth0'));
    expect(await sh('ethtool -l nk0')).toEqual({ stdout: '', stderr: 'netlink error: Operation not supported\n', code: 1 });
    expect(await ok(`ynl --family netdev --do queue-create --json '{"ifindex": 3, "type": "rx", "lease": {"ifindex": 2, "queue": {"type": "rx", "id": 15}}}'`)).toBe("{'id': 1}\n");
    const r = await sh('ethtool -L eth0 combined 8');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^(Error: |RTNETLINK|netlink error)/);
    expect(await ok('ethtool -X eth0 start 15 equal 1 context new')).toBe('New RSS context is 1\n');
    expect(await ok('ethtool -x eth0')).toContain('RX flow hash indirection table for eth0 with 16 RX ring(s):');
    expect(await ok('ethtool -N eth0 flow-type udp4 dst-ip 1.2.3.4 dst-port 53 action 3')).toMatch(/^Added rule with ID \d+\n$/);
    const rules = await ok('ethtool -n eth0');
    expect(rules).toContain('Total 1 rules');
    expect(rules).toContain('\tRule Type: UDP over IPv4');
    expect(rules).toContain('\tAction: Direct to queue 3');
    // the rule shapes as ethtool's rxclass prints them (inverted masks, TOS, MAC lines), one rule, the table's rows
    const loc = Number((await ok('ethtool -N eth0 flow-type ether dst 02:56:4d:00:00:01 action 15')).match(/\d+/)![0]);
    await ok('ethtool -N eth0 flow-type tcp4 src-ip 10.1.2.3 action -1 loc 7');
    golden('ethtool-n.txt', await ok('ethtool -n eth0') + await ok(`ethtool -n eth0 rule ${loc}`) + await ok('ethtool -x eth0'));
    expect(await sh('ethtool -n eth0 rule 9')).toEqual({ stdout: '', stderr: 'rxclass: Cannot get RX class rule: No such file or directory\nCannot get RX classification rule\n', code: 1 });
  });

  it('ynl: Python repr by default, JSON with --output-json, netlink errors with extack', async () => {
    await ok('nic add eth0 rxqueues 4');
    await ok('ip link set eth0 up');
    await ok('ip link add type netkit peer numrxqueues 3');
    const create = (q: number) => `ynl --family netdev --do queue-create --json '{"ifindex": 3, "type": "rx", "lease": {"ifindex": 2, "queue": {"type": "rx", "id": ${q}}}}'`;
    expect(await ok(create(3))).toBe("{'id': 1}\n");
    expect(JSON.parse(await ok('ynl --family netdev --output-json --do queue-get --json \'{"ifindex": 2, "type": "rx", "id": 3}\''))).toEqual({ id: 3, type: 'rx', ifindex: 2, 'napi-id': expect.any(Number), lease: { ifindex: 3, queue: { id: 1, type: 'rx' } } });
    const r = await sh(create(3));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Netlink error: Device or resource busy\n\terror: -16\textack: \{'msg': '.+'\}\n$/);
  });

  it('nkemu run: the io_uring seed delivers the steered flow into the receiver\'s buffers in foo', async () => {
    const r = await runScript(emu, readFileSync(ROOT + 'examples/io_uring.nk', 'utf8'), 'io_uring.nk');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('zcrx 1: nk0 queue 1 -> eth0 queue 15: 100 frames received in its buffers');
    // (as pprint prints it: keys sorted, one per line once the reply passes 80 columns)
    expect(r.stdout).toMatch(/ 'io-uring': \{\},\n 'lease': \{'ifindex': 3, 'netns-id': 0, 'queue': \{'id': 1, 'type': 'rx'\}\},\n 'napi-id': \d+,\n 'type': 'rx'\}/);
    const q = emu.queueStats('init', 'eth0');
    expect(q[15]!.rxPackets).toBe(100n);
    expect(emu.stats(emu.device('foo', 'nk0')).rxPackets).toBe(120n);
  });

  it('nkemu run: the notifier seed — after the NIC goes, ip a shows neither it nor the netkit device', async () => {
    const r = await runScript(emu, readFileSync(ROOT + 'examples/notifier.nk', 'utf8'), 'notifier.nk');
    expect(r.code).toBe(0);
    const parts = r.stdout.split(/(?=^1: lo)/m);
    // four `ip a` outputs: init and foo before, init and foo after
    expect(parts.slice(-4)[0]).toContain('eth0');
    expect(parts.slice(-4)[1]).toContain('nk@NONE');
    expect(parts.slice(-2).join('')).not.toMatch(/eth0|nk@/);
  });

  it('a failing script line stops the run with its location, like ip -batch', async () => {
    const r = await runScript(emu, 'ip netns add a\n# comment\n\nip link set nope up\nip netns add b\n', 's.nk');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Cannot find device "nope"\nCommand failed s.nk:4\n');
    expect(emu.hasNetns('b')).toBe(false);
  });
});

describe('ping and the tools\' own verbs', () => {
  it('ping -c 65537: the 16-bit ICMP sequence wraps (…65535, 0, 1) as iputils\' does: every reply counted once, no DUP', async () => {
    const r = await sh('ping -c 65537 127.0.0.1');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.includes('DUP'))).toEqual([]);
    expect(lines.filter((l) => / icmp_seq=(0|1|65535) /.test(l)).map((l) => l.match(/icmp_seq=(\d+)/)![1])).toEqual(['1', '65535', '0', '1']);
    expect(lines.at(-2)).toBe('65537 packets transmitted, 65537 received, 0% packet loss, time 65536000ms');
  }, 60_000);

  it('bad input names the tool and the argument: wire and pktgen without a device, nic add past 4096 receive queues, ynl --json that is no object', async () => {
    expect(await sh('wire')).toEqual({ stdout: '', stderr: 'wire: a device is required\n', code: 1 });
    expect(await sh('pktgen count 3')).toEqual({ stdout: '', stderr: 'pktgen: a device is required\n', code: 1 });
    expect(await sh('pktgen dev x frob 1')).toEqual({ stdout: '', stderr: "pktgen: unknown argument 'frob'\n", code: 1 });
    expect(await sh('nic add eth0 rxqueues 100000')).toEqual({ stdout: '', stderr: 'Error: Invalid number of receive queues.\n', code: 2 });
    for (const j of ['null', '[]', '3', '"x"']) {
      expect(await sh(`ynl --family netdev --dump queue-get --json '${j}'`)).toEqual({ stdout: '', stderr: `ynl: error: argument --json: not an attribute set: '${j}'\n`, code: 2 });
    }
  });
});

describe('the nkemu executable', () => {
  it.runIf(existsSync(ROOT + 'dist/src/cli/main.js'))('runs a command and a script; exit codes follow the tool', () => {
    const j = execFileSync('node', [ROOT + 'bin/nkemu.js', 'ip', '-j', 'link', 'show'], { encoding: 'utf8' });
    expect(JSON.parse(j)[0]).toMatchObject({ ifindex: 1, ifname: 'lo' });
    const bad = spawnSync('node', [ROOT + 'bin/nkemu.js', 'ip', 'link', 'del', 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('Cannot find device "nope"\n');
    const run = spawnSync('node', [ROOT + 'bin/nkemu.js', 'run', ROOT + 'examples/notifier.nk'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("{'id': 1}");
  });

  it.runIf(existsSync(ROOT + 'dist/src/cli/main.js'))('streams output line by line; SIGINT ends ping with its statistics (and a script with that line\'s status)', async () => {
    for (const args of [['ping', '-i', '0', '-c', '10000000', '127.0.0.1'], ['run', ROOT + 'test/cli/golden/long-ping.nk']]) {
      const child = spawn('node', [ROOT + 'bin/nkemu.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      // replies arrive while it runs: interrupt after a few
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.split('\n').filter((l) => l.includes('icmp_seq=')).length >= 3 && !child.killed) { child.kill('SIGINT'); resolve(); }
        });
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(err).toBe('');
      expect(code).toBe(0);
      const lines = out.trimEnd().split('\n');
      expect(lines[0]).toBe('PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.');
      const stats = lines.indexOf('--- 127.0.0.1 ping statistics ---');
      expect(stats).toBeGreaterThan(3);
      const sent = Number(lines[stats + 1]!.match(/^(\d+) packets transmitted, (\d+) received, 0% packet loss/)![1]);
      expect(sent).toBeGreaterThanOrEqual(3);
      expect(sent).toBeLessThan(10000000);
      expect(lines[stats + 2]).toMatch(/^rtt min\/avg\/max\/mdev = /);
      // the script stopped at the interrupted line: its next line never ran
      expect(out).not.toContain('net.ipv4.ip_forward');
    }
  }, 120_000);
});

describe('nkemu demo (npm start)', () => {
  it('runs every step and prints what each showed', async () => {
    const { demo } = await import('../../src/cli/demo.js');
    let out = '';
    expect(await demo((s) => { out += s; })).toBe(0);
    expect(out).toContain('3 packets transmitted, 3 received, 0% packet loss');
    expect(out).toContain('zcrx 1: nkg queue 1 -> eth0 queue 15: 64 frames received in its buffers');
    expect(out).toContain('unregistered in one batch: foo/nkg, init/nkh, init/eth0');
    expect(out).toMatch(/init\s+nk1\s+netkit.*BPF_DROP=100/);
  });
});
