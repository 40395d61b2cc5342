// Frames a program redirected, queued for the host (abi RD_*): it resolves the target in
// the namespace the frame was in and sends it (egress, or up the stack with the ingress
// flags). Shared by netkit xmit and the NIC's XDP and tcx hooks.

import { T_REDIRECT_RING, RD_ADDR, RD_LEN, RD_IFINDEX, RD_NETNS, RD_FLAGS, RD_FROM } from "../abi/layout";
import { ringEntry, ringProdFree, ringProdIndex, ringSubmit } from "../ring/ring";
import { threadState } from "./frames";

/** Queues the frame at `addr` (len bytes) from device slot `from` for `ifindex`; false when the ring is full or nothing was asked (0). */
export function queueRedirect(thread: u32, from: u32, addr: usize, len: u32, netns: u32, ifindex: u32, flags: u32): bool {
  if (ifindex == 0) return false;
  const r = <usize>load<u32>(threadState(thread), T_REDIRECT_RING);
  if (ringProdFree(r, 1) == 0) return false;
  const e = ringEntry(r, ringProdIndex(r));
  store<u64>(e, <u64>addr, RD_ADDR);
  store<u32>(e, len, RD_LEN);
  store<u32>(e, ifindex, RD_IFINDEX);
  store<u32>(e, netns, RD_NETNS);
  store<u32>(e, flags, RD_FLAGS);
  store<u32>(e, from, RD_FROM);
  ringSubmit(r, 1);
  return true;
}
