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
 *   a verified program cannot write either field);
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

const UNK = 0, CTX = 1, PKT = 2, END = 3;

interface State {
  /** Per register: kind (UNK, CTX, PKT, END) and constant offset. */
  t: number[];
  k: number[];
  /** Bytes [data, data + range) are inside the packet. */
  range: number;
}

/** The context at r1: its size, whether it may be written, where `data` and `data_end` are. */
export interface BatchContext { size: number; writable: boolean; data: number; dataEnd: number }

function fresh(): State {
  return { t: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], k: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], range: 0 };
}

function copy(s: State): State {
  return { t: s.t.slice(), k: s.k.slice(), range: s.range };
}

/** Joins `b` into `a`; whether `a` changed. */
function join(a: State, b: State): boolean {
  let changed = false;
  for (let r = 0; r < 11; r++) {
    if (a.t[r] !== UNK && (a.t[r] !== b.t[r] || a.k[r] !== b.k[r])) {
      a.t[r] = UNK;
      changed = true;
    }
  }
  if (b.range < a.range) {
    a.range = b.range;
    changed = true;
  }
  return changed;
}

const SIZES = [4, 2, 1, 8];
const sizeOf = (code: number): number => SIZES[(code >> 3) & 3]!;

/** The range a comparison proved on one edge: data + n <= data_end. */
function atLeast(s: State, n: number): void {
  if (n > s.range) s.range = n;
}

/**
 * The facts for the main function `f` of `ins`: `ctxSize` bytes of context at r1;
 * `plain(id)` says whether a helper (or kfunc, as the dispatcher numbers it) leaves the
 * packet where it is.
 */
export function batchFacts(ins: Insn[], f: Func, ctx: BatchContext, plain: (id: number, kfunc: boolean) => boolean): Uint8Array {
  const N = f.blocks.length;
  const inState: (State | undefined)[] = new Array(N);
  const entry = fresh();
  entry.t[1] = CTX;
  inState[f.index.get(f.start)!] = entry;
  const facts = new Uint8Array(ins.length);

  /** The access [reg + off, size) proven inside the context or the packet's range. */
  const proven = (s: State, reg: number, off: number, size: number, write: boolean): boolean => {
    const a = s.k[reg]! + off;
    if (s.t[reg] === CTX) return (ctx.writable || !write) && a >= 0 && a + size <= ctx.size;
    if (s.t[reg] === PKT) return a >= 0 && a + size <= s.range;
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
        if (op === 0xb0 && cls === 7 && x && i.off === 0) { s.t[i.dst] = s.t[i.src]!; s.k[i.dst] = s.k[i.src]!; }
        else if ((op === 0x00 || op === 0x10) && cls === 7 && !x && (s.t[i.dst] === CTX || s.t[i.dst] === PKT)) s.k[i.dst] += op === 0x00 ? i.imm : -i.imm;
        else s.t[i.dst] = UNK;
      } else if (i.code === 0x18) {
        s.t[i.dst] = UNK;
      } else if (cls === 0) {
        for (let r = 0; r <= 5; r++) s.t[r] = UNK;
      } else if (cls === 1) {
        const mode = i.code & 0xe0;
        if (i.code === 0x61 && s.t[i.src] === CTX && s.k[i.src]! + i.off === ctx.data) {
          facts[pc] = FACT_DATA;
          s.t[i.dst] = PKT; s.k[i.dst] = 0;
          continue;
        }
        if (i.code === 0x61 && s.t[i.src] === CTX && s.k[i.src]! + i.off === ctx.dataEnd) {
          facts[pc] = FACT_DATA_END;
          s.t[i.dst] = END; s.k[i.dst] = 0;
          continue;
        }
        facts[pc] = (mode === 0x60 || mode === 0x80) && proven(s, i.src, i.off, sizeOf(i.code), false) ? FACT_DIRECT : FACT_NONE;
        s.t[i.dst] = UNK;
      } else if (cls === 2 || cls === 3) {
        facts[pc] = proven(s, i.dst, i.off, sizeOf(i.code), true) ? FACT_DIRECT : FACT_NONE;
        if (cls === 3 && (i.code & 0xe0) === 0xc0) { s.t[i.src] = UNK; s.t[0] = UNK; }
      } else if (op === 0x80 && cls === 5) {
        // A call: r0-r5 are clobbered; one that may move the packet forgets the packet.
        if (i.src === 1 || !plain(i.imm, i.src === 2)) {
          for (let r = 0; r <= 10; r++) if (s.t[r] === PKT || s.t[r] === END) s.t[r] = UNK;
          s.range = 0;
        }
        for (let r = 0; r <= 5; r++) s.t[r] = UNK;
      } else if (cls === 5 && x && j === pcs.length - 1 && op !== 0x00 && op !== 0x90) {
        const succ = successors(ins, pc);
        const taken = copy(s);
        const fall = s;
        const a = s.t[i.dst]!, b = s.t[i.src]!;
        const pk = a === PKT ? s.k[i.dst]! : s.k[i.src]!;
        if (((a === PKT && b === END) || (a === END && b === PKT)) && pk >= 0) {
          const pktFirst = a === PKT;
          // data + k <= end: k bytes; data + k < end: k + 1.
          if (op === 0x20) pktFirst ? atLeast(fall, pk) : atLeast(taken, pk + 1); // jgt
          if (op === 0x30) pktFirst ? atLeast(fall, pk + 1) : atLeast(taken, pk); // jge
          if (op === 0xa0) pktFirst ? atLeast(taken, pk + 1) : atLeast(fall, pk); // jlt
          if (op === 0xb0) pktFirst ? atLeast(taken, pk) : atLeast(fall, pk + 1); // jle
        }
        return [[succ[0]!, taken], [succ[1]!, fall]];
      }
    }
    const last = pcs[pcs.length - 1]!;
    const succ = successors(ins, last);
    return succ.map((t, n) => [t, n === 0 ? s : copy(s)] as [number, State]);
  };

  // Sweeps in block order until nothing changes: forward edges settle in the same sweep,
  // each loop's back edge costs one more.
  const dirty = new Uint8Array(N);
  dirty[f.index.get(f.start)!] = 1;
  for (let again = true; again;) {
    again = false;
    for (let b = 0; b < N; b++) {
      if (!dirty[b]) continue;
      dirty[b] = 0;
      for (const [t, out] of walk(f.blocks[b]!.start, copy(inState[b]!))) {
        const tb = f.index.get(t);
        if (tb === undefined) continue;
        const cur = inState[tb];
        if (cur === undefined) inState[tb] = out;
        else if (!join(cur, out)) continue;
        dirty[tb] = 1;
        if (tb <= b) again = true;
      }
    }
  }
  // Every block's last walk was from its final state: the facts are those walks'.
  return facts;
}
