/**
 * What the batch loop's copy of a program's main function may take as proven
 * (compile.ts, batch mode), from a forward dataflow over its registers alone: the
 * context pointer (r1 at entry, plus a constant), the packet start and end loaded from
 * the context's `data` and `data_end`, and how many bytes past the start a comparison
 * with the end has shown to be inside the packet, on every path to an instruction (the
 * kernel verifier's packet range, for constant offsets).
 *
 * The batch loop sets r1 to the packet's own __sk_buff (SKB_CTX_SIZE bytes, writable) and
 * keeps the packet's bounds in locals, so:
 * - `data` and `data_end` loads through the context read those locals (equal to what the
 *   __sk_buff holds: the dataplane filled it, helpers that move the packet update both,
 *   and a verified program cannot write either field);
 * - an access through the context inside it, or through the packet start inside the
 *   proven range, needs no check.
 * Nothing is learnt through memory (spills), and calls that may move the packet (any but
 * the plain helpers) forget every packet fact.
 */

import type { Func, Insn } from './cfg.js';
import { successors } from './cfg.js';

/** An instruction the batch loop emits differently: an unchecked access, or a load of the packet bounds. */
export type Fact = 'direct' | 'data' | 'data_end';

const UNK = 0, CTX = 1, PKT = 2, END = 3;

interface State {
  /** Per register: kind (UNK, CTX, PKT, END) and constant offset. */
  t: Int8Array;
  k: Float64Array;
  /** Bytes [data, data + range) are inside the packet. */
  range: number;
}

const SKB_DATA = 76;
const SKB_DATA_END = 80;

function fresh(): State {
  return { t: new Int8Array(11), k: new Float64Array(11), range: 0 };
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

const sizeOf = (code: number): number => [4, 2, 1, 8][(code >> 3) & 3]!;

/**
 * The facts for the main function `f` of `ins`: `ctxSize` bytes of context at r1;
 * `plain(id)` says whether a helper (or kfunc, as the dispatcher numbers it) leaves the
 * packet where it is.
 */
export function batchFacts(ins: Insn[], f: Func, ctxSize: number, plain: (id: number, kfunc: boolean) => boolean): Map<number, Fact> {
  const inState = new Map<number, State>();
  const entry = fresh();
  entry.t[1] = CTX;
  inState.set(f.start, entry);
  const work = [f.start];
  const facts = new Map<number, Fact>();

  /** The access [reg + off, size) proven inside the context or the packet's range. */
  const proven = (s: State, reg: number, off: number, size: number): boolean => {
    const a = s.k[reg]! + off;
    if (s.t[reg] === CTX) return a >= 0 && a + size <= ctxSize;
    if (s.t[reg] === PKT) return a >= 0 && a + size <= s.range;
    return false;
  };

  /** Runs the block at `start` from `s`, recording facts when `record`; returns [successor, state] pairs. */
  const walk = (start: number, s: State, record: boolean): [number, State][] => {
    const bi = f.index.get(start)!;
    const pcs = f.blocks[bi]!.pcs;
    for (let j = 0; j < pcs.length; j++) {
      const pc = pcs[j]!;
      const i = ins[pc]!;
      const cls = i.code & 7;
      const op = i.code & 0xf0;
      const x = (i.code & 8) !== 0;
      const unk = (r: number): void => { s.t[r] = UNK; };
      if (cls === 4 || cls === 7) {
        if (op === 0xb0 && cls === 7 && x && i.off === 0) { s.t[i.dst] = s.t[i.src]!; s.k[i.dst] = s.k[i.src]!; }
        else if ((op === 0x00 || op === 0x10) && cls === 7 && !x && (s.t[i.dst] === CTX || s.t[i.dst] === PKT)) s.k[i.dst] += op === 0x00 ? i.imm : -i.imm;
        else unk(i.dst);
      } else if (i.code === 0x18) {
        unk(i.dst);
      } else if (cls === 0) {
        for (let r = 0; r <= 5; r++) unk(r);
      } else if (cls === 1) {
        const mode = i.code & 0xe0;
        if (i.code === 0x61 && s.t[i.src] === CTX && s.k[i.src]! + i.off === SKB_DATA) {
          if (record) facts.set(pc, 'data');
          s.t[i.dst] = PKT; s.k[i.dst] = 0;
          continue;
        }
        if (i.code === 0x61 && s.t[i.src] === CTX && s.k[i.src]! + i.off === SKB_DATA_END) {
          if (record) facts.set(pc, 'data_end');
          s.t[i.dst] = END; s.k[i.dst] = 0;
          continue;
        }
        if (record && (mode === 0x60 || mode === 0x80) && proven(s, i.src, i.off, sizeOf(i.code))) facts.set(pc, 'direct');
        unk(i.dst);
      } else if (cls === 2 || cls === 3) {
        if (record && proven(s, i.dst, i.off, sizeOf(i.code))) facts.set(pc, 'direct');
        if (cls === 3 && (i.code & 0xe0) === 0xc0) { unk(i.src); unk(0); }
      } else if (op === 0x80 && cls === 5) {
        // A call: r0-r5 are clobbered; one that may move the packet forgets the packet.
        if (i.src === 1 || !plain(i.imm, i.src === 2)) {
          for (let r = 0; r <= 10; r++) if (s.t[r] === PKT || s.t[r] === END) unk(r);
          s.range = 0;
        }
        for (let r = 0; r <= 5; r++) unk(r);
      } else if (cls === 5 && x && j === pcs.length - 1 && op !== 0x00 && op !== 0x90) {
        const succ = successors(ins, pc);
        const taken = copy(s);
        const fall = s;
        const a = s.t[i.dst]!, b = s.t[i.src]!;
        const pk = a === PKT ? s.k[i.dst]! : s.k[i.src]!;
        if (((a === PKT && b === END) || (a === END && b === PKT)) && pk >= 0) {
          const pktFirst = a === PKT;
          // data + k <= end: k bytes; data + k < end: k + 1.
          const at = (st: State, n: number): void => { st.range = Math.max(st.range, n); };
          if (op === 0x20) pktFirst ? at(fall, pk) : at(taken, pk + 1); // jgt
          if (op === 0x30) pktFirst ? at(fall, pk + 1) : at(taken, pk); // jge
          if (op === 0xa0) pktFirst ? at(taken, pk + 1) : at(fall, pk); // jlt
          if (op === 0xb0) pktFirst ? at(taken, pk) : at(fall, pk + 1); // jle
        }
        return [[succ[0]!, taken], [succ[1]!, fall]];
      }
    }
    const last = pcs[pcs.length - 1]!;
    const succ = successors(ins, last);
    return succ.map((t, n) => [t, n === 0 ? s : copy(s)] as [number, State]);
  };

  while (work.length > 0) {
    const start = work.pop()!;
    for (const [t, out] of walk(start, copy(inState.get(start)!), false)) {
      if (!f.index.has(t)) continue;
      const cur = inState.get(t);
      if (cur === undefined) inState.set(t, out);
      else if (!join(cur, out)) continue;
      if (!work.includes(t)) work.push(t);
    }
  }
  for (const [start, s] of inState) walk(start, copy(s), true);
  return facts;
}
