// Per-packet trace and capture, into per-thread rings the host drains. Both are off by
// default; when a ring is full the record is lost (never blocks the datapath) and the
// host sees the gap in the ring's own lost counter (R_FLAGS word is reused as "lost").

import {
  GLOBALS, G_TRACE_FLAGS, G_CLOCK_NS, G_CAPTURE_SNAPLEN, TRACE_ON, T_TRACE_RING, T_CAPTURE_RING,
  TR_TSTAMP, TR_IFINDEX, TR_PEER_IFINDEX, TR_NETNS, TR_LEN, TR_HOOK, TR_VERDICT, TR_REASON, TR_MARK,
  TR_NPROGS, TR_PROG_LAST, TR_PROGS, TR_MAX_PROGS, TR_QUEUE, PGL_PROGS, PR_ID, HOOK_XDP, D_XDP,
  CAP_TSTAMP, CAP_IFINDEX, CAP_NETNS, CAP_ORIG_LEN, CAP_LEN, CAP_DIRECTION, CAP_REASON, CAP_HEADER,
  R_FLAGS, D_IFINDEX, D_NETNS,
} from "../abi/layout";
import { ringEntry, ringProdFree, ringProdIndex, ringSubmit } from "../ring/ring";
import { threadState } from "./frames";

@inline export function traceOn(): bool {
  return (load<u32>(GLOBALS, G_TRACE_FLAGS) & TRACE_ON) != 0;
}

function lost(r: usize): void {
  store<u32>(r, load<u32>(r, R_FLAGS) + 1, R_FLAGS);
}

/**
 * One record; `list` is the hook's program list (0: none) and `ran` how many of its
 * programs ran (they ran in list order, each before the last one returning NEXT). The
 * list is the one the caller read for this packet: a swap only frees it once every
 * thread has moved on, so its programs' ids are still there.
 */
export function traceRecord(
  thread: u32, ifindex: u32, peerIfindex: u32, netns: u32, len: u32, hook: u32, verdict: i32, reason: u32, mark: u32,
  list: usize = 0, ran: u32 = 0,
): void {
  const r = <usize>load<u32>(threadState(thread), T_TRACE_RING);
  if (r == 0) return;
  if (ringProdFree(r, 1) == 0) { lost(r); return; }
  const e = ringEntry(r, ringProdIndex(r));
  store<u64>(e, load<u64>(GLOBALS, G_CLOCK_NS), TR_TSTAMP);
  store<u32>(e, ifindex, TR_IFINDEX);
  store<u32>(e, peerIfindex, TR_PEER_IFINDEX);
  store<u32>(e, netns, TR_NETNS);
  store<u32>(e, len, TR_LEN);
  store<u8>(e, <u8>hook, TR_HOOK);
  store<i8>(e, <i8>verdict, TR_VERDICT);
  store<u16>(e, <u16>reason, TR_REASON);
  store<u32>(e, mark, TR_MARK);
  if (list == 0) ran = 0;
  store<u32>(e, ran, TR_NPROGS);
  store<u32>(e, ran != 0 ? load<u32>(<usize>load<u32>(list + PGL_PROGS + (<usize>(ran - 1) << 2)), PR_ID) : 0, TR_PROG_LAST);
  for (let i: u32 = 0; i < TR_MAX_PROGS; i++) {
    store<u32>(e + (<usize>i << 2), i < ran ? load<u32>(<usize>load<u32>(list + PGL_PROGS + (<usize>i << 2)), PR_ID) : 0, TR_PROGS);
  }
  store<u32>(e, 0, TR_QUEUE);
  ringSubmit(r, 1);
}

/**
 * The xdp hook's record for a frame NIC `dev`'s XDP program acted on (`act`) from rx queue
 * `q`: `reason` when the action dropped it, `target` where a redirect sent it, through a
 * map of type `mapType` (see TR_*).
 */
export function traceXdp(thread: u32, dev: usize, q: u32, act: u32, len: u32, reason: u32, target: u32, mapType: u32 = 0): void {
  const r = <usize>load<u32>(threadState(thread), T_TRACE_RING);
  if (r == 0) return;
  if (ringProdFree(r, 1) == 0) { lost(r); return; }
  const e = ringEntry(r, ringProdIndex(r));
  const prog = <usize>load<u32>(dev, D_XDP);
  const id = prog != 0 ? load<u32>(prog, PR_ID) : 0;
  store<u64>(e, load<u64>(GLOBALS, G_CLOCK_NS), TR_TSTAMP);
  store<u32>(e, load<u32>(dev, D_IFINDEX), TR_IFINDEX);
  store<u32>(e, target, TR_PEER_IFINDEX);
  store<u32>(e, load<u32>(dev, D_NETNS), TR_NETNS);
  store<u32>(e, len, TR_LEN);
  store<u8>(e, <u8>HOOK_XDP, TR_HOOK);
  store<i8>(e, <i8>act, TR_VERDICT);
  store<u16>(e, <u16>reason, TR_REASON);
  store<u32>(e, mapType, TR_MARK);
  store<u32>(e, id != 0 ? 1 : 0, TR_NPROGS);
  store<u32>(e, id, TR_PROG_LAST);
  store<u32>(e, id, TR_PROGS);
  for (let i: u32 = 1; i < TR_MAX_PROGS; i++) store<u32>(e + (<usize>i << 2), 0, TR_PROGS);
  store<u32>(e, q, TR_QUEUE);
  ringSubmit(r, 1);
}

/**
 * Copies up to snaplen bytes of a frame seen on device `dev` into the capture ring, but
 * does not publish it: `captureEnd` does, once the packet's fate (drop reason) is known.
 * Returns the entry, or 0 when not capturing or the ring is full (counted as lost).
 */
export function captureBegin(thread: u32, dev: usize, data: usize, len: u32, direction: u32): usize {
  const r = <usize>load<u32>(threadState(thread), T_CAPTURE_RING);
  if (r == 0) return 0;
  if (ringProdFree(r, 1) == 0) { lost(r); return 0; }
  const e = ringEntry(r, ringProdIndex(r));
  const snap = load<u32>(GLOBALS, G_CAPTURE_SNAPLEN);
  const caplen = len < snap ? len : snap;
  store<u64>(e, load<u64>(GLOBALS, G_CLOCK_NS), CAP_TSTAMP);
  store<u32>(e, load<u32>(dev, D_IFINDEX), CAP_IFINDEX);
  store<u32>(e, load<u32>(dev, D_NETNS), CAP_NETNS);
  store<u32>(e, len, CAP_ORIG_LEN);
  store<u32>(e, caplen, CAP_LEN);
  store<u32>(e, direction, CAP_DIRECTION);
  store<u32>(e, 0, CAP_REASON);
  memory.copy(e + CAP_HEADER, data, caplen);
  return e;
}

/** Publishes the entry `captureBegin` filled, with the drop reason (0 = not dropped). */
export function captureEnd(thread: u32, e: usize, reason: u32): void {
  if (e == 0) return;
  store<u32>(e, reason, CAP_REASON);
  ringSubmit(<usize>load<u32>(threadState(thread), T_CAPTURE_RING), 1);
}

/** Captures a frame and publishes it at once. */
export function capture(thread: u32, dev: usize, data: usize, len: u32, direction: u32, reason: u32): void {
  captureEnd(thread, captureBegin(thread, dev, data, len, direction), reason);
}
