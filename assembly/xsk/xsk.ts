// AF_XDP receive in copy mode (spec/af_xdp.md §3.5): a frame an XDP program redirected into
// a socket is copied into a buffer from the socket's FILL ring and described on its RX
// ring. Checks in the kernel's order; each failure drops the frame (the caller frees it).

import {
  XS_STATE, XS_IFINDEX, XS_QUEUE, XS_PHYS_IFINDEX, XS_PHYS_QUEUE, XS_UMEM, XS_UMEM_SIZE, XS_CHUNK, XS_HEADROOM,
  XS_FILL, XS_RX, XS_RX_DROPPED, XS_RX_RING_FULL, XS_RX_FILL_EMPTY, XS_BOUND, XDP_PACKET_HEADROOM,
} from "../abi/xsk";
import { DESC_ADDR, DESC_LEN, DESC_OPTIONS } from "../abi/layout";
import { ringConsAvail, ringConsIndex, ringEntry, ringProdFree, ringProdIndex, ringRelease, ringSubmit } from "../ring/ring";

@inline function count(xs: usize, field: u32): void {
  atomic.add<u64>(xs + field, 1);
}

/** Delivers `len` bytes at `data`, received on (ifindex, queue), to socket `xs`. True when it took them. */
export function xskRcv(xs: usize, data: usize, len: u32, ifindex: u32, queue: u32): bool {
  if (atomic.load<u32>(xs + XS_STATE) != XS_BOUND) return false;
  const own = load<u32>(xs, XS_IFINDEX) == ifindex && load<u32>(xs, XS_QUEUE) == queue;
  const leased = load<u32>(xs, XS_PHYS_IFINDEX) == ifindex && load<u32>(xs, XS_PHYS_QUEUE) == queue;
  if (!own && !leased) return false;
  const chunk = load<u32>(xs, XS_CHUNK);
  const headroom = load<u32>(xs, XS_HEADROOM);
  if (len > chunk - headroom - XDP_PACKET_HEADROOM) { count(xs, XS_RX_DROPPED); return false; }
  const fill = <usize>load<u32>(xs, XS_FILL);
  const rx = <usize>load<u32>(xs, XS_RX);
  if (ringConsAvail(fill, 1) == 0) {
    count(xs, XS_RX_FILL_EMPTY);
    count(xs, XS_RX_DROPPED);
    return false;
  }
  if (ringProdFree(rx, 1) == 0) { count(xs, XS_RX_RING_FULL); return false; }
  // Aligned mode: the fill address names its chunk; the data goes after the headrooms.
  const size = <u64>load<u32>(xs, XS_UMEM_SIZE);
  let addr = load<u64>(ringEntry(fill, ringConsIndex(fill)));
  ringRelease(fill, 1);
  addr = addr - (addr % <u64>chunk);
  if (addr + <u64>chunk > size) { count(xs, XS_RX_DROPPED); return false; }
  const off = addr + <u64>headroom + <u64>XDP_PACKET_HEADROOM;
  memory.copy(<usize>load<u32>(xs, XS_UMEM) + <usize>off, data, len);
  const e = ringEntry(rx, ringProdIndex(rx));
  store<u64>(e, off, DESC_ADDR);
  store<u32>(e, len, DESC_LEN);
  store<u32>(e, 0, DESC_OPTIONS);
  ringSubmit(rx, 1);
  return true;
}

/**
 * The rx-drop application (xdpsock -r) in one step: up to `max` received frames go
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
