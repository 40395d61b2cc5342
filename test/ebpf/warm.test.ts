import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { Emulator } from '../../src/emulator.js';
import { benchFrame } from '../../bench/frame.js';

// Loading a compiled program warms its batch code up (src/ebpf/codegen/jit.ts `warmBatch`:
// one call with every batch entry marked finished, on the loading thread's record and
// entries). It must leave no trace: the thread's whole BPF area (run record, entries, their
// contexts), the maps and the counters as they were, and the verdicts as without it.

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

const COUNT = `
ldxw %r2, [%r1+76]
ldxw %r3, [%r1+80]
mov %r4, %r2
add %r4, 42
jgt %r4, %r3, next
ldxb %r5, [%r2+23]
jne %r5, 17, next
mov %r0, 2
exit
next:
mov %r0, -1
exit`;

function bpfArea(e: Emulator): Uint8Array {
  const area = e.dp.view().getUint32(e.dp.thread(0).state + A.T_BPF, true);
  return e.dp.bytes().slice(area, area + A.BPF_AREA_SIZE);
}

describe('warm-up at load', () => {
  it('changes nothing the dataplane or a reader can see (tc and XDP, a list, a map-using object, a program with tail calls)', async () => {
    emu = await Emulator.create({ framesPerThread: 256 });
    const e = emu;
    const [p, q] = e.addLink({ ifname: 'w1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'w0' } } } });
    e.setLink('init', 'w1', { up: true });
    e.setLink('init', 'w0', { up: true });
    e.setRxSink('init', 'w0', 'drop');
    const first = e.loadProgram({ name: 'first', type: 'sched_cls', insns: assemble(COUNT) });
    expect(first.jit.slot).not.toBe(0);
    e.progAttach('init', { ifindex: p!.ifindex, attachType: 'netkit_primary', prog: first });
    const tmpl = e.dp.alloc(64);
    e.dp.bytes().set(benchFrame(64), tmpl);
    const ex = e.dp.exports as unknown as { pktgen(...a: number[]): number };
    // A partial batch: entries past it keep what the batch before left.
    ex.pktgen(0, p!.slot, tmpl, 64, 100, 64, 1, 0, 0x0008);
    const stats = (): string => JSON.stringify([e.stats(p!), e.stats(q!)], (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const before = bpfArea(e);
    const statsBefore = stats();
    const loaded = [
      e.loadProgram({ name: 'second', type: 'sched_cls', insns: assemble(`mov %r0, 7${COUNT}`) }),
      e.loadProgram({ name: 'x', type: 'xdp', insns: assemble('mov %r0, 2\nexit') }),
    ];
    const obj = e.loadObject(readFileSync(`${FIX}xdp_filter.o`), { programs: ['xdp_filter'] });
    loaded.push(obj.programs.get('xdp_filter')!);
    const tail = e.loadObject(readFileSync(`${FIX}tail_root.o`));
    loaded.push(...tail.programs.values());
    for (const prog of loaded.slice(0, 3)) expect(prog.jit.slot, prog.name).not.toBe(0);
    expect(bpfArea(e)).toEqual(before);
    expect(stats()).toBe(statsBefore);
    // (array maps hold their zeroed elements from the start, hash maps none)
    for (const [name, m] of obj.maps) {
      for (const k of m.keys()) expect([m.lookup(k) ?? []].flat().every((v) => v.every((b) => b === 0)), name).toBe(true);
    }
    // The list, now two programs, gives the verdicts it gave with one (the first drops UDP).
    e.progAttach('init', { ifindex: p!.ifindex, attachType: 'netkit_primary', prog: loaded[0]! });
    ex.pktgen(0, p!.slot, tmpl, 64, 100, 64, 1, 0, 0x0008);
    expect(e.stats(p!).dropReasons.BPF_DROP).toBe(200n);
    expect(e.stats(q!).rxPackets).toBe(0n);
  });
});
