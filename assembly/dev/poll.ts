// The dataplane's batch entry points: the poll loop a worker (or the host, inline) runs
// over its devices, the host's ring verbs, the drop sink and the packet generator.

import {
  GLOBALS, G_GENERATION, G_FRAME_SIZE, T_SEEN_GENERATION, T_POLL_LIST, T_POLLED, T_SCRATCH, PL_COUNT, PL_SLOTS,
  D_KIND, D_PEER, D_TX_RING, D_WIRE_RING, KIND_NIC, D_RX_RINGS, D_REAL_NUM_RX, D_RX_SINK, KIND_NETKIT, SINK_DROP,
  R_SIZE, R_MASK, DESC_ADDR, DESC_LEN, DESC_OPTIONS, DESC_SIZE, FRAME_HEADROOM, FM_PROTOCOL,
  RP_ADDR, RP_LEN, RP_PROTO, RP_SIZE,
} from "../abi/layout";
import {
  ringConsAvail, ringConsIndex, ringEntry, ringRelease, ringProdFree, ringProdIndex, ringSubmit,
} from "../ring/ring";
import { copy64, framesTake, framesFreeDescs, threadState } from "./frames";
import { device, netkitXmit } from "./netkit";
import { nicRx, nicRxFresh, nicRxWire, nicXmit } from "./nic";
import { counters, rxDrop } from "./stats";
import { DROP_NOMEM } from "../abi/layout";

const BATCH: u32 = 64;

/**
 * Copies len bytes in 16-byte steps; may write up to 15 bytes past len (the caller
 * guarantees the room) and read up to 15 past the source (host allocations are rounded
 * up to 64 bytes).
 */
@inline function copy16(dst: usize, src: usize, len: u32): void {
  let o: usize = 0;
  if (len >= 64) {
    copy64(dst, src);
    o = 64;
  }
  for (; o < <usize>len; o += 16) store<v128>(dst + o, load<v128>(src + o));
}

const WORK_XMIT: u32 = 0;
const WORK_WIRE: u32 = 1;

/** Hands a run of contiguous descriptors to the device's handler for that work. */
@inline function handle(thread: u32, slot: u32, dev: usize, work: u32, descs: usize, n: u32): void {
  if (load<u32>(dev, D_KIND) == KIND_NETKIT) netkitXmit(thread, slot, descs, n);
  else if (work == WORK_XMIT) nicXmit(thread, slot, dev, descs, n);
  else nicRx(thread, slot, dev, descs, n);
}

/** Runs n ready entries of ring r (one or two contiguous runs) through the handler. */
function drainRing(thread: u32, slot: u32, dev: usize, work: u32, r: usize, n: u32): void {
  const idx = ringConsIndex(r);
  const room = load<u32>(r, R_SIZE) - (idx & load<u32>(r, R_MASK));
  const first = n < room ? n : room;
  handle(thread, slot, dev, work, ringEntry(r, idx), first);
  if (first < n) handle(thread, slot, dev, work, ringEntry(r, idx + first), n - first);
  ringRelease(r, n);
}

/** Services one ring of a device within the budget left; returns packets handled. */
function service(thread: u32, slot: u32, dev: usize, work: u32, r: usize, budget: u32): u32 {
  if (r == 0) return 0;
  let total: u32 = 0;
  let n = ringConsAvail(r, BATCH);
  while (n != 0 && total < budget) {
    drainRing(thread, slot, dev, work, r, n);
    total += n;
    n = ringConsAvail(r, BATCH);
  }
  return total;
}

/** Frees everything waiting on the device's rx rings (the rx-drop sink). */
export function sinkDrop(thread: u32, slot: u32): u32 {
  const dev = device(slot);
  const rings = <usize>load<u32>(dev, D_RX_RINGS);
  const nq = load<u32>(dev, D_REAL_NUM_RX);
  let total: u32 = 0;
  for (let q: u32 = 0; q < nq; q++) {
    const r = <usize>load<u32>(rings + (<usize>q << 2));
    const n = ringConsAvail(r, 0xffffffff);
    const idx = ringConsIndex(r);
    // Free in at most two contiguous runs of the ring.
    const room = load<u32>(r, R_SIZE) - (idx & load<u32>(r, R_MASK));
    const first = n < room ? n : room;
    framesFreeDescs(thread, ringEntry(r, idx), first, DESC_SIZE);
    if (first < n) framesFreeDescs(thread, ringEntry(r, idx + first), n - first, DESC_SIZE);
    ringRelease(r, n);
    total += n;
  }
  return total;
}

/**
 * Reports the configuration generation this thread now runs with; from here on it
 * holds no pointer to a record retired before that generation (the emulator's RCU).
 */
export function quiesce(thread: u32): u32 {
  const gen = atomic.load<u32>(GLOBALS + G_GENERATION);
  atomic.store<u32>(threadState(thread) + T_SEEN_GENERATION, gen);
  return gen;
}

/** One pass over this thread's poll list, at most `budget` packets. Returns packets handled. */
export function poll(thread: u32, budget: u32): u32 {
  const ts = threadState(thread);
  quiesce(thread);
  const list = <usize>atomic.load<u32>(ts + T_POLL_LIST);
  if (list == 0) return 0;
  const count = load<u32>(list, PL_COUNT);
  let total: u32 = 0;
  for (let k: u32 = 0; k < count; k++) {
    const slot = load<u32>(list + PL_SLOTS + (<usize>k << 2));
    const dev = device(slot);
    if (dev == 0) continue;
    const kind = load<u32>(dev, D_KIND);
    if (kind == KIND_NETKIT) {
      total += service(thread, slot, dev, WORK_XMIT, <usize>load<u32>(dev, D_TX_RING), budget - total);
      const peer = load<i32>(dev, D_PEER);
      if (peer >= 0 && load<u32>(device(<u32>peer), D_RX_SINK) == SINK_DROP) sinkDrop(thread, <u32>peer);
    } else if (kind == KIND_NIC) {
      total += service(thread, slot, dev, WORK_XMIT, <usize>load<u32>(dev, D_TX_RING), budget - total);
      total += service(thread, slot, dev, WORK_WIRE, <usize>load<u32>(dev, D_WIRE_RING), budget - total);
      if (load<u32>(dev, D_RX_SINK) == SINK_DROP) sinkDrop(thread, slot);
    }
  }
  store<u32>(ts, load<u32>(ts, T_POLLED) + total, T_POLLED);
  return total;
}

/**
 * Host (thread 0) puts n descriptors on a device's tx ring, or with wire = 1 on a NIC's
 * wire ring (frames arriving from outside).
 */
export function txPush(slot: u32, descs: usize, n: u32, wire: u32): u32 {
  const r = <usize>load<u32>(device(slot) + (wire != 0 ? D_WIRE_RING : D_TX_RING));
  if (r == 0) return 0;
  const k = ringProdFree(r, n);
  const idx = ringProdIndex(r);
  for (let i: u32 = 0; i < k; i++) memory.copy(ringEntry(r, idx + i), descs + <usize>(i * DESC_SIZE), DESC_SIZE);
  ringSubmit(r, k);
  return k;
}

/** Consumer of rx ring `queue`: moves up to n descriptors to out[] and releases them. */
export function rxPop(slot: u32, queue: u32, out: usize, n: u32): u32 {
  const dev = device(slot);
  if (queue >= load<u32>(dev, D_REAL_NUM_RX)) return 0;
  const r = <usize>load<u32>(<usize>load<u32>(dev, D_RX_RINGS) + (<usize>queue << 2));
  const k = ringConsAvail(r, n);
  const idx = ringConsIndex(r);
  for (let i: u32 = 0; i < k; i++) memory.copy(out + <usize>(i * DESC_SIZE), ringEntry(r, idx + i), DESC_SIZE);
  ringRelease(r, k);
  return k;
}

/**
 * pktgen: `count` copies of the template frame (len bytes at tmpl) sent on `slot`
 * straight into xmit (like the kernel's pktgen calling ndo_start_xmit, no tx ring) or,
 * for a NIC, arriving from the wire into its rx path, in
 * batches of `batch`. With flows > 1 the u16 at template offset portOff (a UDP source
 * port, network order) is varied per packet over `flows` values. Must run on the thread
 * that owns the device. Returns how many were handed to xmit (frames permitting) or, for
 * a NIC, sent on the wire: all of them (a frame the driver has no buffer for is its drop,
 * counted on the device).
 */
export function pktgen(thread: u32, slot: u32, tmpl: usize, len: u32, count: u32, batch: u32, flows: u32, portOff: u32, proto: u16): u32 {
  const scratch = <usize>load<u32>(threadState(thread), T_SCRATCH);
  if (batch == 0 || batch > BATCH) batch = BATCH;
  const dev = device(slot);
  const nic = load<u32>(dev, D_KIND) == KIND_NIC;
  const peer = load<i32>(dev, D_PEER);
  const drain = nic ? load<u32>(dev, D_RX_SINK) == SINK_DROP : peer >= 0 && load<u32>(device(<u32>peer), D_RX_SINK) == SINK_DROP;
  const port0 = flows > 1 ? bswap<u16>(load<u16>(tmpl + portOff)) : 0;
  let sent: u32 = 0;
  // Frame bases are staged after the descriptors in the scratch area.
  const bases = scratch + <usize>(BATCH * DESC_SIZE);
  const small = len + 16 <= load<u32>(GLOBALS, G_FRAME_SIZE) - FRAME_HEADROOM;
  if (nic && flows <= 1 && small) {
    // One flow into a NIC: the wire sends the template itself; the driver receives each
    // frame into a buffer of the queue it steers to (a pool frame or a zero-copy UMEM chunk).
    for (let i: u32 = 0; i < batch; i++) stage(scratch, i, tmpl, len);
    while (sent < count) {
      const nb = count - sent < batch ? count - sent : batch;
      nicRxWire(thread, slot, dev, scratch, nb);
      if (drain) sinkDrop(thread, slot);
      sent += nb;
    }
    return sent;
  }
  while (sent < count) {
    const nb = count - sent < batch ? count - sent : batch;
    // Frames for a NIC's rx path keep their metadata uncleared until it is read (most
    // never are: dropped, redirected to a socket, sent back out); see nic.ts `freshMeta`.
    const k = framesTake(thread, bases, nb, !nic);
    for (let i: u32 = 0; i < k; i++) {
      const f = <usize>load<u32>(bases + (<usize>i << 2));
      const data = f + FRAME_HEADROOM;
      if (small) copy16(data, tmpl, len); else memory.copy(data, tmpl, len);
      if (flows > 1) store<u16>(data + portOff, bswap<u16>(<u16>(port0 + (sent + i) % flows)));
      if (!nic) store<u16>(f, proto, FM_PROTOCOL);
      stage(scratch, i, data, len);
    }
    const done = sendStaged(thread, slot, dev, nic, peer, drain, scratch, k, nb);
    if (done == 0) break;
    sent += done;
  }
  return sent;
}

/** Descriptor `i` of the batch staged in `scratch`: `len` bytes at `data`. */
@inline function stage(scratch: usize, i: u32, data: usize, len: u32): void {
  const d = scratch + <usize>(i * DESC_SIZE);
  store<u64>(d, <u64>data, DESC_ADDR);
  store<u32>(d, len, DESC_LEN);
  store<u32>(d, 0, DESC_OPTIONS);
}

/**
 * pktgen's hand-off of a staged batch: `k` frames staged of `nb` sent. A NIC receives
 * them from the wire, and the frames its driver had no buffer for are sent all the same
 * (its drops); a netkit device xmits them. Returns how many count as sent: all `nb` for
 * a NIC, `k` for netkit (0: no frame to send, pktgen stops).
 */
@inline function sendStaged(thread: u32, slot: u32, dev: usize, nic: bool, peer: i32, drain: bool, scratch: usize, k: u32, nb: u32): u32 {
  if (nic) {
    if (k < nb) rxDrop(counters(thread, slot), DROP_NOMEM, nb - k);
    if (k != 0) nicRxFresh(thread, slot, dev, scratch, k);
    if (drain) sinkDrop(thread, slot);
    return nb;
  }
  if (k == 0) return 0;
  netkitXmit(thread, slot, scratch, k);
  if (drain) sinkDrop(thread, <u32>peer);
  return k;
}

/**
 * pktgen over a list of frames (a replayed capture): `count` frames sent on `slot` as
 * pktgen sends them, frame k being list entry (start + k) mod n (abi RP_*), in order,
 * in batches of `batch`. Must run on the thread that owns the device. Returns what pktgen
 * returns: frames handed to xmit, or for a NIC all `count` (its drops counted on it).
 */
export function pktgenList(thread: u32, slot: u32, list: usize, n: u32, start: u32, count: u32, batch: u32): u32 {
  if (n == 0) return 0;
  const scratch = <usize>load<u32>(threadState(thread), T_SCRATCH);
  if (batch == 0 || batch > BATCH) batch = BATCH;
  const dev = device(slot);
  const nic = load<u32>(dev, D_KIND) == KIND_NIC;
  const peer = load<i32>(dev, D_PEER);
  const drain = nic ? load<u32>(dev, D_RX_SINK) == SINK_DROP : peer >= 0 && load<u32>(device(<u32>peer), D_RX_SINK) == SINK_DROP;
  const bases = scratch + <usize>(BATCH * DESC_SIZE);
  let at = start % n;
  let sent: u32 = 0;
  while (sent < count) {
    const nb = count - sent < batch ? count - sent : batch;
    const k = framesTake(thread, bases, nb, !nic);
    for (let i: u32 = 0; i < k; i++) {
      const e = list + <usize>(at * RP_SIZE);
      if (++at == n) at = 0;
      const f = <usize>load<u32>(bases + (<usize>i << 2));
      const data = f + FRAME_HEADROOM;
      const len = <u32>load<u16>(e, RP_LEN);
      memory.copy(data, <usize>load<u32>(e, RP_ADDR), len);
      if (!nic) store<u16>(f, load<u16>(e, RP_PROTO), FM_PROTOCOL);
      stage(scratch, i, data, len);
    }
    // (frames a NIC's driver had no buffer for were still sent: they take their turn in the replay)
    if (nic) for (let i = k; i < nb; i++) if (++at == n) at = 0;
    const done = sendStaged(thread, slot, dev, nic, peer, drain, scratch, k, nb);
    if (done == 0) break;
    sent += done;
  }
  return sent;
}
