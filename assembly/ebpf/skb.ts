// Running an attach point's program list on one packet (netkit.md §4 step 6): the
// __sk_buff is built from the frame's metadata in the thread's BPF area, each program
// runs on the interpreter with its regions (context, packet, its global data and map
// values), writable fields go back to the frame, and the walk stops at the first
// verdict other than NETKIT_NEXT.

import {
  T_BPF, BPF_VM, BPF_SKB, SKB_CTX_SIZE, PGL_COUNT, PGL_PROGS, PGL_JIT, PR_JIT, PR_CTX_USE, PR_CTX_WRITES, PR_ID,
  PR_INSNS, FM_MARK, FM_PRIORITY, FM_TSTAMP,
  FM_INGRESS_IFINDEX, FM_PROTOCOL, FM_PKT_TYPE, FM_HASH, FM_QUEUE_MAPPING, FM_TC_INDEX, FM_CB, FM_VLAN_TCI,
  FM_VLAN_PROTO, NETKIT_NEXT, FRAME_META, GLOBALS, G_FRAME_SIZE, FM_IFINDEX, SKB_MARK, SKB_QUEUE_MAPPING,
  SKB_PRIORITY, SKB_TC_INDEX, SKB_CB, SKB_TSTAMP,
} from "../abi/layout";
import {
  VM_PROG, VM_BUDGET, VM_NREGIONS, VM_REGIONS, VM_REGION_SIZE, VM_REGS, VM_PKT, VM_PKT_LEN, VM_META,
  VM_CTX, VM_REDIRECT_IFINDEX, VM_REDIRECT_FLAGS, VM_REGION_WRITABLE, VM_REGION_SKB_CTX, VM_PKT_LO, VM_PKT_HI,
  VM_PKT_META, VM_PROG_ID,
} from "../abi/vm";
import { threadState } from "../dev/frames";
import { progRun } from "./vm";
import { progPart } from "./helpers";
import { BPF_BATCH, BPF_BATCH_MAX, BPF_BATCH_CTX, BE_DATA, BE_LEN, BE_META, BE_CTX, BE_HI, BE_SIZE } from "../abi/layout";
import { JIT_SLOTS, VM_DEV, VM_BATCH_STOP, VM_BATCH_CHAIN, VM_BATCH_DECLINED, VM_BATCH_SKIP, VM_FAULT, VM_FAULT_PC } from "../abi/vm";
import { BE_LO, BE_AUX2, BE_VERDICT, BE_FAULT, BE_RD_IFINDEX, BE_RD_FLAGS } from "../abi/layout";
import { D_IFINDEX, D_NETNS, PGL_FLAGS, PGLF_INDEPENDENT, PR_CTX_VERIFIED, PR_CTX_TAIL_UNSAFE, PR_CTX_XDP_PLAIN } from "../abi/layout";
import { VM_NETNS } from "../abi/vm";
import { tunnelClear } from "./tunnel";
import { statsOn, statsStart, statsAdd } from "./stats";
import { VM_RUNS } from "../abi/vm";

/** All 24 words of the __sk_buff (PR_CTX_USE's word bits). */
const SKB_WORDS_ALL: u32 = 0xffffff;
/** Words 9 (tc_classid, data) and 10 (data_end, napi_id). */
const SKB_WORDS_DATA: u32 = (1 << 9) | (1 << 10);

/** Instructions one program run may execute (the verifier bounds real programs far below). */
const RUN_BUDGET: u32 = 1000000;

/** Set when the last `runProgs` ended with a fault (the caller counts DROP_BPF_FAULT). */
let lastFault: u32 = 0;
/** Redirect requested by the program that returned the verdict (0 = none). */
let lastRedirectIfindex: u32 = 0;
let lastRedirectFlags: u32 = 0;

export function progsFault(): u32 { return lastFault; }
/** Where the packet is after the list ran (packet helpers may move it within its frame). */
export function progsData(): usize { return lastData; }
export function progsLen(): u32 { return lastLen; }
let lastData: usize = 0;
let lastLen: u32 = 0;
export function progsRedirectIfindex(): u32 { return lastRedirectIfindex; }
export function progsRedirectFlags(): u32 { return lastRedirectFlags; }
/** How many programs of the list the last `runProgs` ran (the walk stops at the first verdict other than NEXT, or a fault). */
export function progsRan(): u32 { return lastRan; }
let lastRan: u32 = 0;

// Small fixed-size copies as plain loads and stores: bulk memory ops on a shared memory
// leave the generated code for a runtime call, which costs more than these few words.
@inline function zero64(p: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i += 8) store<u64>(p + i, 0);
}

@inline function copy32(dst: usize, src: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i += 4) store<u32>(dst + i, load<u32>(src + i));
}

@inline function pair(lo: u32, hi: u32): u64 {
  return <u64>lo | (<u64>hi << 32);
}

/** Word `w` (bytes [8w, 8w + 8)) of the __sk_buff for a packet at `data` whose metadata is at `meta`. */
@inline function skbWord(w: u32, meta: usize, data: usize, len: u32, ifindex: u32): u64 {
  switch (w) {
    case 0: return pair(len, <u32>load<u8>(meta, FM_PKT_TYPE));
    case 1: return pair(load<u32>(meta, FM_MARK), load<u32>(meta, FM_QUEUE_MAPPING));
    // protocol is __be16 in the low half: the frame keeps it in network order.
    case 2: return pair(<u32>load<u16>(meta, FM_PROTOCOL), load<u16>(meta, FM_VLAN_TCI) != 0 ? 1 : 0);
    case 3: return pair(<u32>load<u16>(meta, FM_VLAN_TCI), <u32>load<u16>(meta, FM_VLAN_PROTO));
    case 4: return pair(load<u32>(meta, FM_PRIORITY), load<u32>(meta, FM_INGRESS_IFINDEX));
    case 5: return pair(ifindex, load<u32>(meta, FM_TC_INDEX));
    case 6: return load<u64>(meta, FM_CB);
    case 7: return load<u64>(meta, FM_CB + 8);
    case 8: return pair(load<u32>(meta, FM_CB + 16), load<u32>(meta, FM_HASH));
    case 9: return pair(0, <u32>data); // tc_classid, data
    case 10: return pair(<u32>(data + len), 0); // data_end, napi_id
    case 17: return pair(0, <u32>data); // local_port, data_meta
    case 19: return load<u64>(meta, FM_TSTAMP);
    case 20: return pair(len, 1); // wire_len, gso_segs
    // 11..16 (family .. remote_port), 18 (flow_keys), 21..23 (sk, gso_size, tstamp_type, hwtstamp).
    default: return 0;
  }
}

@inline function fillWord(skb: usize, w: u32, meta: usize, data: usize, len: u32, ifindex: u32): void {
  store<u64>(skb + (<usize>w << 3), skbWord(w, meta, data, len, ifindex));
}

/**
 * Fills the thread's __sk_buff for a packet at `data` (len bytes) whose metadata is at
 * `meta`: the 8-byte words `use` names (abi PR_CTX_USE). Words no program of the list
 * reads keep whatever an earlier packet left there.
 */
function skbFill(skb: usize, meta: usize, data: usize, len: u32, ifindex: u32, use: u32): void {
  let m = use & SKB_WORDS_ALL;
  if (m == SKB_WORDS_ALL) {
    // Every word, straight-line (the constant word numbers fold the switch away).
    fillWord(skb, 0, meta, data, len, ifindex); fillWord(skb, 1, meta, data, len, ifindex);
    fillWord(skb, 2, meta, data, len, ifindex); fillWord(skb, 3, meta, data, len, ifindex);
    fillWord(skb, 4, meta, data, len, ifindex); fillWord(skb, 5, meta, data, len, ifindex);
    fillWord(skb, 6, meta, data, len, ifindex); fillWord(skb, 7, meta, data, len, ifindex);
    fillWord(skb, 8, meta, data, len, ifindex); fillWord(skb, 9, meta, data, len, ifindex);
    fillWord(skb, 10, meta, data, len, ifindex); fillWord(skb, 11, meta, data, len, ifindex);
    fillWord(skb, 12, meta, data, len, ifindex); fillWord(skb, 13, meta, data, len, ifindex);
    fillWord(skb, 14, meta, data, len, ifindex); fillWord(skb, 15, meta, data, len, ifindex);
    fillWord(skb, 16, meta, data, len, ifindex); fillWord(skb, 17, meta, data, len, ifindex);
    fillWord(skb, 18, meta, data, len, ifindex); fillWord(skb, 19, meta, data, len, ifindex);
    fillWord(skb, 20, meta, data, len, ifindex); fillWord(skb, 21, meta, data, len, ifindex);
    fillWord(skb, 22, meta, data, len, ifindex); fillWord(skb, 23, meta, data, len, ifindex);
    return;
  }
  while (m != 0) {
    const w = ctz(m);
    m &= m - 1;
    fillWord(skb, w, meta, data, len, ifindex);
  }
}

/** Copies what a tc program may write back into the frame (mark, priority, queue_mapping, tc_index, cb, tstamp). */
function skbWriteBack(skb: usize, meta: usize): void {
  store<u32>(meta, load<u32>(skb, SKB_MARK), FM_MARK);
  store<u32>(meta, load<u32>(skb, SKB_PRIORITY), FM_PRIORITY);
  const qm = load<u32>(skb, SKB_QUEUE_MAPPING);
  if (qm < 0xffff) store<u32>(meta, qm, FM_QUEUE_MAPPING);
  store<u32>(meta, load<u32>(skb, SKB_TC_INDEX) & 0xffff, FM_TC_INDEX);
  copy32(meta + FM_CB, skb + SKB_CB, 20);
  store<u64>(meta, load<u64>(skb, SKB_TSTAMP), FM_TSTAMP);
}

/**
 * Sets up the run record for `prog` on a packet: regions (the context, the packet, then
 * the program's own), its maps, r1 = the context, the packet and the frame it may grow in.
 */
function prepare(rec: usize, prog: usize, ctx: usize, ctxSize: u32, ctxWritable: bool, data: usize, len: u32, meta: usize, lo: usize, hi: usize): void {
  prepareProg(rec, prog);
  store<u32>(rec, RUN_BUDGET, VM_BUDGET);
  let r = rec + VM_REGIONS;
  store<u32>(r, <u32>ctx); store<u32>(r, <u32>(ctx + ctxSize), 4); store<u32>(r, ctxWritable ? VM_REGION_WRITABLE | VM_REGION_SKB_CTX : 0, 8);
  r += VM_REGION_SIZE;
  store<u32>(r, <u32>data); store<u32>(r, <u32>(data + len), 4); store<u32>(r, VM_REGION_WRITABLE, 8);
  // r1 the context, the others 0: every run starts alike on either engine, whatever the last
  // one left in the record (the batch code starts its runs so too).
  store<u64>(rec + VM_REGS, 0);
  store<u64>(rec + VM_REGS + 8, <u64>ctx);
  for (let r: usize = 2; r <= 9; r++) store<u64>(rec + VM_REGS + (r << 3), 0);
  store<u32>(rec, <u32>data, VM_PKT);
  store<u32>(rec, len, VM_PKT_LEN);
  store<u32>(rec, <u32>meta, VM_META);
  store<u32>(rec, <u32>ctx, VM_CTX);
  store<u32>(rec, <u32>lo, VM_PKT_LO);
  store<u32>(rec, <u32>hi, VM_PKT_HI);
}

/** The part of the run record that depends on the program alone (its regions, maps), kept from its last run. */
function prepareProg(rec: usize, prog: usize): void {
  // What depends on the program alone stays from its last run on this record. Keyed by
  // the program id (a freed program's memory may hold the next one); a tail call in
  // between changes VM_PROG, and it is all rewritten.
  const id = load<u32>(prog, PR_ID);
  if (load<u32>(rec, VM_PROG_ID) != id || load<u32>(rec, VM_PROG) != load<u32>(prog, PR_INSNS)) {
    store<u32>(rec, id, VM_PROG_ID);
    store<u32>(rec, 2, VM_NREGIONS);
    progPart(rec, prog);
  }
}

/**
 * Fills batch entry `e` (abi BE_*) for a packet at `data` (len bytes, frame metadata at
 * `meta`) seen on `ifindex`, and the words of its own __sk_buff that `use` names.
 */
@inline export function batchEntry(e: usize, meta: usize, data: usize, len: u32, ifindex: u32, use: u32): void {
  const ctx = <usize>load<u32>(e, BE_CTX);
  store<u32>(e, <u32>data, BE_DATA);
  store<u32>(e, len, BE_LEN);
  store<u32>(e, <u32>meta, BE_META);
  store<u32>(e, <u32>(meta + <usize>load<u32>(GLOBALS, G_FRAME_SIZE)), BE_HI);
  store<u32>(e, <u32>(meta + FRAME_META), BE_LO);
  // data and data_end (what parsers read, often all they read) here; the rest in the call.
  if ((use & SKB_WORDS_ALL) != SKB_WORDS_ALL && (use & SKB_WORDS_DATA) == SKB_WORDS_DATA) {
    fillWord(ctx, 9, meta, data, len, ifindex);
    fillWord(ctx, 10, meta, data, len, ifindex);
    use &= ~SKB_WORDS_DATA;
  }
  if ((use & SKB_WORDS_ALL) != 0) skbFill(ctx, meta, data, len, ifindex, use);
}

/**
 * Fills batch entry `e` for an XDP run of a program whose ctx use is `use` (PR_CTX_USE) on
 * a frame from the wire at `data` (len bytes) in a pool frame, received on `ifindex`'s
 * queue `queue`: the packet, the bounds it may move in (unless PR_CTX_XDP_PLAIN: nothing
 * reads them, see xdpRunEntry) and the xdp_md words it reads (as `runXdp` builds them).
 */
@inline export function xdpEntry(e: usize, data: usize, len: u32, ifindex: u32, queue: u32, use: u32): void {
  store<u32>(e, <u32>data, BE_DATA);
  store<u32>(e, len, BE_LEN);
  if ((use & PR_CTX_XDP_PLAIN) == 0) {
    const base = data & ~(<usize>load<u32>(GLOBALS, G_FRAME_SIZE) - 1);
    store<u32>(e, <u32>(base + <usize>load<u32>(GLOBALS, G_FRAME_SIZE)), BE_HI);
    store<u32>(e, <u32>(base + FRAME_META), BE_LO);
  }
  if ((use & XDP_WORDS) != 0) xdpCtx(e, data, len, ifindex, queue, use);
}

/**
 * xdpEntry for a frame in a buffer other than a pool frame (a zero-copy UMEM chunk): the
 * packet may move (head, tail, metadata adjustments) within [lo, hi).
 */
@inline export function xdpEntryIn(e: usize, data: usize, len: u32, ifindex: u32, queue: u32, lo: usize, hi: usize, use: u32): void {
  store<u32>(e, <u32>data, BE_DATA);
  store<u32>(e, len, BE_LEN);
  store<u32>(e, <u32>hi, BE_HI);
  store<u32>(e, <u32>lo, BE_LO);
  if ((use & XDP_WORDS) != 0) xdpCtx(e, data, len, ifindex, queue, use);
}

/** The xdp_md words (8 bytes each) an XDP program reads. */
const XDP_WORDS: u32 = 7;

/** The words of entry `e`'s xdp_md that `use` names (the others keep what an earlier packet left). */
@inline function xdpCtx(e: usize, data: usize, len: u32, ifindex: u32, queue: u32, use: u32): void {
  const ctx = <usize>load<u32>(e, BE_CTX);
  if ((use & 1) != 0) store<u64>(ctx, pair(<u32>data, <u32>(data + len)), 0); // data, data_end
  if ((use & 2) != 0) store<u64>(ctx, pair(<u32>data, ifindex), 8); // data_meta, ingress_ifindex
  if ((use & 4) != 0) store<u64>(ctx, pair(queue, 0), 16); // rx_queue_index, egress_ifindex
}

/**
 * Runs XDP program `prog` (ctx use `use`) on batch entry `e` (filled by xdpEntry or
 * xdpEntryIn) outside the batch code, as runXdp would, and records the result in it.
 * `pooled`: the packet is in a pool frame (its bounds from the frame; xdpEntry may have
 * left BE_LO and BE_HI out).
 */
export function xdpRunEntry(thread: u32, prog: usize, e: usize, ifindex: u32, queue: u32, pooled: bool): void {
  const data = <usize>load<u32>(e, BE_DATA);
  const len = load<u32>(e, BE_LEN);
  // (runXdp's action is already XDP_ABORTED for a fault.)
  const act = pooled ? runXdp(thread, prog, data, len, ifindex, queue)
    : runXdpIn(thread, prog, data, len, ifindex, queue, <usize>load<u32>(e, BE_LO), <usize>load<u32>(e, BE_HI));
  batchResult(e, <i32>act, 0);
}

/**
 * Records in entry `e` what a run outside the batch code left (`runProgs`, `runXdp`):
 * its verdict and fault, where the packet is, the redirect it asked for.
 */
export function batchResult(e: usize, verdict: i32, fault: u32): void {
  store<i32>(e, verdict, BE_VERDICT);
  store<u32>(e, fault, BE_FAULT);
  store<u32>(e, <u32>lastData, BE_DATA);
  store<u32>(e, lastLen, BE_LEN);
  store<u32>(e, lastRedirectIfindex, BE_RD_IFINDEX);
  store<u32>(e, lastRedirectFlags, BE_RD_FLAGS);
}

/** The thread's batch entries; each one's BE_CTX names its own __sk_buff (set here, once is enough). */
export function batchEntries(thread: u32): usize {
  const area = <usize>load<u32>(threadState(thread), T_BPF);
  const e = area + BPF_BATCH;
  if (load<u32>(e, BE_CTX) == 0) {
    for (let i: u32 = 0; i < BPF_BATCH_MAX; i++) store<u32>(e + <usize>(i * BE_SIZE), <u32>(area + BPF_BATCH_CTX + <usize>(i * SKB_CTX_SIZE)), BE_CTX);
  }
  return e;
}

/**
 * Runs one program over `n` batch entries (at most BPF_BATCH_MAX, filled by `batchEntry`)
 * on the program's generated batch code: each entry gets its r0, fault, packet and
 * redirect; context writes are copied back to each frame. Returns false, having run
 * nothing, when there is no batch code here (this thread has not installed the program's
 * code yet, or the program uses tail calls): the caller then runs the packets one by one.
 * `flags`: VM_BATCH_SKIP for a list's later program (entries an earlier one finished
 * are left as they are).
 */
export function runBatch(thread: u32, prog: usize, entries: usize, n: u32, dev: usize, flags: u32 = 0): bool {
  // tc: a writable __sk_buff on `dev`; XDP (no device): a read-only xdp_md.
  const skb = dev != 0;
  // (batch code starts each run with the registers a verified program may read: unverified ones run one by one)
  if (!batchable(prog)) return false;
  const jit = load<u32>(prog, PR_JIT);
  const rec = <usize>load<u32>(threadState(thread), T_BPF) + BPF_VM;
  prepareProg(rec, prog);
  store<u32>(rec, RUN_BUDGET, VM_BUDGET);
  store<u32>(rec, <u32>dev, VM_DEV);
  if (skb) store<u32>(rec, load<u32>(dev, D_NETNS), VM_NETNS);
  store<u32>(rec + VM_REGIONS, skb ? VM_REGION_WRITABLE | VM_REGION_SKB_CTX : 0, 8);
  store<u32>(rec + VM_REGIONS + VM_REGION_SIZE, VM_REGION_WRITABLE, 8);
  // (stats: a later program of a list runs only on the entries the earlier ones left going)
  const stats = statsOn();
  let runs = n;
  let t0: f64 = 0;
  if (stats) {
    if ((flags & VM_BATCH_SKIP) != 0) runs = pending(entries, n);
    t0 = statsStart();
  }
  if (call_indirect<u32>(jit + JIT_SLOTS, rec, entries, n | flags) == 0) return false;
  if (stats) statsAdd(prog, runs, t0);
  if (skb && (load<u32>(prog, PR_CTX_USE) & PR_CTX_WRITES) != 0) {
    for (let i: u32 = 0; i < n; i++) {
      const e = entries + <usize>(i * BE_SIZE);
      skbWriteBack(<usize>load<u32>(e, BE_CTX), <usize>load<u32>(e, BE_META));
    }
  }
  return true;
}

/** How many of `n` batch entries a list's next program runs on (no fault, verdict NETKIT_NEXT). */
function pending(entries: usize, n: u32): u32 {
  let k: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const e = entries + <usize>(i * BE_SIZE);
    if (load<u32>(e, BE_FAULT) == 0 && load<i32>(e, BE_VERDICT) == NETKIT_NEXT) k++;
  }
  return k;
}

/**
 * Whether program list `list` runs in batches: one program, or programs that share no
 * state (PGLF_INDEPENDENT), each compiled here and verified. Returns the context words
 * they read together (never 0: PR_CTX_VERIFIED is among them), or 0 when not.
 */
export function batchUse(list: usize): u32 {
  const count = load<u32>(list, PGL_COUNT);
  if (count == 0 || (count > 1 && (load<u32>(list, PGL_FLAGS) & PGLF_INDEPENDENT) == 0)) return 0;
  let use: u32 = 0;
  for (let j: u32 = 0; j < count; j++) {
    const p = <usize>load<u32>(list + PGL_PROGS + (<usize>j << 2));
    if (!batchable(p)) return 0;
    use |= load<u32>(p, PR_CTX_USE);
  }
  return use;
}

/**
 * A program with batch code: compiled, and verified (its context accesses are known); not
 * one whose tail calls may reach a program keeping state on the packet (PR_CTX_TAIL_UNSAFE).
 */
@inline export function batchable(prog: usize): bool {
  return load<u32>(prog, PR_JIT) != 0 && (load<u32>(prog, PR_CTX_USE) & (PR_CTX_VERIFIED | PR_CTX_TAIL_UNSAFE)) == PR_CTX_VERIFIED;
}

/**
 * Runs the `count` programs of list `list` over `m` batch entries (filled by `batchEntry`
 * with `batchUse`'s words; `dev` the skb's device), program after program, a later one
 * skipping the entries an earlier one finished; where a program has no batch code on this
 * thread (yet), the rest of the list runs one packet at a time. Each entry ends with the
 * walk's verdict (as `runProgs` gives it), fault, packet and redirect; with `ran` (tracing)
 * also in BE_AUX2 how many of the programs ran on it (`progsRan`).
 */
export function runListBatch(thread: u32, list: usize, count: u32, entries: usize, m: u32, dev: usize, ran: bool = false): void {
  // The list's module, when it has one installed here (not while tracing or counting each
  // program's runs: it runs the list's programs, not each one).
  if (!ran && load<u32>(list, PGL_JIT) != 0 && !statsOn() && runListCode(thread, list, count, entries, m, dev)) return;
  if (ran) for (let k: u32 = 0; k < m; k++) store<u32>(entries + <usize>(k * BE_SIZE), 0, BE_AUX2);
  for (let j: u32 = 0; j < count; j++) {
    if (runBatch(thread, <usize>load<u32>(list + PGL_PROGS + (<usize>j << 2)), entries, m, dev, j == 0 ? 0 : VM_BATCH_SKIP)) {
      if (ran) batchRan(entries, m, j + 1, j + 1 == count);
      continue;
    }
    for (let k: u32 = 0; k < m; k++) {
      const e = entries + <usize>(k * BE_SIZE);
      if (j != 0 && (load<u32>(e, BE_FAULT) != 0 || load<i32>(e, BE_VERDICT) != NETKIT_NEXT)) continue;
      const v = runProgs(thread, list, <usize>load<u32>(e, BE_META), <usize>load<u32>(e, BE_DATA), load<u32>(e, BE_LEN), dev, j);
      batchResult(e, v, lastFault);
      if (ran) store<u32>(e, lastRan, BE_AUX2);
    }
    return;
  }
}

/**
 * Runs the `count` programs of list `list` over `m` batch entries on the list's module
 * (abi PGL_JIT; each entry's walk ends as `runListBatch`'s), with the record as `runBatch`
 * prepares it for the first program (the list's code reads nothing of its program part).
 * Returns false, having run nothing, when the module is not installed on this thread
 * (yet) or a program has no batch code here.
 */
function runListCode(thread: u32, list: usize, count: u32, entries: usize, m: u32, dev: usize): bool {
  let writes = false;
  for (let j: u32 = 0; j < count; j++) {
    const p = <usize>load<u32>(list + PGL_PROGS + (<usize>j << 2));
    if (!batchable(p)) return false;
    writes = writes || (load<u32>(p, PR_CTX_USE) & PR_CTX_WRITES) != 0;
  }
  const rec = <usize>load<u32>(threadState(thread), T_BPF) + BPF_VM;
  prepareProg(rec, <usize>load<u32>(list + PGL_PROGS));
  store<u32>(rec, RUN_BUDGET, VM_BUDGET);
  store<u32>(rec, <u32>dev, VM_DEV);
  store<u32>(rec, load<u32>(dev, D_NETNS), VM_NETNS);
  store<u32>(rec + VM_REGIONS, VM_REGION_WRITABLE | VM_REGION_SKB_CTX, 8);
  store<u32>(rec + VM_REGIONS + VM_REGION_SIZE, VM_REGION_WRITABLE, 8);
  if (call_indirect<u32>(load<u32>(list, PGL_JIT) + JIT_SLOTS, rec, entries, m) == 0) return false;
  if (writes) {
    for (let i: u32 = 0; i < m; i++) {
      const e = entries + <usize>(i * BE_SIZE);
      skbWriteBack(<usize>load<u32>(e, BE_CTX), <usize>load<u32>(e, BE_META));
    }
  }
  return true;
}

/** After a list's `ran`-th program ran on a batch: the entries it finished (all that are left after the last) ran `ran` programs. */
function batchRan(entries: usize, m: u32, ran: u32, last: bool): void {
  for (let k: u32 = 0; k < m; k++) {
    const e = entries + <usize>(k * BE_SIZE);
    if (load<u32>(e, BE_AUX2) == 0 && (last || load<u32>(e, BE_FAULT) != 0 || load<i32>(e, BE_VERDICT) != NETKIT_NEXT)) store<u32>(e, ran, BE_AUX2);
  }
}

/**
 * Runs the program list `list` (from its program `first` on) on a packet on device `dev`
 * (skb->dev); returns the verdict (the last program's r0, NETKIT_NEXT when every program
 * said NEXT).
 * A fault ends the walk: `progsFault()` says so and the verdict is NETKIT_DROP's caller's to choose.
 */
export function runProgs(thread: u32, list: usize, meta: usize, data: usize, len: u32, dev: usize, first: u32 = 0, fresh: bool = true): i32 {
  const ifindex = load<u32>(dev, D_IFINDEX);
  lastData = data;
  lastLen = len;
  const area = <usize>load<u32>(threadState(thread), T_BPF);
  const rec = area + BPF_VM;
  const skb = area + BPF_SKB;
  const n = load<u32>(list, PGL_COUNT);
  lastFault = 0;
  lastRedirectIfindex = 0;
  lastRedirectFlags = 0;
  let verdict: i32 = NETKIT_NEXT;
  let use: u32 = 0;
  for (let i: u32 = 0; i < n; i++) use |= load<u32>(<usize>load<u32>(list + PGL_PROGS + (<usize>i << 2)), PR_CTX_USE);
  skbFill(skb, meta, data, len, ifindex, use);
  store<u32>(rec, <u32>dev, VM_DEV);
  store<u32>(rec, load<u32>(dev, D_NETNS), VM_NETNS);
  // No tunnel metadata on a packet that enters a hook (nkemu has no device that fills it
  // on receive, and netkit's scrub drops the dst before its programs run), except where the
  // skb goes on from a netkit program list to its peer's tcx ingress (`fresh` false).
  if (fresh) tunnelClear(rec);
  const stats = statsOn();
  lastRan = first;
  for (let i: u32 = first; i < n; i++) {
    const prog = <usize>load<u32>(list + PGL_PROGS + (<usize>i << 2));
    lastRan = i + 1;
    prepare(rec, prog, skb, SKB_CTX_SIZE, true, data, len, meta, meta + FRAME_META, meta + <usize>load<u32>(GLOBALS, G_FRAME_SIZE));
    store<u32>(rec, 0, VM_PKT_META);
    store<u32>(rec, 0, VM_REDIRECT_IFINDEX);
    store<u32>(rec, 0, VM_REDIRECT_FLAGS);
    let t0: f64 = 0;
    if (stats) t0 = statsStart();
    const f = progRun(rec, load<u32>(prog, PR_JIT));
    if (stats) statsAdd(prog, 1, t0);
    if (f != 0) {
      lastFault = f;
      return verdict;
    }
    if ((load<u32>(prog, PR_CTX_USE) & PR_CTX_WRITES) != 0) skbWriteBack(skb, meta);
    // Packet helpers may have moved or resized the packet: the next program sees the new one.
    data = <usize>load<u32>(rec, VM_PKT);
    len = load<u32>(rec, VM_PKT_LEN);
    lastData = data;
    lastLen = len;
    verdict = <i32>load<u64>(rec + VM_REGS);
    if (verdict != NETKIT_NEXT) {
      lastRedirectIfindex = load<u32>(rec, VM_REDIRECT_IFINDEX);
      lastRedirectFlags = load<u32>(rec, VM_REDIRECT_FLAGS);
      break;
    }
  }
  return verdict;
}

/** The namespace the thread's next XDP runs are in (a NIC's: its XDP runs have no device in the record). */
export function xdpNetns(thread: u32, netns: u32): void {
  store<u32>(<usize>load<u32>(threadState(thread), T_BPF) + BPF_VM, netns, VM_NETNS);
}

/**
 * Runs a NIC's XDP program on a frame from the wire (xdp_md in the thread's BPF area).
 * Returns the action (XDP_ABORTED on a fault); the packet may have moved (`progsData`,
 * `progsLen`), and a redirect is in `progsRedirect*`.
 */
export function runXdp(thread: u32, prog: usize, data: usize, len: u32, ifindex: u32, queue: u32): u32 {
  const base = data & ~(<usize>load<u32>(GLOBALS, G_FRAME_SIZE) - 1);
  return runXdpIn(thread, prog, data, len, ifindex, queue, base + FRAME_META, base + <usize>load<u32>(GLOBALS, G_FRAME_SIZE));
}

/** runXdp on a frame in a buffer other than a pool frame: the packet may move within [lo, hi). */
export function runXdpIn(thread: u32, prog: usize, data: usize, len: u32, ifindex: u32, queue: u32, lo: usize, hi: usize): u32 {
  const area = <usize>load<u32>(threadState(thread), T_BPF);
  const rec = area + BPF_VM;
  const ctx = area + BPF_SKB;
  zero64(ctx, 24);
  store<u32>(ctx, <u32>data, 0);
  store<u32>(ctx, <u32>(data + len), 4);
  store<u32>(ctx, <u32>data, 8);
  store<u32>(ctx, ifindex, 12);
  store<u32>(ctx, queue, 16);
  prepare(rec, prog, ctx, 24, false, data, len, 0, lo, hi);
  store<u32>(rec, 0, VM_DEV);
  store<u32>(rec, <u32>data, VM_PKT_META);
  store<u32>(rec, 0, VM_REDIRECT_IFINDEX);
  store<u32>(rec, 0, VM_REDIRECT_FLAGS);
  const stats = statsOn();
  let t0: f64 = 0;
  if (stats) t0 = statsStart();
  lastFault = progRun(rec, load<u32>(prog, PR_JIT));
  if (stats) statsAdd(prog, 1, t0);
  lastData = <usize>load<u32>(rec, VM_PKT);
  lastLen = load<u32>(rec, VM_PKT_LEN);
  lastRedirectIfindex = load<u32>(rec, VM_REDIRECT_IFINDEX);
  lastRedirectFlags = load<u32>(rec, VM_REDIRECT_FLAGS);
  return lastFault != 0 ? 0 : <u32>load<u64>(rec + VM_REGS);
}

/**
 * What tcx makes of a list's walk (its verdict and fault): a fault drops (TC_ACT_SHOT),
 * TC_ACT_SHOT and TC_ACT_REDIRECT take the packet, anything else lets it go on (0).
 */
@inline export function tcxAct(verdict: i32, fault: u32): i32 {
  if (fault != 0) return 2;
  if (verdict == 2 || verdict == 7) return verdict;
  return 0;
}

/**
 * tcx on device `ifindex`: ingress for a frame entering it (skb_iif set), egress for one
 * it is about to send. Returns 0 pass, 2 drop, 7 redirect (tcx_action_code: any other
 * value is NEXT, i.e. pass; a fault drops).
 */
function runTcx(thread: u32, list: usize, meta: usize, data: usize, len: u32, dev: usize, fresh: bool = true): i32 {
  const v = runProgs(thread, list, meta, data, len, dev, 0, fresh);
  return tcxAct(v, lastFault);
}

/** The frame entered through `dev` (skb->ingress_ifindex), as tcx ingress sees it. */
@inline export function tcxIngressFields(meta: usize, dev: usize): void {
  store<u32>(meta, load<u32>(dev, D_IFINDEX), FM_INGRESS_IFINDEX);
}

/** `fresh` false: the skb comes from a netkit program list, with the tunnel metadata it left. */
export function runTcxIngress(thread: u32, list: usize, meta: usize, data: usize, len: u32, dev: usize, fresh: bool = true): i32 {
  tcxIngressFields(meta, dev);
  return runTcx(thread, list, meta, data, len, dev, fresh);
}

export function runTcxEgress(thread: u32, list: usize, meta: usize, data: usize, len: u32, dev: usize): i32 {
  store<u32>(meta, load<u32>(dev, D_IFINDEX), FM_IFINDEX);
  return runTcx(thread, list, meta, data, len, dev);
}

/**
 * A test run's repetitions (BPF_PROG_TEST_RUN `repeat`) on the program's batch code
 * (`jit` its slot): `n` runs on the context and packet the record names, as
 * `vmRunRepeat` would run them (r1 the context, the same budget each, each on the packet
 * the last one left), up to BPF_BATCH_MAX per call and stopping at the first fault.
 * Returns the fault (0 when none; r0 of the last run is in the record), or
 * VM_BATCH_DECLINED, having run nothing, when the program runs no batches. VM_RUNS: the
 * runs made (the host adds them to the program's run_cnt).
 */
export function testRunBatch(rec: usize, n: u32, jit: u32, entries: usize): u32 {
  const k = n < BPF_BATCH_MAX ? n : BPF_BATCH_MAX;
  for (let i: u32 = 0; i < k; i++) {
    const e = entries + <usize>(i * BE_SIZE);
    store<u32>(e, load<u32>(rec, VM_REGIONS), BE_CTX);
    store<u32>(e, load<u32>(rec, VM_PKT), BE_DATA);
    store<u32>(e, load<u32>(rec, VM_PKT_LEN), BE_LEN);
    store<u32>(e, load<u32>(rec, VM_META), BE_META);
    store<u32>(e, load<u32>(rec, VM_PKT_HI), BE_HI);
    store<u32>(e, load<u32>(rec, VM_PKT_LO), BE_LO);
  }
  store<u32>(rec, 0, VM_FAULT);
  store<u32>(rec, 0, VM_FAULT_PC);
  store<u32>(rec, 0, VM_RUNS);
  let done: u32 = 0;
  let last: usize = 0;
  while (done < n) {
    const m = n - done < k ? n - done : k;
    const r = call_indirect<u32>(jit + JIT_SLOTS, rec, entries, m | VM_BATCH_STOP | VM_BATCH_CHAIN);
    if (r == 0) return VM_BATCH_DECLINED;
    done += r;
    store<u32>(rec, done, VM_RUNS);
    last = entries + <usize>((r - 1) * BE_SIZE);
    const f = load<u32>(last, BE_FAULT);
    if (f != 0) return f;
  }
  store<u64>(rec + VM_REGS, <u64>load<u32>(last, BE_VERDICT));
  return 0;
}
