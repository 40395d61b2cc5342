/**
 * The rig of the bpf_fib_lookup live tests (test/ebpf/fib-live.test.ts for AF_INET,
 * fib6-live.test.ts for AF_INET6): one topology of `ip` lines applied to a veth pair in a
 * namespace the test creates and to a netkit pair (L2) in an emulator's init namespace;
 * the fixtures `fib_tc` (tunnel_fib.o) and `fib_xdp` run on both sides, in the kernel
 * inside that namespace (BPF_PROG_TEST_RUN looks up in the caller's) and in nkemu compiled
 * and on the interpreter; the struct comes back with its ifindex as a device name (the
 * two sides number devices differently).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { runCommand, runScript } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { fibArgs, fibPacket, objectFile } from '../fixtures/bpf/cases.js';
import { kernelRun, kernelUnavailableReason } from './kernel.js';

const DIR = new URL('../fixtures/bpf/', import.meta.url).pathname;
const need = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Why the live tests cannot run here (undefined when they can). */
export const fibLiveReason = (): string | undefined =>
  kernelUnavailableReason() ?? (!need('ip') ? 'ip is not installed' : !need('nsenter') ? 'nsenter is not installed' : undefined);

/** BPF_FIB_LOOKUP_* flags. */
export const F = { DIRECT: 1, OUTPUT: 2, SKIP_NEIGH: 4, TBID: 8, SRC: 16 };

/** `rc`: what the kernel must answer, where the case is there for that answer (BPF_FIB_LKUP_RET_*, -errno). */
export interface FibCase { name: string; dev?: string; src?: string; dst: string; flags?: number; totLen?: number; tbid?: number; tos?: number; pad?: number; rc?: number }

type Side = Record<string, number>;

/** `ip ARGS` on the host; throws with its stderr when it fails. */
export function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function devices(json: string): Side {
  return Object.fromEntries((JSON.parse(json) as { ifindex: number; ifname: string }[]).map((l) => [l.ifname, l.ifindex]));
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

export class FibRig {
  emu!: Emulator;
  private readonly ifindex: { kernel: Side; nkemu: Side } = { kernel: {}, nkemu: {} };

  /** `family`: 2 or 10 (the params' family); `forwardingKey`: the sysctl that turns forwarding on. */
  constructor(readonly ns: string, private readonly topology: readonly string[], private readonly family: 2 | 10, private readonly forwardingKey: string) {}

  async setup(): Promise<void> {
    ip(['netns', 'add', this.ns]);
    ip(['-n', this.ns, 'link', 'add', 'nka', 'type', 'veth', 'peer', 'name', 'nkb']);
    for (const line of this.topology) ip(['-n', this.ns, ...line.split(' ')]);
    this.ifindex.kernel = devices(spawnSync('ip', ['-n', this.ns, '-j', 'link', 'show'], { encoding: 'utf8' }).stdout);
    this.emu = await Emulator.create({});
    const r = await runScript(this.emu, ['ip link add nka type netkit mode l2 peer name nkb', ...this.topology.map((l) => `ip ${l}`)].join('\n'));
    expect(r.stderr).toBe('');
    this.ifindex.nkemu = devices((await runCommand(this.emu, ['ip', '-j', 'link', 'show'])).stdout);
  }

  async teardown(): Promise<void> {
    spawnSync('ip', ['netns', 'del', this.ns]);
    await this.emu?.close();
  }

  /** Forwarding on or off on both sides (the rig's sysctl key). */
  async forwarding(on: boolean): Promise<void> {
    const w = `${this.forwardingKey}=${on ? 1 : 0}`;
    ip(['netns', 'exec', this.ns, 'sysctl', '-qw', w]);
    expect((await runCommand(this.emu, ['sysctl', '-qw', w])).code).toBe(0);
  }

  /** The packet for one side: its ifindex for the case's device (lo's when none; 9999 when it has no such device). */
  private packet(c: FibCase, side: Side): Uint8Array {
    const dev = c.dev === undefined ? 1 : side[c.dev] ?? 9999;
    const a = this.family === 10
      ? fibArgs({ family: 10, ifindex: dev, src: c.src, dst: c.dst, totLen: c.totLen, tbid: c.tbid, tos: c.tos }, c.flags ?? 0)
      : fibArgs({ ifindex: dev, dst: c.dst, totLen: c.totLen, tbid: c.tbid }, c.flags ?? 0);
    return fibPacket(a, c.pad ?? 0);
  }

  /** Each case in the kernel and in nkemu (compiled and on the interpreter): the same return value and struct. */
  compare(program: 'fib_tc' | 'fib_xdp', cases: FibCase[]): void {
    const obj = DIR + objectFile(program === 'fib_tc' ? 'tunnel_fib' : 'fib_xdp', 'v3');
    const loaded = this.emu.loadObject(readFileSync(obj), { programs: [program] });
    const prog = loaded.programs.get(program)!;
    expect(prog.jit.slot, 'compiled').not.toBe(0);
    for (const c of cases) {
      const k = kernelRun(obj, program, this.packet(c, this.ifindex.kernel), 1, { netns: this.ns });
      const want = result(k.retval, k.dataOut, this.ifindex.kernel);
      if (c.rc !== undefined) expect(want.rc, `the kernel's answer to ${c.name}`).toBe(c.rc);
      for (const interpreter of [false, true]) {
        const r = this.emu.testRun(prog, { data: this.packet(c, this.ifindex.nkemu), interpreter });
        expect(r.fault, c.name).toBeNull();
        expect(result(r.retval, r.dataOut, this.ifindex.nkemu), `${program} ${c.name} (${interpreter ? 'interpreter' : 'compiled'})`).toEqual(want);
      }
    }
  }
}
