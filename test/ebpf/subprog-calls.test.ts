import { describe, expect, it } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { verify } from '../../src/ebpf/verifier.js';
import { Vm } from '../../src/ebpf/vm.js';
import { prng } from '../../src/emulator.js';
import { diffProgram } from '../helpers/entry-diff.js';
import { entryRigs } from '../helpers/entry-rigs.js';
import { frames, type ShapedType } from '../helpers/shaped-prog.js';

// A verified program's subprograms take the slim calling convention (codegen gen.ts `slim`:
// the arguments and the frame go in, r0 comes back; the caller's r1..r5 and r6..r9 are
// not handed over). These programs call subprograms that divide by constants and by
// variables (0 included), shift, use their own stack, clobber r6..r9, call one another,
// read the packet and call helpers (one moving the packet): every entry point agrees with
// the interpreter, and so does every budget that runs out inside a callee.

const DIVISORS = [1, 2, 3, 7, 10, 64, 97, 1000003, -1, -2, -7, 0x7fffffff, -0x80000000];
const BIG = ['0', '0xffffffff', '0x100000000', '0x8000000000000000', '0xffffffffffffffff', '0x9e3779b97f4a7c15', '0x7fffffffffffffff'];

/** A program of `type` whose main function calls mix64, mix32 and (sometimes) pkt from a loop. */
function callProgram(rnd: () => number, type: ShapedType): string {
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const D = type === 'xdp' ? 0 : 76, E = type === 'xdp' ? 4 : 80;
  const alu = (wide: boolean): string => {
    const op = pick(['div', 'mod', 'sdiv', 'smod', 'div', 'mod']);
    const sfx = wide ? '' : '32';
    if (rnd() < 0.6) return `${op}${sfx} %r0, ${pick(DIVISORS)}`;
    return `${op}${sfx} %r0, %r${pick([1, 2, 3])}`;
  };
  const main = [
    'mov %r6, %r1', `ldxw %r2, [%r6+${D}]`, `ldxw %r3, [%r6+${E}]`, 'mov %r0, 0',
    'mov %r4, %r2', 'add %r4, 16', 'jgt %r4, %r3, out',
    'ldxw %r7, [%r2+0]', 'ldxw %r8, [%r2+4]', 'ldxw %r9, [%r2+8]',
    'stxdw [%r10-8], %r7', 'mov %r5, 0', 'stxdw [%r10-16], %r5',
    'loop:',
    'mov %r1, %r7', 'mov %r2, %r8', 'mov %r3, %r9', `and %r3, ${pick([0, 3, 0xff, 0xffff])}`, `mov %r4, ${int(1000)}`, `lddw %r5, ${pick(BIG)}`,
    'call local mix64', 'xor %r7, %r0',
    'mov32 %r1, %r7', 'mov %r2, %r8', `and %r2, ${pick([0, 7, 0xff, -1])}`, 'mov %r3, %r9',
    'call local mix32', 'add %r8, %r0',
  ];
  const pkt = rnd() < 0.6;
  if (pkt) main.push('mov %r1, %r6', `mov %r2, ${int(40)}`, 'call local pkt', 'add %r9, %r0');
  main.push(
    'ldxdw %r5, [%r10-16]', 'add %r5, 1', 'stxdw [%r10-16], %r5', `jlt %r5, ${1 + int(6)}, loop`,
    'ldxdw %r5, [%r10-8]', 'add %r7, %r5', 'add %r7, %r8', 'add %r7, %r9', 'mov %r0, %r7', `and %r0, ${type === 'xdp' ? 3 : 1}`,
    'out:', 'exit',
  );
  const mix64 = ['mix64:', 'stxdw [%r10-8], %r1', 'mov %r6, %r1', 'mov %r0, %r1', 'lsh %r6, 13', 'xor %r0, %r6'];
  for (let k = 1 + int(4); k > 0; k--) mix64.push(alu(true), pick(['add %r0, %r6', 'xor %r0, %r1', 'mul %r0, 0x3b9aca07', 'rsh %r0, 7', 'arsh %r0, 3']));
  mix64.push('mov %r7, %r0', 'mov %r1, %r0', 'mov %r2, %r3', 'mov %r3, %r4', 'call local mix32', 'ldxdw %r6, [%r10-8]', 'add %r0, %r6', 'add %r0, %r7', 'exit');
  const mix32 = ['mix32:', 'mov32 %r0, %r1', 'mov %r6, %r3', 'and32 %r6, 15', 'mov32 %r8, %r2', 'lsh32 %r8, %r6', 'xor32 %r0, %r8'];
  for (let k = 1 + int(4); k > 0; k--) mix32.push(alu(false), pick(['add32 %r0, %r1', 'arsh32 %r0, 3', 'rsh32 %r0, %r6', 'mul32 %r0, 0x9e3779b9', 'xor32 %r0, %r2']));
  mix32.push('exit');
  const p = ['pkt:', 'mov %r6, %r1', 'mov %r7, %r2', 'mov %r0, 0'];
  if (type === 'sched_cls' && rnd() < 0.5) {
    // a helper (through the dispatcher) writing the callee's stack
    p.push('mov %r3, %r10', 'add %r3, -8', 'mov %r4, 4', 'call 26', 'jne %r0, 0, pout', 'ldxw %r0, [%r10-8]', 'pout:', 'exit');
  } else {
    if (type === 'xdp' && rnd() < 0.5) p.push(`mov %r2, ${pick([-4, 4, 14, 1000])}`, 'call 44', 'mov %r1, %r6', 'mov %r0, 0');
    p.push(`ldxw %r2, [%r1+${D}]`, `ldxw %r3, [%r1+${E}]`, 'add %r2, %r7', 'mov %r4, %r2', 'add %r4, 4', 'jgt %r4, %r3, pout', 'ldxw %r0, [%r2+0]', 'pout:', 'exit');
  }
  return [...main, ...mix64, ...mix32, ...(pkt ? p : [])].join('\n');
}

describe('bpf-to-bpf calls of a verified program (the slim calling convention)', () => {
  const rigs = entryRigs();

  it('agree with the interpreter on every entry point: run, batch, netkit xmit or tcx, NIC XDP', async () => {
    const rnd = prng(0x5c4e11);
    const stats: Record<string, number> = {};
    for (let k = 0; k < 60; k++) {
      const type: ShapedType = k % 2 ? 'xdp' : 'sched_cls';
      const asm = callProgram(rnd, type);
      const insns = assemble(asm);
      expect(() => verify(insns, { type }), asm).not.toThrow();
      const diff = await diffProgram(rigs.compiled, rigs.interp, k, type, insns, frames(rnd), stats, `${type} program:\n${asm}`);
      expect(diff).toBeUndefined();
    }
    expect(stats.verified).toBe(60);
  });

  it('agree with the interpreter on every budget that runs out inside a callee (and around it)', async () => {
    const { Dataplane } = await import('../../src/dataplane.js');
    const dp = await Dataplane.create({});
    const vm = new Vm(dp);
    try {
      const rnd = prng(0xb0d6e7);
      for (let k = 0; k < 6; k++) {
        // The packet-free part of the programs above: arithmetic calls on words of memory at r1.
        const asm = [
          'ldxdw %r7, [%r1+0]', 'ldxdw %r8, [%r1+8]', 'ldxdw %r9, [%r1+16]', 'stxdw [%r10-8], %r7', 'mov %r6, 0',
          'loop:', 'mov %r1, %r7', 'mov %r2, %r8', 'mov %r3, %r9', 'mov %r4, %r6', 'lddw %r5, 0x9e3779b97f4a7c15', 'call local f', 'xor %r7, %r0',
          // (h reads r5 on one path only: it takes five arguments)
          'mov %r1, %r7', 'and %r1, 0xff', 'mov %r2, %r8', 'mov %r5, %r9', 'call local h', 'add %r7, %r0', 'add %r6, 1', 'jlt %r6, 3, loop',
          'ldxdw %r0, [%r10-8]', 'add %r0, %r7', 'exit',
          'f:', 'stxdw [%r10-8], %r1', 'mov %r6, %r1', `div %r6, ${[97, 1000003, 7, 10, -1, 3][k]}`, 'mod %r1, %r2', 'mov %r0, %r6', 'add %r0, %r1', 'mul %r0, %r2', 'xor %r0, %r3', 'add %r0, %r4', 'xor %r0, %r5',
          'mov %r1, %r0', 'mov32 %r2, %r3', 'call local g', 'ldxdw %r6, [%r10-8]', 'add %r0, %r6', 'exit',
          'g:', 'mov32 %r0, %r1', 'div32 %r0, %r2', 'smod32 %r1, -1', `mod32 %r0, ${[7, 10, 1, 97, 0x7fffffff, 2][k]}`, 'add32 %r0, %r1', 'exit',
          'h:', 'jgt %r1, 100, big', 'mov %r0, %r2', 'exit', 'big:', 'mov %r0, %r5', 'mod %r0, 1000003', 'exit',
        ].join('\n');
        const prog = assemble(asm);
        const mem = new Uint8Array(24).map(() => Math.floor(rnd() * 256));
        if (k % 3 === 0) mem.fill(0, 8, 16); // (mod by 0)
        const info = dp.jit.compile(prog, { verified: true });
        expect(info.reason).toBe('');
        const m = dp.alloc(24);
        const at = vm.place(prog);
        try {
          const n = prog.length / 8;
          for (let budget = 1; budget <= 3 * 40 + n; budget++) {
            const runs = [0, info.slot].map((jit) => {
              dp.bytes().set(mem, m);
              dp.bytes().fill(0, vm.stack, vm.stack + A.VM_STACK_SIZE);
              const r = vm.run(at, n, { args: [m, 24], regions: [{ addr: m, len: 24, writable: true }], budget, jit });
              return { r0: r.fault ? null : r.r0, fault: r.fault, faultPc: r.fault ? r.faultPc : null, executed: r.executed };
            });
            expect(runs[1], `program ${k} budget ${budget}`).toEqual(runs[0]);
          }
        } finally {
          vm.release(at, prog);
          dp.release(m, 24);
          dp.jit.release(info.slot);
        }
      }
    } finally {
      vm.close();
    }
  });
});
