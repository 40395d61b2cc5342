import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap } from '../../src/ebpf/maps.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({});
});
afterEach(async () => {
  await emu.close();
});

const pkt = new Uint8Array(60).map((_, i) => (i === 12 ? 0x88 : i === 13 ? 0xb5 : 0));

/** r1 = ctx; tail_call(ctx, map, index); on failure return `fallback`. */
function caller(map: BpfMap, index: number, fallback: number): string {
  return `lddw %r2, ${map.record}\nmov %r3, ${index}\ncall 12\nmov %r0, ${fallback}\nexit`;
}

describe('bpf_tail_call and PROG_ARRAY', () => {
  it('jumps to the program in the slot; an empty slot or a bad index falls through', () => {
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });
    const target = emu.loadProgram({ name: 't', type: 'sched_cls', insns: assemble('mov %r0, 7\nexit') });
    const a = emu.loadProgram({ name: 'a', type: 'sched_cls', insns: assemble(caller(jmp, 1, 5)), maps: [jmp.record] });
    expect(emu.testRun(a, { data: pkt }).retval).toBe(5);
    emu.progArraySet(jmp, 1, target);
    expect(emu.testRun(a, { data: pkt }).retval).toBe(7);
    const b = emu.loadProgram({ name: 'b', type: 'sched_cls', insns: assemble(caller(jmp, 9, 6)), maps: [jmp.record] });
    expect(emu.testRun(b, { data: pkt }).retval).toBe(6);
    expect(() => emu.progArraySet(jmp, 4, target)).toThrow(expect.objectContaining({ errno: 'E2BIG' }));
  });

  it('compiled and interpreter agree on every index (in range, past the end, negative) with the slot empty and filled: the compiled fall-through inline', async () => {
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });
    const target = emu.loadProgram({ name: 't', type: 'sched_cls', insns: assemble('mov %r0, 7\nexit') });
    // (the index from the packet too: a value the code generator cannot see)
    const fromPacket = (fallback: number): string => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 15\njgt %r4, %r3, out\nldxb %r3, [%r2+14]\nlddw %r2, ${jmp.record}\ncall 12\nout:\nmov %r0, ${fallback}\nexit`;
    const progs = [
      ...[0, 1, 3, 4, 9, -1, 0x7fffffff].map((i) => emu.loadProgram({ name: `c${i}`, type: 'sched_cls', insns: assemble(caller(jmp, i, 5)), maps: [jmp.record], verify: false })),
      emu.loadProgram({ name: 'p', type: 'sched_cls', insns: assemble(fromPacket(6)), maps: [jmp.record], verify: false }),
    ];
    await emu.settleJit();
    let jumped = 0;
    for (const filled of [false, true]) {
      emu.progArraySet(jmp, 1, filled ? target : undefined);
      for (const p of progs) {
        for (const idx of [0, 1, 3, 4, 200]) {
          const data = pkt.slice();
          data[14] = idx;
          const [c, i] = [false, true].map((interpreter) => {
            const r = emu.testRun(p, { data, interpreter });
            return { retval: r.retval, fault: r.fault, executed: r.executed };
          });
          expect({ prog: p.name, filled, idx, ...c }).toEqual({ prog: p.name, filled, idx, ...i });
          if (c!.retval === 7) jumped++;
        }
      }
    }
    expect(progs.every((p) => p.jit.slot !== 0)).toBe(true);
    // (c1 on every packet and p on the packet with index 1, with the slot filled)
    expect(jumped).toBe(6);
  });

  it('a slot holds its program: closed, it lives on until the slot lets it go (replaced or emptied); a closed handle cannot go in (EBADF)', () => {
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });
    const a = emu.loadProgram({ name: 'a', type: 'sched_cls', insns: assemble(caller(jmp, 1, 5)), maps: [jmp.record] });
    const target = emu.loadProgram({ name: 't', type: 'sched_cls', insns: assemble('mov %r0, 7\nexit') });
    emu.progArraySet(jmp, 1, target);
    emu.closeProgram(target);
    expect(() => emu.progArraySet(jmp, 2, target)).toThrow(expect.objectContaining({ errno: 'EBADF' }));
    // new programs (and their records) come and go around it
    for (let i = 0; i < 8; i++) emu.closeProgram(emu.loadProgram({ name: `x${i}`, type: 'sched_cls', insns: assemble('mov %r0, 9\nexit') }));
    const other = emu.loadProgram({ name: 'o', type: 'sched_cls', insns: assemble('mov %r0, 8\nexit') });
    expect(emu.testRun(a, { data: pkt }).retval).toBe(7);
    expect(emu.bpf.prog(target.id)).toBe(target);
    emu.progArraySet(jmp, 1, other); // the slot lets `target` go: freed now
    expect(emu.bpf.prog(target.id)).toBeUndefined();
    expect(emu.testRun(a, { data: pkt }).retval).toBe(8);
    emu.progArraySet(jmp, 1, undefined);
    expect(emu.testRun(a, { data: pkt }).retval).toBe(5);
    expect(emu.bpf.prog(other.id)).toBe(other); // its handle is still open
  });

  it('a test run with repeat starts every repetition at the program it was given, on both engines', () => {
    // The tail call replaces the program, its regions and its maps in the run record; the
    // next repetition must not inherit them (it would not find the PROG_ARRAY among its maps).
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });
    const counter = new BpfMap(emu.dp, { name: 'cnt', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    const target = emu.loadProgram({
      name: 't', type: 'sched_cls', maps: [counter.record], regions: [{ addr: counter.values, len: 8, writable: true }],
      insns: assemble(`lddw %r1, ${counter.values}\nmov %r2, 1\nlock add [%r1+0], %r2\nmov %r0, 7\nexit`),
    });
    const a = emu.loadProgram({ name: 'a', type: 'sched_cls', insns: assemble(caller(jmp, 1, 5)), maps: [jmp.record] });
    emu.progArraySet(jmp, 1, target);
    for (const interpreter of [true, false]) {
      const r = emu.testRun(a, { data: pkt, repeat: 5, interpreter });
      expect(r.fault).toBeNull();
      expect(r.retval).toBe(7);
    }
    expect(counter.lookup(new Uint8Array(4))).toEqual(new Uint8Array([10, 0, 0, 0, 0, 0, 0, 0]));
  });

  it('at most 33 tail calls per run (MAX_TAIL_CALL_CNT), then it falls through', () => {
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    // counts its runs in cb[0] (a context field), then tail-calls itself
    const self = emu.loadProgram({
      // (reads r1 after the call, which the kernel's verifier refuses: loaded unverified)
      name: 'self', type: 'sched_cls', maps: [jmp.record], verify: false,
      insns: assemble(`ldxw %r2, [%r1+48]\nadd %r2, 1\nstxw [%r1+48], %r2\n${caller(jmp, 0, 0)}`.replace('mov %r0, 0\nexit', 'ldxw %r0, [%r1+48]\nexit')),
    });
    emu.progArraySet(jmp, 0, self);
    expect(emu.testRun(self, { data: pkt }).retval).toBe(34);
  });

  it('a program without the map among its maps cannot pass it (runtime fault, not a wild read)', () => {
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    const p = emu.loadProgram({ name: 'p', type: 'sched_cls', insns: assemble(caller(jmp, 0, 1)) });
    expect(emu.testRun(p, { data: pkt }).fault).toBe('helper');
  });
});
