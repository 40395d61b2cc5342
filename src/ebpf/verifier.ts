/**
 * Load-time checks for eBPF programs (spec/ebpf.md §1.13, §6): the structural rules of the
 * kernel verifier plus a register dataflow that tracks the kernel's scalar abstraction
 * (u64/s64/u32/s32 bounds and a tnum per register, verifier/scalar.ts) but joins paths
 * where the kernel walks each one. What is refused here is refused by the kernel too, with
 * the kernel's errno and log text; what passes may still be refused by the kernel (where a
 * refusal depends on a path nkemu joined, on a reference, …), and the interpreter enforces
 * those at run time.
 *
 * Passes, in the kernel's order:
 * 1. each slot: register numbers, known opcode, `lddw` shape, reserved fields, constant
 *    shifts (check_and_resolve_insns, check_insn_fields, check_alu_op);
 * 2. functions: bpf-to-bpf call and callback targets split the image into functions;
 *    every jump stays inside its function and off the second slot of a `lddw`; every
 *    function ends in `exit` or `ja` (add_subprog, check_subprogs);
 * 3. dataflow over the CFG (a forward fixpoint, joined at merge points, bounds refined on
 *    both edges of a branch): registers read before written on some path, writes to r10,
 *    context accesses through a known ctx pointer, stack, map value and packet accesses at
 *    constant and variable offsets, pointer arithmetic limits, helper ids and their
 *    availability (do_check); then loops walked as the kernel walks them (loops.ts);
 * 4. call chains: depth ≤ 8 frames, combined stack ≤ 512 bytes (check_max_stack_depth).
 * Passes 1–3 live in verifier/ (slots.ts, funcs.ts, state.ts with dataflow.ts; log.ts
 * prints instructions and states as the kernel's log does); this file runs them in order,
 * then pass 4.
 */

import { loopCheck } from './verifier/loops.js';
import type { ProgType } from './ctx.js';
import { CallKind, decode, slots } from './insn.js';
import { KFUNCS, kfuncName } from './helpers.js';
import { BPF_COMPLEXITY_LIMIT_INSNS, MAX_BPF_STACK, MAX_CALL_FRAMES, type CtxAccess, type VerifyOptions, type VerifyResult, fail } from './verifier/base.js';
import { checkSlots } from './verifier/slots.js';
import { checkReachable, checkSubprogs, findFuncs, isCallLocal } from './verifier/funcs.js';
import { type Ctx, type State, joinLost } from './verifier/state.js';
import { dataflow } from './verifier/dataflow.js';

export type { ProgType } from './ctx.js';
export { BPF_COMPLEXITY_LIMIT_INSNS, BPF_MAXINSNS, MAX_BPF_STACK, MAX_CALL_FRAMES, VerifierError, type CtxAccess, type VerifyOptions, type VerifyResult } from './verifier/base.js';
export { kernelInsn } from './verifier/log.js';

// ---------------------------------------------------------------------------------------
// Pass 4: call chains.

/** round_up_stack_depth for a JIT-requested program: 16-byte frames. */
const roundStack = (d: number): number => Math.ceil(d / 16) * 16;

function checkCallChains(v: Ctx): number {
  let maxFrames = 1;
  const walk = (f: number, frames: number, depth: number, pc: number): void => {
    if (frames > MAX_CALL_FRAMES) fail('E2BIG', pc, `the call stack of ${frames} frames is too deep !`);
    const total = depth + roundStack(v.depth[f]!);
    if (total > MAX_BPF_STACK) fail('EACCES', pc, `combined stack size of ${frames} calls is ${total}. Too large`);
    maxFrames = Math.max(maxFrames, frames);
    for (const c of v.calls[f]!) walk(c.callee, frames + 1, total, c.pc);
  };
  walk(0, 1, 0, 0);
  // Callbacks run on their own frame chains (kernel: async callbacks and bpf_loop bodies).
  for (let f = 1; f < v.funcs.length; f++) {
    if (!v.calls.some((cs) => cs.some((c) => c.callee === f))) walk(f, 1, 0, v.funcs[f]!);
  }
  return maxFrames;
}

// ---------------------------------------------------------------------------------------

/**
 * Checks a program image (raw 8-byte slots) for a program type. Throws VerifierError
 * with the kernel's errno and log text; returns per-function stack use, the deepest call
 * chain, function starts and the context accesses it found.
 */
/**
 * add_kfunc_call, as add_subprog_and_kfunc meets each kfunc call before the walk: the XDP RX
 * metadata kfuncs need a device-bound program, and nkemu loads none.
 */
function checkKfuncs(prog: Uint8Array, n: number, second: Uint8Array): void {
  for (let pc = 0; pc < n; pc++) {
    if (second[pc]) continue;
    const i = decode(prog, pc);
    if (i.code !== 0x85 || i.src !== CallKind.KFUNC) continue;
    const name = kfuncName(i.imm);
    if (name !== undefined && KFUNCS.get(name)!.devBound) fail('EINVAL', pc, 'metadata kfuncs require device-bound program');
  }
}

export function verify(prog: Uint8Array, o: VerifyOptions): VerifyResult {
  const maxInsns = o.maxInsns ?? BPF_COMPLEXITY_LIMIT_INSNS;
  if (prog.length === 0) fail('EINVAL', -1, 'empty program');
  if (prog.length % 8 !== 0) fail('EINVAL', -1, `program size ${prog.length} is not a multiple of 8`);
  const n = slots(prog);
  if (n > maxInsns) fail('E2BIG', -1, `BPF program is too large. Processed ${n} insn`);

  const second = checkSlots(prog, n, o);
  checkKfuncs(prog, n, second);
  const funcs = findFuncs(prog, n, second, o.subprogs ?? []);
  checkSubprogs(prog, n, second, funcs);
  checkReachable(prog, n, second, funcs);

  const funcOf = new Int32Array(n);
  for (let f = 0; f < funcs.length; f++) funcOf.fill(f, funcs[f]!, f + 1 < funcs.length ? funcs[f + 1]! : n);
  const calls: { pc: number; callee: number }[][] = funcs.map(() => []);
  for (let pc = 0; pc < n; pc++) {
    if (second[pc]) continue;
    const i = decode(prog, pc);
    if (isCallLocal(i)) calls[funcOf[pc]!]!.push({ pc, callee: funcs.indexOf(pc + i.imm + 1) });
  }

  const v: Ctx = {
    prog, n, o, second, funcs, funcOf,
    states: new Array<State | undefined>(n),
    depth: funcs.map(() => 0),
    accesses: new Map(),
    calls,
    escapes: false,
  };
  joinLost.ctx = false;
  dataflow(v, maxInsns);
  if (joinLost.ctx) v.escapes = true;
  if (o.loops !== false) loopCheck(v, maxInsns);
  const maxCallDepth = checkCallChains(v);

  return {
    ok: true,
    stackDepth: v.depth,
    maxCallDepth,
    funcs: [...funcs],
    ctxAccesses: [...v.accesses.values()].sort((a, b) => a.pc - b.pc || Number(a.write) - Number(b.write)),
    ctxEscapes: v.escapes,
    provenAccesses: (v.proven ?? new Uint8Array(n)).map((x) => (x === 1 ? 1 : 0)),
  };
}

/** __sk_buff words (8 bytes each) the dataplane copies back to the frame after a program wrote its context. */
const SKB_WRITEBACK_WORDS = [1, 4, 5, 6, 7, 8, 19];
const SKB_WORDS = 24;
/** PR_CTX_USE flags (abi): the program writes context fields; it verified (reads no register before writing it). */
const CTX_WRITES = 0x80000000;
const CTX_VERIFIED = 0x40000000;
/** Every __sk_buff word, and writes: what a program whose context use is unknown gets. */
export const CTX_USE_ALL = (((1 << SKB_WORDS) - 1) | CTX_WRITES) >>> 0;

/**
 * The program record's context use (abi PR_CTX_USE): whether the program verified, and for
 * a `sched_cls` program which __sk_buff words the dataplane must fill before it runs and
 * whether fields go back to the frame after it. Only the words its verified context loads
 * read (plus, when it writes any field, those the write-back copies); every word when the
 * ctx pointer escapes the dataflow, the program does not verify, or it is of another type
 * (an `xdp` program: xdpCtxUse).
 */
export function ctxUse(insns: Uint8Array, type: ProgType): number {
  return ctxFacts(insns, type).use;
}

/** PR_CTX_XDP_PLAIN (abi). */
const CTX_XDP_PLAIN = 0x10000000;
/**
 * Helpers that read neither the xdp_md in memory nor the run record's packet description
 * (bounds, metadata): map_lookup_elem, map_update_elem, map_delete_elem, ktime_get_ns,
 * get_prandom_u32, get_smp_processor_id.
 */
export const XDP_PLAIN_HELPERS: ReadonlySet<number> = new Set([1, 2, 3, 5, 7, 8]);

/**
 * A verified `xdp` program's PR_CTX_USE: the xdp_md words (8 bytes each) its context loads
 * read, every word when the ctx pointer escapes or it calls a helper outside
 * XDP_PLAIN_HELPERS, a kfunc or a tail call (a helper may read the context or the
 * record, a tail call's target the context); PR_CTX_XDP_PLAIN when it calls nothing else.
 */
function xdpCtxUse(insns: Uint8Array, accesses: readonly CtxAccess[], escapes: boolean): number {
  let plain = true;
  for (let pc = 0; pc < insns.length / 8; pc++) {
    const i = decode(insns, pc);
    if (i.code === 0x85 && i.src !== CallKind.LOCAL && (i.src !== CallKind.HELPER || !XDP_PLAIN_HELPERS.has(i.imm))) plain = false;
  }
  if (escapes || !plain) return (CTX_USE_ALL | CTX_VERIFIED | (plain ? CTX_XDP_PLAIN : 0)) >>> 0;
  let use = CTX_VERIFIED | CTX_XDP_PLAIN;
  for (const a of accesses) {
    if (a.write) use |= CTX_WRITES;
    else for (let w = a.off >> 3; w <= (a.off + a.size - 1) >> 3; w++) use |= 1 << w;
  }
  return use >>> 0;
}

/**
 * ctxUse, and the verified program's context accesses (for convertCtxAccesses, ctx-convert.ts):
 * undefined when the program does not verify or is of neither type.
 */
export function ctxFacts(insns: Uint8Array, type: ProgType, expectedAttachType?: string): { use: number; accesses?: readonly CtxAccess[]; proven?: Uint8Array } {
  if (type !== 'sched_cls' && type !== 'xdp') return { use: CTX_USE_ALL };
  let r: VerifyResult;
  try {
    r = verify(insns, { type, loops: false, ...(expectedAttachType ? { expectedAttachType } : {}) });
  } catch {
    return { use: CTX_USE_ALL };
  }
  const accesses = r.ctxAccesses;
  const proven = r.provenAccesses;
  if (type === 'xdp') return { use: xdpCtxUse(insns, accesses, r.ctxEscapes), accesses, proven };
  if (r.ctxEscapes) return { use: (CTX_USE_ALL | CTX_VERIFIED) >>> 0, accesses, proven };
  let use = CTX_VERIFIED;
  for (const a of accesses) {
    if (a.write) use |= CTX_WRITES;
    else for (let w = a.off >> 3; w <= (a.off + a.size - 1) >> 3; w++) use |= 1 << w;
  }
  if (use & CTX_WRITES) for (const w of SKB_WRITEBACK_WORDS) use |= 1 << w;
  return { use: use >>> 0, accesses, proven };
}
