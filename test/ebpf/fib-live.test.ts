import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { fibArgs, fibPacket, objectFile } from '../fixtures/bpf/cases.js';
import { kernelRun, kernelUnavailableReason } from '../helpers/kernel.js';

// bpf_fib_lookup's forwarding answers (the gateway as ipv4_dst, smac/dmac, the egress
// ifindex, rt_metric, the MTU checks, NO_NEIGH, the local table, the egress-side filter,
// prefsrc, tables by id) side by side with this machine's kernel on one topology: in a
// namespace this test creates, a veth pair; in nkemu's init namespace, a netkit pair
// (L2); both with the same addresses, MACs, MTUs, routes and neighbours. The kernel runs
// the program inside that namespace (BPF_PROG_TEST_RUN looks up in the caller's). The
// struct comes back with its ifindex as a device name (the two sides number differently).

const NS = `nkemu-fib-${process.pid}`;
const DIR = new URL('../fixtures/bpf/', import.meta.url).pathname;
const need = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const reason = kernelUnavailableReason() ?? (!need('ip') ? 'ip is not installed' : !need('nsenter') ? 'nsenter is not installed' : undefined);

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

const F = { DIRECT: 1, OUTPUT: 2, SKIP_NEIGH: 4, TBID: 8, SRC: 16 };

/** `rc`: what the kernel must answer, where the case is there for that answer (BPF_FIB_LKUP_RET_*, -errno). */
interface Case { name: string; dev?: string; dst: string; flags?: number; totLen?: number; tbid?: number; pad?: number; rc?: number }

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

type Side = Record<string, number>;
let emu: Emulator;
const ifindex: { kernel: Side; nkemu: Side } = { kernel: {}, nkemu: {} };

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function devices(json: string): Side {
  return Object.fromEntries((JSON.parse(json) as { ifindex: number; ifname: string }[]).map((l) => [l.ifname, l.ifindex]));
}

beforeAll(async () => {
  if (reason) return;
  ip(['netns', 'add', NS]);
  ip(['-n', NS, 'link', 'add', 'nka', 'type', 'veth', 'peer', 'name', 'nkb']);
  for (const line of TOPOLOGY) ip(['-n', NS, ...line.split(' ')]);
  ifindex.kernel = devices(spawnSync('ip', ['-n', NS, '-j', 'link', 'show'], { encoding: 'utf8' }).stdout);
  emu = await Emulator.create({});
  const r = await runScript(emu, ['ip link add nka type netkit mode l2 peer name nkb', ...TOPOLOGY.map((l) => `ip ${l}`)].join('\n'));
  expect(r.stderr).toBe('');
  ifindex.nkemu = devices((await runCommand(emu, ['ip', '-j', 'link', 'show'])).stdout);
});

afterAll(async () => {
  if (reason) return;
  spawnSync('ip', ['netns', 'del', NS]);
  await emu?.close();
});

async function forwarding(on: boolean): Promise<void> {
  const w = `net.ipv4.ip_forward=${on ? 1 : 0}`;
  ip(['netns', 'exec', NS, 'sysctl', '-qw', w]);
  expect((await runCommand(emu, ['sysctl', '-qw', w])).code).toBe(0);
}

/** The packet for one side: its ifindex for the case's device (lo's when none; 9999 when it has no such device). */
function packet(c: Case, side: Side): Uint8Array {
  const dev = c.dev === undefined ? 1 : side[c.dev] ?? 9999;
  return fibPacket(fibArgs({ ifindex: dev, dst: c.dst, totLen: c.totLen, tbid: c.tbid }, c.flags ?? 0), c.pad ?? 0);
}

/** What the run returned: the return value and the struct, its ifindex named. */
function result(retval: number, data: Uint8Array, side: Side): { retval: number; rc: number; dev: string; params: string } {
  const out = data.subarray(42 + 72, 42 + 72 + 72);
  const v = new DataView(out.buffer, out.byteOffset);
  const index = v.getUint32(8 + 8, true);
  const params = Buffer.from(out.subarray(8, 72));
  params.fill(0, 8, 12);
  return { retval, rc: Number(v.getBigInt64(0, true)), dev: Object.entries(side).find(([, i]) => i === index)?.[0] ?? String(index), params: params.toString('hex') };
}

function compare(program: 'fib_tc' | 'fib_xdp', cases: Case[]): void {
  const obj = DIR + objectFile(program === 'fib_tc' ? 'tunnel_fib' : 'fib_xdp', 'v3');
  const loaded = emu.loadObject(readFileSync(obj), { programs: [program] });
  const prog = loaded.programs.get(program)!;
  expect(prog.jit.slot, 'compiled').not.toBe(0);
  for (const c of cases) {
    const k = kernelRun(obj, program, packet(c, ifindex.kernel), 1, { netns: NS });
    const want = result(k.retval, k.dataOut, ifindex.kernel);
    if (c.rc !== undefined) expect(want.rc, `the kernel's answer to ${c.name}`).toBe(c.rc);
    for (const interpreter of [false, true]) {
      const r = emu.testRun(prog, { data: packet(c, ifindex.nkemu), interpreter });
      expect(r.fault, c.name).toBeNull();
      expect(result(r.retval, r.dataOut, ifindex.nkemu), `${program} ${c.name} (${interpreter ? 'interpreter' : 'compiled'})`).toEqual(want);
    }
  }
}

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
