/** Register state of the dataflow: kinds, offsets, constants, ranges, bounds, spills; joins. */

import type { ProgType } from '../ctx.js';
import { Alu } from '../insn.js';
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

/** Register state at one pc: kind and constant offset per register, plus ctx spills. */
export interface State {
  k: number[]; // 11
  o: number[]; // 11; CTX/FP/PKT/MAP_VALUE offset
  /** SCALAR: its value when known (64-bit, unsigned). */
  c: (bigint | null)[];
  /**
   * SCALAR: an upper bound (umax) the kernel knows exactly too (loads, masks, constant
   * adds and shifts, unsigned comparisons with a constant); null when nkemu stops
   * following it (copies, joins, other comparisons: the kernel may know more).
   * MAP_VALUE: the umax of its variable offset (null: none).
   */
  u: (bigint | null)[];
  /** PKT/PKT_META: bytes proved readable from the packet start; MAP_*: value size (-1 unknown); MAP_OR_NULL id in `o`. */
  r: number[];
  /** Stack slot (byte offset from r10, multiple of 8) → ctx offset of a spilled ctx pointer. */
  spill: Map<number, number> | null;
  /** Stack byte offset → `size:value:imm` of a constant stored there (a map key the kernel can read), or `p`: a spilled pointer. */
  kst: Map<number, string> | null;
  /**
   * SCALAR: 1 when its lower bound is 0 exactly as the kernel knows it (a load of fewer
   * than 8 bytes from the context, the packet or a map value, narrowed only by `&` or `>>`
   * of a constant); 0 when nkemu cannot tell (what it does not follow may raise it).
   */
  z: number[];
  /** 1 once a path into this state took a branch nkemu could not decide. */
  split: number;
}

export const zeros = (): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
export const nulls = (): (bigint | null)[] => [null, null, null, null, null, null, null, null, null, null, null];

export function cloneState(s: State): State {
  return {
    k: s.k.slice(), o: s.o.slice(), c: s.c.slice(), r: s.r.slice(), u: s.u.slice(), z: s.z.slice(), split: s.split,
    spill: s.spill && s.spill.size > 0 ? new Map(s.spill) : null, kst: s.kst && s.kst.size > 0 ? new Map(s.kst) : null,
  };
}

export const newState = (): State => ({ k: zeros(), o: zeros(), c: nulls(), r: zeros(), u: nulls(), spill: null, kst: null, z: zeros(), split: 0 });

/** Set when a join turned a ctx pointer into an untracked value (read by `dataflow`). */
export const joinLost = { ctx: false };

/** Joins `b` into `a`; returns whether `a` changed. */
export function joinInto(a: State, b: State): boolean {
  let changed = false;
  if (b.split && !a.split) { a.split = 1; changed = true; }
  for (let r = 0; r < 11; r++) {
    if (a.z[r] && !b.z[r]) { a.z[r] = 0; changed = true; }
    const ka = a.k[r]!;
    const kb = b.k[r]!;
    if (ka === kb && (ka < K.CTX || ka === K.PKT_END || ka === K.MAP_PTR) && (ka !== K.MAP_PTR || a.o[r] === b.o[r])) continue;
    if (ka === kb && ka === K.SCALAR) {
      if (a.c[r] !== null && a.c[r] !== b.c[r]) { a.c[r] = null; changed = true; }
      if (a.u[r] !== null && a.u[r] !== b.u[r]) { a.u[r] = null; changed = true; }
      continue;
    }
    if (ka === kb && (ka === K.CTX || ka === K.FP) && a.o[r] === b.o[r]) continue;
    if (ka === kb && (ka === K.PKT || ka === K.PKT_META) && a.o[r] === b.o[r]) {
      if (b.r[r]! < a.r[r]!) { a.r[r] = b.r[r]!; changed = true; }
      continue;
    }
    if (ka === kb && (ka === K.MAP_VALUE || ka === K.MAP_OR_NULL) && a.o[r] === b.o[r] && a.r[r] === b.r[r] && a.u[r] === b.u[r]) continue;
    const nk = ka === K.UNINIT || kb === K.UNINIT ? K.UNINIT : K.INIT;
    if (nk === K.INIT && (ka === K.CTX || kb === K.CTX)) joinLost.ctx = true;
    if (nk !== ka) {
      a.k[r] = nk;
      a.o[r] = 0;
      a.c[r] = null;
      a.u[r] = null;
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

export function writeReg(s: State, r: number, pc: number, k: K = K.INIT, off = 0, c: bigint | null = null, range = 0, u?: bigint | null): void {
  if (r === 10) fail('EACCES', pc, 'frame pointer is read only');
  s.k[r] = k;
  s.z[r] = 0;
  s.o[r] = off;
  s.c[r] = c;
  s.r[r] = range;
  s.u[r] = u !== undefined ? u : k === K.SCALAR ? c : null;
}

export const U64 = (1n << 64n) - 1n;
export const U32 = (1n << 32n) - 1n;
/** BPF_MAX_VAR_OFF: the largest constant a pointer may be moved by. */
export const MAX_VAR_OFF = 1 << 29;

/** The 64-bit result of a constant ALU op (undefined: not constant or division by zero). */
export function aluConst(o: number, c64: boolean, a: bigint, b: bigint, signedOff: number): bigint | undefined {
  const w = c64 ? 64 : 32;
  const mask = c64 ? U64 : U32;
  a &= mask;
  b &= mask;
  const sgn = (x: bigint): bigint => BigInt.asIntN(w, x);
  let r: bigint;
  switch (o) {
    case Alu.ADD: r = a + b; break;
    case Alu.SUB: r = a - b; break;
    case Alu.MUL: r = a * b; break;
    case Alu.DIV: if (b === 0n) r = 0n; else r = signedOff === 1 ? sgn(a) / sgn(b) : a / b; break;
    case Alu.MOD: if (b === 0n) r = a; else r = signedOff === 1 ? sgn(a) % sgn(b) : a % b; break;
    case Alu.OR: r = a | b; break;
    case Alu.AND: r = a & b; break;
    case Alu.XOR: r = a ^ b; break;
    case Alu.LSH: r = a << (b & BigInt(w - 1)); break;
    case Alu.RSH: r = a >> (b & BigInt(w - 1)); break;
    case Alu.ARSH: r = sgn(a) >> (b & BigInt(w - 1)); break;
    case Alu.NEG: r = -a; break;
    default: return undefined;
  }
  return r & mask;
}

/** The kernel's operator strings (bpf_alu_string) for pointer arithmetic refusals. */
export const ALU_STR: Record<number, string> = {
  [Alu.ADD]: '+=', [Alu.SUB]: '-=', [Alu.MUL]: '*=', [Alu.OR]: '|=', [Alu.AND]: '&=', [Alu.DIV]: '/=', [Alu.MOD]: '%=',
  [Alu.LSH]: '<<=', [Alu.RSH]: '>>=', [Alu.XOR]: '^=', [Alu.ARSH]: 's>>=', [Alu.NEG]: 'neg', [Alu.END]: 'endian',
};

export const isPtr = (k: number): boolean => k >= K.CTX && k !== K.SCALAR;
