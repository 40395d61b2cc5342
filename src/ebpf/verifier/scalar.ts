/**
 * The kernel verifier's scalar abstraction (struct bpf_reg_state's bounds): unsigned and
 * signed 64-bit bounds, unsigned and signed 32-bit bounds of the low half, and a tnum
 * (value, mask: the bits known and their values), with the transfer functions of
 * kernel/bpf/verifier.c (adjust_scalar_min_max_vals, coerce_reg_to_size, reg_bounds_sync,
 * is_branch_taken, regs_refine_cond_op) and kernel/bpf/tnum.c, as the kernel nkemu is
 * checked against (6.18) computes them. 64-bit bounds are bigints (every result wrapped
 * with BigInt.asUintN/asIntN, which V8 compiles to 64-bit integer arithmetic); 32-bit
 * bounds are numbers.
 *
 * A `Sc` is never changed once made: every operation returns a new one.
 */

import { Alu, Jmp } from '../insn.js';

export interface Sc {
  /** u64 bounds (0 ≤ umin ≤ umax < 2^64). */
  umin: bigint; umax: bigint;
  /** s64 bounds. */
  smin: bigint; smax: bigint;
  /** u32 bounds of the low half (numbers). */
  u32min: number; u32max: number;
  /** s32 bounds of the low half (numbers). */
  s32min: number; s32max: number;
  /** tnum: known bits' values, and the unknown bits (both u64). */
  tv: bigint; tm: bigint;
}

export const U64_MAX = 0xffffffffffffffffn;
export const S64_MIN = -0x8000000000000000n;
export const S64_MAX = 0x7fffffffffffffffn;
const LOW32 = 0xffffffffn;
const HIGH32 = 0xffffffff00000000n;
const SIGN64 = 0x8000000000000000n;
const U32_MAX = 0xffffffff;
const S32_MIN = -0x80000000;
const S32_MAX = 0x7fffffff;

const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
/** Low 32 bits of a 64-bit value, unsigned / signed, as numbers. */
const lo32 = (x: bigint): number => Number(BigInt.asUintN(32, x));
const slo32 = (x: bigint): number => Number(BigInt.asIntN(32, x));
const minB = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const maxB = (a: bigint, b: bigint): bigint => (a > b ? a : b);

function copy(a: Sc): Sc {
  return { umin: a.umin, umax: a.umax, smin: a.smin, smax: a.smax, u32min: a.u32min, u32max: a.u32max, s32min: a.s32min, s32max: a.s32max, tv: a.tv, tm: a.tm };
}

export const UNKNOWN: Sc = Object.freeze({ umin: 0n, umax: U64_MAX, smin: S64_MIN, smax: S64_MAX, u32min: 0, u32max: U32_MAX, s32min: S32_MIN, s32max: S32_MAX, tv: 0n, tm: U64_MAX });

export function unknown(): Sc { return copy(UNKNOWN); }

/** A known 64-bit value (___mark_reg_known). */
export function known(v: bigint): Sc {
  const x = u64(v);
  const s = s64(x);
  const l = lo32(x);
  return { umin: x, umax: x, smin: s, smax: s, u32min: l, u32max: l, s32min: l | 0, s32max: l | 0, tv: x, tm: 0n };
}

const KNOWN_CACHE = new Map<bigint, Sc>();
/** A known value, shared (the result must not be changed: Sc values never are). */
export function constant(v: bigint): Sc {
  const x = u64(v);
  let c = KNOWN_CACHE.get(x);
  if (c === undefined) {
    c = known(x);
    if (KNOWN_CACHE.size < 4096) KNOWN_CACHE.set(x, Object.freeze(c));
  }
  return c;
}

export const isConst = (a: Sc): boolean => a.tm === 0n;
export const isConst32 = (a: Sc): boolean => (a.tm & LOW32) === 0n;
export const isUnknown = (a: Sc): boolean => a === UNKNOWN || eq(a, UNKNOWN);

export function eq(a: Sc, b: Sc): boolean {
  return a === b || (a.tv === b.tv && a.tm === b.tm && a.umin === b.umin && a.umax === b.umax && a.smin === b.smin && a.smax === b.smax &&
    a.u32min === b.u32min && a.u32max === b.u32max && a.s32min === b.s32min && a.s32max === b.s32max);
}

// ---------------------------------------------------------------------------------------
// tnum.c

interface T { v: bigint; m: bigint }
const tnum = (v: bigint, m: bigint): T => ({ v, m });

/** The number of significant bits of a u64 (fls64). */
function bitlen(x: bigint): number {
  const hi = Number(x >> 32n);
  return hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(Number(x & LOW32));
}

export function tnumRange(min: bigint, max: bigint): T {
  const chi = min ^ max;
  if (chi === 0n) return tnum(min, 0n);
  const bits = bitlen(chi);
  if (bits > 63) return tnum(0n, U64_MAX);
  const delta = (1n << BigInt(bits)) - 1n;
  return tnum(min & ~delta & U64_MAX, delta);
}
function tAdd(a: T, b: T): T {
  const sm = u64(a.m + b.m);
  const sv = u64(a.v + b.v);
  const sigma = u64(sm + sv);
  const chi = sigma ^ sv;
  const mu = chi | a.m | b.m;
  return tnum(sv & ~mu & U64_MAX, mu);
}
function tSub(a: T, b: T): T {
  const dv = u64(a.v - b.v);
  const alpha = u64(dv + a.m);
  const beta = u64(dv - b.m);
  const chi = alpha ^ beta;
  const mu = chi | a.m | b.m;
  return tnum(dv & ~mu & U64_MAX, mu);
}
function tAnd(a: T, b: T): T {
  const alpha = a.v | a.m;
  const beta = b.v | b.m;
  const v = a.v & b.v;
  return tnum(v, alpha & beta & ~v & U64_MAX);
}
function tOr(a: T, b: T): T {
  const v = a.v | b.v;
  const mu = a.m | b.m;
  return tnum(v, mu & ~v & U64_MAX);
}
function tXor(a: T, b: T): T {
  const v = a.v ^ b.v;
  const mu = a.m | b.m;
  return tnum(v & ~mu & U64_MAX, mu);
}
/** The union of two tnums (every bit they disagree on or either does not know is unknown). */
export function tUnion(a: T, b: T): T {
  const v = a.v & b.v;
  const mu = (a.v ^ b.v) | a.m | b.m;
  return tnum(v & ~mu & U64_MAX, mu);
}
function tMul(a: T, b: T): T {
  // long multiplication, one bit of `a` at a time (tnum_mul)
  let acc = tnum(0n, 0n);
  while (a.v !== 0n || a.m !== 0n) {
    if (a.v & 1n) acc = tAdd(acc, b);
    else if (a.m & 1n) acc = tUnion(acc, tAdd(acc, b));
    a = tnum(a.v >> 1n, a.m >> 1n);
    b = tnum(u64(b.v << 1n), u64(b.m << 1n));
  }
  return acc;
}
function tIntersect(a: T, b: T): T {
  const v = a.v | b.v;
  const mu = a.m & b.m;
  return tnum(v & ~mu & U64_MAX, mu);
}
const tCast = (a: T, size: number): T => {
  const mask = (1n << BigInt(size * 8)) - 1n;
  return tnum(a.v & mask, a.m & mask);
};
const tSubreg = (a: T): T => tnum(a.v & LOW32, a.m & LOW32);
const tClearSubreg = (a: T): T => tnum(a.v & HIGH32, a.m & HIGH32);
const tWithSubreg = (reg: T, sub: T): T => tOr(tClearSubreg(reg), tSubreg(sub));
function tArshift(a: T, shift: number, bits: 32 | 64): T {
  const k = BigInt(shift);
  if (bits === 32) return tnum(BigInt.asUintN(32, BigInt.asIntN(32, a.v) >> k), BigInt.asUintN(32, BigInt.asIntN(32, a.m) >> k));
  return tnum(u64(s64(a.v) >> k), u64(s64(a.m) >> k));
}
function bswap(x: bigint, bytes: number): bigint {
  let r = 0n;
  for (let i = 0; i < bytes; i++) r = (r << 8n) | ((x >> BigInt(8 * i)) & 0xffn);
  return r;
}
const tBswap = (a: T, bytes: number): T => tnum(bswap(a.v, bytes), bswap(a.m, bytes));

const tOf = (r: Sc): T => tnum(r.tv, r.tm);
const setT = (r: Sc, t: T): void => { r.tv = t.v; r.tm = t.m; };

/** tnum_overlap: whether some value is in both (known bits agree where both know them). */
function tOverlap(a: T, b: T): boolean {
  const mu = ~a.m & ~b.m & U64_MAX;
  return (a.v & mu) === (b.v & mu);
}

// ---------------------------------------------------------------------------------------
// Bounds: __update_reg_bounds, __reg_deduce_bounds, __reg_bound_offset, reg_bounds_sync.

function markKnownInto(r: Sc, v: bigint): void {
  const x = u64(v);
  r.tv = x; r.tm = 0n;
  r.umin = r.umax = x;
  r.smin = r.smax = s64(x);
  r.u32min = r.u32max = lo32(x);
  r.s32min = r.s32max = slo32(x);
}
function markKnown32(r: Sc, v: number): void {
  setT(r, tWithSubreg(tOf(r), tnum(BigInt(v >>> 0), 0n)));
  r.s32min = r.s32max = v | 0;
  r.u32min = r.u32max = v >>> 0;
}
function unbounded(r: Sc): void {
  r.smin = S64_MIN; r.smax = S64_MAX; r.umin = 0n; r.umax = U64_MAX;
  r.s32min = S32_MIN; r.s32max = S32_MAX; r.u32min = 0; r.u32max = U32_MAX;
}
function unbounded64(r: Sc): void { r.smin = S64_MIN; r.smax = S64_MAX; r.umin = 0n; r.umax = U64_MAX; }
function unbounded32(r: Sc): void { r.s32min = S32_MIN; r.s32max = S32_MAX; r.u32min = 0; r.u32max = U32_MAX; }

function update32(r: Sc): void {
  const v = lo32(r.tv);
  const m = lo32(r.tm);
  r.s32min = Math.max(r.s32min, (v | (m & 0x80000000)) | 0);
  r.s32max = Math.min(r.s32max, (v | (m & S32_MAX)) | 0);
  r.u32min = Math.max(r.u32min, v);
  r.u32max = Math.min(r.u32max, (v | m) >>> 0);
}
const fls64 = (x: bigint): number => (x === 0n ? 0 : bitlen(x));

/** tnum_step: the smallest member of `t` larger than `z` (tmax when there is none, tmin when z is below it). */
export function tnumStep(tv: bigint, tm: bigint, z: bigint): bigint {
  const tmax = tv | tm;
  if (z >= tmax) return tmax;
  if (z < tv) return tv;
  const j = tv | (z & tm);
  if (j > z) {
    const k = BigInt(fls64(~z & tv & ~tm & U64_MAX));
    const q = (U64_MAX << k) & U64_MAX;
    return (q & z) | (~q & tv & U64_MAX);
  }
  const k = BigInt(fls64(z & ~tv & ~tm & U64_MAX));
  const q = (U64_MAX << k) & U64_MAX;
  const v = (q & tm & z) | (q & ~tm & U64_MAX);
  const u = u64(v + (1n << k));
  return (u & tm) | tv;
}

function update64(r: Sc): void {
  r.smin = maxB(r.smin, s64(r.tv | (r.tm & SIGN64)));
  r.smax = minB(r.smax, s64(r.tv | (r.tm & S64_MAX)));
  r.umin = maxB(r.umin, r.tv);
  r.umax = minB(r.umax, r.tv | r.tm);
  if (r.tm === 0n) return;
  // where the u64 range and the tnum have one value in common, it is that value
  const next = tnumStep(r.tv, r.tm, r.umin);
  const uminIn = (r.umin & ~r.tm & U64_MAX) === r.tv;
  const tmax = r.tv | r.tm;
  if (uminIn && next > r.umax) markKnownInto(r, r.umin);
  else if (!uminIn && next === tmax) markKnownInto(r, tmax);
  else if (!uminIn && next <= r.umax && tnumStep(r.tv, r.tm, next) > r.umax) markKnownInto(r, next);
}
function updateBounds(r: Sc): void { update32(r); update64(r); }

function deduce32(r: Sc): void {
  // (each 64-bit bound's halves as numbers, once: this runs on every operation)
  const uminHi = Number(r.umin >> 32n);
  const umaxHi = Number(r.umax >> 32n);
  const sminHi = Number(r.smin >> 32n);
  const smaxHi = Number(r.smax >> 32n);
  const uminLo = lo32(r.umin);
  const umaxLo = lo32(r.umax);
  const sminLo = lo32(r.smin);
  const smaxLo = lo32(r.smax);
  if (uminHi === umaxHi) {
    r.u32min = Math.max(r.u32min, uminLo);
    r.u32max = Math.min(r.u32max, umaxLo);
    if ((uminLo | 0) <= (umaxLo | 0)) {
      r.s32min = Math.max(r.s32min, uminLo | 0);
      r.s32max = Math.min(r.s32max, umaxLo | 0);
    }
  }
  if (sminHi === smaxHi) {
    if (sminLo <= smaxLo) {
      r.u32min = Math.max(r.u32min, sminLo);
      r.u32max = Math.min(r.u32max, smaxLo);
    }
    if ((sminLo | 0) <= (smaxLo | 0)) {
      r.s32min = Math.max(r.s32min, sminLo | 0);
      r.s32max = Math.min(r.s32max, smaxLo | 0);
    }
  }
  if (((uminHi + 1) >>> 0) === umaxHi && (uminLo | 0) < 0 && (umaxLo | 0) >= 0) {
    r.s32min = Math.max(r.s32min, uminLo | 0);
    r.s32max = Math.min(r.s32max, umaxLo | 0);
  }
  if (((sminHi + 1) >>> 0) === (smaxHi >>> 0) && (sminLo | 0) < 0 && (smaxLo | 0) >= 0) {
    r.s32min = Math.max(r.s32min, sminLo | 0);
    r.s32max = Math.min(r.s32max, smaxLo | 0);
  }
  if ((r.u32min | 0) <= (r.u32max | 0)) {
    r.s32min = Math.max(r.s32min, r.u32min | 0);
    r.s32max = Math.min(r.s32max, r.u32max | 0);
  }
  if (r.s32min >>> 0 <= r.s32max >>> 0) {
    r.u32min = Math.max(r.s32min >>> 0, r.u32min);
    r.u32max = Math.min(r.s32max >>> 0, r.u32max);
  } else if (r.u32max < r.s32min >>> 0) {
    // the u32 range meets only the non-negative part of the s32 range
    r.s32min = r.u32min | 0;
    r.u32max = Math.min(r.u32max, r.s32max >>> 0);
  } else if (r.s32max >>> 0 < r.u32min) {
    // ... or only its negative part
    r.s32max = r.u32max | 0;
    r.u32min = Math.max(r.u32min, r.s32min >>> 0);
  }
}

function deduce64(r: Sc): void {
  if (s64(r.umin) <= s64(r.umax)) {
    r.smin = maxB(r.smin, s64(r.umin));
    r.smax = minB(r.smax, s64(r.umax));
  }
  if (u64(r.smin) <= u64(r.smax)) {
    r.umin = maxB(u64(r.smin), r.umin);
    r.umax = minB(u64(r.smax), r.umax);
  } else if (r.umax < u64(r.smin)) {
    // the u64 range meets only the non-negative part of the s64 range
    r.smin = s64(r.umin);
    r.umax = minB(r.umax, u64(r.smax));
  } else if (u64(r.smax) < r.umin) {
    // ... or only its negative part
    r.smax = s64(r.umax);
    r.umin = maxB(r.umin, u64(r.smin));
  }
}

function deduceMixed(r: Sc): void {
  const nu0 = (r.umin & HIGH32) | BigInt(r.u32min);
  const nu1 = (r.umax & HIGH32) | BigInt(r.u32max);
  r.umin = maxB(r.umin, nu0);
  r.umax = minB(r.umax, nu1);
  const ns0 = s64((u64(r.smin) & HIGH32) | BigInt(r.u32min));
  const ns1 = s64((u64(r.smax) & HIGH32) | BigInt(r.u32max));
  r.smin = maxB(r.smin, ns0);
  r.smax = minB(r.smax, ns1);
  if (r.s32min >= 0 && r.smin >= -0x80000000n && r.smax <= 0x7fffffffn) {
    r.smin = BigInt(r.s32min);
    r.smax = BigInt(r.s32max);
    r.umin = BigInt(r.s32min);
    r.umax = BigInt(r.s32max);
    setT(r, tIntersect(tOf(r), tnumRange(r.smin, r.smax)));
  }
}

function deduce(r: Sc): void { deduce32(r); deduce64(r); deduceMixed(r); }

function boundOffset(r: Sc): void {
  // tnum_intersect(var_off, tnum_range(umin, umax)), then the same of its low half with the
  // u32 bounds (written out: this runs on every operation)
  let rv: bigint;
  let rm: bigint;
  const chi = r.umin ^ r.umax;
  if (chi === 0n) { rv = r.umin; rm = 0n; } else {
    const bits = bitlen(chi);
    if (bits > 63) { rv = 0n; rm = U64_MAX; } else { rm = (1n << BigInt(bits)) - 1n; rv = r.umin & ~rm; }
  }
  const m64 = r.tm & rm;
  const v64 = (r.tv | rv) & ~m64 & U64_MAX;
  const c32 = (r.u32min ^ r.u32max) >>> 0;
  let rv32: number;
  let rm32: number;
  if (c32 === 0) { rv32 = r.u32min; rm32 = 0; } else {
    const bits = 32 - Math.clz32(c32);
    rm32 = bits >= 32 ? U32_MAX : ((1 << bits) >>> 0) - 1;
    rv32 = (r.u32min & ~rm32) >>> 0;
  }
  const m32 = BigInt((Number(m64 & LOW32) & rm32) >>> 0);
  const v32 = (((v64 & LOW32) | BigInt(rv32)) & ~m32) & LOW32;
  const v = (v64 & HIGH32) | v32;
  const m = (m64 & HIGH32) | m32;
  r.tv = v;
  r.tm = m & ~v & U64_MAX;
}

/** reg_bounds_sync. */
function sync(r: Sc): void {
  // (a known tnum within every bound: the bounds become its value, as the rounds below
  // would make them; outside one, the rounds find the contradiction)
  if (r.tm === 0n) {
    const x = r.tv;
    if (r.umin === x && r.umax === x && r.smin === r.smax && r.u32min === r.u32max && r.s32min === r.s32max &&
      r.smin === s64(x) && r.u32min === lo32(x) && r.s32min === (r.u32min | 0)) return;
    const sx = s64(x);
    const l = lo32(x);
    if (r.umin <= x && x <= r.umax && r.smin <= sx && sx <= r.smax && r.u32min <= l && l <= r.u32max && r.s32min <= (l | 0) && (l | 0) <= r.s32max) {
      markKnownInto(r, x);
      return;
    }
  }
  updateBounds(r);
  // (three rounds, as the kernel makes; a round that changes nothing ends them: the next
  // would not either)
  for (let n = 0; n < 3; n++) {
    const { umin, umax, smin, smax, u32min, u32max, s32min, s32max, tm } = r;
    deduce(r);
    if (r.umin === umin && r.umax === umax && r.smin === smin && r.smax === smax && r.u32min === u32min && r.u32max === u32max &&
      r.s32min === s32min && r.s32max === s32max && r.tm === tm) break;
  }
  boundOffset(r);
  updateBounds(r);
}

/** Whether the bounds contradict each other (a dead branch's refinement). */
export function invalid(r: Sc): boolean {
  return r.umin > r.umax || r.smin > r.smax || r.u32min > r.u32max || r.s32min > r.s32max;
}

function assign32into64(r: Sc): void {
  r.umin = BigInt(r.u32min);
  r.umax = BigInt(r.u32max);
  if (r.s32min >= 0 && r.s32max >= 0) {
    r.smin = BigInt(r.s32min);
    r.smax = BigInt(r.s32max);
  } else {
    r.smin = 0n;
    r.smax = LOW32;
  }
}
function zext32to64(r: Sc): void {
  setT(r, tSubreg(tOf(r)));
  assign32into64(r);
}

// ---------------------------------------------------------------------------------------
// ALU transfer functions (adjust_scalar_min_max_vals).

function add32(d: Sc, s: Sc): void {
  const a = d.s32min + s.s32min;
  const b = d.s32max + s.s32max;
  if (a < S32_MIN || a > S32_MAX || b < S32_MIN || b > S32_MAX) { d.s32min = S32_MIN; d.s32max = S32_MAX; } else { d.s32min = a; d.s32max = b; }
  const lo = d.u32min + s.u32min;
  const hi = d.u32max + s.u32max;
  const minOver = lo > U32_MAX;
  const maxOver = hi > U32_MAX;
  d.u32min = lo >>> 0;
  d.u32max = hi >>> 0;
  if (!minOver && maxOver) { d.u32min = 0; d.u32max = U32_MAX; }
}
function add64(d: Sc, s: Sc): void {
  const a = d.smin + s.smin;
  const b = d.smax + s.smax;
  if (a < S64_MIN || a > S64_MAX || b < S64_MIN || b > S64_MAX) { d.smin = S64_MIN; d.smax = S64_MAX; } else { d.smin = a; d.smax = b; }
  const lo = u64(d.umin + s.umin);
  const hi = u64(d.umax + s.umax);
  const minOver = lo < s.umin;
  const maxOver = hi < s.umax;
  d.umin = lo;
  d.umax = hi;
  if (!minOver && maxOver) { d.umin = 0n; d.umax = U64_MAX; }
}
function sub32(d: Sc, s: Sc): void {
  const a = d.s32min - s.s32max;
  const b = d.s32max - s.s32min;
  if (a < S32_MIN || a > S32_MAX || b < S32_MIN || b > S32_MAX) { d.s32min = S32_MIN; d.s32max = S32_MAX; } else { d.s32min = a; d.s32max = b; }
  const minUnder = d.u32min < s.u32max;
  const maxUnder = d.u32max < s.u32min;
  d.u32min = (d.u32min - s.u32max) >>> 0;
  d.u32max = (d.u32max - s.u32min) >>> 0;
  if (minUnder && !maxUnder) { d.u32min = 0; d.u32max = U32_MAX; }
}
function sub64(d: Sc, s: Sc): void {
  const a = d.smin - s.smax;
  const b = d.smax - s.smin;
  if (a < S64_MIN || a > S64_MAX || b < S64_MIN || b > S64_MAX) { d.smin = S64_MIN; d.smax = S64_MAX; } else { d.smin = a; d.smax = b; }
  const minUnder = d.umin < s.umax;
  const maxUnder = d.umax < s.umin;
  d.umin = u64(d.umin - s.umax);
  d.umax = u64(d.umax - s.umin);
  if (minUnder && !maxUnder) { d.umin = 0n; d.umax = U64_MAX; }
}
function mul32(d: Sc, s: Sc): void {
  const hi = BigInt(d.u32max) * BigInt(s.u32max);
  const lo = BigInt(d.u32min) * BigInt(s.u32min);
  if (hi > LOW32 || lo > LOW32) { d.u32min = 0; d.u32max = U32_MAX; } else { d.u32min = Number(lo); d.u32max = Number(hi); }
  const p = [d.s32min * s.s32min, d.s32min * s.s32max, d.s32max * s.s32min, d.s32max * s.s32max];
  // (products of two int32 are exact in a double up to 2^62; beyond 2^53 they overflow s32 anyway)
  if (p.some((x) => x < S32_MIN || x > S32_MAX)) { d.s32min = S32_MIN; d.s32max = S32_MAX; } else { d.s32min = Math.min(...p); d.s32max = Math.max(...p); }
}
function mul64(d: Sc, s: Sc): void {
  const hi = d.umax * s.umax;
  const lo = d.umin * s.umin;
  if (hi > U64_MAX || lo > U64_MAX) { d.umin = 0n; d.umax = U64_MAX; } else { d.umin = lo; d.umax = hi; }
  const p = [d.smin * s.smin, d.smin * s.smax, d.smax * s.smin, d.smax * s.smax];
  if (p.some((x) => x < S64_MIN || x > S64_MAX)) { d.smin = S64_MIN; d.smax = S64_MAX; } else {
    d.smin = p.reduce(minB);
    d.smax = p.reduce(maxB);
  }
}
function and32(d: Sc, s: Sc): void {
  const t = tSubreg(tOf(d));
  if (isConst32(s) && (t.m === 0n)) { markKnown32(d, Number(t.v)); return; }
  d.u32min = Number(t.v);
  d.u32max = Math.min(d.u32max, s.u32max);
  if ((d.u32min | 0) <= (d.u32max | 0)) { d.s32min = d.u32min | 0; d.s32max = d.u32max | 0; } else { d.s32min = S32_MIN; d.s32max = S32_MAX; }
}
function and64(d: Sc, s: Sc): void {
  if (isConst(s) && d.tm === 0n) { markKnownInto(d, d.tv); return; }
  d.umin = d.tv;
  d.umax = minB(d.umax, s.umax);
  if (s64(d.umin) <= s64(d.umax)) { d.smin = s64(d.umin); d.smax = s64(d.umax); } else { d.smin = S64_MIN; d.smax = S64_MAX; }
  updateBounds(d);
}
function or32(d: Sc, s: Sc): void {
  const t = tSubreg(tOf(d));
  if (isConst32(s) && t.m === 0n) { markKnown32(d, Number(t.v)); return; }
  d.u32min = Math.max(d.u32min, s.u32min);
  d.u32max = Number(t.v | t.m);
  if ((d.u32min | 0) <= (d.u32max | 0)) { d.s32min = d.u32min | 0; d.s32max = d.u32max | 0; } else { d.s32min = S32_MIN; d.s32max = S32_MAX; }
}
function or64(d: Sc, s: Sc): void {
  if (isConst(s) && d.tm === 0n) { markKnownInto(d, d.tv); return; }
  d.umin = maxB(d.umin, s.umin);
  d.umax = d.tv | d.tm;
  if (s64(d.umin) <= s64(d.umax)) { d.smin = s64(d.umin); d.smax = s64(d.umax); } else { d.smin = S64_MIN; d.smax = S64_MAX; }
  updateBounds(d);
}
function xor32(d: Sc, s: Sc): void {
  const t = tSubreg(tOf(d));
  if (isConst32(s) && t.m === 0n) { markKnown32(d, Number(t.v)); return; }
  d.u32min = Number(t.v);
  d.u32max = Number(t.v | t.m);
  if ((d.u32min | 0) <= (d.u32max | 0)) { d.s32min = d.u32min | 0; d.s32max = d.u32max | 0; } else { d.s32min = S32_MIN; d.s32max = S32_MAX; }
}
function xor64(d: Sc, s: Sc): void {
  if (isConst(s) && d.tm === 0n) { markKnownInto(d, d.tv); return; }
  d.umin = d.tv;
  d.umax = d.tv | d.tm;
  if (s64(d.umin) <= s64(d.umax)) { d.smin = s64(d.umin); d.smax = s64(d.umax); } else { d.smin = S64_MIN; d.smax = S64_MAX; }
  updateBounds(d);
}
function lsh32Bounds(d: Sc, umin: bigint, umax: bigint): void {
  d.s32min = S32_MIN;
  d.s32max = S32_MAX;
  if (umax > 31n || BigInt(d.u32max) > 1n << (31n - umax)) { d.u32min = 0; d.u32max = U32_MAX; } else {
    d.u32min = Number(BigInt.asUintN(32, BigInt(d.u32min) << umin));
    d.u32max = Number(BigInt.asUintN(32, BigInt(d.u32max) << umax));
  }
}
function lsh32(d: Sc, s: Sc): void {
  const umax = BigInt(s.u32max);
  const umin = BigInt(s.u32min);
  const sub = tSubreg(tOf(d));
  lsh32Bounds(d, umin, umax);
  setT(d, tSubreg(tnum(u64(sub.v << umin), u64(sub.m << umin))));
  unbounded64(d);
  update32(d);
}
function lsh64Bounds(d: Sc, umin: bigint, umax: bigint): void {
  if (umin === 32n && umax === 32n) {
    d.smax = BigInt(d.s32max) << 32n;
    d.smin = BigInt(d.s32min) << 32n;
  } else {
    d.smax = S64_MAX;
    d.smin = S64_MIN;
  }
  if (d.umax > 1n << (63n - umax)) { d.umin = 0n; d.umax = U64_MAX; } else {
    d.umin = u64(d.umin << umin);
    d.umax = u64(d.umax << umax);
  }
}
function lsh64(d: Sc, s: Sc): void {
  const umax = s.umax;
  const umin = s.umin;
  lsh64Bounds(d, umin, umax);
  lsh32Bounds(d, umin, umax);
  setT(d, tnum(u64(d.tv << umin), u64(d.tm << umin)));
  updateBounds(d);
}
function rsh32(d: Sc, s: Sc): void {
  const sub = tSubreg(tOf(d));
  d.s32min = S32_MIN;
  d.s32max = S32_MAX;
  const k = BigInt(s.u32min);
  setT(d, tnum(sub.v >> k, sub.m >> k));
  d.u32min = Number(BigInt(d.u32min) >> BigInt(s.u32max));
  d.u32max = Number(BigInt(d.u32max) >> k);
  unbounded64(d);
  update32(d);
}
function rsh64(d: Sc, s: Sc): void {
  d.smin = S64_MIN;
  d.smax = S64_MAX;
  setT(d, tnum(d.tv >> s.umin, d.tm >> s.umin));
  d.umin >>= s.umax;
  d.umax >>= s.umin;
  unbounded32(d);
  updateBounds(d);
}
function arsh32(d: Sc, s: Sc): void {
  const k = s.u32min;
  d.s32min = d.s32min >> k;
  d.s32max = d.s32max >> k;
  setT(d, tArshift(tSubreg(tOf(d)), k, 32));
  d.u32min = 0;
  d.u32max = U32_MAX;
  unbounded64(d);
  update32(d);
}
function arsh64(d: Sc, s: Sc): void {
  const k = s.umin;
  d.smin >>= k;
  d.smax >>= k;
  setT(d, tArshift(tOf(d), Number(k), 64));
  d.umin = 0n;
  d.umax = U64_MAX;
  unbounded32(d);
  updateBounds(d);
}

/** coerce_reg_to_size: a load of `size` < 8 bytes, or the truncation of bswap16/32. */
function coerceInto(r: Sc, size: number): void {
  setT(r, tCast(tOf(r), size));
  const mask = (1n << BigInt(size * 8)) - 1n;
  if ((r.umin & ~mask) === (r.umax & ~mask)) {
    r.umin &= mask;
    r.umax &= mask;
  } else {
    r.umin = 0n;
    r.umax = mask;
  }
  r.smin = r.umin;
  r.smax = r.umax;
  if (size < 4) unbounded32(r);
  sync(r);
}

/** BPF_END / BPF_ALU64 bswap (scalar_byte_swap on a little-endian machine). */
function byteSwap(r: Sc, alu64: boolean, toBe: boolean, bits: number): void {
  if (alu64 || toBe) {
    setT(r, tBswap(tOf(r), bits / 8));
    unbounded(r);
  }
  if (bits === 16 || bits === 32) coerceInto(r, bits / 8);
}

function isSafe(o: number, alu64: boolean, s: Sc): boolean {
  switch (o) {
    case Alu.ADD: case Alu.SUB: case Alu.NEG: case Alu.AND: case Alu.XOR: case Alu.OR: case Alu.MUL: case Alu.END:
      return true;
    case Alu.LSH: case Alu.RSH: case Alu.ARSH: {
      const c = alu64 ? isConst(s) && s.smin === s.smax && s.umin === s.umax : isConst32(s) && s.s32min === s.s32max && s.u32min === s.u32max;
      return c && s.umax < (alu64 ? 64n : 32n);
    }
    default:
      return false;
  }
}

/**
 * The result of `dst <op>= src` on two scalars (ALU64 or ALU32), as adjust_scalar_min_max_vals
 * computes it. `imm` is the instruction's immediate for BPF_END (16, 32, 64) and `toBe` its
 * source bit.
 */
export function alu(o: number, alu64: boolean, dst: Sc, src: Sc, imm = 0, toBe = false): Sc {
  if (!isSafe(o, alu64, src)) return UNKNOWN;
  // Two known values: a known value (every bound collapses onto the tnum's one value).
  if (dst.tm === 0n && src.tm === 0n) {
    const c = constOp(o, alu64, dst.tv, src.tv, imm, toBe);
    if (c !== undefined) return constant(c);
  }
  const d = copy(dst);
  switch (o) {
    case Alu.ADD:
      add32(d, src); add64(d, src); setT(d, tAdd(tOf(dst), tOf(src)));
      break;
    case Alu.SUB:
      sub32(d, src); sub64(d, src); setT(d, tSub(tOf(dst), tOf(src)));
      break;
    case Alu.NEG: {
      markKnownInto(d, 0n);
      sub32(d, dst); sub64(d, dst); setT(d, tSub(tnum(0n, 0n), tOf(dst)));
      break;
    }
    case Alu.MUL:
      setT(d, tMul(tOf(dst), tOf(src)));
      mul32(d, src); mul64(d, src);
      break;
    case Alu.AND:
      setT(d, tAnd(tOf(dst), tOf(src)));
      and32(d, src); and64(d, src);
      break;
    case Alu.OR:
      setT(d, tOr(tOf(dst), tOf(src)));
      or32(d, src); or64(d, src);
      break;
    case Alu.XOR:
      setT(d, tXor(tOf(dst), tOf(src)));
      xor32(d, src); xor64(d, src);
      break;
    case Alu.LSH: if (alu64) lsh64(d, src); else lsh32(d, src); break;
    case Alu.RSH: if (alu64) rsh64(d, src); else rsh32(d, src); break;
    case Alu.ARSH: if (alu64) arsh64(d, src); else arsh32(d, src); break;
    case Alu.END: byteSwap(d, alu64, toBe, imm); break;
  }
  if (!alu64 && o !== Alu.END) zext32to64(d);
  sync(d);
  return d;
}

/**
 * maybe_fork_scalars: an AND or OR with a constant on a value in [-1, 0] (s64, else s32)
 * forks the kernel's walk into the value 0 and the value -1 (all ones in the low half for
 * the s32 case), each then operated on. The two operands, or null when it does not fork.
 */
export function forkMinusOne(a: Sc): [Sc, Sc] | null {
  if (a.smin === -1n && a.smax === 0n) return [constant(U64_MAX), constant(0n)];
  if (a.s32min === -1 && a.s32max === 0) {
    const m1 = copy(a); markKnown32(m1, -1);
    const z = copy(a); markKnown32(z, 0);
    return [m1, z];
  }
  return null;
}

/** `a <op> b` of two known values, as the transfer functions compute it for them (undefined: not one of those ops). */
function constOp(o: number, alu64: boolean, a: bigint, b: bigint, imm: number, toBe: boolean): bigint | undefined {
  const w = alu64 ? 64 : 32;
  if (o === Alu.END) {
    // (the whole register is swapped or truncated, whatever the class)
    const m = (1n << BigInt(imm)) - 1n;
    return alu64 || toBe ? bswap(a & m, imm / 8) : a & m;
  }
  if (!alu64) { a &= LOW32; b &= LOW32; }
  const trunc = (x: bigint): bigint => BigInt.asUintN(w, x);
  switch (o) {
    case Alu.ADD: return trunc(a + b);
    case Alu.SUB: return trunc(a - b);
    case Alu.MUL: return trunc(a * b);
    case Alu.AND: return a & b;
    case Alu.OR: return a | b;
    case Alu.XOR: return a ^ b;
    case Alu.NEG: return trunc(-a);
    case Alu.LSH: return trunc(a << b);
    case Alu.RSH: return a >> b;
    case Alu.ARSH: return trunc(BigInt.asIntN(w, a) >> b);
    default: return undefined;
  }
}

/** A load of `size` bytes (zero-extended), or of `size` bytes sign-extended (`sx`): the value nothing else is known of. */
export function loaded(size: number, sx = false): Sc {
  if (size >= 8) return UNKNOWN;
  return (sx ? LOADED_SX : LOADED)[size]!;
}
const LOADED: Sc[] = [];
const LOADED_SX: Sc[] = [];
for (const n of [1, 2, 4]) {
  LOADED[n] = Object.freeze(coerce(UNKNOWN, n));
  LOADED_SX[n] = Object.freeze(coerceSx(UNKNOWN, n));
}

/** coerce_reg_to_size. */
export function coerce(a: Sc, size: number): Sc {
  const r = copy(a);
  coerceInto(r, size);
  return r;
}

/** coerce_reg_to_size_sx: movsx r, (s8|s16|s32) and sign-extending loads. */
export function coerceSx(a: Sc, size: number): Sc {
  const r = copy(a);
  const bits = BigInt(size * 8);
  const sx = (x: bigint): bigint => BigInt.asIntN(size * 8, x);
  if (isConst(r)) { markKnownInto(r, sx(r.tv)); return r; }
  const top1 = (u64(r.smax) >> bits) << bits;
  const top0 = (u64(r.smin) >> bits) << bits;
  if (top1 === top0) {
    const a1 = sx(r.smax);
    const a0 = sx(r.smin);
    const mx = maxB(a1, a0);
    const mn = minB(a1, a0);
    if ((mx >= 0n) === (mn >= 0n)) {
      r.smin = mn; r.smax = mx;
      r.s32min = Number(BigInt.asIntN(32, mn)); r.s32max = Number(BigInt.asIntN(32, mx));
      r.umin = u64(mn); r.umax = u64(mx);
      r.u32min = lo32(mn); r.u32max = lo32(mx);
      setT(r, tnumRange(u64(mn), u64(mx)));
      return r;
    }
  }
  const lim = 1n << (bits - 1n);
  r.smin = -lim; r.smax = lim - 1n;
  r.umin = 0n; r.umax = U64_MAX;
  r.tv = 0n; r.tm = U64_MAX;
  if (size === 4) {
    // The local kernel keeps the 32-bit bounds of a 32-bit sign extension (its low half is
    // the source's) and takes the s64 bounds from the s32 ones.
    r.smin = BigInt(r.s32min); r.smax = BigInt(r.s32max);
    sync(r);
    return r;
  }
  r.s32min = Number(-lim); r.s32max = Number(lim - 1n);
  r.u32min = 0; r.u32max = U32_MAX;
  return r;
}

/** coerce_subreg_to_size_sx, then the zero-extension of a 32-bit move: movsx w, (s8|s16). */
export function coerceSubregSx(a: Sc, size: number): Sc {
  const r = copy(a);
  const bits = size * 8;
  const sx = (x: number): number => (bits === 8 ? (x << 24) >> 24 : (x << 16) >> 16);
  if (isConst(r)) {
    const v = sx(lo32(r.tv));
    r.tv = u64(BigInt(v)); r.tm = 0n;
    r.s32min = r.s32max = v;
    r.u32min = r.u32max = v >>> 0;
  } else {
    const top1 = ((r.s32max >>> 0) >>> bits) << bits;
    const top0 = ((r.s32min >>> 0) >>> bits) << bits;
    let done = false;
    if (top1 === top0) {
      const a1 = sx(r.s32max);
      const a0 = sx(r.s32min);
      const mx = Math.max(a1, a0);
      const mn = Math.min(a1, a0);
      if ((mn >= 0) === (mx >= 0)) {
        r.s32min = mn; r.s32max = mx;
        r.u32min = mn >>> 0; r.u32max = mx >>> 0;
        setT(r, tSubreg(tnumRange(u64(BigInt(mn)), u64(BigInt(mx)))));
        done = true;
      }
    }
    if (!done) {
      const lim = 1 << (bits - 1);
      r.s32min = -lim; r.s32max = lim - 1;
      r.u32min = 0; r.u32max = U32_MAX;
      setT(r, tnum(0n, LOW32));
    }
  }
  zext32to64(r);
  sync(r);
  return r;
}

/** A 32-bit move (`w1 = w2`): the low half, zero-extended (zext_32_to_64 then reg_bounds_sync). */
export function mov32(a: Sc): Sc {
  const r = copy(a);
  zext32to64(r);
  sync(r);
  return r;
}

// ---------------------------------------------------------------------------------------
// Branches: is_scalar_branch_taken, regs_refine_cond_op.

/** Whether `a <op> b` (64- or 32-bit) is always true (1), always false (0), or either (-1). */
export function branchTaken(a: Sc, b: Sc, o: number, jmp32: boolean): number {
  const t1 = jmp32 ? tSubreg(tOf(a)) : tOf(a);
  const t2 = jmp32 ? tSubreg(tOf(b)) : tOf(b);
  const umin1 = jmp32 ? BigInt(a.u32min) : a.umin;
  const umax1 = jmp32 ? BigInt(a.u32max) : a.umax;
  const smin1 = jmp32 ? BigInt(a.s32min) : a.smin;
  const smax1 = jmp32 ? BigInt(a.s32max) : a.smax;
  const umin2 = jmp32 ? BigInt(b.u32min) : b.umin;
  const umax2 = jmp32 ? BigInt(b.u32max) : b.umax;
  const smin2 = jmp32 ? BigInt(b.s32min) : b.smin;
  const smax2 = jmp32 ? BigInt(b.s32max) : b.smax;
  switch (o) {
    case Jmp.JEQ:
    case Jmp.JNE: {
      const ne = o === Jmp.JNE ? 1 : 0;
      if (t1.m === 0n && t2.m === 0n) return (t1.v === t2.v) === (ne === 0) ? 1 : 0;
      if (!tOverlap(t1, t2)) return ne;
      if (umin1 > umax2 || umax1 < umin2) return ne;
      if (smin1 > smax2 || smax1 < smin2) return ne;
      if (!jmp32) {
        if (a.u32min > b.u32max || a.u32max < b.u32min) return ne;
        if (a.s32min > b.s32max || a.s32max < b.s32min) return ne;
      }
      return -1;
    }
    case Jmp.JSET: {
      let x = t1;
      let y = t2;
      if (!(jmp32 ? isConst32(b) : isConst(b))) { x = t2; y = t1; if (!(jmp32 ? isConst32(a) : isConst(a))) return -1; }
      if ((~x.m & x.v) & y.v) return 1;
      if (!((x.m | x.v) & y.v)) return 0;
      return -1;
    }
    case Jmp.JGT: return umin1 > umax2 ? 1 : umax1 <= umin2 ? 0 : -1;
    case Jmp.JSGT: return smin1 > smax2 ? 1 : smax1 <= smin2 ? 0 : -1;
    case Jmp.JLT: return umax1 < umin2 ? 1 : umin1 >= umax2 ? 0 : -1;
    case Jmp.JSLT: return smax1 < smin2 ? 1 : smin1 >= smax2 ? 0 : -1;
    case Jmp.JGE: return umin1 >= umax2 ? 1 : umax1 < umin2 ? 0 : -1;
    case Jmp.JSGE: return smin1 >= smax2 ? 1 : smax1 < smin2 ? 0 : -1;
    case Jmp.JLE: return umax1 <= umin2 ? 1 : umin1 > umax2 ? 0 : -1;
    case Jmp.JSLE: return smax1 <= smin2 ? 1 : smin1 > smax2 ? 0 : -1;
    default: return -1;
  }
}

/** "b <op> a" for "a <op> b". */
export function flipOp(o: number): number {
  switch (o) {
    case Jmp.JGE: return Jmp.JLE;
    case Jmp.JGT: return Jmp.JLT;
    case Jmp.JLE: return Jmp.JGE;
    case Jmp.JLT: return Jmp.JGT;
    case Jmp.JSGE: return Jmp.JSLE;
    case Jmp.JSGT: return Jmp.JSLT;
    case Jmp.JSLE: return Jmp.JSGE;
    case Jmp.JSLT: return Jmp.JSGT;
    default: return o;
  }
}

/** The condition of the fall-through edge (JSET's negation is JSET_NOT). */
const JSET_NOT = 0x100;
function revOp(o: number): number {
  switch (o) {
    case Jmp.JEQ: return Jmp.JNE;
    case Jmp.JNE: return Jmp.JEQ;
    case Jmp.JSET: return JSET_NOT;
    case Jmp.JGE: return Jmp.JLT;
    case Jmp.JGT: return Jmp.JLE;
    case Jmp.JLE: return Jmp.JGT;
    case Jmp.JLT: return Jmp.JGE;
    case Jmp.JSGE: return Jmp.JSLT;
    case Jmp.JSGT: return Jmp.JSLE;
    case Jmp.JSLE: return Jmp.JSGT;
    case Jmp.JSLT: return Jmp.JSGE;
    default: return 0;
  }
}

const constOf = (r: Sc, jmp32: boolean): bigint => (jmp32 ? r.tv & LOW32 : r.tv);
const isC = (r: Sc, jmp32: boolean): boolean => (jmp32 ? isConst32(r) : isConst(r));

/** regs_refine_cond_op on (mutable copies of) the two registers, for condition `o` holding. */
function refineInto(r1: Sc, r2: Sc, o: number, jmp32: boolean): void {
  if (o === Jmp.JGE || o === Jmp.JGT || o === Jmp.JSGE || o === Jmp.JSGT) {
    o = flipOp(o);
    const t = r1; r1 = r2; r2 = t;
  }
  switch (o) {
    case Jmp.JEQ:
      if (jmp32) {
        r1.u32min = Math.max(r1.u32min, r2.u32min); r1.u32max = Math.min(r1.u32max, r2.u32max);
        r1.s32min = Math.max(r1.s32min, r2.s32min); r1.s32max = Math.min(r1.s32max, r2.s32max);
        r2.u32min = r1.u32min; r2.u32max = r1.u32max; r2.s32min = r1.s32min; r2.s32max = r1.s32max;
        const t = tIntersect(tSubreg(tOf(r1)), tSubreg(tOf(r2)));
        setT(r1, tWithSubreg(tOf(r1), t));
        setT(r2, tWithSubreg(tOf(r2), t));
      } else {
        r1.umin = maxB(r1.umin, r2.umin); r1.umax = minB(r1.umax, r2.umax);
        r1.smin = maxB(r1.smin, r2.smin); r1.smax = minB(r1.smax, r2.smax);
        r2.umin = r1.umin; r2.umax = r1.umax; r2.smin = r1.smin; r2.smax = r1.smax;
        setT(r1, tIntersect(tOf(r1), tOf(r2)));
        setT(r2, tOf(r1));
      }
      break;
    case Jmp.JNE: {
      if (!isC(r2, jmp32)) { const t = r1; r1 = r2; r2 = t; }
      if (!isC(r2, jmp32)) break;
      const v = constOf(r2, jmp32);
      if (jmp32) {
        const u = Number(v);
        if (r1.u32min === u) r1.u32min++;
        if (r1.u32max === u) r1.u32max--;
        if (r1.s32min === (u | 0)) r1.s32min++;
        if (r1.s32max === (u | 0)) r1.s32max--;
      } else {
        if (r1.umin === v) r1.umin++;
        if (r1.umax === v) r1.umax--;
        if (r1.smin === s64(v)) r1.smin++;
        if (r1.smax === s64(v)) r1.smax--;
      }
      break;
    }
    case Jmp.JSET: {
      if (!isC(r2, jmp32)) { const t = r1; r1 = r2; r2 = t; }
      if (!isC(r2, jmp32)) break;
      const v = constOf(r2, jmp32);
      if (v === 0n || (v & (v - 1n)) !== 0n) break;
      if (jmp32) setT(r1, tWithSubreg(tOf(r1), tOr(tSubreg(tOf(r1)), tnum(v, 0n))));
      else setT(r1, tOr(tOf(r1), tnum(v, 0n)));
      break;
    }
    case JSET_NOT: {
      if (!isC(r2, jmp32)) { const t = r1; r1 = r2; r2 = t; }
      if (!isC(r2, jmp32)) break;
      const v = constOf(r2, jmp32);
      unbounded(r1);
      if (jmp32) setT(r1, tWithSubreg(tOf(r1), tAnd(tSubreg(tOf(r1)), tnum(~v & U64_MAX, 0n))));
      else setT(r1, tAnd(tOf(r1), tnum(~v & U64_MAX, 0n)));
      break;
    }
    case Jmp.JLE:
      if (jmp32) { r1.u32max = Math.min(r1.u32max, r2.u32max); r2.u32min = Math.max(r1.u32min, r2.u32min); } else { r1.umax = minB(r1.umax, r2.umax); r2.umin = maxB(r1.umin, r2.umin); }
      break;
    case Jmp.JLT:
      if (jmp32) {
        r1.u32max = Math.min(r1.u32max, (r2.u32max - 1) >>> 0);
        r2.u32min = Math.max((r1.u32min + 1) >>> 0, r2.u32min);
      } else {
        r1.umax = minB(r1.umax, u64(r2.umax - 1n));
        r2.umin = maxB(u64(r1.umin + 1n), r2.umin);
      }
      break;
    case Jmp.JSLE:
      if (jmp32) { r1.s32max = Math.min(r1.s32max, r2.s32max); r2.s32min = Math.max(r1.s32min, r2.s32min); } else { r1.smax = minB(r1.smax, r2.smax); r2.smin = maxB(r1.smin, r2.smin); }
      break;
    case Jmp.JSLT:
      if (jmp32) {
        r1.s32max = Math.min(r1.s32max, (r2.s32max - 1) | 0);
        r2.s32min = Math.max((r1.s32min + 1) | 0, r2.s32min);
      } else {
        r1.smax = minB(r1.smax, s64(r2.smax - 1n));
        r2.smin = maxB(s64(r1.smin + 1n), r2.smin);
      }
      break;
  }
}

/**
 * reg_set_min_max: the two scalars on each edge of `if a <op> b` — [a, b] where the condition
 * holds (the jump) and where it does not (the fall-through). A refinement that contradicts
 * itself (a dead edge is_branch_taken did not see) leaves the register unbounded, as
 * reg_bounds_sanity_check does; `dead` tells which edge that was.
 */
export function refine(a: Sc, b: Sc, o: number, jmp32: boolean): { taken: [Sc, Sc]; fall: [Sc, Sc]; deadTaken: boolean; deadFall: boolean } {
  let fa = copy(a); let fb = copy(b);
  refineInto(fa, fb, revOp(o), jmp32);
  fa = synced(fa, a); fb = synced(fb, b);
  let ta = copy(a); let tb = copy(b);
  refineInto(ta, tb, o, jmp32);
  ta = synced(ta, a); tb = synced(tb, b);
  const deadFall = invalid(fa) || invalid(fb);
  const deadTaken = invalid(ta) || invalid(tb);
  if (deadFall) { fa = unboundedCopy(fa); fb = unboundedCopy(fb); }
  if (deadTaken) { ta = unboundedCopy(ta); tb = unboundedCopy(tb); }
  return { taken: [ta, tb], fall: [fa, fb], deadTaken, deadFall };
}
const unboundedCopy = (r: Sc): Sc => {
  if (!invalid(r)) return r;
  const c = copy(r);
  unbounded(c);
  return c;
};

/**
 * `r` synced; where the refinement left it as `from` was, the sync of `from`, made once (a
 * loop walked round after round compares one value with another again and again).
 */
const SYNCED = new WeakMap<Sc, Sc>();
function synced(r: Sc, from: Sc): Sc {
  // (a known value syncs at once: not kept)
  if (from.tm === 0n || !eq(r, from)) { sync(r); return r; }
  let m = SYNCED.get(from);
  if (m === undefined) {
    sync(r);
    m = eq(r, from) ? from : r;
    SYNCED.set(from, m);
  }
  return m;
}

/**
 * reg_set_min_max for a register compared with itself (`if r1 > r1`): the kernel refines it
 * as if it were two registers that are one (each update seen by the next).
 */
export function refineSame(a: Sc, o: number, jmp32: boolean): { taken: Sc; fall: Sc } {
  const f = copy(a);
  refineInto(f, f, revOp(o), jmp32);
  sync(f);
  const t = copy(a);
  refineInto(t, t, o, jmp32);
  sync(t);
  for (const r of [f, t]) if (invalid(r)) unbounded(r);
  return { taken: t, fall: f };
}

/**
 * `known_reg + delta` for a register linked to it with another constant delta
 * (sync_linked_regs): the scalar add of the difference, zero-extended when either link
 * came from a 32-bit add.
 */
export function addConst(a: Sc, delta: bigint, zext32: boolean): Sc {
  const d = copy(a);
  const c = known(delta);
  add32(d, c); add64(d, c); setT(d, tAdd(tOf(a), tOf(c)));
  if (zext32) zext32to64(d);
  sync(d);
  return d;
}

/**
 * The variable offset of a pointer moved by a scalar (adjust_ptr_min_max_vals, ADD or
 * SUB of an unknown scalar): 64-bit bounds that may overflow become unbounded, no 32-bit
 * bounds. `ptr` null is a pointer with no variable part yet. Bounds are synced afterwards
 * (`syncPtr`), once the kernel's sanity checks of the result passed.
 */
export function ptrMove(ptr: Sc | null, off: Sc, sub: boolean): Sc {
  const p = ptr ?? constant(0n);
  const d = copy(p);
  if (!sub) {
    const a = p.smin + off.smin;
    const b = p.smax + off.smax;
    if (a < S64_MIN || a > S64_MAX || b < S64_MIN || b > S64_MAX) { d.smin = S64_MIN; d.smax = S64_MAX; } else { d.smin = a; d.smax = b; }
    const lo = p.umin + off.umin;
    const hi = p.umax + off.umax;
    if (lo > U64_MAX || hi > U64_MAX) { d.umin = 0n; d.umax = U64_MAX; } else { d.umin = lo; d.umax = hi; }
    setT(d, tAdd(tOf(p), tOf(off)));
  } else {
    const a = p.smin - off.smax;
    const b = p.smax - off.smin;
    if (a < S64_MIN || a > S64_MAX || b < S64_MIN || b > S64_MAX) { d.smin = S64_MIN; d.smax = S64_MAX; } else { d.smin = a; d.smax = b; }
    if (p.umin < off.umax) { d.umin = 0n; d.umax = U64_MAX; } else { d.umin = p.umin - off.umax; d.umax = p.umax - off.umin; }
    setT(d, tSub(tOf(p), tOf(off)));
  }
  unbounded32(d);
  return d;
}

/** reg_bounds_sync of a pointer's new variable offset. */
export function syncPtr(a: Sc): Sc {
  const d = copy(a);
  sync(d);
  return d;
}

// ---------------------------------------------------------------------------------------
// Joins (nkemu's: the kernel walks paths and never joins).

/** The hull of two scalars: every value either may hold (bounds widened, tnum union). */
export function join(a: Sc, b: Sc): Sc {
  if (eq(a, b)) return a;
  const t = tUnion(tOf(a), tOf(b));
  const r: Sc = {
    umin: minB(a.umin, b.umin), umax: maxB(a.umax, b.umax), smin: minB(a.smin, b.smin), smax: maxB(a.smax, b.smax),
    u32min: Math.min(a.u32min, b.u32min), u32max: Math.max(a.u32max, b.u32max), s32min: Math.min(a.s32min, b.s32min), s32max: Math.max(a.s32max, b.s32max),
    tv: t.v, tm: t.m,
  };
  return eq(r, a) ? a : r;
}

/** The join, with each bound that moved pushed to its extreme (loop heads: the fixpoint ends). */
export function widen(old: Sc, b: Sc): Sc {
  const j = join(old, b);
  if (j === old) return old;
  const r = copy(j);
  if (r.umin < old.umin) r.umin = 0n;
  if (r.umax > old.umax) r.umax = U64_MAX;
  if (r.smin < old.smin) r.smin = S64_MIN;
  if (r.smax > old.smax) r.smax = S64_MAX;
  if (r.u32min < old.u32min) r.u32min = 0;
  if (r.u32max > old.u32max) r.u32max = U32_MAX;
  if (r.s32min < old.s32min) r.s32min = S32_MIN;
  if (r.s32max > old.s32max) r.s32max = S32_MAX;
  return eq(r, old) ? old : r;
}

// ---------------------------------------------------------------------------------------
// The kernel's log shape (print_scalar_ranges, verbose_snum, tnum_strn).

/** A signed value as verbose_snum prints it (decimal near zero, else the hex of its 64 bits). */
const snum = (x: bigint): string => (x >= -512n && x <= 512n ? `${x}` : `0x${u64(x).toString(16)}`);
const unum = (x: bigint): string => (x <= 512n ? `${x}` : `0x${x.toString(16)}`);

/** `(0x0; 0xff)`, as tnum_strn prints a tnum. */
export const tnumStr = (a: Sc): string => `(0x${a.tv.toString(16)}; 0x${a.tm.toString(16)})`;

/**
 * A scalar as the kernel's log prints it: `5`, `scalar(smin=0,smax=umax=255,var_off=(0x0; 0xff))`
 * (bounds equal to the one two places before them in smin, smax, umin, umax, smin32, … are
 * printed with it; unbounded ones and an unknown tnum are left out).
 */
export function scalarStr(a: Sc, id = ''): string {
  if (isConst(a)) return snum(s64(a.tv));
  const s32 = (x: number): bigint => (x >= -512 && x <= 512 ? BigInt(x) : BigInt(x >>> 0));
  const f: [string, bigint, boolean][] = [
    ['smin', a.smin, a.smin === S64_MIN], ['smax', a.smax, a.smax === S64_MAX],
    ['umin', a.umin, a.umin === 0n], ['umax', a.umax, a.umax === U64_MAX],
    ['smin32', s32(a.s32min), a.s32min === S32_MIN], ['smax32', s32(a.s32max), a.s32max === S32_MAX],
    ['umin32', BigInt(a.u32min), a.u32min === 0], ['umax32', BigInt(a.u32max), a.u32max === U32_MAX],
  ];
  const out: string[] = id ? [`id=${id}`] : [];
  for (let i = 0; i < f.length; i++) {
    if (f[i]![2]) continue;
    const [name, val] = f[i]!;
    const neg = name[0] === 's' && val < 0n;
    let text = `${name}=`;
    for (let j = i + 2; j < f.length; j += 2) {
      if (f[j]![2] || f[j]![1] !== val || (f[j]![0][0] === 's' && f[j]![1] < 0n) !== neg) continue;
      f[j]![2] = true;
      text += `${f[j]![0]}=`;
    }
    out.push(text + (name[0] === 's' ? snum(val) : unum(val)));
  }
  if (a.tm !== U64_MAX) out.push(`var_off=${tnumStr(a)}`);
  return `scalar(${out.join(',')})`;
}
