/**
 * Per-program run statistics (run_cnt, run_time_ns) as the kernel keeps them: only while
 * kernel.bpf_stats_enabled is 1, one count per run of a program from a hook (per packet or
 * in a batch, on netkit, tcx and NIC XDP) and per repetition of a test run; a tail call's
 * target is not counted (the kernel's tail call jumps inside the run). Counts stay when the
 * sysctl goes back to 0. bpftool prints them only when run_time_ns is not 0.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { assemble } from '../../src/ebpf/assembler.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import { Emulator } from '../../src/emulator.js';
import { buildPacket } from '../../src/packet.js';

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

function udp(dst: Uint8Array = new Uint8Array(6)): Uint8Array {
  return buildPacket({ eth: { dst, src: '02:00:00:00:00:09' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport: 7 }, payload: new Uint8Array(8) });
}
const sh = (line: string) => runCommand(emu, splitWords(line));
const tc = (name: string, text: string): BpfProgram => emu.loadProgram({ name, type: 'sched_cls', insns: assemble(text) });
const xdp = (name: string, text: string): BpfProgram => emu.loadProgram({ name, type: 'xdp', insns: assemble(text) });
const cnt = (p: BpfProgram): number => emu.progStats(p).runCnt;

/** nk1 (primary, init) / nk0 (peer, foo), up, the peer dropping what it receives. */
async function pair(o: { jit?: boolean; workers?: number } = {}): Promise<number> {
  emu = await Emulator.create({ seed: 5, jit: o.jit ?? true, workers: o.workers ?? 0 });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('foo', 'nk0', { up: true });
  emu.setRxSink('foo', 'nk0', 'drop');
  return emu.device('init', 'nk1').ifindex;
}

describe('run_cnt and run_time_ns', () => {
  it('are off by default: nothing counted, bpftool prints neither; sysctl turns them on and off, counts stay', async () => {
    const nk1 = await pair();
    const p = tc('pass', 'mov %r0, 0\nexit');
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
    await emu.pktgen('init', 'nk1', udp(), { count: 100 });
    expect(emu.progStats(p)).toEqual({ runCnt: 0, runTimeNs: 0, recursionMisses: 0 });
    expect((await sh('bpftool prog show')).stdout).not.toContain('run_');
    expect(JSON.parse((await sh('bpftool -j prog show id 1')).stdout)).not.toHaveProperty('run_cnt');
    expect((await sh('sysctl kernel.bpf_stats_enabled')).stdout).toBe('kernel.bpf_stats_enabled = 0\n');
    expect((await sh('sysctl -w kernel.bpf_stats_enabled=1')).stdout).toBe('kernel.bpf_stats_enabled = 1\n');
    expect(emu.bpfStatsEnabled()).toBe(true);
    await emu.pktgen('init', 'nk1', udp(), { count: 100 });
    const on = emu.progStats(p);
    expect(on.runCnt).toBe(100);
    expect(on.runTimeNs).toBeGreaterThanOrEqual(100);
    const text = (await sh('bpftool prog show id 1')).stdout.split('\n')[0]!;
    expect(text).toMatch(new RegExp(`^1: sched_cls  name pass  tag [0-9a-f]{16}  gpl run_time_ns ${on.runTimeNs} run_cnt 100$`));
    // (JSON: right after gpl_compatible, as bpftool's show_prog_json)
    const j = JSON.parse((await sh('bpftool -j prog show id 1')).stdout) as Record<string, unknown>;
    expect(Object.keys(j).slice(4, 7)).toEqual(['gpl_compatible', 'run_time_ns', 'run_cnt']);
    expect(j).toMatchObject({ run_time_ns: on.runTimeNs, run_cnt: 100 });
    // Off again: the counts stay and stop.
    expect((await sh('sysctl -w kernel.bpf_stats_enabled=0')).code).toBe(0);
    await emu.pktgen('init', 'nk1', udp(), { count: 100 });
    expect(emu.progStats(p)).toEqual(on);
    // (0 or 1 only: proc_dointvec_minmax)
    const bad = await sh('sysctl -w kernel.bpf_stats_enabled=2');
    expect([bad.code, bad.stderr]).toEqual([1, 'sysctl: setting key "kernel.bpf_stats_enabled": Invalid argument\n']);
    expect(emu.bpfStatsEnabled()).toBe(false);
  });

  for (const jit of [true, false]) {
    it(`count every run on netkit lists, per packet and in batches, a list's later program only where it runs (${jit ? 'compiled' : 'interpreter'})`, async () => {
      const nk1 = await pair({ jit });
      emu.setBpfStats(true);
      const next = tc('next', 'mov %r0, -1\nexit');
      const pass = tc('pass', 'mov %r0, 0\nexit');
      const drop = tc('drop', 'mov %r0, 2\nexit');
      const after = tc('after', 'mov %r0, 0\nexit');
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: next });
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: pass });
      await emu.settleJit();
      await emu.pktgen('init', 'nk1', udp(), { count: 1000, batch: 64 });
      for (let i = 0; i < 37; i++) emu.transmit('init', 'nk1', udp());
      await emu.settle();
      expect([cnt(next), cnt(pass)]).toEqual([1037, 1037]);
      // A first program that drops: the second runs on nothing (VM_BATCH_SKIP's entries are not its runs).
      emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: next });
      emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: pass });
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: drop });
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: after });
      await emu.pktgen('init', 'nk1', udp(), { count: 300, batch: 64 });
      expect([cnt(drop), cnt(after)]).toEqual([300, 0]);
      // The peer's list runs for what comes the other way (xmit from nk0).
      const peer = tc('peer', 'mov %r0, 0\nexit');
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_peer', prog: peer });
      emu.setRxSink('init', 'nk1', 'drop');
      await emu.pktgen('foo', 'nk0', udp(), { count: 129, batch: 64 });
      expect(cnt(peer)).toBe(129);
    });
  }

  it('count NIC XDP and tcx runs (ingress from the wire, egress on xmit), per packet and in batches', async () => {
    emu = await Emulator.create({ seed: 6 });
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 4 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    emu.setBpfStats(true);
    const x = xdp('x', 'mov %r0, 2\nexit');
    const ing = tc('ing', 'mov %r0, 0\nexit');
    const eg = tc('eg', 'mov %r0, 0\nexit');
    emu.setXdp('init', 'eth0', x);
    emu.progAttach('init', { ifindex: eth0.ifindex, attachType: 'tcx_ingress', prog: ing });
    emu.progAttach('init', { ifindex: eth0.ifindex, attachType: 'tcx_egress', prog: eg });
    await emu.settleJit();
    const f = udp(eth0.mac);
    expect(await emu.pktgen('init', 'eth0', f, { count: 500 })).toBe(500);
    for (let i = 0; i < 11; i++) emu.wireIn('init', 'eth0', f);
    await emu.settle();
    expect([cnt(x), cnt(ing), cnt(eg)]).toEqual([511, 511, 0]);
    for (let i = 0; i < 9; i++) emu.transmit('init', 'eth0', f);
    await emu.settle();
    expect(cnt(eg)).toBe(9);
    // XDP_DROP: tcx sees nothing more.
    emu.setXdp('init', 'eth0', xdp('d', 'mov %r0, 1\nexit'));
    await emu.pktgen('init', 'eth0', f, { count: 64 });
    expect([cnt(x), cnt(ing)]).toEqual([511, 511]);
  });

  it('count each repetition of a test run (BPF_PROG_TEST_RUN), on either engine; not while off', async () => {
    emu = await Emulator.create({ seed: 7 });
    const p = tc('t', 'mov %r0, 0\nexit');
    const x = xdp('x', 'mov %r0, 2\nexit');
    await emu.settleJit();
    emu.testRun(p, { data: udp(), repeat: 5 });
    expect(cnt(p)).toBe(0);
    emu.setBpfStats(true);
    emu.testRun(p, { data: udp(), repeat: 5 });
    emu.testRun(p, { data: udp() });
    emu.testRun(p, { data: udp(), repeat: 200, interpreter: true });
    emu.testRun(x, { data: udp(), repeat: 1000 });
    expect([cnt(p), cnt(x)]).toEqual([206, 1000]);
    // bpftool prog run … repeat N adds N (repeat 0 runs once).
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-stats-'));
    writeFileSync(join(dir, 'in'), udp());
    expect((await sh(`bpftool prog run id ${x.id} data_in ${join(dir, 'in')} repeat 3`)).code).toBe(0);
    expect((await sh(`bpftool prog run id ${x.id} data_in ${join(dir, 'in')} repeat 0`)).code).toBe(0);
    expect(cnt(x)).toBe(1004);
  });

  it('count the program a hook runs, not the target of its tail call (as the kernel)', async () => {
    emu = await Emulator.create({ seed: 8 });
    const r = await runScript(emu, `bpftool prog loadall ${FIX}tail_root.o /sys/fs/bpf/t`);
    expect(r.stderr).toBe('');
    const byName = (n: string): BpfProgram => [...emu.bpf.progs.values()].find((p) => p.name === n)!;
    const root = byName('tail_root');
    const leaf = byName('tail_leaf');
    emu.setBpfStats(true);
    // TOS 1: the second tail call reaches tail_leaf (TC_ACT_PIPE, 3).
    const f = udp();
    f[15] = 1;
    const res = emu.testRun(root, { data: f, repeat: 7 });
    expect(res.retval).toBe(3);
    expect([cnt(root), cnt(leaf)]).toEqual([7, 0]);
    const nk = emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } })[0]!;
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('init', 'nk0', { up: true });
    emu.setRxSink('init', 'nk0', 'drop');
    emu.progAttach('init', { ifindex: nk.ifindex, attachType: 'netkit_primary', prog: root });
    await emu.settleJit();
    await emu.pktgen('init', 'nk1', f, { count: 70 });
    expect([cnt(root), cnt(leaf)]).toEqual([77, 0]);
  });

  it('count exactly with workers carrying the traffic (atomic adds on the shared record)', async () => {
    const nk1 = await pair({ workers: 2 });
    emu.setBpfStats(true);
    const p = tc('pass', 'mov %r0, 0\nexit');
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: p });
    await emu.settleJit();
    await Promise.all([emu.pktgen('init', 'nk1', udp(), { count: 20_000, batch: 64 }), emu.pktgen('foo', 'nk0', udp(), { count: 3 })]);
    await emu.settle();
    expect(cnt(p)).toBe(20_000);
  });
});
