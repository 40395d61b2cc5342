// The xdpsock sample's three loops (rx-drop, tx-only, l2fwd) as one non-blocking step each,
// for an AF_XDP application running in its own worker over the shared rings. The step is
// the application side of the rings (libxdp's verbs); its kicks are the syscalls, which
// run the kernel's code in the calling thread (the copy TX pass).

import {
  XS_RX, XS_TX, XS_FILL, XS_COMP, XS_UMEM, XS_CHUNK, APP_MODE, APP_SOCKET, APP_BATCH, APP_FLAGS, APP_RX_PACKETS, APP_TX_PACKETS,
  APP_NEXT, APP_CHUNKS, APP_FRAME_LEN, APP_LIMIT, APP_SUBMITTED, APP_OUTSTANDING, APP_KICK_FAILS, APP_KICK_ERRNO, APP_IN_PKT,
  APP_RXDROP, APP_TXONLY, APP_L2FWD, APP_NEED_WAKEUP, XDP_PKT_CONTD, XSK_MSG_DONTWAIT, XSK_EAGAIN, XSK_EBUSY, XSK_ENOBUFS, XSK_ENETDOWN,
} from "../abi/xsk";
import { DESC_ADDR, DESC_LEN, DESC_OPTIONS, R_FLAGS, RING_NEED_WAKEUP } from "../abi/layout";
import { ringConsAvail, ringConsIndex, ringEntry, ringProdFree, ringProdIndex, ringRelease, ringSubmit } from "../ring/ring";
import { xskSendto, xskRecvfrom } from "./xsk";

@inline function needsWakeup(r: usize): bool {
  return (atomic.load<u32>(r + R_FLAGS) & RING_NEED_WAKEUP) != 0;
}

function kickTx(thread: u32, app: usize, xs: usize): void {
  const err = xskSendto(thread, xs, XSK_MSG_DONTWAIT);
  // xdpsock tolerates these; anything else (ENXIO after an unbind) is counted.
  if (err != 0 && err != XSK_EAGAIN && err != XSK_EBUSY && err != XSK_ENOBUFS && err != XSK_ENETDOWN) {
    store<u32>(app, load<u32>(app, APP_KICK_FAILS) + 1, APP_KICK_FAILS);
    store<u32>(app, err, APP_KICK_ERRNO);
  }
}

@inline function add64(app: usize, field: u32, by: u32): void {
  atomic.store<u64>(app + field, load<u64>(app + field) + <u64>by);
}

/**
 * The rx-drop application (xdpsock -r) in one step: up to `max` received descriptors go
 * straight back to FILL. Returns how many. (Runs in whichever thread owns the socket.)
 */
export function xskRxDrop(xs: usize, max: u32): u32 {
  const rx = <usize>load<u32>(xs, XS_RX);
  const fill = <usize>load<u32>(xs, XS_FILL);
  let n = ringConsAvail(rx, max);
  const room = ringProdFree(fill, n);
  if (room < n) n = room;
  const ri = ringConsIndex(rx);
  const fi = ringProdIndex(fill);
  for (let i: u32 = 0; i < n; i++) store<u64>(ringEntry(fill, fi + i), load<u64>(ringEntry(rx, ri + i), DESC_ADDR));
  ringRelease(rx, n);
  ringSubmit(fill, n);
  return n;
}

/** Packets (descriptors ending a packet) among n RX descriptors from index `at`. */
function packets(rx: usize, at: u32, n: u32): u32 {
  let p: u32 = 0;
  for (let i: u32 = 0; i < n; i++) if ((load<u32>(ringEntry(rx, at + i), DESC_OPTIONS) & XDP_PKT_CONTD) == 0) p++;
  return p;
}

function rxDropStep(app: usize, xs: usize, batch: u32): u32 {
  const rx = <usize>load<u32>(xs, XS_RX);
  const fill = <usize>load<u32>(xs, XS_FILL);
  const avail = ringConsAvail(rx, batch);
  if (avail == 0) {
    if (needsWakeup(fill)) xskRecvfrom(xs, XSK_MSG_DONTWAIT);
    return 0;
  }
  const p = packets(rx, ringConsIndex(rx), ringProdFree(fill, avail));
  const n = xskRxDrop(xs, avail);
  if (n < avail && needsWakeup(fill)) xskRecvfrom(xs, XSK_MSG_DONTWAIT);
  add64(app, APP_RX_PACKETS, p);
  return n;
}

/** Kicks TX unless the application uses need_wakeup and the TX ring does not ask for it. */
@inline function kickIfNeeded(thread: u32, app: usize, xs: usize): void {
  const nw = (load<u32>(app, APP_FLAGS) & APP_NEED_WAKEUP) != 0;
  if (!nw || needsWakeup(<usize>load<u32>(xs, XS_TX))) kickTx(thread, app, xs);
}

/** xdpsock's complete_tx_only: kick if needed, take completions back. */
function txOnlyComplete(thread: u32, app: usize, xs: usize, batch: u32): u32 {
  const out = load<u32>(app, APP_OUTSTANDING);
  if (out == 0) return 0;
  kickIfNeeded(thread, app, xs);
  const comp = <usize>load<u32>(xs, XS_COMP);
  const c = ringConsAvail(comp, batch);
  ringRelease(comp, c);
  store<u32>(app, out - c, APP_OUTSTANDING);
  add64(app, APP_TX_PACKETS, c);
  return c;
}

function txOnlyStep(thread: u32, app: usize, xs: usize, batch: u32): u32 {
  let moved = txOnlyComplete(thread, app, xs, batch);
  const chunks = load<u32>(app, APP_CHUNKS);
  const limit = load<u32>(app, APP_LIMIT);
  const submitted = load<u32>(app, APP_SUBMITTED);
  let k = batch;
  const free = chunks - load<u32>(app, APP_OUTSTANDING);
  if (k > free) k = free;
  if (limit != 0 && k > limit - submitted) k = limit - submitted;
  const tx = <usize>load<u32>(xs, XS_TX);
  k = ringProdFree(tx, k);
  if (k != 0) {
    const chunk = <u64>load<u32>(xs, XS_CHUNK);
    const len = load<u32>(app, APP_FRAME_LEN);
    let next = load<u32>(app, APP_NEXT);
    const ti = ringProdIndex(tx);
    for (let i: u32 = 0; i < k; i++) {
      const e = ringEntry(tx, ti + i);
      store<u64>(e, <u64>next * chunk, DESC_ADDR);
      store<u32>(e, len, DESC_LEN);
      store<u32>(e, 0, DESC_OPTIONS);
      next = next + 1 == chunks ? 0 : next + 1;
    }
    ringSubmit(tx, k);
    store<u32>(app, next, APP_NEXT);
    store<u32>(app, submitted + k, APP_SUBMITTED);
    store<u32>(app, load<u32>(app, APP_OUTSTANDING) + k, APP_OUTSTANDING);
    moved += k;
  }
  return moved + txOnlyComplete(thread, app, xs, batch);
}

/** xdpsock's complete_tx_l2fwd: kick if needed, completed buffers back to FILL. */
function l2fwdComplete(thread: u32, app: usize, xs: usize, batch: u32): u32 {
  const out = load<u32>(app, APP_OUTSTANDING);
  if (out == 0) return 0;
  kickIfNeeded(thread, app, xs);
  const comp = <usize>load<u32>(xs, XS_COMP);
  const fill = <usize>load<u32>(xs, XS_FILL);
  let c = ringConsAvail(comp, out < batch ? out : batch);
  const room = ringProdFree(fill, c);
  if (room < c) {
    c = room;
    if (needsWakeup(fill)) xskRecvfrom(xs, XSK_MSG_DONTWAIT);
  }
  const ci = ringConsIndex(comp);
  const fi = ringProdIndex(fill);
  for (let i: u32 = 0; i < c; i++) store<u64>(ringEntry(fill, fi + i), load<u64>(ringEntry(comp, ci + i)));
  ringSubmit(fill, c);
  ringRelease(comp, c);
  store<u32>(app, out - c, APP_OUTSTANDING);
  add64(app, APP_TX_PACKETS, c);
  return c;
}

function l2fwdStep(thread: u32, app: usize, xs: usize, batch: u32): u32 {
  let moved = l2fwdComplete(thread, app, xs, batch);
  const rx = <usize>load<u32>(xs, XS_RX);
  const tx = <usize>load<u32>(xs, XS_TX);
  let n = ringConsAvail(rx, batch);
  if (n == 0) {
    if (needsWakeup(<usize>load<u32>(xs, XS_FILL))) xskRecvfrom(xs, XSK_MSG_DONTWAIT);
    return moved;
  }
  n = ringProdFree(tx, n);
  if (n == 0) {
    const nw = (load<u32>(app, APP_FLAGS) & APP_NEED_WAKEUP) != 0;
    if (!nw || needsWakeup(tx)) kickTx(thread, app, xs);
    return moved;
  }
  const umem = <usize>load<u32>(xs, XS_UMEM);
  const ri = ringConsIndex(rx);
  const ti = ringProdIndex(tx);
  let inPkt = load<u32>(app, APP_IN_PKT);
  let pkts: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const r = ringEntry(rx, ri + i);
    const addr = load<u64>(r, DESC_ADDR);
    const len = load<u32>(r, DESC_LEN);
    const options = load<u32>(r, DESC_OPTIONS);
    if (inPkt == 0 && len >= 12) {
      // swap_mac_addresses: destination and source MAC of the first buffer.
      const p = umem + <usize>addr;
      const d0 = load<u32>(p); const d1 = load<u16>(p, 4);
      store<u32>(p, load<u32>(p, 6)); store<u16>(p, load<u16>(p, 10), 4);
      store<u32>(p, d0, 6); store<u16>(p, d1, 10);
    }
    inPkt = (options & XDP_PKT_CONTD) != 0 ? 1 : 0;
    if (inPkt == 0) pkts++;
    const t = ringEntry(tx, ti + i);
    store<u64>(t, addr, DESC_ADDR);
    store<u32>(t, len, DESC_LEN);
    store<u32>(t, options, DESC_OPTIONS);
  }
  store<u32>(app, inPkt, APP_IN_PKT);
  ringSubmit(tx, n);
  ringRelease(rx, n);
  add64(app, APP_RX_PACKETS, pkts);
  store<u32>(app, load<u32>(app, APP_OUTSTANDING) + n, APP_OUTSTANDING);
  return moved + n;
}

/** One step of application `app` (abi APP_*) on `thread`; returns descriptors moved (0: idle). */
export function xskAppStep(thread: u32, app: usize): u32 {
  const xs = <usize>load<u32>(app, APP_SOCKET);
  const batch = load<u32>(app, APP_BATCH);
  const mode = load<u32>(app, APP_MODE);
  if (mode == APP_RXDROP) return rxDropStep(app, xs, batch);
  if (mode == APP_TXONLY) return txOnlyStep(thread, app, xs, batch);
  if (mode == APP_L2FWD) return l2fwdStep(thread, app, xs, batch);
  return 0;
}
