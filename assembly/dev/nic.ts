// Emulated physical NIC: frames from the wire pick an rx queue (ntuple rules in
// location order, then RSS over the default context; netns-unregister.md §6.1) and land
// on that queue's ring; frames the stack sends out are counted and leave for the wire.

import {
  D_STEER, D_PROVIDERS, FRAME_META, FM_FLAGS, FMF_PROVIDER, FRAME_HEADROOM, D_RX_RINGS, D_REAL_NUM_RX,
  D_NUM_RX, D_QSTATS, D_CAPTURE, D_IFINDEX, DESC_ADDR, DESC_LEN, DESC_OPTIONS, DESC_SIZE, FM_HASH,
  FM_QUEUE_MAPPING, FM_IFINDEX, FM_PKT_TYPE, FM_PROTOCOL, ST_N_RULES, ST_RULES, ST_N_CTX, ST_CTX,
  ST_TABLE_SIZE, RULE_SIZE, RU_FLOW, RU_ACTION, RU_CONTEXT, RU_SRC_IP, RU_SRC_IP_MASK, RU_DST_IP,
  RU_DST_IP_MASK, RU_SRC_PORT, RU_SRC_PORT_MASK, RU_DST_PORT, RU_DST_PORT_MASK, RU_SRC_MAC, RU_SRC_MAC_MASK,
  RU_DST_MAC, RU_DST_MAC_MASK, RU_PROTO, RU_PROTO_MASK, FLOW_TCP4, FLOW_UDP4, FLOW_ETHER, QS_RX_PACKETS,
  QS_RX_BYTES, QS_TX_PACKETS, QS_TX_BYTES, QS_COUNT, C_RX_PACKETS, C_RX_BYTES, C_TX_PACKETS, C_TX_BYTES,
  DROP_NTUPLE, DROP_PROVIDER_EMPTY, DROP_BACKLOG_FULL, DROP_PKT_TOO_SMALL, CAP_DIR_IN, CAP_DIR_OUT, ETH_HLEN,
  PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, D_MAC,
} from "../abi/layout";
import { ringConsAvail, ringConsIndex, ringEntry, ringProdFree, ringProdIndex, ringRelease, ringSubmit } from "../ring/ring";
import { frameBase, frameFree, framesFreeDescs, zeroMeta } from "./frames";
import { counters, bump, rxDrop } from "./stats";
import { capture, traceOn, traceXdp } from "./trace";
import { XS_IFINDEX } from "../abi/xsk";
import { xskRcv, xskFlush, xskRcvZc, zcRxBuffer, zcFree, zcFits, zcOwns, zcLo, zcHi, copyFrame } from "../xsk/xsk";
import { runXdp, runXdpIn, runTcxIngress, runTcxEgress, progsData, progsLen, progsRedirectIfindex, progsRedirectFlags } from "../ebpf/skb";
import { D_TCX_INGRESS, D_TCX_EGRESS, DROP_TCX } from "../abi/layout";
import { VM_REDIRECT_FROM_INGRESS, VM_REDIRECT_MAP, BPF_MAP_TYPE_CPUMAP } from "../abi/vm";
import { queueRedirect } from "./redirect";
import { batchEntries, xdpEntry, xdpEntryIn, xdpRunEntry, batchEntry, runBatch, batchUse, runListBatch, tcxAct, tcxIngressFields, batchable, xdpNetns } from "../ebpf/skb";
import { BPF_BATCH_MAX, BE_SIZE, BE_DATA, BE_LEN, BE_AUX, BE_AUX2, BE_VERDICT, BE_FAULT, BE_RD_IFINDEX, BE_RD_FLAGS } from "../abi/layout";
import {
  D_XDP, DROP_XDP, DROP_XDP_ABORTED, DROP_REDIRECT, D_NETNS, PGL_COUNT, D_XSK_ZC, DROP_XSK_NO_BUFFER, DROP_NOMEM,
} from "../abi/layout";
import { frameAlloc, frameTake, threadState } from "./frames";
import { PR_CTX_USE } from "../abi/layout";
import { T_BPF, BPF_BATCH_WIRE, RU_FLOW_TYPE, RUS_DST_MAC, RUS_DST_MAC_EXACT, RUS_SRC_MAC, RUS_PROTO } from "../abi/layout";
import {
  FLOW_TCP6, FLOW_UDP6, FLOW_IP6, RU_SRC_IP6, RU_SRC_IP6_MASK, RU_DST_IP6, RU_DST_IP6_MASK, RU_TCLASS, RU_TCLASS_MASK,
  RU_L4PROTO, RU_L4PROTO_MASK,
} from "../abi/layout";

const ETH_P_IP: u16 = 0x0008; // 0x0800 as loaded little-endian from the packet
const ETH_P_IPV6: u16 = 0xdd86; // 0x86dd, likewise
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

// What rxQueue parsed of the frame it steered last: its EtherType (raw packet byte order)
// and, when steering needed it (an RSS table), its flow hash (`steeredHashed` says so).
// Module globals are Wasm globals, private to each instance (thread); nothing is
// allocated in the shared memory, whose AssemblyScript heap would overlap between threads.
let flowProto: u16 = 0;
let steeredHash: u32 = 0;
let steeredHashed = false;

/** (a ^ b) & mask == 0 over a MAC address (6 bytes at a, val and mask). */
@inline function macMatch(a: usize, val: usize, mask: usize): bool {
  return ((load<u32>(a) ^ load<u32>(val)) & load<u32>(mask)) == 0 && ((<u32>load<u16>(a, 4) ^ <u32>load<u16>(val, 4)) & <u32>load<u16>(mask, 4)) == 0;
}

/** (a ^ b) & mask == 0 over an IPv6 address (16 bytes at a, val and mask). */
@inline function ip6Match(a: usize, val: usize, mask: usize): bool {
  return ((load<u64>(a) ^ load<u64>(val)) & load<u64>(mask)) == 0 && ((load<u64>(a, 8) ^ load<u64>(val, 8)) & load<u64>(mask, 8)) == 0;
}

/**
 * Whether IPv6 ntuple rule `rule` (tcp6, udp6, ip6) matches the frame: a whole IPv6
 * header right after the Ethernet header, the next header TCP/UDP for tcp6/udp6 (the
 * l4proto of an ip6 rule), and for the ports the first four bytes after the fixed header
 * (extension headers are not walked: a frame with one matches no tcp6/udp6 rule).
 */
function rule6Matches(rule: usize, type: u32, data: usize, len: u32, proto: u16): bool {
  if (proto != ETH_P_IPV6 || len < ETH_HLEN + 40) return false;
  const next = load<u8>(data, 14 + 6);
  if (type == FLOW_TCP6 && next != IPPROTO_TCP) return false;
  if (type == FLOW_UDP6 && next != IPPROTO_UDP) return false;
  if (type == FLOW_IP6 && ((next ^ load<u8>(rule, RU_L4PROTO)) & load<u8>(rule, RU_L4PROTO_MASK)) != 0) return false;
  const tclass = <u8>(((load<u8>(data, 14) & 0x0f) << 4) | (load<u8>(data, 15) >> 4));
  if (((tclass ^ load<u8>(rule, RU_TCLASS)) & load<u8>(rule, RU_TCLASS_MASK)) != 0) return false;
  if (!ip6Match(data + 14 + 8, rule + RU_SRC_IP6, rule + RU_SRC_IP6_MASK)) return false;
  if (!ip6Match(data + 14 + 24, rule + RU_DST_IP6, rule + RU_DST_IP6_MASK)) return false;
  const pm = <u32>load<u16>(rule, RU_SRC_PORT_MASK) | <u32>load<u16>(rule, RU_DST_PORT_MASK);
  if (type == FLOW_IP6 && pm == 0) return true;
  if (len < ETH_HLEN + 44) return false;
  const l4 = data + ETH_HLEN + 40;
  return ((load<u16>(l4) ^ load<u16>(rule, RU_SRC_PORT)) & load<u16>(rule, RU_SRC_PORT_MASK)) == 0 &&
    ((load<u16>(l4, 2) ^ load<u16>(rule, RU_DST_PORT)) & load<u16>(rule, RU_DST_PORT_MASK)) == 0;
}

/**
 * Whether ntuple rule `rule` matches the frame at `data`: its EtherType `proto` (raw
 * order) and `l4`, where its TCP/UDP header starts (0 without one, see flowL4). The
 * fields are read from the frame as needed (few values live across the rules).
 */
@inline function ruleMatches(rule: usize, type: u32, data: usize, proto: u16, l4: u32): bool {
  if (type == FLOW_ETHER) {
    // Only the fields the rule's masks look at (its shape, RUS_*, with the flow type).
    const shape = load<u32>(rule, RU_FLOW);
    if ((shape & RUS_DST_MAC_EXACT) != 0) {
      if (load<u32>(data) != load<u32>(rule, RU_DST_MAC) || load<u16>(data, 4) != load<u16>(rule, RU_DST_MAC + 4)) return false;
    } else if ((shape & RUS_DST_MAC) != 0 && !macMatch(data, rule + RU_DST_MAC, rule + RU_DST_MAC_MASK)) return false;
    if ((shape & RUS_SRC_MAC) != 0 && !macMatch(data + 6, rule + RU_SRC_MAC, rule + RU_SRC_MAC_MASK)) return false;
    return (shape & RUS_PROTO) == 0 || ((proto ^ load<u16>(rule, RU_PROTO)) & load<u16>(rule, RU_PROTO_MASK)) == 0;
  }
  if (l4 == 0) return false;
  const ipProto = load<u8>(data, 14 + 9);
  if (type == FLOW_TCP4 && ipProto != IPPROTO_TCP) return false;
  if (type == FLOW_UDP4 && ipProto != IPPROTO_UDP) return false;
  if (((load<u8>(data, 14 + 1) ^ load<u8>(rule, RU_TCLASS)) & load<u8>(rule, RU_TCLASS_MASK)) != 0) return false;
  return ((load<u32>(data, 14 + 12) ^ load<u32>(rule, RU_SRC_IP)) & load<u32>(rule, RU_SRC_IP_MASK)) == 0 &&
    ((load<u32>(data, 14 + 16) ^ load<u32>(rule, RU_DST_IP)) & load<u32>(rule, RU_DST_IP_MASK)) == 0 &&
    ((load<u16>(data + l4) ^ load<u16>(rule, RU_SRC_PORT)) & load<u16>(rule, RU_SRC_PORT_MASK)) == 0 &&
    ((load<u16>(data + l4, 2) ^ load<u16>(rule, RU_DST_PORT)) & load<u16>(rule, RU_DST_PORT_MASK)) == 0;
}

@inline function tablePick(steer: usize, ctx: u32, hash: u32): i32 {
  if (ctx >= load<u32>(steer, ST_N_CTX)) return -1;
  const table = <usize>load<u32>(<usize>load<u32>(steer, ST_CTX) + (<usize>ctx << 2));
  if (table == 0) return -1;
  return load<i32>(table + (<usize>(hash % load<u32>(steer, ST_TABLE_SIZE)) << 2));
}

/** The IPv4 header length of the frame (EtherType `proto`, raw order), 0 when it carries no whole IPv4 header. */
@inline function ipv4Hlen(data: usize, len: u32, proto: u16): u32 {
  if (proto != ETH_P_IP || len < ETH_HLEN + 20) return 0;
  const ihl = <u32>(load<u8>(data, 14) & 0x0f) << 2;
  return ihl >= 20 && len >= ETH_HLEN + ihl ? ihl : 0;
}

/** Where the frame's TCP/UDP header starts (unfragmented IPv4 with its ports there; `ihl` from ipv4Hlen), else 0. */
@inline function flowL4(data: usize, len: u32, ihl: u32): u32 {
  if (ihl == 0) return 0;
  const ipProto = load<u8>(data, 14 + 9);
  const fragOff = load<u16>(data, 14 + 6) & 0xff1f; // offset bits, raw order
  return (ipProto == IPPROTO_TCP || ipProto == IPPROTO_UDP) && fragOff == 0 && len >= ETH_HLEN + ihl + 4 ? ETH_HLEN + ihl : 0;
}

/**
 * The IPv6 flow hash: the addresses and, TCP/UDP right after the fixed header, the ports
 * (a NIC's RSS over IPv6 hashes those; extension headers are not walked), never 0.
 */
function flowHash6(data: usize, len: u32): u32 {
  let h: u32 = 0x9e3779b1;
  for (let i: u32 = 0; i < 8; i++) h ^= load<u32>(data + 14 + 8 + (i << 2)) * 0x9e3779b1 + 0x7f4a7c15 + (h << 6) + (h >> 2);
  const next = load<u8>(data, 14 + 6);
  if ((next == IPPROTO_TCP || next == IPPROTO_UDP) && len >= ETH_HLEN + 44) {
    h ^= ((<u32>load<u16>(data, 54) << 16) | load<u16>(data, 56)) + 0x85ebca6b + (h << 6) + (h >> 2);
  }
  h ^= h >> 16;
  h *= 0x45d9f3b;
  h ^= h >> 16;
  return h == 0 ? 1 : h;
}

/**
 * The frame's flow hash (what the NIC's RSS computes): deterministic over the IPv4 or
 * IPv6 addresses and, unfragmented TCP/UDP, the ports, never 0; 0 without an IP flow.
 */
function flowHash(data: usize, len: u32, proto: u16): u32 {
  const ihl = ipv4Hlen(data, len, proto);
  if (ihl == 0) return proto == ETH_P_IPV6 && len >= ETH_HLEN + 40 ? flowHash6(data, len) : 0;
  let h: u32 = load<u32>(data, 14 + 12) * 0x9e3779b1;
  h ^= load<u32>(data, 14 + 16) + 0x7f4a7c15 + (h << 6) + (h >> 2);
  const l4 = flowL4(data, len, ihl);
  if (l4 != 0) h ^= ((<u32>load<u16>(data + l4) << 16) | load<u16>(data + l4, 2)) + 0x85ebca6b + (h << 6) + (h >> 2);
  h ^= h >> 16;
  h *= 0x45d9f3b;
  h ^= h >> 16;
  return h == 0 ? 1 : h;
}

/**
 * The frame's queue (ntuple rules in order, then RSS over the default context): -1 to
 * discard (an ntuple action), else a queue index. Reads what the rules need (the IPv4
 * addresses and, unfragmented TCP/UDP, ports) and computes the flow hash only for an RSS
 * table (`steeredHash`, with `steeredHashed`); sets `flowProto`. `len` >= ETH_HLEN.
 */
@inline function steerFrame(steer: usize, data: usize, len: u32): i32 {
  const proto = load<u16>(data, 12);
  flowProto = proto;
  steeredHashed = false;
  if (steer == 0) return 0;
  const n = load<u32>(steer, ST_N_RULES);
  const rules = <usize>load<u32>(steer, ST_RULES);
  let l4: i32 = -1; // not parsed yet
  for (let i: u32 = 0; i < n; i++) {
    const rule = rules + <usize>(i * RULE_SIZE);
    const type = load<u32>(rule, RU_FLOW) & RU_FLOW_TYPE;
    if (type >= FLOW_TCP6) {
      if (!rule6Matches(rule, type, data, len, proto)) continue;
    } else {
      if (type != FLOW_ETHER && l4 < 0) l4 = <i32>flowL4(data, len, ipv4Hlen(data, len, proto));
      if (!ruleMatches(rule, type, data, proto, <u32>l4)) continue;
    }
    const action = load<i32>(rule, RU_ACTION);
    if (action < 0) return -1;
    const ctx = load<i32>(rule, RU_CONTEXT);
    if (ctx < 0) return action;
    const pick = tablePick(steer, <u32>ctx, steerHash(data, len, proto));
    return pick < 0 ? action : action + pick;
  }
  const q = tablePick(steer, 0, steerHash(data, len, proto));
  return q < 0 ? 0 : q;
}

/** flowHash for steering: kept in `steeredHash`. */
@inline function steerHash(data: usize, len: u32, proto: u16): u32 {
  const h = flowHash(data, len, proto);
  steeredHash = h;
  steeredHashed = true;
  return h;
}

@inline function qstats(dev: usize, thread: u32, queue: u32): usize {
  return <usize>load<u32>(dev, D_QSTATS) + <usize>(((thread * load<u32>(dev, D_NUM_RX) + queue) * QS_COUNT) << 3);
}

@inline function pktTypeFor(data: usize, dev: usize): u8 {
  const d0 = load<u32>(data);
  const d1 = load<u16>(data, 4);
  if (d0 == load<u32>(dev, D_MAC) && d1 == load<u16>(dev, D_MAC + 4)) return <u8>PACKET_HOST;
  if (d0 == 0xffffffff && d1 == 0xffff) return <u8>PACKET_BROADCAST;
  if ((d0 & 1) != 0) return <u8>PACKET_MULTICAST;
  return <u8>PACKET_OTHERHOST;
}

/**
 * The rx queue for a frame from the wire (ntuple rules, then RSS; `flowProto`, and
 * `steeredHash` when steering computed it, see steerFrame); -1 when it is dropped here (too
 * short, or an ntuple rule's drop), counted and freed (a pool frame; wire bytes stay).
 */
@inline function rxQueue(thread: u32, c: usize, steer: usize, nq: u32, addr: usize, len: u32): i32 {
  if (len < ETH_HLEN) {
    rxDrop(c, DROP_PKT_TOO_SMALL);
    if (!wireBytes) frameFree(thread, addr);
    return -1;
  }
  const q = steerFrame(steer, addr, len);
  if (q < 0) {
    rxDrop(c, DROP_NTUPLE);
    if (!wireBytes) frameFree(thread, addr);
    return -1;
  }
  return <u32>q >= nq ? 0 : q;
}

/**
 * XDP_REDIRECT into an XSKMAP: the socket (its record is the map's value) gets a copy and
 * the frame is released. True when the socket took it (the caller counts it received);
 * a failed redirect is dropped by the driver.
 */
@inline function toSocket(thread: u32, dev: usize, c: usize, xs: u32, data: usize, len: u32, ifindex: u32, q: u32): bool {
  const ok = xskRcv(<usize>xs, data, len, ifindex, q);
  if (!ok) bump(c, DROP_REDIRECT, 1);
  if (traceOn()) traceXdp(thread, dev, q, 4, len, ok ? 0 : DROP_REDIRECT, load<u32>(<usize>xs, XS_IFINDEX), 17);
  frameFree(thread, data);
  return ok;
}

/** Releases the buffer holding `data`: a pool frame, or (pool != 0) a zero-copy pool's UMEM chunk. */
@inline function release(thread: u32, pool: usize, data: usize): void {
  if (pool != 0) zcFree(pool, data);
  else frameFree(thread, data);
}

/**
 * Carries out the XDP action `act` on the frame (now at data, len bytes, in a pool frame;
 * XDP_TX and drops also on a zero-copy pool's chunk, `pool`): true for XDP_PASS (it goes
 * on up); every other action is done here and the buffer released.
 */
@inline function xdpAction(thread: u32, slot: u32, dev: usize, c: usize, ifindex: u32, q: u32, act: u32, data: usize, len: u32, rdIfindex: u32, rdFlags: u32, proto: u16, pool: usize = 0): bool {
  if (act == 2) {
    if (traceOn()) traceXdp(thread, dev, q, act, len, 0, 0);
    return true;
  }
  if (act == 4 && (rdFlags >> 16) == 17) {
    if (toSocket(thread, dev, c, rdIfindex, data, len, ifindex, q)) { bump(c, C_RX_PACKETS, 1); bump(c, C_RX_BYTES, len); }
  } else if (act == 4 && rdIfindex != 0) {
    // XDP_REDIRECT into a devmap (or bpf_redirect): the host sends it out of the target.
    // Into a cpumap (rdIfindex = CPU + 1): the host hands it to that thread, which receives
    // it into this device's stack (cpu_map_kthread_run: an skb, netif_receive_skb).
    if (freshMeta) {
      const meta = frameBase(data);
      zeroMeta(meta);
      store<u16>(meta, bswap<u16>(proto), FM_PROTOCOL);
    }
    const cpumap = (rdFlags >> 16) == BPF_MAP_TYPE_CPUMAP;
    const ok = queueRedirect(thread, slot, data, len, load<u32>(dev, D_NETNS), rdIfindex, cpumap ? rdFlags & (VM_REDIRECT_MAP | 0xffff0000) : 0);
    if (!ok) {
      bump(c, DROP_REDIRECT, 1);
      frameFree(thread, data);
    }
    if (traceOn()) traceXdp(thread, dev, q, act, len, ok ? 0 : DROP_REDIRECT, cpumap ? 0 : rdIfindex, rdFlags >> 16);
  } else if (act == 3) {
    // XDP_TX: back out of the same NIC, onto the wire (nothing listens there).
    bump(c, C_TX_PACKETS, 1);
    bump(c, C_TX_BYTES, len);
    release(thread, pool, data);
    if (traceOn()) traceXdp(thread, dev, q, act, len, 0, 0);
  } else {
    // XDP_DROP; XDP_ABORTED, unknown actions and faults.
    const reason = act == 1 ? DROP_XDP : DROP_XDP_ABORTED;
    rxDrop(c, reason);
    release(thread, pool, data);
    if (traceOn()) traceXdp(thread, dev, q, act, len, reason, 0);
  }
  return false;
}

/** The zero-copy pool on rx queue `q` (abi D_XSK_ZC; `zcq` is the device's array, 0 when no queue has one), or 0. */
@inline function zcPool(zcq: usize, q: u32): usize {
  return zcq == 0 ? 0 : <usize>load<u32>(zcq + (<usize>q << 2));
}

/**
 * The driver of a zero-copy queue (pool `pool`) receives the frame at `addr` into one of
 * the pool's buffers (the pool frame it came in is released): the packet's new address,
 * or 0 when the pool had no buffer (dropped, counted).
 */
@inline function zcReceive(thread: u32, c: usize, pool: usize, addr: usize, len: u32): usize {
  const data = zcRxBuffer(pool, addr, len);
  if (data == 0) rxDrop(c, DROP_XSK_NO_BUFFER);
  if (!wireBytes) frameFree(thread, addr);
  return data;
}

/**
 * The driver receives the wire's bytes (`wireBytes`: `len` at `addr`) into a pool frame,
 * its metadata not cleared yet (freshMeta): the packet's address, or 0 when the pool had
 * no frame (dropped, counted).
 */
@inline function wireReceive(thread: u32, c: usize, addr: usize, len: u32): usize {
  const f = frameTake(thread);
  if (f == 0) {
    rxDrop(c, DROP_NOMEM);
    return 0;
  }
  copyFrame(f + FRAME_HEADROOM, addr, len);
  return f + FRAME_HEADROOM;
}

const ZC_TAKEN: usize = 1;

/**
 * XDP's action `act` on a frame in a buffer of zero-copy pool `pool` (at data, len bytes):
 * a redirect into a socket (xskRcvZc), else the buffer goes back to the pool. XDP_PASS and
 * devmap redirects copy the frame into a pool frame first (what a zero-copy driver does to
 * build an skb or an xdp_frame). Returns the pool frame's packet address for XDP_PASS (it
 * goes on up), ZC_TAKEN when a socket took the frame (the caller counts it received), else 0.
 */
@inline function zcAction(thread: u32, slot: u32, dev: usize, c: usize, pool: usize, ifindex: u32, q: u32, act: u32, data: usize, len: u32, rdIfindex: u32, rdFlags: u32, proto: u16): usize {
  if (act == 4 && (rdFlags >> 16) == 17) {
    const ok = xskRcvZc(<usize>rdIfindex, pool, data, len, ifindex, q);
    if (traceOn()) traceXdp(thread, dev, q, act, len, ok ? 0 : DROP_REDIRECT, load<u32>(<usize>rdIfindex, XS_IFINDEX), 17);
    if (ok) return ZC_TAKEN;
    bump(c, DROP_REDIRECT, 1);
    return 0;
  }
  if (act == 2 || (act == 4 && rdIfindex != 0)) {
    const f = frameAlloc(thread);
    if (f == 0) {
      rxDrop(c, DROP_NOMEM);
      zcFree(pool, data);
      if (traceOn()) traceXdp(thread, dev, q, act, len, DROP_NOMEM, 0);
      return 0;
    }
    copyFrame(f + FRAME_HEADROOM, data, len);
    zcFree(pool, data);
    if (act == 2) {
      if (traceOn()) traceXdp(thread, dev, q, act, len, 0, 0);
      return f + FRAME_HEADROOM;
    }
    xdpAction(thread, slot, dev, c, ifindex, q, act, f + FRAME_HEADROOM, len, rdIfindex, rdFlags, proto);
    return 0;
  }
  // XDP_TX and drops: as for a pool frame, the chunk going back to the pool.
  xdpAction(thread, slot, dev, c, ifindex, q, act, data, len, rdIfindex, rdFlags, proto, pool);
  return 0;
}

/**
 * The frames nicRx is taking have uncleared metadata (pktgen's, nicRxFresh): cleared where
 * a frame's metadata is first needed (it goes up, or is redirected to a device), as a
 * driver builds the skb only for those.
 */
let freshMeta = false;

/** nicRx for frames whose metadata is not cleared yet (pktgen's). */
export function nicRxFresh(thread: u32, slot: u32, dev: usize, descs: usize, n: u32): u32 {
  freshMeta = true;
  const r = nicRx(thread, slot, dev, descs, n);
  freshMeta = false;
  return r;
}

/**
 * The descriptors nicRx is taking point at the wire's bytes, not at pool frames: the
 * driver receives each frame into a buffer of the queue it steers to (a pool frame, or a
 * zero-copy pool's UMEM chunk), as a NIC's DMA does; the bytes stay the wire's.
 */
let wireBytes = false;

/**
 * Frames from the wire as bytes (descs: address and length each; at most a frame's room
 * apiece, as pktgen checks): each lands in a buffer of its queue (`wireBytes`), then on as
 * nicRx. Returns what nicRx returns.
 */
export function nicRxWire(thread: u32, slot: u32, dev: usize, descs: usize, n: u32): u32 {
  freshMeta = true;
  wireBytes = true;
  const r = nicRx(thread, slot, dev, descs, n);
  wireBytes = false;
  freshMeta = false;
  return r;
}

/** The skb fields of a frame on its way up from rx queue `q` (as the driver sets them). */
@inline function rxFields(meta: usize, dev: usize, addr: usize, q: u32, hash: u32, proto: u16): void {
  if (freshMeta) zeroMeta(meta);
  store<u32>(meta, hash, FM_HASH);
  store<u32>(meta, q, FM_QUEUE_MAPPING);
  store<u32>(meta, load<u32>(dev, D_IFINDEX), FM_IFINDEX);
  store<u8>(meta, pktTypeFor(addr, dev), FM_PKT_TYPE);
  store<u16>(meta, bswap<u16>(proto), FM_PROTOCOL);
}

/**
 * A frame tcx ingress took (act: TC_ACT_SHOT or TC_ACT_REDIRECT, the redirect's target):
 * received (counted), then redirected, or dropped and freed.
 */
@inline function tcxTaken(thread: u32, slot: u32, dev: usize, c: usize, act: i32, addr: usize, len: u32, rdIfindex: u32, rdFlags: u32): void {
  bump(c, C_RX_PACKETS, 1);
  bump(c, C_RX_BYTES, len);
  if (act == 7 && queueRedirect(thread, slot, addr, len, load<u32>(dev, D_NETNS), rdIfindex, rdFlags | VM_REDIRECT_FROM_INGRESS)) return;
  bump(c, act == 7 ? DROP_REDIRECT : DROP_TCX, 1);
  frameFree(thread, addr);
}

/**
 * A frame on its way up from rx queue `q` (flow hash and EtherType as parsed before any
 * XDP program ran): the skb fields, tcx ingress, then the queue's ring (through its
 * memory provider if it has one). Returns 1 when it reached the ring.
 */
@inline function rxUp(thread: u32, slot: u32, dev: usize, c: usize, addr: usize, len: u32, q: u32, hash: u32, proto: u16, tcx: usize, capIn: bool): u32 {
  const meta = frameBase(addr);
  rxFields(meta, dev, addr, q, hash, proto);
  // tcx ingress (received: counted), then the stack, a drop or a redirect.
  if (tcx != 0) {
    const act = runTcxIngress(thread, tcx, meta, addr, len, dev);
    if (act != 0) {
      tcxTaken(thread, slot, dev, c, act, progsData(), progsLen(), progsRedirectIfindex(), progsRedirectFlags());
      return 0;
    }
    addr = progsData();
    len = progsLen();
  }
  return rxRing(thread, dev, c, addr, len, q, capIn);
}

/**
 * A frame for rx queue `q`'s ring (through its memory provider if it has one), counted on
 * the queue and the device. Returns 1 when it got there (else dropped, counted, freed).
 */
@inline function rxRing(thread: u32, dev: usize, c: usize, addr: usize, len: u32, q: u32, capIn: bool): u32 {
  const meta = frameBase(addr);
  const r = <usize>load<u32>(<usize>load<u32>(dev, D_RX_RINGS) + (<usize>q << 2));
  if (ringProdFree(r, 1) == 0) {
    rxDrop(c, DROP_BACKLOG_FULL);
    frameFree(thread, addr);
    return 0;
  }
  // A memory provider on the queue (io_uring zcrx, devmem) supplies the buffer the
  // frame is received into, from its fill ring; none free means a drop.
  const providers = <usize>load<u32>(dev, D_PROVIDERS);
  if (providers != 0) {
    const fill = <usize>load<u32>(providers + (<usize>q << 2));
    if (fill != 0) {
      if (ringConsAvail(fill, 1) == 0) {
        rxDrop(c, DROP_PROVIDER_EMPTY);
        frameFree(thread, addr);
        return 0;
      }
      const buf = <usize>load<u32>(ringEntry(fill, ringConsIndex(fill)));
      ringRelease(fill, 1);
      memory.copy(buf, meta, FRAME_META);
      store<u8>(buf, load<u8>(buf, FM_FLAGS) | <u8>FMF_PROVIDER, FM_FLAGS);
      memory.copy(buf + FRAME_HEADROOM, addr, len);
      frameFree(thread, addr);
      addr = buf + FRAME_HEADROOM;
    }
  }
  if (capIn) capture(thread, dev, addr, len, CAP_DIR_IN, 0);
  const e = ringEntry(r, ringProdIndex(r));
  store<u64>(e, <u64>addr, DESC_ADDR);
  store<u32>(e, len, DESC_LEN);
  store<u32>(e, 0, DESC_OPTIONS);
  ringSubmit(r, 1);
  const qs = qstats(dev, thread, q);
  bump(qs, QS_RX_PACKETS, 1);
  bump(qs, QS_RX_BYTES, len);
  bump(c, C_RX_PACKETS, 1);
  bump(c, C_RX_BYTES, len);
  return 1;
}

/**
 * Frames arriving from the wire on NIC `dev` (slot `slot`): steer, XDP, and enqueue.
 * AF_XDP sockets see what they received when it returns (xskFlush, the end of the poll).
 */
export function nicRx(thread: u32, slot: u32, dev: usize, descs: usize, n: u32): u32 {
  const steer = <usize>load<u32>(dev, D_STEER);
  const nq = load<u32>(dev, D_REAL_NUM_RX);
  const c = counters(thread, slot);
  const capIn = (load<u8>(dev, D_CAPTURE) & CAP_DIR_IN) != 0;
  const ifindex = load<u32>(dev, D_IFINDEX);
  const xdp = <usize>load<u32>(dev, D_XDP);
  const tcx = <usize>load<u32>(dev, D_TCX_INGRESS);
  const zcq = <usize>load<u32>(dev, D_XSK_ZC);
  // (XDP runs name no skb device: bpf_fib_lookup looks in the receiving device's namespace)
  if (xdp != 0) xdpNetns(thread, load<u32>(dev, D_NETNS));
  // A compiled, verified XDP program and no tcx ingress: XDP's actions for up to
  // BPF_BATCH_MAX frames come from one call into the program's batch code (as a driver's
  // poll loop runs XDP over its batch); each frame then goes on in order.
  if (xdp != 0 && tcx == 0 && batchable(xdp)) {
    if (zcq == 0) return nicRxBatched(thread, slot, dev, c, descs, n, steer, nq, xdp, ifindex, capIn, 0);
    return nicRxBatched(thread, slot, dev, c, descs, n, steer, nq, xdp, ifindex, capIn, zcq);
  }
  // No XDP and tcx ingress programs that can run in batches: the same, over the skbs.
  if (xdp == 0 && tcx != 0) {
    const use = batchUse(tcx);
    if (use != 0) return nicRxTcxBatched(thread, slot, dev, c, descs, n, steer, nq, tcx, use, capIn);
  }
  let delivered: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const d = descs + <usize>(i * DESC_SIZE);
    let addr = <usize>load<u64>(d, DESC_ADDR);
    let len = load<u32>(d, DESC_LEN);
    const q = rxQueue(thread, c, steer, nq, addr, len);
    if (q < 0) continue;
    const proto = flowProto;
    // The skb's flow hash: steering's, else from the frame as it came from the wire (now,
    // when XDP may change it in place; the wire's own bytes stay).
    let hash = steeredHash;
    let hashed = steeredHashed;
    const wire = addr;
    const wireLen = len;
    if (!hashed && xdp != 0 && !wireBytes) {
      hash = flowHash(addr, len, proto);
      hashed = true;
    }
    const pool = xdp != 0 ? zcPool(zcq, <u32>q) : 0;
    const zc = pool != 0 && zcFits(pool, len);
    if (wireBytes && !zc) {
      addr = wireReceive(thread, c, addr, len);
      if (addr == 0) continue;
    }
    // XDP (native mode): the program sees the frame first; PASS goes on with what it left.
    if (xdp != 0) {
      if (zc) {
        // A zero-copy queue: received into the pool's UMEM, XDP runs on it there.
        addr = zcReceive(thread, c, pool, addr, len);
        if (addr == 0) continue;
        const act = runXdpIn(thread, xdp, addr, len, ifindex, <u32>q, zcLo, zcHi);
        len = progsLen();
        const up = zcAction(thread, slot, dev, c, pool, ifindex, <u32>q, act, progsData(), len, progsRedirectIfindex(), progsRedirectFlags(), proto);
        if (up == ZC_TAKEN) { bump(c, C_RX_PACKETS, 1); bump(c, C_RX_BYTES, len); }
        if (up <= ZC_TAKEN) continue;
        addr = up;
      } else {
        const act = runXdp(thread, xdp, addr, len, ifindex, <u32>q);
        if (!xdpAction(thread, slot, dev, c, ifindex, <u32>q, act, progsData(), progsLen(), progsRedirectIfindex(), progsRedirectFlags(), proto)) continue;
        addr = progsData();
        len = progsLen();
      }
    }
    if (!hashed) hash = flowHash(wire, wireLen, proto);
    delivered += rxUp(thread, slot, dev, c, addr, len, <u32>q, hash, proto, tcx, capIn);
  }
  xskFlush();
  return delivered;
}

/** The thread's per-entry wire descriptors (abi BPF_BATCH_WIRE). */
@inline function batchWires(thread: u32): usize {
  return <usize>load<u32>(threadState(thread), T_BPF) + BPF_BATCH_WIRE;
}

/**
 * The flow hash of batch entry k (at e): gatherSteered's, or (its bit in `deferred`)
 * computed now from its wire descriptor's bytes.
 */
@inline function entryHash(e: usize, wires: usize, k: u32, deferred: u64): u32 {
  if (((deferred >> k) & 1) == 0) return load<u32>(e, BE_AUX);
  const d = <usize>load<u32>(wires + (<usize>k << 2));
  return flowHash(<usize>load<u64>(d, DESC_ADDR), load<u32>(d, DESC_LEN), <u16>(load<u32>(e, BE_AUX2) >> 16));
}

// How many frames the last gatherSteered put in the entries, and which of them (bit k
// for entry k) take their flow hash from their wire descriptor (entryHash).
let gathered: u32 = 0;
let gatheredDeferred: u64 = 0;

/**
 * Steers frames descs[i..n) into batch entries until BPF_BATCH_MAX are there, each in the
 * buffer it is received into (its own, a pool frame for the wire's bytes, or a UMEM chunk
 * of its queue's zero-copy pool, `zcq`, given only with XDP): each one's BE_DATA, BE_LEN,
 * BE_AUX (flow hash, or its wire descriptor in the side array, `gatheredDeferred`,
 * entryHash) and BE_AUX2 (queue | EtherType << 16, as parsed from the wire); with
 * `xdpIfindex` (the device's) the rest of an XDP entry too for a program whose ctx use
 * is `use` (`xdpEntry`). Frames dropped here are counted and freed.
 * Returns the next i; `gathered` says how many entries it filled. (Inline: with `zcq` 0
 * the zero-copy part folds away.)
 */
@inline function gatherSteered(thread: u32, c: usize, steer: usize, nq: u32, descs: usize, n: u32, i: u32, batch: usize, xdpIfindex: u32, zcq: usize, use: u32): u32 {
  const wires = batchWires(thread);
  let m: u32 = 0;
  let deferred: u64 = 0;
  for (; i < n && m < BPF_BATCH_MAX; i++) {
    const d = descs + <usize>(i * DESC_SIZE);
    const addr = <usize>load<u64>(d, DESC_ADDR);
    const len = load<u32>(d, DESC_LEN);
    const q = rxQueue(thread, c, steer, nq, addr, len);
    if (q < 0) continue;
    const e = batch + <usize>(m * BE_SIZE);
    const pool = zcPool(zcq, <u32>q);
    if (pool != 0 && zcFits(pool, len)) {
      // A zero-copy queue (XDP runs, zcq is only given then): into the pool's UMEM.
      const data = zcReceive(thread, c, pool, addr, len);
      if (data == 0) continue;
      xdpEntryIn(e, data, len, xdpIfindex, <u32>q, zcLo, zcHi, use);
    } else {
      const data = wireBytes ? wireReceive(thread, c, addr, len) : addr;
      if (data == 0) continue;
      if (xdpIfindex != 0) xdpEntry(e, data, len, xdpIfindex, <u32>q, use);
      else {
        store<u32>(e, <u32>data, BE_DATA);
        store<u32>(e, len, BE_LEN);
      }
    }
    // The flow hash: steering's, else now (before XDP may change the frame), or later from
    // the wire's bytes (`hashFrom`) for the few frames that go up.
    let hash = steeredHash;
    if (!steeredHashed) {
      if (wireBytes && xdpIfindex != 0) {
        store<u32>(wires + (<usize>m << 2), <u32>d);
        deferred |= <u64>1 << m;
      } else hash = flowHash(addr, len, flowProto);
    }
    store<u32>(e, hash, BE_AUX);
    store<u32>(e, <u32>q | (<u32>flowProto << 16), BE_AUX2);
    m++;
  }
  gathered = m;
  gatheredDeferred = deferred;
  return i;
}

// Frames xdpActions handed to AF_XDP sockets, and their bytes (counted received once a call).
let xskPackets: u64 = 0;
let xskBytes: u64 = 0;

/**
 * Acts on the verdicts of the `m` batch entries XDP ran on, in order: AF_XDP, zero-copy
 * queues' actions (`zcq`, 0 when the device has none: that code folds away), xdpAction,
 * and up the stack for XDP_PASS (the flow hash: entryHash). Returns the frames delivered;
 * what went into sockets adds to xskPackets and xskBytes.
 */
@inline function xdpActions(thread: u32, slot: u32, dev: usize, c: usize, batch: usize, m: u32, wires: usize, deferred: u64, ifindex: u32, capIn: bool, zcq: usize): u32 {
  if (zcq != 0 || deferred != 0 || traceOn()) return xdpActionsAll(thread, slot, dev, c, batch, m, wires, deferred, ifindex, capIn, zcq);
  // No zero-copy queue, every flow hash in its entry, no tracing: the loop the frames
  // going up take has nothing else in it (each of those cost about a nanosecond a frame).
  let delivered: u32 = 0;
  for (let k: u32 = 0; k < m; k++) {
    const e = batch + <usize>(k * BE_SIZE);
    const aux = load<u32>(e, BE_AUX2);
    // A fault is XDP_ABORTED.
    const act = load<u32>(e, BE_FAULT) != 0 ? 0 : load<u32>(e, BE_VERDICT);
    if (act != 2) {
      xdpTaken(thread, slot, dev, c, ifindex, aux & 0xffff, act, <usize>load<u32>(e, BE_DATA), load<u32>(e, BE_LEN), load<u32>(e, BE_RD_IFINDEX), load<u32>(e, BE_RD_FLAGS), <u16>(aux >> 16));
      continue;
    }
    delivered += rxUp(thread, slot, dev, c, <usize>load<u32>(e, BE_DATA), load<u32>(e, BE_LEN), aux & 0xffff, load<u32>(e, BE_AUX), <u16>(aux >> 16), 0, capIn);
  }
  return delivered;
}

/** xdpActions for every case: zero-copy queues, flow hashes from the wire's bytes, tracing. */
@inline function xdpActionsAll(thread: u32, slot: u32, dev: usize, c: usize, batch: usize, m: u32, wires: usize, deferred: u64, ifindex: u32, capIn: bool, zcq: usize): u32 {
  let delivered: u32 = 0;
  for (let k: u32 = 0; k < m; k++) {
    const e = batch + <usize>(k * BE_SIZE);
    const data = <usize>load<u32>(e, BE_DATA);
    const len = load<u32>(e, BE_LEN);
    const aux = load<u32>(e, BE_AUX2);
    // A fault is XDP_ABORTED.
    const act = load<u32>(e, BE_FAULT) != 0 ? 0 : load<u32>(e, BE_VERDICT);
    const rdFlags = load<u32>(e, BE_RD_FLAGS);
    const pool = zcPool(zcq, aux & 0xffff);
    if (pool != 0 && zcOwns(pool, data)) {
      const up = zcAction(thread, slot, dev, c, pool, ifindex, aux & 0xffff, act, data, len, load<u32>(e, BE_RD_IFINDEX), rdFlags, <u16>(aux >> 16));
      if (up == ZC_TAKEN) { xskPackets++; xskBytes += len; }
      if (up > ZC_TAKEN) delivered += rxUp(thread, slot, dev, c, up, len, aux & 0xffff, entryHash(e, wires, k, deferred), <u16>(aux >> 16), 0, capIn);
      continue;
    }
    if (act != 2) {
      // (out of line: the loop stays small for the frames that go up)
      xdpTaken(thread, slot, dev, c, ifindex, aux & 0xffff, act, data, len, load<u32>(e, BE_RD_IFINDEX), rdFlags, <u16>(aux >> 16));
      continue;
    }
    if (traceOn()) traceXdp(thread, dev, aux & 0xffff, act, len, 0, 0);
    delivered += rxUp(thread, slot, dev, c, data, len, aux & 0xffff, entryHash(e, wires, k, deferred), <u16>(aux >> 16), 0, capIn);
  }
  return delivered;
}

/**
 * xdpActions' frames whose action is not XDP_PASS (in a pool frame): into an AF_XDP socket
 * (xdpAction's first case; received counted once a call, xskPackets), else xdpAction.
 */
function xdpTaken(thread: u32, slot: u32, dev: usize, c: usize, ifindex: u32, q: u32, act: u32, data: usize, len: u32, rdIfindex: u32, rdFlags: u32, proto: u16): void {
  if (act == 4 && (rdFlags >> 16) == 17) {
    if (toSocket(thread, dev, c, rdIfindex, data, len, ifindex, q)) { xskPackets++; xskBytes += len; }
    return;
  }
  xdpAction(thread, slot, dev, c, ifindex, q, act, data, len, rdIfindex, rdFlags, proto);
}

/**
 * nicRx with XDP in batches: steer up to BPF_BATCH_MAX frames, run XDP on them all, then
 * act on each. (Inline: nicRx's call for a device with no zero-copy queue, `zcq` 0, has
 * the zero-copy parts folded away.)
 */
@inline function nicRxBatched(thread: u32, slot: u32, dev: usize, c: usize, descs: usize, n: u32, steer: usize, nq: u32, xdp: usize, ifindex: u32, capIn: bool, zcq: usize): u32 {
  const batch = batchEntries(thread);
  const wires = batchWires(thread);
  let delivered: u32 = 0;
  xskPackets = 0;
  xskBytes = 0;
  const use = load<u32>(xdp, PR_CTX_USE);
  let i: u32 = 0;
  while (i < n) {
    i = gatherSteered(thread, c, steer, nq, descs, n, i, batch, ifindex, zcq, use);
    const m = gathered;
    const deferred = gatheredDeferred;
    if (!runBatch(thread, xdp, batch, m, 0)) {
      // No batch code on this thread (yet): the same actions, one frame at a time.
      for (let k: u32 = 0; k < m; k++) {
        const e = batch + <usize>(k * BE_SIZE);
        const q = load<u32>(e, BE_AUX2) & 0xffff;
        const pool = zcPool(zcq, q);
        xdpRunEntry(thread, xdp, e, ifindex, q, !(pool != 0 && zcOwns(pool, <usize>load<u32>(e, BE_DATA))));
      }
    }
    delivered += xdpActions(thread, slot, dev, c, batch, m, wires, deferred, ifindex, capIn, zcq);
  }
  bump(c, C_RX_PACKETS, xskPackets);
  bump(c, C_RX_BYTES, xskBytes);
  xskFlush();
  return delivered;
}

/**
 * nicRx with tcx ingress in batches (no XDP): steer up to BPF_BATCH_MAX frames and fill
 * their skbs, run the tcx programs over them all (program after program, see
 * `batchUse`), then take each frame on in order: redirected or dropped, or up to its
 * queue's ring.
 */
function nicRxTcxBatched(thread: u32, slot: u32, dev: usize, c: usize, descs: usize, n: u32, steer: usize, nq: u32, tcx: usize, use: u32, capIn: bool): u32 {
  const batch = batchEntries(thread);
  const ifindex = load<u32>(dev, D_IFINDEX);
  const count = load<u32>(tcx, PGL_COUNT);
  let delivered: u32 = 0;
  let i: u32 = 0;
  while (i < n) {
    i = gatherSteered(thread, c, steer, nq, descs, n, i, batch, 0, 0, 0);
    const m = gathered;
    for (let k: u32 = 0; k < m; k++) {
      const e = batch + <usize>(k * BE_SIZE);
      const addr = <usize>load<u32>(e, BE_DATA);
      const aux = load<u32>(e, BE_AUX2);
      const meta = frameBase(addr);
      rxFields(meta, dev, addr, aux & 0xffff, load<u32>(e, BE_AUX), <u16>(aux >> 16));
      tcxIngressFields(meta, dev);
      batchEntry(e, meta, addr, load<u32>(e, BE_LEN), ifindex, use);
    }
    runListBatch(thread, tcx, count, batch, m, dev);
    for (let k: u32 = 0; k < m; k++) {
      const e = batch + <usize>(k * BE_SIZE);
      const data = <usize>load<u32>(e, BE_DATA);
      const len = load<u32>(e, BE_LEN);
      const act = tcxAct(load<i32>(e, BE_VERDICT), load<u32>(e, BE_FAULT));
      if (act != 0) {
        tcxTaken(thread, slot, dev, c, act, data, len, load<u32>(e, BE_RD_IFINDEX), load<u32>(e, BE_RD_FLAGS));
        continue;
      }
      delivered += rxRing(thread, dev, c, data, len, load<u32>(e, BE_AUX2) & 0xffff, capIn);
    }
  }
  return delivered;
}

/** Frames the stack sends out of NIC `dev`: counted on tx queue 0 and released to the wire. */
export function nicXmit(thread: u32, slot: u32, dev: usize, descs: usize, n: u32): void {
  const c = counters(thread, slot);
  const capOut = (load<u8>(dev, D_CAPTURE) & CAP_DIR_OUT) != 0;
  const egressList = <usize>load<u32>(dev, D_TCX_EGRESS);
  let bytes: u64 = 0;
  let sent: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const d = descs + <usize>(i * DESC_SIZE);
    let addr = <usize>load<u64>(d, DESC_ADDR);
    let len = load<u32>(d, DESC_LEN);
    if (egressList != 0 && len >= ETH_HLEN) {
      // tcx egress first: a drop or a redirect takes the frame (redirects go to the host).
      const act = runTcxEgress(thread, egressList, frameBase(addr), addr, len, dev);
      if (act != 0) {
        if (!(act == 7 && queueRedirect(thread, slot, progsData(), progsLen(), load<u32>(dev, D_NETNS), progsRedirectIfindex(), progsRedirectFlags()))) {
          bump(c, act == 7 ? DROP_REDIRECT : DROP_TCX, 1);
          frameFree(thread, addr);
        }
        continue;
      }
      addr = progsData();
      len = progsLen();
    }
    if (capOut) capture(thread, dev, addr, len, CAP_DIR_OUT, 0);
    bytes += len;
    sent++;
    if (egressList != 0) frameFree(thread, addr);
  }
  const qs = qstats(dev, thread, 0);
  bump(qs, QS_TX_PACKETS, sent);
  bump(qs, QS_TX_BYTES, bytes);
  bump(c, C_TX_PACKETS, sent);
  bump(c, C_TX_BYTES, bytes);
  if (egressList == 0) framesFreeDescs(thread, descs, n, DESC_SIZE);
}


