/** Pass 3: the dataflow over the CFG — instruction by instruction, helper calls, memory accesses — and the kernel-shaped log of a refused block. */

import { ctxAccess, ctxLayout, type CtxField } from '../ctx.js';
import { type ArgType, CTX_ARG_NOT_READ, HELPERS, HELPER_MAX_ID, HELPER_PROTOS, KFUNCS, TAIL_CALL, helperAllowed, helperName, kfuncName } from '../helpers.js';
import { Alu, Atomic, CallKind, Cls, Jmp, LDDW, Mode, Pseudo, SRC_X, bytesOf, cls, decode, mode, op, size, type Insn } from '../insn.js';
import { BPF_COMPLEXITY_LIMIT_INSNS, MAX_BPF_STACK, VerifierError, fail } from './base.js';
import { isAlu, isJmp } from './slots.js';
import { jumpTarget } from './funcs.js';
import { ALU_STR, type Ctx, F, K, KIND_NAME, MAX_VAR_OFF, type State, callbackEntry, cloneState, cval, entryState, exact, isPtr, joinInto, newState, readReg, writeReg } from './state.js';
import {
  type Sc, S64_MIN, UNKNOWN, addConst, alu, forkMinusOne, branchTaken as scalarBranchTaken, coerceSubregSx, coerceSx, constant, flipOp, isConst, isConst32,
  loaded, mov32, ptrMove, refine, refineSame, syncPtr, tnumStr,
} from './scalar.js';
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
      stepMov(v, pc, i, s, check);
      return [{ to: pc + 1, s }];
    }
    // END's source bit picks the byte order (to big-endian), not a register.
    if (x && o !== Alu.END) readReg(s, i.src, pc, check);
    readReg(s, i.dst, pc, check);
    const kd = s.k[i.dst] as K;
    if (x && o !== Alu.END && s.k[i.src] === K.CTX) v.escapes = true;
    if (kd === K.CTX && !(c === Cls.ALU64 && !x && (o === Alu.ADD || o === Alu.SUB))) v.escapes = true;
    const forked = aluTyped(v, pc, i, s, check);
    return forked ? [{ to: pc + 1, s }, { to: pc + 1, s: forked }] : [{ to: pc + 1, s }];
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
    if (o === Jmp.MAY_GOTO) {
      s.split = 1;
      return [{ to: pc + 1, s: cloneState(s) }, { to: jumpTarget(i, pc)!, s }];
    }
    readReg(s, i.dst, pc, check);
    if (i.code & SRC_X) readReg(s, i.src, pc, check);
    // A comparison the kernel decides (is_branch_taken) has one edge: the code behind the
    // other (an instruction libbpf poisoned behind bpf_core_field_exists(), a bound
    // check's dead branch) is never walked nor checked.
    const t = branchTaken(i, c, s);
    if (t.taken >= 0) return [{ to: t.taken ? jumpTarget(i, pc)! : pc + 1, s }];
    // (both edges; where the kernel could have decided it with what it knows better than
    // nkemu, the path may be one it never walks)
    if (!t.certain) s.split = 1;
    const fall = cloneState(s);
    if (c === Cls.JMP) refineBranch(i, fall, s);
    refineScalars(i, c, fall, s);
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
      writeReg(s, i.dst, pc, v.o.maps ? K.SCALAR : K.INIT, 0, constant((hi << 32n) | BigInt.asUintN(32, BigInt(i.imm))), 0, F.EXACT);
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
    for (let r = 1; r <= 5; r++) writeReg(s, r, pc, K.UNINIT);
    writeReg(s, 0, pc);
    return [{ to: pc + 1, s }];
  }

  const bytes = bytesOf(size(i.code));
  if (c === Cls.LDX) {
    readReg(s, i.src, pc, check);
    const got = memAccess(v, pc, fn, s, i.src, i.off, bytes, false, check);
    if (got === undefined) writeReg(s, i.dst, pc);
    // A scalar loaded in fewer than 8 bytes is zero- or sign-extended (coerce_reg_to_size).
    else if (got.k === K.SCALAR) writeReg(s, i.dst, pc, K.SCALAR, 0, loaded(bytes, mode(i.code) === Mode.MEMSX));
    else writeReg(s, i.dst, pc, got.k, got.o ?? 0);
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

const sext32 = (imm: number): bigint => BigInt.asUintN(64, BigInt(imm | 0));
const S32_MIN = -0x80000000;
const S32_MAX = 0x7fffffff;

/** A copy of `src` into `dst`, every field (link, flags, range) included. */
function copyReg(s: State, dst: number, src: number, pc: number): void {
  if (dst === 10) fail('EACCES', pc, 'frame pointer is read only');
  s.k[dst] = s.k[src]!; s.o[dst] = s.o[src]!; s.v[dst] = s.v[src]!; s.f[dst] = s.f[src]!;
  s.id[dst] = s.id[src]!; s.dl[dst] = s.dl[src]!; s.r[dst] = s.r[src]!;
}

/**
 * assign_scalar_id_before_mov: a scalar about to be copied gets an id, so that what a
 * comparison teaches of either holds for both. A link made by `r += const` is cut first
 * (one such add is followed, not two). Ids are the mov's pc: a register still holding the
 * same id from an earlier pass through this mov is no longer linked (and, as the kernel
 * links what nkemu now cannot, not exact).
 */
function linkBeforeMov(s: State, r: number, pc: number): void {
  if (s.k[r] !== K.SCALAR) return;
  if (!Number.isNaN(s.dl[r]!)) { s.id[r] = 0; s.dl[r] = NaN; s.f[r] = s.f[r]! & ~F.ADDC32; }
  if (s.id[r] !== 0 || isConst(s.v[r]!)) return;
  const id = pc + 1;
  for (let q = 0; q < 10; q++) {
    if (s.k[q] === K.SCALAR && s.id[q] === id) { s.id[q] = 0; s.dl[q] = NaN; s.f[q] = s.f[q]! & ~(F.EXACT | F.ADDC32); }
  }
  s.id[r] = id;
}

/** BPF_MOV (check_alu_op): copies (linked scalars), immediates, 32-bit and sign-extending moves. */
function stepMov(v: Ctx, pc: number, i: Insn, s: State, check: boolean): void {
  const c64 = cls(i.code) === Cls.ALU64;
  const x = (i.code & SRC_X) !== 0;
  if (x) readReg(s, i.src, pc, check);
  if (x && s.k[i.src] === K.CTX && !(c64 && i.off === 0)) v.escapes = true;
  if (x && c64 && i.off === 0) {
    linkBeforeMov(s, i.src, pc);
    copyReg(s, i.dst, i.src, pc);
    return;
  }
  if (v.o.type === 'generic') {
    // uBPF-style programs: r1 is memory and constants may be addresses; no types.
    writeReg(s, i.dst, pc, x && s.k[i.src] === K.UNINIT ? K.UNINIT : K.INIT);
    return;
  }
  if (!x) {
    writeReg(s, i.dst, pc, K.SCALAR, 0, constant(c64 ? sext32(i.imm) : BigInt(i.imm >>> 0)));
    return;
  }
  const ks = s.k[i.src]!;
  if (ks !== K.SCALAR) {
    // (a pointer's low half or sign extension, for root: an unknown scalar, zero-extended
    // by a 32-bit move)
    if (isPtr(ks)) writeReg(s, i.dst, pc, K.SCALAR, 0, c64 ? UNKNOWN : loaded(4));
    else writeReg(s, i.dst, pc);
    return;
  }
  const src = s.v[i.src]!;
  // Sign extension that changes nothing, or a 32-bit copy of a 32-bit value: still a copy.
  const linked = i.off === 0 ? src.umax <= 0xffffffffn : src.umax < 1n << BigInt(i.off - 1);
  if (linked) linkBeforeMov(s, i.src, pc);
  const value = c64 ? coerceSx(src, i.off / 8) : i.off === 0 ? mov32(src) : coerceSubregSx(src, i.off / 8);
  const f = s.f[i.src]!;
  const id = linked ? s.id[i.src]! : 0;
  const dl = linked ? s.dl[i.src]! : NaN;
  writeReg(s, i.dst, pc, K.SCALAR, 0, value, 0, f & (F.EXACT | F.ADDC32));
  s.id[i.dst] = id;
  s.dl[i.dst] = dl;
  if (!id) s.f[i.dst] = s.f[i.dst]! & ~F.ADDC32;
}

/**
 * The fixed-offset and variable-offset sanity of a pointer's operand or result
 * (check_reg_sane_offset): the refusal it makes, or undefined. `v` is the scalar (or the
 * pointer's variable part), `off` a pointer's fixed offset.
 */
function saneOffset(kind: string, val: Sc | null, off: number): string | undefined {
  if (val !== null && isConst(val)) {
    const c = BigInt.asIntN(64, val.tv);
    if (c >= BigInt(MAX_VAR_OFF) || c <= -BigInt(MAX_VAR_OFF)) return `math between ${kind} pointer and ${c} is not allowed`;
  }
  if (off >= MAX_VAR_OFF || off <= -MAX_VAR_OFF) return `${kind} pointer offset ${off} is not allowed`;
  if (val === null) return undefined;
  if (val.smin === S64_MIN) return `math between ${kind} pointer and register with unbounded min value is not allowed`;
  if (val.smin >= BigInt(MAX_VAR_OFF) || val.smin <= -BigInt(MAX_VAR_OFF)) return `value ${val.smin} makes ${kind} pointer be out of bounds`;
  return undefined;
}

/** Pointer kinds that may be moved by a scalar (adjust_ptr_min_max_vals) and carry a variable offset here. */
const MOVABLE: ReadonlySet<number> = new Set([K.CTX, K.FP, K.PKT, K.PKT_META, K.MAP_VALUE]);

/**
 * An ALU op other than MOV on typed registers (adjust_reg_min_max_vals and
 * adjust_ptr_min_max_vals): scalars by the kernel's transfer functions, pointers moved by
 * scalars (a constant into the fixed offset, anything else into the variable one), the
 * kernel's refusals of pointer arithmetic. Untyped operands give an untyped result.
 * Refusals that depend on a value nkemu knows only in part are made only where it knows
 * it as the kernel does (exact, on a path the kernel walks).
 */
export function aluTyped(v: Ctx, pc: number, i: Insn, s: State, check: boolean): State | undefined {
  const c = cls(i.code);
  const c64 = c === Cls.ALU64;
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0 && o !== Alu.END;
  const d = i.dst;
  const kd = s.k[d] as K;
  const ks = x ? s.k[i.src] as K : K.SCALAR;
  const srcV: Sc | null = x ? s.v[i.src]! : constant(c64 ? sext32(i.imm) : BigInt(i.imm >>> 0));
  if (o === Alu.END || o === Alu.NEG) {
    // Byte swaps and negation: a scalar's bounds follow (its links do not); root may turn a
    // pointer into a scalar.
    if (kd === K.SCALAR) {
      const f = s.f[d]! & F.EXACT;
      writeReg(s, d, pc, K.SCALAR, 0, alu(o, c64, s.v[d]!, s.v[d]!, i.imm, (i.code & SRC_X) !== 0), 0, f);
    } else writeReg(s, d, pc, isPtr(kd) ? K.SCALAR : K.INIT);
    return;
  }
  // (a scalar and an lddw immediate: the constant it is to the kernel)
  const srcConst = x && ks === K.INIT && s.v[i.src] !== null && kd === K.SCALAR && v.o.type !== 'generic';
  if ((kd <= K.INIT || ks <= K.INIT) && !srcConst) { writeReg(s, d, pc); return; }
  if (srcConst) {
    const f = s.f[d]! & F.EXACT;
    writeReg(s, d, pc, K.SCALAR, 0, alu(o, c64, s.v[d]!, srcV!, i.imm, false), 0, f);
    return;
  }
  if (kd === K.SCALAR && ks === K.SCALAR) {
    const fork = (o === Alu.AND || o === Alu.OR) && isConst(srcV!) ? forkMinusOne(s.v[d]!) : null;
    if (fork) {
      // (the kernel walks on with -1, and comes back for 0: two states, as two edges)
      const zero = cloneState(s);
      const f = s.f[d]! & F.EXACT;
      writeReg(s, d, pc, K.SCALAR, 0, alu(o, c64, fork[0], srcV!), 0, f);
      writeReg(zero, d, pc, K.SCALAR, 0, alu(o, c64, fork[1], srcV!), 0, f);
      return zero;
    }
    const before = s.v[d]!;
    const res = alu(o, c64, before, srcV!, i.imm, false);
    const f = s.f[d]! & (x ? s.f[i.src]! : F.EXACT) & F.EXACT;
    // A constant added to (or subtracted from) a linked scalar keeps the link, with the
    // constant (the kernel's BPF_ADD_CONST): once, within s32, a 32-bit one on a 32-bit value.
    let id = 0;
    let dl = NaN;
    let f32 = 0;
    if ((o === Alu.ADD || o === Alu.SUB) && s.id[d] && (c64 ? isConst(srcV!) : isConst32(srcV!)) && Number.isNaN(s.dl[d]!)) {
      const val = c64 ? BigInt.asIntN(64, srcV!.tv) : BigInt.asIntN(32, srcV!.tv);
      if ((c64 ? val >= S32_MIN && val <= S32_MAX : before.umax <= 0xffffffffn) && !(o === Alu.SUB && Number(val) === S32_MIN)) {
        id = s.id[d]!;
        dl = o === Alu.SUB ? -Number(val) : Number(val);
        f32 = c64 ? 0 : F.ADDC32;
      }
    }
    writeReg(s, d, pc, K.SCALAR, 0, res, 0, f | f32);
    s.id[d] = id;
    s.dl[d] = dl;
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
  const offR = ptrIsDst ? (x ? i.src : -1) : d;
  const off: Sc = ptrIsDst ? srcV! : s.v[d]!;
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
  const known = isConst(off);
  if (pk === K.PKT_END || (pk === K.MAP_PTR && !(o === Alu.ADD && known && off.tv === 0n))) {
    if (check) fail('EACCES', pc, `R${d} pointer arithmetic on ${KIND_NAME[pk]} prohibited`);
    writeReg(s, d, pc);
    return;
  }
  const kind = KIND_NAME[pk]!;
  // (a value nkemu knows as the kernel does, on a path it walks: its refusals are certain)
  const offExact = known || (offR >= 0 && exact(s, offR));
  const ptrExact = s.v[pr] === null || (s.f[pr]! & F.EXACT) !== 0;
  const sure = check && !s.split;
  // check_reg_sane_offset of the scalar, then of the pointer
  const bad = saneOffset(kind, off, 0);
  if (bad !== undefined && (known || (sure && offExact))) {
    if (check) fail('EINVAL', pc, bad);
    writeReg(s, d, pc);
    return;
  }
  const badPtr = saneOffset(kind, s.v[pr]!, s.o[pr]!);
  if (badPtr !== undefined && sure && ptrExact) fail('EINVAL', pc, badPtr);
  if (o === Alu.SUB && !ptrIsDst) {
    if (check) fail('EACCES', pc, `R${d} tried to subtract pointer from scalar`);
    writeReg(s, d, pc);
    return;
  }
  if (o === Alu.SUB && pk === K.FP) {
    if (check) fail('EACCES', pc, `R${d} subtraction from stack pointer prohibited`);
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
  if (bad !== undefined || badPtr !== undefined) {
    // (a refusal nkemu is not sure of)
    writeReg(s, d, pc);
    return;
  }
  const r0 = s.r[pr]!;
  const f0 = s.f[pr]!;
  const id0 = s.id[pr]!;
  const var0 = s.v[pr]!;
  const o0 = s.o[pr]!;
  if (known) {
    // pointer += K: into the fixed offset (a map pointer is only ever moved by 0)
    const delta = Number(BigInt.asIntN(64, off.tv)) * (o === Alu.SUB ? -1 : 1);
    writeReg(s, d, pc, pk, o0 + delta, var0, r0, f0);
    s.id[d] = id0;
    const badDst = saneOffset(kind, var0, o0 + delta);
    if (badDst !== undefined && check) fail('EINVAL', pc, badDst);
    return;
  }
  if (!MOVABLE.has(pk)) { writeReg(s, d, pc); return; }
  // pointer += scalar: a new variable offset (a packet pointer gets a new id and no range)
  const moved = ptrMove(var0, off, o === Alu.SUB);
  const fx = (ptrExact && offExact ? F.EXACT : 0);
  const pkt = pk === K.PKT || pk === K.PKT_META;
  const keep = !pkt || (o === Alu.SUB && off.smin >= 0n);
  writeReg(s, d, pc, pk, o0, moved, keep ? r0 : 0, fx | (keep ? f0 & F.PKT_MARK : 0));
  if (pkt) {
    // (ids are the pc of the add: pointers from an earlier pass through it keep theirs apart)
    const id = pc + 1;
    for (let q = 0; q < 10; q++) if (q !== d && (s.k[q] === K.PKT || s.k[q] === K.PKT_META) && s.id[q] === id) s.id[q] = -id;
    s.id[d] = id;
  }
  const badDst = saneOffset(kind, moved, o0);
  if (badDst !== undefined) {
    if (sure && ptrExact && offExact) fail('EINVAL', pc, badDst);
    writeReg(s, d, pc);
    return;
  }
  s.v[d] = syncPtr(moved);
}

/**
 * reg_set_min_max on both edges of an undecided comparison of two scalars (or a scalar
 * and an immediate), then sync_linked_regs: each refined register's bounds reach the
 * scalars linked with it (its copies, with the constant added to them).
 */
export function refineScalars(i: Insn, c: Cls, fall: State, taken: State): void {
  const x = (i.code & SRC_X) !== 0;
  const d = i.dst;
  const o = op(i.code);
  if (fall.k[d] !== K.SCALAR || (x && fall.k[i.src] !== K.SCALAR)) return;
  const jmp32 = c === Cls.JMP32;
  if (x && i.src === d) {
    const r = refineSame(fall.v[d]!, o, jmp32);
    fall.v[d] = r.fall;
    taken.v[d] = r.taken;
  } else {
    const b = x ? fall.v[i.src]! : constant(sext32(i.imm));
    const r = refine(fall.v[d]!, b, o, jmp32);
    // (what one edge learns of each register comes from both: exact only if both are)
    const ex = x ? fall.f[d]! & fall.f[i.src]! & F.EXACT : F.EXACT;
    fall.v[d] = r.fall[0];
    taken.v[d] = r.taken[0];
    if (!(ex & F.EXACT)) { fall.f[d] = fall.f[d]! & ~F.EXACT; taken.f[d] = taken.f[d]! & ~F.EXACT; }
    if (x) {
      fall.v[i.src] = r.fall[1];
      taken.v[i.src] = r.taken[1];
      if (!(ex & F.EXACT)) { fall.f[i.src] = fall.f[i.src]! & ~F.EXACT; taken.f[i.src] = taken.f[i.src]! & ~F.EXACT; }
    }
  }
  for (const st of [fall, taken]) {
    if (x && st.id[i.src]) syncLinked(st, i.src);
    if (st.id[d]) syncLinked(st, d);
  }
}

/** sync_linked_regs: the scalars sharing `known`'s id take its value (plus their constant's difference). */
function syncLinked(s: State, known: number): void {
  const id = s.id[known]!;
  const kd = s.dl[known]!;
  const k32 = (s.f[known]! & F.ADDC32) !== 0;
  for (let q = 0; q < 10; q++) {
    if (q === known || s.k[q] !== K.SCALAR || s.id[q] !== id) continue;
    const qd = s.dl[q]!;
    const q32 = (s.f[q]! & F.ADDC32) !== 0;
    const kAdd = !Number.isNaN(kd);
    const qAdd = !Number.isNaN(qd);
    // (a link made by a 32-bit add and one made by a 64-bit add do not say the same)
    if (kAdd && qAdd && k32 !== q32) continue;
    const ex = s.f[known]! & F.EXACT;
    if ((!kAdd && !qAdd) || qd === kd) {
      s.v[q] = s.v[known]!;
    } else {
      s.v[q] = addConst(s.v[known]!, BigInt((qAdd ? qd : 0) - (kAdd ? kd : 0)), (kAdd && k32) || (qAdd && q32));
    }
    s.f[q] = (s.f[q]! & ~F.EXACT) | ex;
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
      if (isNull.k[r] === K.MAP_OR_NULL && isNull.o[r] === id) writeReg(isNull, r, -1, K.SCALAR, 0, constant(0n));
      if (notNull.k[r] === K.MAP_OR_NULL && notNull.o[r] === id) { notNull.k[r] = K.MAP_VALUE; notNull.o[r] = 0; }
    }
    return;
  }
  if (!x && i.imm === 0 && (o === Jmp.JEQ || o === Jmp.JNE) && fall.k[i.dst] === K.INIT && (fall.f[i.dst]! & F.MAYBE_VALUE)) {
    // An array value or (perhaps) NULL: a value where it is not 0, every copy of it; where
    // it is 0 it stays untyped (the kernel may know that branch is never taken).
    const id = fall.o[i.dst]!;
    const notNull = o === Jmp.JEQ ? fall : taken;
    for (let r = 0; r < 10; r++) {
      if (notNull.k[r] === K.INIT && (notNull.f[r]! & F.MAYBE_VALUE) && notNull.o[r] === id) { notNull.k[r] = K.MAP_VALUE; notNull.o[r] = 0; notNull.f[r] = 0; }
    }
    return;
  }
  if (!x || (o !== Jmp.JGT && o !== Jmp.JLT && o !== Jmp.JGE && o !== Jmp.JLE)) return;
  const kd = fall.k[i.dst]!;
  const ks = fall.k[i.src]!;
  // (pkt_meta against the packet start: an unmoved one, reg_is_init_pkt_pointer)
  const start = (r: number): boolean => fall.v[r] === null && fall.id[r] === 0;
  const lesser = (a: number, b: number, rb: number): boolean => (a === K.PKT && b === K.PKT_END) || (a === K.PKT_META && b === K.PKT && start(rb));
  let reg: number;
  let kind: number;
  // Which branch proves `reg <= end` (strict: `reg < end`).
  let proves: State;
  let strict: boolean;
  if (lesser(kd, ks, i.src)) {
    reg = i.dst; kind = kd;
    if (o === Jmp.JGT) { proves = fall; strict = false; } else if (o === Jmp.JLT) { proves = taken; strict = true; } else if (o === Jmp.JGE) { proves = fall; strict = true; } else { proves = taken; strict = false; }
  } else if (lesser(ks, kd, i.dst)) {
    reg = i.src; kind = ks;
    if (o === Jmp.JGT) { proves = taken; strict = true; } else if (o === Jmp.JLT) { proves = fall; strict = false; } else if (o === Jmp.JGE) { proves = taken; strict = false; } else { proves = fall; strict = true; }
  } else {
    return;
  }
  // (mark_pkt_end: on the other edge the kernel knows the pointer at or past the end)
  const other = proves === fall ? taken : fall;
  other.f[reg] = other.f[reg]! | F.PKT_MARK;
  // find_good_pkt_pointers
  const off = fall.o[reg]!;
  if (off < 0 || (off === 0 && strict)) return;
  const umax = fall.v[reg]?.umax ?? 0n;
  if (umax > 0xffffn || umax + BigInt(off) > 0xffffn) return;
  const range = off + (strict ? 1 : 0);
  const id = fall.id[reg]!;
  for (let r = 0; r < 10; r++) if (proves.k[r] === kind && proves.id[r] === id && proves.r[r]! < range) proves.r[r] = range;
}

/** The variable offset `(value; mask)` as the kernel's messages print it. */
const varOffStr = (a: Sc | null): string => (a === null ? '(0x0; 0x0)' : tnumStr(a));

/**
 * check_mem_region_access for a pointer with a variable offset `vo` at constant offset
 * `off` into `memSize` bytes: the refusal line, or undefined.
 */
function regionCheck(r: number, vo: Sc, off: number, size: number, memSize: number, zeroOk = false): string | undefined {
  const o = BigInt(off);
  const inside = (at: bigint): boolean => at >= 0n && (size > 0 || (size === 0 && zeroOk)) && at + BigInt(size) <= BigInt(memSize);
  if (vo.smin < 0n && (vo.smin === S64_MIN || BigInt.asIntN(32, o + vo.smin) !== o + vo.smin || vo.smin + o < 0n)) {
    return `R${r} min value is negative, either use unsigned index or do a if (index >=0) check.`;
  }
  if (!inside(vo.smin + o)) return `R${r} min value is outside of the allowed memory range`;
  if (vo.umax >= BigInt(MAX_VAR_OFF)) return `R${r} unbounded memory access, make sure to bounds check any such access`;
  if (!inside(vo.umax + o)) return `R${r} max value is outside of the allowed memory range`;
  return undefined;
}

/**
 * A load or store through register `r` at `off`. Checks ctx, packet, map value and stack
 * accesses, tracks ctx spills; returns the kind of what a load reads (a scalar, a packet
 * pointer from the ctx, a spilled pointer read back). Checks that depend on a variable
 * offset are made where nkemu knows it as the kernel does.
 */
export function memAccess(
  v: Ctx, pc: number, fn: number, s: State, r: number, off: number, size: number, write: boolean, check: boolean,
  valueReg = -1, imm?: bigint,
): { k: K; o?: number } | undefined {
  const k = s.k[r] as K;
  const vo = s.v[r]!;
  const sure = check && !s.split && (vo === null || (s.f[r]! & F.EXACT) !== 0);
  if (check) {
    const p = (v.proven ??= new Uint8Array(v.n));
    p[pc] = p[pc] !== 2 && provenAccess(v, s, r, off, size, write) ? 1 : 2;
  }
  if (k === K.CTX) {
    const layout = ctxLayout(v.o.type, v.o.expectedAttachType);
    if (layout === undefined) return undefined;
    const f: CtxField | undefined = s.o[r] === 0 && vo === null ? ctxAccess(layout, off, size, write) : undefined;
    if (check) {
      if (s.o[r] !== 0) fail('EACCES', pc, `dereference of modified ctx ptr R${r} off=${s.o[r]} disallowed`);
      if (vo !== null) {
        if (sure) fail('EACCES', pc, `variable ctx access var_off=${varOffStr(vo)} disallowed`);
        return undefined;
      }
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
    if (check && vo !== null && vo.smin < 0n) {
      if (sure) fail('EACCES', pc, `R${r} min value is negative, either use unsigned index or do a if (index >=0) check.`);
      return { k: K.SCALAR };
    }
    // (a pointer moved by a variable nkemu joined from several paths may be at a constant
    // offset on each of the kernel's, with another range: only an exact one is checked)
    if (check && (vo === null || sure) && (at < 0 || at + size > s.r[r]!)) fail('EACCES', pc, `R${r} offset is outside of the packet`);
    return { k: K.SCALAR };
  }
  if (k === K.MAP_VALUE) {
    const at = s.o[r]! + off;
    const vs = s.r[r]!;
    if (check && vs >= 0) {
      if (vo === null) {
        if (at < 0 || at + size > vs) fail('EACCES', pc, `R${r} min value is outside of the allowed memory range`);
      } else if (sure) {
        const bad = regionCheck(r, vo, at, size, vs);
        if (bad !== undefined) fail('EACCES', pc, bad);
      }
    }
    return { k: K.SCALAR };
  }
  if (k !== K.FP) return undefined;
  if (vo !== null) return stackVarAccess(v, pc, fn, s, r, off, size, write, check, sure);
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
    const cv = valueReg >= 0 && s.k[valueReg] === K.SCALAR ? cval(s, valueReg) : null;
    if (imm !== undefined) (s.kst ??= new Map()).set(at, `${size}:${imm & mask}:1`);
    // A pointer spilled whole: a narrower fill of it is refused. A stack pointer or the
    // packet's end comes back whole (data_end spilled across a call and compared after it).
    else if (size === 8 && valueReg >= 0 && isPtr(s.k[valueReg]!)) {
      const fp = s.k[valueReg] === K.FP && s.v[valueReg] === null;
      (s.kst ??= new Map()).set(at, fp ? `p:${s.o[valueReg]}` : s.k[valueReg] === K.PKT_END ? 'pe' : 'p');
    } else if (cv !== null) (s.kst ??= new Map()).set(at, `${size}:${cv & mask}:0`);
    // A scalar the kernel knows is not a constant (its own bounds on every path): `x`, a
    // key no lookup can read as a constant.
    else if (valueReg >= 0 && s.k[valueReg] === K.SCALAR && (s.f[valueReg]! & F.EXACT) !== 0 && !s.split) (s.kst ??= new Map()).set(at, 'x');
    return undefined;
  }
  if (check && size < 8 && s.kst) {
    for (const [slot, x] of s.kst) if (x.startsWith('p') && slot < at + size && at < slot + 8) fail('EACCES', pc, 'invalid size of register fill');
  }
  // A spilled stack pointer comes back as one, data_end as data_end (other pointers but the ctx come back untyped).
  const fp = size === 8 ? s.kst?.get(at) : undefined;
  if (fp?.startsWith('p:')) return { k: K.FP, o: Number(fp.slice(2)) };
  if (fp === 'pe') return { k: K.PKT_END };
  if (fp === 'm') return { k: K.SCALAR, o: 8 };
  const ctxOff = size === 8 ? s.spill?.get(at) : undefined;
  return ctxOff === undefined ? undefined : { k: K.CTX, o: ctxOff };
}

/**
 * Whether the checks prove the access [r + off, size) inside the memory r points to on
 * every path (the fixpoint's state joins them all): a context field the program type may
 * read (write), the packet's checked range, a map value, or the stack, each at a constant
 * offset. Compiled code runs such an access unchecked (VerifyResult.provenAccesses).
 */
function provenAccess(v: Ctx, s: State, r: number, off: number, size: number, write: boolean): boolean {
  if (s.v[r] !== null) return false;
  const at = s.o[r]! + off;
  switch (s.k[r]) {
    case K.CTX: {
      const layout = ctxLayout(v.o.type, v.o.expectedAttachType);
      return layout !== undefined && s.o[r] === 0 && ctxAccess(layout, off, size, write) !== undefined;
    }
    case K.PKT: return at >= 0 && at + size <= s.r[r]!;
    // (a map value pointer comes only from a lookup in a map the program may write:
    // lookupResult leaves a read-only one's untyped)
    case K.MAP_VALUE: return s.r[r]! >= 0 && at >= 0 && at + size <= s.r[r]!;
    case K.FP: return at >= -MAX_BPF_STACK && at + size <= 0;
    default: return false;
  }
}

/**
 * A stack access through a pointer with a variable offset (check_stack_access_within_bounds):
 * every byte it may touch inside the stack; what it may overwrite is forgotten, what it
 * reads is untyped.
 */
function stackVarAccess(v: Ctx, pc: number, fn: number, s: State, r: number, off: number, size: number, write: boolean, check: boolean, sure: boolean): undefined {
  const vo = s.v[r]!;
  const o = s.o[r]! + off;
  const dir = write ? ' write to' : ' read from';
  if (vo.smax >= BigInt(MAX_VAR_OFF) || vo.smin <= -BigInt(MAX_VAR_OFF)) {
    if (sure) fail('EACCES', pc, `invalid unbounded variable-offset${dir} stack R${r}`);
    s.kst = null;
    if (s.spill && s.spill.size > 0 && write) { v.escapes = true; s.spill = null; }
    return undefined;
  }
  const min = Number(vo.smin) + o;
  const max = Number(vo.smax) + o + size;
  if (min < -MAX_BPF_STACK || min > -1 || max > 0) {
    // (below the stack: EACCES; past its top: EINVAL)
    if (sure) fail(min < -MAX_BPF_STACK || min > -1 ? 'EACCES' : 'EINVAL', pc, `invalid variable-offset${dir} stack R${r} var_off=${tnumStr(vo)} off=${o} size=${size}`);
  } else if (check && sure) {
    v.depth[fn] = Math.max(v.depth[fn]!, -min);
  }
  if (write) {
    if (s.spill) for (const slot of [...s.spill.keys()]) if (slot < max && min < slot + 8) { s.spill.delete(slot); v.escapes = true; }
    if (s.kst) {
      for (const slot of [...s.kst.keys()]) {
        if (!(slot < max && min < slot + 8)) continue;
        // (a spilled pointer wholly inside the range is gone for certain: what fills the
        // slot back is a scalar, check_stack_write_var_off's STACK_MISC)
        if (sure && s.kst.get(slot)!.startsWith('p') && min <= slot && slot + 8 <= max) s.kst.set(slot, 'm');
        else s.kst.delete(slot);
      }
    }
  }
  return undefined;
}

/**
 * What bpf_map_lookup_elem returns: a value or NULL; for an array whose key is a constant
 * stored on the stack (as the kernel reads it: a store of the key's size, or an immediate
 * zero at least that wide) inside max_entries, a value. Untyped when r1 is no map reference
 * (nkemu's raw-address programs), for maps of maps and for read-only maps (the kernel knows
 * the constants their values hold); for an array whose key nkemu did not follow (the
 * kernel may know it), untyped until compared with 0 (`maybe`: F.MAYBE_VALUE).
 */
export function lookupResult(v: Ctx, s: State): { k: K; size: number; maybe?: boolean } | undefined {
  if (s.k[1] !== K.MAP_PTR) return undefined;
  const m = v.o.maps?.[s.o[1]!];
  // (a sockmap's or sockhash's element is a socket or NULL, which nkemu does not follow)
  if (m === undefined || m.kind === 'of_maps' || m.rdonly || isSockMap(v, s)) return undefined;
  if (m.kind !== 'array') return { k: K.MAP_OR_NULL, size: m.valueSize };
  const unfollowed = { k: K.INIT, size: m.valueSize, maybe: true };
  if (s.k[2] !== K.FP || s.v[2] !== null) return unfollowed;
  const x = s.kst?.get(s.o[2]!);
  // (a key starting with a scalar that is no constant: the kernel's value or NULL)
  if (x === 'x') return { k: K.MAP_OR_NULL, size: m.valueSize };
  if (x === undefined || x.startsWith('p')) return unfollowed;
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
 * with data_end proved, a map value inside the value; NULL passes only for zero bytes
 * where zero is allowed. Pointers with a variable offset are checked where nkemu knows it
 * as the kernel does (`sure`); stack ones are not checked.
 */
function helperMemAccess(pc: number, s: State, r: number, size: number, write: boolean, zeroOk: boolean, sure: boolean): void {
  const k = s.k[r]!;
  const vo = s.v[r]!;
  const exactVar = sure && (vo === null || (s.f[r]! & F.EXACT) !== 0);
  if (k === K.SCALAR) {
    if (zeroOk && size === 0 && cval(s, r) === 0n) return;
    fail('EACCES', pc, `R${r} type=scalar expected=fp`);
  }
  if (k === K.FP && vo !== null) {
    // check_stack_range_initialized through check_stack_access_within_bounds: the whole range
    if (!exactVar) return;
    const o = s.o[r]!;
    const dir = write ? ' write to' : ' read from';
    if (vo.smax >= BigInt(MAX_VAR_OFF) || vo.smin <= -BigInt(MAX_VAR_OFF)) fail('EACCES', pc, `invalid unbounded variable-offset${dir} stack R${r}`);
    const min = Number(vo.smin) + o;
    const max = Number(vo.smax) + o + size;
    if (min < -MAX_BPF_STACK || min > -1 || max > 0) {
      fail(min < -MAX_BPF_STACK || min > -1 ? 'EACCES' : 'EINVAL', pc, `invalid variable-offset${dir} stack R${r} var_off=${tnumStr(vo)} off=${o} size=${size}`);
    }
  }
  if (k === K.FP && vo === null) {
    const at = s.o[r]!;
    // (a queue's, stack's or bloom filter's key has no bytes: a zero-sized access where zero is not allowed)
    if (size === 0 && !zeroOk) fail('EACCES', pc, `invalid zero-sized ${write ? 'write' : 'read'}`);
    if (at < -MAX_BPF_STACK || at + size > 0) fail('EINVAL', pc, `invalid ${write ? 'write to' : 'read from'} stack R${r} off=${at} size=${size}`);
  }
  if (k === K.PKT || k === K.PKT_META) {
    if (vo !== null && vo.smin < 0n) {
      if (exactVar) fail('EACCES', pc, `R${r} min value is negative, either use unsigned index or do a if (index >=0) check.`);
      return;
    }
    if ((vo === null || exactVar) && (s.o[r]! < 0 || s.o[r]! + size > s.r[r]!)) fail('EACCES', pc, `R${r} offset is outside of the packet`);
  }
  if (k === K.MAP_VALUE && s.r[r]! >= 0 && (vo === null || exactVar)) {
    const bad = regionCheck(r, vo ?? constant(0n), s.o[r]!, size, s.r[r]!, zeroOk);
    if (bad !== undefined) fail('EACCES', pc, bad);
  }
}

/**
 * check_func_arg for argument register `r` of helper `id` against its prototype: declared,
 * so it must be initialised; a packet pointer only to a helper with `.pkt_access`; a NULL
 * where the type allows one; else a register of a compatible type (the ctx unmoved); then
 * the memory a map key or value, a fixed-size buffer or a size register describes: the
 * size's bounds (check_mem_size_reg) where nkemu knows them as the kernel does, the
 * memory's for its largest value.
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
  const isNull = k === K.SCALAR && cval(s, r) === 0n;
  if (!((a.endsWith('_or_null') || a === 'stack_or_null') && isNull)) {
    const t = argRegTypes(a);
    if (!t.kinds.includes(k as K)) fail('EACCES', pc, `R${r} type=${KIND_NAME[k]} expected=${t.expected}`);
    if (k === K.CTX && s.o[r] !== 0) fail('EACCES', pc, `dereference of modified ctx ptr R${r} off=${s.o[r]} disallowed`);
    if (k === K.CTX && s.v[r] !== null) {
      if (!s.split && (s.f[r]! & F.EXACT)) fail('EACCES', pc, `variable ctx access var_off=${varOffStr(s.v[r]!)} disallowed`);
      return;
    }
  }
  const sure = !s.split;
  if (a === 'map_key' || a === 'map_value' || a === 'uninit_map_value') {
    const m = s.k[1] === K.MAP_PTR ? v.o.maps?.[s.o[1]!] : undefined;
    // (a bloom filter's value is only read: resolve_map_arg_type drops MEM_UNINIT for it)
    if (m) {
      const size = a === 'map_key' ? m.keySize : m.valueSize;
      const write = a === 'uninit_map_value' && m.type !== BLOOM_FILTER;
      helperMemAccess(pc, s, r, size, write, false, sure);
      // The call's map key and value: proven on every path, the inline map operations read
      // (write) them unchecked (provenAccesses at a call: its map key and value arguments).
      const p = (v.proven ??= new Uint8Array(v.n));
      p[pc] = p[pc] !== 2 && provenAccess(v, s, r, 0, size, write) ? 1 : 2;
    }
  } else if (a.startsWith('fixed:')) {
    helperMemAccess(pc, s, r, Number(a.slice(6)), false, false, sure);
  } else if ((a === 'size' || a === 'size_or_zero') && k === K.SCALAR) {
    // check_mem_size_reg: the size's bounds, then the memory of the argument before it for
    // the largest size.
    const val = s.v[r]!;
    if (!isConst(val) && !(sure && exact(s, r))) return;
    const zeroOk = a === 'size_or_zero';
    if (val.smin < 0n) fail('EACCES', pc, `R${r} min value is negative, either use unsigned or 'var &= const'`);
    if (val.umin === 0n && !zeroOk) fail('EACCES', pc, `R${r} invalid zero-sized read: u64=[${BigInt.asIntN(64, val.umin)},${BigInt.asIntN(64, val.umax)}]`);
    if (val.umax >= BigInt(MAX_VAR_OFF)) fail('EACCES', pc, `R${r} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
    helperMemAccess(pc, s, r - 1, Number(val.umax), writes(p.args[r - 2]), zeroOk, sure);
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
            if (s.k[r] !== K.SCALAR || cval(s, r) === null) fail('EINVAL', pc, `R${r} must be a known constant`);
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
      if (s.k[r] === K.FP) { e.k[r] = K.INIT; continue; }
      e.k[r] = s.k[r]!; e.o[r] = s.o[r]!; e.v[r] = s.v[r]!; e.f[r] = s.f[r]!; e.id[r] = s.id[r]!; e.dl[r] = s.dl[r]!; e.r[r] = s.r[r]!;
    }
    // (what the callee learns of a copy of a caller's scalar, the kernel learns of the
    // caller's too: linked scalars are no longer known exactly after the call)
    for (let r = 6; r < 10; r++) if (s.k[r] === K.SCALAR && s.id[r]) s.f[r] = s.f[r]! & ~F.EXACT;
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
  const lookup: { k: K; size: number; maybe?: boolean } | undefined = ret === 1 ? lookupResult(v, s) : ret === 195 ? percpuLookupResult(v, s) : undefined;
  if (i.src === CallKind.LOCAL) s.kst = null;
  for (let r = 1; r <= 5; r++) writeReg(s, r, pc, K.UNINIT);
  writeReg(s, 0, pc);
  // (a kfunc's integer may have bounds the kernel gives it: not exact)
  if (i.src === CallKind.KFUNC && kfuncName(i.imm) !== undefined && KFUNCS.get(kfuncName(i.imm)!)!.ret === 'int') writeReg(s, 0, pc, K.SCALAR, 0, UNKNOWN, 0, 0);
  // What check_helper_call marks r0 as: RET_VOID leaves it uninitialised, RET_INTEGER an
  // unknown scalar (in nkemu's raw-address `generic` programs it stays untyped; bounded by
  // do_refine_retval_range for a few helpers, which nkemu does not follow); the pointers
  // nkemu does not follow (sockets, ring buffer memory) are untyped.
  if (proto?.ret === 'void') s.k[0] = K.UNINIT;
  else if (proto?.ret === 'integer' && v.o.type !== 'generic') writeReg(s, 0, pc, K.SCALAR, 0, UNKNOWN, 0, RETVAL_REFINED.has(ret) ? 0 : F.EXACT);
  // A map value or NULL, told apart by a comparison with 0.
  if (lookup) writeReg(s, 0, pc, lookup.k, lookup.k === K.MAP_OR_NULL || lookup.maybe ? pc : 0, null, lookup.size, lookup.maybe ? F.MAYBE_VALUE : undefined);
  // A packet-moving helper kills every packet pointer (clear_all_pkt_pointers: they become
  // unknown scalars); so does a subprogram that may move the packet, the caller's too (the
  // kernel clears every frame's).
  if (ret >= 0 ? HELPERS.get(ret)?.pktChanging : i.src === CallKind.LOCAL && funcMovesPkt(v, v.funcs.indexOf(pc + i.imm + 1))) {
    for (let r = 0; r < 10; r++) if (s.k[r] === K.PKT || s.k[r] === K.PKT_END || s.k[r] === K.PKT_META) writeReg(s, r, pc, K.SCALAR);
    // (and the spilled ones: data_end filled back after the call is no longer data_end)
    if (s.kst) for (const [at, x] of s.kst) if (x === 'pe') s.kst.set(at, 'p');
  }
  out.push({ to: pc + 1, s });
  return out;
}

/**
 * Helpers whose integer result the kernel bounds (do_refine_retval_range): get_smp_processor_id,
 * probe_read_str, get_stack, probe_read_user_str, probe_read_kernel_str, get_task_stack.
 */
const RETVAL_REFINED: ReadonlySet<number> = new Set([8, 45, 67, 114, 115, 141]);

/** Pointer kinds never NULL (reg_not_null): a comparison of one with 0 is decided. */
const notNull = (k: number): boolean => k === K.MAP_VALUE || k === K.MAP_PTR;
const pktAny = (k: number): boolean => k === K.PKT || k === K.PKT_META || k === K.PKT_END;

/**
 * is_branch_taken for a conditional jump: `taken` 1 (always), 0 (never) or -1 (either
 * edge); `certain` when nkemu knows what the kernel decides it on (exact scalars, pointer
 * kinds the kernel never decides, ...), so that an undecided branch is one the kernel
 * walks both edges of.
 */
export function branchTaken(i: Insn, c: Cls, s: State): { taken: number; certain: boolean } {
  const x = (i.code & SRC_X) !== 0;
  const jmp32 = c === Cls.JMP32;
  let o = op(i.code);
  let a = i.dst;
  let b = x ? i.src : -1;
  const ka = s.k[a]!;
  const kb = b < 0 ? K.SCALAR : s.k[b]!;
  if (ka === K.UNINIT || kb === K.UNINIT) return UNDECIDED;
  // (an untyped register holding a known value, an lddw immediate, is the scalar it is to the kernel)
  if ((ka === K.SCALAR || ka === K.INIT) && (kb === K.SCALAR || kb === K.INIT)) {
    const va = s.v[a]!;
    const vb = b < 0 ? constant(sext32(i.imm)) : s.v[b]!;
    if (va === null || vb === null) return UNDECIDED;
    const taken = scalarBranchTaken(va, vb, o, jmp32);
    const certain = (ka === K.INIT || (s.f[a]! & F.EXACT) !== 0) && (b < 0 || kb === K.INIT || (s.f[b]! & F.EXACT) !== 0);
    return taken === 1 ? TAKEN : taken === 0 ? NOT_TAKEN : certain ? BOTH : UNDECIDED;
  }
  if (ka === K.INIT || kb === K.INIT) return UNDECIDED;
  if (pktAny(ka) && pktAny(kb) && !jmp32) {
    // (is_pkt_ptr_branch_taken: decided only for a pointer the kernel marked at or past the end)
    return (s.f[a]! | s.f[b]!) & F.PKT_MARK ? UNDECIDED : BOTH;
  }
  // A pointer and a scalar: decided when the pointer is never NULL and the scalar is 0.
  if (isPtr(ka) && isPtr(kb)) return BOTH;
  if (!isPtr(ka)) { const t = a; a = b; b = t; o = flipOp(o); }
  if (!notNull(s.k[a]!)) return BOTH;
  const vs = b < 0 ? constant(sext32(i.imm)) : s.v[b]!;
  if (!(jmp32 ? isConst32(vs) : isConst(vs))) return b < 0 || (s.f[b]! & F.EXACT) !== 0 ? BOTH : UNDECIDED;
  if ((jmp32 ? vs.tv & 0xffffffffn : vs.tv) !== 0n) return BOTH;
  return o === Jmp.JEQ ? NOT_TAKEN : o === Jmp.JNE ? TAKEN : BOTH;
}
const TAKEN = { taken: 1, certain: true };
const NOT_TAKEN = { taken: 0, certain: true };
const BOTH = { taken: -1, certain: true };
const UNDECIDED = { taken: -1, certain: false };

/**
 * Whether function `f` may move the packet: it calls a packet-changing helper or
 * bpf_tail_call (whose target may), or a function that may (the kernel's
 * changes_pkt_data of a subprogram).
 */
function funcMovesPkt(v: Ctx, f: number, seen = new Set<number>()): boolean {
  if (f < 0 || seen.has(f)) return false;
  seen.add(f);
  const memo = (v.movesPkt ??= new Int8Array(v.funcs.length).fill(-1));
  if (memo[f] !== -1) return memo[f] === 1;
  const end = f + 1 < v.funcs.length ? v.funcs[f + 1]! : v.n;
  let moves = false;
  for (let pc = v.funcs[f]!; pc < end && !moves; pc++) {
    if (v.second[pc]) continue;
    const i = decode(v.prog, pc);
    if (i.code !== 0x85) continue;
    if (i.src === CallKind.HELPER) moves = i.imm === TAIL_CALL || HELPERS.get(i.imm)?.pktChanging === true;
    else if (i.src === CallKind.LOCAL) moves = funcMovesPkt(v, v.funcs.indexOf(pc + i.imm + 1), seen);
  }
  // (a cycle's partial answer is not kept)
  if (moves || seen.size === 1) memo[f] = moves ? 1 : 0;
  return moves;
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

/** Joins into one state before its bounds are widened. */
const WIDEN_AFTER = 8;

export function dataflow(v: Ctx, maxInsns: number): void {
  const lead = leaders(v);
  const work: number[] = [];
  const queued = new Uint8Array(v.n);
  // (a state joined again and again, at a loop head: widened, so that the fixpoint ends)
  const joins = new Uint16Array(v.n);
  const push = (pc: number, s: State): void => {
    const cur = v.states[pc];
    if (cur === undefined) v.states[pc] = cloneState(s);
    else if (!joinInto(cur, s, ++joins[pc]! > WIDEN_AFTER)) return;
    if (!queued[pc]) {
      queued[pc] = 1;
      work.push(pc);
    }
  };
  /** Walks the block at `start` from state `s`; returns the edges leaving it. */
  const runBlock = (start: number, s: State, check: boolean): { to: number; s: State }[] => {
    let pc = start;
    for (;;) {
      // (the fixpoint's own steps say nothing of the kernel's count: only the checking walk is limited)
      if (++processed > maxInsns && check) fail('E2BIG', pc, `BPF program is too large. Processed ${processed} insn`);
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
