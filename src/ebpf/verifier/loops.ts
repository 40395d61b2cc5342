/**
 * Loops the kernel walks to their end (is_state_visited's path exploration), where nkemu's
 * dataflow only finds a fixpoint. For a program with a back-edge, its paths are walked
 * with the same transfer function (the kernel's scalar bounds, branches decided on them
 * as is_branch_taken decides), to find what the kernel refuses for certain:
 *  - a stretch of decided branches that comes back to a state equal to one earlier in it:
 *    the loop never ends (EINVAL, `infinite loop detected at insn N`);
 *  - more instructions than the complexity limit that the kernel surely processes
 *    (E2BIG, `BPF program is too large. Processed 1000001 insn`): those of blocks on a
 *    path whose every branch the kernel takes as nkemu does (both edges of a branch on
 *    values nkemu knows as the kernel does, in the kernel's order), up to a prune point
 *    where the kernel may hold a finished state to prune against (past one, nothing
 *    behind it is certain);
 *  - more branches pending on such a path than the kernel holds (E2BIG, `The sequence of
 *    8193 jumps is too complex.`).
 * A branch on a value nkemu does not know as the kernel does (`split`: the kernel may
 * decide it) makes the paths behind it uncertain: they count for nothing. The walk gives
 * up, refusing nothing, past a budget of its own.
 */

import { CallKind, Jmp, LDDW, Pseudo, cls, decode, op } from '../insn.js';
import { fail, VerifierError } from './base.js';
import { isJmp } from './slots.js';
import { callbackEntry, cloneState, entryState, F, K, type Ctx, type State } from './state.js';
import { type Sc, UNKNOWN, isConst } from './scalar.js';
import { callbackRoots, leaders, step } from './dataflow.js';
import { jumpTarget } from './funcs.js';

/**
 * Steps the walk may take in all, and branches it may split on, before it gives up (no
 * verdict): a stretch of decided branches needs the limit's steps to be refused, while
 * splits add certainty only where most of what the walk went through counts (so the
 * second budget holds only while less than half of it does).
 */
const WALK_BUDGET = 1_100_000;
const MAX_SPLITS = 20_000;
/**
 * Backward jumps looked back along a path for an exact repeat, and how many of a stretch
 * are kept: a loop that repeats later than that is still refused, by its length (E2BIG).
 */
const LOOK_BACK = 64;
/** BPF_COMPLEXITY_LIMIT_JMP_SEQ: branches pushed for later (push_stack) the kernel holds at once. */
const JMP_SEQ_LIMIT = 8192;
const TRAIL_MAX = 512;

interface Node {
  pc: number;
  /** The last pc of its block. */
  last: number;
  key: number;
  parent: Node | null;
  /** Children not finished yet. */
  pending: number;
}

/**
 * The states a path had at its backward jumps (where the kernel checks for a loop: it
 * forces a checkpoint there), newest first, with the stretch each was in.
 */
interface Trail { pc: number; s: State; key: string | null; seg: number; count: number; next: Trail | null }
const trailKey = (t: Trail): string => (t.key ??= stateKey(t.s));

/** A scalar's every bound, as a key (a constant by its value). */
const scKey = (v: Sc): string => (isConst(v) ? `${v.tv}` : v === UNKNOWN ? 'u' : `${v.umin}:${v.umax}:${v.smin}:${v.smax}:${v.u32min}:${v.u32max}:${v.s32min}:${v.s32max}:${v.tv}:${v.tm}`);

/**
 * A state's kinds and offsets, hashed: a node whose state has such a key explored once need
 * not be explored again (skipping a path never makes the walk refuse what it would not
 * have, and what the kernel may do there is no longer certain; nor does a collision, then).
 */
function coarseKey(s: State): number {
  let h1 = 0x9e3779b9;
  let h2 = 0x85ebca6b;
  const mix = (x: number): void => {
    h1 = Math.imul(h1 ^ x, 0x01000193);
    h2 = Math.imul((h2 + x) ^ (h2 >>> 15), 0x2c1b3c6d);
  };
  for (let r = 0; r < 11; r++) {
    const kind = s.k[r]!;
    // (a pointer at a variable offset: as untyped as nkemu once left it)
    if (kind !== K.SCALAR && kind !== K.INIT && kind !== 0 && s.v[r]) { mix(1); mix(0); continue; }
    mix(kind);
    mix(kind === 0 ? 0 : s.o[r]! | 0);
  }
  // (the spills and ctx slots in any order: a sum)
  let sum = 0;
  if (s.spill) for (const [a, b] of s.spill) sum = (sum + Math.imul(a ^ Math.imul(b | 0, 0x27d4eb2d), 0x165667b1)) | 0;
  mix(sum);
  sum = 0;
  if (s.kst) {
    for (const [a, b] of s.kst) {
      let x = a;
      for (let c = 0; c < b.length; c++) x = Math.imul(x ^ b.charCodeAt(c), 0x01000193);
      sum = (sum + x) | 0;
    }
  }
  mix(sum);
  return (h1 >>> 0) * 0x200000 + (h2 >>> 11);
}

/** A state as a key: every bound and link (two states with one key are the same to the kernel). */
function stateKey(s: State): string {
  let k = '';
  for (let r = 0; r < 11; r++) {
    const kind = s.k[r]!;
    if (kind === 0) { k += ';'; continue; }
    const v = s.v[r];
    k += `${kind}${s.f[r]! & F.PKT_MARK ? 'm' : ''}${s.f[r]! & F.MAYBE_VALUE ? 'v' : ''},${s.o[r]},${s.r[r]},${s.id[r] ? `${s.id[r]}${Number.isNaN(s.dl[r]!) ? '' : `${s.f[r]! & F.ADDC32 ? 'w' : 'd'}${s.dl[r]}`}` : ''},${v === null || v === undefined ? '' : scKey(v)};`;
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

/** Helpers that call a callback in place (is_sync_callback_calling_insn): for_each_map_elem, find_vma, loop, user_ringbuf_drain. */
const SYNC_CALLBACK_HELPERS = new Set([164, 180, 181, 209]);

/**
 * Where the kernel looks for an equal explored state to prune against (is_prune_point): a
 * conditional jump, a call and the instruction after it, a jump's target (a function's
 * entry). Not an exit, nor the fall-through of a conditional jump. 2 where it may prune
 * against a state it has not finished: an open-coded iterator's next (any kfunc call,
 * here), a callback-calling helper, may_goto.
 */
function prunePoints(v: Ctx): Uint8Array {
  const p = new Uint8Array(v.n + 1);
  for (let pc = 0; pc < v.n; pc++) {
    if (v.second[pc]) continue;
    const i = decode(v.prog, pc);
    if (i.code === LDDW && i.src === Pseudo.FUNC) { p[pc] = p[pc + 2] = p[pc + i.imm + 1] = 1; continue; }
    if (!isJmp(cls(i.code))) continue;
    const o = op(i.code);
    if (o === Jmp.EXIT) continue;
    if (o === Jmp.CALL) {
      p[pc] = (i.src === CallKind.KFUNC || (i.src === CallKind.HELPER && SYNC_CALLBACK_HELPERS.has(i.imm))) ? 2 : 1;
      p[pc + 1] = 1;
      if (i.src === CallKind.LOCAL) p[pc + i.imm + 1] = 1;
      continue;
    }
    if (o === Jmp.MAY_GOTO) { p[pc] = 2; p[jumpTarget(i, pc)!] = 1; continue; }
    if (o !== Jmp.JA) p[pc] = 1;
    const t = jumpTarget(i, pc);
    if (t !== undefined) p[t] = 1;
  }
  return p;
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
  const done = new Map<number, Set<number>>();
  const work: { pc: number; s: State; parent: Node | null; seg: number; trail: Trail | null; cert: boolean }[] = [];
  let segs = 0;
  let steps = 0;
  let splits = 0;
  // Instructions the kernel surely processes (see `certain` below), and the pcs where it may
  // hold a finished state to prune against: pcs of finished nodes, and every pc a node nkemu
  // skipped (its key seen) leads to. It looks for one only at its prune points.
  let certain = 0;
  const completed = new Uint8Array(v.n);
  const tainted = new Uint8Array(v.n);
  const prune = prunePoints(v);
  /** Whether the kernel may prune there, ending the path (nothing behind it is certain). */
  const mayPrune = (pc: number): boolean => prune[pc] === 2 || (prune[pc] === 1 && (completed[pc] === 1 || tainted[pc] === 1));
  /**
   * The instructions of a block from `from` to its static end the kernel processes when it
   * comes there on the path nkemu walked (a block nkemu skips): up to where it may prune.
   */
  const processed = (from: number): number => {
    let k = 0;
    for (let pc = from; pc < v.n; pc++) {
      if (v.second[pc]) continue;
      if (mayPrune(pc)) break;
      k++;
      if (isJmp(cls(v.prog[pc * 8]!)) || lead[pc + 1]) break;
    }
    return k;
  };
  const count = (k: number, pc: number): void => {
    certain += k;
    if (certain > limit) fail('E2BIG', pc, `BPF program is too large. Processed ${limit + 1} insn`);
  };
  let returns: number[] | null = null;
  const returnSites = (): number[] => (returns ??= v.calls.flat().map((c) => c.pc + 1));
  const taint = (from: number): void => {
    if (tainted[from]) return;
    const stack = [from];
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (pc < 0 || pc >= v.n || tainted[pc]) continue;
      tainted[pc] = 1;
      const i = decode(v.prog, pc);
      const c = cls(i.code);
      if (i.code === LDDW) { stack.push(pc + 2); continue; }
      if (!isJmp(c)) { stack.push(pc + 1); continue; }
      const o = op(i.code);
      // (a function's exit returns to wherever it is called from)
      if (o === Jmp.EXIT) { if (v.funcOf[pc] !== 0) stack.push(...returnSites()); continue; }
      if (o === Jmp.CALL) { stack.push(pc + 1); if (i.src === CallKind.LOCAL) stack.push(pc + i.imm + 1); continue; }
      const t = jumpTarget(i, pc);
      if (t !== undefined) stack.push(t);
      if (o !== Jmp.JA) stack.push(pc + 1);
    }
  };
  const finish = (n: Node | null): void => {
    while (n) {
      if (--n.pending > 0) return;
      let set = done.get(n.pc);
      if (!set) done.set(n.pc, (set = new Set()));
      set.add(n.key);
      completed.fill(1, n.pc, n.last + 1);
      n = n.parent;
    }
  };
  for (const f of callbackRoots(v)) work.push({ pc: f, s: callbackEntry(), parent: null, seg: ++segs, trail: null, cert: false });
  // (under the main program's items in the stack, walked after it: not the kernel's)
  const roots = work.length;
  work.push({ pc: 0, s: entryState(v.o.type), parent: null, seg: ++segs, trail: null, cert: true });

  while (work.length > 0) {
    const it = work.pop()!;
    const key = coarseKey(it.s);
    if (done.get(it.pc)?.has(key)) {
      // (nkemu skips it; the kernel may not)
      if (it.cert) count(processed(it.pc), it.pc);
      taint(it.pc);
      if (it.parent) finish(it.parent);
      continue;
    }
    const node: Node = { pc: it.pc, last: it.pc, key, parent: it.parent, pending: 1 };
    // Walk the block.
    let pc = it.pc;
    let s = it.s;
    let out: { to: number; s: State }[];
    let trail = it.trail;
    // A block on a path whose every branch the kernel takes too, up to where it may prune
    // (it walks in the same order: it finishes its states when nkemu does, or later): the
    // kernel processes it, whatever it prunes elsewhere. Past the limit of those, it refuses;
    // it finds a loop only there.
    let cert = it.cert;
    for (;;) {
      if (++steps > WALK_BUDGET) return;
      if (cert && mayPrune(pc)) cert = false;
      if (cert) count(1, pc);
      const atBack = back[pc] && !(trail && trail.seg === it.seg && trail.count >= TRAIL_MAX);
      // (keys made only when the stretch comes back to a pc: most end before that)
      let key: string | null = null;
      let again = false;
      if (atBack) {
        for (let t = trail, m = 0; t && t.seg === it.seg && m < LOOK_BACK; t = t.next, m++) {
          if (t.pc === pc && trailKey(t) === (key ??= stateKey(s))) { again = true; break; }
        }
      }
      if (again) {
        if (cert) fail('EINVAL', pc, `infinite loop detected at insn ${pc}`);
        // (a path the kernel may not walk: nkemu goes no further on it, and what follows is
        // not certain anywhere)
        out = [];
        taint(pc);
        break;
      }
      try {
        out = step(v, pc, s, false);
      } catch (e) {
        if (e instanceof VerifierError) return; // (the dataflow's checks decide such programs)
        throw e;
      }
      // (kept only when the stretch goes on: a jump that does not split leaves the state as it was)
      if (atBack && out.length === 1) {
        trail = { pc, s: cloneState(out[0]!.s), key, seg: it.seg, count: trail && trail.seg === it.seg ? trail.count + 1 : 1, next: trail };
      }
      if (out.length !== 1 || lead[out[0]!.to]) break;
      pc = out[0]!.to;
      s = out[0]!.s;
    }
    node.last = pc;
    if (out.length === 0) {
      finish(node);
      continue;
    }
    node.pending = out.length;
    // A split (both edges of a branch, or a call and its return) starts new stretches.
    const split = out.length > 1;
    // (splits are a budget of their own, but not while most of the walk is certain)
    if (split && ++splits > MAX_SPLITS && certain * 2 < steps) return;
    // (a branch the kernel may decide otherwise leaves `split` set; only a conditional jump's
    // two edges are walked in the kernel's order: not a bpf-to-bpf call, which the kernel
    // walks into, not beside, nor a scalar forked in two)
    const i = decode(v.prog, pc);
    const ordered = !split || (isJmp(cls(i.code)) && op(i.code) !== Jmp.CALL);
    // Each branch both of whose edges the kernel walks pushes one (the jump's) until it
    // comes back to it: past BPF_COMPLEXITY_LIMIT_JMP_SEQ of those pending, it refuses.
    if (split && cert && ordered && !out.some((e) => e.s.split)) {
      const jumps = work.length - roots + 1;
      if (jumps > JMP_SEQ_LIMIT) fail('E2BIG', pc, `The sequence of ${jumps} jumps is too complex.`);
    }
    // The kernel walks the fall-through first and comes back for the jump (push_stack).
    for (let k = out.length - 1; k >= 0; k--) {
      const e = out[k]!;
      // (a new stretch looks back only within itself: the old trail is dropped)
      work.push({ pc: e.to, s: e.s, parent: node, seg: split ? ++segs : it.seg, trail: split ? null : trail, cert: cert && !e.s.split && ordered });
    }
  }
}
