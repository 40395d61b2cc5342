/** Pass 3: the dataflow over the CFG — instruction by instruction, helper calls, memory accesses — and the kernel-shaped log of a refused block. */

import { ctxAccess, ctxLayout, type CtxField } from '../ctx.js';
import { type ArgType, CTX_ARG_NOT_READ, HELPERS, HELPER_MAX_ID, HELPER_PROTOS, KFUNCS, helperAllowed, helperName, kfuncName } from '../helpers.js';
import { Alu, Atomic, CallKind, Cls, Jmp, LDDW, Mode, Pseudo, SRC_X, bytesOf, cls, decode, mode, op, size, type Insn } from '../insn.js';
import { BPF_COMPLEXITY_LIMIT_INSNS, MAX_BPF_STACK, VerifierError, fail } from './base.js';
import { isAlu, isJmp } from './slots.js';
import { jumpTarget } from './funcs.js';
import { ALU_STR, type Ctx, K, KIND_NAME, MAX_VAR_OFF, type State, U32, U64, aluConst, callbackEntry, cloneState, entryState, isPtr, joinInto, newState, readReg, writeReg } from './state.js';
import { kernelInsn, kernelState } from './log.js';

/**
 * One instruction: checks it against the in-state `s` when `check` is set, and returns
 * the out-state for each successor. `s` is consumed.
 */
export function step(v: Ctx, pc: number, s: State, check: boolean): { to: number; s: State }[] {
  const i = decode(v.prog, pc);
  const c = cls(i.code);
  const fn = v.funcOf[pc]!;

  if (isAlu(c)) {
    const o = op(i.code);
    const x = (i.code & SRC_X) !== 0;
    if (o === Alu.MOV) {
      if (x) readReg(s, i.src, pc, check);
      if (x && s.k[i.src] === K.CTX && !(c === Cls.ALU64 && i.off === 0)) v.escapes = true;
      if (x && c === Cls.ALU64 && i.off === 0) {
        // (the kernel links a scalar and its copy: a bound learnt on one holds for both;
        // nkemu stops following the bound of either)
        if (s.k[i.src] === K.SCALAR && s.c[i.src] === null) s.u[i.src] = null;
        writeReg(s, i.dst, pc, s.k[i.src] as K, s.o[i.src]!, s.c[i.src]!, s.r[i.src]!, s.u[i.src]!);
      } else if (v.o.type === 'generic') {
        // uBPF-style programs: r1 is memory and constants may be addresses; no types.
        writeReg(s, i.dst, pc, x && s.k[i.src] === K.UNINIT ? K.UNINIT : K.INIT);
      } else if (!x) {
        writeReg(s, i.dst, pc, K.SCALAR, 0, c === Cls.ALU64 ? BigInt.asUintN(64, BigInt(i.imm)) : BigInt(i.imm >>> 0));
      } else if (s.k[i.src] === K.SCALAR) {
        // mov32 truncates; movsx sign-extends the low `off` bits.
        const v0 = s.c[i.src]!;
        let cv: bigint | null = null;
        if (v0 !== null) {
          cv = i.off === 0 ? v0 & U32 : BigInt.asUintN(64, BigInt.asIntN(i.off, v0));
          if (c === Cls.ALU) cv &= U32;
        }
        writeReg(s, i.dst, pc, K.SCALAR, 0, cv);
      } else {
        writeReg(s, i.dst, pc);
      }
      return [{ to: pc + 1, s }];
    }
    // END's source bit picks the byte order (to big-endian), not a register.
    if (x && o !== Alu.END) readReg(s, i.src, pc, check);
    readReg(s, i.dst, pc, check);
    const kd = s.k[i.dst] as K;
    if (x && o !== Alu.END && s.k[i.src] === K.CTX) v.escapes = true;
    if (kd === K.CTX && !(c === Cls.ALU64 && !x && (o === Alu.ADD || o === Alu.SUB))) v.escapes = true;
    aluTyped(v, pc, i, s, check);
    return [{ to: pc + 1, s }];
  }

  if (isJmp(c)) {
    const o = op(i.code);
    if (o === Jmp.EXIT) {
      readReg(s, 0, pc, check);
      // A subprogram handing the ctx back: its caller's r0 is untracked.
      if (fn !== 0 && s.k[0] === K.CTX) v.escapes = true;
      return [];
    }
    if (o === Jmp.CALL) return stepCall(v, pc, i, s, check);
    if (o === Jmp.JA) return [{ to: jumpTarget(i, pc)!, s }];
    if (o !== Jmp.MAY_GOTO) {
      readReg(s, i.dst, pc, check);
      if (i.code & SRC_X) readReg(s, i.src, pc, check);
    }
    // Both sides known constants: only the edge the comparison takes is walked, as the
    // kernel's is_branch_taken() prunes it (code behind it, e.g. an instruction libbpf
    // poisoned behind bpf_core_field_exists(), is dead and never checked).
    const taken = o === Jmp.MAY_GOTO ? undefined : branchTaken(i, c, s);
    if (taken !== undefined) return [{ to: taken ? jumpTarget(i, pc)! : pc + 1, s }];
    s.split = 1;
    const fall = cloneState(s);
    if (c === Cls.JMP) refineBranch(i, fall, s);
    refineBounds(i, c, fall, s);
    return [{ to: pc + 1, s: fall }, { to: jumpTarget(i, pc)!, s }];
  }

  if (i.code === LDDW) {
    // A map reference is a map pointer (its value size known from the object's maps);
    // a 64-bit immediate's value is known, for the branches it decides. In a program of an
    // object (its maps given) it is a scalar, as the kernel's: an lddw left unrelocated
    // (`r1 = 0`, its `.relaX` skipped) is no map pointer, `R1 type=scalar expected=map_ptr`.
    // It stays untyped in nkemu's raw-address programs, which use it as a pointer.
    if (i.src === Pseudo.MAP_FD || i.src === Pseudo.MAP_IDX) writeReg(s, i.dst, pc, K.MAP_PTR, i.imm);
    else if (i.src === Pseudo.IMM && pc + 1 < v.n) {
      const hi = BigInt.asUintN(32, BigInt(decode(v.prog, pc + 1).imm));
      writeReg(s, i.dst, pc, v.o.maps ? K.SCALAR : K.INIT, 0, (hi << 32n) | BigInt.asUintN(32, BigInt(i.imm)));
    } else writeReg(s, i.dst, pc);
    return [{ to: pc + 2, s }];
  }

  if (c === Cls.LD) {
    // Legacy packet loads: implicit skb in r6, result in r0, r1-r5 clobbered (check_ld_abs).
    readReg(s, 6, pc, check);
    if (check && v.o.type !== 'generic' && s.k[6] !== K.CTX) {
      fail('EINVAL', pc, 'at the time of BPF_LD_ABS|IND R6 != pointer to skb');
    }
    if (mode(i.code) === Mode.IND) readReg(s, i.src, pc, check);
    for (let r = 1; r <= 5; r++) s.k[r] = K.UNINIT;
    s.k[0] = K.INIT;
    return [{ to: pc + 1, s }];
  }

  const bytes = bytesOf(size(i.code));
  if (c === Cls.LDX) {
    readReg(s, i.src, pc, check);
    const from = s.k[i.src];
    const got = memAccess(v, pc, fn, s, i.src, i.off, bytes, false, check);
    if (got === undefined) writeReg(s, i.dst, pc);
    // A scalar loaded in fewer than 8 bytes is at most their maximum (coerce_reg_to_size).
    else writeReg(s, i.dst, pc, got.k, got.o ?? 0, null, 0, got.k === K.SCALAR && bytes < 8 ? (1n << BigInt(bytes * 8)) - 1n : null);
    // (and at least 0, exactly, from memory the kernel knows nothing of: not the stack,
    // whose spilled scalars it restores with their bounds)
    if (got?.k === K.SCALAR && bytes < 8 && mode(i.code) === Mode.MEM && (from === K.CTX || from === K.PKT || from === K.PKT_META || from === K.MAP_VALUE)) s.z[i.dst] = 1;
    return [{ to: pc + 1, s }];
  }
  if (c === Cls.ST) {
    readReg(s, i.dst, pc, check);
    memAccess(v, pc, fn, s, i.dst, i.off, bytes, true, check, -1, BigInt(i.imm));
    return [{ to: pc + 1, s }];
  }
  // STX
  if (mode(i.code) === Mode.ATOMIC) {
    if (i.imm === Atomic.LOAD_ACQ) {
      readReg(s, i.src, pc, check);
      memAccess(v, pc, fn, s, i.src, i.off, bytes, false, check);
      writeReg(s, i.dst, pc);
      return [{ to: pc + 1, s }];
    }
    readReg(s, i.src, pc, check);
    readReg(s, i.dst, pc, check);
    if (i.imm === Atomic.CMPXCHG) readReg(s, 0, pc, check);
    if (s.k[i.src] === K.CTX || (i.imm === Atomic.CMPXCHG && s.k[0] === K.CTX)) v.escapes = true;
    if (check && s.k[i.dst] === K.CTX) fail('EACCES', pc, `BPF_ATOMIC stores into R${i.dst} ctx is not allowed`);
    if (i.imm !== Atomic.STORE_REL) memAccess(v, pc, fn, s, i.dst, i.off, bytes, false, check);
    memAccess(v, pc, fn, s, i.dst, i.off, bytes, true, check);
    if (i.imm & Atomic.FETCH && i.imm !== Atomic.STORE_REL) writeReg(s, i.imm === Atomic.CMPXCHG ? 0 : i.src, pc);
    return [{ to: pc + 1, s }];
  }
  readReg(s, i.src, pc, check);
  readReg(s, i.dst, pc, check);
  // The ctx pointer stored anywhere but a whole stack slot is lost to the dataflow.
  if (s.k[i.src] === K.CTX && (s.k[i.dst] !== K.FP || bytes !== 8)) v.escapes = true;
  memAccess(v, pc, fn, s, i.dst, i.off, bytes, true, check, i.src);
  return [{ to: pc + 1, s }];
}

/**
 * An ALU op other than MOV on typed registers (adjust_reg_min_max_vals and
 * adjust_ptr_min_max_vals): constants folded, pointers moved by constants, the kernel's
 * refusals of pointer arithmetic. Untyped operands give an untyped result.
 */
export function aluTyped(v: Ctx, pc: number, i: Insn, s: State, check: boolean): void {
  const c = cls(i.code);
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0 && o !== Alu.END;
  const d = i.dst;
  const kd = s.k[d] as K;
  const ks = x ? s.k[i.src] as K : K.SCALAR;
  const cs: bigint | null = x ? s.c[i.src]! : c === Cls.ALU64 ? BigInt.asUintN(64, BigInt(i.imm)) : BigInt(i.imm >>> 0);
  if (o === Alu.END || o === Alu.NEG) {
    // Byte swaps and negation: a scalar stays one (root may turn a pointer into a scalar).
    writeReg(s, d, pc, kd === K.SCALAR || isPtr(kd) ? K.SCALAR : K.INIT);
    return;
  }
  if (kd === K.INIT || ks === K.INIT) { writeReg(s, d, pc); return; }
  if (kd === K.SCALAR && ks === K.SCALAR) {
    const a = s.c[d]!;
    const r = a !== null && cs !== null ? aluConst(o, c === Cls.ALU64, a, cs, i.off) : undefined;
    if (r !== undefined) { writeReg(s, d, pc, K.SCALAR, 0, r); return; }
    // Bounds the kernel derives the same way (scalar_min_max_and/add/rsh).
    const ua = s.u[d]!;
    const ub = x ? s.u[i.src]! : cs;
    const lim = c === Cls.ALU64 ? U64 : U32;
    let u: bigint | null = null;
    if (o === Alu.AND) u = ua !== null && ub !== null ? (ua < ub ? ua : ub) : ua ?? ub;
    else if (o === Alu.ADD && ua !== null && ub !== null) u = ua + ub;
    else if (o === Alu.RSH && ua !== null && cs !== null && (!x || s.c[i.src] !== null)) u = ua >> (cs & BigInt(c === Cls.ALU64 ? 63 : 31));
    if (u !== null && (u > lim || (ua !== null && ua > lim) || (o !== Alu.AND && ub !== null && ub > lim))) u = null;
    // (`&` and `>>` of a constant keep a lower bound of 0: tnum_and / umin >> k)
    const z = s.z[d]! && !x && (o === Alu.AND || o === Alu.RSH) && u !== null ? 1 : 0;
    writeReg(s, d, pc, K.SCALAR, 0, null, 0, u);
    s.z[d] = z;
    return;
  }
  // Pointer arithmetic.
  if (isPtr(kd) && isPtr(ks)) {
    if (o === Alu.SUB) { writeReg(s, d, pc, K.SCALAR); return; }
    if (check) fail('EACCES', pc, `R${d} pointer ${ALU_STR[o]} pointer prohibited`);
    writeReg(s, d, pc);
    return;
  }
  const ptrIsDst = isPtr(kd);
  const pk = ptrIsDst ? kd : ks;
  const pr = ptrIsDst ? d : i.src;
  if (c !== Cls.ALU64) {
    if (o === Alu.SUB) { writeReg(s, d, pc, K.SCALAR); return; }
    if (check) fail('EACCES', pc, `R${d} 32-bit pointer arithmetic prohibited`);
    writeReg(s, d, pc);
    return;
  }
  if (pk === K.MAP_OR_NULL) {
    if (check) fail('EACCES', pc, `R${d} pointer arithmetic on ${KIND_NAME[pk]} prohibited, null-check it first`);
    writeReg(s, d, pc);
    return;
  }
  if (pk === K.PKT_END || (pk === K.MAP_PTR && !(o === Alu.ADD && cs === 0n))) {
    if (check) fail('EACCES', pc, `R${d} pointer arithmetic on ${KIND_NAME[pk]} prohibited`);
    writeReg(s, d, pc);
    return;
  }
  const known = ptrIsDst ? cs : s.c[d]!;
  if (known !== null) {
    const val = BigInt.asIntN(64, known);
    if (val >= BigInt(MAX_VAR_OFF) || val <= -BigInt(MAX_VAR_OFF)) {
      if (check) fail('EINVAL', pc, `math between ${KIND_NAME[pk]} pointer and ${val} is not allowed`);
      writeReg(s, d, pc);
      return;
    }
  }
  if (o === Alu.SUB && !ptrIsDst) {
    if (check) fail('EACCES', pc, `R${d} tried to subtract pointer from scalar`);
    writeReg(s, d, pc);
    return;
  }
  if (o === Alu.AND || o === Alu.OR || o === Alu.XOR) {
    if (check) fail('EACCES', pc, `R${d} bitwise operator ${ALU_STR[o]} on pointer prohibited`);
    writeReg(s, d, pc);
    return;
  }
  if (o !== Alu.ADD && o !== Alu.SUB) {
    if (check) fail('EACCES', pc, `R${d} pointer arithmetic with ${ALU_STR[o]} operator prohibited`);
    writeReg(s, d, pc);
    return;
  }
  if (known === null) {
    // A map value moved by a bounded scalar: its variable part's umax adds up.
    const su = ptrIsDst ? (x ? s.u[i.src]! : null) : s.u[d]!;
    if (pk === K.MAP_VALUE && o === Alu.ADD && su !== null) {
      writeReg(s, d, pc, K.MAP_VALUE, s.o[pr]!, null, s.r[pr]!, (s.u[pr] ?? 0n) + su);
      return;
    }
    writeReg(s, d, pc);
    return;
  }
  const delta = Number(BigInt.asIntN(64, known)) * (o === Alu.SUB ? -1 : 1);
  writeReg(s, d, pc, pk, s.o[pr]! + delta, null, s.r[pr]!, pk === K.MAP_VALUE ? s.u[pr]! : null);
}

/**
 * Unsigned comparisons of a followed scalar with a constant bound it on each branch; any
 * other comparison involving a followed bound stops it being followed (the kernel learns
 * from those too, in ways nkemu does not copy).
 */
export function refineBounds(i: Insn, c: Cls, fall: State, taken: State): void {
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0;
  const d = i.dst;
  const tracked = (st: State, r: number): boolean => st.k[r] === K.SCALAR && st.c[r] === null && st.u[r] !== null;
  const k = !x ? BigInt.asUintN(64, BigInt(i.imm)) : null;
  if (c === Cls.JMP && !x && tracked(fall, d) && (o === Jmp.JGT || o === Jmp.JGE || o === Jmp.JLT || o === Jmp.JLE)) {
    const cap = (st: State, b: bigint): void => { if (b < st.u[d]!) st.u[d] = b < 0n ? 0n : b; };
    if (o === Jmp.JGT) cap(fall, k!);
    else if (o === Jmp.JGE) { if (k! > 0n) cap(fall, k! - 1n); }
    else if (o === Jmp.JLT) { if (k! > 0n) cap(taken, k! - 1n); }
    else cap(taken, k!);
    return;
  }
  for (const st of [fall, taken]) {
    if (tracked(st, d)) st.u[d] = null;
    if (x && tracked(st, i.src)) st.u[i.src] = null;
  }
}

/** `pkt <op> pkt_end` (or `pkt_meta <op> pkt`) proves bytes readable on one branch (try_match_pkt_pointers). */
export function refineBranch(i: Insn, fall: State, taken: State): void {
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0;
  if (!x && i.imm === 0 && (o === Jmp.JEQ || o === Jmp.JNE) && fall.k[i.dst] === K.MAP_OR_NULL) {
    // mark_ptr_or_null_regs: every copy of the lookup's result.
    const id = fall.o[i.dst]!;
    const isNull = o === Jmp.JEQ ? taken : fall;
    const notNull = o === Jmp.JEQ ? fall : taken;
    for (let r = 0; r < 10; r++) {
      if (isNull.k[r] === K.MAP_OR_NULL && isNull.o[r] === id) { isNull.k[r] = K.SCALAR; isNull.o[r] = 0; isNull.c[r] = 0n; isNull.r[r] = 0; }
      if (notNull.k[r] === K.MAP_OR_NULL && notNull.o[r] === id) { notNull.k[r] = K.MAP_VALUE; notNull.o[r] = 0; }
    }
    return;
  }
  if (!x || (o !== Jmp.JGT && o !== Jmp.JLT && o !== Jmp.JGE && o !== Jmp.JLE)) return;
  const kd = fall.k[i.dst]!;
  const ks = fall.k[i.src]!;
  const lesser = (a: number, b: number): boolean => (a === K.PKT && b === K.PKT_END) || (a === K.PKT_META && b === K.PKT);
  let reg: number;
  let kind: number;
  // Which branch proves `reg <= end` (strict: `reg < end`).
  let proves: State;
  let strict: boolean;
  if (lesser(kd, ks)) {
    reg = i.dst; kind = kd;
    if (o === Jmp.JGT) { proves = fall; strict = false; } else if (o === Jmp.JLT) { proves = taken; strict = true; } else if (o === Jmp.JGE) { proves = fall; strict = true; } else { proves = taken; strict = false; }
  } else if (lesser(ks, kd)) {
    reg = i.src; kind = ks;
    if (o === Jmp.JGT) { proves = taken; strict = true; } else if (o === Jmp.JLT) { proves = fall; strict = false; } else if (o === Jmp.JGE) { proves = taken; strict = false; } else { proves = fall; strict = true; }
  } else {
    return;
  }
  const off = fall.o[reg]!;
  if (off < 0 || (off === 0 && strict)) return;
  const range = off + (strict ? 1 : 0);
  for (let r = 0; r < 10; r++) if (proves.k[r] === kind && proves.r[r]! < range) proves.r[r] = range;
}

/**
 * A load or store through register `r` at `off`. Checks ctx and stack accesses, tracks
 * ctx spills; returns the ctx offset when a load reads back a spilled ctx pointer.
 */
export function memAccess(
  v: Ctx, pc: number, fn: number, s: State, r: number, off: number, size: number, write: boolean, check: boolean,
  valueReg = -1, imm?: bigint,
): { k: K; o?: number } | undefined {
  const k = s.k[r] as K;
  if (k === K.CTX) {
    const layout = ctxLayout(v.o.type, v.o.expectedAttachType);
    if (layout === undefined) return undefined;
    const f: CtxField | undefined = s.o[r] === 0 ? ctxAccess(layout, off, size, write) : undefined;
    if (check) {
      if (s.o[r] !== 0) fail('EACCES', pc, `dereference of modified ctx ptr R${r} off=${s.o[r]} disallowed`);
      if (f === undefined) fail('EACCES', pc, `invalid bpf_context access off=${off} size=${size}`);
      v.accesses.set(pc * 2 + (write ? 1 : 0), { pc, field: f.name, off, size, write });
    }
    if (write || f === undefined) return undefined;
    if (f.pointer === 'pkt') return { k: K.PKT };
    if (f.pointer === 'pkt_end') return { k: K.PKT_END };
    if (f.pointer === 'pkt_meta') return { k: K.PKT_META };
    return f.pointer === undefined ? { k: K.SCALAR } : undefined;
  }
  if (k === K.SCALAR || k === K.PKT_END || k === K.MAP_OR_NULL) {
    if (check) fail('EACCES', pc, `R${r} invalid mem access '${KIND_NAME[k]}'`);
    return undefined;
  }
  if (k === K.PKT || k === K.PKT_META) {
    const at = s.o[r]! + off;
    if (check && (at < 0 || at + size > s.r[r]!)) fail('EACCES', pc, `R${r} offset is outside of the packet`);
    return { k: K.SCALAR };
  }
  if (k === K.MAP_VALUE) {
    const at = s.o[r]! + off;
    const vs = s.r[r]!;
    const vu = s.u[r]!;
    if (check && vs >= 0) {
      if (vu !== null && vu > (1n << 63n) - 1n) fail('EACCES', pc, `R${r} min value is negative, either use unsigned index or do a if (index >=0) check.`);
      if (at < 0 || at + size > vs) fail('EACCES', pc, `R${r} min value is outside of the allowed memory range`);
      if (vu !== null && vu >= BigInt(MAX_VAR_OFF)) fail('EACCES', pc, `R${r} unbounded memory access, make sure to bounds check any such access`);
      if (vu !== null && BigInt(at + size) + vu > BigInt(vs)) fail('EACCES', pc, `R${r} max value is outside of the allowed memory range`);
    }
    return { k: K.SCALAR };
  }
  if (k !== K.FP) return undefined;
  const at = s.o[r]! + off;
  if (check) {
    if (at % size !== 0) {
      fail('EACCES', pc, `misaligned stack access off 0+${s.o[r]}+${off} size ${size}`);
    }
    if (at < -MAX_BPF_STACK || at + size > 0) {
      fail('EACCES', pc, `invalid ${write ? 'write to' : 'read from'} stack R${r} off=${off} size=${size}`);
    }
    v.depth[fn] = Math.max(v.depth[fn]!, -at);
  }
  if (write) {
    if (s.spill) {
      for (const slot of [...s.spill.keys()]) if (slot < at + size && at < slot + 8) s.spill.delete(slot);
    }
    if (size === 8 && valueReg >= 0 && s.k[valueReg] === K.CTX) {
      (s.spill ??= new Map()).set(at, s.o[valueReg]!);
    }
    if (s.kst) for (const slot of [...s.kst.keys()]) if (slot < at + size && at < slot + 8) s.kst.delete(slot);
    const mask = (1n << BigInt(size * 8)) - 1n;
    if (imm !== undefined) (s.kst ??= new Map()).set(at, `${size}:${imm & mask}:1`);
    // A pointer spilled whole: a narrower fill of it is refused. A stack pointer or the
    // packet's end comes back whole (data_end spilled across a call and compared after it).
    else if (size === 8 && valueReg >= 0 && isPtr(s.k[valueReg]!)) (s.kst ??= new Map()).set(at, s.k[valueReg] === K.FP ? `p:${s.o[valueReg]}` : s.k[valueReg] === K.PKT_END ? 'pe' : 'p');
    else if (valueReg >= 0 && s.k[valueReg] === K.SCALAR && s.c[valueReg] !== null) (s.kst ??= new Map()).set(at, `${size}:${s.c[valueReg]! & mask}:0`);
    return undefined;
  }
  if (check && size < 8 && s.kst) {
    for (const [slot, x] of s.kst) if (x.startsWith('p') && slot < at + size && at < slot + 8) fail('EACCES', pc, 'invalid size of register fill');
  }
  // A spilled stack pointer comes back as one, data_end as data_end (other pointers but the ctx come back untyped).
  const fp = size === 8 ? s.kst?.get(at) : undefined;
  if (fp?.startsWith('p:')) return { k: K.FP, o: Number(fp.slice(2)) };
  if (fp === 'pe') return { k: K.PKT_END };
  const ctxOff = size === 8 ? s.spill?.get(at) : undefined;
  return ctxOff === undefined ? undefined : { k: K.CTX, o: ctxOff };
}

/**
 * What bpf_map_lookup_elem returns: a value or NULL; for an array whose key is a constant
 * stored on the stack (as the kernel reads it: a store of the key's size, or an immediate
 * zero at least that wide) inside max_entries, a value. Untyped when r1 is no map reference
 * (nkemu's raw-address programs), for maps of maps, and for an array whose key nkemu did
 * not follow (the kernel may know it).
 */
export function lookupResult(v: Ctx, s: State): { k: K; size: number } | undefined {
  if (s.k[1] !== K.MAP_PTR) return undefined;
  const m = v.o.maps?.[s.o[1]!];
  // (a sockmap's or sockhash's element is a socket or NULL, which nkemu does not follow)
  if (m === undefined || m.kind === 'of_maps' || isSockMap(v, s)) return undefined;
  if (m.kind !== 'array') return { k: K.MAP_OR_NULL, size: m.valueSize };
  if (s.k[2] !== K.FP) return undefined;
  const x = s.kst?.get(s.o[2]!);
  if (x === undefined || x.startsWith('p')) return undefined;
  const [size, value, imm] = x.split(':');
  let key: bigint | null = null;
  if (Number(size) === m.keySize) key = BigInt(value!);
  else if (imm === '1' && value === '0' && Number(size) >= m.keySize) key = 0n;
  if (key !== null && key < BigInt(m.maxEntries)) return { k: K.MAP_VALUE, size: m.valueSize };
  return { k: K.MAP_OR_NULL, size: m.valueSize };
}

/** What bpf_map_lookup_percpu_elem returns: a value of this CPU's copy, or NULL. */
function percpuLookupResult(v: Ctx, s: State): { k: K; size: number } | undefined {
  const m = s.k[1] === K.MAP_PTR ? v.o.maps?.[s.o[1]!] : undefined;
  return m === undefined ? undefined : { k: K.MAP_OR_NULL, size: m.valueSize };
}

export const MEM_EXPECTED = 'fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_';
const SOCK_EXPECTED = 'sock_common, sock, tcp_sock, xdp_sock';
const MEM_KINDS: readonly K[] = [K.FP, K.PKT, K.PKT_META, K.MAP_VALUE];

/**
 * check_reg_type for each argument type: the kernel's `expected=` list (compatible_reg_types,
 * as reg_type_str names them) and which of nkemu's register kinds are among those types.
 * Sockets, ring buffer memory, callbacks and BTF pointers are none of nkemu's kinds: a
 * register nkemu knows the kind of is never one (one it does not know is not checked).
 */
function argRegTypes(a: ArgType): { expected: string; kinds: readonly K[] } {
  if (a === 'ctx' || a === 'ctx_or_null') return { expected: 'ctx', kinds: [K.CTX] };
  if (a === 'map_ptr') return { expected: 'map_ptr', kinds: [K.MAP_PTR] };
  if (/size/.test(a)) return { expected: 'scalar', kinds: [K.SCALAR] };
  if (a === 'sock_common') return { expected: SOCK_EXPECTED, kinds: [] };
  if (a === 'btf_sock_common' || a === 'btf_sock_common_release') return { expected: `${SOCK_EXPECTED}, ptr_, trusted_ptr_`, kinds: [] };
  if (a === 'spin_lock' || a === 'kptr') return { expected: 'map_value, ptr_', kinds: [K.MAP_VALUE] };
  if (a === 'btf_id_or_null_release') return { expected: 'ptr_, trusted_ptr_, rcu_ptr_', kinds: [] };
  if (a === 'ringbuf_mem_release') return { expected: 'ringbuf_mem', kinds: [] };
  if (a === 'func') return { expected: 'func', kinds: [] };
  if (a === 'stack_or_null') return { expected: 'fp', kinds: [K.FP] };
  if (a === 'const_str' || a === 'timer') return { expected: 'map_value', kinds: [K.MAP_VALUE] };
  if (a.startsWith('dynptr')) return { expected: 'fp, dynptr_ptr', kinds: [K.FP] };
  // map keys and values, memory, fixed-size memory (mem_types)
  return { expected: MEM_EXPECTED, kinds: MEM_KINDS };
}

/** Argument types whose memory the helper only reads (a stack buffer passed as one keeps what nkemu knew of it). */
const READ_ONLY_ARGS: ReadonlySet<ArgType> = new Set<ArgType>(['map_key', 'map_value', 'mem', 'mem_or_null']);

/** The helper writes the memory of this argument type (MEM_UNINIT, or not MEM_RDONLY): its stack bounds are checked as a write. */
const writes = (a: ArgType | undefined): boolean => a !== undefined && (a.startsWith('uninit') || a === 'mem_rw');

/**
 * check_helper_mem_access for the memory register `r` accessed for `size` bytes: a stack
 * buffer must lie inside the stack, a packet pointer inside the range its comparison
 * with data_end proved; NULL passes only for zero bytes where zero is allowed.
 */
function helperMemAccess(pc: number, s: State, r: number, size: number, write: boolean, zeroOk: boolean): void {
  const k = s.k[r]!;
  if (k === K.SCALAR) {
    if (zeroOk && size === 0 && s.c[r] === 0n) return;
    fail('EACCES', pc, `R${r} type=scalar expected=fp`);
  }
  if (k === K.FP) {
    const at = s.o[r]!;
    // (a queue's, stack's or bloom filter's key has no bytes: a zero-sized access where zero is not allowed)
    if (size === 0 && !zeroOk) fail('EACCES', pc, `invalid zero-sized ${write ? 'write' : 'read'}`);
    if (at < -MAX_BPF_STACK || at + size > 0) fail('EINVAL', pc, `invalid ${write ? 'write to' : 'read from'} stack R${r} off=${at} size=${size}`);
  }
  if ((k === K.PKT || k === K.PKT_META) && (s.o[r]! < 0 || s.o[r]! + size > s.r[r]!)) {
    fail('EACCES', pc, `R${r} offset is outside of the packet`);
  }
}

/**
 * check_func_arg for argument register `r` of helper `id` against its prototype: declared,
 * so it must be initialised; a packet pointer only to a helper with `.pkt_access`; a NULL
 * where the type allows one; else a register of a compatible type (the ctx unmoved); then
 * the memory a map key or value, a fixed-size buffer or a constant size describes. Sizes
 * nkemu knows only as constants: a variable one is the kernel's to bound (its umin is not
 * followed here).
 */
export function checkHelperArg(v: Ctx, pc: number, id: number, r: number, s: State): void {
  const p = HELPER_PROTOS.get(id)!;
  let a = p.args[r - 1]!;
  readReg(s, r, pc, true);
  if (a === 'anything') return;
  const k = s.k[r]!;
  if ((a === 'map_value' || a === 'uninit_map_value') && isSockMap(v, s)) {
    // resolve_map_arg_type: a sockmap's or sockhash's value, to a helper, is a socket.
    if ((k === K.PKT || k === K.PKT_META) && !p.pkt) fail('EACCES', pc, 'helper access to the packet is not allowed');
    if (a !== 'map_value') fail('EINVAL', pc, 'invalid arg_type for sockmap/sockhash');
    a = 'btf_sock_common';
  }
  if (k === K.INIT) return;
  if ((k === K.PKT || k === K.PKT_META) && !p.pkt) fail('EACCES', pc, 'helper access to the packet is not allowed');
  const isNull = k === K.SCALAR && s.c[r] === 0n;
  if (!((a.endsWith('_or_null') || a === 'stack_or_null') && isNull)) {
    const t = argRegTypes(a);
    if (!t.kinds.includes(k as K)) fail('EACCES', pc, `R${r} type=${KIND_NAME[k]} expected=${t.expected}`);
    if (k === K.CTX && s.o[r] !== 0) fail('EACCES', pc, `dereference of modified ctx ptr R${r} off=${s.o[r]} disallowed`);
  }
  if (a === 'map_key' || a === 'map_value' || a === 'uninit_map_value') {
    const m = s.k[1] === K.MAP_PTR ? v.o.maps?.[s.o[1]!] : undefined;
    // (a bloom filter's value is only read: resolve_map_arg_type drops MEM_UNINIT for it)
    if (m) helperMemAccess(pc, s, r, a === 'map_key' ? m.keySize : m.valueSize, a === 'uninit_map_value' && m.type !== BLOOM_FILTER, false);
  } else if (a.startsWith('fixed:')) {
    helperMemAccess(pc, s, r, Number(a.slice(6)), false, false);
  } else if ((a === 'size' || a === 'size_or_zero') && k === K.SCALAR && s.c[r] !== null) {
    // check_mem_size_reg: the size's bounds, then the memory of the argument before it.
    const c = s.c[r]!;
    const zeroOk = a === 'size_or_zero';
    if (BigInt.asIntN(64, c) < 0n) fail('EACCES', pc, `R${r} min value is negative, either use unsigned or 'var &= const'`);
    if (c === 0n && !zeroOk) fail('EACCES', pc, `R${r} invalid zero-sized read: u64=[0,0]`);
    if (c >= BigInt(MAX_VAR_OFF)) fail('EACCES', pc, `R${r} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
    helperMemAccess(pc, s, r - 1, Number(c), writes(p.args[r - 2]), zeroOk);
  } else if (a === 'size' && k === K.SCALAR && s.z[r] && !s.split && s.u[r] !== null) {
    // A size that may be 0, on a path the kernel walks for certain (no branch it could
    // decide otherwise on the way): check_mem_size_reg's refusal.
    fail('EACCES', pc, `R${r} invalid zero-sized read: u64=[0,${s.u[r]}]`);
  }
}

const BLOOM_FILTER = 30;
const CGROUP_ARRAY = 8;
const SOCKMAP = 15;
const SOCKHASH = 18;

/** The map passed in r1 is a sockmap or sockhash (its elements are sockets). */
function isSockMap(v: Ctx, s: State): boolean {
  const t = s.k[1] === K.MAP_PTR ? v.o.maps?.[s.o[1]!]?.type : undefined;
  return t === SOCKMAP || t === SOCKHASH;
}

/**
 * check_map_func_compatibility, both ways, for the map types nkemu has: which helpers a
 * map of each type may be passed to, and which map types each map-taking helper takes.
 * Helpers absent from the second table take any map the first allows.
 */
const MAP_FUNCS: ReadonlyMap<number, readonly number[]> = new Map([
  [3, [12]], // PROG_ARRAY: tail_call
  [4, [22, 25, 55, 68, 121]], // PERF_EVENT_ARRAY: perf_event_read, _output, _read_value, skb_output, xdp_output
  [27, [130, 131, 132, 133, 134, 198, 199, 200]], // RINGBUF
  [14, [51, 1]], [25, [51, 1]], // DEVMAP, DEVMAP_HASH: redirect_map, map_lookup_elem
  [16, [51]], // CPUMAP: redirect_map only
  [17, [51, 1]], // XSKMAP
  [12, [1]], [13, [1]], // maps of maps: map_lookup_elem
  [22, [87, 88, 89]], [23, [87, 88, 89]], // QUEUE, STACK: push, pop, peek
  [30, [87, 89]], // BLOOM_FILTER: push, peek
  [CGROUP_ARRAY, [33, 37]], // skb_under_cgroup, current_task_under_cgroup
  // SOCKMAP, SOCKHASH: their redirect and update helpers (sk_skb, sk_msg, sock_ops
  // programs'), sk_select_reuseport, map_lookup_elem, and (may_update_sockmap) from the
  // program types nkemu runs, map_update_elem and map_delete_elem
  [SOCKMAP, [52, 53, 60, 82, 1, 2, 3]],
  [SOCKHASH, [72, 70, 71, 82, 1, 2, 3]],
]);
const FUNC_MAPS: ReadonlyMap<number, readonly number[]> = new Map([
  [12, [3]], [25, [4]], [51, [14, 25, 16, 17]], [87, [22, 23, 30]], [88, [22, 23, 30]], [89, [22, 23, 30]],
  [33, [CGROUP_ARRAY]], // skb_under_cgroup
  [130, [27]], [131, [27]], [134, [27]], [195, [5, 6, 10]], [164, [1, 9, 2, 5, 6, 10]],
]);

/** check_map_func_compatibility for a helper call passing the map `type`. */
export function checkMapFunc(pc: number, type: number, id: number): void {
  const funcs = MAP_FUNCS.get(type);
  const maps = FUNC_MAPS.get(id);
  if ((funcs && !funcs.includes(id)) || (maps && !maps.includes(type))) {
    fail('EINVAL', pc, `cannot pass map_type ${type} into func ${helperName(id)}#${id}`);
  }
}

export function stepCall(
  v: Ctx, pc: number, i: Insn, s: State, check: boolean,
): { to: number; s: State }[] {
  const out: { to: number; s: State }[] = [];
  if (i.src === CallKind.KFUNC) {
    const name = kfuncName(i.imm);
    const k = name === undefined ? undefined : KFUNCS.get(name);
    if (check) {
      if (!k) fail('EOPNOTSUPP', pc, `kernel function calls are not supported by the emulator (btf_id ${i.imm})`);
      if (!k.types.includes(v.o.type)) fail('EACCES', pc, `calling kernel function ${name} is not allowed`);
      const args = k.args ?? ['ctx'];
      for (let a = 0; a < args.length; a++) {
        const r = a + 1;
        readReg(s, r, pc, check);
        switch (args[a]) {
          case 'ctx':
            if (s.k[r] !== K.CTX) fail('EINVAL', pc, `arg#${a} expected pointer to ctx, but got ${s.k[r] === K.FP ? 'fp' : 'scalar'}`);
            if (s.o[r] !== 0) fail('EACCES', pc, `dereference of modified ctx ptr R${r} off=${s.o[r]} disallowed`);
            break;
          case 'dynptr': {
            // process_dynptr_func: a stack slot at a constant, 8-aligned offset, 16 bytes in the frame
            if (s.k[r] !== K.FP) fail('EINVAL', pc, `arg#${a} expected pointer to stack or dynptr_ptr`);
            const off = s.o[r]!;
            if (off % 8 !== 0) fail('EINVAL', pc, `cannot pass in dynptr at an offset=${off}`);
            if (off < -MAX_BPF_STACK || off + 16 > 0) fail('EINVAL', pc, `invalid write to stack R${r} off=${off} size=16`);
            const fn = v.funcOf[pc]!;
            v.depth[fn] = Math.max(v.depth[fn]!, -off);
            break;
          }
          case 'szk':
            if (s.k[r] !== K.SCALAR || s.c[r] === null) fail('EINVAL', pc, `R${r} must be a known constant`);
            break;
          default: // scalar, mem_opt: not followed (the run checks the buffer)
        }
      }
      if (k.refused) fail(k.refused[0], pc, k.refused[1]);
    }
    // The kernel's view of the context is built from all of it.
    if (s.k[1] === K.CTX) v.escapes = true;
    // A dynptr is written into the stack: what nkemu knew of it is gone.
    if (k?.args?.some((a) => a === 'dynptr' || a === 'mem_opt')) {
      s.kst = null;
      if (s.spill && s.spill.size > 0) v.escapes = true;
      s.spill = null;
    }
  } else if (i.src === CallKind.LOCAL) {
    // Callee entry: r1-r5 as passed (pointers into this frame become opaque), fresh frame.
    const target = pc + i.imm + 1;
    const e = newState();
    for (let r = 1; r <= 5; r++) {
      e.k[r] = s.k[r] === K.FP ? K.INIT : s.k[r]!;
      e.o[r] = s.k[r] === K.FP ? 0 : s.o[r]!;
      e.c[r] = s.c[r]!;
      e.r[r] = s.r[r]!;
    }
    e.k[10] = K.FP;
    e.split = s.split;
    out.push({ to: target, s: e });
  } else {
    const id = i.imm;
    if (check) {
      if (id < 0 || id >= HELPER_MAX_ID) fail('EINVAL', pc, `invalid func ${helperName(id)}#${id}`);
      if (!helperAllowed(id, v.o.type)) {
        fail('EINVAL', pc, `program of this type cannot use helper ${helperName(id)}#${id}`);
      }
      const h = HELPERS.get(id)!;
      if (h.gpl && v.o.gplCompatible === false) {
        fail('EINVAL', pc, 'cannot call GPL-restricted function from non-GPL compatible program');
      }
      // Only the registers the prototype declares are read (the rest are ARG_DONTCARE).
      const nargs = HELPER_PROTOS.get(id)!.args.length;
      for (let r = 1; r <= nargs; r++) {
        checkHelperArg(v, pc, id, r, s);
        // A stack pointer argument makes the stack below it in use.
        if (s.k[r] === K.FP && s.o[r]! < 0) {
          const fn = v.funcOf[pc]!;
          v.depth[fn] = Math.max(v.depth[fn]!, Math.min(-s.o[r]!, MAX_BPF_STACK));
        }
      }
      // (after the arguments, as check_helper_call does: the map is the one passed in)
      for (let r = 1; r <= nargs; r++) {
        const type = s.k[r] === K.MAP_PTR ? v.o.maps?.[s.o[r]!]?.type : undefined;
        if (type !== undefined) { checkMapFunc(pc, type, id); break; }
      }
    }
    // A helper may write through a stack pointer argument: ctx spills may be overwritten
    // (not through the memory it only reads: a map key or value it is given, read-only memory).
    const argTypes = HELPER_PROTOS.get(id)?.args;
    for (let r = 1; r <= (HELPERS.get(id)?.args ?? 5); r++) {
      if (s.k[r] === K.FP && !(id === 1 && r === 2) && !READ_ONLY_ARGS.has(argTypes?.[r - 1] ?? 'anything')) s.kst = null;
      if (s.k[r] === K.FP) {
        if (s.spill && s.spill.size > 0) v.escapes = true;
        s.spill = null;
      }
    }
    // The ctx handed to a helper that may read it (or run programs on it, or pass it on).
    for (let r = 1; r <= 5; r++) if (s.k[r] === K.CTX && !(r === 1 && CTX_ARG_NOT_READ.has(id))) v.escapes = true;
  }
  const ret = i.src === CallKind.HELPER ? i.imm : -1;
  const proto = HELPER_PROTOS.get(ret);
  // bpf_map_lookup_elem (an array's value for a constant key in range), map_lookup_percpu_elem (always maybe NULL).
  const lookup = ret === 1 ? lookupResult(v, s) : ret === 195 ? percpuLookupResult(v, s) : undefined;
  if (i.src === CallKind.LOCAL) s.kst = null;
  for (let r = 1; r <= 5; r++) s.k[r] = K.UNINIT;
  writeReg(s, 0, pc);
  if (i.src === CallKind.KFUNC && kfuncName(i.imm) !== undefined && KFUNCS.get(kfuncName(i.imm)!)!.ret === 'int') writeReg(s, 0, pc, K.SCALAR);
  // What check_helper_call marks r0 as: RET_VOID leaves it uninitialised, RET_INTEGER an
  // unknown scalar (in nkemu's raw-address `generic` programs it stays untyped); the
  // pointers nkemu does not follow (sockets, ring buffer memory) are untyped.
  if (proto?.ret === 'void') s.k[0] = K.UNINIT;
  else if (proto?.ret === 'integer' && v.o.type !== 'generic') writeReg(s, 0, pc, K.SCALAR);
  // A map value or NULL, told apart by a comparison with 0.
  if (lookup) writeReg(s, 0, pc, lookup.k, lookup.k === K.MAP_OR_NULL ? pc : 0, null, lookup.size);
  // A packet-moving helper kills every packet pointer (clear_all_pkt_pointers: they become unknown scalars).
  if (ret >= 0 && HELPERS.get(ret)?.pktChanging) {
    for (let r = 0; r < 10; r++) if (s.k[r] === K.PKT || s.k[r] === K.PKT_END || s.k[r] === K.PKT_META) writeReg(s, r, pc, K.SCALAR);
    // (and the spilled ones: data_end filled back after the call is no longer data_end)
    if (s.kst) for (const [at, x] of s.kst) if (x === 'pe') s.kst.set(at, 'p');
  }
  out.push({ to: pc + 1, s });
  return out;
}

/** A conditional jump's outcome when both operands are known scalars (64- or 32-bit); undefined otherwise. */
export function branchTaken(i: Insn, c: Cls, s: State): boolean | undefined {
  const x = (i.code & SRC_X) !== 0;
  const known = (r: number): boolean => s.k[r] === K.SCALAR || s.k[r] === K.INIT;
  if (!known(i.dst) || (x && !known(i.src))) return undefined;
  const a0 = s.c[i.dst];
  const b0 = x ? s.c[i.src] : BigInt.asUintN(64, BigInt(i.imm));
  if (a0 === null || a0 === undefined || b0 === null || b0 === undefined) return undefined;
  const bits = c === Cls.JMP32 ? 32 : 64;
  const a = BigInt.asUintN(bits, a0);
  const b = BigInt.asUintN(bits, b0);
  const sa = BigInt.asIntN(bits, a0);
  const sb = BigInt.asIntN(bits, b0);
  switch (op(i.code)) {
    case Jmp.JEQ: return a === b;
    case Jmp.JNE: return a !== b;
    case Jmp.JGT: return a > b;
    case Jmp.JGE: return a >= b;
    case Jmp.JLT: return a < b;
    case Jmp.JLE: return a <= b;
    case Jmp.JSGT: return sa > sb;
    case Jmp.JSGE: return sa >= sb;
    case Jmp.JSLT: return sa < sb;
    case Jmp.JSLE: return sa <= sb;
    case Jmp.JSET: return (a & b) !== 0n;
    default: return undefined;
  }
}

/**
 * Block leaders: function starts, jump targets and the instruction after any jump,
 * call or exit. States are kept only at leaders; a block is walked straight through.
 */
export function leaders(v: Ctx): Uint8Array {
  const lead = new Uint8Array(v.n + 1);
  for (const f of v.funcs) lead[f] = 1;
  for (let pc = 0; pc < v.n; pc++) {
    if (v.second[pc]) continue;
    const i = decode(v.prog, pc);
    if (!isJmp(cls(i.code))) continue;
    lead[pc + 1] = 1;
    const t = jumpTarget(i, pc);
    if (t !== undefined) lead[t] = 1;
  }
  return lead;
}

/** Functions reached only through a callback reference, or listed by the caller: walked from their own entry. */
export function callbackRoots(v: Ctx): number[] {
  const called = new Set<number>();
  for (const cs of v.calls) for (const c of cs) called.add(v.funcs[c.callee]!);
  return v.funcs.filter((f) => f !== 0 && !called.has(f));
}

export function dataflow(v: Ctx, maxInsns: number): void {
  const lead = leaders(v);
  const work: number[] = [];
  const queued = new Uint8Array(v.n);
  const push = (pc: number, s: State): void => {
    const cur = v.states[pc];
    if (cur === undefined) v.states[pc] = cloneState(s);
    else if (!joinInto(cur, s)) return;
    if (!queued[pc]) {
      queued[pc] = 1;
      work.push(pc);
    }
  };
  /** Walks the block at `start` from state `s`; returns the edges leaving it. */
  const runBlock = (start: number, s: State, check: boolean): { to: number; s: State }[] => {
    let pc = start;
    for (;;) {
      if (++processed > maxInsns) fail('E2BIG', pc, `BPF program is too large. Processed ${processed} insn`);
      const out = step(v, pc, s, check);
      if (out.length !== 1 || lead[out[0]!.to]) return out;
      pc = out[0]!.to;
      s = out[0]!.s;
    }
  };
  let processed = 0;

  push(0, entryState(v.o.type));
  for (const f of callbackRoots(v)) push(f, callbackEntry());

  while (work.length > 0) {
    const pc = work.pop()!;
    queued[pc] = 0;
    for (const e of runBlock(pc, cloneState(v.states[pc]!), false)) push(e.to, e.s);
  }
  // Checks on the fixpoint, block by block in pc order.
  processed = 0;
  for (let pc = 0; pc < v.n; pc++) {
    const s = v.states[pc];
    if (s === undefined) continue;
    try {
      runBlock(pc, cloneState(s), true);
    } catch (e) {
      if (e instanceof VerifierError && e.pc >= pc) e.verifierLog = traceBlock(v, pc, s, e, processed);
      throw e;
    }
  }
}

/** The refused block, from its start, in the kernel's log shape. */
export function traceBlock(v: Ctx, start: number, s0: State, e: VerifierError, processed: number): string {
  const lines = [`${start}: ${kernelState(s0)}`];
  let s = cloneState(s0);
  let pc = start;
  for (let n = 0; n < 4096 && pc !== e.pc; n++) {
    const text = `${pc}: ${kernelInsn(v.prog, pc)}`;
    let out: { to: number; s: State }[];
    try {
      out = step(v, pc, s, false);
    } catch {
      break;
    }
    if (out.length !== 1) break;
    lines.push(`${text.padEnd(40)}; ${kernelState(out[0]!.s)}`);
    pc = out[0]!.to;
    s = out[0]!.s;
  }
  if (e.pc >= 0 && e.pc < v.n) lines.push(`${e.pc}: ${kernelInsn(v.prog, e.pc)}`);
  lines.push(e.log, `processed ${processed} insns (limit ${v.o.maxInsns ?? BPF_COMPLEXITY_LIMIT_INSNS})`);
  return lines.join('\n');
}
