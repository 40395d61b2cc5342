/** Loads, stores and atomics, and the memory-access checks every access goes through. (Methods of Gen: gen.ts.) */

import * as A from '../../abi.generated.js';
import type { Insn } from './cfg.js';
import { FACT_DATA, FACT_DATA_END, FACT_DIRECT, FACT_NONE } from './bounds.js';
import { ATOMIC, Op } from './wasm.js';
import { ADDR, CW_HI, CW_LO, C_HI, C_LO, EA, FP, FUNC_TAG, F_CHECK, F_LDABS, PSEUDO_FUNC, PW_HI, PW_LO, P_HI, P_LO, R, REC, ST_LO, TMP } from './locals.js';
import type { Gen } from './gen.js';

declare module './gen.js' {
  interface Gen {
    addr(base: number, off: number, size: number, write: boolean, pc: number, stackFirst?: boolean, fold?: boolean): number;
    unproven(pc: number): boolean;
    inRange(lo: number, hi: number, size: number): void;
    ldx(i: Insn, pc: number): boolean;
    st(i: Insn, pc: number): boolean;
    rmw(i: Insn, pair: readonly [number, number], narrow: number, align: number): void;
    ld(i: Insn, pc: number): boolean;
  }
}

/** BPF_ATOMIC operations (and their fetch forms) as a plain operation on the old value; 0: xchg (the new value is src). */
const PLAIN_RMW = new Map<number, number>([
  [0x00, Op.i64_add], [0x01, Op.i64_add], [0x40, Op.i64_or], [0x41, Op.i64_or],
  [0x50, Op.i64_and], [0x51, Op.i64_and], [0xa0, Op.i64_xor], [0xa1, Op.i64_xor], [0xe1, 0],
]);

/** Installed on Gen.prototype by compile.ts. */
export const memoryMethods = {
  /**
   * Leaves in ADDR the checked address of a `size`-byte access at reg + off, or faults
   * (read or write) like the interpreter's checks.
   */
  addr(this: Gen, base: number, off: number, size: number, write: boolean, pc: number, stackFirst = false, fold = false): number {
    const c = this.c;
    // (in a grouped round whose test showed this access inside the packet in every iteration)
    if (this.unproven(pc) === false || this.roundPacket?.has(pc)) {
      // Proven inside this packet's context or its checked range (bounds.ts). With `fold`,
      // a positive offset is left to the memory instruction's own (base + off cannot wrap:
      // the access is inside the memory).
      this.direct[this.batchMode ? 'batch' : 'run']++;
      c.get(R(base)).op(Op.i32_wrap_i64);
      if (fold && off > 0) { c.set(ADDR); return off; }
      if (off !== 0) c.i32c(off).op(Op.i32_add);
      c.set(ADDR);
      return 0;
    }
    // (a register set from r10 earlier in the block: r10 + k)
    const fo = base === 10 ? 0 : this.fpOff.get(base);
    if (this.r10Fixed && fo !== undefined && off + fo >= -A.VM_FRAME_STACK && off + fo + size <= 0) {
      // Inside the current frame: r10 is its top and never changes.
      c.get(FP).i32c(off + fo + A.VM_FRAME_STACK).op(Op.i32_add).set(ADDR);
      return 0;
    }
    c.get(R(base));
    if (off !== 0) c.i64c(off).op(Op.i64_add);
    c.set(EA);
    this.enter(Op.block);
    this.enter(Op.block);
    // The packet first (what programs read most), the context, then the stack (one
    // unsigned compare of ea - lo), the program's own regions, and the general check. In
    // subprograms and callbacks, which mostly get pointers into their callers' frames, and
    // for helpers' key and buffer arguments, the stack first. (The ranges do not overlap:
    // the order changes only the time taken.)
    const stack = (): void => { c.get(EA).get(ST_LO).op(Op.i64_sub).i64c(A.VM_STACK_SIZE - size).op(Op.i64_le_u).u8(Op.br_if).u32(0); };
    const sub = stackFirst || this.f !== this.funcs[0];
    if (sub) stack();
    if (write) { this.inRange(PW_LO, PW_HI, size); this.inRange(CW_LO, CW_HI, size); } else { this.inRange(P_LO, P_HI, size); this.inRange(C_LO, C_HI, size); }
    if (!sub) stack();
    for (const g of this.inlineRegions) {
      if (write && !g.writable) continue;
      if (g.len < size) continue;
      c.get(EA).i64c(g.addr).op(Op.i64_sub).i64c(g.len - size).op(Op.i64_le_u).u8(Op.br_if).u32(0);
    }
    if (this.lazyRegions) this.storeRegions();
    this.generalChecks++;
    c.get(REC).get(EA).i32c(size).i32c(write ? 1 : 0).op(Op.call).u32(F_CHECK).tee(ADDR).op(Op.i32_eqz);
    this.enter(Op.if);
    this.fault(write ? A.VM_FAULT_WRITE : A.VM_FAULT_READ, pc);
    this.leave();
    c.u8(Op.br).u32(1);
    this.leave();
    c.get(EA).op(Op.i32_wrap_i64).set(ADDR);
    this.leave();
    return 0;
  },

  /**
   * Whether the access at `pc` needs a run-time check here: what bounds.ts and the load-time
   * checks proved leaves none. (The batch code's data/data_end loads read no memory: `ldx`
   * takes them before asking.)
   */
  unproven(this: Gen, pc: number): boolean {
    // (the per-packet entry's main function of a verified program: its `data`/`data_end`
    // loads are context loads proven inside the context, too)
    let fact = this.batchMode ? this.facts[pc] : this.runFacts !== null && this.f === this.funcs[0] && !this.loopMode ? this.runFacts[pc]! : FACT_NONE;
    // What the load-time checks proved, in any function (`run` and the batch loop start
    // only runs whose r1 is the context: runFacts is set whenever these are used).
    if (fact === FACT_NONE && this.proven !== null && this.runFacts !== null && this.proven[pc] === 1) fact = FACT_DIRECT;
    return !(fact === FACT_DIRECT || (!this.batchMode && fact !== FACT_NONE));
  },

  /** `br_if 0` when EA..EA+size lies in [lo, hi) (locals; an empty region is (EMPTY_LO, EMPTY_HI)). */
  inRange(this: Gen, lo: number, hi: number, size: number): void {
    this.c.get(EA).get(lo).op(Op.i64_ge_u).get(EA).get(hi).i64c(size).op(Op.i64_sub).op(Op.i64_le_u).op(Op.i32_and).u8(Op.br_if).u32(0);
  },

  ldx(this: Gen, i: Insn, pc: number): boolean {
    const c = this.c;
    const mode = i.code & 0xe0;
    const sz = i.code & 0x18;
    const size = sz === 0x00 ? 4 : sz === 0x08 ? 2 : sz === 0x10 ? 1 : 8;
    const fact = this.batchMode ? this.facts[pc] : 0;
    if (fact === FACT_DATA || fact === FACT_DATA_END) {
      // skb->data / data_end: this packet's bounds, as the __sk_buff holds them.
      c.get(fact === FACT_DATA ? P_LO : P_HI).set(R(i.dst));
      return false;
    }
    const moff = this.addr(i.src, i.off, size, false, pc, false, true);
    let op: number;
    if (mode === 0x60) op = size === 4 ? Op.i64_load32_u : size === 2 ? Op.i64_load16_u : size === 1 ? Op.i64_load8_u : Op.i64_load;
    else if (mode === 0x80 && size !== 8) op = size === 4 ? Op.i64_load32_s : size === 2 ? Op.i64_load16_s : Op.i64_load8_s;
    else { this.fault(A.VM_FAULT_INSN, pc); return true; }
    c.get(ADDR).mem(op, 0, moff).set(R(i.dst));
    return false;
  },

  st(this: Gen, i: Insn, pc: number): boolean {
    const c = this.c;
    const cls = i.code & 7;
    const mode = i.code & 0xe0;
    const sz = i.code & 0x18;
    const size = sz === 0x00 ? 4 : sz === 0x08 ? 2 : sz === 0x10 ? 1 : 8;
    const moff = this.addr(i.dst, i.off, size, true, pc, false, mode === 0x60);
    if (mode === 0x60) {
      c.get(ADDR);
      if (cls === 2) c.i64c(i.imm); else c.get(R(i.src));
      c.mem(size === 4 ? Op.i64_store32 : size === 2 ? Op.i64_store16 : size === 1 ? Op.i64_store8 : Op.i64_store, 0, moff);
      return false;
    }
    if (mode !== 0xc0 || cls !== 3 || (size !== 4 && size !== 8)) { this.fault(A.VM_FAULT_INSN, pc); return true; }
    c.get(ADDR).i32c(size - 1).op(Op.i32_and);
    this.enter(Op.if);
    this.fault(A.VM_FAULT_ALIGN, pc);
    this.leave();
    const narrow = size === 4 ? 1 : 0;
    const align = size === 4 ? 2 : 3;
    const plain = PLAIN_RMW.get(i.imm);
    if (this.oneThread && plain !== undefined) {
      // No other thread runs eBPF on this memory (oneThread): a plain load, operation and
      // store is the same read-modify-write (the old value zero-extended, as the fetch's).
      c.get(ADDR).mem(size === 4 ? Op.i64_load32_u : Op.i64_load, 0, 0).set(TMP);
      c.get(ADDR);
      if (plain === 0) c.get(R(i.src));
      else c.get(TMP).get(R(i.src)).op(plain);
      c.mem(size === 4 ? Op.i64_store32 : Op.i64_store, 0, 0);
      if (i.imm === 0xe1 || (i.imm & 1) !== 0) c.get(TMP).set(R(i.src));
      return false;
    }
    switch (i.imm) {
      case 0x00: case 0x01: this.rmw(i, ATOMIC.add, narrow, align); break;
      case 0x40: case 0x41: this.rmw(i, ATOMIC.or, narrow, align); break;
      case 0x50: case 0x51: this.rmw(i, ATOMIC.and, narrow, align); break;
      case 0xa0: case 0xa1: this.rmw(i, ATOMIC.xor, narrow, align); break;
      case 0xe1: this.rmw(i, ATOMIC.xchg, narrow, align); break;
      case 0xf1:
        c.get(ADDR).get(R(0)).get(R(i.src)).u8(Op.atomic).u32(ATOMIC.cmpxchg[narrow]).u32(align).u32(0);
        c.set(R(0));
        return false;
      default:
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
    }
    if (i.imm === 0xe1 || (i.imm & 1) !== 0) c.set(R(i.src));
    else c.op(Op.drop);
    return false;
  },

  /** An atomic read-modify-write of src at ADDR (the old value stays on the stack). */
  rmw(this: Gen, i: Insn, pair: readonly [number, number], narrow: number, align: number): void {
    this.c.get(ADDR).get(R(i.src)).u8(Op.atomic).u32(pair[narrow]!).u32(align).u32(0);
  },

  ld(this: Gen, i: Insn, pc: number): boolean {
    const c = this.c;
    if (i.code === 0x18) {
      if (pc + 1 >= this.n || (i.src !== 0 && i.src !== PSEUDO_FUNC)) { this.fault(A.VM_FAULT_INSN, pc); return true; }
      const hi = this.ins[pc + 1]!.imm;
      // (a function pointer: as the interpreter makes it, the pc's low 32 bits)
      const v = i.src === 0 ? (BigInt(hi >>> 0) << 32n) | BigInt(i.imm >>> 0) : (FUNC_TAG << 32n) | BigInt((pc + 1 + i.imm) >>> 0);
      c.i64c(v).set(R(i.dst));
      return false;
    }
    if (i.code === 0x20 || i.code === 0x28 || i.code === 0x30 || i.code === 0x40 || i.code === 0x48 || i.code === 0x50) {
      const size = (i.code & 0x18) === 0 ? 4 : (i.code & 0x18) === 0x08 ? 2 : 1;
      c.get(REC);
      if (i.code & 0x40) c.get(R(i.src)).i64c(0xffffffff).op(Op.i64_and).i64c(i.imm >>> 0).op(Op.i64_add);
      else c.i64c(i.imm >>> 0);
      c.i32c(size).op(Op.call).u32(F_LDABS).set(R(0));
      this.checkUnwind();
      return false;
    }
    this.fault(A.VM_FAULT_INSN, pc);
    return true;
  },
} satisfies Pick<Gen, 'addr' | 'unproven' | 'inRange' | 'ldx' | 'st' | 'rmw' | 'ld'>;
