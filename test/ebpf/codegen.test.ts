import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { Dataplane } from '../../src/dataplane.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { CodegenError, codegenMap, compileProgram } from '../../src/ebpf/codegen/compile.js';
import { JitTable } from '../../src/ebpf/codegen/jit.js';
import { decode } from '../../src/ebpf/insn.js';
import { Vm, type VmResult } from '../../src/ebpf/vm.js';
import { Emulator, prng } from '../../src/emulator.js';
import { parseCase as parse } from '../helpers/conformance.js';
import { longProgram, randomProgram } from '../helpers/random-prog.js';
import { sharedDir } from '../helpers/shared.js';

// Differential testing (issue: the compiler agrees with the interpreter everywhere): every
// conformance case and the fuzz corpus run on both engines from the same memory, and must
// give the same r0, fault, fault pc, executed-instruction count and memory afterwards.

const ROOT = sharedDir('conformance/ebpf/tests');
const N = Number(process.env.NKEMU_FUZZ ?? 3000);

let dp: Dataplane;
let vm: Vm;
// (without workers this thread alone runs eBPF: atomics compile to plain loads and stores;
// `multi`, a dataplane with a worker slot, gets atomic instructions)
let multi: { dp: Dataplane; vm: Vm };
beforeAll(async () => {
  dp = await Dataplane.create({});
  vm = new Vm(dp);
  const m = await Dataplane.create({ workers: 1 });
  multi = { dp: m, vm: new Vm(m) };
});
afterAll(() => { vm.close(); multi.vm.close(); });


interface Outcome { r0: bigint | null; fault: string | null; faultPc: number | null; executed: bigint; mem: string; stack: string }

/**
 * Runs `prog` on the interpreter and on its compiled code (slot `jit`), each from `mem`
 * and a zeroed stack, at the same addresses.
 */
function both(prog: Uint8Array, jit: number, mem: Uint8Array, extra: { budget?: number; args?: (m: number) => number[]; on?: { dp: Dataplane; vm: Vm } } = {}): [Outcome, Outcome] {
  const { dp: d, vm: v } = extra.on ?? { dp, vm };
  const at = v.place(prog);
  const m = d.alloc(Math.max(mem.length, 8));
  const hex = (a: number, n: number): string => Buffer.from(d.bytes().subarray(a, a + n)).toString('hex');
  const one = (slot: number): Outcome => {
    d.bytes().set(mem, m);
    d.bytes().fill(0, v.stack, v.stack + 4096);
    const r: VmResult = v.run(at, prog.length / 8, {
      args: extra.args ? extra.args(m) : [m, mem.length], regions: mem.length ? [{ addr: m, len: mem.length, writable: true }] : [],
      budget: extra.budget, jit: slot,
    });
    return {
      r0: r.fault ? null : r.r0, fault: r.fault, faultPc: r.fault ? r.faultPc : null, executed: r.executed,
      mem: hex(m, mem.length), stack: createHash('sha1').update(d.bytes().subarray(v.stack, v.stack + 4096)).digest('hex'),
    };
  };
  try {
    return [one(0), one(jit)];
  } finally {
    v.release(at, prog);
    d.release(m, Math.max(mem.length, 8));
  }
}

describe('the compiler agrees with the interpreter', () => {
  it.skipIf(!ROOT)('on every conformance case (r0, fault, fault pc, executed count, memory), with one thread running eBPF (atomics as plain operations) and with workers (atomic instructions)', () => {
    const files = readdirSync(ROOT!).filter((f) => f.endsWith('.data')).sort();
    const diffs: string[] = [];
    let compiled = 0;
    for (const f of files) for (const on of [{ dp, vm }, multi]) {
      const c = parse(readFileSync(ROOT! + f, 'utf8'));
      const prog = assemble(c.asm!);
      const info = on.dp.jit.compile(prog);
      if (info.slot === 0) { diffs.push(`${f}: not compiled (${info.reason})`); continue; }
      compiled++;
      const mem = c.mem ?? new Uint8Array(0);
      const [a, b] = both(prog, info.slot, mem, { on });
      on.dp.jit.release(info.slot);
      try {
        expect(b).toEqual(a);
      } catch {
        diffs.push(`${f}: interpreter ${JSON.stringify(a, big)} compiled ${JSON.stringify(b, big)}`);
      }
    }
    expect(diffs).toEqual([]);
    expect(compiled).toBe(files.length * 2);
  });

  it('a dataplane without workers compiles atomics as plain operations (this thread alone runs eBPF), one with workers as atomic instructions', () => {
    const p = assemble('mov %r0, 1\nstxdw [%r10-8], %r0\nlock fetch add [%r10-8], %r0\nlock add [%r10-8], %r0\nexit');
    const plain = compileProgram(p, { oneThread: true }).bytes.length;
    const atomic = compileProgram(p).bytes.length;
    expect(plain).not.toBe(atomic);
    for (const [on, len] of [[{ dp, vm }, plain], [multi, atomic]] as const) {
      const info = on.dp.jit.compile(p);
      expect(info.bytes).toBe(len);
      on.dp.jit.release(info.slot);
    }
  });

  it(`on ${N} random programs (faults included), and compiled code never traps`, () => {
    const rnd = prng(0xc0de);
    let compiled = 0;
    const refused: Record<string, number> = {};
    const faults: Record<string, number> = {};
    for (let k = 0; k < N; k++) {
      const prog = randomProgram(rnd);
      const mem = new Uint8Array(256).map(() => Math.floor(rnd() * 256));
      // (every other one on the dataplane with workers: atomic instructions)
      const on = k % 2 === 0 ? { dp, vm } : multi;
      let info;
      try {
        info = on.dp.jit.compile(prog);
      } catch (e) {
        throw new Error(`case ${k}: the compiler threw ${(e as Error).message}`);
      }
      if (info.slot === 0) {
        const why = info.reason.replace(/^insn \d+: /, '').replace(/\d+/g, 'N');
        refused[why] = (refused[why] ?? 0) + 1;
        continue;
      }
      compiled++;
      const args = (m: number): number[] => [m, 256, on.vm.stack + 4000, 0, m + 128];
      // Every third case on a budget that runs out early: the budget fault, or the
      // access fault the budget still paid for, at the interpreter's instruction.
      const budget = k % 3 === 2 ? 1 + Math.floor(rnd() * 40) : 10_000;
      const [a, b] = both(prog, info.slot, mem, { budget, args, on });
      on.dp.jit.release(info.slot);
      faults[a.fault ?? 'none'] = (faults[a.fault ?? 'none'] ?? 0) + 1;
      if (JSON.stringify(a, big) !== JSON.stringify(b, big)) {
        throw new Error(`case ${k} (${Buffer.from(prog).toString('hex')}): interpreter ${JSON.stringify(a, big).slice(0, 300)} compiled ${JSON.stringify(b, big).slice(0, 300)}`);
      }
    }
    // Only control flow the layout cannot express is refused (jumps across subprograms).
    for (const why of Object.keys(refused)) expect(why).toMatch(/subprogram/);
    expect(compiled).toBeGreaterThan(N * 0.8);
    expect(faults.none).toBeGreaterThan(compiled / 20);
    expect((faults.read ?? 0) + (faults.write ?? 0)).toBeGreaterThan(compiled / 20);
  });

  /** Each program compiled and on the interpreter, on an empty packet with a budget of 5,000: the same outcome. */
  function agreeOnEach(progs: string[]): void {
    for (const src of progs) {
      const prog = assemble(src);
      const info = dp.jit.compile(prog);
      expect(info.reason, src).toBe('');
      const [a, b] = both(prog, info.slot, new Uint8Array(0), { budget: 5000 });
      dp.jit.release(info.slot);
      expect(b, src).toEqual(a);
    }
  }

  it('on loops the layout turns into Wasm loops, loops it dispatches, and nested ones', () => {
    const progs = [
      // a counted loop (structured)
      'mov %r0, 0\nmov %r1, 0\nl:\nadd %r0, %r1\nadd %r1, 1\njlt %r1, 100, l\nexit',
      // nested loops: the inner is structured, the outer goes through the dispatch
      'mov %r0, 0\nmov %r1, 0\nouter:\nmov %r2, 0\ninner:\nadd %r0, %r2\nadd %r2, 1\njlt %r2, 7, inner\nadd %r1, 1\njlt %r1, 9, outer\nexit',
      // a jump into the middle of a loop from outside (not structured)
      'mov %r0, 0\nmov %r1, 0\nja mid\ntop:\nadd %r0, 3\nmid:\nadd %r1, 1\njlt %r1, 50, top\nexit',
      // a loop that runs out of budget
      'mov %r0, 0\nl:\nadd %r0, 1\nja l\nexit',
    ];
    agreeOnEach(progs);
  });

  it('on accesses through a register set from r10 (mov, immediate adds and subtracts): inside the frame, past either end of it, after the register is changed otherwise', () => {
    const progs = [
      // inside the frame, through two registers and a sub
      'stdw [%r10-16], 7\nmov %r2, %r10\nadd %r2, -8\nmov %r3, %r2\nsub %r3, 8\nldxdw %r0, [%r3+0]\nstxdw [%r2+0], %r0\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit',
      // the frame's last bytes, and one past its top (a fault)
      'mov %r2, %r10\nadd %r2, -512\nstdw [%r2+0], 3\nldxdw %r0, [%r2+0]\nexit',
      'mov %r2, %r10\nadd %r2, -4\nldxdw %r0, [%r2+0]\nexit',
      'mov %r2, %r10\nadd %r2, 8\nstdw [%r2+0], 1\nmov %r0, 1\nexit',
      // below the frame (a fault), and a 32-bit mov or a non-immediate add forgetting it
      'mov %r2, %r10\nsub %r2, 520\nldxdw %r0, [%r2+0]\nexit',
      'mov %r2, %r10\nmov32 %r2, %r2\nldxdw %r0, [%r2-8]\nexit',
      'mov %r2, %r10\nmov %r4, -8\nadd %r2, %r4\nstdw [%r2+0], 5\nldxdw %r0, [%r10-8]\nexit',
      // a helper's key pointer: a map lookup with r2 = r10 - 8 (the map: none, the helper's fault)
      'mov %r2, %r10\nadd %r2, -8\nstdw [%r2+0], 9\nmov %r1, 0\ncall 1\nldxdw %r0, [%r10-8]\nexit',
    ];
    agreeOnEach(progs);
  });

  it('on a budget that runs out inside a block: an access it still pays for faults first', () => {
    const src = 'mov %r0, 0\nadd %r0, 1\nldxb %r1, [%r0+0]\nadd %r0, 1\nstb [%r0+0], 1\nadd %r0, 1\nexit';
    const prog = assemble(src);
    const info = dp.jit.compile(prog);
    const seen: string[] = [];
    for (let budget = 1; budget <= 8; budget++) {
      const [a, b] = both(prog, info.slot, new Uint8Array(0), { budget });
      expect(b, `budget ${budget}`).toEqual(a);
      seen.push(`${a.fault}@${a.faultPc}`);
    }
    dp.jit.release(info.slot);
    // the budget (at each instruction) until the read at pc 2 is paid for
    expect(seen).toEqual(['budget@1', 'budget@2', 'read@2', 'read@2', 'read@2', 'read@2', 'read@2', 'read@2']);
  });

  it('on counted loops (run without per-block budget tests when the budget covers them): every start, and budgets at and around the last instruction', () => {
    // The loop register starts from memory (r1 points at a u64); each loop is entered once.
    const loops: [string, bigint[]][] = [
      // jne, step 2, an early exit in the body
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, %r2\nmov %r3, %r2\nadd %r3, 7\njgt %r3, 150, out\nadd %r2, 2\njne %r2, 100, l\nout:\nexit',
        [0n, 98n, 99n, 100n, 102n, 140n, 0xfffffffffffffffen]],
      // jne, a step down, a branch inside the body
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\njset %r2, 1, odd\nadd %r0, 1\nodd:\nadd %r2, -3\njne %r2, 0, l\nexit',
        [3n, 30n, 31n, 0n, 0xfffffffffffffffdn]],
      // 32-bit compare, 64-bit step: the low half counts
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, 1\nadd %r2, 1\njne32 %r2, 50, l\nexit',
        [0n, 49n, 0x1_0000_0000n, 0xffff_fff0_0000_0040n, 50n]],
      // 32-bit add and compare
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd32 %r0, %r2\nadd32 %r2, 4\njne32 %r2, 64, l\nexit',
        [0n, 60n, 64n, 65n, 0xfffffffcn]],
      // jlt, step 5: from below, at, above the limit, and near the top (wraps round once)
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, 1\nadd %r2, 5\njlt %r2, 1000, l\nexit',
        [0n, 999n, 1000n, 5000n, 0xfffffffffffffffen, 0xfffffffffffffff0n]],
      // jlt32: wraps the low half
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, 1\nadd32 %r2, 7\njlt32 %r2, 300, l\nexit',
        [0n, 299n, 0xfffffffen, 0x1_0000_0010n]],
      // a read fault inside the loop, before and after the increment (r1 points at 8 bytes)
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nmov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3+0]\nadd %r0, %r4\nadd %r2, 1\njne %r2, 300, l\nexit',
        [0n, 5n, 7n, 299n]],
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r2, 1\nmov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3+0]\nadd %r0, %r4\njlt %r2, 300, l\nexit',
        [0n, 5n, 6n, 299n]],
      // the bound in the header (jgt / jge32 out of the loop), the back edge testing something
      // else (csum_words' data_end): from below, at and past the bound, near the top
      ['ldxdw %r2, [%r1]\nmov %r5, 400\nmov %r0, 0\nl:\nadd %r0, 3\njgt %r2, 100, out\nadd %r2, 1\njle %r0, %r5, l\nout:\nexit',
        [0n, 50n, 99n, 100n, 101n, 0xfffffffffffffffen]],
      ['ldxdw %r2, [%r1]\nmov %r5, 1000\nmov %r0, 0\nl:\nadd %r0, 1\njge32 %r2, 77, out\nadd %r2, 3\njlt %r0, %r5, l\nout:\nexit',
        [0n, 76n, 77n, 0x1_0000_0000n, 0xfffffffen, 0x7ffffff0n]],
      // ... a read fault inside (r1 points at 8 bytes)
      ['ldxdw %r2, [%r1]\nmov %r5, 255\nmov %r0, 0\nl:\nmov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3+0]\njgt %r2, 290, out\nadd %r0, %r4\nadd %r2, 1\njle %r4, %r5, l\nout:\nexit',
        [0n, 5n, 7n, 289n, 300n]],
      // 32-bit counting by a step no larger than the iteration (the budget settled at the
      // exits from the counter's low half): wrapping it, left at the latch and in the body
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, %r2\nadd32 %r2, 2\njne32 %r2, 6, l\nexit',
        [0n, 2n, 6n, 0xfffffff0n, 0x5_ffff_fffen]],
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, 1\nadd %r0, %r2\nadd32 %r2, 3\njne32 %r2, 9, l\nexit',
        [0n, 3n, 9n, 0xfffffffan, 0x2_ffff_fff7n]],
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, 3\njgt %r0, 200, out\nadd32 %r2, 1\njne32 %r2, 40, l\nout:\nexit',
        [0n, 39n, 40n, 0xffffffe0n, 0xfffffff8n, 0x1_ffff_fff0n]],
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nadd %r0, 1\nadd %r0, 1\nadd %r2, -2\njne32 %r2, 0, l\nexit',
        [2n, 10n, 0x1_0000_0004n, 0x7_0000_0000n]],
      // lddw in the loop (the budget fault's pc counts its two slots)
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nl:\nlddw %r4, 0x100000000\nadd %r0, %r4\nadd %r2, 1\njne %r2, 20, l\nexit',
        [0n, 19n]],
    ];
    expect(countedLoopRuns(loops)).toBeGreaterThan(500);
  });

  it('on counted loops run in rounds without exit tests (each exit compares a value moving with the iterations with one that does not): rounds cut short by every exit, values near wrapping, every budget', () => {
    // r1 points at a u64, the start of the moving value; r6 a bound the loop does not move.
    const loops: [string, bigint[]][] = [
      // csum_words' shape: the count's bound in the header (32-bit), a pointer against a bound at the latch
      ['ldxdw %r5, [%r1]\nmov %r3, 0\nlddw %r6, 0x1000\nmov %r0, 0\nl:\nadd %r0, %r3\njgt32 %r3, 60, out\nmov %r4, %r5\nadd %r5, 3\nadd32 %r3, 1\njle %r4, %r6, l\nout:\nexit',
        [0n, 0xf00n, 0xfc0n, 0xfeen, 0xff4n, 0xff5n, 0xff6n, 0x1000n, 0x1001n, 0xfffffffffffffff0n, 0xfffffffffffffffdn]],
      // the count from memory: its bound reached in every position of a round, and its low half wrapping
      ['ldxdw %r3, [%r1]\nmov %r5, 0\nlddw %r6, 0x1000\nmov %r0, 0\nl:\nadd %r0, %r3\njgt32 %r3, 60, out\nmov %r4, %r5\nadd %r5, 3\nadd32 %r3, 1\njle %r4, %r6, l\nout:\nexit',
        [0n, 50n, 55n, 56n, 57n, 58n, 59n, 60n, 61n, 0xfffffffen, 0x1_0000_0000n]],
      // a value moving down leaves in the body (below a bound), the count at the latch (jlt)
      ['ldxdw %r7, [%r1]\nmov %r2, 0\nmov %r0, 0\nl:\nadd %r7, -5\njlt %r7, 17, out\nadd %r0, %r7\nadd %r2, 1\njlt %r2, 100, l\nout:\nexit',
        [0n, 3n, 17n, 21n, 22n, 37n, 38n, 39n, 40n, 41n, 42n, 1000n, 0xfffffffffffffff0n]],
      // a value moving up leaves while below a bound: taken in a round's first iteration, not in its last
      ['ldxdw %r5, [%r1]\nmov %r2, 0\nmov %r6, 100\nmov %r0, 0\nl:\nadd %r0, 1\njlt %r5, %r6, out\nadd %r5, 4\nadd %r2, 1\njlt %r2, 50, l\nout:\nexit',
        [0n, 90n, 96n, 99n, 100n, 101n, 0xfffffffffffffff0n]],
      // a 32-bit compare of a 64-bit value whose low half wraps; the bound on the right, then on the left
      ['ldxdw %r5, [%r1]\nmov %r2, 0\nmov %r6, 0xfff0\nmov %r0, 0\nl:\nadd %r5, 7\njgt32 %r5, %r6, out\nadd %r0, 1\nadd %r2, 1\njlt %r2, 50, l\nout:\nexit',
        [0n, 0xff00n, 0xffd0n, 0xffdan, 0xffe0n, 0xfffffff0n, 0x1_ffff_fff8n]],
      ['ldxdw %r5, [%r1]\nmov %r2, 0\nmov %r6, 0xfff0\nmov %r0, 0\nl:\nadd %r5, 7\njlt32 %r6, %r5, out\nadd %r0, 1\nadd %r2, 1\njlt %r2, 50, l\nout:\nexit',
        [0n, 0xff00n, 0xffd0n, 0xffdan, 0xffe0n, 0xfffffff0n, 0x1_ffff_fff8n]],
      // wrapping inside a round while its first and last values stay (64 and 32-bit): the round is not run untested
      ['ldxdw %r5, [%r1]\nmov %r3, 0\nlddw %r6, 0xfffffffffffffffd\nmov %r0, 0\nl:\nadd %r0, %r3\njgt32 %r3, 60, out\nmov %r4, %r5\nadd %r5, 3\nadd32 %r3, 1\njle %r4, %r6, l\nout:\nexit',
        [0xfffffffffffffff0n, 0xfffffffffffffff9n, 0xfffffffffffffffan, 0xfffffffffffffffbn, 0xfffffffffffffffcn, 0xfffffffffffffffdn]],
      ['ldxdw %r5, [%r1]\nmov %r2, 0\nmov32 %r6, -3\nmov %r0, 0\nl:\nadd %r5, 7\njgt32 %r5, %r6, out\nadd %r0, 1\nadd %r2, 1\njlt %r2, 50, l\nout:\nexit',
        [0xffffff00n, 0xffffffe0n, 0xfffffff0n, 0xfffffff3n, 0xfffffff6n, 0x7_ffff_fff0n]],
      // sum_payload's shape: a pointer plus the index against a bound (64-bit), the index at a `jne`
      // latch; odd starts never meet the latch's value (the pointer's bound ends them), large ones wrap
      ['ldxdw %r2, [%r1]\nlddw %r3, 0x1000\nmov %r6, 0x100\nmov %r0, 0\nl:\nmov %r4, %r6\nadd %r4, %r2\nmov %r5, %r4\nadd %r5, 44\njgt %r5, %r3, out\nadd %r0, %r4\nadd %r2, 2\njne %r2, 1480, l\nout:\nexit',
        [0n, 1n, 1400n, 1416n, 1448n, 1449n, 1450n, 1466n, 1478n, 1480n, 1482n, 3700n, 3765n, 3766n, 3767n, 3780n, 3796n, 3797n, 0xfffffffffffffff0n, 0xffffffffffffff00n]],
      // the same with the pointer's bound reached first (a short packet): in every position of a round
      ['ldxdw %r2, [%r1]\nlddw %r3, 0x500\nmov %r6, 0x100\nmov %r0, 0\nl:\nmov %r4, %r6\nadd %r4, %r2\nmov %r5, %r4\nadd %r5, 44\njgt %r5, %r3, out\nadd %r0, %r4\nadd %r2, 2\njne %r2, 1480, l\nout:\nexit',
        [0n, 2n, 900n, 946n, 948n, 950n, 952n, 966n, 978n, 980n, 981n, 982n]],
      // a value moving down leaves on `jeq`: met in a round's first, inside, last iteration, or passed by (never met)
      ['ldxdw %r2, [%r1]\nmov %r3, 0\nmov %r0, 0\nl:\njeq %r2, 7, out\nadd %r0, %r2\nadd %r2, -3\nadd %r3, 1\njlt %r3, 200, l\nout:\nexit',
        [0n, 7n, 8n, 10n, 13n, 52n, 55n, 58n, 100n, 0xfffffffffffffffen]],
      // and moving up (32-bit)
      ['ldxdw %r2, [%r1]\nmov %r3, 0\nmov %r0, 0\nl:\njeq32 %r2, 700, out\nadd %r0, %r2\nadd %r2, 5\nadd %r3, 1\njlt %r3, 200, l\nout:\nexit',
        [0n, 620n, 625n, 630n, 695n, 700n, 701n, 0xfffffff0n, 0x1_0000_0000n]],
      // a read fault in a round (r1 points at 8 bytes), and an exit comparing two values the loop does not move
      ['ldxdw %r2, [%r1]\nmov %r0, 0\nmov %r6, 5\nl:\nmov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3+0]\njgt %r6, %r0, in\nin:\nadd %r0, %r4\nadd %r2, 1\njlt %r2, 300, l\nexit',
        [0n, 1n, 2n, 3n, 4n, 5n, 7n, 299n]],
    ];
    expect(countedLoopRuns(loops, true)).toBeGreaterThan(500);
    const movsx: [string, bigint[]][] = [
      // a sign-extending move of the moving value (movsx, a mov with an offset) is not that value:
      // the exit on it leaves as soon as the low byte turns negative (found by the entry fuzz)
      ['ldxdw %r5, [%r1]\nmov %r2, 0\nmov %r0, 0\nl:\nmovsx864 %r9, %r5\nadd %r9, 2\njgt %r9, 0x1000, out\nadd %r0, 1\nadd %r5, 2\nadd %r2, 1\njlt %r2, 100, l\nout:\nexit',
        [0n, 0x60n, 0x70n, 0x7en, 0x80n, 0x1f0n]],
      ['ldxdw %r5, [%r1]\nmov %r2, 0\nmov %r0, 0\nl:\nmovsx832 %r9, %r5\nadd32 %r9, 2\njgt32 %r9, 0x1000, out\nadd %r0, 1\nadd %r5, 2\nadd %r2, 1\njlt %r2, 100, l\nout:\nexit',
        [0n, 0x60n, 0x70n, 0x7en, 0x80n, 0x1f0n]],
    ];
    for (const [src] of movsx) expect(compileProgram(assemble(src)).groupedLoops, src).toBe(0);
    expect(countedLoopRuns(movsx)).toBeGreaterThan(50);
  });

  /** Each loop's runs from each start on both engines, on budgets at and around what they need; the runs compared. */
  function countedLoopRuns(loops: [string, bigint[]][], grouped = false): number {
    let checked = 0;
    for (const [src, starts] of loops) {
      const prog = assemble(src);
      const compiled = compileProgram(prog);
      expect(compiled.countedLoops, src).toBe(1);
      if (grouped) expect(compiled.groupedLoops, src).toBe(1);
      const info = dp.jit.compile(prog);
      expect(info.reason, src).toBe('');
      for (const start of starts) {
        const mem = new Uint8Array(8);
        new DataView(mem.buffer).setBigUint64(0, start, true);
        const [full] = both(prog, info.slot, mem, { budget: 100_000 });
        const need = Number(full.executed);
        // Budgets at and below what the run needs (a fault inside the loop at the
        // interpreter's pc), above it, and spread over the run.
        const budgets = new Set<number>([need, need + 1, need + 2, 100_000]);
        for (let d = 1; d <= 9; d++) budgets.add(Math.max(1, need - d));
        for (let k = 1; k < 16; k++) budgets.add(Math.max(1, Math.floor((need * k) / 16)));
        for (const budget of budgets) {
          const [a, b] = both(prog, info.slot, mem, { budget });
          expect(b, `${src} from ${start} budget ${budget}`).toEqual(a);
          checked++;
        }
      }
      dp.jit.release(info.slot);
    }
    return checked;
  }

  it('on division and modulo by constants (the zero and -1 cases kept, the rest the bare operation): every width, signedness and edge value', () => {
    const ks = [0, 1, 2, 3, 7, 10, 97, 1000003, -1, -2, -7, 0x7fffffff, -0x80000000];
    const xs = [0n, 1n, 5n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0x123456789abcdef0n];
    let checked = 0;
    for (const code of [0x37, 0x97, 0x34, 0x94]) {
      for (const signed of [0, 1]) {
        for (const k of ks) {
          const head = assemble('lddw %r0, 0\nexit');
          const prog = new Uint8Array(32);
          prog.set(head.subarray(0, 16), 0);
          const v = new DataView(prog.buffer);
          v.setUint8(16, code);
          v.setUint8(17, 0);
          v.setInt16(18, signed, true);
          v.setInt32(20, k, true);
          prog.set(head.subarray(16, 24), 24);
          const info = dp.jit.compile(prog);
          expect(info.reason).toBe('');
          for (const x of xs) {
            v.setUint32(4, Number(x & 0xffffffffn), true);
            v.setUint32(12, Number(x >> 32n), true);
            const c = dp.jit.compile(prog);
            const [a, b] = both(prog, c.slot, new Uint8Array(0));
            dp.jit.release(c.slot);
            expect({ code, signed, k, x, ...b }).toEqual({ code, signed, k, x, ...a });
            checked++;
          }
          dp.jit.release(info.slot);
        }
      }
    }
    expect(checked).toBe(4 * 2 * ks.length * xs.length);
  });

  it('on a 1,000-instruction program with stack, packet-style bounds checks and branches', () => {
    const prog = assemble(longProgram(995));
    expect(prog.length / 8).toBeGreaterThanOrEqual(995);
    const info = dp.jit.compile(prog);
    expect(info.reason).toBe('');
    const mem = new Uint8Array(256).map((_, i) => (i * 7) & 255);
    const [a, b] = both(prog, info.slot, mem);
    expect(b).toEqual(a);
    dp.jit.release(info.slot);
  });
});

describe('what the compiler refuses', () => {
  it('a jump from one subprogram into another: CodegenError naming the instruction', () => {
    // pc 0 calls the subprogram at 3; pc 1 jumps into it instead of calling.
    const prog = assemble('call local f\nja f\nexit\nf:\nmov %r0, 1\nexit');
    expect(() => compileProgram(prog)).toThrow(CodegenError);
    expect(() => compileProgram(prog)).toThrow(/^insn 1: jump to 3 leaves its subprogram \[0, 3\)$/);
    const info = dp.jit.compile(prog);
    expect(info).toMatchObject({ slot: 0, reason: 'insn 1: jump to 3 leaves its subprogram [0, 3)' });
  });

  it('a full table: the program runs on the interpreter and says so; a released slot is used again', () => {
    const table = new JitTable({ memory: dp.memory, exports: dp.exports }, true, A.JIT_BASE + 2);
    const prog = assemble('mov %r0, 3\nexit');
    const a = table.compile(prog);
    const b = table.compile(prog);
    expect([a.slot, b.slot]).toEqual([A.JIT_BASE, A.JIT_BASE + 1]);
    expect(table.compile(prog)).toMatchObject({ slot: 0, reason: 'all 2 compiled-code slots are in use' });
    table.release(a.slot);
    expect(table.installed(a.slot)).toBe(false);
    expect(table.compile(prog).slot).toBe(a.slot);
    expect(table.installed(a.slot)).toBe(true);
    table.release(a.slot);
    table.release(b.slot);
  });

  it('loaded programs say why they run on the interpreter; the emulator option turns compiling off', async () => {
    const emu = await Emulator.create({});
    const off = await Emulator.create({ jit: false });
    try {
      const good = emu.loadProgram({ name: 'ok', type: 'sched_cls', insns: assemble('mov %r0, 2\nexit') });
      expect(good.jit.slot).toBeGreaterThan(0);
      expect(good.jit.reason).toBe('');
      expect(good.jit.bytes).toBeGreaterThan(8);
      const bad = emu.loadProgram({ name: 'bad', type: 'sched_cls', insns: assemble('call local f\nja f\nexit\nf:\nmov %r0, 1\nexit'), verify: false });
      expect(bad.jit.slot).toBe(0);
      expect(bad.jit.reason).toMatch(/leaves its subprogram/);
      expect(emu.loadProgram({ name: 'manual', type: 'sched_cls', insns: assemble('mov %r0, 2\nexit'), jit: false }).jit.reason).toBe('compilation is off for this program');
      expect(off.loadProgram({ name: 'ok', type: 'sched_cls', insns: assemble('mov %r0, 2\nexit') }).jit.slot).toBe(0);
    } finally {
      await emu.close();
      await off.close();
    }
  });
});

describe('where synchronous compiles are refused (browsers\' main threads)', () => {
  it('the program runs on the interpreter, compiles in the background and switches over', async () => {
    const Real = WebAssembly.Module;
    // Chromium's rule on the main thread: no synchronous compile of more than 4 KB.
    const spy = vi.spyOn(WebAssembly, 'Module').mockImplementation(function (bytes: BufferSource) {
      if ((bytes as Uint8Array).byteLength > 4096) throw new RangeError('WebAssembly.Module(): Sync compile not allowed');
      return new Real(bytes);
    } as unknown as typeof WebAssembly.Module);
    const emu = await Emulator.create({});
    try {
      const src = [...Array.from({ length: 800 }, (_, i) => `add %r0, ${i}`), 'exit'].join('\n');
      const prog = emu.loadProgram({ name: 'big', type: 'sched_cls', insns: assemble(src), verify: false });
      expect(prog.jit.slot).toBe(0);
      expect(prog.jit.reason).toMatch(/compiling in the background/);
      const pkt = new Uint8Array(60);
      pkt[12] = 8;
      pkt[14] = 0x45;
      const before = emu.testRun(prog, { data: pkt });
      await emu.settleJit();
      expect(prog.jit.slot).toBeGreaterThan(0);
      expect(prog.jit.reason).toBe('');
      expect(emu.dp.view().getUint32(prog.record + A.PR_JIT, true)).toBe(prog.jit.slot);
      expect(await emu.jitInstalled(prog)).toEqual([true]);
      const after = emu.testRun(prog, { data: pkt });
      expect(after.retval).toBe(before.retval);
      expect(after.retval).toBe((799 * 800) / 2);
      // A program freed before its module is ready never gets a slot.
      const gone = emu.loadProgram({ name: 'gone', type: 'sched_cls', insns: assemble(src), verify: false });
      const pending = gone.jit.ready!;
      emu.closeProgram(gone);
      expect((await pending).slot).toBeGreaterThan(0);
      await emu.settleJit();
      expect(gone.jit.slot).toBe(0);
    } finally {
      spy.mockRestore();
      await emu.close();
    }
  });
});

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

describe('repeated test runs on the batch code', () => {
  it('stop at the first faulting repetition, like the interpreter: the map shows how many ran', async () => {
    const emu = await Emulator.create({});
    try {
      const { BpfMap } = await import('../../src/ebpf/maps.js');
      const results = [];
      for (const interpreter of [false, true]) {
        const m = new BpfMap(emu.dp, { name: 'n', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
        // counter++; on the 5th run read past the packet's end.
        const prog = emu.loadProgram({
          name: 'fifth', type: 'sched_cls', maps: [m.record], regions: [{ addr: m.values, len: 8, writable: true }], verify: false, // faults on purpose
          insns: assemble(`lddw %r2, ${m.values}\nldxdw %r3, [%r2+0]\nadd %r3, 1\nstxdw [%r2+0], %r3\nmov %r0, 0\njne %r3, 5, out\nldxw %r4, [%r1+80]\nldxw %r0, [%r4+0]\nout:\nexit`),
        });
        expect(prog.jit.slot).not.toBe(0);
        const r = emu.testRun(prog, { data: new Uint8Array(64), repeat: 37, interpreter });
        results.push({ fault: r.fault, count: m.lookup(new Uint8Array(4)) });
      }
      expect(results[0]).toEqual(results[1]);
      expect(results[0]).toEqual({ fault: 'read', count: new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0]) });
    } finally {
      await emu.close();
    }
  });
});

describe('array map lookups run inline', () => {
  it('the element, NULL past the end, a read fault for a bad key pointer: as the helper does', async () => {
    const emu = await Emulator.create({});
    try {
      const { BpfMap } = await import('../../src/ebpf/maps.js');
      const m = new BpfMap(emu.dp, { name: 'a', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 });
      for (let k = 0; k < 4; k++) m.update(new Uint8Array([k, 0, 0, 0]), new Uint8Array([10 + k, 0, 0, 0, 0, 0, 0, 0]));
      // key = r6 on the stack; r0 = *lookup or 99 when NULL.
      const prog = (key: string, ptr = '%r10'): Uint8Array => assemble(
        `mov %r6, ${key}\nstxw [%r10-4], %r6\nlddw %r1, ${m.record}\nmov %r2, ${ptr}\nadd %r2, -4\ncall 1\njeq %r0, 0, none\nldxdw %r0, [%r0+0]\nexit\nnone:\nmov %r0, 99\nexit`);
      const load = (insns: Uint8Array) => emu.loadProgram({ name: 'l', type: 'sched_cls', insns, maps: [m.record], regions: [{ addr: m.values, len: 32, writable: true }] });
      const cases: [string, string?][] = [['2'], ['3'], ['4'], ['-1'], ['0', '%r1']];
      for (const [key, ptr] of cases) {
        const p = load(prog(key, ptr));
        expect(p.jit.slot).not.toBe(0);
        const data = new Uint8Array(64);
        const [c, i] = [false, true].map((interpreter) => {
          const r = emu.testRun(p, { data, interpreter });
          // (a run that faulted keeps no registers on the compiled engine: compare r0 only without one)
          return { retval: r.fault ? undefined : r.retval, fault: r.fault, executed: r.executed };
        });
        expect({ key, ...c }).toEqual({ key, ...i });
      }
      const r = (key: string, ptr?: string): number | string => {
        const x = emu.testRun(load(prog(key, ptr)), { data: new Uint8Array(64) });
        return x.fault ?? x.retval;
      };
      expect([r('2'), r('4'), r('0', '%r1')]).toEqual([12, 99, 'read']);
    } finally {
      await emu.close();
    }
  });
});

/** emu.testRun with the instruction budget per run set to `budget` (BPF_PROG_TEST_RUN has no such option: the test VM's run gets it). */
/**
 * A test run on `budget`, compiled and on the interpreter: each one's r0 (unless it
 * faulted: a faulted compiled run keeps no registers), fault and executed count.
 */
function onBothEngines(emu: Emulator, p: Parameters<Emulator['testRun']>[0], budget: number, o: Parameters<Emulator['testRun']>[1]): { retval?: number; fault: string | null; executed: number }[] {
  return [false, true].map((interpreter) => {
    const r = testRunOnBudget(emu, p, budget, { ...o, interpreter });
    return { retval: r.fault ? undefined : r.retval, fault: r.fault, executed: r.executed };
  });
}

function testRunOnBudget(emu: Emulator, p: Parameters<Emulator['testRun']>[0], budget: number, o: Parameters<Emulator['testRun']>[1]): ReturnType<Emulator['testRun']> {
  emu.testRun(p, { data: new Uint8Array(14), repeat: 1 }); // (the test VM exists)
  const vm = (emu as unknown as { testVm: { run: (...a: unknown[]) => unknown } }).testVm;
  const run = vm.run;
  vm.run = (...a: unknown[]) => run.call(vm, a[0], a[1], { ...(a[2] as object), budget });
  try {
    return emu.testRun(p, o);
  } finally {
    vm.run = run;
  }
}

describe('the batch code of a loop-free program', () => {
  it('tests the budget once: below what a run may need it declines (the runs go one by one, with checks), so every budget gives the interpreter\'s result', async () => {
    const emu = await Emulator.create({});
    try {
      // 14 instructions (lddw counts once), one plain helper call, two paths of 10 and 14.
      const insns = assemble('ldxw %r2, [%r1+0]\nmov %r6, %r2\ncall 5\njgt %r6, 100, big\nmov %r0, 1\nadd %r0, %r6\nlddw %r3, 0x100000000\nadd %r0, %r3\nexit\nbig:\nmov %r0, 2\nmov %r1, 3\nadd %r0, %r1\nexit');
      const p = emu.loadProgram({ name: 'b', type: 'sched_cls', insns });
      expect(p.jit.slot).not.toBe(0);
      const seen = new Set<string>();
      for (const len of [60, 200]) {
        for (const budget of [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 13, 14, 15, 1_000_000]) {
          const [c, i] = onBothEngines(emu, p, budget, { data: new Uint8Array(len), repeat: 4 });
          expect({ len, budget, ...c }).toEqual({ len, budget, ...i });
          seen.add(i.fault ?? `r0 ${i.retval}`);
        }
      }
      // both paths ran to their exit, and ran out of budget
      expect([...seen].sort()).toEqual(['budget', 'r0 5', 'r0 61']);
    } finally {
      await emu.close();
    }
  });

  it('a short budget whose block holds a legacy packet load out of range: the load ends the run (r0 = 0) as on the interpreter', async () => {
    const emu = await Emulator.create({});
    try {
      const insns = assemble('mov %r6, %r1\nmov %r0, 9\nldabsb 100\nmov %r0, 5\nexit');
      const p = emu.loadProgram({ name: 'a', type: 'sched_cls', insns });
      expect(p.jit.slot).not.toBe(0);
      const seen: string[] = [];
      for (const budget of [1, 2, 3, 4, 5, 6]) {
        const [c, i] = onBothEngines(emu, p, budget, { data: new Uint8Array(60), repeat: 1 });
        expect({ budget, ...c }).toEqual({ budget, ...i });
        seen.push(i.fault ?? `r0 ${i.retval}`);
      }
      expect(seen).toEqual(['budget', 'budget', 'r0 0', 'r0 0', 'r0 0', 'r0 0']);
    } finally {
      await emu.close();
    }
  });

  it('a program with a loop keeps its per-block tests in batch code; a short budget ends the run on the interpreter (an access the budget still pays for faults first)', async () => {
    const emu = await Emulator.create({});
    try {
      // Reads packet bytes at increasing offsets past data_end's check: the read past the
      // packet faults, unless the budget ran out first.
      const insns = assemble('ldxw %r6, [%r1+76]\nmov %r0, 0\nmov %r2, 0\nl:\nmov %r3, %r6\nadd %r3, %r2\nldxb %r4, [%r3+0]\nadd %r0, %r4\nadd %r2, 7\nja l');
      // (it never ends: the verifier's loop walk refuses it, so it runs unverified)
      expect(() => emu.loadProgram({ name: 'l', type: 'sched_cls', insns })).toThrow('BPF program is too large. Processed 1000001 insn');
      const p = emu.loadProgram({ name: 'l', type: 'sched_cls', insns, verify: false });
      expect(p.jit.slot).not.toBe(0);
      const seen = new Set<string>();
      for (const budget of [1, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 23, 24, 25, 40, 1_000_000]) {
        const [c, i] = onBothEngines(emu, p, budget, { data: new Uint8Array(20).fill(3), repeat: 4 });
        expect({ budget, ...c }).toEqual({ budget, ...i });
        seen.add(String(i.fault));
      }
      expect([...seen].sort()).toEqual(['budget', 'read']);
    } finally {
      await emu.close();
    }
  });
});

describe('looked-up array elements in the batch code', () => {
  it('accesses inside the element after a NULL check run unchecked; the rest are checked: the same results, faults and contents as the interpreter', async () => {
    const emu = await Emulator.create({});
    try {
      const { BpfMap } = await import('../../src/ebpf/maps.js');
      const { batchFacts, FACT_DIRECT } = await import('../../src/ebpf/codegen/bounds.js');
      const { buildFunc } = await import('../../src/ebpf/codegen/cfg.js');
      const m = new BpfMap(emu.dp, { name: 'a', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 });
      const seed = (): void => { for (let k = 0; k < 4; k++) m.update(new Uint8Array([k, 0, 0, 0]), new Uint8Array([10 + k, 1, 2, 3, 4, 5, 6, 7])); };
      // r0 = lookup(key) (`check` the NULL test, or none), then `body` with r0 the element.
      const prog = (key: number, body: string, check = 'jeq %r0, 0, none'): string =>
        `mov %r6, ${key}\nstxw [%r10-4], %r6\nlddw %r1, ${m.record}\nmov %r2, %r10\nadd %r2, -4\ncall 1\n${check}\n${body}\nexit\nnone:\nmov %r0, 99\nexit`;
      const bodies: [string, string, boolean[]][] = [
        // [name, body, which of its accesses are proven]
        ['in the element', 'ldxdw %r1, [%r0+0]\nldxw %r2, [%r0+4]\nldxb %r3, [%r0+7]\nadd %r1, %r2\nadd %r1, %r3\nmov %r0, %r1', [true, true, true]],
        ['write inside', 'mov %r1, 77\nstxdw [%r0+0], %r1\nstw [%r0+4], 5\nmov %r0, 0', [true, true]],
        ['past the value (the next element)', 'ldxdw %r0, [%r0+8]', [false]],
        ['before it (the previous element)', 'ldxdw %r0, [%r0-8]', [false]],
        ['moved pointer', 'add %r0, 4\nldxw %r1, [%r0+0]\nldxw %r2, [%r0+4]\nmov %r0, %r1', [true, false]],
        ['far past the map', 'ldxdw %r0, [%r0+4096]', [false]],
      ];
      const keys = [0, 1, 3, 7];
      let compared = 0;
      for (const writable of [true, false]) {
        for (const [name, body, proven] of bodies) {
          for (const [check, nullable] of [['jeq %r0, 0, none', false], ['jne %r0, 0, +1\nja none', false], ['', true]] as const) {
            for (const key of keys) {
              const insns = assemble(prog(key, body, check));
              // The facts: which accesses run unchecked.
              if (key === 0) {
                const ins = Array.from({ length: insns.length / 8 }, (_, pc) => decode(insns, pc));
                const f = buildFunc(ins, ins.length, 0, ins.length);
                const facts = batchFacts(ins, f, { size: A.SKB_CTX_SIZE, writable: true, writableEnd: A.SKB_DATA, data: A.SKB_DATA, dataEnd: A.SKB_DATA_END }, () => true, new Map([[m.record, { valueSize: 8, writable }]]));
                const mem = ins.map((x, pc) => [x, pc] as const).filter(([x]) => [1, 2, 3].includes(x.code & 7) && x.dst !== 10 && x.src !== 10).map(([, pc]) => facts[pc] === FACT_DIRECT);
                const want = proven.map((p, j) => p && !nullable && (writable || !/^(st|stx)/.test(body.split('\n').filter((l) => /^(ld|st)/.test(l))[j]!)));
                expect(mem, `${name} ${check} writable ${writable}`).toEqual(want);
              }
              // Checked and unchecked accesses, faults included: loaded unverified.
              const p = emu.loadProgram({ name: 'l', type: 'sched_cls', insns, maps: [m.record], regions: [{ addr: m.values, len: 32, writable }], verify: false });
              expect(p.jit.slot).not.toBe(0);
              const [c, i] = [false, true].map((interpreter) => {
                seed();
                const r = emu.testRun(p, { data: new Uint8Array(64), interpreter, repeat: 3 });
                return { retval: r.fault ? undefined : r.retval, fault: r.fault, executed: r.executed, values: Buffer.from(emu.dp.bytes().subarray(m.values, m.values + 32)).toString('hex') };
              });
              expect({ name, check, key, writable, ...c }).toEqual({ name, check, key, writable, ...i });
              compared++;
            }
          }
        }
      }
      expect(compared).toBe(2 * bodies.length * 3 * keys.length);
    } finally {
      await emu.close();
    }
  });
});

describe('packet pointers a loop moves, in the batch code', () => {
  it('an access the data_end test before it covers runs unchecked (the pointer re-based at the loop head); one past it is checked: the same results and faults as the interpreter', async () => {
    const emu = await Emulator.create({});
    try {
      const { batchFacts, FACT_DIRECT } = await import('../../src/ebpf/codegen/bounds.js');
      const { buildFunc } = await import('../../src/ebpf/codegen/cfg.js');
      // csum_words.c's loop: p starts 18 bytes in, reads p[-4..-2), leaves when p - 2 > data_end.
      const loop = (off: string, step: string): string => [
        'mov32 %r0, 0', 'ldxw %r2, [%r1+80]', 'ldxw %r1, [%r1+76]', 'mov %r3, %r1', 'add %r3, 16', 'jgt %r3, %r2, out',
        'mov32 %r3, 0', 'add %r1, 18', 'top:', `ldxh %r4, [%r1${off}]`, 'add32 %r0, %r4', 'jgt32 %r3, 254, out',
        'mov %r4, %r1', step, 'add32 %r3, 1', 'jle %r4, %r2, top', 'out:', 'exit',
      ].join('\n');
      const cases: [string, string, boolean][] = [
        ['inside the tested range', loop('-4', 'add %r1, 2'), true],
        ['two bytes past it', loop('-2', 'add %r1, 2'), false],
        ['a pointer moved by a register', loop('-4', 'add %r1, %r0'), false],
        ['a pointer moved back', loop('-4', 'add %r1, -2'), false],
      ];
      for (const [name, src, proven] of cases) {
        const insns = assemble(src);
        const ins = Array.from({ length: insns.length / 8 }, (_, pc) => decode(insns, pc));
        const f = buildFunc(ins, ins.length, 0, ins.length);
        const facts = batchFacts(ins, f, { size: A.SKB_CTX_SIZE, writable: true, writableEnd: A.SKB_DATA, data: A.SKB_DATA, dataEnd: A.SKB_DATA_END }, () => true);
        const load = ins.findIndex((x) => x.code === 0x69);
        expect(facts[load] === FACT_DIRECT, name).toBe(proven);
        // Unverified: the unproven accesses fault (or not) exactly as on the interpreter.
        const p = emu.loadProgram({ name: 'l', type: 'sched_cls', insns, verify: false });
        expect(p.jit.slot).not.toBe(0);
        for (const len of [20, 33, 34, 35, 36, 61, 62, 200, 600]) {
          const data = new Uint8Array(len).map((_, i) => (i * 37 + len) & 0xff);
          const [c, i] = [false, true].map((interpreter) => {
            const r = emu.testRun(p, { data, interpreter, repeat: 3 });
            return { retval: r.fault ? undefined : r.retval, fault: r.fault, executed: r.executed };
          });
          expect({ name, len, ...c }).toEqual({ name, len, ...i });
        }
      }
    } finally {
      await emu.close();
    }
  });
});

describe('packet accesses in a counted loop\'s rounds', () => {
  it('run unchecked where the round\'s test shows the first and the last iteration\'s inside the packet: loads and stores cut short by the packet\'s end in every position of a round, the same results, packets and faults as the interpreter', async () => {
    const emu = await Emulator.create({});
    try {
      // fix_csum.c's loop shape: the packet from 14 on, 16-bit words at data + 14 + i (no
      // data_end test in the loop: a short packet faults in it), verified (the checks before
      // the loop cover 34 bytes) and not (no check at all); a store of each word back, and
      // 64 words (rounds of 16).
      const loop = (check: boolean, words: number, store: boolean): string => [
        'mov32 %r0, 0', 'ldxw %r2, [%r1+80]', 'ldxw %r3, [%r1+76]',
        ...(check ? ['mov %r4, %r3', 'add %r4, 34', 'jgt %r4, %r2, out'] : []),
        'add %r3, 14', 'mov %r4, 0', 'top:', 'mov %r5, %r3', 'add %r5, %r4', 'ldxh %r6, [%r5+0]', 'add32 %r0, %r6',
        ...(store ? ['add32 %r6, 1', 'stxh [%r5+0], %r6'] : []),
        'add %r4, 2', `jne %r4, ${words * 2}, top`, 'out:', 'exit',
      ].join('\n');
      const cases: [string, boolean, number, boolean][] = [
        ['checked before, 10 words', true, 10, false], ['unchecked, 10 words', false, 10, false],
        ['unchecked, 64 words', false, 64, false], ['unchecked, 64 words stored back', false, 64, true],
      ];
      for (const [name, check, words, store] of cases) {
        const insns = assemble(loop(check, words, store));
        const compiled = compileProgram(insns, { batch: 'skb' });
        // (the loop in `run` and in the batch loop: each copy's round has the load, and the store)
        expect(compiled.groupedLoops, name).toBe(2);
        expect(compiled.roundPacketAccesses, name).toBe(store ? 4 : 2);
        const p = emu.loadProgram({ name: 'l', type: 'sched_cls', insns, verify: check });
        expect(p.jit.slot).not.toBe(0);
        for (let len = 14; len <= 14 + words * 2 + 3; len++) {
          const data = new Uint8Array(len).map((_, i) => (i * 37 + len) & 0xff);
          const [c, i] = [false, true].map((interpreter) => {
            const r = emu.testRun(p, { data, interpreter, repeat: 3 });
            return { retval: r.fault ? undefined : r.retval, fault: r.fault, executed: r.executed, out: Buffer.from(r.dataOut ?? []).toString('hex') };
          });
          expect({ name, len, ...c }).toEqual({ name, len, ...i });
        }
      }
    } finally {
      await emu.close();
    }
  });
});

describe('per-CPU array lookups and bpf_redirect_map run inline', () => {
  it('per-CPU array and per-CPU hash: each thread gets its own copy (an application thread past the last gets copy 0), as the helper gives it', async () => {
    const d = await Dataplane.create({ workers: 2, appThreads: 1 });
    const v = new Vm(d);
    try {
      const { BpfMap } = await import('../../src/ebpf/maps.js');
      for (const type of ['percpu_array', 'percpu_hash'] as const) {
        const m = new BpfMap(d, { name: 'pc', type, keySize: 4, valueSize: 8, maxEntries: 3 });
        expect(m.copies).toBe(3);
        // r0 = ++*lookup(key) or 99 when NULL.
        const prog = (key: number): Uint8Array => assemble(
          `mov %r6, ${key}\nstxw [%r10-4], %r6\nlddw %r1, ${m.record}\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, none\nldxdw %r3, [%r0+0]\nadd %r3, 1\nstxdw [%r0+0], %r3\nmov %r0, %r3\nexit\nnone:\nmov %r0, 99\nexit`);
        const regions = [{ addr: m.values, len: m.valuesSize, writable: true }];
        const copies = (key: number): number[] => (m.lookup(new Uint8Array([key, 0, 0, 0])) as Uint8Array[]).map((b) => b[0]!);
        for (const key of [1, 2, 3]) {
          const insns = prog(key);
          const info = d.jit.compile(insns, { regions, maps: [codegenMap(d.view(), m.record)] });
          expect(info.slot).not.toBe(0);
          const at = v.place(insns);
          const seen: unknown[][] = [];
          for (const jit of [0, info.slot]) {
            if (key < 3) m.update(new Uint8Array([key, 0, 0, 0]), [new Uint8Array(8).fill(0), new Uint8Array([10, 0, 0, 0, 0, 0, 0, 0]), new Uint8Array([20, 0, 0, 0, 0, 0, 0, 0])]);
            // threads 0..2 have their copies; thread 3 (the application thread) uses copy 0
            const r0 = [0, 1, 2, 3, 2].map((thread) => Number(v.run(at, insns.length / 8, { jit, thread, regions, maps: [m.record] }).r0));
            seen.push([r0, key < 3 ? copies(key) : []]);
          }
          v.release(at, insns);
          d.jit.release(info.slot);
          expect(seen[1]).toEqual(seen[0]);
          expect(seen[0]).toEqual(key < 3 ? [[1, 11, 21, 2, 22], [2, 11, 22]] : [[99, 99, 99, 99, 99], []]);
        }
      }
    } finally {
      v.close();
    }
  });

  it('bpf_redirect_map on a devmap: slot set, empty, past the end, 64-bit keys, each flag; the same r0 and target on both engines', async () => {
    const { BpfMap } = await import('../../src/ebpf/maps.js');
    const m = new BpfMap(dp, { name: 'dm', type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 4 });
    m.update(new Uint8Array([1, 0, 0, 0]), new Uint8Array([7, 0, 0, 0]));
    const info = codegenMap(dp.view(), m.record);
    const dv = dp.view();
    const outcomes: string[] = [];
    // key in r2 (lddw for the 64-bit ones); flags a constant (inline) or loaded from the stack (the helper).
    for (const key of ['1', '0', '3', '4', '0x100000001', '0xffffffffffffffff']) {
      for (const flags of [0, 1, 2, 3, 4, 8, 0x10, 0x1b, 0x20]) {
        for (const known of [true, false]) {
          const setFlags = known ? `mov %r3, ${flags}` : `mov %r3, ${flags}\nstxdw [%r10-8], %r3\nldxdw %r3, [%r10-8]`;
          const insns = assemble(`lddw %r1, ${m.record}\nlddw %r2, ${key}\n${setFlags}\ncall 51\nexit`);
          const c = dp.jit.compile(insns, { maps: [info] });
          expect(c.slot).not.toBe(0);
          const at = vm.place(insns);
          const r = [0, c.slot].map((jit) => {
            const x = vm.run(at, insns.length / 8, { jit, maps: [m.record] });
            return { r0: Number(x.r0), fault: x.fault, target: dv.getUint32(vm.rec + A.VM_REDIRECT_IFINDEX, true), flags: dv.getUint32(vm.rec + A.VM_REDIRECT_FLAGS, true) };
          });
          vm.release(at, insns);
          dp.jit.release(c.slot);
          expect({ key, caseFlags: flags, known, ...r[1] }).toEqual({ key, caseFlags: flags, known, ...r[0] });
          if (known) outcomes.push(`${key}/${flags}:${r[0]!.r0}${r[0]!.target ? `>${r[0]!.target}` : ''}`);
        }
      }
    }
    // XDP_REDIRECT (4) to ifindex 7 from slot 1; else the fallback action (flags & 3); unknown flags XDP_ABORTED (0).
    expect(outcomes.filter((o) => o.startsWith('1/'))).toEqual(['1/0:4>7', '1/1:4>7', '1/2:4>7', '1/3:4>7', '1/4:0', '1/8:4>7', '1/16:4>7', '1/27:4>7', '1/32:0']);
    // The kernel's devmap lookup takes the key as a u32: 0x100000001 is slot 1 (XDP_REDIRECT on 6.18, checked with bpftool).
    expect(outcomes.filter((o) => o.startsWith('0x100000001/'))).toEqual(outcomes.filter((o) => o.startsWith('1/')).map((o) => `0x10000000${o}`));
    expect(outcomes.filter((o) => o.startsWith('0xffffffffffffffff/'))).toEqual(['0:0', '1:1', '2:2', '3:3', '4:0', '8:0', '16:0', '27:3', '32:0'].map((x) => `0xffffffffffffffff/${x}`));
  });
});

describe('other map lookups call the map directly', () => {
  it('hash, per-CPU hash (each thread its copy), LRU hash and LPM trie: hits, misses, a bad key pointer; as the helper does', async () => {
    const d = await Dataplane.create({ workers: 1 });
    const v = new Vm(d);
    try {
      const { BpfMap } = await import('../../src/ebpf/maps.js');
      const u32 = (x: number): Uint8Array => new Uint8Array(new Uint32Array([x]).buffer);
      const maps = [
        new BpfMap(d, { name: 'h', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 8 }),
        new BpfMap(d, { name: 'ph', type: 'percpu_hash', keySize: 4, valueSize: 8, maxEntries: 8 }),
        new BpfMap(d, { name: 'lru', type: 'lru_hash', keySize: 4, valueSize: 8, maxEntries: 8 }),
        new BpfMap(d, { name: 'lpm', type: 'lpm_trie', keySize: 8, valueSize: 8, maxEntries: 8, flags: 1 }),
      ];
      for (const m of maps.slice(0, 3)) m.update(u32(7), m.copies > 1 ? [u32(70), u32(71)].map((b) => new Uint8Array([...b, 0, 0, 0, 0])) : new Uint8Array([70, 0, 0, 0, 0, 0, 0, 0]));
      maps[3]!.update(new Uint8Array([16, 0, 0, 0, 10, 1, 0, 0]), new Uint8Array([16, 0, 0, 0, 0, 0, 0, 0]));
      const outcomes: string[] = [];
      for (const m of maps) {
        const lpm = m.type === 'lpm_trie';
        // key {prefixlen 32, 10.1.2.3} for the trie; else the u32 in r6; r0 = *value + 1 or 99 when NULL.
        for (const key of lpm ? ['0x0302010a', '0x0302020a'] : ['7', '8']) {
          for (const ptr of ['%r10', '%r1']) {
            const keyAsm = lpm ? `mov %r6, 32\nstxw [%r10-8], %r6\nlddw %r6, ${key}\nstxw [%r10-4], %r6` : `mov %r6, ${key}\nstxw [%r10-8], %r6`;
            const insns = assemble(`${keyAsm}\nlddw %r1, ${m.record}\nmov %r2, ${ptr}\nadd %r2, -8\ncall 1\njeq %r0, 0, none\nldxdw %r0, [%r0+0]\nadd %r0, 1\nexit\nnone:\nmov %r0, 99\nexit`);
            const info = d.jit.compile(insns, { maps: [codegenMap(d.view(), m.record)] });
            expect(info.slot).not.toBe(0);
            const at = v.place(insns);
            const regions = [{ addr: m.values, len: m.valuesSize, writable: true }];
            const r = [0, info.slot].map((jit) => [0, 1].map((thread) => {
              const x = v.run(at, insns.length / 8, { jit, thread, regions, maps: [m.record] });
              return x.fault ?? Number(x.r0);
            }));
            v.release(at, insns);
            d.jit.release(info.slot);
            expect({ map: m.name, key, ptr, r: r[1] }).toEqual({ map: m.name, key, ptr, r: r[0] });
            outcomes.push(`${m.name}/${key}/${ptr}:${r[0]!.join(',')}`);
          }
        }
      }
      expect(outcomes).toEqual([
        'h/7/%r10:71,71', 'h/7/%r1:read,read', 'h/8/%r10:99,99', 'h/8/%r1:read,read',
        'ph/7/%r10:71,72', 'ph/7/%r1:read,read', 'ph/8/%r10:99,99', 'ph/8/%r1:read,read',
        'lru/7/%r10:71,71', 'lru/7/%r1:read,read', 'lru/8/%r10:99,99', 'lru/8/%r1:read,read',
        'lpm/0x0302010a/%r10:17,17', 'lpm/0x0302010a/%r1:read,read', 'lpm/0x0302020a/%r10:99,99', 'lpm/0x0302020a/%r1:read,read',
      ]);
    } finally {
      v.close();
    }
  });
});

describe('bpf_loop with a compiled callback', () => {
  /** The program with its lddw at `pc` turned into a callback reference (BPF_PSEUDO_FUNC) to pc `cb`, as the loader leaves them. */
  const pseudoFunc = (p: Uint8Array, pc: number, cb: number): Uint8Array => {
    p[pc * 8 + 1] = (p[pc * 8 + 1]! & 0x0f) | (4 << 4);
    new DataView(p.buffer, p.byteOffset).setInt32(pc * 8 + 4, cb - pc - 1, true);
    return p;
  };
  // main: acc (on the stack) = 0; r0 = bpf_loop(nr, cb, &acc, flags); result = r0 << 32 + acc + r6 + r4 << 8.
  // cb (pc 18): acc += i + r6 (the caller's 100 in every iteration), r6 = 7, r4 += 1 (kept
  // from one iteration to the next), a read fault at i == fault, returns 1 at i == stop.
  const prog = (nr: number, flags: number, stop: number, fault: number): Uint8Array => pseudoFunc(assemble(`
    mov %r6, 100
    mov %r7, 0
    stxdw [%r10-8], %r7
    lddw %r1, ${nr}
    lddw %r2, 0xbf0c00000012
    mov %r3, %r10
    add %r3, -8
    mov %r4, ${flags}
    call 181
    ldxdw %r1, [%r10-8]
    lsh %r0, 32
    add %r0, %r1
    add %r0, %r6
    lsh %r4, 8
    add %r0, %r4
    exit
    ldxdw %r3, [%r2+0]
    add %r3, %r1
    add %r3, %r6
    stxdw [%r2+0], %r3
    mov %r6, 7
    add %r4, 1
    jne %r1, ${fault}, nofault
    ldxdw %r0, [%r2+4096]
  nofault:
    mov %r0, 0
    jne %r1, ${stop}, out
    mov %r0, 1
  out:
    exit`), 5, 18);

  it('iterations, early stop, flags, the nr limit, faults and the budget inside callbacks: as the interpreter runs them', () => {
    const seen: string[] = [];
    const N = 1e9; // (never)
    for (const [nr, flags, stop, fault, budget] of [
      [0, 0, N, N, 10000], [1, 0, N, N, 10000], [5, 0, N, N, 10000], [5, 0, 2, N, 10000], [5, 0, 0, N, 10000],
      [5, 1, N, N, 10000], [(1 << 23) + 1, 0, N, N, 10000], [1 << 23, 0, N, N, 3000], [5, 0, N, 3, 10000],
      [5, 0, N, N, 40], [5, 0, N, N, 41], [5, 0, N, N, 57], [5, 0, N, N, 80],
    ]) {
      const p = prog(nr!, flags!, stop!, fault!);
      expect(compileProgram(p).functions).toBe(2);
      const info = dp.jit.compile(p);
      expect(info.slot).not.toBe(0);
      const [a, b] = both(p, info.slot, new Uint8Array(0), { budget });
      dp.jit.release(info.slot);
      expect({ nr, caseFlags: flags, stop, caseFault: fault, budget, ...b }).toEqual({ nr, caseFlags: flags, stop, caseFault: fault, budget, ...a });
      seen.push(a.fault ?? (a.r0! >> 32n).toString());
    }
    // iterations (r0) or the fault: 0, 1, 5, stopped after 3 and 1, -EINVAL, -E2BIG, the budget, a read, the budget mid-loop...
    expect(seen).toEqual(['0', '1', '5', '3', '1', '4294967274', '4294967289', 'budget', 'read', 'budget', 'budget', 'budget', '5']);
  });

  it('a verified program\'s (the loop function takes the frame, nr, ctx and r3..r5, returns the iterations): as the interpreter runs them', () => {
    // The same loop reading no register the verifier would call uninitialised: the callback
    // writes r6 before reading it; its r5 (the caller's 33, then kept from one iteration to
    // the next) goes into acc; the caller reads none of r1..r5 after the call before writing it.
    const verifiedProg = (nr: number, flags: number, stop: number, fault: number): Uint8Array => pseudoFunc(assemble(`
      mov %r6, 100
      mov %r7, 0
      stxdw [%r10-8], %r7
      lddw %r1, ${nr}
      lddw %r2, 0xbf0c00000011
      mov %r3, %r10
      add %r3, -8
      mov %r4, ${flags}
      mov %r5, 33
      call 181
      ldxdw %r1, [%r10-8]
      lsh %r0, 32
      add %r0, %r1
      add %r0, %r6
      exit
      ldxdw %r3, [%r2+0]
      add %r3, %r1
      mov %r6, 7
      add %r3, %r6
      add %r5, 1
      lsh %r5, 1
      add %r3, %r5
      stxdw [%r2+0], %r3
      jne %r1, ${fault}, nofault
      ldxdw %r0, [%r2+4096]
    nofault:
      mov %r0, 0
      jne %r1, ${stop}, out
      mov %r0, 1
    out:
      exit`), 5, 17);
    const seen: string[] = [];
    const N = 1e9;
    for (const [nr, flags, stop, fault, budget] of [
      [0, 0, N, N, 10000], [1, 0, N, N, 10000], [5, 0, N, N, 10000], [5, 0, 2, N, 10000], [5, 0, 0, N, 10000],
      [5, 1, N, N, 10000], [(1 << 23) + 1, 0, N, N, 10000], [1 << 23, 0, N, N, 3000], [5, 0, N, 3, 10000],
      [5, 0, N, N, 40], [5, 0, N, N, 41], [5, 0, N, N, 57], [5, 0, N, N, 80],
    ]) {
      const p = verifiedProg(nr!, flags!, stop!, fault!);
      expect(compileProgram(p, { verified: true }).functions).toBe(2);
      const info = dp.jit.compile(p, { verified: true });
      expect(info.slot).not.toBe(0);
      const [a, b] = both(p, info.slot, new Uint8Array(0), { budget });
      dp.jit.release(info.slot);
      expect({ nr, caseFlags: flags, stop, caseFault: fault, budget, ...b }).toEqual({ nr, caseFlags: flags, stop, caseFault: fault, budget, ...a });
      seen.push(a.fault ?? `${a.r0! >> 32n}:${a.r0! & 0xffffffffn}`);
    }
    expect(seen.slice(0, 5)).toEqual(['0:100', '1:175', '5:2305', '3:608', '1:175']);
    expect(seen.slice(5)).toEqual(['4294967274:100', '4294967289:100', 'budget', 'read', 'budget', 'budget', 'budget', '5:2305']);
  });
});

describe('map updates and deletes call the map directly', () => {
  it('update (each flag, full map, bad key or value pointer) and delete on hash, per-CPU hash and array maps: r0, faults and contents as the helper leaves them', async () => {
    const { BpfMap } = await import('../../src/ebpf/maps.js');
    const seen: string[] = [];
    for (const jit of [false, true]) {
      const d = await Dataplane.create({ workers: 1 });
      const v = new Vm(d);
      try {
        const maps = [
          new BpfMap(d, { name: 'h', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 2 }),
          new BpfMap(d, { name: 'ph', type: 'percpu_hash', keySize: 4, valueSize: 8, maxEntries: 2 }),
          new BpfMap(d, { name: 'a', type: 'array', keySize: 4, valueSize: 8, maxEntries: 2 }),
        ];
        const out: string[] = [];
        for (const m of maps) {
          // key at fp-8, value (key * 10 + thread) at fp-16; op 2 = update with flags, 3 = delete.
          const prog = (op: number, key: number, flags: number, keyPtr: string, valPtr: string): Uint8Array => assemble(
            `mov %r6, ${key}\nstxw [%r10-8], %r6\nmul %r6, 10\nstxdw [%r10-16], %r6\nlddw %r1, ${m.record}\nmov %r2, ${keyPtr}\nadd %r2, -8\nmov %r3, ${valPtr}\nadd %r3, -16\nmov %r4, ${flags}\ncall ${op}\nexit`);
          const steps: [number, number, number, string, string, number][] = [
            [2, 1, 0, '%r10', '%r10', 0], [2, 1, 1, '%r10', '%r10', 1], [2, 2, 2, '%r10', '%r10', 0], [2, 2, 1, '%r10', '%r10', 1],
            [2, 3, 0, '%r10', '%r10', 0], [2, 1, 4, '%r10', '%r10', 0], [2, 1, 0, '%r1', '%r10', 0], [2, 1, 0, '%r10', '%r1', 0],
            [3, 1, 0, '%r10', '%r10', 0], [3, 1, 0, '%r10', '%r10', 1], [3, 1, 0, '%r1', '%r10', 0], [2, 3, 0, '%r10', '%r10', 0],
          ];
          for (const [op, key, flags, kp, vp, thread] of steps) {
            const insns = prog(op, key, flags, kp, vp);
            const info = d.jit.compile(insns, { maps: [codegenMap(d.view(), m.record)] });
            expect(info.slot).not.toBe(0);
            const at = v.place(insns);
            const r = v.run(at, insns.length / 8, { jit: jit ? info.slot : 0, thread, maps: [m.record] });
            v.release(at, insns);
            d.jit.release(info.slot);
            const keys = m.keys().map((k) => new DataView(k.buffer).getUint32(0, true)).sort();
            const vals = keys.map((k) => JSON.stringify(m.lookup(u32le(k))));
            out.push(`${m.name} ${op}/${key}/${flags}/${kp}/${vp}/${thread}: ${r.fault ?? BigInt.asIntN(64, r.r0)} [${keys.join(',')}] ${vals.join(' ')}`);
          }
        }
        seen.push(out.join('\n'));
      } finally {
        v.close();
      }
    }
    expect(seen[1]).toEqual(seen[0]);
    // update ANY; NOEXIST on it (EEXIST); EXIST on a missing key (ENOENT); NOEXIST on a new one;
    // a third key in a full map (E2BIG); unknown flags (EINVAL); bad key and value pointers;
    // delete, delete again (ENOENT), a bad key pointer; then the third key fits.
    const r0 = (name: string): string[] => seen[0]!.split('\n').filter((l) => l.startsWith(`${name} `)).map((l) => l.split(': ')[1]!.split(' [')[0]!);
    expect(r0('h')).toEqual(['0', '-17', '-2', '0', '-7', '-22', 'read', 'read', '0', '-2', 'read', '0']);
    expect(r0('ph')).toEqual(r0('h'));
    // arrays: every key exists (EEXIST for NOEXIST), keys past the end are E2BIG, delete is EINVAL.
    expect(r0('a')).toEqual(['0', '-17', '-7', '-7', '-7', '-22', 'read', 'read', '-22', '-22', 'read', '-7']);
    // per-CPU: an update from thread 1 writes that thread's copy.
    const z = '{"0":0,"1":0,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0}';
    expect(seen[0]!.split('\n').find((l) => l.startsWith('ph 2/2/1/'))!.endsWith(`[${z},{"0":20,"1":0,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0}]`)).toBe(true);
  });
});

function u32le(x: number): Uint8Array {
  return new Uint8Array(new Uint32Array([x]).buffer);
}

describe('XDP head, tail and metadata adjustments run inline', () => {
  // Deltas from the packet (s32 at offsets 20 and 24, read before any call); r0 = (each
  // call's r0, 0 or -EINVAL, one bit per call) << 16 | data_end - data << 8 | data - data_meta.
  const prog = (ids: number[]): Uint8Array => assemble([
    'mov %r6, %r1', 'mov %r7, 0', 'ldxw %r2, [%r6+0]', 'ldxw %r3, [%r6+4]', 'mov %r4, %r2', 'add %r4, 32',
    'jgt %r4, %r3, short', 'ldxw %r8, [%r2+20]', 'ldxw %r9, [%r2+24]',
    ...ids.flatMap((id, k) => ['mov %r1, %r6', `mov %r2, %r${k === 0 ? 8 : 9}`, `call ${id}`, 'jeq %r0, 0, +1', `or %r7, ${1 << k}`]),
    'ldxw %r2, [%r6+0]', 'ldxw %r3, [%r6+4]', 'ldxw %r4, [%r6+8]',
    'mov %r0, %r3', 'sub %r0, %r2', 'and %r0, 0xff', 'lsh %r0, 8',
    'mov %r5, %r2', 'sub %r5, %r4', 'and %r5, 0xff', 'or %r0, %r5',
    'lsh %r7, 16', 'or %r0, %r7', 'exit', 'short:', 'mov %r0, 0xffff', 'exit',
  ].join('\n'));

  it('every check and move as the helpers make them, at and around each limit, once and chained over repetitions', async () => {
    const emu = await Emulator.create({});
    try {
      const progs = [[44], [65], [54], [54, 44], [44, 54], [65, 65], [54, 54], [44, 65]].map((ids) => emu.loadProgram({ name: 'adj', type: 'xdp', insns: prog(ids) }));
      expect(progs.every((p) => p.jit.slot !== 0)).toBe(true);
      const outcomes = new Set<string>();
      let runs = 0;
      for (const len of [60, 100, 1500]) {
        const near = (x: number): number[] => [x - 2, x - 1, x, x + 1, x + 2];
        const deltas = [...new Set([
          ...near(len - 14), ...near(14 - len), ...Array.from({ length: 90 }, (_, k) => -300 + k * 2), ...Array.from({ length: 81 }, (_, k) => k - 40),
          ...Array.from({ length: 120 }, (_, k) => 1400 + k * 6), -1 << 31, 0x7fffffff,
        ])];
        for (const p of progs) {
          for (const [d0, d1] of deltas.map((d, k) => [d, deltas[(k * 7) % deltas.length]!])) {
            const data = new Uint8Array(len).map((_, k) => (k * 7) & 0xff);
            data.set([0x08, 0x00], 12);
            new DataView(data.buffer).setInt32(20, d0!, true);
            new DataView(data.buffer).setInt32(24, d1!, true);
            for (const repeat of [1, 3]) {
              const [c, i] = [false, true].map((interpreter) => {
                const x = emu.testRun(p, { data, repeat, interpreter });
                return { retval: x.retval, fault: x.fault, data: Buffer.from(x.dataOut).toString('hex'), executed: x.executed };
              });
              runs++;
              if (JSON.stringify(c) !== JSON.stringify(i)) expect({ len, d0, d1, repeat, ...c }).toEqual({ len, d0, d1, repeat, ...i });
              outcomes.add(`${progs.indexOf(p)}:${c!.retval >> 16}`);
            }
          }
        }
      }
      // every program saw its calls all succeed, and some fail
      for (let k = 0; k < progs.length; k++) {
        const flags = [...outcomes].filter((o) => o.startsWith(`${k}:`)).map((o) => o.split(':')[1]);
        expect(flags).toContain('0');
        expect(flags.some((f) => f !== '0' && f !== '0xffff')).toBe(true);
      }
      expect(runs).toBeGreaterThan(5000);
    } finally {
      await emu.close();
    }
  });
});

describe('bpf_redirect and bpf_redirect_peer run inline', () => {
  it('each flag, constant or not: the same r0 and recorded target on both engines', () => {
    const dv = dp.view();
    const seen: string[] = [];
    for (const id of [23, 155]) {
      for (const flags of ['0', '1', '2', '3', '0x100000000', '0xffffffffffffffff']) {
        for (const known of [true, false]) {
          const setFlags = known ? `lddw %r2, ${flags}` : `lddw %r2, ${flags}\nstxdw [%r10-8], %r2\nldxdw %r2, [%r10-8]`;
          const insns = assemble(`lddw %r1, 0x100000007\n${setFlags}\ncall ${id}\nexit`);
          const c = dp.jit.compile(insns);
          expect(c.slot).not.toBe(0);
          const at = vm.place(insns);
          const r = [0, c.slot].map((jit) => {
            const x = vm.run(at, insns.length / 8, { jit });
            return { r0: Number(x.r0), target: dv.getUint32(vm.rec + A.VM_REDIRECT_IFINDEX, true), flags: dv.getUint32(vm.rec + A.VM_REDIRECT_FLAGS, true) };
          });
          vm.release(at, insns);
          dp.jit.release(c.slot);
          expect({ id, caseFlags: flags, known, ...r[1] }).toEqual({ id, caseFlags: flags, known, ...r[0] });
          if (known) seen.push(`${id}/${flags}:${r[0]!.r0}${r[0]!.target ? `>${r[0]!.target}/${r[0]!.flags.toString(16)}` : ''}`);
        }
      }
    }
    // TC_ACT_REDIRECT (7) to ifindex 7 (the low word), BPF_F_INGRESS kept; TC_ACT_SHOT (2) for other flags.
    expect(seen).toEqual(['23/0:7>7/100', '23/1:7>7/101', '23/2:2', '23/3:2', '23/0x100000000:2', '23/0xffffffffffffffff:2',
      '155/0:7>7/300', '155/1:2', '155/2:2', '155/3:2', '155/0x100000000:2', '155/0xffffffffffffffff:2']);
  });
});

describe('bpf_skb_load_bytes and bpf_skb_store_bytes run inline', () => {
  // The offset is the packet's byte 0 (so one program tries many); the buffer is 64 stack
  // bytes (or r1, the context: a bad pointer for load, or the packet itself: overlapping);
  // r0 = the helper's result's low 16 bits << 16 | a 16-bit hash of the buffer.
  const prog = (store: boolean, len: number, flags: number, buf: 'stack' | 'ctx' | 'pkt'): Uint8Array => assemble([
    'mov %r6, %r1', 'mov %r7, 0', 'mov %r8, 0x1234',
    ...Array.from({ length: 8 }, (_, k) => [`stxdw [%r10-${64 - 8 * k}], %r8`, 'add %r8, 0x1111']).flat(),
    'ldxw %r2, [%r6+76]', 'ldxw %r3, [%r6+80]', 'mov %r4, %r2', 'add %r4, 1', 'jgt %r4, %r3, out', 'ldxb %r2, [%r2+0]',
    buf === 'stack' ? 'mov %r3, %r10\nadd %r3, -64' : buf === 'ctx' ? 'mov %r3, %r6' : 'ldxw %r3, [%r6+76]\nadd %r3, 3',
    'mov %r1, %r6', `mov %r4, ${len}`, ...(store ? [`mov %r5, ${flags}`] : []), `call ${store ? 9 : 26}`,
    'mov %r7, %r0', 'and %r7, 0xffff', 'lsh %r7, 16', 'mov %r0, 0',
    ...Array.from({ length: 8 }, (_, k) => [`ldxdw %r5, [%r10-${64 - 8 * k}]`, 'mul %r0, 31', 'add %r0, %r5']).flat(),
    'and %r0, 0xffff', 'or %r0, %r7', 'out:', 'exit',
  ].join('\n'));

  it('every length class, offsets up to and past the end, bad and overlapping buffers, each flag: as the helpers', async () => {
    const emu = await Emulator.create({});
    try {
      const seen = new Set<string>();
      let runs = 0;
      for (const store of [false, true]) {
        for (const len of [1, 2, 3, 4, 5, 7, 8, 9, 14, 16, 17, 20, 24, 25, 64]) {
          for (const flags of store ? [0, 1, 2, 3, 4] : [0]) {
            for (const buf of ['stack', 'ctx', 'pkt'] as const) {
              const p = emu.loadProgram({ name: 'b', type: 'sched_cls', insns: prog(store, len, flags, buf), verify: false });
              expect(p.jit.slot).not.toBe(0);
              for (const size of [60, 100]) {
                for (const off of [0, 1, 13, 30, size - 64, size - 21, size - 20, size - 8, size - 4, size - 1, size, size + 1, 200, 255]) {
                  if (off < 0) continue;
                  const data = new Uint8Array(size).map((_, k) => (k * 29 + 7) & 0xff);
                  data[0] = off;
                  for (const repeat of [1, 2]) {
                    const [c, i] = [false, true].map((interpreter) => {
                      const x = emu.testRun(p, { data, repeat, interpreter });
                      return { retval: x.retval, fault: x.fault, data: Buffer.from(x.dataOut).toString('hex') };
                    });
                    runs++;
                    if (JSON.stringify(c) !== JSON.stringify(i)) expect({ store, len, flags, buf, size, off, repeat, ...c }).toEqual({ store, len, flags, buf, size, off, repeat, ...i });
                    seen.add(c!.fault ?? String(c!.retval));
                  }
                }
              }
              emu.closeProgram(p);
            }
          }
        }
      }
      expect(runs).toBeGreaterThan(4000);
      // each outcome: 0, -EFAULT, -EINVAL, and faults for the context as a buffer
      const results = new Set([...seen].map((v) => (v === 'write' || v === 'read' ? v : String(Number(v) >>> 16))));
      expect([...results].sort()).toEqual(['0', String(0xfff2), String(0xffea), 'read', 'write'].sort());
    } finally {
      await emu.close();
    }
  });
});

describe('hash map lookups run inline', () => {
  it('keys of 1 to 16 bytes, hash and per-CPU hash (the thread\'s copy), through collisions, deleted slots and a full table: the same element or NULL as the map code', async () => {
    const { BpfMap } = await import('../../src/ebpf/maps.js');
    for (const type of ['hash', 'percpu_hash'] as const) {
      for (const ks of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 16]) {
        const m = new BpfMap(dp, { name: 'h', type, keySize: ks, valueSize: 8, maxEntries: 6 });
        const key = (k: number): Uint8Array => new Uint8Array(ks).map((_, i) => (((k * 2654435761) >>> (8 * (i % 4))) & 0xff) ^ (i >= 4 ? k : 0));
        const copies = type === 'hash' ? 1 : m.copies;
        const info = codegenMap(dp.view(), m.record);
        const r = prng(11);
        let checked = 0;
        for (let round = 0; round < 40; round++) {
          // churn: updates and deletes leave deleted slots and long probe runs
          for (let j = 0; j < 4; j++) {
            const k = Math.floor(r() * 12);
            try {
              if (r() < 0.6) m.update(key(k), type === 'hash' ? new Uint8Array(8).fill(k) : Array.from({ length: copies }, (_, c) => new Uint8Array(8).fill(k + 16 * c)));
              else m.delete(key(k));
            } catch { /* full, or not there */ }
          }
          for (let k = 0; k < 12; k++) {
            const kb = new Uint8Array(16);
            kb.set(key(k));
            const w = new DataView(kb.buffer);
            const insns = assemble(`lddw %r6, ${w.getBigUint64(0, true)}\nstxdw [%r10-16], %r6\nlddw %r6, ${w.getBigUint64(8, true)}\nstxdw [%r10-8], %r6\nlddw %r1, ${m.record}\nmov %r2, %r10\nadd %r2, -16\ncall 1\nexit`);
            const c = dp.jit.compile(insns, { maps: [info] });
            expect(c.slot).not.toBe(0);
            const at = vm.place(insns);
            const [a, b] = [0, c.slot].map((jit) => Number(vm.run(at, insns.length / 8, { jit, maps: [m.record] }).r0));
            vm.release(at, insns);
            dp.jit.release(c.slot);
            expect({ type, ks, round, k, r0: b }).toEqual({ type, ks, round, k, r0: a });
            if (a !== 0) expect(dp.bytes()[a]! & 15).toBe(k);
            checked += a !== 0 ? 1 : 0;
          }
        }
        expect(checked).toBeGreaterThan(60);
        m.close?.();
      }
    }
  });
});

describe('bpf_ktime_get_ns, bpf_get_prandom_u32 and bpf_get_smp_processor_id run inline', () => {
  it('the clock, the generator\'s sequence and state, and the thread: as the helpers give them', () => {
    // r0 = ((p1 ^ p2 << 7 ^ p3 << 13) + ktime * 3 + cpu * 1000003), from three prandom calls
    const insns = assemble(`call 7\nmov %r6, %r0\ncall 7\nlsh %r0, 7\nxor %r6, %r0\ncall 7\nlsh %r0, 13\nxor %r6, %r0\ncall 5\nmul %r0, 3\nadd %r6, %r0\ncall 8\nmul %r0, 1000003\nadd %r0, %r6\nexit`);
    const c = dp.jit.compile(insns);
    expect(c.slot).not.toBe(0);
    const at = vm.place(insns);
    const dv = dp.view();
    const clock = A.GLOBALS + A.G_CLOCK_NS;
    const saved = dv.getBigUint64(clock, true);
    const seen: bigint[] = [];
    try {
      for (const [seed, now, thread] of [[0n, 5n, 0], [1n, 123456789n, 0], [0xdeadbeefcafef00dn, 1n << 40n, 0], [7n, 9n, 1]] as const) {
        const r = [0, c.slot].map((jit) => {
          dv.setBigUint64(vm.rec + A.VM_PRNG, seed, true);
          dv.setBigUint64(clock, now, true);
          const x = vm.run(at, insns.length / 8, { jit, thread });
          return { r0: x.r0, fault: x.fault, prng: dv.getBigUint64(vm.rec + A.VM_PRNG, true) };
        });
        expect({ seed, ...r[1] }).toEqual({ seed, ...r[0] });
        expect(r[0]!.prng).not.toBe(seed);
        seen.push(r[0]!.r0);
      }
    } finally {
      dv.setBigUint64(clock, saved, true);
      vm.release(at, insns);
      dp.jit.release(c.slot);
    }
    expect(new Set(seen).size).toBe(4);
  });
});

describe('the per-packet entry relies on the load-time checks (issue 18)', () => {
  // r0 = the packet's byte 12 when 14 bytes are inside it, else 1; `off` the byte read.
  const parse = (data: number, end: number, off = 12): string =>
    `ldxw %r2, [%r1+${data}]\nldxw %r3, [%r1+${end}]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, drop\nldxb %r0, [%r2+${off}]\nexit\ndrop:\nmov %r0, 1\nexit`;

  it('a verified program: what bounds.ts proves runs unchecked in `run` as in the batch loop (its data/data_end loads too); unverified: every access of `run` is checked', () => {
    for (const [batch, data, end] of [['xdp', 0, 4], ['skb', A.SKB_DATA, A.SKB_DATA_END]] as const) {
      const proven = compileProgram(assemble(parse(data, end)), { batch, verified: true }).unchecked;
      // (the batch loop reads data/data_end from its locals: only the packet byte is an access there)
      expect(proven, batch).toEqual({ run: 3, batch: 1 });
      // A byte past the range the comparison proved: checked on both entries.
      expect(compileProgram(assemble(parse(data, end, 14)), { batch, verified: true }).unchecked, batch).toEqual({ run: 2, batch: 0 });
      expect(compileProgram(assemble(parse(data, end)), { batch }).unchecked.run, batch).toBe(0);
      expect(compileProgram(assemble(parse(data, end)), { verified: true }).unchecked, batch).toEqual({ run: 0, batch: 0 });
    }
  });

  it('a verified program tail-called with something else than the context in r1 (by an unverified caller) runs on the interpreter: the same faults and results as `interpreter: true`', async () => {
    const emu = await Emulator.create({});
    try {
      const { BpfMap } = await import('../../src/ebpf/maps.js');
      const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
      const target = emu.loadProgram({ name: 't', type: 'sched_cls', insns: assemble(parse(A.SKB_DATA, A.SKB_DATA_END)) });
      emu.progArraySet(jmp, 0, target);
      const callers = ['mov %r1, %r1', 'mov %r1, 0', 'mov %r1, %r10\nadd %r1, -192', 'add %r1, 8', 'lddw %r1, 0x100000'].map((r1, k) =>
        emu.loadProgram({ name: `c${k}`, type: 'sched_cls', insns: assemble(`${r1}\nlddw %r2, ${jmp.record}\nmov %r3, 0\ncall 12\nmov %r0, 5\nexit`), maps: [jmp.record], verify: false }));
      await emu.settleJit();
      expect([target, ...callers].every((p) => p.jit.slot !== 0)).toBe(true);
      for (const p of callers) {
        for (const len of [14, 60]) {
          const data = new Uint8Array(len).map((_, i) => i + 2);
          const [c, i] = [false, true].map((interpreter) => {
            const r = emu.testRun(p, { data, interpreter });
            return { retval: r.retval, fault: r.fault, faultPc: r.faultPc, executed: r.executed };
          });
          expect({ p: p.name, len, ...c }).toEqual({ p: p.name, len, ...i });
        }
      }
      // (the context itself: the compiled code's own path)
      expect(emu.testRun(callers[0]!, { data: new Uint8Array(60).fill(9) }).retval).toBe(9);
    } finally {
      await emu.close();
    }
  });
});
