/**
 * What the batch loop's copy of a program's main function may take as proven
 * (compile.ts, batch mode), from a forward dataflow over its registers alone: the
 * context pointer (r1 at entry, plus a constant), the packet start and end loaded from
 * the context's `data` and `data_end`, and how many bytes past the start a comparison
 * with the end has shown to be inside the packet, on every path to an instruction (the
 * kernel verifier's packet range, for constant offsets).
 *
 * The batch loop sets r1 to the packet's own context (a writable __sk_buff, or a read-only
 * xdp_md) and keeps the packet's bounds in locals, so:
 * - `data` and `data_end` loads through the context read those locals (equal to what the
 *   context holds: the dataplane filled it, helpers that move the packet update both, and
 *   no store can write either field: they are read-only at run time, VM_REGION_SKB_CTX);
 * - an access through the context inside it, or through the packet start inside the
 *   proven range, needs no check.
 * Nothing is learnt through memory (spills), and calls that may move the packet (any but
 * the plain helpers) forget every packet fact.
 */

import type { Func, Insn } from './cfg.js';
import { successors } from './cfg.js';

/**
 * Per pc, how the batch loop emits it: FACT_NONE as usual, FACT_DIRECT an unchecked access,
 * FACT_DATA / FACT_DATA_END a load of the packet's start / end.
 */
export const FACT_NONE = 0, FACT_DIRECT = 1, FACT_DATA = 2, FACT_DATA_END = 3;

/**
 * Register kinds. CONST: exactly k, 0 <= k < 2^31. NNEG: 0 <= value < 2^61 — made only by
 * what is below 2^60 (32-bit results and loads, masks, shifts right by 4 or more) plus
 * non-negative 32-bit constants added at most once per instruction run (the budget caps
 * those at 2^20 per run), so a packet pointer plus one never wraps around 2^64.
 */
const UNK = 0, CTX = 1, PKT = 2, END = 3, NNEG = 4, CONST = 5;
/**
 * Map values (array and per-CPU array maps, `BatchMap`): MAP is the map's record (an lddw
 * of it; k its address), MNULL what bpf_map_lookup_elem returned for it (the element or
 * NULL), MVAL the element once a comparison with 0 showed it is not NULL; k the offset
 * into the element, v = value size * 2 + 1 when the program may write it.
 */
const MAP = 6, MNULL = 7, MVAL = 8;
const C_MAX = 0x80000000;

interface State {
  /** Per register: kind, constant (offset for CTX/PKT, value for CONST) and, for PKT, its variable part. */
  t: number[];
  k: number[];
  /**
   * PKT: 0 = data + k; otherwise data + V + k, where V is the NNEG value an add at pc
   * v - 1 put into a pointer (the last time it ran on this path).
   */
  v: number[];
  /** Bytes [data, data + range) are inside the packet. */
  range: number;
  /** Pairs (v, n): bytes [data + V, data + V + n) are inside the packet. */
  vr: number[];
}

/** The context at r1: its size, whether it may be written, where `data` and `data_end` are. */
export interface BatchContext {
  size: number;
  writable: boolean;
  /** Stores are proven only below this offset (an __sk_buff's fields before `data`; abi VM_REGION_SKB_CTX). */
  writableEnd: number;
  data: number;
  dataEnd: number;
}

/** A map whose lookups return an element of `valueSize` bytes inside the program's regions (writable or not). */
export interface BatchMap { valueSize: number; writable: boolean }

function fresh(): State {
  const z = (): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  return { t: z(), k: z(), v: z(), range: 0, vr: [] };
}

function copy(s: State): State {
  return { t: s.t.slice(), k: s.k.slice(), v: s.v.slice(), range: s.range, vr: s.vr.slice() };
}

const scalar = (t: number): boolean => t === NNEG || t === CONST;

/**
 * Joins `b` into `a`; whether `a` changed. `base(r)`: the variable part a packet pointer in
 * r takes where the two sides differ (a loop's pointer moving by constants), unique to the
 * block joined at; 0 for none. Such a pointer is re-based: data + V + k with k the lower of
 * the two offsets (so V >= 0 on both sides) and as many bytes proven past it as both sides
 * prove; any other pointer with that variable part is another value (an earlier base).
 */
function join(a: State, b: State, base: (r: number) => number = () => 0): boolean {
  let changed = false;
  const ids = new Set<number>();
  const merged: [number, number, number, number][] = [];
  for (let r = 0; r < 11; r++) {
    const v = base(r);
    if (v === 0) continue;
    ids.add(v);
    if (a.t[r] !== PKT || b.t[r] !== PKT) continue;
    if (a.v[r] !== v && b.v[r] !== v && a.k[r] === b.k[r] && a.v[r] === b.v[r]) continue;
    const k = Math.min(a.k[r]!, b.k[r]!);
    const proven = (s: State): number => (s.v[r] === 0 ? s.range : varRange(s, s.v[r]!)) - (s.k[r]! - k);
    merged.push([r, k, v, Math.min(proven(a), proven(b))]);
  }
  if (ids.size) {
    // Every earlier value of these variable parts is gone (only the re-based pointers hold them).
    for (const s of [a, b]) {
      for (let q = 0; q < 11; q++) if (s.t[q] === PKT && ids.has(s.v[q]!)) { set(s, q, UNK); if (s === a) changed = true; }
      const kept: number[] = [];
      for (let j = 0; j < s.vr.length; j += 2) if (!ids.has(s.vr[j]!)) kept.push(s.vr[j]!, s.vr[j + 1]!);
      if (kept.length !== s.vr.length && s === a) changed = true;
      s.vr = kept;
    }
    for (const [r, k, v, n] of merged) {
      if (k < 0) continue;
      set(a, r, PKT, k, v);
      set(b, r, PKT, k, v);
      if (n > 0) { a.vr.push(v, n); b.vr.push(v, n); }
      changed = true;
    }
  }
  for (let r = 0; r < 11; r++) {
    const ta = a.t[r]!, tb = b.t[r]!;
    if (ta === UNK || (ta === tb && a.k[r] === b.k[r] && a.v[r] === b.v[r])) continue;
    // Two constants, or a constant and NNEG, are NNEG; anything else differing is UNK.
    const t = scalar(ta) && scalar(tb) ? NNEG : UNK;
    if (t !== ta) {
      a.t[r] = t;
      changed = true;
    }
  }
  if (b.range < a.range) {
    a.range = b.range;
    changed = true;
  }
  // Variable ranges both sides have, at the smaller.
  const kept: number[] = [];
  for (let j = 0; j < a.vr.length; j += 2) {
    const n = varRange(b, a.vr[j]!);
    if (n > 0) kept.push(a.vr[j]!, Math.min(n, a.vr[j + 1]!));
  }
  if (kept.length !== a.vr.length || kept.some((x, j) => x !== a.vr[j])) {
    a.vr = kept;
    changed = true;
  }
  return changed;
}

/** Walks per block before the analysis gives up (it always settles far sooner). */
const WALKS = 64;

function same(a: State, b: State): boolean {
  if (a.range !== b.range || a.vr.length !== b.vr.length) return false;
  for (let r = 0; r < 11; r++) {
    if (a.t[r] !== b.t[r]) return false;
    if (a.t[r] !== UNK && (a.k[r] !== b.k[r] || a.v[r] !== b.v[r])) return false;
  }
  for (let j = 0; j < a.vr.length; j++) if (a.vr[j] !== b.vr[j]) return false;
  return true;
}

function varRange(s: State, v: number): number {
  for (let j = 0; j < s.vr.length; j += 2) if (s.vr[j] === v) return s.vr[j + 1]!;
  return 0;
}

const SIZES = [4, 2, 1, 8];
const sizeOf = (code: number): number => SIZES[(code >> 3) & 3]!;

/** The range a comparison proved on one edge: data (+ V when v) + n <= data_end. */
function atLeast(s: State, v: number, n: number): void {
  if (v === 0) {
    if (n > s.range) s.range = n;
    return;
  }
  for (let j = 0; j < s.vr.length; j += 2) {
    if (s.vr[j] === v) {
      if (n > s.vr[j + 1]!) s.vr[j + 1] = n;
      return;
    }
  }
  s.vr.push(v, n);
}

function set(s: State, r: number, t: number, k = 0, v = 0): void {
  s.t[r] = t;
  s.k[r] = k;
  s.v[r] = v;
}

/** A scalar result from its exact value when known: CONST below 2^31, NNEG below 2^32, else UNK. */
function setValue(s: State, r: number, value: number): void {
  if (value >= 0 && value < C_MAX) set(s, r, CONST, value);
  else if (value >= 0 && value < 2 ** 32) set(s, r, NNEG);
  else set(s, r, UNK);
}

/**
 * One ALU instruction on the register state (pc for the variable part an add of a
 * non-negative scalar to a packet pointer starts).
 */
function alu(s: State, i: Insn, pc: number): void {
  const cls = i.code & 7;
  const op = i.code & 0xf0;
  const x = (i.code & 8) !== 0;
  const d = i.dst;
  const td = s.t[d]!, kd = s.k[d]!;
  const ts = x ? s.t[i.src]! : CONST;
  const ks = x ? s.k[i.src]! : i.imm;
  if (cls === 4) {
    // 32-bit: the result is zero-extended; a byte swap to 64 bits is the exception.
    if (op === 0xd0 && i.imm === 64) set(s, d, UNK);
    // mov32 copies the low word; movsx32 (x with off 8 or 16) sign-extends a byte or a half
    // of it into 32 bits, which is no copy of a constant (w = (s8)0x80 is 0xffffff80).
    else if (op === 0xb0 && (x ? ts === CONST && i.off === 0 : i.imm >= 0)) setValue(s, d, ks);
    else set(s, d, NNEG);
    return;
  }
  if (op === 0xb0) { // mov
    if (!x) setValue(s, d, i.imm);
    else if (i.off === 0) set(s, d, ts, ks, s.v[i.src]!);
    else set(s, d, UNK);
    return;
  }
  if (op === 0x00) { // add
    if ((td === CTX || td === PKT || td === MVAL) && (!x || ts === CONST)) { s.k[d] = kd + ks; return; }
    if (td === CONST && ts === CONST) { setValue(s, d, kd + ks); return; }
    if (td === NNEG && !x && i.imm >= 0) return;
    if (td === CONST && !x && i.imm >= 0) { setValue(s, d, kd + i.imm); return; }
    // A packet pointer plus a scalar (either way round).
    const pk = td === PKT ? d : x && ts === PKT ? i.src : -1;
    const sc = pk === d ? (x ? i.src : -1) : d;
    if (pk >= 0 && sc >= 0 && s.v[pk] === 0) {
      if (s.t[sc] === CONST) { set(s, d, PKT, s.k[pk]! + s.k[sc]!); return; }
      if (s.t[sc] === NNEG) {
        // A new variable part: earlier pointers from this add (a loop's last round) are
        // another value, and so is what was proven about them.
        const v = pc + 1;
        const k = s.k[pk]!;
        for (let r = 0; r < 11; r++) if (s.t[r] === PKT && s.v[r] === v) set(s, r, UNK);
        for (let j = 0; j < s.vr.length; j += 2) if (s.vr[j] === v) { s.vr.splice(j, 2); break; }
        set(s, d, PKT, k, v);
        return;
      }
    }
    set(s, d, UNK);
    return;
  }
  if (op === 0x10 && (td === CTX || td === PKT || td === MVAL) && !x) { s.k[d] = kd - i.imm; return; } // sub
  if (op === 0x10 && td === CONST && ts === CONST) { setValue(s, d, kd - ks); return; }
  if (op === 0x50 && !x && i.imm >= 0) { // and: at most the mask
    if (td === CONST) setValue(s, d, kd & i.imm);
    else set(s, d, NNEG);
    return;
  }
  if (op === 0x70 && !x) { // rsh
    const n = i.imm & 63;
    if (td === CONST) setValue(s, d, Math.floor(kd / 2 ** n));
    else if (td === NNEG || n >= 4) set(s, d, NNEG);
    else set(s, d, UNK);
    return;
  }
  set(s, d, UNK);
}

/**
 * The facts for the main function `f` of `ins`: `ctxSize` bytes of context at r1;
 * `plain(id)` says whether a helper (or kfunc, as the dispatcher numbers it) leaves the
 * packet where it is.
 */
export function batchFacts(ins: Insn[], f: Func, ctx: BatchContext, plain: (id: number, kfunc: boolean) => boolean, maps: ReadonlyMap<number, BatchMap> = new Map()): Uint8Array {
  const N = f.blocks.length;
  const entry = fresh();
  entry.t[1] = CTX;
  const facts = new Uint8Array(ins.length);

  /** The access [reg + off, size) proven inside the context or the packet's range. */
  const proven = (s: State, reg: number, off: number, size: number, write: boolean): boolean => {
    const a = s.k[reg]! + off;
    if (s.t[reg] === CTX) return (ctx.writable || !write) && a >= 0 && a + size <= (write ? ctx.writableEnd : ctx.size);
    if (s.t[reg] === PKT) return a >= 0 && a + size <= (s.v[reg] === 0 ? s.range : varRange(s, s.v[reg]!));
    if (s.t[reg] === MVAL) return a >= 0 && a + size <= s.v[reg]! >> 1 && (!write || (s.v[reg]! & 1) === 1);
    return false;
  };

  /**
   * Runs the block at `start` from `s`, recording its facts (a later walk, from a weaker
   * state, replaces them); returns [successor, state] pairs.
   */
  const walk = (start: number, s: State): [number, State][] => {
    const bi = f.index.get(start)!;
    const pcs = f.blocks[bi]!.pcs;
    for (let j = 0; j < pcs.length; j++) {
      const pc = pcs[j]!;
      const i = ins[pc]!;
      const cls = i.code & 7;
      const op = i.code & 0xf0;
      const x = (i.code & 8) !== 0;
      if (cls === 4 || cls === 7) {
        alu(s, i, pc);
      } else if (i.code === 0x18) {
        const m = i.src === 0 && pc + 1 < ins.length && ins[pc + 1]!.imm === 0 ? maps.get(i.imm) : undefined;
        if (m && i.imm > 0) set(s, i.dst, MAP, i.imm);
        else set(s, i.dst, UNK);
      } else if (cls === 0) {
        for (let r = 0; r <= 5; r++) set(s, r, UNK);
      } else if (cls === 1) {
        const mode = i.code & 0xe0;
        if (i.code === 0x61 && s.t[i.src] === CTX && s.k[i.src]! + i.off === ctx.data) {
          facts[pc] = FACT_DATA;
          set(s, i.dst, PKT);
          continue;
        }
        if (i.code === 0x61 && s.t[i.src] === CTX && s.k[i.src]! + i.off === ctx.dataEnd) {
          facts[pc] = FACT_DATA_END;
          set(s, i.dst, END);
          continue;
        }
        facts[pc] = (mode === 0x60 || mode === 0x80) && proven(s, i.src, i.off, sizeOf(i.code), false) ? FACT_DIRECT : FACT_NONE;
        // A zero-extending load of at most 4 bytes is below 2^32.
        set(s, i.dst, mode === 0x60 && sizeOf(i.code) < 8 ? NNEG : UNK);
      } else if (cls === 2 || cls === 3) {
        facts[pc] = proven(s, i.dst, i.off, sizeOf(i.code), true) ? FACT_DIRECT : FACT_NONE;
        if (cls === 3 && (i.code & 0xe0) === 0xc0) { set(s, i.src, UNK); set(s, 0, UNK); }
      } else if (op === 0x80 && cls === 5) {
        // A call: r0-r5 are clobbered; one that may move the packet forgets the packet.
        if (i.src === 1 || !plain(i.imm, i.src === 2)) {
          for (let r = 0; r <= 10; r++) if (s.t[r] === PKT || s.t[r] === END) s.t[r] = UNK;
          s.range = 0;
          s.vr = [];
        }
        const m = i.src === 0 && i.imm === 1 && s.t[1] === MAP ? maps.get(s.k[1]!) : undefined;
        for (let r = 0; r <= 5; r++) set(s, r, UNK);
        // bpf_map_lookup_elem: the element or NULL.
        if (m) set(s, 0, MNULL, 0, m.valueSize * 2 + (m.writable ? 1 : 0));
      } else if (cls === 5 && !x && i.imm === 0 && (op === 0x10 || op === 0x50) && s.t[i.dst] === MNULL && j === pcs.length - 1) {
        // A lookup's result against NULL: the element on the edge where it is not.
        const succ = successors(ins, pc);
        const taken = copy(s);
        const fall = s;
        const other = op === 0x10 ? fall : taken;
        other.t[i.dst] = MVAL;
        return [[succ[0]!, taken], [succ[1]!, fall]];
      } else if (cls === 5 && x && j === pcs.length - 1 && op !== 0x00 && op !== 0x90) {
        const succ = successors(ins, pc);
        const taken = copy(s);
        const fall = s;
        const a = s.t[i.dst]!, b = s.t[i.src]!;
        const p = a === PKT ? i.dst : i.src;
        const pk = s.k[p]!, pv = s.v[p]!;
        if (((a === PKT && b === END) || (a === END && b === PKT)) && pk >= 0) {
          const pktFirst = a === PKT;
          // data (+ V) + k <= end: k bytes; data (+ V) + k < end: k + 1.
          if (op === 0x20) pktFirst ? atLeast(fall, pv, pk) : atLeast(taken, pv, pk + 1); // jgt
          if (op === 0x30) pktFirst ? atLeast(fall, pv, pk + 1) : atLeast(taken, pv, pk); // jge
          if (op === 0xa0) pktFirst ? atLeast(taken, pv, pk + 1) : atLeast(fall, pv, pk); // jlt
          if (op === 0xb0) pktFirst ? atLeast(taken, pv, pk) : atLeast(fall, pv, pk + 1); // jle
        }
        return [[succ[0]!, taken], [succ[1]!, fall]];
      }
    }
    const last = pcs[pcs.length - 1]!;
    const succ = successors(ins, last);
    return succ.map((t, n) => [t, n === 0 ? s : copy(s)] as [number, State]);
  };

  // Each block's in-state is the join of what its predecessors' latest walks sent along
  // their edges (not of everything they ever sent: a loop's first round, before its
  // counter became NNEG, would otherwise blur every later one). Sweeps in block order
  // until no edge changes; a block walked more than WALKS times gives up on every fact.
  const entryBlock = f.index.get(f.start)!;
  const preds: number[][] = Array.from({ length: N }, () => []);
  for (let b = 0; b < N; b++) {
    const pcs = f.blocks[b]!.pcs;
    for (const t of successors(ins, pcs[pcs.length - 1]!)) {
      const tb = f.index.get(t);
      if (tb !== undefined && !preds[tb]!.includes(b)) preds[tb]!.push(b);
    }
  }
  const edges = new Map<number, State>();
  const walks = new Uint16Array(N);
  const dirty = new Uint8Array(N);
  dirty[entryBlock] = 1;
  for (let again = true; again;) {
    again = false;
    for (let b = 0; b < N; b++) {
      if (!dirty[b]) continue;
      dirty[b] = 0;
      let st: State | undefined = b === entryBlock ? copy(entry) : undefined;
      // (a loop's moving packet pointer re-based at its header: variable parts past every pc)
      const base = (r: number): number => ins.length + 1 + b * 11 + r;
      for (const p of preds[b]!) {
        const e = edges.get(p * N + b);
        if (e === undefined) continue;
        if (st === undefined) st = copy(e);
        else join(st, copy(e), base);
      }
      if (st === undefined) continue;
      if (++walks[b]! > WALKS) return new Uint8Array(ins.length);
      // A conditional jump whose target is the next instruction (`jgt r, r2, +0`) sends both
      // of its edges to one block: what arrives there is their join, not the last one.
      const outs = new Map<number, State>();
      for (const [t, out] of walk(f.blocks[b]!.start, st)) {
        const tb = f.index.get(t);
        if (tb === undefined) continue;
        const seen = outs.get(tb);
        if (seen === undefined) outs.set(tb, out);
        else join(seen, out);
      }
      for (const [tb, out] of outs) {
        const old = edges.get(b * N + tb);
        if (old !== undefined && same(old, out)) continue;
        edges.set(b * N + tb, out);
        dirty[tb] = 1;
        if (tb <= b) again = true;
      }
    }
  }
  // Every block's last walk was from its final state: the facts are those walks'.
  return facts;
}
