import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { buildPacket } from '../../src/packet.js';
import { REASON_STACK } from '../../src/trace/trace.js';

// The IPv6 stack's drop reasons held to this machine's kernel: host a — router r — host b
// (veth here, netkit L2 in nkemu), DAD and link-local addresses off. Each frame is sent raw
// from a (an AF_PACKET socket) to r; the kernel's skb:kfree_skb tracepoint (tracefs,
// filtered to IPv6) names the function and reason, nkemu's trace the same. The tracepoint
// sees the whole machine: the kernel's events must include nkemu's one (other drops, such
// as a's own drop of the ICMPv6 error r sends back, or noise from elsewhere, may be there).

const P = `nkemu-dr-${process.pid}`;
const [NA, NR, NB] = ['a', 'r', 'b'].map((n) => `${P}-${n}`) as [string, string, string];
const T = '/sys/kernel/tracing';
/** Whether this test mounted tracefs (it unmounts it after). */
let mounted = false;
function why(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const t of ['ip', 'python3']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed`;
  if (!existsSync(`${T}/events`)) mounted = spawnSync('mount', ['-t', 'tracefs', 'nodev', T]).status === 0;
  if (!existsSync(`${T}/events/skb/kfree_skb`)) return 'no tracefs skb:kfree_skb';
  return undefined;
}
const reason = why();
/**
 * The kernel build the function names were read on: where the drop happens is the function
 * that frees the skb, and which functions a build inlines varies between 6.18 builds. On
 * another build the reason must still match; a different function is reported, not failed.
 */
const NAMED_ON = '6.18.44-fc-v1272';
function held(kernel: string[], ours: string[]): void {
  const [where, why] = ours[0]!.split(' ') as [string, string];
  if (release() === NAMED_ON || kernel.includes(ours[0]!)) {
    expect(kernel).toContain(ours[0]);
    return;
  }
  expect(kernel.map((l) => l.split(' ')[1])).toContain(why);
  console.warn(`drop6-live: kernel ${release()} frees it in ${kernel.filter((l) => l.endsWith(` ${why}`)).map((l) => l.split(' ')[0]).join(', ')}, nkemu names ${where} (read on ${NAMED_ON})`);
}
const sh = (c: string): string => execFileSync('sh', ['-c', c], { encoding: 'utf8' });

function topology(a: string, r: string, b: string, kind: string): string[] {
  return [
    `ip -n ${a} link add va address 02:00:00:00:00:0a type ${kind} peer name ra address 02:00:00:00:00:01 netns ${r}`,
    `ip -n ${b} link add vb type ${kind} peer name rb netns ${r}`,
    ...[[a, 'va'], [r, 'ra'], [r, 'rb'], [b, 'vb']].flatMap(([n, d]) => [`ip -n ${n} link set ${d} addrgenmode none`, `ip -n ${n} link set ${d} up`]),
    `ip -n ${a} -6 addr add 2001:db8:a::1/64 dev va nodad`, `ip -n ${r} -6 addr add 2001:db8:a::fe/64 dev ra nodad`,
    `ip -n ${r} -6 addr add 2001:db8:b::fe/64 dev rb nodad`, `ip -n ${b} -6 addr add 2001:db8:b::1/64 dev vb nodad`,
    `ip -n ${r} link set rb mtu 1280`,
  ];
}

const RA = '02:00:00:00:00:01';
const v6 = (o: { src?: string; dst?: string; hop?: number; next?: number; dmac?: string; payload?: Uint8Array | string; udp?: number; tcp?: boolean; icmp?: { type: number | 'echo-request'; code?: number; id?: number; seq?: number } }): Uint8Array =>
  buildPacket({
    eth: { dst: o.dmac ?? RA, src: '02:00:00:00:00:0a' },
    ipv6: { src: o.src ?? '2001:db8:a::1', dst: o.dst ?? '2001:db8:a::fe', hopLimit: o.hop, nextHeader: o.next },
    ...(o.udp !== undefined ? { udp: { sport: 40000, dport: o.udp } } : {}), ...(o.tcp ? { tcp: { sport: 1, dport: 80 } } : {}),
    ...(o.icmp ? { icmp: o.icmp } : {}), payload: o.payload ?? 'abcdefgh',
  });
const flip = (f: Uint8Array, at: number): Uint8Array => { const g = f.slice(); g[at] ^= 0xff; return g; };
const TARGET_R = new Uint8Array([0x20, 1, 0xd, 0xb8, 0, 0xa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe]);
const TARGET_X = TARGET_R.map((b, i) => (i === 15 ? 0x77 : b));

/** Name, frame, and whether r forwards. */
const CASES: [string, Uint8Array, boolean][] = [
  ['other host', v6({ dmac: '02:00:00:00:00:99' }), false],
  ['truncated', ((f) => { f[19] += 8; return f; })(v6({})), false],
  ['version 4', ((f) => { f[14] = 0x45; return f; })(v6({})), false],
  ['short header', v6({}).slice(0, 44), false],
  ['to ::1', v6({ dst: '::1' }), false],
  ['multicast source', v6({ src: 'ff02::1' }), false],
  ['scope 0 multicast', v6({ dst: 'ff00::1', dmac: '33:33:00:00:00:01' }), false],
  ['interface-local multicast', v6({ dst: 'ff01::1', dmac: '33:33:00:00:00:01' }), false],
  ['group not joined', v6({ dst: 'ff02::1234', dmac: '33:33:00:00:12:34' }), false],
  ['not forwarding', v6({ dst: '2001:db8:b::1' }), false],
  ['no route, not forwarding', v6({ dst: '2001:db8:c::1' }), false],
  ['unknown next header', v6({ next: 253 }), false],
  ['tcp, no socket', v6({ tcp: true, payload: '' }), false],
  ['udp, no socket', v6({ udp: 9 }), false],
  ['udp checksum', flip(v6({ udp: 9 }), 60), false],
  ['icmpv6 checksum', flip(v6({ icmp: { type: 'echo-request', id: 7, seq: 1 }, payload: 'x' }), 56), false],
  ['NS hop limit 64', v6({ hop: 64, icmp: { type: 135 }, payload: TARGET_R }), false],
  ['NS code 1', v6({ hop: 255, icmp: { type: 135, code: 1 }, payload: TARGET_R }), false],
  ['NS for another host', v6({ hop: 255, icmp: { type: 135 }, payload: TARGET_X }), false],
  // extension headers before UDP to port 9 (no socket): skipped, or the packet dropped where the kernel drops it
  ...([
    ['hop-by-hop, PadN', 0, [17, 0, 1, 4, 0, 0, 0, 0]],
    ['hop-by-hop, unknown option 00 (skip)', 0, [17, 0, 0x3e, 4, 0, 0, 0, 0]],
    ['hop-by-hop, unknown option 01 (drop)', 0, [17, 0, 0x7e, 4, 0, 0, 0, 0]],
    ['hop-by-hop, unknown option 10 (parameter problem)', 0, [17, 0, 0xbe, 4, 0, 0, 0, 0]],
    ['hop-by-hop, unknown option 11', 0, [17, 0, 0xfe, 4, 0, 0, 0, 0]],
    ['hop-by-hop longer than the packet', 0, [17, 1, 1, 4, 0, 0, 0, 0]],
    ['destination options, PadN', 60, [17, 0, 1, 4, 0, 0, 0, 0]],
    ['destination options, unknown option 10', 60, [17, 0, 0xbe, 4, 0, 0, 0, 0]],
    ['hop-by-hop after destination options', 60, [0, 0, 1, 4, 0, 0, 0, 0]],
    ['routing type 0, no segments left', 43, [17, 0, 0, 0, 0, 0, 0, 0]],
    ['routing type 4 (segment routing, off)', 43, [17, 0, 4, 0, 0, 0, 0, 0]],
    ['routing type 2, a segment left', 43, [17, 2, 2, 1, 0, 0, 0, 0, 0x20, 1, 0xd, 0xb8, 0, 0xa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x55]],
    ['atomic fragment', 44, [17, 0, 0, 0, 0, 0, 0, 1]],
    ['no next header', 59, []],
  ] as [string, number, number[]][]).map(([name, next, hdr]): [string, Uint8Array, boolean] =>
    [name, v6({ next, payload: new Uint8Array([...hdr, ...(next === 59 ? [] : [0x9c, 0x40, 0, 9, 0, 8, 0, 0])]) }), false]),
  ['hop limit 1', v6({ dst: '2001:db8:b::1', hop: 1 }), true],
  ['too big', v6({ dst: '2001:db8:b::1', payload: new Uint8Array(1300) }), true],
  ['no route', v6({ dst: '2001:db8:c::1' }), true],
];

let emu: Emulator;
/** tracing_on as the test found it. */
let tracingOn = '1';
beforeAll(async () => {
  if (reason) return;
  for (const n of [NA, NR, NB]) sh(`ip netns add ${n}`);
  for (const l of topology(NA, NR, NB, 'veth')) sh(l);
  emu = await Emulator.create({});
  expect((await runScript(emu, ['ip netns add a', 'ip netns add b', 'ip netns add r', ...topology('a', 'r', 'b', 'netkit mode l2')].join('\n'))).stderr).toBe('');
  emu.tracer.enable();
  // (let the kernel's MLD reports and the like pass before tracing)
  sh('sleep 1');
  tracingOn = readFileSync(`${T}/tracing_on`, 'utf8').trim();
  sh(`echo 'protocol == 0x86dd' > ${T}/events/skb/kfree_skb/filter; echo 1 > ${T}/events/skb/kfree_skb/enable; echo 1 > ${T}/tracing_on`);
});
afterAll(async () => {
  if (reason) return;
  spawnSync('sh', ['-c', `echo 0 > ${T}/events/skb/kfree_skb/enable; echo 0 > ${T}/events/skb/kfree_skb/filter; echo ${tracingOn} > ${T}/tracing_on`]);
  if (mounted) spawnSync('umount', [T]);
  for (const n of [NA, NR, NB]) spawnSync('ip', ['netns', 'del', n]);
  await emu?.close();
});

/** The kernel's and nkemu's events for `frame` sent from a to r. */
async function run(frame: Uint8Array): Promise<{ kernel: string[]; ours: string[] }> {
  sh(`echo > ${T}/trace`);
  execFileSync('ip', ['netns', 'exec', NA, 'python3', '-c',
    `import socket\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind(('va',0));s.send(bytes.fromhex('${Buffer.from(frame).toString('hex')}'))`]);
  sh('sleep 0.2');
  const kernel = sh(`grep -v '^#' ${T}/trace || true`).split('\n').filter(Boolean)
    .map((l) => /location=([A-Za-z0-9_.]+)\+\S+ reason: (\S+)/.exec(l)).filter((m) => m !== null).map((m) => `${m![1]} ${m![2]}`);
  emu.tracer.drain();
  emu.transmit('a', 'va', frame);
  await emu.settle();
  const rId = emu.netns('r').id;
  const ours = emu.tracer.drain().filter((e) => e.reason === REASON_STACK && e.netns === rId).map((e) => `${e.hook} ${e.reasonName}`);
  return { kernel, ours };
}

describe.skipIf(reason)(`IPv6 drop reasons against this machine's kernel${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('UDP with a zero checksum to a bound socket (no_check6_rx off): refused, UDP_CSUM', async () => {
    const srv = spawn('ip', ['netns', 'exec', NR, 'python3', '-c',
      "import socket,time\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);s.bind(('::',9));print('up',flush=True);time.sleep(10)"]);
    await new Promise<void>((res) => srv.stdout.once('data', () => res()));
    const s9 = emu.stack('r').udp6Bind({ port: 9 });
    try {
      await runScript(emu, 'ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=0');
      const zero = v6({ udp: 9 });
      zero[60] = 0; zero[61] = 0;
      const { kernel, ours } = await run(zero);
      expect(ours).toEqual(['__udp6_lib_rcv UDP_CSUM']);
      held(kernel, ours);
    } finally {
      srv.kill();
      s9.close();
    }
  });

  it.each(CASES)('%s', async (_name, frame, forwarding) => {
    const fwd = forwarding ? 1 : 0;
    sh(`ip netns exec ${NR} sysctl -qw net.ipv6.conf.all.forwarding=${fwd}`);
    await runScript(emu, `ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=${fwd}`);
    const { kernel, ours } = await run(frame);
    expect(ours).toHaveLength(1);
    held(kernel, ours);
  });
});
