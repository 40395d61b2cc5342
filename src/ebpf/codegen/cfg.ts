/**
 * The control flow of an eBPF program for the code generator: decoded instructions,
 * subprograms' basic blocks over what is reachable from their start, and back edges.
 * Jumps that leave a subprogram are refused here (CodegenError).
 */

import { decode, type Insn } from '../insn.js';
import { CodegenError } from './errors.js';

export { decode, type Insn };

export interface Block {
  start: number;
  /** Instructions (pcs) in order; lddw takes two slots but counts once. */
  pcs: number[];
}

export interface Func {
  start: number;
  end: number;
  blocks: Block[];
  /** Block index by start pc. */
  index: Map<number, number>;
  /** Back edges as [from block, to block] (to <= from). */
  back: [number, number][];
}

export const isJump = (code: number): boolean => (code & 7) === 5 || (code & 7) === 6;
export const isCall = (i: Insn): boolean => i.code === 0x85;

/** Where a jump goes (ja/gotol and conditional jumps), or undefined for calls and exits. */
export function jumpTarget(i: Insn, pc: number): number | undefined {
  const cls = i.code & 7;
  const op = i.code & 0xf0;
  if (op === 0x80 || op === 0x90) return undefined;
  if (op === 0x00 && cls === 6) return pc + 1 + i.imm;
  if (op === 0xe0 || op === 0xf0) return undefined; // invalid: faults
  return pc + 1 + i.off;
}

/** Does this instruction write r10 (then r10-relative accesses need checks, like any other)? */
export function writesR10(i: Insn): boolean {
  const cls = i.code & 7;
  if (cls === 4 || cls === 7 || cls === 1) return i.dst === 10;
  if (i.code === 0x18) return i.dst === 10;
  if (cls === 3 && (i.code & 0xe0) === 0xc0) return i.src === 10;
  return false;
}

/** Successors of the instruction at pc (control flow only; faults have none). */
export function successors(ins: Insn[], pc: number): number[] {
  const i = ins[pc]!;
  if (i.code === 0x18) return [pc + 2];
  if (!isJump(i.code)) return [pc + 1];
  const cls = i.code & 7;
  const op = i.code & 0xf0;
  if (op === 0x90) return [];
  if (op === 0x80) return cls === 5 && (i.code & 8) === 0 ? [pc + 1] : [];
  if (op === 0x00) return [jumpTarget(i, pc)!];
  if (op === 0xe0 || op === 0xf0) return [];
  return [pc + 1 + i.off, pc + 1];
}

/**
 * Basic blocks of the subprogram [start, end), over the instructions reachable from its
 * start (a jump into the second slot of lddw decodes that slot as an instruction, as the
 * interpreter does).
 */
export function buildFunc(ins: Insn[], n: number, start: number, end: number): Func {
  const len = end - start;
  const reach = new Uint8Array(len);
  const lead = new Uint8Array(len);
  lead[0] = 1;
  const work = [start];
  while (work.length) {
    const pc = work.pop()!;
    if (reach[pc - start]) continue;
    reach[pc - start] = 1;
    const i = ins[pc]!;
    const branches = isJump(i.code);
    for (const t of successors(ins, pc)) {
      if (t < 0 || t >= n) continue; // a pc fault when taken
      if (t < start || t >= end) {
        throw new CodegenError(t === pc + 1 || (i.code === 0x18 && t === pc + 2) ? 'falls through into the next subprogram' : `jump to ${t} leaves its subprogram [${start}, ${end})`, pc);
      }
      if (branches) lead[t - start] = 1;
      if (!reach[t - start]) work.push(t);
    }
  }
  // Decode blocks; where a block must stop early (the next leader falls inside an lddw),
  // its fallthrough starts a block too: repeat until every fallthrough is a leader.
  let blocks: Block[] = [];
  for (;;) {
    blocks = [];
    let added = false;
    for (let s = start; s < end; s++) {
      if (!lead[s - start]) continue;
      let next = s + 1;
      while (next < end && !lead[next - start]) next++;
      const pcs: number[] = [];
      let pc = s;
      let ended = false;
      while (pc < next) {
        pcs.push(pc);
        const i = ins[pc]!;
        pc += i.code === 0x18 ? 2 : 1;
        if (isJump(i.code)) { ended = true; break; }
      }
      if (!ended && pc < end && pc !== next && !lead[pc - start]) { lead[pc - start] = 1; added = true; }
      blocks.push({ start: s, pcs });
    }
    if (!added) break;
  }
  const index = new Map<number, number>();
  blocks.forEach((b, k) => index.set(b.start, k));
  const back: [number, number][] = [];
  blocks.forEach((b, k) => {
    for (const t of successors(ins, b.pcs[b.pcs.length - 1]!)) {
      const j = index.get(t);
      if (j !== undefined && j <= k) back.push([k, j]);
    }
  });
  return { start, end, blocks, index, back };
}
