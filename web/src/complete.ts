/**
 * Tab completion for the console: the tool (first word), its subcommands, and then
 * device names (after `dev`, or where `ip link` takes one), namespace names (after
 * `-n`, `netns exec`, `netns del`), and files (object paths for bpftool).
 */

export interface CompletionWorld {
  namespaces: string[];
  /** Device names per namespace ("init" included). */
  devices: Map<string, string[]>;
  files: string[];
  scenarios: string[];
}

export const TOOLS = ['ip', 'ping', 'pktgen', 'wire', 'nic', 'ethtool', 'ynl', 'zcrx', 'sysctl', 'bpftool', 'xdpsock', 'wait', 'help', 'clear', 'reset', 'scenario'];

/** Subcommands, by the words before them. */
const SUB: Record<string, string[]> = {
  ip: ['link', 'address', 'route', 'netns', 'neighbour', '-n', '-s', '-d', '-j', '-br'],
  'ip link': ['add', 'set', 'show', 'del', 'help'],
  'ip address': ['add', 'del', 'show', 'flush'],
  'ip addr': ['add', 'del', 'show', 'flush'],
  'ip a': ['add', 'del', 'show'],
  'ip route': ['add', 'del', 'show', 'get'],
  'ip netns': ['add', 'del', 'list', 'exec', 'set', 'list-id'],
  'ip link add': ['type', 'name', 'peer', 'mode', 'numrxqueues', 'netns'],
  'ip link set': [],
  nic: ['add', 'del'],
  zcrx: ['bind', 'show'],
  sysctl: ['-w', 'net.ipv4.ip_forward=1', 'kernel.bpf_stats_enabled'],
  ynl: ['--family', 'netdev', '--do', 'queue-create', 'queue-get', '--dump', '--json'],
  ethtool: ['-l', '-L', '-x', '-X', '-n', '-N', '-S', '-i', '-h'],
  bpftool: ['prog', 'map', 'link', 'net', 'btf', 'version', 'help', '-j', '-p'],
  'bpftool prog': ['show', 'list', 'dump', 'pin', 'load', 'loadall', 'attach', 'detach', 'tracelog', 'run', 'help'],
  'bpftool prog dump': ['xlated', 'jited'],
  'bpftool map': ['show', 'list', 'dump', 'update', 'lookup', 'getnext', 'delete', 'pin', 'create', 'help'],
  'bpftool net': ['show', 'list', 'attach', 'detach', 'help'],
  'bpftool net attach': ['xdp', 'xdpdrv', 'netkit_primary', 'netkit_peer', 'tcx_ingress', 'tcx_egress'],
  'bpftool net detach': ['xdp', 'xdpdrv', 'netkit_primary', 'netkit_peer', 'tcx_ingress', 'tcx_egress'],
  'bpftool link': ['show', 'list'],
  pktgen: ['dev', 'count', 'size', 'dst', 'dport', 'flows'],
  wire: ['count', 'dst', 'dport', 'proto', 'flows', 'dst_mac'],
  xdpsock: ['-i', '-q', '-r', '-t', '-l', '-N', '-S', '-z', '-c', '--map', '--map-key', '-h'],
};

/** What to complete: `prefix` is the line up to the word being completed. */
export function complete(line: string, w: CompletionWorld): { prefix: string; choices: string[] } {
  const m = /^(.*?)(\S*)$/s.exec(line)!;
  const prefix = m[1]!;
  const word = m[2]!;
  let words = prefix.trim() === '' ? [] : prefix.trim().split(/\s+/);
  // `ip netns exec NS CMD...` and `ip -n NS ...`: the rest is a command in NS.
  let ns = 'init';
  for (let i = 0; i + 3 < words.length + 1; i++) {
    if (words[i] === 'ip' && words[i + 1] === 'netns' && words[i + 2] === 'exec' && words[i + 3] !== undefined) {
      ns = words[i + 3]!;
      words = words.slice(i + 4);
      i = -1;
    }
  }
  const n = words.indexOf('-n');
  if (n >= 0 && words[n + 1]) { ns = words[n + 1]!; words = [...words.slice(0, n), ...words.slice(n + 2)]; }
  const pick = (all: string[]): { prefix: string; choices: string[] } => ({ prefix, choices: [...new Set(all)].filter((c) => c.startsWith(word)).sort() });
  const last = words[words.length - 1];
  const devs = w.devices.get(ns) ?? [];
  if (words.length === 0) return pick(TOOLS);
  if (last === '-n' || (words.length >= 2 && words[words.length - 2] === 'netns' && ['exec', 'del'].includes(last!)) || (last === 'netns' && words[1] !== undefined && words[1] !== 'netns')) return pick(w.namespaces);
  if (last === 'dev' || last === '-i' || last === '-I' || (words[0] === 'ethtool' && /^-[a-zA-Z]$/.test(last!)) || (words[0] === 'nic' && last === 'del')) return pick(devs);
  if (words[0] === 'ip' && /^(link|l)$/.test(words[1] ?? '') && ['set', 'show', 'del'].includes(words[2] ?? '') && words.length === 3) return pick(devs);
  if (words[0] === 'bpftool' && ['loadall', 'load'].includes(last!)) return pick(w.files);
  if (words[0] === 'wire' && words.length === 1) return pick(devs);
  if (words[0] === 'scenario') return pick(w.scenarios);
  const key = words.join(' ');
  if (SUB[key]) return pick(SUB[key]!);
  const tool = words[0]!;
  if (SUB[tool] && !['ip', 'bpftool'].includes(tool)) return pick(SUB[tool]!);
  return pick(devs);
}
