// Helper functions (spec/ebpf.md §3) with the kernel's semantics and return values.
// Arguments come in r1..r5 of the run record; the result goes to r0; r1..r5 are
// clobbered (left as they are: programs may not read them after a call).
// Which program types may call which helper is decided at load time (src/ebpf/helpers.ts).
// bpf_loop and bpf_for_each_map_elem run a callback on the interpreter, so they live with it (vm.ts, `vmCall`).

import {
  VM_REGS, VM_PKT, VM_PKT_LEN, VM_META, VM_THREAD, VM_PRNG, VM_REDIRECT_IFINDEX, VM_REDIRECT_FLAGS,
  VM_FAULT_HELPER, VM_FAULT_READ,
  VM_FAULT_WRITE, VM_REDIRECT_SET, VM_REDIRECT_PEER, VM_F_INGRESS,
} from "../abi/vm";
import {
  GLOBALS, G_CLOCK_NS, FM_HASH, SKB_LEN, SKB_PKT_TYPE, SKB_VLAN_PRESENT, SKB_VLAN_TCI, SKB_VLAN_PROTO, SKB_HASH, SKB_DATA,
  SKB_DATA_END, SKB_DATA_META,
} from "../abi/layout";
import { arg, ret, vmCheck, vmFault } from "./access";
import { mapLookup, mapUpdate, mapDelete, mapPushPop, redirectTarget, ringbufReserve, ringbufCommit } from "./maps";
import {
  MAP_KEY_SIZE, MAP_VALUE_SIZE, MAP_TYPE, MAP_MAX_ENTRIES, MAP_VALUES, MAP_STRIDE, VM_NMAPS, VM_MAPS, VM_TAIL_CALLS, VM_TAIL_PROG,
  VM_TAIL_CALL, VM_NPROG_REGIONS, VM_PROG_REGIONS, MAX_TAIL_CALL_CNT, BPF_MAP_TYPE_PROG_ARRAY, VM_PROG, VM_SLOTS, VM_REGIONS, VM_REGION_SIZE, VM_NREGIONS,
  BPF_MAP_TYPE_RINGBUF, MAP_RB_PROD, MAP_RB_CONS, RB_HDR, RB_BUSY, VM_PKT_LO, VM_PKT_HI, VM_PKT_META, VM_CTX,
  BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_XSKMAP, VM_REDIRECT_MAP, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS,
  MAP_CAPACITY, MAP_SLOT_SIZE, MAP_SLOT_KEY, BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_CPUMAP,
  BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK, BPF_MAP_TYPE_BLOOM_FILTER, QS_PUSH, QS_POP, QS_PEEK,
  BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, MAP_COPIES, BPF_MAP_TYPE_CGROUP_ARRAY,
} from "../abi/vm";
import {
  VM_DEV, VM_NETNS, VM_CSUM, VM_HEAD_PUSHED, VM_KVIEW, VM_KVIEW_AREA, VM_KVIEW_SIZE, VM_KFUNC_BASE, KFUNC_CAST_TO_KERN_CTX, KV_SKB_DEV, KV_SKB_MARK, KV_SKB_PRIORITY,
  KV_SKB_LEN, KV_DEV, KV_DEV_HEADROOM, KV_DEV_TAILROOM, KV_DEV_IFINDEX, KV_DEV_MTU,
} from "../abi/vm";
import { SKB_PROTOCOL, SKB_TSTAMP, FM_PROTOCOL, FM_TSTAMP } from "../abi/layout";
import { SKB_CTX_SIZE, SKB_MARK, SKB_PRIORITY, D_HEADROOM, D_TAILROOM, D_IFINDEX, D_MTU } from "../abi/layout";
import { FM_PKT_TYPE, FM_VLAN_TCI, FM_VLAN_PROTO, T_PRINTK_RING, PK_TSTAMP, PK_FMT_LEN, PK_ARGS, PK_FMT, PK_FMT_MAX } from "../abi/layout";
import { threadState } from "../dev/frames";
import { tunnelGet, tunnelSet, tunnelGetOpt, tunnelSetOpt } from "./tunnel";
import { fibLookup, deviceByIndex } from "./fib";
import { bpfSnprintf } from "./printf";
import { dynptrCall, isDynptrCall } from "./dynptr";
import { flowHash } from "../dev/flowhash";
import { ringEntry, ringProdFree, ringProdIndex, ringSubmit } from "../ring/ring";
import { PR_INSNS, PR_SLOTS, PR_NREGIONS, PR_REGIONS, PR_NMAPS, PR_MAPS } from "../abi/layout";
import { E2BIG, EACCES, EAGAIN, EFAULT, EINVAL, ENODEV, ENOENT, ENOMEM, ENOTSUPP, EOPNOTSUPP } from "./errno";

/**
 * A tail call into program record `prog` (not 0): the record becomes the target's (its
 * instructions, regions and maps; context and packet stay). False, changing nothing, when
 * the run has made MAX_TAIL_CALL_CNT tail calls already (the call falls through).
 */
export function tailEnter(rec: usize, prog: usize): bool {
  const used = load<u32>(rec, VM_TAIL_CALLS);
  if (used >= MAX_TAIL_CALL_CNT) return false;
  store<u32>(rec, used + 1, VM_TAIL_CALLS);
  store<u32>(rec, <u32>prog, VM_TAIL_PROG);
  progPart(rec, prog);
  return true;
}

/** The run record's part that is the program's own (abi PR_*): its instructions, regions and maps. */
@inline export function progPart(rec: usize, prog: usize): void {
  store<u32>(rec, load<u32>(prog, PR_INSNS), VM_PROG);
  store<u32>(rec, load<u32>(prog, PR_SLOTS), VM_SLOTS);
  store<u32>(rec, load<u32>(prog, PR_NREGIONS), VM_NPROG_REGIONS);
  store<u32>(rec, load<u32>(prog, PR_REGIONS), VM_PROG_REGIONS);
  store<u32>(rec, load<u32>(prog, PR_NMAPS), VM_NMAPS);
  store<u32>(rec, load<u32>(prog, PR_MAPS), VM_MAPS);
}

/** A function pointer, as `lddw rX, <func>` (src BPF_PSEUDO_FUNC) loads it: tag << 32 | pc. */
export const FUNC_TAG: u64 = 0xbf0c;
export const PSEUDO_FUNC: u32 = 4;

const TC_ACT_SHOT: u64 = 2;
const XDP_ABORTED: u64 = 0;
const XDP_REDIRECT: u64 = 4;
const TC_ACT_REDIRECT: u64 = 7;


/** Packet byte range [off, off+len) as an address, or 0 when out of the packet. */
function pktRange(rec: usize, off: u64, len: u64): usize {
  const plen = <u64>load<u32>(rec, VM_PKT_LEN);
  if (off > plen || len > plen - off) return 0;
  return <usize>load<u32>(rec, VM_PKT) + <usize>off;
}

@inline function fold(sum: u64): u32 {
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  return <u32>sum;
}

/** a + b with the carry out added back in (x86's `addq; adcq $0`). */
@inline function add64c(a: u64, b: u64): u64 {
  const t = a + b;
  return t + <u64>(t < b);
}

/** a + b with the carry out added back in (the kernel's add32_with_carry and csum_add). */
@inline function add32c(a: u32, b: u32): u32 {
  const t = a + b;
  return t + <u32>(t < b);
}

/** The kernel's csum_from32to16: the 32-bit sum folded to 16 bits. */
@inline function from32to16(v: u32): u32 {
  return ((v + ((v >> 16) | (v << 16))) >> 16) & 0xffff;
}

/**
 * The kernel's csum_partial as x86-64 computes it (arch/x86/lib/csum-partial_64.c), bit
 * for bit: 64-bit little-endian words added with end-around carry onto `sum`, a zero-padded
 * tail, folded to 32 bits; a buffer at an odd address starts with its first byte shifted
 * into the rotated sum and ends folded to 16 bits and byte-swapped.
 */
function csumPartial(buf: usize, len: u32, sum: u32): u32 {
  let t: u64 = <u64>sum;
  const odd = (buf & 1) != 0;
  if (odd) {
    if (len == 0) return sum;
    t = <u64>rotr<u32>(sum, 8) + (<u64>load<u8>(buf) << 8);
    len--;
    buf++;
  }
  while (len >= 8) {
    t = add64c(t, load<u64>(buf));
    buf += 8;
    len -= 8;
  }
  if (len != 0) {
    let trail: u64 = 0;
    for (let i: u32 = 0; i < len; i++) trail |= <u64>load<u8>(buf + <usize>i) << (<u64>i << 3);
    t = add64c(t, trail);
  }
  let r = add32c(<u32>(t >> 32), <u32>t);
  if (odd) {
    r = from32to16(r);
    r = ((r >> 8) & 0xff) | ((r & 0xff) << 8);
  }
  return r;
}

@inline function csum16(v: u32): u32 {
  v = (v & 0xffff) + (v >> 16);
  v = (v & 0xffff) + (v >> 16);
  return v;
}

/** Incremental update of the 16-bit checksum at `p` (RFC 1624): replace `from` by `to` (`size` bytes, network order). */
function csumReplace(p: usize, from: u64, to: u64, size: u32): void {
  // Work in network order: the stored checksum and the fields are big-endian on the wire.
  let sum: u64 = <u64>(~bswap<u16>(load<u16>(p)) & 0xffff);
  if (size == 2) {
    sum += <u64>(~bswap<u16>(<u16>from) & 0xffff) + <u64>bswap<u16>(<u16>to);
  } else {
    const f = bswap<u32>(<u32>from);
    const t = bswap<u32>(<u32>to);
    sum += <u64>(~(f >> 16) & 0xffff) + <u64>(~f & 0xffff) + <u64>(t >> 16) + <u64>(t & 0xffff);
  }
  store<u16>(p, bswap<u16>(<u16>(~csum16(fold(sum)) & 0xffff)));
}

/** Applies a 32-bit checksum difference (csum_diff's result) to the checksum at `p`. */
function csumByDiff(p: usize, diff: u32): void {
  const d = bswap<u32>(diff);
  let sum: u64 = <u64>(~bswap<u16>(load<u16>(p)) & 0xffff) + <u64>(d >> 16) + <u64>(d & 0xffff);
  store<u16>(p, bswap<u16>(<u16>(~csum16(fold(sum)) & 0xffff)));
}

/**
 * l3/l4_csum_replace: updates the checksum at packet offset r2 for a field changing from
 * r3 to r4 (flags & 0xf = its size, 2 or 4; 0 = r4 is a csum_diff). Returns 0 or -errno.
 */
function csumField(rec: usize, allowed: u64): i64 {
  const flags = arg(rec, 5);
  if ((flags & ~allowed) != 0) return EINVAL;
  const p = pktRange(rec, arg(rec, 2), 2);
  if (p == 0) return EFAULT;
  // BPF_F_MARK_MANGLED_0 (l4): a zero UDP checksum means "none" and stays so.
  const mangled0 = (flags & 0x20) != 0;
  if (mangled0 && load<u16>(p) == 0) return 0;
  const size = <u32>(flags & 0xf);
  if (size == 0) {
    if (arg(rec, 3) != 0) return EINVAL;
    csumByDiff(p, <u32>arg(rec, 4));
  } else if (size == 2 || size == 4) {
    csumReplace(p, arg(rec, 3), arg(rec, 4), size);
  } else {
    return EINVAL;
  }
  if (mangled0 && load<u16>(p) == 0) store<u16>(p, 0xffff);
  return 0;
}

/**
 * True when `m` is one of the map records the program was loaded with, or a map held in
 * one of its maps-of-maps right now (what a lookup in the outer map hands out).
 */
export function knownMap(rec: usize, m: u64): bool {
  const n = load<u32>(rec, VM_NMAPS);
  const list = <usize>load<u32>(rec, VM_MAPS);
  for (let i: u32 = 0; i < n; i++) if (<u64>load<u32>(list + (<usize>i << 2)) == m) return true;
  if (m == 0 || (m >> 32) != 0) return false;
  for (let i: u32 = 0; i < n; i++) {
    const outer = <usize>load<u32>(list + (<usize>i << 2));
    const t = load<u32>(outer, MAP_TYPE);
    if (t != BPF_MAP_TYPE_ARRAY_OF_MAPS && t != BPF_MAP_TYPE_HASH_OF_MAPS) continue;
    const values = <usize>load<u32>(outer, MAP_VALUES);
    if (t == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
      const max = load<u32>(outer, MAP_MAX_ENTRIES);
      const stride = load<u32>(outer, MAP_STRIDE);
      for (let k: u32 = 0; k < max; k++) if (<u64>atomic.load<u32>(values + <usize>(k * stride)) == m) return true;
    } else {
      const cap = load<u32>(outer, MAP_CAPACITY);
      const ss = load<u32>(outer, MAP_SLOT_SIZE);
      const kr = (load<u32>(outer, MAP_KEY_SIZE) + 7) & ~7;
      for (let k: u32 = 0; k < cap; k++) {
        const s = values + <usize>(k * ss);
        if (atomic.load<u32>(s) == 1 && <u64>load<u32>(s + MAP_SLOT_KEY + kr) == m) return true;
      }
    }
  }
  return false;
}

const XDP_MIN_HEADROOM: u32 = 40; // struct xdp_frame at the start of the buffer
const XDP_META_MAX: u32 = 32;

/** Moves the packet to [data, data + len): the record, region 1 and the context's pointers follow. */
function setPacket(rec: usize, data: usize, len: u32, xdp: bool): void {
  store<u32>(rec, <u32>data, VM_PKT);
  store<u32>(rec, len, VM_PKT_LEN);
  const r1 = rec + VM_REGIONS + VM_REGION_SIZE;
  store<u32>(r1, <u32>data);
  store<u32>(r1, <u32>(data + len), 4);
  const ctx = <usize>load<u32>(rec, VM_CTX);
  if (ctx == 0) return;
  if (xdp) {
    let meta = <usize>load<u32>(rec, VM_PKT_META);
    if (meta == 0 || meta > data) meta = data;
    store<u32>(ctx, <u32>data, 0);
    store<u32>(ctx, <u32>(data + len), 4);
    store<u32>(ctx, <u32>meta, 8);
  } else {
    store<u32>(ctx, len, SKB_LEN);
    store<u32>(ctx, <u32>data, SKB_DATA);
    store<u32>(ctx, <u32>(data + len), SKB_DATA_END);
    store<u32>(ctx, <u32>data, SKB_DATA_META);
  }
}

/** skb->protocol (network order): the frame's, or a test run's __sk_buff's. */
function skbProtocol(rec: usize): u32 {
  const meta = <usize>load<u32>(rec, VM_META);
  if (meta != 0) return <u32>load<u16>(meta, FM_PROTOCOL);
  const ctx = <usize>load<u32>(rec, VM_CTX);
  return ctx != 0 ? load<u32>(ctx, SKB_PROTOCOL) & 0xffff : 0;
}

/** 802.1Q or 802.1ad, in network order in the low half (as skb->protocol holds it). */
@inline function isVlanProto(p: u32): bool {
  return p == 0x0081 || p == 0xa888;
}

/** skb_vlan_tag_present: the out-of-band (hwaccel) tag. */
function vlanPresent(rec: usize): bool {
  const ctx = <usize>load<u32>(rec, VM_CTX);
  if (ctx != 0) return load<u32>(ctx, SKB_VLAN_PRESENT) != 0;
  const meta = <usize>load<u32>(rec, VM_META);
  return meta != 0 && load<u16>(meta, FM_VLAN_TCI) != 0;
}

function vlanField(rec: usize, skbOff: u32, fmOff: u32): u32 {
  const ctx = <usize>load<u32>(rec, VM_CTX);
  if (ctx != 0) return load<u32>(ctx + skbOff) & 0xffff;
  const meta = <usize>load<u32>(rec, VM_META);
  return meta != 0 ? <u32>load<u16>(meta + fmOff) : 0;
}

function setVlan(rec: usize, present: u32, proto: u32, tci: u32): void {
  const meta = <usize>load<u32>(rec, VM_META);
  const ctx = <usize>load<u32>(rec, VM_CTX);
  if (meta != 0) { store<u16>(meta, <u16>tci, FM_VLAN_TCI); store<u16>(meta, <u16>proto, FM_VLAN_PROTO); }
  if (ctx != 0) {
    store<u32>(ctx, present, SKB_VLAN_PRESENT);
    store<u32>(ctx, tci, SKB_VLAN_TCI);
    store<u32>(ctx, proto, SKB_VLAN_PROTO);
  }
}

function setSkbProtocol(rec: usize, proto: u32): void {
  const meta = <usize>load<u32>(rec, VM_META);
  const ctx = <usize>load<u32>(rec, VM_CTX);
  if (meta != 0) store<u16>(meta, <u16>proto, FM_PROTOCOL);
  if (ctx != 0) store<u32>(ctx, proto, SKB_PROTOCOL);
}

/**
 * __skb_vlan_pop: the tag after the MAC addresses leaves the frame (the addresses move
 * up over it) and skb->protocol becomes the encapsulated one (vlan_set_encap_proto:
 * below 0x600 a length, the frame 802.3 raw (ffff) or 802.2).
 */
function popFrameTag(rec: usize, data: usize, len: u32): void {
  const encap = <u32>load<u16>(data + 16);
  let proto = encap;
  if (<u32>bswap<u16>(<u16>encap) < 0x600) proto = len >= 20 && load<u16>(data + 18) == 0xffff ? 0x0100 : 0x0400; // ETH_P_802_3 / ETH_P_802_2
  memory.copy(data + 4, data, 12);
  setPacket(rec, data + 4, len - 4, false);
  setSkbProtocol(rec, proto);
}

/** Runs helper `id` for the instruction at `pc`. Returns 0 or a fault code. */
export function vmHelper(rec: usize, id: u32, depth: u32, pc: u32): u32 {
  switch (id) {
    case VM_KFUNC_BASE + KFUNC_CAST_TO_KERN_CTX: // bpf_cast_to_kern_ctx(ctx): the kernel's sk_buff
      ret(rec, castToKernCtx(rec));
      return 0;
    case 1: case 2: case 3: { // map_lookup_elem, map_update_elem, map_delete_elem
      const map = <usize>arg(rec, 1);
      if (!knownMap(rec, arg(rec, 1))) return vmFault(rec, VM_FAULT_HELPER, pc);
      const ks = load<u32>(map, MAP_KEY_SIZE);
      const key = vmCheck(rec, arg(rec, 2), ks, false);
      if (key == 0) return vmFault(rec, VM_FAULT_READ, pc);
      const cpu = load<u32>(rec, VM_THREAD);
      if (id == 1) { ret(rec, <u64>mapLookup(map, key, cpu)); return 0; }
      if (id == 3) { ret(rec, <u64><i64>mapDelete(map, key, cpu)); return 0; }
      const value = vmCheck(rec, arg(rec, 3), load<u32>(map, MAP_VALUE_SIZE), false);
      if (value == 0) return vmFault(rec, VM_FAULT_READ, pc);
      ret(rec, <u64><i64>mapUpdate(map, key, value, arg(rec, 4), cpu, false));
      return 0;
    }
    case 12: { // tail_call(ctx, prog_array, index): on success the program is replaced
      const map = arg(rec, 2);
      if (!knownMap(rec, map)) return vmFault(rec, VM_FAULT_HELPER, pc);
      const m = <usize>map;
      const index = <u32>arg(rec, 3);
      if (load<u32>(m, MAP_TYPE) != BPF_MAP_TYPE_PROG_ARRAY || index >= load<u32>(m, MAP_MAX_ENTRIES)) return 0;
      const prog = <usize>atomic.load<u32>(<usize>load<u32>(m, MAP_VALUES) + <usize>(index * load<u32>(m, MAP_STRIDE)));
      // (an empty slot, or the limit reached: falls through to the next instruction)
      return prog != 0 && tailEnter(rec, prog) ? VM_TAIL_CALL : 0;
    }
    case 130: case 131: case 134: { // ringbuf_output(map, data, size, flags), ringbuf_reserve(map, size, flags), ringbuf_query(map, flags)
      const m = arg(rec, 1);
      if (!knownMap(rec, m) || load<u32>(<usize>m, MAP_TYPE) != BPF_MAP_TYPE_RINGBUF) return vmFault(rec, VM_FAULT_HELPER, pc);
      const map = <usize>m;
      if (id == 134) {
        const f = arg(rec, 2);
        const prod = <u64>atomic.load<u32>(map + MAP_RB_PROD);
        const cons = <u64>atomic.load<u32>(map + MAP_RB_CONS);
        ret(rec, f == 0 ? (prod - cons) & 0xffffffff : f == 1 ? <u64>load<u32>(map, MAP_MAX_ENTRIES) : f == 2 ? cons : f == 3 ? prod : 0);
        return 0;
      }
      if (id == 131) {
        if (arg(rec, 3) != 0) { ret(rec, 0); return 0; }
        ret(rec, <u64>ringbufReserve(map, arg(rec, 2)));
        return 0;
      }
      const size = arg(rec, 3);
      const src: usize = size == 0 ? 1 : vmCheck(rec, arg(rec, 2), <u32>size, false);
      if (src == 0 || size > 0xffffffff) return vmFault(rec, VM_FAULT_READ, pc);
      if ((arg(rec, 4) & ~<u64>3) != 0) { ret(rec, <u64>EINVAL); return 0; }
      const p = ringbufReserve(map, size);
      if (p == 0) { ret(rec, <u64>(-11 as i64)); return 0; } // -EAGAIN
      memory.copy(p, src, <usize>size);
      ringbufCommit(p, false);
      ret(rec, 0);
      return 0;
    }
    case 132: case 133: { // ringbuf_submit(data, flags), ringbuf_discard(data, flags)
      const p = arg(rec, 1);
      if (vmCheck(rec, p - <u64>RB_HDR, RB_HDR, true) == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
      if ((load<u32>(<usize>p - RB_HDR) & RB_BUSY) == 0) return vmFault(rec, VM_FAULT_HELPER, pc);
      ringbufCommit(<usize>p, id == 133);
      ret(rec, 0);
      return 0;
    }
    case 38: { // skb_change_tail(skb, new_len, flags)
      const data = <usize>load<u32>(rec, VM_PKT);
      const nl = arg(rec, 2);
      // (not below the network header's offset: __bpf_skb_min_len)
      if (arg(rec, 3) != 0 || nl < 14 + <u64>load<u32>(rec, VM_HEAD_PUSHED) || nl > 0xffff) { ret(rec, <u64>EINVAL); return 0; }
      if (data + <usize>nl > <usize>load<u32>(rec, VM_PKT_HI)) { ret(rec, <u64>ENOMEM); return 0; }
      const old = load<u32>(rec, VM_PKT_LEN);
      if (<u32>nl > old) memory.fill(data + old, 0, <usize>(<u32>nl - old));
      setPacket(rec, data, <u32>nl, false);
      ret(rec, 0);
      return 0;
    }
    case 43: { // skb_change_head(skb, head_room, flags): head_room zero bytes in front
      const data = <usize>load<u32>(rec, VM_PKT);
      const room = arg(rec, 2);
      if (arg(rec, 3) != 0 || room > 0xffff) { ret(rec, <u64>EINVAL); return 0; }
      if (data - <usize>room < <usize>load<u32>(rec, VM_PKT_LO)) { ret(rec, <u64>ENOMEM); return 0; }
      const nd = data - <usize>room;
      memory.fill(nd, 0, <usize>room);
      setPacket(rec, nd, load<u32>(rec, VM_PKT_LEN) + <u32>room, false);
      store<u32>(rec, load<u32>(rec, VM_HEAD_PUSHED) + <u32>room, VM_HEAD_PUSHED); // (MAC header: the network header stays)
      ret(rec, 0);
      return 0;
    }
    case 50: { // skb_adjust_room(skb, len_diff, mode, flags): room after the MAC header (MAC) or after the IP header (NET)
      const diff = <i64><i32>arg(rec, 2);
      const mode = arg(rec, 3);
      const flags = arg(rec, 4);
      const data = <usize>load<u32>(rec, VM_PKT);
      const len = load<u32>(rec, VM_PKT_LEN);
      // (flags: FIXED_GSO 1, ENCAP_L3_IPV4 2 / IPV6 4, ENCAP_L4_GRE 8 / UDP 0x10, NO_CSUM_RESET 0x20,
      // ENCAP_L2_ETH 0x40, DECAP_L3_IPV4 0x80 / IPV6 0x100, the inner MAC length in the top byte)
      if ((flags & ~((<u64>0xff << 56) | 0x1ff)) != 0) { ret(rec, <u64>EINVAL); return 0; }
      const shrink = diff < 0;
      const abs = <u32>(shrink ? -diff : diff);
      if (abs > 0xfff) { ret(rec, <u64>EFAULT); return 0; }
      // skb->protocol, not the frame's EtherType (they differ after a VLAN pop, say)
      const proto = skbProtocol(rec);
      if (proto != 0x0008 && proto != 0xdd86) { ret(rec, <u64>(-524 as i64)); return 0; } // -ENOTSUPP
      if (shrink ? (flags & 0x180) == 0x180 : (flags & 0x180) != 0) { ret(rec, <u64>EINVAL); return 0; }
      const base: u32 = proto == 0x0008 ? 20 : 40;
      let off: u32 = 14;
      if (mode == 0) off += base;
      else if (mode != 1) { ret(rec, <u64>(-524 as i64)); return 0; }
      if (off > len) { ret(rec, <u64>EINVAL); return 0; }
      if (shrink) {
        // The network header's minimum stays (the decapsulated one's, with a DECAP flag).
        const lenMin: u32 = (flags & 0x100) != 0 ? 40 : (flags & 0x80) != 0 ? 20 : base;
        const lenCur = len - 14;
        if (abs >= lenCur || lenCur - abs < lenMin) { ret(rec, <u64>(-524 as i64)); return 0; }
        if ((flags & ~(<u64>0x1a1)) != 0) { ret(rec, <u64>EINVAL); return 0; } // FIXED_GSO, DECAP_L3_*, NO_CSUM_RESET only
        if (off + abs > len) { ret(rec, <u64>EINVAL); return 0; }
        memory.copy(data + abs, data, off);
        setPacket(rec, data + abs, len - abs, false);
        // skb->protocol follows the new outer header's version
        if (proto == 0x0008 && (flags & 0x100) != 0) setSkbProtocol(rec, 0xdd86);
        else if (proto == 0xdd86 && (flags & 0x80) != 0) setSkbProtocol(rec, 0x0008);
        ret(rec, 0);
        return 0;
      }
      const nd = data - <usize>abs;
      if (nd < <usize>load<u32>(rec, VM_PKT_LO) || <i64>len + <i64>abs > 0xffff) { ret(rec, <u64>ENOMEM); return 0; }
      const encap = (flags & 6) != 0;
      if (encap) {
        if ((flags & 6) == 6 || (flags & 0x18) == 0x18) { ret(rec, <u64>EINVAL); return 0; }
        if (<u32>(flags >> 56) > abs) { ret(rec, <u64>EINVAL); return 0; } // the inner MAC header inside the room
      }
      if (abs != 0) {
        memory.copy(nd, data, off);
        memory.fill(nd + off, 0, <usize>abs);
        setPacket(rec, nd, len + abs, false);
      }
      // skb->protocol follows the new outer header's version
      if (encap && proto == 0x0008 && (flags & 4) != 0) setSkbProtocol(rec, 0xdd86);
      else if (encap && proto == 0xdd86 && (flags & 2) != 0) setSkbProtocol(rec, 0x0008);
      ret(rec, 0);
      return 0;
    }
    case 31: { // skb_change_proto(skb, proto, flags): IPv4 <-> IPv6, 20 bytes more (zeroed) or fewer after the MAC header; the headers are the program's to write
      const to = <u32>arg(rec, 2) & 0xffff;
      if (arg(rec, 3) != 0) { ret(rec, <u64>EINVAL); return 0; }
      const from = skbProtocol(rec);
      const data = <usize>load<u32>(rec, VM_PKT);
      const len = load<u32>(rec, VM_PKT_LEN);
      const off: u32 = 14; // skb_mac_header_len
      if (from == 0x0008 && to == 0xdd86) {
        const nd = data - 20;
        if (nd < <usize>load<u32>(rec, VM_PKT_LO)) { ret(rec, <u64>ENOMEM); return 0; }
        memory.copy(nd, data, off);
        memory.fill(nd + off, 0, 20);
        setPacket(rec, nd, len + 20, false);
      } else if (from == 0xdd86 && to == 0x0008) {
        if (len < off + 20) { ret(rec, <u64>ENOMEM); return 0; }
        memory.copy(data + 20, data, off);
        setPacket(rec, data + 20, len - 20, false);
      } else {
        ret(rec, <u64>ENOTSUPP);
        return 0;
      }
      const meta = <usize>load<u32>(rec, VM_META);
      const ctx = <usize>load<u32>(rec, VM_CTX);
      if (meta != 0) { store<u16>(meta, <u16>to, FM_PROTOCOL); store<u32>(meta, 0, FM_HASH); }
      if (ctx != 0) { store<u32>(ctx, to, SKB_PROTOCOL); store<u32>(ctx, 0, SKB_HASH); }
      ret(rec, 0);
      return 0;
    }
    case 39: // skb_pull_data(skb, len): packets are linear already
      ret(rec, arg(rec, 2) <= <u64>load<u32>(rec, VM_PKT_LEN) ? 0 : <u64>ENOMEM);
      return 0;
    case 32: { // skb_change_type(skb, type)
      const meta = <usize>load<u32>(rec, VM_META);
      const ctx = <usize>load<u32>(rec, VM_CTX);
      const t = arg(rec, 2);
      const cur = ctx != 0 ? load<u32>(ctx, SKB_PKT_TYPE) : 0;
      if (t > 3 || cur > 3) { ret(rec, <u64>EINVAL); return 0; }
      if (meta != 0) store<u8>(meta, <u8>t, FM_PKT_TYPE);
      if (ctx != 0) store<u32>(ctx, <u32>t, SKB_PKT_TYPE);
      ret(rec, 0);
      return 0;
    }
    case 41: case 48: { // set_hash_invalid(skb), set_hash(skb, hash)
      const meta = <usize>load<u32>(rec, VM_META);
      const ctx = <usize>load<u32>(rec, VM_CTX);
      const h = id == 48 ? <u32>arg(rec, 2) : 0;
      if (meta != 0) store<u32>(meta, h, FM_HASH);
      if (ctx != 0) store<u32>(ctx, h, SKB_HASH);
      ret(rec, 0);
      return 0;
    }
    case 18: case 19: { // skb_vlan_push(skb, proto, tci), skb_vlan_pop(skb): skb_vlan_push / skb_vlan_pop
      const data = <usize>load<u32>(rec, VM_PKT);
      const len = load<u32>(rec, VM_PKT_LEN);
      if (id == 18) {
        // (a protocol other than 802.1Q / 802.1ad becomes 802.1Q; network order in the low half)
        let proto = <u32>arg(rec, 2) & 0xffff;
        if (proto != 0x0081 && proto != 0xa888) proto = 0x0081;
        const tci = <u32>arg(rec, 3) & 0xffff;
        // A tag already out of band goes into the frame first, after the MAC addresses.
        if (vlanPresent(rec)) {
          const nd = data - 4;
          if (nd < <usize>load<u32>(rec, VM_PKT_LO)) { ret(rec, <u64>ENOMEM); return 0; }
          const oldProto = vlanField(rec, SKB_VLAN_PROTO, FM_VLAN_PROTO);
          memory.copy(nd, data, 12);
          store<u16>(nd + 12, <u16>oldProto);
          store<u16>(nd + 14, bswap<u16>(<u16>vlanField(rec, SKB_VLAN_TCI, FM_VLAN_TCI)));
          setPacket(rec, nd, len + 4, false);
          setSkbProtocol(rec, oldProto);
        }
        setVlan(rec, 1, proto, tci);
        ret(rec, 0);
        return 0;
      }
      // Pop: the out-of-band tag if there is one, else the frame's outer tag; then the
      // frame's next tag (if any) moves out of band.
      let d = data;
      let l = len;
      if (vlanPresent(rec)) {
        setVlan(rec, 0, 0, 0);
      } else {
        if (!isVlanProto(skbProtocol(rec))) { ret(rec, 0); return 0; }
        if (l < 18) { ret(rec, <u64>ENOMEM); return 0; }
        popFrameTag(rec, d, l);
        d += 4;
        l -= 4;
      }
      const p = skbProtocol(rec);
      if (!isVlanProto(p)) { ret(rec, 0); return 0; }
      if (l < 18) { ret(rec, <u64>ENOMEM); return 0; }
      const tci = <u32>bswap<u16>(load<u16>(d + 14));
      popFrameTag(rec, d, l);
      setVlan(rec, 1, p, tci);
      ret(rec, 0);
      return 0;
    }
    case 44: case 65: case 54: { // xdp_adjust_head(ctx, delta), xdp_adjust_tail, xdp_adjust_meta
      const data = <usize>load<u32>(rec, VM_PKT);
      const len = load<u32>(rec, VM_PKT_LEN);
      const delta = <i64><i32>arg(rec, 2);
      const lo = <usize>load<u32>(rec, VM_PKT_LO);
      const hi = <usize>load<u32>(rec, VM_PKT_HI);
      let meta = <usize>load<u32>(rec, VM_PKT_META);
      if (meta == 0) meta = data;
      const metaLen = <u32>(data - meta);
      if (id == 44) {
        const nd = <i64>data + delta;
        if (nd < <i64>(lo + XDP_MIN_HEADROOM + metaLen) || nd > <i64>(data + len - 14)) { ret(rec, <u64>EINVAL); return 0; }
        store<u32>(rec, <u32>(nd - <i64>metaLen), VM_PKT_META);
        setPacket(rec, <usize>nd, <u32>(<i64>len - delta), true);
      } else if (id == 65) {
        const nl = <i64>len + delta;
        if (nl < 14 || <i64>data + nl > <i64>hi) { ret(rec, <u64>EINVAL); return 0; }
        if (delta > 0) memory.fill(data + len, 0, <usize>delta);
        setPacket(rec, data, <u32>nl, true);
      } else {
        const nm = <i64>meta + delta;
        if ((delta & 3) != 0 || nm > <i64>data || <i64>data - nm > <i64>XDP_META_MAX || nm < <i64>(lo + XDP_MIN_HEADROOM)) { ret(rec, <u64>EINVAL); return 0; }
        store<u32>(rec, <u32>nm, VM_PKT_META);
        setPacket(rec, data, len, true);
      }
      ret(rec, 0);
      return 0;
    }
    case 51: { // redirect_map(map, key, flags): XDP_REDIRECT when the slot is set, else the fallback action
      const m = arg(rec, 1);
      if (!knownMap(rec, m)) return vmFault(rec, VM_FAULT_HELPER, pc);
      const map = <usize>m;
      const t = load<u32>(map, MAP_TYPE);
      const flags = arg(rec, 3);
      const devmap = t == BPF_MAP_TYPE_DEVMAP || t == BPF_MAP_TYPE_DEVMAP_HASH;
      if (!devmap && t != BPF_MAP_TYPE_XSKMAP && t != BPF_MAP_TYPE_CPUMAP) return vmFault(rec, VM_FAULT_HELPER, pc);
      // __bpf_xdp_redirect_map: the action bits (the fallback), plus BPF_F_BROADCAST and
      // BPF_F_EXCLUDE_INGRESS for devmaps; any other flag is XDP_ABORTED.
      if ((flags & ~<u64>(devmap ? 0x1b : 3)) != 0) { ret(rec, 0); return 0; }
      const v = redirectTarget(map, t, <u32>arg(rec, 2));
      if (v == 0) { ret(rec, flags & 3); return 0; }
      store<u32>(rec, v, VM_REDIRECT_IFINDEX);
      store<u32>(rec, VM_REDIRECT_SET | VM_REDIRECT_MAP | (t << 16), VM_REDIRECT_FLAGS);
      ret(rec, 4); // XDP_REDIRECT
      return 0;
    }
    case 87: case 88: case 89: { // map_push_elem(map, value, flags), map_pop_elem(map, value), map_peek_elem(map, value)
      const m = arg(rec, 1);
      if (!knownMap(rec, m)) return vmFault(rec, VM_FAULT_HELPER, pc);
      const map = <usize>m;
      const t = load<u32>(map, MAP_TYPE);
      if (t != BPF_MAP_TYPE_QUEUE && t != BPF_MAP_TYPE_STACK && t != BPF_MAP_TYPE_BLOOM_FILTER) return vmFault(rec, VM_FAULT_HELPER, pc);
      // Push reads the value, pop and peek fill it in; a bloom filter's peek reads the element it tests.
      const write = id != 87 && t != BPF_MAP_TYPE_BLOOM_FILTER;
      const value = vmCheck(rec, arg(rec, 2), load<u32>(map, MAP_VALUE_SIZE), write);
      if (value == 0) return vmFault(rec, write ? VM_FAULT_WRITE : VM_FAULT_READ, pc);
      ret(rec, <u64><i64>mapPushPop(map, value, id == 87 ? QS_PUSH : id == 88 ? QS_POP : QS_PEEK, id == 87 ? arg(rec, 3) : 0));
      return 0;
    }
    case 6: { // trace_printk(fmt, fmt_size, a1, a2, a3): a record for the host's trace_pipe
      const size = arg(rec, 2);
      const fmt: usize = size == 0 ? 0 : vmCheck(rec, arg(rec, 1), <u32>size, false);
      if (fmt == 0) { ret(rec, <u64>EINVAL); return 0; }
      const r = <usize>load<u32>(threadState(load<u32>(rec, VM_THREAD)), T_PRINTK_RING);
      if (r == 0 || ringProdFree(r, 1) == 0) { ret(rec, 0); return 0; } // trace buffer full: lost
      const e = ringEntry(r, ringProdIndex(r));
      const n = size > <u64>PK_FMT_MAX ? PK_FMT_MAX : <u32>size;
      store<u64>(e, load<u64>(GLOBALS, G_CLOCK_NS), PK_TSTAMP);
      store<u32>(e, n, PK_FMT_LEN);
      store<u64>(e, arg(rec, 3), PK_ARGS);
      store<u64>(e, arg(rec, 4), PK_ARGS + 8);
      store<u64>(e, arg(rec, 5), PK_ARGS + 16);
      memory.copy(e + PK_FMT, fmt, n);
      ringSubmit(r, 1);
      ret(rec, <u64>n);
      return 0;
    }
    case 25: { // perf_event_output(ctx, map, flags, data, size)
      const m = arg(rec, 2);
      if (!knownMap(rec, m) || load<u32>(<usize>m, MAP_TYPE) != BPF_MAP_TYPE_PERF_EVENT_ARRAY) return vmFault(rec, VM_FAULT_HELPER, pc);
      const map = <usize>m;
      const flags = arg(rec, 3);
      const size = arg(rec, 5);
      const src: usize = size == 0 ? 1 : vmCheck(rec, arg(rec, 4), <u32>size, false);
      if (src == 0 || size > 0xffff) return vmFault(rec, VM_FAULT_READ, pc);
      if ((flags >> 32) != 0) { ret(rec, <u64>EINVAL); return 0; } // BPF_F_CTXLEN_MASK (appending the packet) is not emulated
      let index = <u32>(flags & 0xffffffff);
      if (index == 0xffffffff) index = load<u32>(rec, VM_THREAD);
      if (index >= load<u32>(map, MAP_MAX_ENTRIES)) { ret(rec, <u64>E2BIG); return 0; }
      const ring = <usize>atomic.load<u32>(<usize>load<u32>(map, MAP_VALUES) + (<usize>index << 2));
      if (ring == 0) { ret(rec, <u64>(-2 as i64)); return 0; } // -ENOENT: no perf buffer opened on that CPU
      const p = ringbufReserve(ring, size == 0 ? 1 : size);
      if (p == 0) { ret(rec, <u64>(-28 as i64)); return 0; } // -ENOSPC: lost
      memory.copy(p, src, <usize>size);
      ringbufCommit(p, false);
      ret(rec, 0);
      return 0;
    }
    case 5: // ktime_get_ns: the virtual clock
    case 125: // ktime_get_boot_ns: the same clock (nothing here is ever suspended)
    case 160: // ktime_get_coarse_ns: the same clock (no tick granularity to lose)
    case 208: // ktime_get_tai_ns: the same clock (nkemu has no wall clock to offset)
      ret(rec, load<u64>(GLOBALS, G_CLOCK_NS));
      return 0;
    case 24: // get_route_realm: the skb's dst's tclassid; nkemu has no route realms (and a test run no dst)
      ret(rec, 0);
      return 0;
    case 40: // csum_update(skb, csum): only a CHECKSUM_COMPLETE skb has a csum to update; nkemu's never are
      ret(rec, <u64>ENOTSUPP);
      return 0;
    case 182: { // strncmp(s1, s1_sz, s2): lib/string.c's strncmp(s1, s2, s1_sz), -1 / 0 / 1
      const n = <u32>arg(rec, 2);
      const s1 = vmCheck(rec, arg(rec, 1), n, false);
      if (n == 0 || s1 == 0) return vmFault(rec, VM_FAULT_READ, pc);
      let r: i64 = 0;
      for (let i: u32 = 0; i < n; i++) {
        // (s2 is a NUL-terminated read-only string the verifier checked: read up to its NUL)
        const p2 = vmCheck(rec, arg(rec, 3) + <u64>i, 1, false);
        if (p2 == 0) return vmFault(rec, VM_FAULT_READ, pc);
        const c1 = load<u8>(s1 + <usize>i);
        const c2 = load<u8>(p2);
        if (c1 != c2) { r = c1 < c2 ? -1 : 1; break; }
        if (c1 == 0) break;
      }
      ret(rec, <u64>r);
      return 0;
    }
    case 135: { // csum_level(skb, level): the skb's CHECKSUM_UNNECESSARY level (VM_CSUM: 0 = CHECKSUM_NONE, else level + 1)
      const level = arg(rec, 2);
      const st = load<u32>(rec, VM_CSUM);
      let r: i64 = 0;
      if (level == 0) r = st == 0 ? EACCES : <i64>(st - 1); // BPF_CSUM_LEVEL_QUERY
      else if (level == 1) { if (st < 4) store<u32>(rec, st + 1, VM_CSUM); } // INC: NONE becomes level 0, at most SKB_MAX_CSUM_LEVEL (3)
      else if (level == 2) { if (st != 0) store<u32>(rec, st - 1, VM_CSUM); } // DEC: level 0 becomes NONE
      else if (level == 3) store<u32>(rec, 0, VM_CSUM); // RESET
      else r = EINVAL;
      ret(rec, <u64>r);
      return 0;
    }
    case 163: { // check_mtu(ctx, ifindex, mtu_len, len_diff, flags): BPF_MTU_CHK_RET_SUCCESS (0) / _FRAG_NEEDED (1) / -errno; *mtu_len = the device's MTU
      const p = vmCheck(rec, arg(rec, 3), 4, true);
      if (p == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
      const xdp = load<u32>(rec, VM_PKT_META) != 0;
      const flags = arg(rec, 5);
      const ifindex = <u32>arg(rec, 2);
      const diff = <i64><i32>arg(rec, 4);
      const inLen = load<u32>(p);
      let r: i64 = 0;
      let mtu: u32 = 65536;
      // (BPF_MTU_CHK_SEGS, tc only, and then neither len_diff nor *mtu_len)
      if (xdp ? flags != 0 : (flags & ~<u64>1) != 0 || (flags != 0 && (diff != 0 || inLen != 0))) r = EINVAL;
      else {
        // __dev_via_ifindex: the packet's device (a test run's: the loopback) for 0, else by ifindex in its namespace
        // (an XDP run's device: xdp_md's ingress_ifindex; a test run's loopback is ifindex 1)
        let dev = <usize>load<u32>(rec, VM_DEV);
        let idx = ifindex;
        if (idx == 0 && dev == 0) {
          const ctx = <usize>load<u32>(rec, VM_CTX);
          idx = xdp && ctx != 0 && load<u32>(ctx, 12) != 0 ? load<u32>(ctx, 12) : 1;
        }
        if (idx != 0) dev = deviceByIndex(load<u32>(rec, VM_NETNS), idx);
        if (dev == 0 && idx != 1) r = ENODEV;
        else {
          if (dev != 0) mtu = load<u32>(dev, D_MTU);
          // (hard_header_len: an Ethernet header on every nkemu device)
          const devLen = <i64>mtu + 14;
          const len = (inLen != 0 ? <i64>inLen + 14 : <i64>load<u32>(rec, VM_PKT_LEN)) + diff;
          if (len > devLen) r = 1; // (nkemu's skbs are never GSO)
        }
      }
      if (r >= 0) store<u32>(p, mtu); // (the errors leave *mtu_len as it was)
      ret(rec, <u64>r);
      return 0;
    }
    case 195: { // map_lookup_percpu_elem(map, key, cpu): that CPU's value, NULL past the CPUs
      const map = <usize>arg(rec, 1);
      if (!knownMap(rec, arg(rec, 1))) return vmFault(rec, VM_FAULT_HELPER, pc);
      const t = load<u32>(map, MAP_TYPE);
      if (t != BPF_MAP_TYPE_PERCPU_ARRAY && t != BPF_MAP_TYPE_PERCPU_HASH && t != BPF_MAP_TYPE_LRU_PERCPU_HASH) return vmFault(rec, VM_FAULT_HELPER, pc);
      const key = vmCheck(rec, arg(rec, 2), load<u32>(map, MAP_KEY_SIZE), false);
      if (key == 0) return vmFault(rec, VM_FAULT_READ, pc);
      const cpu = <u32>arg(rec, 3);
      ret(rec, cpu >= load<u32>(map, MAP_COPIES) ? 0 : <u64>mapLookup(map, key, cpu));
      return 0;
    }
    case 122: // get_netns_cookie(skb or NULL): the skb's socket's namespace, init_net's without one (nkemu's cookie: the namespace's id, init's 1)
      ret(rec, arg(rec, 1) != 0 && load<u32>(rec, VM_DEV) == 0 && load<u32>(rec, VM_NETNS) != 0 ? <u64>load<u32>(rec, VM_NETNS) : 1);
      return 0;
    case 66: { // skb_get_xfrm_state(skb, index, to, size, flags): nkemu's skbs have no sec_path: -EINVAL, `to` zeroed
      const size = <u32>arg(rec, 4);
      const to = vmCheck(rec, arg(rec, 3), size, true);
      if (size == 0 || to == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
      memory.fill(to, 0, size);
      ret(rec, <u64>EINVAL);
      return 0;
    }
    case 192: { // skb_set_tstamp(skb, tstamp, tstamp_type): IPv4/IPv6 skbs only; REALTIME (0), MONO (1) and TAI (2), the last two not 0
      const proto = skbProtocol(rec);
      const ts = arg(rec, 2);
      const type = <u32>arg(rec, 3);
      let r: i64 = 0;
      if (proto != 0x0008 && proto != 0xdd86) r = EOPNOTSUPP;
      else if (type > 2 || (type != 0 && ts == 0)) r = EINVAL;
      else {
        const meta = <usize>load<u32>(rec, VM_META);
        const ctx = <usize>load<u32>(rec, VM_CTX);
        if (meta != 0) store<u64>(meta, ts, FM_TSTAMP);
        if (ctx != 0) store<u64>(ctx, ts, SKB_TSTAMP);
      }
      ret(rec, <u64>r);
      return 0;
    }
    case 165: { // snprintf(str, str_size, fmt, data, data_len): printf.ts
      const size = <u32>arg(rec, 2);
      const str: usize = size == 0 ? 0 : vmCheck(rec, arg(rec, 1), size, true);
      if (size != 0 && str == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
      const dlen = <u32>arg(rec, 5);
      const data: usize = dlen == 0 ? 0 : vmCheck(rec, arg(rec, 4), dlen, false);
      if (dlen != 0 && data == 0 && arg(rec, 4) != 0) return vmFault(rec, VM_FAULT_READ, pc);
      if ((dlen & 7) != 0 || dlen > 96 || (dlen != 0 && data == 0)) { ret(rec, <u64>EINVAL); return 0; }
      ret(rec, <u64>bpfSnprintf(rec, str, size, arg(rec, 3), data, dlen >> 3));
      return 0;
    }
    case 42: // get_numa_node_id: one node
      ret(rec, 0);
      return 0;
    // The skb's socket. A test run's skb has the kernel's dummy socket (bpf_prog_test_run_skb:
    // root's uid, the root cgroup, a fresh cookie); the datapath's carry none (nkemu's stack
    // hands no socket along): the kernel's answers for skb->sk == NULL. A test run is the
    // tc run without a device (VM_DEV 0).
    case 17: case 151: // get_cgroup_classid, skb_cgroup_classid: no net_cls classid
      ret(rec, 0);
      return 0;
    case 46: // get_socket_cookie: not 0 and the same for the run (the kernel's counts up)
      ret(rec, load<u32>(rec, VM_DEV) == 0 ? (load<u64>(GLOBALS, G_CLOCK_NS) << 1) | 1 : 0);
      return 0;
    case 47: // get_socket_uid: root's, or overflowuid without a socket
      ret(rec, load<u32>(rec, VM_DEV) == 0 ? 0 : 65534);
      return 0;
    case 79: // skb_cgroup_id: the root cgroup's id
      ret(rec, load<u32>(rec, VM_DEV) == 0 ? 1 : 0);
      return 0;
    case 83: // skb_ancestor_cgroup_id(skb, level): the root is level 0
      ret(rec, load<u32>(rec, VM_DEV) == 0 && arg(rec, 2) == 0 ? 1 : 0);
      return 0;
    case 33: { // skb_under_cgroup(skb, map, index): the socket first (-ENOENT without one), then the index (-E2BIG past the end), the slot (-EAGAIN empty)
      const m = arg(rec, 2);
      if (!knownMap(rec, m) || load<u32>(<usize>m, MAP_TYPE) != BPF_MAP_TYPE_CGROUP_ARRAY) return vmFault(rec, VM_FAULT_HELPER, pc);
      const idx = <u32>arg(rec, 3);
      let r: i64 = 1;
      if (load<u32>(rec, VM_DEV) != 0) r = ENOENT;
      else if (idx >= load<u32>(<usize>m, MAP_MAX_ENTRIES)) r = E2BIG;
      // (nkemu's one cgroup is the root, and the dummy socket is in it: under it, 1)
      else if (atomic.load<u32>(<usize>load<u32>(<usize>m, MAP_VALUES) + <usize>(idx * load<u32>(<usize>m, MAP_STRIDE))) == 0) r = EAGAIN;
      ret(rec, <u64>r);
      return 0;
    }
    case 68: { // skb_load_bytes_relative(skb, off, to, len, start_header)
      const len = <u64><u32>arg(rec, 4);
      const to = vmCheck(rec, arg(rec, 3), <u32>len, true);
      if (len == 0 || to == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
      const off = <u64><u32>arg(rec, 2);
      const start = <u32>arg(rec, 5);
      // (BPF_HDR_START_MAC: the frame's first byte; BPF_HDR_START_NET: past the Ethernet
      // header, where eth_type_trans leaves the network header)
      const from: usize = off > 0xffff || start > 1 ? 0 : pktRange(rec, off + (start == 1 ? 14 : 0), len);
      if (from == 0) { memory.fill(to, 0, <usize>len); ret(rec, <u64>EFAULT); return 0; }
      memory.copy(to, from, <usize>len);
      ret(rec, 0);
      return 0;
    }
    case 188: // xdp_get_buff_len: the linear part (nkemu's XDP programs see no fragments)
      ret(rec, <u64>load<u32>(rec, VM_PKT_LEN));
      return 0;
    case 189: case 190: { // xdp_load_bytes / xdp_store_bytes(xdp, off, buf, len)
      const len = <u64><u32>arg(rec, 4);
      const buf = vmCheck(rec, arg(rec, 3), <u32>len, id == 189);
      if (len == 0 || buf == 0) return vmFault(rec, id == 189 ? VM_FAULT_WRITE : VM_FAULT_READ, pc);
      const off = <u64><u32>arg(rec, 2);
      // (bpf_xdp_pointer: past 0xffff EFAULT, past the buffer EINVAL; the buffer untouched)
      if (off > 0xffff || len > 0xffff) { ret(rec, <u64>EFAULT); return 0; }
      const p = pktRange(rec, off, len);
      if (p == 0) { ret(rec, <u64>EINVAL); return 0; }
      if (id == 189) memory.copy(buf, p, <usize>len); else memory.copy(p, buf, <usize>len);
      ret(rec, 0);
      return 0;
    }
    case 7: { // get_prandom_u32: xorshift64*, seeded per run context
      let x = load<u64>(rec, VM_PRNG);
      if (x == 0) x = 0x9e3779b97f4a7c15;
      x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
      store<u64>(rec, x, VM_PRNG);
      ret(rec, <u64>(<u32>((x * 0x2545f4914f6cdd1d) >> 32)));
      return 0;
    }
    case 8: // get_smp_processor_id: the dataplane thread
      ret(rec, <u64>load<u32>(rec, VM_THREAD));
      return 0;
    case 26: { // skb_load_bytes(skb, off, to, len)
      const len = arg(rec, 4);
      const to = vmCheck(rec, arg(rec, 3), <u32>len, true);
      if (len == 0 || len > 0xffff || to == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
      const from = pktRange(rec, arg(rec, 2), len);
      if (from == 0) { memory.fill(to, 0, <usize>len); ret(rec, <u64>EFAULT); return 0; }
      memory.copy(to, from, <usize>len);
      ret(rec, 0);
      return 0;
    }
    case 9: { // skb_store_bytes(skb, off, from, len, flags)
      const len = arg(rec, 4);
      const from = vmCheck(rec, arg(rec, 3), <u32>len, false);
      if (len == 0 || len > 0xffff || from == 0) return vmFault(rec, VM_FAULT_READ, pc);
      if ((arg(rec, 5) & ~<u64>3) != 0) { ret(rec, <u64>EINVAL); return 0; }
      const to = pktRange(rec, arg(rec, 2), len);
      if (to == 0) { ret(rec, <u64>EFAULT); return 0; }
      memory.copy(to, from, <usize>len);
      ret(rec, 0);
      return 0;
    }
    case 97: { // skb_ecn_set_ce(skb): INET_ECN_set_ce on the network header (its protocol past any VLAN tags)
      const data = <usize>load<u32>(rec, VM_PKT);
      const len = load<u32>(rec, VM_PKT_LEN);
      // skb_protocol(skb, true): the EtherType after the frame's VLAN tags (vlan_get_protocol; 0 past 8 or cut short)
      let proto = skbProtocol(rec);
      let at: u32 = 14;
      for (let depth = 0; isVlanProto(proto); depth++) {
        if (depth == 8 || at + 4 > len) { proto = 0; break; }
        proto = <u32>load<u16>(data + at + 2);
        at += 4;
      }
      // the network header: after the MAC header (a VLAN tag in the frame is not skipped)
      const nh: u32 = 14 + load<u32>(rec, VM_HEAD_PUSHED);
      let r: u64 = 0;
      if (proto == 0x0008 && nh + 20 <= len) {
        const iph = data + nh;
        const ecn = (<u32>load<u8>(iph + 1) + 1) & 3; // NOT_ECT 01, ECT(1) 10, ECT(0) 11, CE 00
        if ((ecn & 2) == 0) r = ecn == 0 ? 1 : 0;
        else {
          // the header checksum takes the TOS change: += htons(0xFFFB) + htons(ecn), one's complement
          const add = (<u32>bswap<u16>(<u16>0xfffb) + <u32>bswap<u16>(<u16>ecn)) & 0xffff;
          let sum = <u32>load<u16>(iph + 10) + add;
          sum = (sum & 0xffff) + (sum >> 16);
          store<u16>(iph + 10, <u16>sum);
          store<u8>(iph + 1, load<u8>(iph + 1) | 3);
          r = 1;
        }
      } else if (proto == 0xdd86 && nh + 40 <= len) {
        const ip6 = data + nh;
        const dsfield = <u32>bswap<u16>(load<u16>(ip6)) >> 4 & 0xff;
        if ((dsfield & 3) != 0) { // not NOT_ECT: CE set in the traffic class
          store<u8>(ip6 + 1, load<u8>(ip6 + 1) | 0x30);
          r = 1;
        }
      }
      ret(rec, r);
      return 0;
    }
    case 10: // l3_csum_replace(skb, off, from, to, flags)
      ret(rec, <u64>csumField(rec, 0xf));
      return 0;
    case 11: // l4_csum_replace(skb, off, from, to, flags): also BPF_F_PSEUDO_HDR, MARK_MANGLED_0, MARK_ENFORCE
      ret(rec, <u64>csumField(rec, 0x7f));
      return 0;
    case 28: { // csum_diff(from, from_size, to, to_size, seed)
      // (u32 arguments, as the kernel's prototype takes them)
      const fromSize = <u32>arg(rec, 2);
      const toSize = <u32>arg(rec, 4);
      if (((fromSize | toSize) & 3) != 0) { ret(rec, <u64>EINVAL); return 0; }
      const from: usize = fromSize != 0 ? vmCheck(rec, arg(rec, 1), fromSize, false) : 1;
      const to: usize = toSize != 0 ? vmCheck(rec, arg(rec, 3), toSize, false) : 1;
      if (from == 0 || to == 0) return vmFault(rec, VM_FAULT_READ, pc);
      // net/core/filter.c (since 6.12): csum_partial of each side, folded to 16 bits.
      const seed = <u32>arg(rec, 5);
      let r: u32;
      if (fromSize != 0 && toSize != 0) r = from32to16(add32c(csumPartial(to, toSize, seed), ~csumPartial(from, fromSize, 0)));
      else if (toSize != 0) r = from32to16(csumPartial(to, toSize, seed));
      else if (fromSize != 0) r = from32to16(~csumPartial(from, fromSize, ~seed));
      else r = seed;
      ret(rec, <u64>r);
      return 0;
    }
    case 23: { // redirect(ifindex, flags)
      const flags = arg(rec, 2);
      if (load<u32>(rec, VM_PKT_META) != 0) {
        // XDP (data_meta is set only there): bpf_xdp_redirect takes no flags, and answers XDP_REDIRECT.
        if (flags != 0) { ret(rec, XDP_ABORTED); return 0; }
        store<u32>(rec, <u32>arg(rec, 1), VM_REDIRECT_IFINDEX);
        store<u32>(rec, VM_REDIRECT_SET, VM_REDIRECT_FLAGS);
        ret(rec, XDP_REDIRECT);
        return 0;
      }
      if ((flags & ~<u64>VM_F_INGRESS) != 0) { ret(rec, TC_ACT_SHOT); return 0; }
      store<u32>(rec, <u32>arg(rec, 1), VM_REDIRECT_IFINDEX);
      store<u32>(rec, VM_REDIRECT_SET | <u32>flags, VM_REDIRECT_FLAGS);
      ret(rec, TC_ACT_REDIRECT);
      return 0;
    }
    case 155: { // redirect_peer(ifindex, flags)
      if (arg(rec, 2) != 0) { ret(rec, TC_ACT_SHOT); return 0; }
      store<u32>(rec, <u32>arg(rec, 1), VM_REDIRECT_IFINDEX);
      store<u32>(rec, VM_REDIRECT_SET | VM_REDIRECT_PEER, VM_REDIRECT_FLAGS);
      ret(rec, TC_ACT_REDIRECT);
      return 0;
    }
    case 20: case 21: { // skb_get_tunnel_key(skb, key, size, flags), skb_set_tunnel_key(skb, key, size, flags)
      const size = arg(rec, 3);
      const key: usize = size == 0 || size > 0xffff ? 0 : vmCheck(rec, arg(rec, 2), <u32>size, id == 20);
      if (key == 0) return vmFault(rec, id == 20 ? VM_FAULT_WRITE : VM_FAULT_READ, pc);
      ret(rec, <u64>(id == 20 ? tunnelGet(rec, key, <u32>size, arg(rec, 4)) : tunnelSet(rec, key, <u32>size, arg(rec, 4))));
      return 0;
    }
    case 29: case 30: { // skb_get_tunnel_opt(skb, to, size), skb_set_tunnel_opt(skb, from, size)
      const size = arg(rec, 3);
      const p: usize = size == 0 || size > 0xffff ? 0 : vmCheck(rec, arg(rec, 2), <u32>size, id == 29);
      if (p == 0) return vmFault(rec, id == 29 ? VM_FAULT_WRITE : VM_FAULT_READ, pc);
      ret(rec, <u64>(id == 29 ? tunnelGetOpt(rec, p, <u32>size) : tunnelSetOpt(rec, p, <u32>size)));
      return 0;
    }
    case 69: { // fib_lookup(ctx, params, plen, flags)
      const plen = arg(rec, 3);
      const params: usize = plen == 0 || plen > 0xffff ? 0 : vmCheck(rec, arg(rec, 2), <u32>plen, true);
      if (params == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
      ret(rec, <u64>fibLookup(rec, params, <u32>plen, <u32>arg(rec, 4)));
      return 0;
    }
    case 34: { // get_hash_recalc: the flow dissector's hash, now skb->hash
      const h = flowHash(<usize>load<u32>(rec, VM_PKT), load<u32>(rec, VM_PKT_LEN));
      const meta = <usize>load<u32>(rec, VM_META);
      const ctx = <usize>load<u32>(rec, VM_CTX);
      if (meta != 0) store<u32>(meta, h, FM_HASH);
      if (ctx != 0) store<u32>(ctx, h, SKB_HASH);
      ret(rec, <u64>h);
      return 0;
    }
  }
  // dynptr_read/_write and the dynptr kfuncs (dynptr.ts)
  return isDynptrCall(id) ? dynptrCall(rec, id, pc) : vmFault(rec, VM_FAULT_HELPER, pc);
}

/**
 * bpf_cast_to_kern_ctx on a tc context: the kernel's view of the packet's sk_buff (abi
 * KV_*), built in the run record from the __sk_buff as it is now (the program's writes
 * included) and the device the packet is on; readable for the rest of the run. NULL for
 * other contexts (XDP's xdp_buff is not modelled).
 */
function castToKernCtx(rec: usize): u64 {
  const ctx = <usize>load<u32>(rec, VM_REGIONS);
  if (load<u32>(rec, VM_REGIONS + 4) - <u32>ctx != SKB_CTX_SIZE) return 0;
  const kv = rec + VM_KVIEW_AREA;
  for (let o: u32 = 0; o < VM_KVIEW_SIZE; o += 8) store<u64>(kv + o, 0);
  store<u32>(kv, load<u32>(ctx, SKB_MARK), KV_SKB_MARK);
  store<u32>(kv, load<u32>(ctx, SKB_PRIORITY), KV_SKB_PRIORITY);
  store<u32>(kv, load<u32>(rec, VM_PKT_LEN), KV_SKB_LEN);
  const dev = <usize>load<u32>(rec, VM_DEV);
  if (dev != 0) {
    store<u64>(kv, <u64>(kv + KV_DEV), KV_SKB_DEV);
    store<u16>(kv, load<u16>(dev, D_HEADROOM), KV_DEV_HEADROOM);
    store<u16>(kv, load<u16>(dev, D_TAILROOM), KV_DEV_TAILROOM);
    store<u32>(kv, load<u32>(dev, D_IFINDEX), KV_DEV_IFINDEX);
    store<u32>(kv, load<u32>(dev, D_MTU), KV_DEV_MTU);
  }
  store<u32>(rec, <u32>kv, VM_KVIEW);
  return <u64>kv;
}
