// AF_XDP in the dataplane (spec/af_xdp.md §2.6–§4): receive into a socket (copy or
// zero-copy, single or multi-buffer), the kicks (sendto / recvfrom / poll) and the two TX
// passes (copy mode in the kicking thread; zero-copy in the driver's round). Checks run in
// the kernel's order; a failure drops the frame and bumps the spec's counter.

import {
  XS_STATE, XS_IFINDEX, XS_QUEUE, XS_PHYS_IFINDEX, XS_PHYS_QUEUE, XS_UMEM, XS_UMEM_SIZE, XS_CHUNK, XS_HEADROOM,
  XS_FILL, XS_RX, XS_TX, XS_COMP, XS_FLAGS, XS_TX_SLOT, XS_TX_QUEUE, XS_POOL, XS_TX_BUDGET, XS_DEV_SLOT,
  XS_RX_DROPPED, XS_RX_RING_FULL, XS_RX_FILL_EMPTY, XS_TX_INVALID, XS_TX_EMPTY, XS_FILL_INVALID, XS_TX_DONE,
  XS_BOUND, XS_FREE, XS_FREE_N, XS_FREE_CAP, XSF_ZEROCOPY, XSF_NEED_WAKEUP, XSF_SG, XSF_TX_ACTIVE, XDP_PACKET_HEADROOM, XDP_PKT_CONTD, XDP_TX_METADATA,
  XSK_MAX_FRAGS, XSK_EAGAIN, XSK_ENXIO, XSK_ENETDOWN, XSK_EOPNOTSUPP, XSK_ENOBUFS, XSK_MSG_DONTWAIT,
  XSK_POLLIN, XSK_POLLOUT,
} from "../abi/xsk";
import {
  DESC_ADDR, DESC_LEN, DESC_OPTIONS, DESC_SIZE, R_PRODUCER, R_CONSUMER, R_CACHED_PROD, R_SIZE, R_MASK, R_FLAGS, RING_ENTRIES, RING_NEED_WAKEUP,
  D_FLAGS, D_KIND, D_NUM_RX, D_QSTATS, D_CAPTURE, D_IFINDEX, D_NETNS, IFF_UP, KIND_NIC, FRAME_HEADROOM, G_FRAME_SIZE, GLOBALS,
  QS_TX_PACKETS, QS_TX_BYTES, QS_COUNT, C_TX_PACKETS, C_TX_BYTES, CAP_DIR_OUT,
  T_REDIRECT_RING, RD_ADDR, RD_LEN, RD_IFINDEX, RD_NETNS, RD_FLAGS, RD_FROM,
} from "../abi/layout";
import { ringConsAvail, ringConsIndex, ringEntry, ringProdFree, ringProdIndex, ringRelease, ringSubmit } from "../ring/ring";
import { counters, bump } from "../dev/stats";
import { capture } from "../dev/trace";
import { copy64, frameAlloc, frameFree, threadState } from "../dev/frames";
import { device } from "../dev/netkit";

@inline function count(xs: usize, field: u32): void {
  atomic.add<u64>(xs + field, 1);
}

@inline function fillNeedsWakeup(fill: usize): bool {
  return (atomic.load<u32>(fill + R_FLAGS) & RING_NEED_WAKEUP) != 0;
}

@inline function setRingFlag(r: usize, on: bool): void {
  const f = atomic.load<u32>(r + R_FLAGS);
  // Written only on change, like the kernel's cached need_wakeup state.
  if (on && (f & RING_NEED_WAKEUP) == 0) atomic.store<u32>(r + R_FLAGS, f | RING_NEED_WAKEUP);
  else if (!on && (f & RING_NEED_WAKEUP) != 0) atomic.store<u32>(r + R_FLAGS, f & ~RING_NEED_WAKEUP);
}

/**
 * The kernel's count on a ring it consumes: the cached entries, reloading the producer
 * (acquire) only when fewer than `want` are cached (af_xdp.md §2.3).
 */
@inline function fillEntries(r: usize, want: u32): u32 {
  const cons = load<u32>(r, R_CONSUMER);
  let avail = load<u32>(r, R_CACHED_PROD) - cons;
  if (avail < want) {
    const prod = atomic.load<u32>(r + R_PRODUCER);
    store<u32>(r, prod, R_CACHED_PROD);
    avail = prod - cons;
  }
  return avail;
}

/**
 * Puts the buffer at UMEM offset `off` (a chunk's start) on pool `pool`'s free list: taken
 * from FILL, not delivered, reused before FILL's next entries (af_xdp.md §1.3).
 */
function freePush(pool: usize, off: u32): void {
  const n = load<u32>(pool, XS_FREE_N);
  // The list holds every chunk of the UMEM; a chunk the application put in FILL twice could overflow it.
  if (n >= load<u32>(pool, XS_FREE_CAP)) return;
  store<u32>(<usize>load<u32>(pool, XS_FREE) + (<usize>n << 2), off);
  store<u32>(pool, n + 1, XS_FREE_N);
}

// How many FILL entries the last fillTake examined (the one it took and the invalid ones before).
let fillUsed: u32 = 0;

/**
 * The first valid buffer in FILL past the `past` entries already taken (aligned mode: the
 * address masked to its chunk; invalid ones skipped, counted on the pool's private
 * counter): its address, or -1 when there is none. `fillUsed` says how many it examined.
 */
@inline function fillTake(fill: usize, pool: usize, past: u32, chunk: u32, size: u64): i64 {
  const mask = ~(<u64>chunk - 1);
  const cons = ringConsIndex(fill) + past;
  const avail = fillEntries(fill, past + 1) - past;
  let used: u32 = 0;
  while (used < avail) {
    const a = load<u64>(ringEntry(fill, cons + used)) & mask;
    used++;
    if (a + <u64>chunk > size) { count(pool, XS_FILL_INVALID); continue; }
    fillUsed = used;
    return <i64>a;
  }
  fillUsed = used;
  return -1;
}

/**
 * Copies a frame: small ones with 16-byte vector loads and stores (memory.copy on a shared memory
 * leaves the generated code for a runtime call, which costs more than a 64-byte frame).
 */
@inline export function copyFrame(dst: usize, src: usize, n: u32): void {
  if (n > 256) { memory.copy(dst, src, n); return; }
  let i: u32 = 0;
  if (n >= 64) {
    copy64(dst, src);
    i = 64;
  }
  for (; i + 16 <= n; i += 16) store<v128>(dst + i, load<v128>(src + i));
  if (i + 8 <= n) { store<u64>(dst + i, load<u64>(src + i)); i += 8; }
  for (; i < n; i++) store<u8>(dst + i, load<u8>(src + i));
}

// Receive publishes the way the kernel's xsk_flush does at the end of a NAPI poll: a run
// of frames to one socket fills its RX ring and takes FILL entries from the cached
// indexes, and the producer (RX) and consumer (FILL) indexes are stored once, when the
// run ends: at the next frame for another socket or at xskFlush() (the end of the
// driver's batch). Module globals are private to the instance (thread), as NAPI is per CPU.
let pendXs: usize = 0;
let pendRx: u32 = 0; // RX entries written after the published producer
let pendFill: u32 = 0; // FILL entries taken after the published consumer

/** Publishes what xskRcv delivered since the last flush (RX producer, FILL consumer). */
export function xskFlush(): void {
  zcFillFlush();
  const xs = pendXs;
  if (xs == 0) return;
  ringSubmit(<usize>load<u32>(xs, XS_RX), pendRx);
  ringRelease(<usize>load<u32>(xs, XS_FILL), pendFill);
  pendXs = 0;
  pendRx = 0;
  pendFill = 0;
}

/**
 * xskRcv found `got` of the buffers a frame needs (having examined `used` FILL entries
 * past the pending ones, pf; pr RX entries pending): the frame is dropped, false. With
 * none found, the invalid entries it skipped are consumed all the same (the kernel's
 * __xp_alloc releases each one it rejects) and FILL counts as empty. Zero-copy: the
 * hardware ring found no buffer, the NIC drops the frame; with need_wakeup the driver
 * flags FILL and stops. Copy mode: the socket drops it.
 */
@inline function noBuffer(xs: usize, fill: usize, pool: usize, got: u32, pf: u32, pr: u32, used: u32, zc: bool, wakeup: bool): bool {
  if (got == 0) {
    pendFill = pf + used;
    pendRx = pr;
    pendXs = xs;
    count(pool, XS_RX_FILL_EMPTY);
  }
  if (zc) { if (wakeup && got == 0) setRingFlag(fill, true); return false; }
  count(xs, XS_RX_DROPPED);
  return false;
}

/**
 * Socket `xs` takes frames received on (ifindex, queue) (af_xdp.md §3.5 checks 1-2: bound,
 * and its own queue or the physical queue it leases): its RX ring, else 0.
 */
@inline function rcvRing(xs: usize, ifindex: u32, queue: u32): usize {
  if (atomic.load<u32>(xs + XS_STATE) != XS_BOUND) return 0;
  const own = load<u32>(xs, XS_IFINDEX) == ifindex && load<u32>(xs, XS_QUEUE) == queue;
  const leased = load<u32>(xs, XS_PHYS_IFINDEX) == ifindex && load<u32>(xs, XS_PHYS_QUEUE) == queue;
  if (!own && !leased) return 0;
  return <usize>load<u32>(xs, XS_RX);
}

/**
 * Delivers `len` bytes at `data`, received on (ifindex, queue), to socket `xs`. True when
 * it took them. Published at the next xskFlush() (the caller's end of batch).
 */
export function xskRcv(xs: usize, data: usize, len: u32, ifindex: u32, queue: u32): bool {
  const rx = rcvRing(xs, ifindex, queue);
  if (rx == 0) return false;
  if (xs != pendXs) xskFlush();
  const pr = pendRx;
  const pf = pendFill;
  const flags = load<u32>(xs, XS_FLAGS);
  const chunk = load<u32>(xs, XS_CHUNK);
  const headroom = load<u32>(xs, XS_HEADROOM);
  const frameLen = chunk - headroom - XDP_PACKET_HEADROOM;
  let n: u32 = 1;
  if (len > frameLen) {
    if ((flags & XSF_SG) == 0) { count(xs, XS_RX_DROPPED); return false; }
    n = (len + frameLen - 1) / frameLen;
  }
  const fill = <usize>load<u32>(xs, XS_FILL);
  if (zcFillTaken != 0 && fill == zcFillRing) zcFillFlush(); // the zero-copy driver's takes come first
  const pool = <usize>load<u32>(xs, XS_POOL);
  const zc = (flags & XSF_ZEROCOPY) != 0;
  const wakeup = (flags & XSF_NEED_WAKEUP) != 0;
  // Zero-copy driver that ran out of FILL buffers and stopped: the NIC has no rx
  // descriptors until the application kicks (recvfrom / poll).
  if (zc && wakeup && fillNeedsWakeup(fill)) return false;
  // Buffers: the pool's free list first, then FILL entries, invalid ones skipped (counted
  // on the fill queue, not exported).
  const size = <u64>load<u32>(xs, XS_UMEM_SIZE);
  const freeList = <usize>load<u32>(pool, XS_FREE);
  const nfree = load<u32>(pool, XS_FREE_N);
  if (n == 1) {
    // One buffer (the frame fits a chunk): the same steps as below, each entry read once.
    let a: u64 = 0;
    let used1: u32 = 0;
    if (nfree != 0) a = <u64>load<u32>(freeList + (<usize>(nfree - 1) << 2));
    else {
      const found = fillTake(fill, pool, pf, chunk, size);
      used1 = fillUsed;
      if (found < 0) return noBuffer(xs, fill, pool, 0, pf, pr, used1, zc, wakeup);
      a = <u64>found;
    }
    if (ringProdFree(rx, pr + 1) < pr + 1) {
      // RX full: the buffer was taken all the same; it goes to the pool's free list.
      count(xs, XS_RX_RING_FULL);
      if (nfree == 0) {
        freePush(pool, <u32>a);
        pendFill = pf + used1;
        pendRx = pr;
        pendXs = xs;
      }
      return false;
    }
    if (nfree != 0) store<u32>(pool, nfree - 1, XS_FREE_N);
    const at = a + <u64>headroom + <u64>XDP_PACKET_HEADROOM;
    copyFrame(<usize>load<u32>(xs, XS_UMEM) + <usize>at, data, len);
    const e = ringEntry(rx, ringProdIndex(rx) + pr);
    store<u64>(e, at, DESC_ADDR);
    store<u32>(e, len, DESC_LEN);
    store<u32>(e, 0, DESC_OPTIONS);
    pendFill = pf + used1;
    pendRx = pr + 1;
    pendXs = xs;
    return true;
  }
  // n buffers: `fromFree` off the free list, the rest from FILL; all or none, and RX must
  // have room for all n descriptors before any is taken.
  const fromFree = nfree < n ? nfree : n;
  const need = n - fromFree;
  const avail = fillEntries(fill, pf + need) - pf;
  const first = ringConsIndex(fill) + pf;
  let got: u32 = 0;
  let used: u32 = 0;
  while (got < need && used < avail) {
    // Aligned mode: the chunk size is a power of two (checked at registration).
    const a = load<u64>(ringEntry(fill, first + used)) & ~(<u64>chunk - 1);
    used++;
    if (a + <u64>chunk > size) { count(pool, XS_FILL_INVALID); continue; }
    got++;
  }
  if (got < need) return noBuffer(xs, fill, pool, fromFree + got, pf, pr, used, zc, wakeup);
  if (ringProdFree(rx, pr + n) < pr + n) { count(xs, XS_RX_RING_FULL); return false; }
  const umem = <usize>load<u32>(xs, XS_UMEM);
  const ri = ringProdIndex(rx) + pr;
  let k: u32 = 0;
  let off: u32 = 0;
  let i: u32 = 0;
  while (k < n) {
    let a: u64 = 0;
    if (k < fromFree) a = <u64>load<u32>(freeList + (<usize>(nfree - 1 - k) << 2));
    else {
      a = load<u64>(ringEntry(fill, first + i)) & ~(<u64>chunk - 1);
      i++;
      if (a + <u64>chunk > size) continue;
    }
    const piece = len - off < frameLen ? len - off : frameLen;
    const at = a + <u64>headroom + <u64>XDP_PACKET_HEADROOM;
    copyFrame(umem + <usize>at, data + off, piece);
    const e = ringEntry(rx, ri + k);
    store<u64>(e, at, DESC_ADDR);
    store<u32>(e, piece, DESC_LEN);
    store<u32>(e, k + 1 < n ? XDP_PKT_CONTD : 0, DESC_OPTIONS);
    off += piece;
    k++;
  }
  if (fromFree != 0) store<u32>(pool, nfree - fromFree, XS_FREE_N);
  pendFill = pf + used;
  pendRx = pr + n;
  pendXs = xs;
  return true;
}

// ---- zero-copy receive -----------------------------------------------------------------
// A NIC queue with a zero-copy pool (abi D_XSK_ZC) receives into the pool's UMEM: the
// driver's rx buffers are chunks from the pool's free list, then from FILL (af_xdp.md
// §1.3), the frame lands at chunk + headroom + XDP_PACKET_HEADROOM, XDP runs on it there,
// and a redirect into a socket on the same pool posts the buffer on RX as it is (no copy;
// the address follows any head adjustment). Any other outcome gives the buffer back to
// the pool's free list (PASS and devmap redirects copy the frame out first). FILL entries
// the driver takes are published at zcFillFlush (xskFlush: the end of the poll).

let zcFillRing: usize = 0; // the FILL ring the driver took entries from since the last flush
let zcFillTaken: u32 = 0;
/** Where the packet of the last zcRxBuffer may move (xdp_frame room above it, the chunk's end). */
export let zcLo: usize = 0;
export let zcHi: usize = 0;

/** sizeof(struct xdp_frame): the lowest the packet (or its metadata) may start above data_hard_start. */
const XDP_FRAME_SIZE: u32 = 40;

function zcFillFlush(): void {
  if (zcFillTaken != 0) ringRelease(zcFillRing, zcFillTaken);
  zcFillTaken = 0;
  zcFillRing = 0;
}

/** The frame (len bytes) fits one buffer of zero-copy pool `pool` (larger ones go the copy way). */
@inline export function zcFits(pool: usize, len: u32): bool {
  return len <= load<u32>(pool, XS_CHUNK) - load<u32>(pool, XS_HEADROOM) - XDP_PACKET_HEADROOM;
}

/** The buffer at `data` is one of zero-copy pool `pool`'s UMEM chunks (not a pool frame). */
@inline export function zcOwns(pool: usize, data: usize): bool {
  return data - <usize>load<u32>(pool, XS_UMEM) < <usize>load<u32>(pool, XS_UMEM_SIZE);
}

/**
 * The driver receives `len` bytes from `src` into a buffer of zero-copy pool `pool` (its
 * owner's socket record): returns where the packet starts (zcLo/zcHi say where it may
 * move), or 0 when there is none — free list and FILL empty (counted on the pool; with
 * need_wakeup the driver sets the FILL flag and stops) or the driver stopped already.
 */
@inline export function zcRxBuffer(pool: usize, src: usize, len: u32): usize {
  const chunk = load<u32>(pool, XS_CHUNK);
  let a: u64 = 0;
  const nfree = load<u32>(pool, XS_FREE_N);
  if (nfree != 0) {
    a = <u64>load<u32>(<usize>load<u32>(pool, XS_FREE) + (<usize>(nfree - 1) << 2));
    store<u32>(pool, nfree - 1, XS_FREE_N);
  } else {
    const fill = <usize>load<u32>(pool, XS_FILL);
    const wakeup = (load<u32>(pool, XS_FLAGS) & XSF_NEED_WAKEUP) != 0;
    if (wakeup && fillNeedsWakeup(fill)) return 0;
    // Copy-mode takes from this FILL come first (xskFlush publishes them, and any of ours).
    if (pendFill != 0 && <usize>load<u32>(pendXs, XS_FILL) == fill) xskFlush();
    if (fill != zcFillRing) {
      zcFillFlush();
      zcFillRing = fill;
    }
    const found = fillTake(fill, pool, zcFillTaken, chunk, <u64>load<u32>(pool, XS_UMEM_SIZE));
    zcFillTaken += fillUsed;
    a = <u64>found;
    if (found < 0) {
      count(pool, XS_RX_FILL_EMPTY);
      if (wakeup) setRingFlag(fill, true);
      return 0;
    }
  }
  const start = <usize>load<u32>(pool, XS_UMEM) + <usize>a;
  const hard = start + <usize>load<u32>(pool, XS_HEADROOM);
  const dst = hard + XDP_PACKET_HEADROOM;
  copyFrame(dst, src, len);
  zcLo = hard + XDP_FRAME_SIZE;
  zcHi = start + chunk;
  return dst;
}

/** Gives the buffer holding `data` (a chunk of zero-copy pool `pool`) back to the pool's free list. */
export function zcFree(pool: usize, data: usize): void {
  freePush(pool, <u32>(data - <usize>load<u32>(pool, XS_UMEM)) & ~(load<u32>(pool, XS_CHUNK) - 1));
}

/**
 * XDP_REDIRECT of a frame in a buffer of zero-copy pool `pool` into socket `xs` (af_xdp.md
 * §3.5): on the same pool the buffer itself goes on RX; a socket on another pool gets a
 * copy (xskRcv) and the buffer returns to its pool. True when the socket took the frame.
 */
@inline export function xskRcvZc(xs: usize, pool: usize, data: usize, len: u32, ifindex: u32, queue: u32): bool {
  if (<usize>load<u32>(xs, XS_POOL) != pool) {
    const ok = xskRcv(xs, data, len, ifindex, queue);
    zcFree(pool, data);
    return ok;
  }
  const rx = rcvRing(xs, ifindex, queue);
  if (rx == 0) {
    zcFree(pool, data);
    return false;
  }
  if (xs != pendXs) xskFlush();
  const pr = pendRx;
  if (ringProdFree(rx, pr + 1) < pr + 1) {
    count(xs, XS_RX_RING_FULL);
    zcFree(pool, data);
    return false;
  }
  const e = ringEntry(rx, ringProdIndex(rx) + pr);
  store<u64>(e, <u64>(data - <usize>load<u32>(xs, XS_UMEM)), DESC_ADDR);
  store<u32>(e, len, DESC_LEN);
  store<u32>(e, 0, DESC_OPTIONS);
  pendRx = pr + 1;
  pendXs = xs;
  return true;
}

// ---- transmit --------------------------------------------------------------------------

/** A TX descriptor is valid (aligned mode, af_xdp.md §1.2; no TX metadata area). */
@inline function txValid(addr: u64, len: u32, options: u32, chunk: u32, size: u64, sg: bool): bool {
  if (len == 0 || addr >= size) return false;
  if ((options & ~(XDP_PKT_CONTD | XDP_TX_METADATA)) != 0) return false;
  if (!sg && (options & XDP_PKT_CONTD) != 0) return false;
  return (addr % <u64>chunk) + <u64>len <= <u64>chunk;
}

/**
 * One packet (`len` bytes at `data`) out of the TX device: a NIC counts it on tx queue
 * `queue` and releases it to the wire; any other device gets it through the host (the
 * thread's redirect ring, transmitted on the device one round later). False when no
 * frame buffer was free (the caller retries).
 */
function xmitOut(thread: u32, slot: u32, queue: u32, data: usize, len: u32): bool {
  const dev = device(slot);
  if (dev == 0) return true;
  if (load<u32>(dev, D_KIND) == KIND_NIC) {
    if ((load<u8>(dev, D_CAPTURE) & <u8>CAP_DIR_OUT) != 0) capture(thread, dev, data, len, CAP_DIR_OUT, 0);
    if (queue < load<u32>(dev, D_NUM_RX)) {
      const qs = <usize>load<u32>(dev, D_QSTATS) + <usize>(((thread * load<u32>(dev, D_NUM_RX) + queue) * QS_COUNT) << 3);
      bump(qs, QS_TX_PACKETS, 1);
      bump(qs, QS_TX_BYTES, len);
    }
    const c = counters(thread, slot);
    bump(c, C_TX_PACKETS, 1);
    bump(c, C_TX_BYTES, len);
    return true;
  }
  const r = <usize>load<u32>(threadState(thread), T_REDIRECT_RING);
  if (len + FRAME_HEADROOM > load<u32>(GLOBALS, G_FRAME_SIZE)) return true; // larger than any skb here: dropped
  if (ringProdFree(r, 1) == 0) return false;
  const f = frameAlloc(thread);
  if (f == 0) return false;
  copyFrame(f + FRAME_HEADROOM, data, len);
  const e = ringEntry(r, ringProdIndex(r));
  store<u64>(e, <u64>(f + FRAME_HEADROOM), RD_ADDR);
  store<u32>(e, len, RD_LEN);
  store<u32>(e, load<u32>(dev, D_IFINDEX), RD_IFINDEX);
  store<u32>(e, load<u32>(dev, D_NETNS), RD_NETNS);
  store<u32>(e, 0, RD_FLAGS);
  store<u32>(e, slot, RD_FROM);
  ringSubmit(r, 1);
  return true;
}

/**
 * A TX pass over socket `xs` (af_xdp.md §3.6, §4). Copy mode (`zc` false): at most the
 * budget of descriptors, stops at the first invalid one, EAGAIN when the budget is spent
 * or COMPLETION is full. Zero-copy (the driver pulling): as many as COMPLETION has room
 * for, invalid descriptors skipped. Every sent descriptor completes at once, in order.
 * Returns 0 or the errno; XS_TX_DONE grows by the descriptors completed. A multi-buffer
 * packet cut short by the end of the ring stays in the ring for the next pass.
 */
export function xskTxPass(thread: u32, xs: usize, zc: bool): u32 {
  const queue = load<u32>(xs, XS_TX_QUEUE);
  if (queue == 0xffffffff) return 0; // the device has no such TX queue (a leased netkit queue)
  const tx = <usize>load<u32>(xs, XS_TX);
  const comp = <usize>load<u32>(xs, XS_COMP);
  if (tx == 0 || comp == 0) return 0;
  const slot = load<u32>(xs, XS_TX_SLOT);
  const sg = (load<u32>(xs, XS_FLAGS) & XSF_SG) != 0;
  const chunk = load<u32>(xs, XS_CHUNK);
  const size = <u64>load<u32>(xs, XS_UMEM_SIZE);
  const umem = <usize>load<u32>(xs, XS_UMEM);
  const txMask = load<u32>(tx, R_MASK);
  const compMask = load<u32>(comp, R_MASK);
  const compSize = load<u32>(comp, R_SIZE);
  const prod = atomic.load<u32>(tx + R_PRODUCER);
  let cons = load<u32>(tx, R_CONSUMER);
  let cprod = load<u32>(comp, R_PRODUCER);
  let ccons = atomic.load<u32>(comp + R_CONSUMER);
  let budget = zc ? 0xffffffff : load<u32>(xs, XS_TX_BUDGET);
  let result: u32 = 0;
  let pkt = cons; // first descriptor of the packet being built
  let frags: u32 = 0;
  let done: u32 = 0;
  for (;;) {
    if (cons == prod) {
      count(xs, XS_TX_EMPTY);
      if (frags != 0) { cons = pkt; cprod -= frags; } // unfinished packet: left for the next pass
      break;
    }
    const e = tx + RING_ENTRIES + (<usize>(cons & txMask) << 4);
    const addr = load<u64>(e, DESC_ADDR);
    const len = load<u32>(e, DESC_LEN);
    const options = load<u32>(e, DESC_OPTIONS);
    if (!txValid(addr, len, options, chunk, size, sg)) {
      // The invalid descriptor and the packet it was part of: counted, consumed, never completed.
      for (let i: u32 = 0; i <= frags; i++) count(xs, XS_TX_INVALID);
      cprod -= frags;
      cons++;
      pkt = cons;
      frags = 0;
      if (zc) continue;
      break;
    }
    if (!zc && budget-- == 0) { result = XSK_EAGAIN; cons = pkt; cprod -= frags; break; }
    if (cprod - ccons >= compSize) {
      ccons = atomic.load<u32>(comp + R_CONSUMER);
      if (cprod - ccons >= compSize) {
        if (!zc) result = XSK_EAGAIN;
        cons = pkt;
        cprod -= frags;
        break;
      }
    }
    store<u64>(comp + RING_ENTRIES + (<usize>(cprod & compMask) << 3), addr);
    cprod++;
    cons++;
    frags++;
    if ((options & XDP_PKT_CONTD) != 0) {
      if (!zc && frags > XSK_MAX_FRAGS) {
        // Too many fragments for one skb: the whole packet so far is dropped as invalid.
        for (let i: u32 = 0; i < frags; i++) count(xs, XS_TX_INVALID);
        cprod -= frags;
        pkt = cons;
        frags = 0;
      }
      continue;
    }
    let ok = true;
    if (frags == 1) {
      ok = xmitOut(thread, slot, queue, umem + <usize>addr, len);
    } else {
      // Gather the fragments into one frame.
      const f = frameAlloc(thread);
      if (f == 0) ok = false;
      else {
        let total: u32 = 0;
        const room = load<u32>(GLOBALS, G_FRAME_SIZE) - FRAME_HEADROOM;
        for (let i = pkt; i != cons; i++) {
          const d = tx + RING_ENTRIES + (<usize>(i & txMask) << 4);
          const l = load<u32>(d, DESC_LEN);
          if (total + l <= room) copyFrame(f + FRAME_HEADROOM + total, umem + <usize>load<u64>(d, DESC_ADDR), l);
          total += l;
        }
        ok = xmitOut(thread, slot, queue, f + FRAME_HEADROOM, total <= room ? total : room);
        frameFree(thread, f);
      }
    }
    if (!ok) { result = XSK_EAGAIN; cons = pkt; cprod -= frags; break; }
    done += frags;
    pkt = cons;
    frags = 0;
  }
  atomic.store<u32>(tx + R_CONSUMER, cons);
  atomic.store<u32>(comp + R_PRODUCER, cprod);
  atomic.add<u64>(xs + XS_TX_DONE, <u64>done);
  return result;
}

/**
 * The zero-copy driver's TX round for `xs` (what NAPI does after a TX wakeup): pulls what
 * COMPLETION has room for; idle once the TX ring is drained, and with need_wakeup sets
 * the TX flag again (the application must kick); otherwise stays active for the next
 * round. Returns descriptors completed.
 */
export function xskZcTx(thread: u32, xs: usize): u32 {
  const flags = atomic.load<u32>(xs + XS_FLAGS);
  if ((flags & XSF_TX_ACTIVE) == 0 || atomic.load<u32>(xs + XS_STATE) != XS_BOUND) return 0;
  const tx = <usize>load<u32>(xs, XS_TX);
  const wakeup = (flags & XSF_NEED_WAKEUP) != 0;
  if (wakeup) setRingFlag(tx, false);
  const before = load<u64>(xs, XS_TX_DONE);
  xskTxPass(thread, xs, true);
  if (atomic.load<u32>(tx + R_CONSUMER) == atomic.load<u32>(tx + R_PRODUCER)) {
    atomic.and<u32>(xs + XS_FLAGS, ~XSF_TX_ACTIVE);
    if (wakeup) setRingFlag(tx, true);
  }
  return <u32>(load<u64>(xs, XS_TX_DONE) - before);
}

// ---- kicks -----------------------------------------------------------------------------

@inline function devUp(xs: usize): bool {
  const dev = device(load<u32>(xs, XS_DEV_SLOT));
  return dev != 0 && (load<u32>(dev, D_FLAGS) & IFF_UP) != 0;
}

/** The pool needs a TX wakeup: always in copy mode; in zero-copy while the TX flag says so (or without need_wakeup). */
@inline function txWakeupNeeded(xs: usize, flags: u32): bool {
  if ((flags & XSF_ZEROCOPY) == 0 || (flags & XSF_NEED_WAKEUP) == 0) return true;
  return (atomic.load<u32>(<usize>load<u32>(xs, XS_TX) + R_FLAGS) & RING_NEED_WAKEUP) != 0;
}

/** The zero-copy driver's wakeup: TX schedules the driver's TX round; RX refills from FILL if it can. */
function zcWakeup(xs: usize, tx: bool, rx: bool): void {
  if (tx) atomic.or<u32>(xs + XS_FLAGS, XSF_TX_ACTIVE);
  if (rx) {
    const fill = <usize>load<u32>(xs, XS_FILL);
    if (ringConsAvail(fill, 1) != 0) setRingFlag(fill, false);
    else count(<usize>load<u32>(xs, XS_POOL), XS_RX_FILL_EMPTY);
  }
}

/** sendto(): 0 or an errno (af_xdp.md §2.7). */
export function xskSendto(thread: u32, xs: usize, msgFlags: u32): u32 {
  if (atomic.load<u32>(xs + XS_STATE) != XS_BOUND) return XSK_ENXIO;
  if (!devUp(xs)) return XSK_ENETDOWN;
  if ((msgFlags & XSK_MSG_DONTWAIT) == 0) return XSK_EOPNOTSUPP;
  if (load<u32>(xs, XS_TX) == 0) return XSK_ENOBUFS;
  const flags = atomic.load<u32>(xs + XS_FLAGS);
  if (!txWakeupNeeded(xs, flags)) return 0;
  if ((flags & XSF_ZEROCOPY) != 0) { zcWakeup(xs, true, false); return 0; }
  return xskTxPass(thread, xs, false);
}

/** recvfrom(): 0 or an errno (af_xdp.md §2.7). */
export function xskRecvfrom(xs: usize, msgFlags: u32): u32 {
  if (atomic.load<u32>(xs + XS_STATE) != XS_BOUND) return XSK_ENXIO;
  if (!devUp(xs)) return XSK_ENETDOWN;
  if (load<u32>(xs, XS_RX) == 0) return XSK_ENOBUFS;
  if ((msgFlags & XSK_MSG_DONTWAIT) == 0) return XSK_EOPNOTSUPP;
  const flags = atomic.load<u32>(xs + XS_FLAGS);
  if ((flags & XSF_ZEROCOPY) != 0 && (flags & XSF_NEED_WAKEUP) != 0 && fillNeedsWakeup(<usize>load<u32>(xs, XS_FILL))) zcWakeup(xs, false, true);
  return 0;
}

/** poll(): the readiness mask (POLLIN|POLLRDNORM, POLLOUT|POLLWRNORM); 0 when unbound or down. */
export function xskPoll(thread: u32, xs: usize): u32 {
  if (atomic.load<u32>(xs + XS_STATE) != XS_BOUND || !devUp(xs)) return 0;
  const flags = atomic.load<u32>(xs + XS_FLAGS);
  const tx = <usize>load<u32>(xs, XS_TX);
  const rx = <usize>load<u32>(xs, XS_RX);
  if ((flags & XSF_ZEROCOPY) != 0) {
    const needRx = (flags & XSF_NEED_WAKEUP) != 0 && fillNeedsWakeup(<usize>load<u32>(xs, XS_FILL));
    const needTx = tx != 0 && txWakeupNeeded(xs, flags);
    if (needRx || needTx) zcWakeup(xs, needTx, needRx);
  } else if (tx != 0) {
    xskTxPass(thread, xs, false);
  }
  let mask: u32 = 0;
  if (rx != 0 && atomic.load<u32>(rx + R_PRODUCER) != atomic.load<u32>(rx + R_CONSUMER)) mask |= XSK_POLLIN;
  if (tx != 0 && atomic.load<u32>(tx + R_PRODUCER) - atomic.load<u32>(tx + R_CONSUMER) <= load<u32>(tx, R_SIZE) / 2) mask |= XSK_POLLOUT;
  return mask;
}
