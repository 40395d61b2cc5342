/** Register state of the dataflow: kinds, offsets, constants, ranges, bounds, spills; joins. */

import type { ProgType } from '../ctx.js';
import { Alu } from '../insn.js';
import { type Sc, UNKNOWN, constant, eq as scEq, isConst, join as joinSc, widen } from './scalar.js';
import { type CtxAccess, type VerifyOptions, fail } from './base.js';

// ---------------------------------------------------------------------------------------
// Pass 3: dataflow. Abstract register kinds; the join of two different kinds is INIT
// (written, nothing known) unless either side is UNINIT (then UNINIT: a register is only
// initialised if it is written on every path).

// Register types the kernel tracks (enum bpf_reg_type), as far as nkemu follows them. INIT
// is "written, type unknown to these checks": nothing is refused on it (a join of two
// different types, a pointer with a variable offset, a value reloaded from the stack).
// SCALAR is known not to be a pointer (with its value when constant); PKT and PKT_META
// have a constant offset and the range a data_end (data) comparison proved; MAP_VALUE a
// constant offset into a value of known size; MAP_OR_NULL the id of its lookup.
export const enum K { UNINIT = 0, INIT = 1, CTX = 2, FP = 3, SCALAR = 4, PKT = 5, PKT_END = 6, PKT_META = 7, MAP_PTR = 8, MAP_VALUE = 9, MAP_OR_NULL = 10 }

/** The kernel's names of register types (reg_type_str), for its messages. */
export const KIND_NAME: Record<number, string> = {
  [K.SCALAR]: 'scalar', [K.CTX]: 'ctx', [K.FP]: 'fp', [K.PKT]: 'pkt', [K.PKT_END]: 'pkt_end', [K.PKT_META]: 'pkt_meta',
  [K.MAP_PTR]: 'map_ptr', [K.MAP_VALUE]: 'map_value', [K.MAP_OR_NULL]: 'map_value_or_null',
};

/** Register flags (State.f). */
export const enum F {
  /**
   * The register's scalar value (SCALAR), or a pointer's variable offset, and its links are
   * the kernel's own on every path nkemu followed here: computed from exact values by the
   * kernel's transfer functions, never widened by a join of different values.
   */
  EXACT = 1,
  /** A packet pointer the kernel may have marked past data_end (mark_pkt_end) on some path here. */
  PKT_MARK = 2,
  /** SCALAR linked by a 32-bit add of a constant (BPF_ADD_CONST32; `dl` holds the constant). */
  ADDC32 = 4,
  /**
   * INIT: an array lookup's result whose key nkemu did not follow (`o` the lookup's id, its
   * pc; `r` the value size). The kernel has a value there (a constant key in range) or a
   * value or NULL; either way a value once compared unequal to 0 (refineBranch).
   */
  MAYBE_VALUE = 8,
}

/** Register state at one pc: kind, offsets, values, ranges, links, plus ctx spills. */
export interface State {
  k: number[]; // 11
  o: number[]; // 11; CTX/FP/PKT/MAP_VALUE fixed offset
  /**
   * SCALAR: its value (never null). INIT: a value it is known to hold (an lddw immediate),
   * else null. CTX/FP/PKT/PKT_META/MAP_VALUE: the variable part of the offset (null: none).
   */
  v: (Sc | null)[];
  /** F flags. */
  f: number[];
  /**
   * SCALAR: the id linking it with its copies (0: none), as the kernel's `id`: a bound one
   * learns on a branch the others learn too. PKT/PKT_META: the id of a pointer moved by a
   * variable amount (0: one at a constant offset from the packet start).
   */
  id: number[];
  /** SCALAR linked after a constant was added to it (BPF_ADD_CONST): that constant; NaN otherwise. */
  dl: number[];
  /** PKT/PKT_META: bytes proved readable from the pointer's base; MAP_*: value size (-1 unknown); MAP_OR_NULL id in `o`. */
  r: number[];
  /** Stack slot (byte offset from r10, multiple of 8) → ctx offset of a spilled ctx pointer. */
  spill: Map<number, number> | null;
  /** Stack byte offset → `size:value:imm` of a constant stored there (a map key the kernel can read), `p`: a spilled pointer, `x`: a scalar the kernel knows is no constant. */
  kst: Map<number, string> | null;
  /**
   * 1 once a path into this state took a branch the kernel may have decided (on a value
   * nkemu does not know exactly): the kernel may never walk here.
   */
  split: number;
}

export const zeros = (): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const nans = (): number[] => [NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN];
const nullVals = (): (Sc | null)[] => [null, null, null, null, null, null, null, null, null, null, null];

export function cloneState(s: State): State {
  return {
    k: s.k.slice(), o: s.o.slice(), v: s.v.slice(), f: s.f.slice(), id: s.id.slice(), dl: s.dl.slice(), r: s.r.slice(), split: s.split,
    spill: s.spill && s.spill.size > 0 ? new Map(s.spill) : null, kst: s.kst && s.kst.size > 0 ? new Map(s.kst) : null,
  };
}

export const newState = (): State => ({ k: zeros(), o: zeros(), v: nullVals(), f: zeros(), id: zeros(), dl: nans(), r: zeros(), spill: null, kst: null, split: 0 });

/** The register's known 64-bit value (a SCALAR or INIT whose value is one number), or null. */
export function cval(s: State, r: number): bigint | null {
  const v = s.v[r];
  return v && (s.k[r] === K.SCALAR || s.k[r] === K.INIT) && isConst(v) ? v.tv : null;
}

/** Whether `r` is a SCALAR whose value nkemu knows as the kernel does. */
export const exact = (s: State, r: number): boolean => s.k[r] === K.SCALAR && (s.f[r]! & F.EXACT) !== 0;

/** Set when a join turned a ctx pointer into an untracked value (read by `dataflow`). */
export const joinLost = { ctx: false };

const sameDelta = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

/** The join of two variable parts (null: none, that is 0). */
function joinVar(a: Sc | null, b: Sc | null, wide: boolean): Sc | null {
  if (a === b) return a;
  const x = a ?? constant(0n);
  const y = b ?? constant(0n);
  if (scEq(x, y)) return a;
  return wide ? widen(x, y) : joinSc(x, y);
}

/**
 * Joins `b` into `a`; returns whether `a` changed. `wide`: bounds that still move are pushed
 * to their extremes (a state joined many times, at a loop head: the fixpoint must end).
 */
export function joinInto(a: State, b: State, wide = false): boolean {
  let changed = false;
  if (b.split && !a.split) { a.split = 1; changed = true; }
  for (let r = 0; r < 11; r++) {
    const ka = a.k[r]!;
    const kb = b.k[r]!;
    if (ka === kb && (ka < K.CTX || ka === K.PKT_END || ka === K.MAP_PTR) && (ka !== K.MAP_PTR || a.o[r] === b.o[r])) {
      if (ka === K.INIT && a.v[r] !== null && !(b.v[r] !== null && scEq(a.v[r]!, b.v[r]!))) { a.v[r] = null; changed = true; }
      // (the same lookup's result on both sides, or untyped)
      if (ka === K.INIT && (a.f[r]! & F.MAYBE_VALUE) && !((b.f[r]! & F.MAYBE_VALUE) && a.o[r] === b.o[r] && a.r[r] === b.r[r])) {
        a.f[r] = 0; a.o[r] = 0; a.r[r] = 0; changed = true;
      }
      continue;
    }
    const sameShape = ka === kb && a.o[r] === b.o[r] &&
      (ka === K.SCALAR || ka === K.CTX || ka === K.FP || ((ka === K.PKT || ka === K.PKT_META) && a.id[r] === b.id[r]) ||
        ((ka === K.MAP_VALUE || ka === K.MAP_OR_NULL) && a.r[r] === b.r[r]));
    if (sameShape) {
      // (a pointer's variable part joined to exactly 0, from paths with none and with one
      // known to be 0, is none: the kernel's var_off is the constant 0 there)
      const j = joinVar(a.v[r]!, b.v[r]!, wide);
      const v = ka !== K.SCALAR && j !== null && j.umin === 0n && j.umax === 0n ? null : j;
      let f = a.f[r]!;
      if (v !== a.v[r]) { a.v[r] = v; f &= ~F.EXACT; changed = true; }
      if (!(b.f[r]! & F.EXACT)) f &= ~F.EXACT;
      f |= b.f[r]! & F.PKT_MARK;
      if (ka === K.SCALAR && (a.id[r] !== b.id[r] || !sameDelta(a.dl[r]!, b.dl[r]!) || ((a.f[r]! ^ b.f[r]!) & F.ADDC32))) {
        if (a.id[r] !== 0) { a.id[r] = 0; a.dl[r] = NaN; f &= ~F.ADDC32; changed = true; }
        f &= ~F.EXACT;
      }
      if (f !== a.f[r]) { a.f[r] = f; changed = true; }
      if ((ka === K.PKT || ka === K.PKT_META) && b.r[r]! < a.r[r]!) { a.r[r] = b.r[r]!; changed = true; }
      continue;
    }
    // An array value and a lookup's value or perhaps NULL (F.MAYBE_VALUE) of the same size:
    // the latter (a path that knew its key, one that did not).
    const plainValue = (s: State): boolean => s.k[r] === K.MAP_VALUE && s.o[r] === 0 && s.v[r] === null;
    if (ka === K.INIT && (a.f[r]! & F.MAYBE_VALUE) && plainValue(b) && b.r[r] === a.r[r]) continue;
    if (kb === K.INIT && (b.f[r]! & F.MAYBE_VALUE) && plainValue(a) && a.r[r] === b.r[r]) {
      a.k[r] = K.INIT; a.o[r] = b.o[r]!; a.f[r] = F.MAYBE_VALUE; a.id[r] = 0; a.dl[r] = NaN;
      changed = true;
      continue;
    }
    const nk = ka === K.UNINIT || kb === K.UNINIT ? K.UNINIT : K.INIT;
    if (nk === K.INIT && (ka === K.CTX || kb === K.CTX)) joinLost.ctx = true;
    if (nk !== ka || a.v[r] !== null) {
      a.k[r] = nk;
      a.o[r] = 0;
      a.v[r] = null;
      a.f[r] = 0;
      a.id[r] = 0;
      a.dl[r] = NaN;
      a.r[r] = 0;
      changed = true;
    }
  }
  if (a.spill) {
    for (const [slot, off] of a.spill) {
      if (b.spill?.get(slot) !== off) {
        joinLost.ctx = true;
        a.spill.delete(slot);
        changed = true;
      }
    }
  }
  if (b.spill) for (const [slot, off] of b.spill) if (a.spill?.get(slot) !== off) joinLost.ctx = true;
  if (a.kst) {
    for (const [at, x] of a.kst) if (b.kst?.get(at) !== x) { a.kst.delete(at); changed = true; }
  }
  return changed;
}

export interface Ctx {
  prog: Uint8Array;
  n: number;
  o: VerifyOptions;
  second: Uint8Array;
  funcs: readonly number[];
  funcOf: Int32Array;
  states: (State | undefined)[];
  depth: number[];
  accesses: Map<number, CtxAccess>;
  /** Calls per function: callee function indexes with the pc of the call. */
  calls: { pc: number; callee: number }[][];
  /** The ctx pointer reached something untracked (see VerifyResult.ctxEscapes). */
  escapes: boolean;
  /** Per function: whether it may move the packet (-1: not known yet; dataflow.ts funcMovesPkt). */
  movesPkt?: Int8Array;
  /** Per pc, of the checking walk: 1 every memory access there is proven in bounds (provenAccess), 2 not. */
  proven?: Uint8Array;
}

/** Program entry: r1 = ctx (generic: r1 = memory, r2 = its length, the uBPF convention), r10 = frame. */
export function entryState(type: ProgType): State {
  const s = newState();
  s.k[1] = type === 'generic' ? K.INIT : K.CTX;
  if (type === 'generic') s.k[2] = K.INIT;
  s.k[10] = K.FP;
  return s;
}

/** Entry of a function reached only as a callback (`lddw` func ref): r1-r5 are arguments. */
export function callbackEntry(): State {
  const s = newState();
  s.split = 1;
  for (let r = 1; r <= 5; r++) s.k[r] = K.INIT;
  s.k[10] = K.FP;
  return s;
}

export function readReg(s: State, r: number, pc: number, check: boolean): void {
  if (check && s.k[r] === K.UNINIT) fail('EACCES', pc, `R${r} !read_ok`);
}

/**
 * Writes register `r`: kind, fixed offset, value (SCALAR; for pointers their variable
 * part), range and flags (a SCALAR is exact unless told otherwise). Links are cut.
 */
export function writeReg(s: State, r: number, pc: number, k: K = K.INIT, off = 0, v: Sc | null = null, range = 0, f?: number): void {
  if (r === 10) fail('EACCES', pc, 'frame pointer is read only');
  s.k[r] = k;
  s.o[r] = off;
  s.v[r] = k === K.SCALAR ? v ?? UNKNOWN : v;
  s.f[r] = f ?? (k === K.SCALAR ? F.EXACT : 0);
  s.id[r] = 0;
  s.dl[r] = NaN;
  s.r[r] = range;
}

/** A SCALAR with a known value. */
export function writeConst(s: State, r: number, pc: number, c: bigint): void {
  writeReg(s, r, pc, K.SCALAR, 0, constant(c));
}

/** BPF_MAX_VAR_OFF: the largest constant a pointer may be moved by. */
export const MAX_VAR_OFF = 1 << 29;

/** The kernel's operator strings (bpf_alu_string) for pointer arithmetic refusals. */
export const ALU_STR: Record<number, string> = {
  [Alu.ADD]: '+=', [Alu.SUB]: '-=', [Alu.MUL]: '*=', [Alu.OR]: '|=', [Alu.AND]: '&=', [Alu.DIV]: '/=', [Alu.MOD]: '%=',
  [Alu.LSH]: '<<=', [Alu.RSH]: '>>=', [Alu.XOR]: '^=', [Alu.ARSH]: 's>>=', [Alu.NEG]: 'neg', [Alu.END]: 'endian',
};

export const isPtr = (k: number): boolean => k >= K.CTX && k !== K.SCALAR;
