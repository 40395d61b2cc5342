/**
 * Issue 23: a netkit or tcx list of programs that call nothing, have no loops and whose
 * every access the load-time checks proved runs on one module (codegen/list.ts): one
 * loop over a batch, each packet running the programs one after another. It must give
 * what running the list per packet gives (the interpreter's rig here), name no module
 * for lists it cannot take, step aside for per-program stats, and give its slot back.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { compileList, listable } from '../../src/ebpf/codegen/list.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import { Emulator } from '../../src/emulator.js';
import { udpPortParser } from '../../bench/parser.js';

/** Ethernet/IPv4/UDP behind a data_end check: DROP for `port`, else NEXT (the xmit bench's). */
const parser = udpPortParser;

/** Adds `k` to the mark (a context write the next program reads), NEXT. */
const marker = (k: number): string => `ldxw %r2, [%r1+8]\nadd %r2, ${k}\nstxw [%r1+8], %r2\nmov %r0, -1\nexit`;
/** PASS when the mark is `m` (what the programs before it left), else NEXT. */
const passOnMark = (m: number): string => `ldxw %r2, [%r1+8]\nmov %r0, -1\njne %r2, ${m}, +1\nmov %r0, 0\nexit`;
/** Calls bpf_trace_printk, which the dispatcher runs: no list module. */
const calls = 'call 6\nmov %r0, -1\nexit';
/** A bounded loop (NEXT after four turns): no list module. */
const loop = 'mov %r0, 0\nadd %r0, 1\njlt %r0, 4, -2\nmov %r0, -1\nexit';

const emus: Emulator[] = [];
afterEach(async () => { for (const e of emus.splice(0)) await e.close(); });

async function pair(jit: boolean, workers = 0): Promise<{ emu: Emulator; seen: string[] }> {
  const emu = await Emulator.create({ jit, seed: 3, workers });
  emus.push(emu);
  emu.addNetns('b');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'b' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('b', 'nk0', { up: true });
  const seen: string[] = [];
  emu.onReceive((dev, frame, meta) => { seen.push(`${dev.name} ${Buffer.from(frame).toString('hex')} mark ${meta.mark}`); });
  return { emu, seen };
}

function attach(emu: Emulator, texts: string[], where: 'netkit' | 'tcx' = 'netkit'): BpfProgram[] {
  return texts.map((t, k) => {
    const prog = emu.loadProgram({ name: `p${k}`, type: 'sched_cls', insns: assemble(t) });
    if (where === 'netkit') emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog });
    else emu.progAttach('b', { ifindex: emu.device('b', 'nk0').ifindex, attachType: 'tcx_ingress', prog });
    return prog;
  });
}

/** The list module slot the device record names for the list at `field` (0: none). */
function listSlot(emu: Emulator, ns: string, dev: string, field: number): number {
  const dv = emu.dp.view();
  const list = dv.getUint32(emu.dp.deviceRecord(emu.device(ns, dev).slot) + field, true);
  return list === 0 ? 0 : dv.getUint32(list + A.PGL_JIT, true);
}

/** UDP 10.0.0.1 → 10.0.0.2 to `port`, 64 bytes. */
function udp(port: number, i: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  f.set([0x45, 0, 0, 50, 0, i, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, port >> 8, port & 0xff], 14);
  return f;
}

/** The frames through nk1 (the list on its primary side, or nk0's tcx ingress): what arrived, and the counters. */
async function run(r: { emu: Emulator; seen: string[] }, fs: Uint8Array[]): Promise<string> {
  r.seen.length = 0;
  for (const f of fs) r.emu.transmit('init', 'nk1', f);
  await r.emu.settle();
  const stats = ['nk1', 'nk0'].map((d) => r.emu.stats(r.emu.device(d === 'nk1' ? 'init' : 'b', d)));
  return JSON.stringify({ seen: r.seen, stats }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

const frames = Array.from({ length: 150 }, (_, i) => udp([8080, 53, 9000, 7000][i % 4]!, i));

describe('a list of programs on one module (codegen/list.ts)', () => {
  it('eight parsers on netkit: one module, the verdicts and counters the interpreter gives', async () => {
    const texts = [8080, 1, 2, 3, 4, 5, 6, 53].map(parser);
    const c = await pair(true);
    const i = await pair(false);
    attach(c.emu, texts);
    attach(i.emu, texts);
    expect(listSlot(c.emu, 'init', 'nk1', A.D_PROGS)).not.toBe(0);
    expect(listSlot(i.emu, 'init', 'nk1', A.D_PROGS)).toBe(0);
    const a = await run(c, frames);
    expect(a).toBe(await run(i, frames));
    // (the frames to 8080 dropped by the first program, those to 53 by the last)
    expect(c.seen.length).toBe(frames.filter((f) => ![8080, 53].includes((f[36]! << 8) | f[37]!)).length);
  });

  it('on a dataplane worker: the worker installs the list\'s module and runs it, with the interpreter\'s results', async () => {
    const texts = [8080, 1, 2, 53].map(parser);
    const c = await pair(true, 1);
    const i = await pair(false);
    attach(c.emu, texts);
    attach(i.emu, texts);
    const slot = listSlot(c.emu, 'init', 'nk1', A.D_PROGS);
    expect(slot).not.toBe(0);
    await c.emu.settleJit();
    const pool = (c.emu as unknown as { syscall: { pool: { jitInstalled(slot: number): Promise<boolean[]> } } }).syscall.pool;
    expect(await pool.jitInstalled(slot)).toEqual([true]);
    expect(await run(c, frames)).toBe(await run(i, frames));
  });

  it('context writes reach the programs after them and the frame, on netkit and tcx', async () => {
    const texts = [marker(5), marker(7), passOnMark(12), marker(100)];
    for (const where of ['netkit', 'tcx'] as const) {
      const c = await pair(true);
      const i = await pair(false);
      attach(c.emu, texts, where);
      attach(i.emu, texts, where);
      expect(listSlot(c.emu, where === 'netkit' ? 'init' : 'b', where === 'netkit' ? 'nk1' : 'nk0', where === 'netkit' ? A.D_PROGS : A.D_TCX_INGRESS)).not.toBe(0);
      const a = await run(c, frames.slice(0, 20));
      expect(a).toBe(await run(i, frames.slice(0, 20)));
      // (the third program passes each frame: the fourth never runs)
      expect(c.seen.every((s) => s.endsWith('mark 12'))).toBe(true);
    }
  });

  it('programs with inline map lookups and updates (an object\'s, twice): one module, the maps as the interpreter leaves them', async () => {
    // A parser (NEXT but for 8080), then tc_counters.o's count (array and hash lookups, a
    // hash update, atomic adds; TC_ACT_OK ends the walk), then another count: never reached.
    const obj = readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url));
    const rigs = await Promise.all([true, false].map(async (jit) => {
      const r = await pair(jit);
      attach(r.emu, [parser(8080)]);
      const counts = [0, 1].map(() => {
        const o = r.emu.loadObject(obj, { programs: ['count'] });
        r.emu.progAttach('init', { ifindex: r.emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: o.programs.get('count')! });
        return o;
      });
      return { ...r, counts };
    }));
    const [c, i] = rigs;
    expect(listSlot(c!.emu, 'init', 'nk1', A.D_PROGS)).not.toBe(0);
    expect(await run(c!, frames)).toBe(await run(i!, frames));
    const maps = (r: typeof c): string => JSON.stringify(r!.counts.map((o) => ['proto_count', 'src_bytes'].map((m) => {
      const map = o.maps.get(m)!;
      return map.keys().map((k) => [Buffer.from(k).toString('hex'), Buffer.from(map.lookup(k) as Uint8Array).toString('hex')]);
    })));
    expect(maps(c)).toBe(maps(i));
    // (UDP is protocol 17: counted by the first count, for every frame the parser let through)
    const udpCount = c!.counts[0]!.maps.get('proto_count')!.lookup(new Uint8Array([17, 0, 0, 0])) as Uint8Array;
    expect(new DataView(udpCount.buffer, udpCount.byteOffset).getBigUint64(0, true)).toBe(BigInt(frames.filter((f) => ((f[36]! << 8) | f[37]!) !== 8080).length));
    expect(c!.counts[1]!.maps.get('src_bytes')!.keys()).toEqual([]);
  });

  it('no module for a list with a program that calls more than inline helpers, loops or has a check left at run time; the programs still run', async () => {
    const c = await pair(true);
    attach(c.emu, [parser(8080), loop]);
    expect(listSlot(c.emu, 'init', 'nk1', A.D_PROGS)).toBe(0);
    const i = await pair(false);
    attach(i.emu, [parser(8080), loop]);
    expect(await run(c, frames.slice(0, 8))).toBe(await run(i, frames.slice(0, 8)));
    // (what listable says of each shape)
    const verified = { batch: 'skb' as const, verified: true };
    const of = (t: string): string => { const insns = assemble(t); return listable(insns, { ...verified, proven: new Uint8Array(insns.length / 8).fill(1) }); };
    expect(of('call 12\nexit')).toBe('it calls more than plain helpers');
    expect(() => compileList([calls, calls].map((t) => ({ insns: assemble(t), o: { ...verified, proven: new Uint8Array(3).fill(1) } })))).toThrow(/program 0 of the list calls a helper outside its code/);
    expect(of('ldabsb 12\nexit')).toBe('legacy packet loads');
    const p1 = assemble(parser(1));
    expect(listable(p1, { batch: 'skb', verified: true, proven: new Uint8Array(p1.length / 8) })).toBe('the access at 0 is checked at run time');
    expect(listable(p1, { batch: 'skb', verified: true })).toBe('not verified with its proofs');
    expect(listable(assemble(parser(1)), { batch: 'xdp', verified: true })).toBe('not a tc program');
    // A loop: refused by compileList (the budget is tested once per batch, for runs of known length).
    const o = { batch: 'skb' as const, verified: true, proven: new Uint8Array(5) };
    expect(() => compileList([{ insns: assemble(loop), o }, { insns: assemble(loop), o }])).toThrow(/loops or subprograms/);
  });

  it('steps aside while per-program stats are on (each program counts its runs)', async () => {
    const c = await pair(true);
    const progs = attach(c.emu, [parser(1), parser(2), parser(8080)]);
    c.emu.setBpfStats(true);
    await run(c, frames.slice(0, 12));
    expect(progs.map((p) => c.emu.progStats(p).runCnt)).toEqual([12, 12, 12]);
    c.emu.setBpfStats(false);
    await run(c, frames.slice(0, 12));
    expect(progs.map((p) => c.emu.progStats(p).runCnt)).toEqual([12, 12, 12]);
  });

  it('one module for the records naming the list; its slot is given back once none does', async () => {
    const c = await pair(true);
    const before = c.emu.dp.jit.inUse.installed;
    const progs = attach(c.emu, [parser(1), parser(2)]);
    const slot = listSlot(c.emu, 'init', 'nk1', A.D_PROGS);
    expect(c.emu.dp.jit.inUse.installed).toBe(before + 3);
    // (a new record for the same list, the device going down and up: the same module)
    c.emu.setLink('init', 'nk1', { up: false });
    c.emu.setLink('init', 'nk1', { up: true });
    expect(listSlot(c.emu, 'init', 'nk1', A.D_PROGS)).toBe(slot);
    c.emu.progDetach('init', { ifindex: c.emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: progs[1]! });
    expect(listSlot(c.emu, 'init', 'nk1', A.D_PROGS)).toBe(0);
    await c.emu.settle();
    c.emu.dp.reclaim();
    expect(c.emu.dp.jit.inUse.installed).toBe(before + 2);
  });
});
