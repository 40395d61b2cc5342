/** ALU, byte-swap and jump instructions. (Methods of Gen: gen.ts.) */

import * as A from '../../abi.generated.js';
import type { Insn } from './cfg.js';
import { I32, I64, Op } from './wasm.js';
import { ALU32, ALU64, BUD, B_FLT, B_RES, CMP32, CMP64, F_BSWAP16, F_BSWAP32, F_BSWAP64, G_BUDGET, R, TMP } from './locals.js';
import type { Gen } from './gen.js';

declare module './gen.js' {
  interface Gen {
    src64(i: Insn): void;
    alu64(i: Insn, pc: number): boolean;
    divmod(i: Insn, wide: boolean): void;
    reg(l: number, wide: boolean): void;
    zero(wide: boolean): void;
    src32(i: Insn): void;
    alu32(i: Insn, pc: number): boolean;
    bswap(i: Insn, pc: number): boolean;
    jmp(i: Insn, pc: number): boolean;
  }
}

/** Installed on Gen.prototype by compile.ts. */
export const aluMethods = {
  src64(this: Gen, i: Insn): void {
    if (i.code & 8) this.c.get(R(i.src));
    else this.c.i64c(i.imm);
  },

  alu64(this: Gen, i: Insn, pc: number): boolean {
    const c = this.c;
    const d = R(i.dst);
    const op = i.code >> 4;
    const simple = ALU64[op];
    if (simple !== undefined) {
      c.get(d);
      this.src64(i);
      c.op(simple).set(d);
      return false;
    }
    switch (op) {
      case 3: case 9: this.divmod(i, true); return false;
      case 8: // neg (0x8f, with the source bit, is no instruction)
        if ((i.code & 8) !== 0) { this.fault(A.VM_FAULT_INSN, pc); return true; }
        c.i64c(0).get(d).op(Op.i64_sub).set(d); return false;
      case 11:
        if ((i.code & 8) === 0 || i.off === 0) { this.src64(i); c.set(d); return false; }
        if (i.off === 8) { c.get(R(i.src)).op(Op.i64_extend8_s).set(d); return false; }
        if (i.off === 16) { c.get(R(i.src)).op(Op.i64_extend16_s).set(d); return false; }
        if (i.off === 32) { c.get(R(i.src)).op(Op.i64_extend32_s).set(d); return false; }
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
      case 13: return this.bswap(i, pc);
      default:
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
    }
  },

  /**
   * div (op 3) and mod (op 9), 64- or 32-bit: by zero, div gives 0 and mod leaves dst;
   * signed (off != 0) by -1, div negates and mod gives 0 (Wasm would trap on both).
   */
  divmod(this: Gen, i: Insn, wide: boolean): void {
    const c = this.c;
    const d = R(i.dst);
    const div = i.code >> 4 === 3;
    const T = wide ? I64 : I32;
    const op = wide
      ? (i.off === 0 ? (div ? Op.i64_div_u : Op.i64_rem_u) : (div ? Op.i64_div_s : Op.i64_rem_s))
      : (i.off === 0 ? (div ? Op.i32_div_u : Op.i32_rem_u) : (div ? Op.i32_div_s : Op.i32_rem_s));
    if ((i.code & 8) === 0 && i.imm !== 0 && (i.off === 0 || i.imm !== -1)) {
      // A constant divisor other than 0 (and -1, signed): the operation alone (the engine
      // strength-reduces it).
      this.reg(d, wide);
      if (wide) c.i64c(i.imm); else c.i32c(i.imm);
      c.op(op);
      if (!wide) c.op(Op.i64_extend_i32_u);
      c.set(d);
      return;
    }
    // TMP holds the divisor, zero-extended for the 32-bit forms.
    if (wide) this.src64(i); else { this.src32(i); c.op(Op.i64_extend_i32_u); }
    c.set(TMP);
    c.get(TMP).op(Op.i64_eqz);
    c.u8(Op.if).u8(T);
    if (div) this.zero(wide); else this.reg(d, wide);
    c.op(Op.else);
    if (i.off === 0) {
      this.reg(d, wide);
      this.reg(TMP, wide);
      c.op(op);
    } else {
      c.get(TMP).i64c(wide ? -1 : 0xffffffff).op(Op.i64_eq);
      c.u8(Op.if).u8(T);
      if (div) { this.zero(wide); this.reg(d, wide); c.op(wide ? Op.i64_sub : Op.i32_sub); } else this.zero(wide);
      c.op(Op.else);
      this.reg(d, wide);
      this.reg(TMP, wide);
      c.op(op).op(Op.end);
    }
    c.op(Op.end);
    if (!wide) c.op(Op.i64_extend_i32_u);
    c.set(d);
  },

  /** A 64-bit local, or its low 32 bits. */
  reg(this: Gen, l: number, wide: boolean): void {
    this.c.get(l);
    if (!wide) this.c.op(Op.i32_wrap_i64);
  },

  zero(this: Gen, wide: boolean): void {
    if (wide) this.c.i64c(0);
    else this.c.i32c(0);
  },

  src32(this: Gen, i: Insn): void {
    if (i.code & 8) this.c.get(R(i.src)).op(Op.i32_wrap_i64);
    else this.c.i32c(i.imm);
  },

  alu32(this: Gen, i: Insn, pc: number): boolean {
    const c = this.c;
    const d = R(i.dst);
    const op = i.code >> 4;
    const simple = ALU32[op];
    if (simple !== undefined) {
      c.get(d).op(Op.i32_wrap_i64);
      this.src32(i);
      c.op(simple);
      c.op(Op.i64_extend_i32_u).set(d);
      return false;
    }
    switch (op) {
      case 3: case 9: this.divmod(i, false); return false;
      case 8:
        if ((i.code & 8) !== 0) { this.fault(A.VM_FAULT_INSN, pc); return true; }
        c.i32c(0); c.get(d).op(Op.i32_wrap_i64); c.op(Op.i32_sub); c.op(Op.i64_extend_i32_u).set(d); return false;
      case 11:
        if ((i.code & 8) === 0 || i.off === 0) { this.src32(i); c.op(Op.i64_extend_i32_u).set(d); return false; }
        if (i.off === 8) { this.src32(i); c.op(Op.i32_extend8_s); c.op(Op.i64_extend_i32_u).set(d); return false; }
        if (i.off === 16) { this.src32(i); c.op(Op.i32_extend16_s); c.op(Op.i64_extend_i32_u).set(d); return false; }
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
      case 13:
        if ((i.code & 8) === 0) {
          if (i.imm === 16) { c.get(d).i64c(0xffff).op(Op.i64_and).set(d); return false; }
          if (i.imm === 32) { c.get(d).i64c(0xffffffff).op(Op.i64_and).set(d); return false; }
          if (i.imm === 64) return false;
          this.fault(A.VM_FAULT_INSN, pc);
          return true;
        }
        return this.bswap(i, pc);
      default:
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
    }
  },

  /** bswap16/32/64 of dst (ALU64 END, and ALU `be` on this little-endian machine). */
  bswap(this: Gen, i: Insn, pc: number): boolean {
    const fn = i.imm === 16 ? F_BSWAP16 : i.imm === 32 ? F_BSWAP32 : i.imm === 64 ? F_BSWAP64 : -1;
    if (fn < 0) {
      this.fault(A.VM_FAULT_INSN, pc);
      return true;
    }
    this.c.get(R(i.dst)).op(Op.call).u32(fn).set(R(i.dst));
    return false;
  },

  jmp(this: Gen, i: Insn, pc: number): boolean {
    const c = this.c;
    const cls = i.code & 7;
    const op = i.code & 0xf0;
    if (op === 0x00) {
      this.goto(pc + 1 + (cls === 5 ? i.off : i.imm), pc);
      return true;
    }
    if (op === 0x80) {
      if (cls !== 5 || (i.code & 8) !== 0) { this.fault(A.VM_FAULT_INSN, pc); return true; }
      if (i.src === 1) this.callLocal(i, pc);
      else if (i.src === 2) this.helperCall(i, pc, A.VM_KFUNC_BASE + (i.imm >>> 0));
      else if (i.src !== 0) { this.fault(A.VM_FAULT_HELPER, pc); return true; }
      else this.callHelper(i, pc);
      // The call ends the block; what follows is the next block (or a pc fault past the end).
      this.goto(pc + 1, pc, true);
      return true;
    }
    if (op === 0x90) {
      if (cls !== 5) { this.fault(A.VM_FAULT_INSN, pc); return true; }
      if (this.batchMode) {
        // The program's exit in the batch loop: this packet's verdict (the budget stays in
        // BUD, where the loop counts the instructions run).
        c.get(R(0)).set(B_RES).i32c(0).set(B_FLT);
        // (a list's program other than the last: NETKIT_NEXT goes on to the next program,
        // anything else ends the walk, batch.ts listLoopFn; tested here, where r0 is often
        // a constant)
        if (this.depth('W') >= 0) c.get(R(0)).op(Op.i32_wrap_i64).i32c(-1).op(Op.i32_ne).u8(Op.br_if).u32(this.depth('W'));
        c.u8(Op.br).u32(this.depth('D'));
        return true;
      }
      if (this.loopMode) {
        // A callback's exit in its loop function: this iteration's r0.
        c.u8(Op.br).u32(this.depth('X'));
        return true;
      }
      c.get(BUD).op(Op.global_set).u32(G_BUDGET);
      if (this.slimFn) { c.get(R(0)).op(Op.return); return true; }
      for (let r = 0; r <= 5; r++) c.get(R(r));
      c.get(R(10)).op(Op.return);
      return true;
    }
    const wide = cls === 5;
    const k = op >> 4;
    if (k !== 4 && (wide ? CMP64 : CMP32)[k] === undefined) { this.fault(A.VM_FAULT_INSN, pc); return true; }
    if (this.stripped?.has(pc)) {
      // A grouped round: the exit is not taken, the latch is (the next copy follows).
      if (pc === this.deferred?.latch) return true;
      this.goto(pc + 1, pc, true);
      return true;
    }
    if (wide) {
      c.get(R(i.dst));
      this.src64(i);
      if (k === 4) c.op(Op.i64_and).i64c(0).op(Op.i64_ne);
      else c.op(CMP64[k]!);
    } else {
      c.get(R(i.dst)).op(Op.i32_wrap_i64);
      this.src32(i);
      if (k === 4) c.op(Op.i32_and).i32c(0).op(Op.i32_ne);
      else c.op(CMP32[k]!);
    }
    if (pc === this.unrollLatch) {
      // An unrolled copy's latch: the loop ends when it is not taken, else the next copy runs.
      c.op(Op.i32_eqz).u8(Op.br_if).u32(this.depth('O'));
      return true;
    }
    this.branchIf(pc + 1 + i.off, pc);
    this.goto(pc + 1, pc, true);
    return true;
  },
} satisfies Pick<Gen, 'src64' | 'alu64' | 'divmod' | 'reg' | 'zero' | 'src32' | 'alu32' | 'bswap' | 'jmp'>;
