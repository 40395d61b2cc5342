/**
 * Loops the kernel walks to their end (is_state_visited's path exploration), where nkemu's
 * dataflow only finds a fixpoint. For a program with a back-edge, its paths are walked
 * with the same transfer function, exactly equal states pruned, to find what the kernel
 * refuses for certain: a stretch of the walk whose every branch was decided by constants
 * (so the kernel, which knows at least those constants, takes the same edges) that
 *  - comes back to a state equal to one earlier in it: the loop never ends
 *    (EINVAL, `infinite loop detected at insn N`), or
 *  - runs longer than the complexity limit: the kernel processes at least those
 *    instructions (E2BIG, `BPF program is too large. Processed 1000001 insn`).
 * A walk that splits on a value nkemu does not know ends no verdict: where the kernel's
 * bounds (which nkemu follows only in part) decide such a branch, nkemu cannot tell, so it
 * refuses nothing there. The walk gives up, refusing nothing, past a budget of its own.
 */

import { cls, decode } from '../insn.js';
import { fail, VerifierError } from './base.js';
import { isJmp } from './slots.js';
import { callbackEntry, entryState, F, K, type Ctx, type State } from './state.js';
import { type Sc, UNKNOWN, isConst } from './scalar.js';
import { callbackRoots, leaders, step } from './dataflow.js';
import { jumpTarget } from './funcs.js';

/**
 * Steps the walk may take in all, and branches it may split on, before it gives up (no
 * verdict): a stretch of decided branches needs the limit's steps to be refused, while
 * splits on unknown values add no certainty, only time.
 */
const WALK_BUDGET = 1_100_000;
const MAX_SPLITS = 20_000;
/**
 * Backward jumps looked back along a path for an exact repeat, and how many of a stretch
 * are kept: a loop that repeats later than that is still refused, by its length (E2BIG).
 */
const LOOK_BACK = 64;
const TRAIL_MAX = 512;

interface Node {
  pc: number;
  key: string;
  parent: Node | null;
  /** Children not finished yet. */
  pending: number;
}

/**
 * The states a path had at its backward jumps (where the kernel checks for a loop: it
 * forces a checkpoint there), newest first, with the stretch each was in.
 */
interface Trail { pc: number; key: string; seg: number; count: number; next: Trail | null }

/** A scalar's every bound, as a key (a constant by its value). */
const scKey = (v: Sc): string => (isConst(v) ? `${v.tv}` : v === UNKNOWN ? 'u' : `${v.umin}:${v.umax}:${v.smin}:${v.smax}:${v.u32min}:${v.u32max}:${v.s32min}:${v.s32max}:${v.tv}:${v.tm}`);

/**
 * A state as a key: `exact`, every bound and link (two states with one key are the same to
 * the kernel); else only kinds and offsets (a node whose state has
 * such a key explored once need not be explored again: skipping a path never makes the
 * walk refuse what it would not have; a packet range decides no branch of it).
 */
function stateKey(s: State, exact: boolean): string {
  let k = '';
  for (let r = 0; r < 11; r++) {
    const kind = s.k[r]!;
    if (kind === 0) { k += ';'; continue; }
    const v = s.v[r];
    if (!exact) {
      // (a pointer at a variable offset: as untyped as nkemu once left it)
      k += kind !== K.SCALAR && kind !== K.INIT && v ? '1,0;' : `${kind},${s.o[r]};`;
      continue;
    }
    k += `${kind}${s.f[r]! & F.PKT_MARK ? 'm' : ''},${s.o[r]},${s.r[r]},${s.id[r] ? `${s.id[r]}${Number.isNaN(s.dl[r]!) ? '' : `${s.f[r]! & F.ADDC32 ? 'w' : 'd'}${s.dl[r]}`}` : ''},${v === null || v === undefined ? '' : scKey(v)};`;
  }
  if (s.spill) for (const [a, b] of [...s.spill].sort((x, y) => x[0] - y[0])) k += `s${a}=${b}`;
  k += '|';
  if (s.kst) for (const [a, b] of [...s.kst].sort((x, y) => x[0] - y[0])) k += `k${a}=${b}`;
  return k;
}

/** The backward jumps (1 at their pc), or undefined when the program has none. */
function backEdges(v: Ctx): Uint8Array | undefined {
  let back: Uint8Array | undefined;
  for (let pc = 0; pc < v.n; pc++) {
    if (v.second[pc]) continue;
    const i = decode(v.prog, pc);
    if (!isJmp(cls(i.code))) continue;
    const t = jumpTarget(i, pc);
    if (t !== undefined && t <= pc) (back ??= new Uint8Array(v.n))[pc] = 1;
  }
  return back;
}

/** Refuses what the kernel's walk of the program's loops refuses for certain (see above). */
export function loopCheck(v: Ctx, limit: number): void {
  const back = backEdges(v);
  if (!back) return;
  // (the walk must not change what the dataflow found)
  const saved = { escapes: v.escapes, depth: v.depth.slice(), accesses: new Map(v.accesses) };
  try {
    walk(v, limit, back);
  } finally {
    v.escapes = saved.escapes;
    v.depth = saved.depth;
    v.accesses = saved.accesses;
  }
}

function walk(v: Ctx, limit: number, back: Uint8Array): void {
  const lead = leaders(v);
  const done = new Map<number, Set<string>>();
  const work: { pc: number; s: State; parent: Node | null; seg: number; det: number; trail: Trail | null }[] = [];
  let segs = 0;
  let steps = 0;
  let splits = 0;
  const finish = (n: Node | null): void => {
    while (n) {
      if (--n.pending > 0) return;
      let set = done.get(n.pc);
      if (!set) done.set(n.pc, (set = new Set()));
      set.add(n.key);
      n = n.parent;
    }
  };
  for (const f of callbackRoots(v)) work.push({ pc: f, s: callbackEntry(), parent: null, seg: ++segs, det: 0, trail: null });
  work.push({ pc: 0, s: entryState(v.o.type), parent: null, seg: ++segs, det: 0, trail: null });

  while (work.length > 0) {
    const it = work.pop()!;
    const key = stateKey(it.s, false);
    if (done.get(it.pc)?.has(key)) {
      if (it.parent) finish(it.parent);
      continue;
    }
    const node: Node = { pc: it.pc, key, parent: it.parent, pending: 1 };
    // Walk the block.
    let pc = it.pc;
    let s = it.s;
    let n = 0;
    let out: { to: number; s: State }[];
    let trail = it.trail;
    for (;;) {
      if (++steps > WALK_BUDGET) return;
      n++;
      if (it.det + n > limit) fail('E2BIG', pc, `BPF program is too large. Processed ${limit + 1} insn`);
      if (back[pc] && !(trail && trail.seg === it.seg && trail.count >= TRAIL_MAX)) {
        const k = stateKey(s, true);
        for (let t = trail, m = 0; t && t.seg === it.seg && m < LOOK_BACK; t = t.next, m++) {
          if (t.pc === pc && t.key === k) fail('EINVAL', pc, `infinite loop detected at insn ${pc}`);
        }
        trail = { pc, key: k, seg: it.seg, count: trail && trail.seg === it.seg ? trail.count + 1 : 1, next: trail };
      }
      try {
        out = step(v, pc, s, false);
      } catch (e) {
        if (e instanceof VerifierError) return; // (the dataflow's checks decide such programs)
        throw e;
      }
      if (out.length !== 1 || lead[out[0]!.to]) break;
      pc = out[0]!.to;
      s = out[0]!.s;
    }
    if (out.length === 0) {
      finish(node);
      continue;
    }
    node.pending = out.length;
    // A split (both edges of a branch, or a call and its return) starts new stretches.
    const split = out.length > 1;
    if (split && ++splits > MAX_SPLITS) return;
    // The kernel walks the fall-through first and comes back for the jump (push_stack).
    for (let k = out.length - 1; k >= 0; k--) {
      const e = out[k]!;
      work.push({ pc: e.to, s: e.s, parent: node, seg: split ? ++segs : it.seg, det: split ? 0 : it.det + n, trail });
    }
  }
}
