/**
 * Random argument vectors for every tool (words from each tool's own vocabulary, device
 * names, addresses, numbers, garbage), run against one emulator with a topology: whatever
 * a user types, the answer is the tool's own error or output — never a stack trace, a host
 * error text or nkemu's internal-error line — and the exit code is a byte.
 * NKEMU_CLI_FUZZ sets the number of command lines (default 4,000), NKEMU_CLI_FUZZ_SEED the seed,
 * NKEMU_CLI_FUZZ_LOG=1 prints each line with its exit code and first error line.
 */
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator, prng } from '../../src/emulator.js';

const N = Number(process.env.NKEMU_CLI_FUZZ ?? 4000);
const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
const OBJECTS = readdirSync(FIX).filter((f) => f.endsWith('.o')).slice(0, 6).map((f) => FIX + f);

const COMMON = ['', '-', '--', 'x', 'abc', '0', '1', '2', '3', '-1', '4096', '65536', '1.5', '0x10', '1e3', 'nk0', 'nk1', 'eth0', 'lo', 'nosuch', 'foo', 'init',
  '10.0.0.1', '10.0.0.2/24', '10.0.0.0/8', '300.1.1.1', 'fe80::1/64', '::1', 'default', '02:00:00:00:00:01', 'zz:zz', 'help', 'null', '{}', '[]', '%', 'dev'];
const VOCAB: Record<string, string[]> = {
  ip: ['-j', '-p', '-d', '-s', '-n', '-br', '-o', '-4', '-6', '-a', 'link', 'l', 'addr', 'a', 'address', 'route', 'r', 'neigh', 'n', 'netns', 'show', 's', 'list', 'add', 'del', 'delete',
    'set', 'change', 'replace', 'flush', 'get', 'exec', 'up', 'down', 'type', 'netkit', 'veth', 'dummy', 'peer', 'name', 'mtu', 'via', 'metric', 'lladdr', 'nud', 'permanent',
    'reachable', 'xdp', 'obj', 'sec', 'off', 'numrxqueues', 'numtxqueues', 'mode', 'l2', 'l3', 'policy', 'pass', 'drop', 'blackhole', 'headroom', 'scrub', 'none', 'netns', 'index', 'table', 'main', 'all', 'master', 'src', 'from', 'to', 'oif'],
  bpftool: ['-j', '-p', '-d', 'prog', 'p', 'map', 'm', 'net', 'link', 'show', 'list', 'load', 'loadall', 'run', 'dump', 'lookup', 'update', 'delete', 'key', 'value', 'hex', 'id', 'pinned', 'name',
    'tag', 'attach', 'detach', 'data_in', 'ctx_in', 'repeat', 'type', 'xdp', 'tc', 'pinmaps', 'noexist', 'exist', 'any', 'netkit_primary', 'netkit_peer', 'before', 'after', 'replace',
    'tracelog', '/sys/fs/bpf/a', '/sys/fs/bpf/a/count', '/nonexistent.o', ...OBJECTS],
  ethtool: ['-h', '-l', '-L', '-x', '-X', '-n', '-N', '-u', '-U', '--show-ntuple', '--config-ntuple', '--version', 'combined', 'rx', 'start', 'equal', 'context', 'new', 'delete', 'rule',
    'flow-type', 'tcp4', 'udp4', 'ether', 'src-ip', 'dst-ip', 'src-port', 'dst-port', 'src', 'dst', 'action', 'loc'],
  ping: ['-c', '-i', '-s', '-t', '-Q', '-m', '-I', '-q', '-h', '-Z', '127.0.0.1', '10.0.0.2'],
  sysctl: ['-n', '-N', '-q', '-w', '-e', '-h', '-Z', 'net.ipv4.ip_forward', 'net/ipv4/ip_forward', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.forwarding=0', 'net.ipv4.nosuch', 'a=b'],
  ynl: ['--family', 'netdev', 'ethtool', '--do', '--dump', '--json', '--output-json', '-h', '--fam', '--d', '--multi', '--list-ops', '--list-families', '--spec', '--duration', 'x', '--dbg-small-recv', '--process-unknown', '--sleep=3', '--', 'queue-get', 'queue-create', '{"ifindex": 2}', '{"ifindex": "x"}', '{"ifindex": 2, "type": "rx", "id": 1}',
    '{"ifindex": 3, "type": "rx", "lease": {"ifindex": 2, "queue": {"type": "rx", "id": 15}}}', '{"lease": 1}',
    'null', '[1]', '"s"', '7', '{"ifindex": null}', '{"ifindex": 2, "id": -1, "type": "tx"}', '{"ifindex": 3, "type": "rx", "lease": null}'],
  nic: ['add', 'del', 'rxqueues', 'txqueues', 'address', 'eth1', 'eth2'],
  pktgen: ['dev', 'count', 'size', 'src', 'dst', 'sport', 'dport', 'flows', 'proto', 'tcp', 'udp', 'dst_mac'],
  wire: ['count', 'size', 'src', 'dst', 'sport', 'dport', 'flows', 'proto', 'tcp', 'dst_mac'],
  zcrx: ['bind', 'show', 'dev', 'queue', 'buffers'],
  xdpsock: ['-r', '-t', '-l', '-i', '-q', '-N', '-c', '-z', '-m', '-f', '-b', '-C', '-s', '-d', '--map', '--map-key', '--rxdrop', '--interface=eth0', '--queue=1', '&',
    '-x', '-Q', '-n', '-p', '-P', '-V', '-J', '-K', '-G', '-H', '-w', '-W', '-u', '-S', '-h', '--force', '--tx-vlan', '--tx', '-rtl', '-q1',
    '02:00:00:00:00:01', 'zz:00', '0xdeadbeef', 'MONOTONIC', 'FIFO', '70000', '-1', '3000'],
};

// Command lines of the shapes users type; the fuzz mutates them (a word replaced, dropped or
// added) so it reaches past the first keyword as often as it stops there.
const TEMPLATES: string[][] = [
  'ip link show', 'ip -j -d link show dev nk0', 'ip -s -s link show nk0', 'ip link add nk2 type netkit peer name nk3', 'ip link set nk0 down', 'ip link set nk1 netns foo',
  'ip link set dev nk0 mtu 1400', 'ip link del nk0', 'ip addr add 10.0.0.9/24 dev nk0', 'ip -br addr show', 'ip -4 -o addr show dev nk0', 'ip addr del 10.0.0.1/24 dev nk0',
  'ip addr flush dev nk0', 'ip route add 10.1.0.0/16 via 10.0.0.2', 'ip route show table main', 'ip route get 10.0.0.2', 'ip route del default', 'ip neigh add 10.0.0.7 lladdr 02:00:00:00:00:07 dev nk0',
  'ip neigh show dev nk0', 'ip neigh flush all', 'ip netns add bar', 'ip netns exec foo ip link show', 'ip -n foo addr show', 'ip netns list', 'ip link set eth0 xdp off',
  'bpftool prog show', 'bpftool -j prog show id 1', 'bpftool map show', 'bpftool map dump pinned /sys/fs/bpf/m/proto_count', 'bpftool map lookup pinned /sys/fs/bpf/m/src_bytes key 1 2 3 4',
  'bpftool map update pinned /sys/fs/bpf/m/src_bytes key 1 2 3 4 value 1 2 3 4 5 6 7 8 noexist', 'bpftool map delete pinned /sys/fs/bpf/m/src_bytes key hex 01 02 03 04',
  'bpftool prog run pinned /sys/fs/bpf/a/count data_in /nonexistent repeat 2', `bpftool prog load ${FIX}xdp_xsk.o /sys/fs/bpf/x type xdp`, 'bpftool net show', 'bpftool -j net show dev nk0',
  'bpftool net attach xdp pinned /sys/fs/bpf/x dev eth0', 'bpftool net detach xdp dev eth0', 'bpftool net attach netkit_primary pinned /sys/fs/bpf/a/count dev nk0', 'bpftool link show', 'bpftool prog tracelog',
  'ethtool -l eth0', 'ethtool -L eth0 combined 8', 'ethtool -x eth0 context 1', 'ethtool -X eth0 start 15 equal 1 context new', 'ethtool -X eth0 context 1 delete',
  'ethtool -N eth0 flow-type tcp4 dst-ip 10.0.0.2 dst-port 80 action 3 loc 5', 'ethtool -N eth0 flow-type ether dst 02:00:00:00:00:01 action 15', 'ethtool -n eth0 rule 5', 'ethtool -N eth0 delete 5',
  'ping -c 2 -i 0.2 -s 100 10.0.0.2', 'ping -c 1 -t 1 -Q 0x10 -m 7 -I nk0 10.0.0.2', 'ping -q -c 3 127.0.0.1', 'sysctl -w net.ipv4.ip_forward=1', 'sysctl -n net.ipv4.conf.all.forwarding',
  `ynl --family netdev --dump queue-get --json '{"ifindex": 2}'`, `ynl --family netdev --do queue-get --json '{"ifindex": 2, "type": "rx", "id": 1}'`,
  `ynl --family netdev --do queue-create --json '{"ifindex": 3, "type": "rx", "lease": {"ifindex": 2, "queue": {"type": "rx", "id": 15}}}'`, 'ynl --family netdev --output-json --dump queue-get',
  'nic add eth1 rxqueues 4 txqueues 2 address 02:00:00:00:00:09', 'nic del eth1', 'pktgen dev nk0 count 3 size 128 flows 2 proto tcp', 'wire eth0 count 2 dst_mac 02:00:00:00:00:01 dport 53',
  'zcrx bind dev nk0 queue 0 buffers 8', 'zcrx show', 'xdpsock -i eth0 -q 1 -r -d 1', 'xdpsock --interface=eth0 --queue=2 -t -C 4 -s 64', 'xdpsock -i eth0 -q 3 -l -c -b 16 -d 1',
].map(splitWords);

let emu: Emulator;
async function fresh(): Promise<void> {
  await emu?.close();
  emu = await Emulator.create({ seed: 11 });
  const r = await runScript(emu, [
    'nic add eth0 rxqueues 16', 'ip link set eth0 up', 'ip link add nk0 type netkit peer name nk1', 'ip link set nk0 up', 'ip link set nk1 up',
    'ip addr add 10.0.0.1/24 dev nk0', 'ip addr add 10.0.0.2/24 dev nk1', 'ip netns add foo', `bpftool prog loadall ${FIX}tc_counters.o /sys/fs/bpf/a pinmaps /sys/fs/bpf/m`,
  ].join('\n'));
  expect(r.stderr).toBe('');
}
beforeAll(fresh);
afterAll(async () => { await emu.close(); });

const HOST_TEXT = /TypeError|RangeError|ReferenceError|SyntaxError|Cannot read propert|is not a function|is not iterable|undefined|NaN|\[object |\bat \S+:\d+:\d+|ENOENT:|EACCES:|internal error/;

describe('every tool, random arguments', () => {
  it(`${N} command lines: the tools' own answers, never a host error or an internal error`, async () => {
    const rand = prng(Number(process.env.NKEMU_CLI_FUZZ_SEED ?? 2026));
    const pick = <T,>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
    const tools = Object.keys(VOCAB);
    const bad: string[] = [];
    for (let i = 0; i < N; i++) {
      if (i > 0 && i % 500 === 0) await fresh();
      let words: string[];
      if (rand() < 0.5) {
        const tool = pick(tools);
        words = [tool];
        const n = Math.floor(rand() * 7);
        for (let k = 0; k < n; k++) words.push(rand() < 0.7 ? pick(VOCAB[tool]!) : pick(COMMON));
      } else {
        // a template with one to three mutations (never the tool name)
        words = [...pick(TEMPLATES)];
        const vocab = VOCAB[words[0]!]!;
        for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) {
          // (the last word is most often a value: it is picked a third of the time)
          const at = rand() < 0.33 ? words.length - 1 : 1 + Math.floor(rand() * Math.max(1, words.length - 1));
          const word = rand() < 0.6 ? pick(vocab) : pick(COMMON);
          const how = rand();
          if (how < 0.5) words[at] = word; else if (how < 0.75) words.splice(at, 1); else words.splice(at, 0, word);
        }
      }
      const r = await runCommand(emu, words);
      if (process.env.NKEMU_CLI_FUZZ_LOG) console.log(r.code, JSON.stringify(words), r.stderr.split('\n')[0]);
      if (HOST_TEXT.test(r.stderr) || HOST_TEXT.test(r.stdout) || !Number.isInteger(r.code) || r.code < 0 || r.code > 255) {
        bad.push(`${JSON.stringify(words)} -> ${r.code}: ${(r.stderr + r.stdout).split('\n').filter((l) => HOST_TEXT.test(l))[0] ?? r.stderr.slice(0, 200)}`);
      }
    }
    await runCommand(emu, ['wait']);
    expect(bad.slice(0, 20)).toEqual([]);
  }, 600_000);
});
