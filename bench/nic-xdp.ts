/**
 * NIC XDP: pktgen on an emulated NIC's rx path (64 B, batch 64, inline) with no XDP
 * program, and with test/fixtures/bpf/xdp_filter.o attached (an allow/deny filter: hash
 * lookups by MAC, address and port, per-CPU counters; every frame passes), compiled and on
 * the interpreter. Ratios against no program. Both end in the stack's backlog (full: nothing
 * drains it here), so the difference is the XDP hook and the program.
 */

import { readFileSync } from 'node:fs';
import { Emulator } from '../src/emulator.js';
import { defineSuite, type BenchCase } from './runner.js';

interface Rig { emu: Emulator; slot: number; tmpl: number }
const rigs = new Map<string, Rig>();

/** A NIC with `xdp`: none, the filter compiled, or the filter on the interpreter. */
async function build(xdp: 'none' | 'compiled' | 'interpreter'): Promise<Rig> {
  const emu = await Emulator.create({ jit: xdp !== 'interpreter' });
  const eth0 = emu.addNic({ name: 'eth0', rxQueues: 1 });
  emu.setLink('init', 'eth0', { up: true });
  const src = [2, 0, 0, 0, 0, 9];
  if (xdp !== 'none') {
    const obj = emu.loadObject(readFileSync(new URL('../test/fixtures/bpf/xdp_filter.o', import.meta.url)), { programs: ['xdp_filter'] });
    obj.maps.get('allow_mac')!.update(new Uint8Array(src), new Uint8Array([1, 0, 0, 0]));
    obj.maps.get('deny_port')!.update(new Uint8Array([53, 0]), new Uint8Array([1, 0, 0, 0]));
    const p = obj.programs.get('xdp_filter')!;
    if (xdp === 'compiled' && p.jit.slot === 0) throw new Error(`xdp_filter not compiled: ${p.jit.reason}`);
    emu.setXdp('init', 'eth0', p);
  }
  const f = new Uint8Array(64);
  f.set([0x02, 0x56, 0x4d, 0, 0, 1, ...src, 0x08, 0x00], 0);
  f.set([0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x1f, 0x90], 14);
  const tmpl = emu.dp.alloc(64);
  emu.dp.bytes().set(f, tmpl);
  return { emu, slot: eth0.slot, tmpl };
}

interface Exports { pktgen(...a: number[]): number }

const cases: BenchCase[] = (['none', 'compiled', 'interpreter'] as const).map((xdp) => ({
  name: `nic rx 64B ${xdp === 'none' ? 'no XDP' : `xdp_filter ${xdp}`}`, metric: 'rate', unit: 'Mpps', higherIsBetter: true,
  ...(xdp === 'none' ? {} : { baseline: 'nic rx 64B no XDP' }),
  setup: async () => { if (!rigs.has(xdp)) rigs.set(xdp, await build(xdp)); },
  teardown: async () => { await rigs.get(xdp)?.emu.close(); rigs.delete(xdp); },
  run: () => {
    const { emu, slot, tmpl } = rigs.get(xdp)!;
    const ex = emu.dp.exports as unknown as Exports;
    let n = 0;
    for (let i = 0; i < 8; i++) n += ex.pktgen(0, slot, tmpl, 64, 1024, 64, 1, 0, 0x0008);
    return n;
  },
  value: (work, seconds) => work / seconds / 1e6,
}));

export default defineSuite({ name: 'nic-xdp', cases });
