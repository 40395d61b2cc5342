// bpf_fib_lookup (net/core/filter.c: bpf_skb_fib_lookup, bpf_xdp_fib_lookup and the
// bpf_ipv4_fib_lookup / bpf_ipv6_fib_lookup they call) against the tables of the run's
// namespace (VM_NETNS) that src/net/fib.ts publishes (abi FIB_*): the local and main
// tables (longest prefix, lowest metric, the nexthop device when the lookup is from the
// egress side), the neighbour of the nexthop, the egress device's MAC and MTU; for IPv6
// also the source address ipv6_dev_get_saddr would choose.

import {
  GLOBALS, G_DEV_TABLE, G_FIB_DIR, G_CLOCK_NS, FIB_DIR_COUNT, FIB_DIR_ENTRIES, FIB_DIR_ENTRY, FIB_FLAGS, FIB_NDEVS, FIB_NROUTES,
  FIB_NLOCAL, FIB_NNEIGH, FIB_HDR, FIB_FORWARDING, FD_IFINDEX, FD_SLOT, FD_FLAGS, FD_FORWARDING6, FD_SIZE, FR_DST, FR_MASK, FR_IFINDEX, FR_GW,
  FR_PREFSRC, FR_METRIC, FR_TYPE, FR_SIZE, FL_DST, FL_MASK, FL_IFINDEX, FL_SIZE, FN_IFINDEX, FN_ADDR, FN_LLADDR, FN_SIZE,
  FIB_NROUTES6, FIB_NLOCAL6, FIB_NNEIGH6, FIB_NADDR6, FR6_DST, FR6_MASK, FR6_GW, FR6_IFINDEX, FR6_METRIC,
  FR6_TYPE, FR6_SIZE, FL6_ADDR, FL6_TYPE, FL6_FROM, FL6_SIZE, FN6_ADDR, FN6_IFINDEX, FN6_LLADDR, FN6_SIZE, FA6_ADDR, FA6_IFINDEX,
  FA6_SCOPE, FA6_PLEN, FA6_FROM, FA6_SIZE, RTN_UNICAST, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT, D_IFINDEX, D_NETNS, D_FLAGS, D_MTU, D_MAC, IFF_UP,
  IFF_LOOPBACK, IFF_POINTOPOINT, ETH_HLEN,
} from "../abi/layout";
import { VM_NETNS, VM_PKT_META, VM_PKT_LEN } from "../abi/vm";
import { EAFNOSUPPORT, EINVAL, ENODEV } from "./errno";


// BPF_FIB_LOOKUP_* flags.
const F_DIRECT: u32 = 1;
const F_OUTPUT: u32 = 2;
const F_SKIP_NEIGH: u32 = 4;
const F_TBID: u32 = 8;
const F_SRC: u32 = 16;
const F_MARK: u32 = 32;
const F_ALL: u32 = F_DIRECT | F_OUTPUT | F_SKIP_NEIGH | F_TBID | F_SRC | F_MARK;

// BPF_FIB_LKUP_RET_*.
const RET_SUCCESS: i64 = 0;
const RET_BLACKHOLE: i64 = 1;
const RET_UNREACHABLE: i64 = 2;
const RET_PROHIBIT: i64 = 3;
const RET_NOT_FWDED: i64 = 4;
const RET_FWD_DISABLED: i64 = 5;
const RET_NO_NEIGH: i64 = 7;
const RET_FRAG_NEEDED: i64 = 8;
const RET_NO_SRC_ADDR: i64 = 9;

// struct bpf_fib_lookup (uapi), 64 bytes.
const P_SIZE: u32 = 64;
const P_FAMILY: u32 = 0;
const P_TOT_LEN: u32 = 6; // in: tot_len; out: mtu_result
const P_IFINDEX: u32 = 8;
const P_METRIC: u32 = 12; // in: tos / flowinfo; out: rt_metric
const P_SRC: u32 = 16;
const P_DST: u32 = 32;
const P_TBID: u32 = 48; // in: tbid; out: h_vlan_proto, h_vlan_TCI
const P_SMAC: u32 = 52; // in (with F_MARK): mark; out: smac, dmac
const P_DMAC: u32 = 58;

const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const RT_TABLE_MAIN: u32 = 254;
const RT_TABLE_LOCAL: u32 = 255;
/** IP_MAX_MTU: the most ip_mtu_from_fib_result answers. */
const IP_MAX_MTU: u32 = 0xffff;
const VLAN_HLEN: u32 = 4;
/** IPV6_MIN_MTU and IP6_MAX_MTU: the bounds of ip6_mtu_from_fib6's answer. */
const IPV6_MIN_MTU: u32 = 1280;
const IP6_MAX_MTU: u32 = 0xffff + 40;
/** The scope ranks of addr6.ts's scopeRank6 (the kernel's IPV6_ADDR_SCOPE_*): global, link. */
const SCOPE_GLOBAL: u32 = 0xe;

/** The FIB record of namespace `netns` (0 when it has none). */
function fibOf(netns: u32): usize {
  const dir = <usize>atomic.load<u32>(GLOBALS + G_FIB_DIR);
  if (dir == 0) return 0;
  const n = load<u32>(dir, FIB_DIR_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    const e = dir + FIB_DIR_ENTRIES + <usize>(i * FIB_DIR_ENTRY);
    if (load<u32>(e) == netns) return <usize>load<u32>(e, 4);
  }
  return 0;
}

/** dev_get_by_index_rcu: the device record of `ifindex` in the namespace, 0 when there is none. */
function fibDevice(fib: usize, netns: u32, ifindex: u32): usize {
  if (fib == 0) return 0;
  const n = load<u32>(fib, FIB_NDEVS);
  const table = <usize>load<u32>(GLOBALS, G_DEV_TABLE);
  for (let i: u32 = 0; i < n; i++) {
    const e = fib + FIB_HDR + <usize>(i * FD_SIZE);
    if (load<u32>(e, FD_IFINDEX) != ifindex) continue;
    const dev = <usize>atomic.load<u32>(table + (<usize>load<u32>(e, FD_SLOT) << 2));
    // (unregistered, or moved to another namespace, since the table was built)
    if (dev == 0 || load<u32>(dev, D_IFINDEX) != ifindex || load<u32>(dev, D_NETNS) != netns) return 0;
    return dev;
  }
  return 0;
}

/** The device's own switches (FD_FLAGS) as the table lists them (0 for a device it does not list). */
function fibDeviceFlags(fib: usize, ifindex: u32): u32 {
  const n = load<u32>(fib, FIB_NDEVS);
  for (let i: u32 = 0; i < n; i++) {
    const e = fib + FIB_HDR + <usize>(i * FD_SIZE);
    if (load<u32>(e, FD_IFINDEX) == ifindex) return load<u32>(e, FD_FLAGS);
  }
  return 0;
}

/** dev_get_by_index_rcu in namespace `netns`: the device record, 0 when there is none. */
export function deviceByIndex(netns: u32, ifindex: u32): usize {
  return fibDevice(fibOf(netns), netns, ifindex);
}

@inline function routes(fib: usize): usize {
  return fib + FIB_HDR + <usize>(load<u32>(fib, FIB_NDEVS) * FD_SIZE);
}

@inline function locals(fib: usize): usize {
  return routes(fib) + <usize>(load<u32>(fib, FIB_NROUTES) * FR_SIZE);
}

@inline function neighbours(fib: usize): usize {
  return locals(fib) + <usize>(load<u32>(fib, FIB_NLOCAL) * FL_SIZE);
}

/**
 * The local table's longest entry covering `dst` through `oif` (when set), as a prefix
 * length; -1 when none does.
 */
function localMatch(fib: usize, dst: u32, oif: u32): i32 {
  const at = locals(fib);
  const n = load<u32>(fib, FIB_NLOCAL);
  let best: i32 = -1;
  for (let i: u32 = 0; i < n; i++) {
    const e = at + <usize>(i * FL_SIZE);
    const mask = load<u32>(e, FL_MASK);
    if ((dst & mask) == load<u32>(e, FL_DST) && (oif == 0 || load<u32>(e, FL_IFINDEX) == oif)) {
      const len = <i32>popcnt(mask);
      if (len > best) best = len;
    }
  }
  return best;
}

/**
 * fib_table_lookup on the main table: the first route (longest prefix, then metric)
 * covering `dst` through `oif` (when set; a blackhole, unreachable or prohibit route
 * answers before any nexthop is looked at).
 */
function mainLookup(fib: usize, dst: u32, oif: u32): usize {
  const at = routes(fib);
  const n = load<u32>(fib, FIB_NROUTES);
  for (let i: u32 = 0; i < n; i++) {
    const r = at + <usize>(i * FR_SIZE);
    if ((dst & load<u32>(r, FR_MASK)) != load<u32>(r, FR_DST)) continue;
    if (oif == 0 || load<u32>(r, FR_IFINDEX) == oif || load<u32>(r, FR_TYPE) != RTN_UNICAST) return r;
  }
  return 0;
}

/** __ipv4_neigh_lookup_noref and NUD_VALID: the neighbour entry of `addr` on `ifindex`, 0 when none is usable. */
function neighbour(fib: usize, ifindex: u32, addr: u32): usize {
  const at = neighbours(fib);
  const n = load<u32>(fib, FIB_NNEIGH);
  for (let i: u32 = 0; i < n; i++) {
    const e = at + <usize>(i * FN_SIZE);
    if (load<u32>(e, FN_ADDR) == addr && load<u32>(e, FN_IFINDEX) == ifindex) return e;
  }
  return 0;
}

@inline function copyMac(to: usize, from: usize): void {
  store<u32>(to, load<u32>(from));
  store<u16>(to, load<u16>(from, 4), 4);
}

/** bpf_ipv4_fib_lookup. */
function ipv4(fib: usize, netns: u32, p: usize, flags: u32, checkMtu: bool): i64 {
  const ifindex = load<u32>(p, P_IFINDEX);
  if (fibDevice(fib, netns, ifindex) == 0) return ENODEV;
  // IN_DEV_FORWARD of the device: nkemu's forwarding switch is the namespace's (ip_forward
  // and conf.all.forwarding, which the kernel copies to every device)
  if ((load<u32>(fib, FIB_FLAGS) & FIB_FORWARDING) == 0) return RET_FWD_DISABLED;
  const dst = load<u32>(p, P_DST);
  // from the egress side the nexthop must go out of ifindex (flowi4_oif); from the ingress side any
  const oif = (flags & F_OUTPUT) != 0 ? ifindex : 0;
  if ((flags & F_DIRECT) != 0 && (flags & F_TBID) != 0) {
    // straight to the table tbid names, no rules: nkemu's namespaces have no rules of their
    // own, so the kernel keeps main and local merged in one trie that both ids name;
    // other ids name no table
    const tbid = load<u32>(p, P_TBID);
    store<u32>(p, 0, P_TBID);
    if (tbid != RT_TABLE_MAIN && tbid != RT_TABLE_LOCAL) return RET_NOT_FWDED;
  }
  // One longest-prefix match over the local and main entries (the merged trie: what the
  // default rules' lookups and a direct one all find); a local or broadcast one is not forwarded.
  const r = mainLookup(fib, dst, oif);
  const local = localMatch(fib, dst, oif);
  if (local >= 0 && (r == 0 || local >= <i32>popcnt(load<u32>(r, FR_MASK)))) return RET_NOT_FWDED;
  if (r == 0) return RET_NOT_FWDED; // -ENETUNREACH
  const type = load<u32>(r, FR_TYPE);
  if (type == RTN_BLACKHOLE) return RET_BLACKHOLE;
  if (type == RTN_UNREACHABLE) return RET_UNREACHABLE;
  if (type == RTN_PROHIBIT) return RET_PROHIBIT;
  if (type != RTN_UNICAST) return RET_NOT_FWDED;
  const nhIfindex = load<u32>(r, FR_IFINDEX);
  const dev = fibDevice(fib, netns, nhIfindex);
  if (dev == 0) return RET_NOT_FWDED; // (routes go with their device; a table being rebuilt)
  let mtu: u32 = 0;
  if (checkMtu) {
    // ip_mtu_from_fib_result: the device's (nkemu's routes carry no mtu metric, its nexthops no exceptions)
    mtu = load<u32>(dev, D_MTU);
    if (mtu > IP_MAX_MTU) mtu = IP_MAX_MTU;
    if (<u32>load<u16>(p, P_TOT_LEN) > mtu) {
      store<u16>(p, <u16>mtu, P_TOT_LEN);
      return RET_FRAG_NEEDED;
    }
  }
  store<u32>(p, load<u32>(r, FR_METRIC), P_METRIC);
  store<u32>(p, nhIfindex, P_IFINDEX);
  if ((flags & F_SRC) != 0) store<u32>(p, load<u32>(r, FR_PREFSRC), P_SRC);
  const gw = load<u32>(r, FR_GW);
  if (gw != 0) store<u32>(p, gw, P_DST);
  if ((flags & F_SKIP_NEIGH) == 0) {
    // loopback and point-to-point devices keep one neighbour, for 0.0.0.0
    const key = (load<u32>(dev, D_FLAGS) & (IFF_LOOPBACK | IFF_POINTOPOINT)) != 0 ? 0 : load<u32>(p, P_DST);
    const n = neighbour(fib, nhIfindex, key);
    if (n == 0) return RET_NO_NEIGH;
    copyMac(p + P_DMAC, n + FN_LLADDR);
    copyMac(p + P_SMAC, dev + D_MAC);
  }
  // bpf_fib_set_fwd_params: no VLAN; the MTU when it was checked
  store<u32>(p, 0, P_TBID);
  if (mtu != 0) store<u16>(p, <u16>mtu, P_TOT_LEN);
  return RET_SUCCESS;
}

/** rt6_need_strict: multicast, link-local or loopback (never forwarded). */
function strict6(a: usize): bool {
  const b0 = load<u8>(a);
  if (b0 == 0xff) return true;
  if (b0 == 0xfe && (load<u8>(a, 1) & 0xc0) == 0x80) return true;
  return load<u64>(a) == 0 && load<u32>(a, 8) == 0 && load<u32>(a, 12) == bswap<u32>(1);
}

@inline function routes6(fib: usize): usize {
  return neighbours(fib) + <usize>(load<u32>(fib, FIB_NNEIGH) * FN_SIZE);
}

@inline function locals6(fib: usize): usize {
  return routes6(fib) + <usize>(load<u32>(fib, FIB_NROUTES6) * FR6_SIZE);
}

@inline function neighbours6(fib: usize): usize {
  return locals6(fib) + <usize>(load<u32>(fib, FIB_NLOCAL6) * FL6_SIZE);
}

@inline function addresses6(fib: usize): usize {
  return neighbours6(fib) + <usize>(load<u32>(fib, FIB_NNEIGH6) * FN6_SIZE);
}

@inline function same6(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}

/** The local table's entry for `dst` (all are /128, once their DAD is over): its type, 0 when there is none (fib6_null_entry). */
function local6(fib: usize, dst: usize): u32 {
  const at = locals6(fib);
  const n = load<u32>(fib, FIB_NLOCAL6);
  const now = load<u64>(GLOBALS, G_CLOCK_NS);
  for (let i: u32 = 0; i < n; i++) {
    const e = at + <usize>(i * FL6_SIZE);
    if (same6(e + FL6_ADDR, dst) && load<u64>(e, FL6_FROM) <= now) return load<u32>(e, FL6_TYPE);
  }
  return 0;
}

/**
 * fib6_table_lookup on the main table: the first route (longest prefix, then metric)
 * covering `dst`. The oif (the ingress device, or the egress one with OUTPUT) only ranks
 * routes of one prefix and metric (rt6_score_route without RT6_LOOKUP_F_IFACE, which bpf
 * never sets), which nkemu's table never holds two of.
 */
function mainLookup6(fib: usize, dst: usize): usize {
  const at = routes6(fib);
  const n = load<u32>(fib, FIB_NROUTES6);
  const d0 = load<u64>(dst);
  const d1 = load<u64>(dst, 8);
  for (let i: u32 = 0; i < n; i++) {
    const r = at + <usize>(i * FR6_SIZE);
    if ((d0 & load<u64>(r, FR6_MASK)) == load<u64>(r, FR6_DST) && (d1 & load<u64>(r, FR6_MASK + 8)) == load<u64>(r, FR6_DST + 8)) return r;
  }
  return 0;
}

/** __ipv6_neigh_lookup_noref and NUD_VALID: the neighbour entry of `addr` on `ifindex`, 0 when none is usable. */
function neighbour6(fib: usize, ifindex: u32, addr: usize): usize {
  const at = neighbours6(fib);
  const n = load<u32>(fib, FIB_NNEIGH6);
  for (let i: u32 = 0; i < n; i++) {
    const e = at + <usize>(i * FN6_SIZE);
    if (load<u32>(e, FN6_IFINDEX) == ifindex && same6(e + FN6_ADDR, addr)) return e;
  }
  return 0;
}

/** How many leading bits two addresses share. */
function commonBits6(a: usize, b: usize): u32 {
  const x0 = bswap<u64>(load<u64>(a)) ^ bswap<u64>(load<u64>(b));
  if (x0 != 0) return <u32>clz(x0);
  return 64 + <u32>clz(bswap<u64>(load<u64>(a, 8)) ^ bswap<u64>(load<u64>(b, 8)));
}

/**
 * ipv6_dev_get_saddr as nkemu's stack chooses (src/net/stack/addrconf.ts selectSource, the
 * same rules in the same order) for a global destination (the only kind a lookup gets this
 * far with): the destination itself; then an address of global scope; then one on the
 * outgoing device; then the longest common prefix, no longer than the address's own prefix;
 * the first in the stack's order on a tie.
 * The chosen address (0 when there is none, -EADDRNOTAVAIL).
 */
function source6(fib: usize, dst: usize, oif: u32): usize {
  const at = addresses6(fib);
  const n = load<u32>(fib, FIB_NADDR6);
  const now = load<u64>(GLOBALS, G_CLOCK_NS);
  let best: usize = 0;
  let bestKey: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const a = at + <usize>(i * FA6_SIZE);
    if (load<u64>(a, FA6_FROM) > now) continue; // (tentative: never chosen)
    const r = load<u32>(a, FA6_SCOPE);
    // the four rules as one number, the first rule in the highest bits
    const key: u64 = (<u64>(same6(a + FA6_ADDR, dst) ? 0 : 1) << 32)
      | (<u64>(r >= SCOPE_GLOBAL ? r - SCOPE_GLOBAL : 0x100 - r) << 16)
      | (<u64>(load<u32>(a, FA6_IFINDEX) == oif ? 0 : 1) << 8)
      | <u64>(128 - min(commonBits6(a + FA6_ADDR, dst), load<u32>(a, FA6_PLEN)));
    if (best == 0 || key < bestKey) {
      best = a + FA6_ADDR;
      bestKey = key;
    }
  }
  return best;
}

@inline function copy6(to: usize, from: usize): void {
  store<u64>(to, load<u64>(from));
  store<u64>(to, load<u64>(from, 8), 8);
}

/** bpf_ipv6_fib_lookup. */
function ipv6(fib: usize, netns: u32, p: usize, flags: u32, checkMtu: bool): i64 {
  // link-local, multicast and loopback addresses are never forwarded
  if (strict6(p + P_DST) || strict6(p + P_SRC)) return RET_NOT_FWDED;
  const ifindex = load<u32>(p, P_IFINDEX);
  if (fibDevice(fib, netns, ifindex) == 0) return ENODEV;
  // idev->cnf.forwarding (net.ipv6.conf.DEV.forwarding), with OUTPUT or without
  if ((fibDeviceFlags(fib, ifindex) & FD_FORWARDING6) == 0) return RET_FWD_DISABLED;
  let local = true;
  let main = true;
  if ((flags & F_DIRECT) != 0) {
    // one table, no rules: main unless TBID names another (fib6_get_table: 0 is main;
    // nkemu's namespaces have no tables but local and main)
    local = false;
    if ((flags & F_TBID) != 0) {
      const tbid = load<u32>(p, P_TBID);
      store<u32>(p, 0, P_TBID);
      if (tbid == RT_TABLE_LOCAL) {
        local = true;
        main = false;
      } else if (tbid != RT_TABLE_MAIN && tbid != 0) return RET_NOT_FWDED;
    }
  }
  // fib6_lookup without rules of the namespace's own: the local table, then the main one
  // (a local or anycast address is not forwarded)
  if (local && local6(fib, p + P_DST) != 0) return RET_NOT_FWDED;
  const r = main ? mainLookup6(fib, p + P_DST) : 0;
  if (r == 0) return RET_NOT_FWDED; // fib6_null_entry
  const type = load<u32>(r, FR6_TYPE);
  if (type == RTN_BLACKHOLE) return RET_BLACKHOLE;
  if (type == RTN_UNREACHABLE) return RET_UNREACHABLE;
  if (type == RTN_PROHIBIT) return RET_PROHIBIT;
  if (type != RTN_UNICAST) return RET_NOT_FWDED;
  const nhIfindex = load<u32>(r, FR6_IFINDEX);
  const dev = fibDevice(fib, netns, nhIfindex);
  if (dev == 0) return RET_NOT_FWDED; // (routes go with their device; a table being rebuilt)
  let mtu: u32 = 0;
  if (checkMtu) {
    // ip6_mtu_from_fib6: the device's (idev->cnf.mtu6), at least IPV6_MIN_MTU (nkemu's
    // routes carry no mtu metric, its nexthops no exceptions)
    mtu = load<u32>(dev, D_MTU);
    if (mtu < IPV6_MIN_MTU) mtu = IPV6_MIN_MTU;
    if (mtu > IP6_MAX_MTU) mtu = IP6_MAX_MTU;
    if (<u32>load<u16>(p, P_TOT_LEN) > mtu) {
      store<u16>(p, <u16>mtu, P_TOT_LEN);
      return RET_FRAG_NEEDED;
    }
  }
  // (nkemu's IPv6 routes have no preferred source: ipv6_dev_get_saddr for fl6.daddr, the
  // destination as asked, chosen before the gateway takes its place)
  const src = (flags & F_SRC) != 0 ? source6(fib, p + P_DST, nhIfindex) : 0;
  const gw = r + FR6_GW;
  if (load<u64>(gw) != 0 || load<u64>(gw, 8) != 0) copy6(p + P_DST, gw);
  store<u32>(p, load<u32>(r, FR6_METRIC), P_METRIC);
  store<u32>(p, nhIfindex, P_IFINDEX);
  if ((flags & F_SRC) != 0) {
    if (src == 0) return RET_NO_SRC_ADDR;
    copy6(p + P_SRC, src);
  }
  if ((flags & F_SKIP_NEIGH) == 0) {
    const n = neighbour6(fib, nhIfindex, p + P_DST);
    if (n == 0) return RET_NO_NEIGH;
    copyMac(p + P_DMAC, n + FN6_LLADDR);
    copyMac(p + P_SMAC, dev + D_MAC);
  }
  // bpf_fib_set_fwd_params: no VLAN; the MTU when it was checked
  store<u32>(p, 0, P_TBID);
  if (mtu != 0) store<u16>(p, <u16>mtu, P_TOT_LEN);
  return RET_SUCCESS;
}

/**
 * bpf_fib_lookup(ctx, params, plen, flags) on the run's packet: XDP (the record's data_meta
 * is set) always checks the MTU against tot_len; tc only when tot_len is set, and
 * otherwise checks the packet against the egress device (is_skb_forwardable) and reports
 * that device's MTU.
 */
export function fibLookup(rec: usize, p: usize, plen: u32, flags: u32): i64 {
  if (plen < P_SIZE || (flags & ~F_ALL) != 0) return EINVAL;
  const xdp = load<u32>(rec, VM_PKT_META) != 0;
  const netns = load<u32>(rec, VM_NETNS);
  const fib = fibOf(netns);
  const checkMtu = xdp || load<u16>(p, P_TOT_LEN) != 0;
  const family = <u32>load<u8>(p, P_FAMILY);
  let rc: i64;
  if (family == AF_INET) rc = ipv4(fib, netns, p, flags, checkMtu);
  else if (family == AF_INET6) rc = ipv6(fib, netns, p, flags, checkMtu);
  else return EAFNOSUPPORT;
  if (rc == RET_SUCCESS && !checkMtu) {
    const dev = fibDevice(fib, netns, load<u32>(p, P_IFINDEX));
    const mtu = load<u32>(dev, D_MTU);
    // is_skb_forwardable: up, and no longer than the MTU with an Ethernet and a VLAN header
    if ((load<u32>(dev, D_FLAGS) & IFF_UP) == 0 || <u64>load<u32>(rec, VM_PKT_LEN) > <u64>mtu + ETH_HLEN + VLAN_HLEN) rc = RET_FRAG_NEEDED;
    store<u16>(p, <u16>mtu, P_TOT_LEN);
  }
  return rc;
}
