/**
 * NIC XDP: pktgen on an emulated NIC's rx path (64 B, batch 64, inline) with no XDP
 * program, and with one attached: test/fixtures/bpf/xdp_deny_port.o's xdp_pass (returns
 * XDP_PASS: the hook's own cost) and xdp_deny_port (a typical one-lookup filter: Ethernet,
 * IPv4 and UDP parsed behind a data_end check, the destination port looked up in a hash deny
 * list), and xdp_filter.o (an allow/deny filter: hash lookups by MAC, address and port,
 * per-CPU counters), compiled, and xdp_filter on the interpreter. Every frame passes. Ratios
 * against no program. All end in the stack's backlog (full: nothing drains it here), so the
 * difference is the XDP hook and the program.
 */

import { readFileSync } from 'node:fs';
import { Emulator } from '../src/emulator.js';
import { defineSuite, type BenchCase } from './runner.js';

interface Rig { emu: Emulator; slot: number; tmpl: number }
const rigs = new Map<string, Rig>();

type Xdp = 'none' | 'pass' | 'deny_port' | 'filter' | 'filter-interpreter';
const NAMES: Record<Xdp, string> = {
  none: 'no XDP', pass: 'xdp_pass compiled', deny_port: 'xdp_deny_port compiled',
  filter: 'xdp_filter compiled', 'filter-interpreter': 'xdp_filter interpreter',
};

/** A NIC with `xdp` attached (none, or one of the programs, compiled or on the interpreter). */
async function build(xdp: Xdp): Promise<Rig> {
  const emu = await Emulator.create({ jit: xdp !== 'filter-interpreter' });
  const eth0 = emu.addNic({ name: 'eth0', rxQueues: 1 });
  emu.setLink('init', 'eth0', { up: true });
  const src = [2, 0, 0, 0, 0, 9];
  if (xdp !== 'none') {
    const filter = xdp === 'filter' || xdp === 'filter-interpreter';
    const name = filter ? 'xdp_filter' : `xdp_${xdp}`;
    const obj = emu.loadObject(readFileSync(new URL(`../test/fixtures/bpf/${filter ? 'xdp_filter' : 'xdp_deny_port'}.o`, import.meta.url)), { programs: [name] });
    if (filter) {
      obj.maps.get('allow_mac')!.update(new Uint8Array(src), new Uint8Array([1, 0, 0, 0]));
      obj.maps.get('deny_port')!.update(new Uint8Array([53, 0]), new Uint8Array([1, 0, 0, 0]));
    } else if (xdp === 'deny_port') {
      obj.maps.get('deny_ports')!.update(new Uint8Array([0, 53]), new Uint8Array([1]));
    }
    const p = obj.programs.get(name)!;
    if (xdp !== 'filter-interpreter' && p.jit.slot === 0) throw new Error(`${name} not compiled: ${p.jit.reason}`);
    emu.setXdp('init', 'eth0', p);
  }
  // UDP 10.0.0.1:12345 → 10.0.0.2:8080 (allowed source MAC, no address or port denied)
  const f = new Uint8Array(64);
  f.set([0x02, 0x56, 0x4d, 0, 0, 1, ...src, 0x08, 0x00], 0);
  f.set([0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x1f, 0x90], 14);
  const tmpl = emu.dp.alloc(64);
  emu.dp.bytes().set(f, tmpl);
  return { emu, slot: eth0.slot, tmpl };
}

interface Exports { pktgen(...a: number[]): number }

const cases: BenchCase[] = (['none', 'pass', 'deny_port', 'filter', 'filter-interpreter'] as const).map((xdp) => ({
  name: `nic rx 64B ${NAMES[xdp]}`, metric: 'rate', unit: 'Mpps', higherIsBetter: true,
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
