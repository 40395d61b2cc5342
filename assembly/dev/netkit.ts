// netkit xmit (drivers/net/netkit.c, spec netkit.md §4), over a batch of descriptors.
//
// Per packet: peer present and up, at least ETH_HLEN bytes, scrub (§4.1), pkt_type
// against the peer's MAC, skb->dev = peer, verdict (program list or default policy),
// then enqueue on the peer's rx ring 0 (the backlog) or drop. Every drop frees the frame
// and bumps tx_dropped plus its reason.

import {
  GLOBALS, G_DEV_TABLE, G_TRACE_FLAGS, G_FRAME_SIZE, TRACE_ON, RING_ENTRIES, R_MASK, D_FLAGS, D_PEER,
  D_IFINDEX, D_NETNS, D_POLICY, D_SCRUB, D_MAC, D_CAPTURE, D_RX_RINGS, DESC_ADDR, DESC_LEN, DESC_OPTIONS,
  DESC_SIZE, FM_MARK, FM_PRIORITY, FM_TSTAMP, FM_IFINDEX, FM_INGRESS_IFINDEX, FM_PKT_TYPE, FM_FLAGS,
  FMF_IGNORE_DF, IFF_UP, ETH_HLEN, NETKIT_PASS, NETKIT_NEXT, NETKIT_SCRUB_DEFAULT, PACKET_HOST,
  PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, C_TX_PACKETS, C_TX_BYTES, C_RX_PACKETS, C_RX_BYTES,
  DROP_NO_PEER, DROP_PEER_DOWN, DROP_PKT_TOO_SMALL, DROP_POLICY, DROP_BACKLOG_FULL, CAP_DIR_IN, CAP_DIR_OUT,
  HOOK_NETKIT_XMIT, D_PROGS, NETKIT_DROP, NETKIT_REDIRECT, DROP_BPF_DROP, DROP_BPF_VERDICT, DROP_BPF_FAULT,
  DROP_REDIRECT,
} from "../abi/layout";
import { runProgs, progsRan, runTcxIngress, runTcxEgress, progsFault, progsRedirectIfindex, progsRedirectFlags, progsData, progsLen, batchEntries, batchEntry, batchUse, runListBatch } from "../ebpf/skb";
import { PGL_COUNT, BPF_BATCH_MAX, BE_SIZE, BE_DATA, BE_LEN, BE_AUX, BE_AUX2, BE_META, BE_VERDICT, BE_FAULT, BE_RD_IFINDEX, BE_RD_FLAGS } from "../abi/layout";
import { D_TCX_INGRESS, D_TCX_EGRESS, DROP_TCX } from "../abi/layout";
import { frameBase } from "./frames";
import { VM_REDIRECT_FROM_INGRESS } from "../abi/vm";
import { queueRedirect } from "./redirect";
import { ringProdFree, ringProdIndex, ringSubmit } from "../ring/ring";
import { frameFree } from "./frames";
import { counters, bump, txDrop } from "./stats";
import { capture, captureBegin, captureEnd, traceRecord } from "./trace";

@inline export function device(slot: u32): usize {
  return <usize>load<u32>(<usize>load<u32>(GLOBALS, G_DEV_TABLE) + (<usize>slot << 2));
}

/** Ethernet destination vs the peer's MAC (§4 step 4), the MAC passed as (first 4, last 2) bytes. */
@inline function pktType(data: usize, mac0: u32, mac1: u16): u8 {
  const d0 = load<u32>(data);
  const d1 = load<u16>(data, 4);
  if (d0 == mac0 && d1 == mac1) return <u8>PACKET_HOST;
  if (d0 == 0xffffffff && d1 == 0xffff) return <u8>PACKET_BROADCAST;
  if ((d0 & 1) != 0) return <u8>PACKET_MULTICAST;
  return <u8>PACKET_OTHERHOST;
}

/** A descriptor for the frame at `addr` (len bytes) in entry `i` of a ring's entries. */
@inline function ringPut(entries: usize, i: u32, addr: usize, len: u32): void {
  const e = entries + <usize>(i * DESC_SIZE);
  store<u64>(e, <u64>addr, DESC_ADDR);
  store<u32>(e, len, DESC_LEN);
  store<u32>(e, 0, DESC_OPTIONS);
}

/**
 * Scrub (§4.1) of the frame whose metadata is at `meta`: always pkt_type/skb_iif/ignore_df;
 * across namespaces also the timestamp, and with scrub default mark and priority. Then
 * pkt_type against the peer's MAC and skb->dev = the peer.
 */
@inline function scrub(meta: usize, addr: usize, xnet: bool, scrubDefault: bool, mac0: u32, mac1: u16, peerIfindex: u32): void {
  store<u32>(meta, 0, FM_INGRESS_IFINDEX);
  store<u8>(meta, load<u8>(meta, FM_FLAGS) & ~<u8>FMF_IGNORE_DF, FM_FLAGS);
  if (xnet) {
    store<u64>(meta, 0, FM_TSTAMP);
    if (scrubDefault) {
      store<u32>(meta, 0, FM_MARK);
      store<u32>(meta, 0, FM_PRIORITY);
    }
  }
  store<u8>(meta, pktType(addr, mac0, mac1), FM_PKT_TYPE);
  store<u32>(meta, peerIfindex, FM_IFINDEX);
}

/**
 * Transmits `n` descriptors (at `descs`, DESC_SIZE apart, any of them possibly wrapping
 * is the caller's concern) on device `slot`. Returns how many were delivered to the peer.
 */
export function netkitXmit(thread: u32, slot: u32, descs: usize, n: u32): u32 {
  const dev = device(slot);
  const cDev = counters(thread, slot);
  const peerSlot = load<i32>(dev, D_PEER);
  const tracing = (load<u32>(GLOBALS, G_TRACE_FLAGS) & TRACE_ON) != 0;
  const capOut = (load<u8>(dev, D_CAPTURE) & CAP_DIR_OUT) != 0;
  const egressList = <usize>load<u32>(dev, D_TCX_EGRESS);
  let i: u32 = 0;

  if (peerSlot < 0 || (load<u32>(device(<u32>peerSlot), D_FLAGS) & IFF_UP) == 0) {
    // No peer (single mode, or mid-teardown) or peer down: everything drops early (§4 step 2).
    const reason = peerSlot < 0 ? DROP_NO_PEER : DROP_PEER_DOWN;
    for (; i < n; i++) {
      const d = descs + <usize>(i * DESC_SIZE);
      const addr = <usize>load<u64>(d, DESC_ADDR);
      const len = load<u32>(d, DESC_LEN);
      if (egressList != 0 && len >= ETH_HLEN && egress(thread, slot, dev, cDev, egressList, addr, len)) continue;
      if (capOut) capture(thread, dev, addr, len, CAP_DIR_OUT, reason);
      if (tracing) traceRecord(thread, load<u32>(dev, D_IFINDEX), 0, load<u32>(dev, D_NETNS), len, HOOK_NETKIT_XMIT, -2, reason, 0);
      txDrop(cDev, reason);
      frameFree(thread, addr);
    }
    return 0;
  }

  const peer = device(<u32>peerSlot);
  const cPeer = counters(thread, <u32>peerSlot);
  const xnet = load<u32>(dev, D_NETNS) != load<u32>(peer, D_NETNS);
  const scrubDefault = load<u8>(dev, D_SCRUB) == <u8>NETKIT_SCRUB_DEFAULT;
  const peerIfindex = load<u32>(peer, D_IFINDEX);
  const capIn = (load<u8>(peer, D_CAPTURE) & CAP_DIR_IN) != 0;
  const policy = <i32>load<u32>(dev, D_POLICY);
  const rx = <usize>load<u32>(<usize>load<u32>(peer, D_RX_RINGS));
  let room = ringProdFree(rx, n);
  const prod = ringProdIndex(rx);
  // Hoisted: stores into frames could alias these as far as the compiler knows.
  const entries = rx + RING_ENTRIES;
  const mask = load<u32>(rx, R_MASK);
  const frameMask = ~(<usize>load<u32>(GLOBALS, G_FRAME_SIZE) - 1);
  const mac0 = load<u32>(peer, D_MAC);
  const mac1 = load<u16>(peer, D_MAC + 4);
  let queued: u32 = 0;
  let txBytes: u64 = 0;
  let redirected: u32 = 0;
  let redirectedBytes: u64 = 0;
  const progs = <usize>load<u32>(dev, D_PROGS);
  const peerTcx = <usize>load<u32>(peer, D_TCX_INGRESS);
  let ingressed: u32 = 0;

  // One compiled program, or a list of them that share no state (PGLF_INDEPENDENT), and
  // nothing that must see a packet before the next one's verdict (tcx on either side,
  // capture of what leaves): the verdicts of up to BPF_BATCH_MAX packets come from
  // one call into each program's batch code, in list order, a later program skipping the
  // packets an earlier one finished. Each packet still sees the program state (maps) the
  // packets before it left, as one at a time; only programs that share none of it see the
  // packets in another interleaving.
  const use = progs != 0 ? batchUse(progs) : 0;
  if (use != 0 && egressList == 0 && peerTcx == 0 && !capOut) {
    const count = load<u32>(progs, PGL_COUNT);
    const batch = batchEntries(thread);
    while (i < n) {
      let m: u32 = 0;
      for (; i < n && m < BPF_BATCH_MAX; i++) {
        const d = descs + <usize>(i * DESC_SIZE);
        const addr = <usize>load<u64>(d, DESC_ADDR);
        const len = load<u32>(d, DESC_LEN);
        if (len < ETH_HLEN) {
          txDrop(cDev, DROP_PKT_TOO_SMALL);
          if (tracing) traceRecord(thread, load<u32>(dev, D_IFINDEX), peerIfindex, load<u32>(dev, D_NETNS), len, HOOK_NETKIT_XMIT, -2, DROP_PKT_TOO_SMALL, 0);
          frameFree(thread, addr);
          continue;
        }
        const meta = addr & frameMask;
        scrub(meta, addr, xnet, scrubDefault, mac0, mac1, peerIfindex);
        const e = batch + <usize>(m * BE_SIZE);
        batchEntry(e, meta, addr, len, peerIfindex, use);
        store<u32>(e, len, BE_AUX);
        m++;
      }
      runListBatch(thread, progs, count, batch, m, peer, tracing);
      for (let k: u32 = 0; k < m; k++) {
        const e = batch + <usize>(k * BE_SIZE);
        const addr = <usize>load<u32>(e, BE_DATA);
        const len = load<u32>(e, BE_LEN);
        const len0 = load<u32>(e, BE_AUX);
        let verdict = load<i32>(e, BE_VERDICT);
        let reason = DROP_BPF_FAULT;
        if (load<u32>(e, BE_FAULT) == 0) {
          if (verdict == NETKIT_PASS || verdict == NETKIT_NEXT) {
            if (room != 0) {
              ringPut(entries, (prod + queued) & mask, addr, len);
              queued++;
              room--;
              txBytes += len0;
              if (capIn) capture(thread, peer, addr, len, CAP_DIR_IN, 0);
              if (tracing) batchTrace(thread, dev, peerIfindex, e, len, NETKIT_PASS, 0, progs);
              continue;
            }
            verdict = NETKIT_PASS;
            reason = DROP_BACKLOG_FULL;
          } else if (verdict == NETKIT_REDIRECT) {
            redirected++;
            redirectedBytes += len0;
            if (!queueRedirect(thread, slot, addr, len, load<u32>(peer, D_NETNS), load<u32>(e, BE_RD_IFINDEX), load<u32>(e, BE_RD_FLAGS))) {
              bump(cDev, DROP_REDIRECT, 1);
              frameFree(thread, addr);
            }
            if (tracing) batchTrace(thread, dev, peerIfindex, e, len, verdict, 0, progs);
            continue;
          } else {
            reason = verdict == NETKIT_DROP ? DROP_BPF_DROP : DROP_BPF_VERDICT;
          }
        } else {
          verdict = NETKIT_DROP;
        }
        txDrop(cDev, reason);
        if (tracing) batchTrace(thread, dev, peerIfindex, e, len, verdict, reason, progs);
        frameFree(thread, addr);
      }
    }
  }

  for (; i < n; i++) {
    const d = descs + <usize>(i * DESC_SIZE);
    let addr = <usize>load<u64>(d, DESC_ADDR);
    let len = load<u32>(d, DESC_LEN);
    // tcx egress of the sending device runs first (dev_queue_xmit, before ndo_start_xmit).
    if (egressList != 0 && len >= ETH_HLEN) {
      if (egress(thread, slot, dev, cDev, egressList, addr, len)) continue;
      addr = progsData();
      len = progsLen();
    }
    // Counted as the length it was handed over with (§4 step 1), whatever programs do to it.
    const len0 = len;
    // Seen leaving (dev_queue_xmit_nit) before the verdict; published with its fate.
    const cap = capOut ? captureBegin(thread, dev, addr, len, CAP_DIR_OUT) : 0;
    if (len < ETH_HLEN) {
      captureEnd(thread, cap, DROP_PKT_TOO_SMALL);
      txDrop(cDev, DROP_PKT_TOO_SMALL);
      if (tracing) traceRecord(thread, load<u32>(dev, D_IFINDEX), peerIfindex, load<u32>(dev, D_NETNS), len, HOOK_NETKIT_XMIT, -2, DROP_PKT_TOO_SMALL, 0);
      frameFree(thread, addr);
      continue;
    }
    const meta = addr & frameMask;
    scrub(meta, addr, xnet, scrubDefault, mac0, mac1, peerIfindex);

    // Verdict (§4 steps 6-7): the attach point's program list, or with none the default
    // policy. All NEXT means PASS; a fault drops (BPF_FAULT); REDIRECT hands the frame to
    // the host with its target; DROP and unknown verdicts drop.
    let verdict = policy;
    let reason = DROP_POLICY;
    // (kept: the peer's tcx ingress walks its own list below)
    let ran: u32 = 0;
    if (progs != 0) {
      verdict = runProgs(thread, progs, meta, addr, len, peer);
      ran = progsRan();
      addr = progsData();
      len = progsLen();
      if (progsFault() != 0) {
        verdict = NETKIT_DROP;
        reason = DROP_BPF_FAULT;
      } else if (verdict == NETKIT_NEXT) {
        verdict = NETKIT_PASS;
      } else if (verdict == NETKIT_REDIRECT) {
        captureEnd(thread, cap, 0);
        redirected++;
        redirectedBytes += len0;
        if (!queueRedirect(thread, slot, addr, len, load<u32>(peer, D_NETNS), progsRedirectIfindex(), progsRedirectFlags())) {
          bump(cDev, DROP_REDIRECT, 1);
          frameFree(thread, addr);
        }
        if (tracing) traceRecord(thread, load<u32>(dev, D_IFINDEX), peerIfindex, load<u32>(dev, D_NETNS), len, HOOK_NETKIT_XMIT, verdict, 0, load<u32>(meta, FM_MARK), progs, ran);
        continue;
      } else {
        reason = verdict == NETKIT_DROP ? DROP_BPF_DROP : DROP_BPF_VERDICT;
      }
    }
    if (verdict == NETKIT_PASS || verdict == NETKIT_NEXT) {
      if (room != 0) {
        // The peer receives it (counted now, as the backlog enqueue is); its tcx ingress
        // then decides whether the frame goes up the stack, is dropped or redirected.
        if (peerTcx != 0) {
          const act = runTcxIngress(thread, peerTcx, meta, addr, len, peer, progs == 0);
          addr = progsData();
          len = progsLen();
          if (act != 0) {
            captureEnd(thread, cap, 0);
            txBytes += len0;
            ingressed++;
            if (act == 7 && queueRedirect(thread, <u32>peerSlot, addr, len, load<u32>(peer, D_NETNS), progsRedirectIfindex(), progsRedirectFlags() | VM_REDIRECT_FROM_INGRESS)) continue;
            bump(cPeer, act == 7 ? DROP_REDIRECT : DROP_TCX, 1);
            frameFree(thread, addr);
            continue;
          }
        }
        ringPut(entries, (prod + queued) & mask, addr, len);
        queued++;
        room--;
        txBytes += len0;
        captureEnd(thread, cap, 0);
        if (capIn) capture(thread, peer, addr, len, CAP_DIR_IN, 0);
        if (tracing) traceRecord(thread, load<u32>(dev, D_IFINDEX), peerIfindex, load<u32>(dev, D_NETNS), len, HOOK_NETKIT_XMIT, verdict, 0, load<u32>(meta, FM_MARK), progs, ran);
        continue;
      }
      reason = DROP_BACKLOG_FULL;
    }
    captureEnd(thread, cap, reason);
    txDrop(cDev, reason);
    if (tracing) traceRecord(thread, load<u32>(dev, D_IFINDEX), peerIfindex, load<u32>(dev, D_NETNS), len, HOOK_NETKIT_XMIT, verdict, reason, load<u32>(meta, FM_MARK), progs, ran);
    frameFree(thread, addr);
  }

  ringSubmit(rx, queued);
  // REDIRECT counts as transmitted whatever becomes of it (§4 step 7).
  bump(cDev, C_TX_PACKETS, queued + redirected + ingressed);
  bump(cDev, C_TX_BYTES, txBytes + redirectedBytes);
  bump(cPeer, C_RX_PACKETS, queued + ingressed);
  bump(cPeer, C_RX_BYTES, txBytes);
  return queued;
}

/** The trace record of batch entry `e` (as the per-packet loop writes it; BE_AUX2: the programs that ran, runListBatch's). */
function batchTrace(thread: u32, dev: usize, peerIfindex: u32, e: usize, len: u32, verdict: i32, reason: u32, progs: usize): void {
  traceRecord(thread, load<u32>(dev, D_IFINDEX), peerIfindex, load<u32>(dev, D_NETNS), len, HOOK_NETKIT_XMIT, verdict, reason, load<u32>(<usize>load<u32>(e, BE_META), FM_MARK), progs, load<u32>(e, BE_AUX2));
}

/**
 * The sending device's tcx egress list on one frame: true when it consumed the frame
 * (TCX_DROP, counted by reason only as the kernel counts nothing; REDIRECT, to the host).
 */
function egress(thread: u32, slot: u32, dev: usize, cDev: usize, list: usize, addr: usize, len: u32): bool {
  const meta = frameBase(addr);
  const act = runTcxEgress(thread, list, meta, addr, len, dev);
  if (act == 0) return false;
  if (act == 7 && queueRedirect(thread, slot, progsData(), progsLen(), load<u32>(dev, D_NETNS), progsRedirectIfindex(), progsRedirectFlags())) return true;
  bump(cDev, act == 7 ? DROP_REDIRECT : DROP_TCX, 1);
  frameFree(thread, addr);
  return true;
}
