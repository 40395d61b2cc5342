/**
 * Issue 18: compiled code relies on the load-time checks' verdicts. Where the checks prove
 * a memory access in bounds on every path (VerifyResult.provenAccesses), the generated
 * code has no run-time check for it, in every function and entry; where they do not (a
 * pointer whose kind a join of paths lost, a variable offset, a program loaded unverified),
 * it keeps the check. The differential fuzzing (entry-fuzz.test.ts) holds the compiled
 * code to the interpreter on every entry point with these proofs in use.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/ebpf/assembler.js';
import { verify } from '../../src/ebpf/verifier.js';
import { Emulator } from '../../src/emulator.js';

const proven = (src: string, type: 'sched_cls' | 'xdp' = 'sched_cls'): number[] => {
  const p = verify(assemble(src), { type }).provenAccesses;
  return [...p.keys()].filter((pc) => p[pc] === 1);
};

describe('the checks prove accesses in bounds (provenAccesses)', () => {
  it('context fields, the packet inside its checked range and the stack, at constant offsets', () => {
    const src = [
      'ldxw %r2, [%r1+76]', // 0 ctx
      'ldxw %r3, [%r1+80]', // 1 ctx
      'stdw [%r10-8], 0', // 2 stack
      'mov %r4, %r2', // 3
      'add %r4, 14', // 4
      'jgt %r4, %r3, out', // 5
      'ldxb %r0, [%r2+13]', // 6 packet, inside 14
      'ldxh %r5, [%r2+12]', // 7 packet
      'stxb [%r2+0], %r5', // 8 packet write
      'ldxdw %r5, [%r10-8]', // 9 stack
      'stxw [%r1+8], %r5', // 10 ctx write (mark)
      'exit', // 11
      'out:',
      'mov %r0, 0',
      'exit',
    ].join('\n');
    expect(proven(src)).toEqual([0, 1, 2, 6, 7, 8, 9, 10]);
    // xdp: data and data_end are at 0 and 4.
    expect(proven('ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 2\njgt %r4, %r3, +2\nldxh %r0, [%r2+0]\nexit\nmov %r0, 2\nexit', 'xdp')).toEqual([0, 1, 5]);
  });

  it('not where a join of paths lost the pointer kind (the ctx or the stack), nor through a variable offset', () => {
    // r3 is the context on one path, the stack on the other: both in bounds, each on its path; nkemu joined them.
    const joined = ['stdw [%r10-8], 0', 'ldxw %r0, [%r1+8]', 'mov %r3, %r10', 'add %r3, -8', 'jeq %r0, 0, +1', 'mov %r3, %r1', 'ldxw %r0, [%r3+0]', 'exit'].join('\n');
    expect(proven(joined)).toEqual([0, 1]);
    // A packet pointer moved by a masked byte: the checks prove it (range), but not at a constant offset.
    const variable = ['ldxw %r2, [%r1+76]', 'ldxw %r3, [%r1+80]', 'mov %r4, %r2', 'add %r4, 64', 'jgt %r4, %r3, out',
      'ldxb %r5, [%r2+0]', 'and %r5, 15', 'add %r2, %r5', 'mov %r4, %r2', 'add %r4, 1', 'jgt %r4, %r3, out', 'ldxb %r0, [%r2+0]', 'exit',
      'out:', 'mov %r0, 0', 'exit'].join('\n');
    expect(proven(variable)).toEqual([0, 1, 5]);
  });

  it('map value reads and writes at constant offsets inside the value, after the NULL check (two lookups joined too); not a read-only map\'s, not past the value', () => {
    // r0 = lookup(map 0, &key); on NULL a second lookup; both paths join at the accesses.
    const src = [
      'stw [%r10-4], 7', // 0 stack
      'mov %r2, %r10', // 1
      'add %r2, -4', // 2
      'lddw %r1, 0', // 3 (map 0)
      'call 1', // 5
      'jne %r0, 0, hit', // 6
      'mov %r2, %r10', // 7
      'add %r2, -4', // 8
      'lddw %r1, 0', // 9 (map 0)
      'call 1', // 11
      'jeq %r0, 0, out', // 12
      'hit:',
      'ldxdw %r1, [%r0+0]', // 13 read
      'add %r1, 1', // 14
      'stxdw [%r0+0], %r1', // 15 write
      'stw [%r0+12], 1', // 16 write, the value's last 4 bytes
      'ldxdw %r3, [%r0+12]', // 17 past the value's 16 bytes (refused)
      'out:',
      'mov %r0, 0', // 18
      'exit', // 19
    ];
    const prog = (text: string[]): Uint8Array => {
      const p = assemble(text.join('\n'));
      for (const pc of [3, 9]) p[pc * 8 + 1] = (p[pc * 8 + 1]! & 0x0f) | (1 << 4); // BPF_PSEUDO_MAP_FD
      return p;
    };
    const map = (rdonly: boolean) => [{ kind: 'other' as const, keySize: 4, valueSize: 16, maxEntries: 4, type: 1, rdonly }];
    const ok = src.filter((l) => l !== 'ldxdw %r3, [%r0+12]');
    const pcs = (p: Uint8Array): number[] => [...p.keys()].filter((pc) => p[pc] === 1);
    // (5 and 11: the lookups, their keys on the stack)
    expect(pcs(verify(prog(ok), { type: 'sched_cls', maps: map(false) }).provenAccesses)).toEqual([0, 5, 11, 13, 15, 16]);
    expect(() => verify(prog(src), { type: 'sched_cls', maps: map(false) })).toThrow(/outside of the allowed memory range/);
    // A read-only map's lookup is untyped (the kernel may know its values): nothing proven past the stack (and the keys there).
    expect(pcs(verify(prog(ok), { type: 'sched_cls', maps: map(true) }).provenAccesses)).toEqual([0, 5, 11]);
  });

  it('an array value for a key nkemu did not follow is a value after its NULL check; for a key the kernel knows is no constant, a value or NULL', () => {
    const map = [{ kind: 'array' as const, keySize: 4, valueSize: 16, maxEntries: 4, type: 2, rdonly: false }];
    const prog = (text: string[]): Uint8Array => {
      const p = assemble(text.join('\n'));
      p[5 * 8 + 1] = (p[5 * 8 + 1]! & 0x0f) | (1 << 4); // BPF_PSEUDO_MAP_FD (the lddw at 5)
      return p;
    };
    const pcs = (p: Uint8Array): number[] => [...p.keys()].filter((pc) => p[pc] === 1);
    // The key: 1 or 2 as two paths leave it (joined: nkemu follows neither constant; the kernel may).
    const joinedKey = ['ldxw %r3, [%r1+8]', 'mov %r4, 1', 'jeq %r3, 0, +1', 'mov %r4, 2', 'stxw [%r10-4], %r4', 'lddw %r1, 0',
      'mov %r2, %r10', 'add %r2, -4', 'call 1'];
    // (pc 4: the key's store; 9: the lookup; 11: the value's read)
    expect(pcs(verify(prog([...joinedKey, 'jeq %r0, 0, +1', 'ldxw %r0, [%r0+12]', 'exit']), { type: 'sched_cls', maps: map }).provenAccesses)).toEqual([0, 4, 9, 11]);
    // No NULL check: untyped (the kernel may know the key in range), checked when it runs.
    expect(pcs(verify(prog([...joinedKey, 'ldxw %r0, [%r0+12]', 'exit']), { type: 'sched_cls', maps: map }).provenAccesses)).toEqual([0, 4, 9]);
    // After the check, past the value: refused, as the kernel refuses it.
    expect(() => verify(prog([...joinedKey, 'jeq %r0, 0, +1', 'ldxw %r0, [%r0+13]', 'exit']), { type: 'sched_cls', maps: map })).toThrow(/outside of the allowed memory range/);
    // The key straight from a ctx field (no constant to the kernel either): a value or NULL, a dereference before the check refused.
    const ctxKey = ['ldxw %r3, [%r1+8]', 'mov %r4, %r3', 'mov %r5, 0', 'mov %r5, 0', 'stxw [%r10-4], %r4', 'lddw %r1, 0', 'mov %r2, %r10', 'add %r2, -4', 'call 1'];
    expect(() => verify(prog([...ctxKey, 'ldxw %r0, [%r0+12]', 'exit']), { type: 'sched_cls', maps: map })).toThrow(/invalid mem access 'map_value_or_null'/);
    expect(pcs(verify(prog([...ctxKey, 'jeq %r0, 0, +1', 'ldxw %r0, [%r0+12]', 'exit']), { type: 'sched_cls', maps: map }).provenAccesses)).toEqual([0, 4, 9, 11]);
  });

  it('an object\'s program: what its checks proved with the maps typed (map value reads and writes) runs unchecked too', async () => {
    const emu = await Emulator.create({});
    try {
      // xdp_filter: accesses to its per-CPU counters' values besides the context, packet and
      // stack accesses the relocated image's checks prove (those alone: 34 in `run`, 32 in
      // the batch loop), and the map keys and values its lookups and update read (on the
      // stack, and the destination address in the packet).
      const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_filter.o', import.meta.url)), { programs: ['xdp_filter'] });
      expect(obj.programs.get('xdp_filter')!.jit.unchecked).toEqual({ run: 53, batch: 51 });
    } finally {
      await emu.close();
    }
  });

  it('loaded: the compiled code leaves the proven accesses unchecked in `run` and subprograms; unverified (verify: false of a refused program), it checks them', async () => {
    const emu = await Emulator.create({});
    try {
      // main: its stack around a call of a subprogram that reads the context it is passed and its own stack.
      const src = ['stdw [%r10-8], 5', 'call local sub', 'ldxdw %r2, [%r10-8]', 'add %r0, %r2', 'exit',
        'sub:', 'ldxw %r0, [%r1+8]', 'stdw [%r10-8], 1', 'ldxdw %r3, [%r10-8]', 'add %r0, %r3', 'exit'].join('\n');
      const p = emu.loadProgram({ name: 's', type: 'sched_cls', insns: assemble(src) });
      expect(p.jit.slot).not.toBe(0);
      // (the subprogram's three and main's two; a stack pointer passed to a subprogram is
      // untyped there, as nkemu's checks follow it: such accesses keep their check)
      expect(p.jit.unchecked!.run).toBe(5);
      expect(emu.testRun(p, { data: new Uint8Array(14) }).retval).toBe(6);
      // The same instructions plus one the checks refuse (a read of r7 never written), loaded unverified: nothing is proven.
      const q = emu.loadProgram({ name: 'u', type: 'sched_cls', insns: assemble(`mov %r0, %r7\n${src}`), verify: false });
      expect(q.jit.unchecked!.run).toBe(0);
      for (const interpreter of [false, true]) expect(emu.testRun(q, { data: new Uint8Array(14), interpreter }).retval).toBe(6);
    } finally {
      await emu.close();
    }
  });
});
