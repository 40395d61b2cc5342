/** Control flow: blocks laid out as Wasm blocks and loops, counted loops and the instruction budget. (Methods of Gen: gen.ts.) */

import { successors, type Func } from './cfg.js';
import { FACT_DATA, FACT_DATA_END } from './bounds.js';
import { EMPTY, Op } from './wasm.js';
import { BUD, CODE, type CountedLoop, LABEL, P_HI, P_LO, PW_HI, PW_LO, R, SPARE, TMP, UNROLL, UNROLL_MAX_COST } from './locals.js';
import type { Insn } from './cfg.js';

/**
 * A register's value at some point of a loop's iteration, from the iteration's start: an
 * induction variable's value at the start plus `c` (its low half only when `w32`: a 32-bit
 * operation on the way) and, with `base`, plus a register the loop never writes (a packet
 * pointer plus an index, 64-bit); a register the loop never writes; or a constant.
 */
type Aff = { iv: number; c: bigint; w32: boolean; base?: number } | { inv: number } | { imm: bigint };

/** An exit of a loop (or its latch) as a compare of two such values, `stay` what keeps the loop going. */
interface GroupExit { pc: number; k: number; wide: boolean; a: Aff; b: Aff; stay: boolean }

/** A load or store in a loop at `a` + `off` (`a` a 64-bit value moving with the iterations, or still). */
interface GroupAccess { pc: number; a: Aff; off: number; size: number; write: boolean }

/** What a round's test checks: the exits, the moves, the accesses it may show inside the packet. */
interface Group { exits: GroupExit[]; steps: Map<number, bigint>; access: GroupAccess[]; latch: number }

/**
 * Iterations per round of a counted loop's grouped copy (`groupExits`), for a small body:
 * as many as it runs counting from 0 to its limit when that is 2 to 16 (a header's ten
 * words: one round, whose last latch is tested, so the loop may end there), else 16
 * when the limit is 64 or more steps away (a loop over a packet's words: fewer round
 * tests), else 8; 4 for bodies over 12 instructions.
 */
const groupSize = (l: CountedLoop): number => {
  if (l.cost > 12) return 4;
  const trips = tripsFromZero(l);
  if (trips >= 2 && trips <= 16) return trips;
  return trips >= 64 ? 16 : 8;
};
/** How many times a counted loop runs counting from 0 to its limit. */
const tripsFromZero = (l: CountedLoop): number => Math.floor(Math.abs(l.leaveAt ?? l.limit) / Math.abs(l.step));

import type { Gen } from './gen.js';

declare module './gen.js' {
  interface Gen {
    layout(f: Func): void;
    countedLoop(f: Func, h: number, e: number): CountedLoop | undefined;
    settleBudget(j: number, m: number): void;
    groupExits(f: Func, l: CountedLoop): Group | undefined;
    groupTest(g: Group, rounds: number, lastLatch: boolean): void;
    leavesDeferred(t: number): boolean;
    enoughBudget(l: CountedLoop): void;
    succBlocks(f: Func, k: number): number[];
  }
}

/** Installed on Gen.prototype by compile.ts. */
export const layoutMethods = {
  /**
   * Block layout. A loop whose blocks [h, e] nothing outside enters except at h, and that
   * holds no other loop header, becomes a Wasm `loop` (its back edges are one `br`); the
   * 'E' labels of its inner blocks open inside it. Other back edges go through the
   * dispatch loop: set the label, `br` to the top, `br_table` to the block.
   */
  layout(this: Gen, f: Func): void {
    const c = this.c;
    const N = f.blocks.length;
    const ends = new Map<number, number>();
    for (const [from, to] of f.back) ends.set(to, Math.max(ends.get(to) ?? to, from));
    this.loops = new Map();
    const inLoop = new Set<number>();
    for (const [h, e] of [...ends].sort((a, b) => a[0] - b[0])) {
      let ok = true;
      for (const h2 of ends.keys()) if (h2 > h && h2 <= e) ok = false;
      for (let k = 0; k < N && ok; k++) {
        if (k >= h && k <= e) continue;
        for (const t of this.succBlocks(f, k)) if (t > h && t <= e) ok = false;
      }
      if ([...this.loops].some(([h2, e2]) => h <= e2 && h2 <= e)) ok = false;
      if (!ok) continue;
      this.loops.set(h, e);
      for (let k = h + 1; k <= e; k++) inLoop.add(k);
    }
    const loopEnds = new Set(this.loops.values());
    const dispatch = f.back.some(([from, to]) => !(this.loops.has(to) && from <= this.loops.get(to)!));
    const open = (l: string): void => { this.pushLabel(l); };
    if (dispatch) { c.u8(Op.loop).u8(EMPTY); open('top'); }
    for (let k = N - 1; k >= 1; k--) if (!inLoop.has(k)) { c.u8(Op.block).u8(EMPTY); open(`E${k}`); }
    if (dispatch) {
      c.u8(Op.block).u8(EMPTY);
      open('E0');
      c.get(LABEL).u8(Op.br_table).u32(N);
      for (let k = 0; k < N; k++) c.u32(inLoop.has(k) ? 0 : this.depth(`E${k}`));
      c.u32(0);
      c.op(Op.end);
      this.popLabel();
    }
    const versioned = new Set<number>();
    for (let k = 0; k < N; k++) {
      this.bi = k;
      const e = this.loops.get(k);
      if (e !== undefined) {
        const counted = this.countedLoop(f, k, e);
        if (counted) {
          // block $done { block $checked { br_if $checked (not enough budget)
          //   loop { blocks k..e, no budget tests } br $done } loop { blocks k..e } }
          versioned.add(e);
          this.countedLoops++;
          c.u8(Op.block).u8(EMPTY);
          open('-');
          c.u8(Op.block).u8(EMPTY);
          open('-');
          this.enoughBudget(counted);
          c.op(Op.i32_eqz).u8(Op.br_if).u32(0);
          this.unchecked = true;
          // Small bodies are unrolled: copies 1..n-1 end in `br_if $out` when the loop ends
          // (the latch not taken) and go on into the next copy; the last one branches back.
          const copies = counted.cost <= UNROLL_MAX_COST ? UNROLL : 1;
          if (counted.chain) {
            // The budget is settled where the copy is left, from the counter (its entry value in SPARE).
            this.deferred = counted;
            c.get(R(counted.reg)).set(SPARE);
          }
          c.u8(Op.block).u8(EMPTY);
          open('O');
          c.u8(Op.loop).u8(EMPTY);
          open(`L${k}`);
          const group = copies > 1 && counted.chain ? this.groupExits(f, counted) : undefined;
          if (group) {
            // Rounds of GROUP iterations none of whose exits can be taken (tested on the
            // values at the round's start: each exit compares a value moving monotonically
            // with the iterations, without wrapping, with one that does not move) run
            // without their exit tests; the others run the checked copies below (tested again after them).
            this.groupedLoops++;
            c.u8(Op.block).u8(EMPTY);
            open('-');
            const rounds = groupSize(counted);
            // (a round of all the iterations from 0 ends the loop at its last latch: tested there)
            const lastLatch = rounds === tripsFromZero(counted);
            this.groupTest(group, rounds, lastLatch);
            this.stripped = new Set(group.exits.map((x) => x.pc));
            this.roundPacket = new Set(group.access.map((x) => x.pc));
            this.roundPacketAccesses += group.access.length;
            for (let u = 0; u < rounds; u++) {
              // The round's last latch is tested: the loop may end there (the round's test
              // asks that of the other iterations only).
              if (u === rounds - 1 && lastLatch) {
                this.stripped.delete(counted.latch);
                this.unrollLatch = counted.latch;
              }
              for (let m = e; m > k; m--) { c.u8(Op.block).u8(EMPTY); open(`E${m}`); }
              for (let j = k; j <= e; j++) {
                this.bi = j;
                this.block(f.blocks[j]!);
                if (j < e) { c.op(Op.end); this.close(`E${j + 1}`); }
              }
            }
            this.unrollLatch = -1;
            this.stripped = undefined;
            this.roundPacket = undefined;
            c.u8(Op.br).u32(this.depth(`L${k}`));
            c.op(Op.end);
            this.popLabel();
          }
          for (let u = 0; u < copies; u++) {
            for (let m = e; m > k; m--) { c.u8(Op.block).u8(EMPTY); open(`E${m}`); }
            this.unrollLatch = u + 1 < copies ? counted.latch : -1;
            for (let j = k; j <= e; j++) {
              this.bi = j;
              this.block(f.blocks[j]!);
              if (j < e) { c.op(Op.end); this.close(`E${j + 1}`); }
            }
          }
          this.unrollLatch = -1;
          c.op(Op.end);
          this.close('L');
          c.op(Op.end);
          this.close('O');
          if (this.deferred) {
            // Left through a latch: every iteration so far ran whole.
            this.settleBudget(e, -1);
            this.deferred = undefined;
          }
          this.unchecked = false;
          this.bi = k;
          c.u8(Op.br).u32(1);
          c.op(Op.end);
          this.popLabel();
        }
        c.u8(Op.loop).u8(EMPTY);
        open(`L${k}`);
        for (let m = e; m > k; m--) { c.u8(Op.block).u8(EMPTY); open(`E${m}`); }
      }
      this.block(f.blocks[k]!);
      if (loopEnds.has(k)) {
        c.op(Op.end);
        this.close('L');
        if (versioned.has(k)) { c.op(Op.end); this.popLabel(); }
      }
      if (k + 1 < N) { c.op(Op.end); this.close(`E${k + 1}`); }
    }
    if (dispatch) { c.op(Op.end); this.close('top'); }
    c.op(Op.unreachable);
  },

  /**
   * A loop [h, e] whose trip count is known on entry: no calls or legacy packet loads in
   * it, one back edge (the last instruction of block e, `jne`/`jlt` of a register against
   * a constant, 64- or 32-bit), and that register written in the loop only by one `add`
   * of a constant in block e (so every iteration runs it once). An iteration runs each of
   * the loop's blocks at most once (no other loop header is inside): it costs at most the
   * loop's instruction count.
   */
  countedLoop(this: Gen, f: Func, h: number, e: number): CountedLoop | undefined {
    if (f.back.some(([from, to]) => to === h && from !== e)) return undefined;
    const eb = f.blocks[e]!;
    const lastPc = eb.pcs[eb.pcs.length - 1]!;
    let j = this.ins[lastPc]!;
    let op = j.code & 0xf0;
    if (lastPc + 1 + j.off !== f.blocks[h]!.start || (j.code & 7) === 0 || (j.code & 7) === 4 || (j.code & 7) === 7) return undefined;
    let leaveAt: number | undefined;
    if ((j.code & 8) !== 0 || (op !== 0x50 && op !== 0xa0)) {
      // Else a bound in the header: `jgt`/`jge` r, K (K >= 0) to a block outside the loop.
      const hb = f.blocks[h]!;
      const hPc = hb.pcs[hb.pcs.length - 1]!;
      const x = this.ins[hPc]!;
      const xo = x.code & 0xf0;
      const out = f.index.get(hPc + 1 + x.off);
      if (h === e || ((x.code & 7) !== 5 && (x.code & 7) !== 6) || (x.code & 8) !== 0 || (xo !== 0x20 && xo !== 0x30) || x.imm < 0) return undefined;
      if (out !== undefined && out >= h && out <= e) return undefined;
      leaveAt = x.imm + (xo === 0x20 ? 1 : 0);
      j = x;
      op = xo;
    }
    const wide = (j.code & 7) === 5;
    const r = j.dst;
    if (r === 10) return undefined;
    let cost = 0;
    let step: number | undefined;
    let incAt = 0;
    for (let k = h; k <= e; k++) {
      const b = f.blocks[k]!;
      cost += b.pcs.length;
      for (const pc of b.pcs) {
        const i = this.ins[pc]!;
        const cls = i.code & 7;
        if (i.code === 0x85 || (cls === 0 && i.code !== 0x18)) return undefined;
        const writes = cls === 4 || cls === 7 || cls === 1 || i.code === 0x18 ? i.dst === r
          : cls === 3 && (i.code & 0xe0) === 0xc0 ? i.src === r || r === 0 : false;
        if (!writes) continue;
        const add = i.code === 0x07 || (i.code === 0x04 && !wide);
        if (step !== undefined || k !== e || !add || i.imm === 0) return undefined;
        step = i.imm;
        incAt = b.pcs.indexOf(pc);
      }
    }
    // jlt: counting up to a limit below 2^31, so the register reaches it before it could wrap.
    if (step === undefined || (op === 0xa0 && (step < 0 || j.imm < 0))) return undefined;
    if (leaveAt !== undefined && step < 0) return undefined;
    // Deferred budget (settleBudget): the blocks a chain (each one's only successor inside
    // the loop the next, the last's the header), no exit inside; 64-bit counting, or 32-bit
    // with a step no larger than the iteration's cost (the iterations the copy runs cost at
    // most the budget, below 2^32: the counter's low half moves less than 2^32 in them, and
    // its distance from the entry value, mod 2^32, is the iterations times the step).
    let chain = wide || Math.abs(step) <= cost;
    for (let k = h; k <= e && chain; k++) {
      for (const t of this.succBlocks(f, k)) if (t >= h && t <= e && t !== (k === e ? h : k + 1)) chain = false;
      if (f.blocks[k]!.pcs.some((pc) => this.ins[pc]!.code === 0x95)) chain = false;
    }
    return { reg: r, step, limit: j.imm, wide, ne: op === 0x50, cost, latch: lastPc, h, e, incAt, chain, ...(leaveAt !== undefined ? { leaveAt } : {}) };
  },

  /**
   * In a counted loop's unchecked copy with its budget deferred (the budget local keeps its
   * value at the loop's entry, the blocks charge nothing): sets it to what the per-block
   * charges would have left at block `j`'s start, block j charged whole (as `block` leaves
   * it) — the iterations done from the counter's distance from its entry value (SPARE),
   * times the iteration's cost, plus the blocks of this iteration up to j. `m`: the
   * instruction of block j being emitted (past the loop's increment, this iteration counts
   * as done); -1 after the latch.
   */
  settleBudget(this: Gen, j: number, m: number): void {
    const l = this.deferred!;
    const c = this.c;
    const a = Math.abs(l.step);
    if (l.wide) {
      if (l.step > 0) c.get(R(l.reg)).get(SPARE).op(Op.i64_sub);
      else c.get(SPARE).get(R(l.reg)).op(Op.i64_sub);
    } else {
      // (32-bit counting: the distance in the low half; countedLoop keeps it below 2^32)
      if (l.step > 0) c.get(R(l.reg)).op(Op.i32_wrap_i64).get(SPARE).op(Op.i32_wrap_i64);
      else c.get(SPARE).op(Op.i32_wrap_i64).get(R(l.reg)).op(Op.i32_wrap_i64);
      c.op(Op.i32_sub).op(Op.i64_extend_i32_u);
    }
    if ((a & (a - 1)) === 0) c.i64c(Math.log2(a)).op(Op.i64_shr_u);
    else c.i64c(a).op(Op.i64_div_u);
    c.op(Op.i32_wrap_i64).set(CODE);
    // Charged so far in this iteration: the blocks up to j, j whole (as `block` charges it).
    let prefix = 0;
    for (let k = l.h; k <= j && m >= 0; k++) prefix += this.f.blocks[k]!.pcs.length;
    // Past the increment (or after the latch) the current iteration is among those done.
    const incremented = m < 0 || (j === l.e && m > l.incAt);
    if (incremented && m >= 0) prefix -= l.cost;
    c.get(BUD).get(CODE).i32c(l.cost).op(Op.i32_mul).op(Op.i32_sub);
    if (prefix) c.i32c(prefix).op(Op.i32_sub);
    c.set(BUD);
  },

  /**
   * The exits of chain loop `l` (its blocks run in order, every iteration, each exit a
   * conditional jump out of it, the latch's fall-through the last) when every one compares,
   * unsigned (gt, ge, lt, le), a value moving with the iterations (an induction variable:
   * a register whose only write in the loop is one add of a constant, plus a constant; or
   * its low half, in a 32-bit compare) with one that does not (a register the loop never
   * writes, or a constant), or two that do not; with the steps of the induction variables.
   * Undefined when any does not.
   */
  groupExits(this: Gen, f: Func, l: CountedLoop): Group | undefined {
    const writes = new Array<number>(11).fill(0);
    const steps = new Map<number, bigint>();
    const wrote = (i: Insn): number[] => {
      const cls = i.code & 7;
      if (cls === 4 || cls === 7 || cls === 1 || i.code === 0x18) return [i.dst];
      if (cls === 3 && (i.code & 0xe0) === 0xc0) return [i.src, 0];
      return [];
    };
    for (let k = l.h; k <= l.e; k++) {
      for (const pc of f.blocks[k]!.pcs) {
        const i = this.ins[pc]!;
        for (const r of wrote(i)) {
          writes[r]!++;
          if ((i.code === 0x07 || i.code === 0x04) && i.imm !== 0) steps.set(r, BigInt(i.imm));
          else steps.delete(r);
        }
      }
    }
    for (const r of [...steps.keys()]) if (writes[r] !== 1) steps.delete(r);
    const st: (Aff | undefined)[] = [];
    // (one counting in 32 bits is zero-extended at each step: only its low half is affine)
    const low = new Set<number>();
    for (let k = l.h; k <= l.e; k++) for (const pc of f.blocks[k]!.pcs) if (this.ins[pc]!.code === 0x04 && steps.has(this.ins[pc]!.dst)) low.add(this.ins[pc]!.dst);
    for (let r = 0; r <= 10; r++) st[r] = steps.has(r) ? { iv: r, c: 0n, w32: low.has(r) } : writes[r] === 0 ? { inv: r } : undefined;
    const exits: GroupExit[] = [];
    const access: GroupAccess[] = [];
    for (let k = l.h; k <= l.e; k++) {
      const pcs = f.blocks[k]!.pcs;
      for (const pc of pcs) {
        const i = this.ins[pc]!;
        const cls = i.code & 7;
        const op = i.code & 0xf0;
        // A load (ldx) or store (st, stx; not an atomic) through a 64-bit value, that nothing
        // proved in bounds: the round's test may show it inside the packet in every iteration.
        const mode = i.code & 0xe0;
        if ((cls === 1 && (mode === 0x60 || mode === 0x80)) || ((cls === 2 || cls === 3) && mode === 0x60)) {
          const a = st[cls === 1 ? i.src : i.dst];
          // (the batch code's data/data_end loads read no memory)
          const ctxWord = this.batchMode && (this.facts[pc] === FACT_DATA || this.facts[pc] === FACT_DATA_END);
          if (a && !('imm' in a) && !('iv' in a && a.w32) && !ctxWord && this.unproven(pc)) {
            const size = [4, 2, 1, 8][(i.code >> 3) & 3]!;
            access.push({ pc, a, off: i.off, size, write: cls !== 1 });
          }
        }
        if (cls === 5 || cls === 6) {
          if (op === 0x00 || op === 0x80 || op === 0x90 || op === 0xe0 || op === 0xf0) return undefined;
          const t = f.index.get(pc + 1 + i.off);
          const inside = t !== undefined && t >= l.h && t <= l.e;
          if (pc !== l.latch && inside) {
            if (t !== k + 1 || pc !== pcs[pcs.length - 1]) return undefined;
            exits.push({ pc, k: -1, wide: true, a: { imm: 0n }, b: { imm: 0n }, stay: true }); // (both edges to the next block)
            continue;
          }
          let kk = op >> 4;
          const a = st[i.dst];
          const b = i.code & 8 ? st[i.src] : { imm: BigInt(i.imm) };
          if (a === undefined || b === undefined) return undefined;
          if ('iv' in a && 'iv' in b) return undefined;
          if (cls === 5 && (('iv' in a && a.w32) || ('iv' in b && b.w32))) return undefined;
          let stay = pc === l.latch;
          if (kk === 1 || kk === 5) {
            // jeq, jne: a moving value stays unequal to a still one while it stays on one side
            // of it (a latch `jne` keeps going, an exit `jeq` leaves): tested as that side,
            // `<` counting up, `>` down (conservative: a round from the other side is checked).
            const m = 'iv' in a ? a : 'iv' in b ? b : undefined;
            if (!m || stay !== (kk === 5)) return undefined;
            const up = (steps.get(m.iv)! > 0n) === ('iv' in a);
            kk = stay ? (up ? 10 : 2) : (up ? 3 : 11);
          }
          if (kk !== 2 && kk !== 3 && kk !== 10 && kk !== 11) return undefined;
          exits.push({ pc, k: kk, wide: cls === 5, a, b, stay });
          continue;
        }
        const x = st;
        const src: Aff | undefined = i.code & 8 ? x[i.src] : undefined;
        // (a move with an offset is a sign-extending one, movsx: not the value moved)
        if (i.code === 0xbf) x[i.dst] = i.off === 0 ? src : undefined;
        else if (i.code === 0xb7) x[i.dst] = { imm: BigInt(i.imm) };
        else if (i.code === 0x0f) {
          // add r, r: an induction variable plus a register the loop never writes (64-bit)
          const d = x[i.dst];
          const iv = d && 'iv' in d && !d.w32 && d.base === undefined && src && 'inv' in src ? { ...d, base: src.inv }
            : d && 'inv' in d && src && 'iv' in src && !src.w32 && src.base === undefined ? { ...src, base: d.inv } : undefined;
          x[i.dst] = iv;
        } else if (i.code === 0x07 || i.code === 0x17 || i.code === 0x04) {
          const d = x[i.dst];
          const by = BigInt(i.code === 0x17 ? -i.imm : i.imm);
          x[i.dst] = d && 'iv' in d && !(d.base !== undefined && i.code === 0x04) ? { ...d, c: d.c + by, w32: d.w32 || i.code === 0x04 } : d && 'imm' in d && i.code !== 0x04 ? { imm: BigInt.asIntN(64, d.imm + by) } : undefined;
        } else if (i.code === 0xbc) x[i.dst] = i.off === 0 && src && 'iv' in src && src.base === undefined ? { ...src, w32: true } : undefined;
        else for (const r of wrote(i)) x[r] = undefined;
      }
    }
    // (the moves in a round stay far from wrapping: |step| * (rounds - 1) below 2^31)
    for (const s of steps.values()) if ((s < 0n ? -s : s) * BigInt(groupSize(l) - 1) >= 1n << 31n) return undefined;
    return exits.some((x) => x.pc === l.latch) ? { exits, steps, access, latch: l.latch } : undefined;
  },

  /**
   * Leaves the innermost block unless no exit of `g` is taken in the `n` iterations from
   * here: each compare gives its `stay` value in the first and the last of them, and the
   * moving value does not wrap between (then it gives it in every one: the compare is
   * monotonic in it).
   */
  groupTest(this: Gen, g: Group, n: number, lastLatch: boolean): void {
    const c = this.c;
    const CMP = { 2: [Op.i64_gt_u, Op.i32_gt_u], 3: [Op.i64_ge_u, Op.i32_ge_u], 10: [Op.i64_lt_u, Op.i32_lt_u], 11: [Op.i64_le_u, Op.i32_le_u] } as Record<number, [number, number]>;
    /** The value at iteration j of the round. */
    const value = (x: Aff, j: number, wide: boolean): void => {
      if ('imm' in x) { if (wide) c.i64c(BigInt.asIntN(64, x.imm)); else c.i32c(Number(BigInt.asIntN(32, x.imm))); return; }
      if ('inv' in x) { c.get(R(x.inv)); if (!wide) c.op(Op.i32_wrap_i64); return; }
      const add = x.c + g.steps.get(x.iv)! * BigInt(j);
      c.get(R(x.iv));
      if (x.base !== undefined) c.get(R(x.base)).op(Op.i64_add);
      if (wide) { if (add) c.i64c(BigInt.asIntN(64, add)).op(Op.i64_add); }
      else { c.op(Op.i32_wrap_i64); if (BigInt.asIntN(32, add)) c.i32c(Number(BigInt.asIntN(32, add))).op(Op.i32_add); }
    };
    for (const x of g.exits) {
      if (x.k < 0) continue;
      const [op64, op32] = CMP[x.k]!;
      const moving = 'iv' in x.a ? x.a : 'iv' in x.b ? x.b : undefined;
      if (moving) {
        // no wrap: the last value on the step's side of the first (|move| < 2^31)
        const up = g.steps.get(moving.iv)! > 0n;
        value(moving, n - 1, x.wide);
        value(moving, 0, x.wide);
        c.op(x.wide ? (up ? Op.i64_lt_u : Op.i64_gt_u) : (up ? Op.i32_lt_u : Op.i32_gt_u));
        c.u8(Op.br_if).u32(0);
      }
      // (with lastLatch the latch keeps the loop going in all but the last iteration, whose latch is tested)
      const last = lastLatch && x.pc === g.latch ? n - 2 : n - 1;
      for (const j of moving ? (last > 0 ? [0, last] : [0]) : [0]) {
        value(x.a, j, x.wide);
        value(x.b, j, x.wide);
        c.op(x.wide ? op64 : op32);
        if (x.stay) c.op(Op.i32_eqz);
        c.u8(Op.br_if).u32(0);
      }
    }
    // The accesses: the first and the last iteration's inside the packet (the range a write
    // may take, for a store), the address not wrapping between (then every one is inside).
    for (const x of g.access) {
      const at = (j: number): void => { value(x.a, j, true); if (x.off) c.i64c(x.off).op(Op.i64_add); };
      if ('iv' in x.a) {
        at(n - 1);
        at(0);
        c.op(g.steps.get(x.a.iv)! > 0n ? Op.i64_lt_u : Op.i64_gt_u).u8(Op.br_if).u32(0);
      }
      const [lo, hi] = x.write ? [PW_LO, PW_HI] : [P_LO, P_HI];
      for (const j of 'iv' in x.a ? [0, n - 1] : [0]) {
        at(j);
        c.get(lo).op(Op.i64_lt_u).u8(Op.br_if).u32(0);
        at(j);
        c.get(hi).i64c(x.size).op(Op.i64_sub).op(Op.i64_gt_u).u8(Op.br_if).u32(0);
      }
    }
  },

  /** Whether block `j` lies outside the deferred loop (a jump there leaves it). */
  leavesDeferred(this: Gen, t: number): boolean {
    const l = this.deferred;
    if (!l) return false;
    const j = t >= 0 && t < this.n ? this.f.index.get(t) : undefined;
    return j === undefined || j < l.h || j > l.e;
  },

  /**
   * Leaves 1 (i32) when the budget covers every iteration of a counted loop from here
   * (then no block in it can run out), 0 otherwise: the iterations `n` from the register's
   * value on entry, and n * cost <= budget.
   */
  enoughBudget(this: Gen, l: CountedLoop): void {
    const c = this.c;
    const a = Math.abs(l.step);
    if (l.leaveAt !== undefined) {
      // The header runs n times: once when the register is already at leaveAt or past it,
      // else ceil((leaveAt - r) / step) + 1 (counting up from below 2^31 by less than 2^31:
      // no wrap); each of the n - 1 before the last a whole iteration. n * cost <= budget.
      if (l.wide) c.get(R(l.reg)).set(TMP);
      else c.get(R(l.reg)).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_u).set(TMP);
      c.i64c(l.leaveAt).get(TMP).op(Op.i64_sub).i64c(0).get(TMP).i64c(l.leaveAt).op(Op.i64_lt_u).op(Op.select);
      c.i64c(a - 1).op(Op.i64_add).i64c(a).op(Op.i64_div_u).i64c(1).op(Op.i64_add);
      c.get(BUD).op(Op.i64_extend_i32_u).i64c(l.cost).op(Op.i64_div_u);
      c.op(Op.i64_le_u);
      return;
    }
    // distance: how far the register has to go (64-bit, or 32-bit zero-extended).
    if (l.wide) {
      if (l.step > 0) c.i64c(l.limit).get(R(l.reg)).op(Op.i64_sub);
      else c.get(R(l.reg)).i64c(l.limit).op(Op.i64_sub);
    } else {
      if (l.step > 0) c.i32c(l.limit).get(R(l.reg)).op(Op.i32_wrap_i64).op(Op.i32_sub);
      else c.get(R(l.reg)).op(Op.i32_wrap_i64).i32c(l.limit).op(Op.i32_sub);
      c.op(Op.i64_extend_i32_u);
    }
    c.set(TMP);
    if (l.ne) {
      // r != K: the loop ends exactly when r reaches K, after distance / step iterations
      // when the step divides the distance.
      c.get(TMP).i64c(a).op(Op.i64_rem_u).op(Op.i64_eqz);
      c.get(TMP).i64c(a).op(Op.i64_div_u);
    } else {
      // r < K (unsigned): it ends within ceil(distance / step) iterations: exactly that
      // from r < K; from r > K, at the first if r + step does not wrap, else once r is
      // back at K or more (the distance again).
      c.get(TMP).i64c(a - 1).op(Op.i64_add).i64c(a).op(Op.i64_div_u);
    }
    // 1 <= n <= budget / cost, as one unsigned compare (distance 0, n = 0, would go round
    // the whole range: left to the checked copy).
    c.i64c(1).op(Op.i64_sub);
    c.get(BUD).op(Op.i64_extend_i32_u).i64c(l.cost).op(Op.i64_div_u);
    c.op(Op.i64_lt_u);
    if (l.ne) c.op(Op.i32_and);
  },

  succBlocks(this: Gen, f: Func, k: number): number[] {
    const b = f.blocks[k]!;
    return successors(this.ins, b.pcs[b.pcs.length - 1]!).map((t) => f.index.get(t)).filter((j): j is number => j !== undefined);
  },
} satisfies Pick<Gen, 'layout' | 'countedLoop' | 'settleBudget' | 'groupExits' | 'groupTest' | 'leavesDeferred' | 'enoughBudget' | 'succBlocks'>;
