// bpf_skb_set_tunnel_key / bpf_skb_get_tunnel_key (net/core/filter.c): the collect_md
// tunnel metadata an skb carries in its metadata_dst, here the run record's VM_TUNNEL
// area (abi TK_*). nkemu has no tunnel devices: the metadata lives for the packet's
// program list (where the kernel's skb keeps its dst until netkit scrubs it or a
// collect_md device consumes it) and no device ever fills it on receive.

import { VM_TUNNEL_OPT_LEN, VM_TUNNEL_OPT_PRESENT, VM_TUNNEL_OPTS, TUNNEL_OPTS_MAX } from "../abi/vm";
import { VM_CSUM, VM_HEAD_PUSHED, VM_TUNNEL, TK_MODE, TK_ID, TK_TOS, TK_TTL, TK_FLAGS, TK_LABEL, TK_SRC, TK_DST, TK_SIZE, TK_MODE_TX, TK_MODE_IPV6 } from "../abi/vm";
import { EINVAL, ENOENT, ENOMEM, EPROTO } from "./errno";


// struct bpf_tunnel_key (uapi): 44 bytes; the older layouts it accepts end at these offsets.
const KEY_SIZE: u32 = 44;
const OFF_REMOTE: u32 = 4;
const OFF_TOS: u32 = 20;
const OFF_TTL: u32 = 21;
const OFF_EXT: u32 = 22;
const OFF_LABEL: u32 = 24;
const OFF_LOCAL: u32 = 28;
const END_REMOTE4: u32 = 8; // offsetof(remote_ipv6[1])

// Helper flags.
const F_TUNINFO_IPV6: u64 = 1;
const F_ZERO_CSUM_TX: u64 = 2;
const F_DONT_FRAGMENT: u64 = 4;
const F_SEQ_NUMBER: u64 = 8;
const F_NO_TUNNEL_KEY: u64 = 16;
const F_TUNINFO_FLAGS: u64 = 16;
const SET_FLAGS: u64 = F_TUNINFO_IPV6 | F_ZERO_CSUM_TX | F_DONT_FRAGMENT | F_SEQ_NUMBER | F_NO_TUNNEL_KEY;
const GET_FLAGS: u64 = F_TUNINFO_IPV6 | F_TUNINFO_FLAGS;

// IP_TUNNEL_*_BIT (include/net/ip_tunnels.h) as tunnel_flags reports them (bit n = 1 << n).
const TUNNEL_CSUM: u32 = 1 << 0;
const TUNNEL_KEY: u32 = 1 << 2;
const TUNNEL_SEQ: u32 = 1 << 3;
const TUNNEL_DONT_FRAGMENT: u32 = 1 << 8;
const TUNNEL_NOCACHE: u32 = 1 << 13;
const IPV6_FLOWLABEL_MASK: u32 = 0xfffff;
// ip_tunnel_set_options_present: GENEVE_OPT, VXLAN_OPT, ERSPAN_OPT, GTP_OPT (bits 11, 12,
// 14, 15, what tunnel_flags shows of them; PFCP_OPT, bit 17, is past its 16 bits).
const TUNNEL_OPTIONS_PRESENT: u32 = (1 << 11) | (1 << 12) | (1 << 14) | (1 << 15);

/** The sizes the kernel takes: the struct, and the three older layouts plus the IPv4-only 8 bytes. */
@inline function knownSize(size: u32): bool {
  return size == KEY_SIZE || size == OFF_LOCAL || size == OFF_LABEL || size == OFF_EXT || size == END_REMOTE4;
}

/**
 * No metadata on the packet (a new skb, or one whose dst went); and its checksum state
 * back to CHECKSUM_NONE (VM_CSUM: what bpf_csum_level reads, an skb nkemu's stacks hand
 * over has no checksum verified), its network header right after the MAC header.
 */
export function tunnelClear(rec: usize): void {
  store<u32>(rec + VM_TUNNEL, 0, TK_MODE);
  store<u32>(rec, 0, VM_CSUM);
  store<u32>(rec, 0, VM_HEAD_PUSHED);
}

/**
 * bpf_skb_set_tunnel_key(skb, from, size, flags): `from` (size bytes, an older layout read
 * as zero past its end) becomes the packet's TX tunnel metadata. -EINVAL for unknown
 * flags or sizes, a label on an IPv4 key, or tunnel_ext set.
 */
export function tunnelSet(rec: usize, from: usize, size: u32, flags: u64): i64 {
  if ((flags & ~SET_FLAGS) != 0 || !knownSize(size)) return EINVAL;
  const ipv6 = (flags & F_TUNINFO_IPV6) != 0;
  const label: u32 = size > OFF_LABEL ? load<u32>(from, OFF_LABEL) : 0;
  const ext: u32 = size > OFF_EXT ? <u32>load<u16>(from, OFF_EXT) : 0;
  if ((!ipv6 && label != 0) || ext != 0) return EINVAL;
  const t = rec + VM_TUNNEL;
  for (let o: u32 = 0; o < TK_SIZE; o += 8) store<u64>(t + o, 0);
  // (the whole ip_tunnel_info: no options either)
  store<u32>(rec, 0, VM_TUNNEL_OPT_LEN);
  store<u32>(rec, 0, VM_TUNNEL_OPT_PRESENT);
  store<u32>(t, TK_MODE_TX | (ipv6 ? TK_MODE_IPV6 : 0), TK_MODE);
  let bits = TUNNEL_NOCACHE;
  if ((flags & F_DONT_FRAGMENT) != 0) bits |= TUNNEL_DONT_FRAGMENT;
  if ((flags & F_ZERO_CSUM_TX) == 0) bits |= TUNNEL_CSUM;
  if ((flags & F_SEQ_NUMBER) != 0) bits |= TUNNEL_SEQ;
  if ((flags & F_NO_TUNNEL_KEY) == 0) bits |= TUNNEL_KEY;
  store<u16>(t, <u16>bits, TK_FLAGS);
  store<u32>(t, load<u32>(from), TK_ID);
  if (size > OFF_TOS) {
    store<u8>(t, load<u8>(from, OFF_TOS), TK_TOS);
    store<u8>(t, load<u8>(from, OFF_TTL), TK_TTL);
  }
  // remote is where the packet goes (dst), local where it comes from (src)
  const remoteLen: u32 = !ipv6 || size == END_REMOTE4 ? 4 : 16;
  for (let o: u32 = 0; o < remoteLen; o += 4) store<u32>(t + TK_DST + o, load<u32>(from + OFF_REMOTE + o));
  if (size == KEY_SIZE) {
    const localLen: u32 = ipv6 ? 16 : 4;
    for (let o: u32 = 0; o < localLen; o += 4) store<u32>(t + TK_SRC + o, load<u32>(from + OFF_LOCAL + o));
  }
  if (ipv6) store<u32>(t, label & IPV6_FLOWLABEL_MASK, TK_LABEL);
  return 0;
}

/**
 * bpf_skb_get_tunnel_key(skb, to, size, flags): the packet's tunnel metadata as received
 * metadata reads (remote = src, local = dst), `size` bytes of it. -EINVAL without metadata
 * or for unknown flags or sizes (an 8-byte key only for IPv4), -EPROTO when the flags name
 * the other address family; on an error `to` is zeroed.
 */
export function tunnelGet(rec: usize, to: usize, size: u32, flags: u64): i64 {
  const t = rec + VM_TUNNEL;
  const mode = load<u32>(t, TK_MODE);
  const ipv6 = (mode & TK_MODE_IPV6) != 0;
  let err: i64 = 0;
  if (mode == 0 || (flags & ~GET_FLAGS) != 0) err = EINVAL;
  else if (ipv6 != ((flags & F_TUNINFO_IPV6) != 0)) err = EPROTO;
  else if (!knownSize(size) || (size == END_REMOTE4 && ipv6)) err = EINVAL;
  if (err != 0) {
    memory.fill(to, 0, size);
    return err;
  }
  // (an older layout gets the fields that fit in it: each ends at one of its sizes)
  store<u32>(to, load<u32>(t, TK_ID));
  const remoteLen: u32 = size == END_REMOTE4 ? 4 : 16;
  for (let o: u32 = 0; o < remoteLen; o += 4) store<u32>(to + OFF_REMOTE + o, ipv6 || o == 0 ? load<u32>(t + TK_SRC + o) : 0);
  if (size > OFF_TOS) {
    store<u8>(to, load<u8>(t, TK_TOS), OFF_TOS);
    store<u8>(to, load<u8>(t, TK_TTL), OFF_TTL);
  }
  if (size > OFF_EXT) store<u16>(to, (flags & F_TUNINFO_FLAGS) != 0 ? bswap<u16>(load<u16>(t, TK_FLAGS)) : 0, OFF_EXT);
  if (size > OFF_LABEL) store<u32>(to, ipv6 ? load<u32>(t, TK_LABEL) : 0, OFF_LABEL);
  if (size == KEY_SIZE) {
    for (let o: u32 = 0; o < 16; o += 4) store<u32>(to + OFF_LOCAL + o, ipv6 || o == 0 ? load<u32>(t + TK_DST + o) : 0);
  }
  return 0;
}

/**
 * bpf_skb_set_tunnel_opt(skb, from, size): the options of the metadata set_tunnel_key put
 * on the packet (-EINVAL without it, or for a size not a multiple of 4; -ENOMEM past
 * IP_TUNNEL_OPTS_MAX), marked present.
 */
export function tunnelSetOpt(rec: usize, from: usize, size: u32): i64 {
  if ((load<u32>(rec + VM_TUNNEL, TK_MODE) & TK_MODE_TX) == 0 || (size & 3) != 0) return EINVAL;
  if (size > TUNNEL_OPTS_MAX) return ENOMEM;
  store<u32>(rec, size, VM_TUNNEL_OPT_LEN);
  if (size != 0) {
    memory.copy(rec + VM_TUNNEL_OPTS, from, size);
    store<u32>(rec, 1, VM_TUNNEL_OPT_PRESENT);
    const t = rec + VM_TUNNEL;
    store<u16>(t, load<u16>(t, TK_FLAGS) | <u16>TUNNEL_OPTIONS_PRESENT, TK_FLAGS);
  }
  return 0;
}

/**
 * bpf_skb_get_tunnel_opt(skb, to, size): the options into `to` (zero-filled after them),
 * returning their length; -ENOENT without metadata or options, -ENOMEM when `size` is too
 * small; on an error `to` is zeroed.
 */
export function tunnelGetOpt(rec: usize, to: usize, size: u32): i64 {
  const len = load<u32>(rec, VM_TUNNEL_OPT_LEN);
  let err: i64 = 0;
  if (load<u32>(rec + VM_TUNNEL, TK_MODE) == 0 || load<u32>(rec, VM_TUNNEL_OPT_PRESENT) == 0) err = ENOENT;
  else if (size < len) err = ENOMEM;
  if (err != 0) {
    memory.fill(to, 0, size);
    return err;
  }
  memory.copy(to, rec + VM_TUNNEL_OPTS, len);
  memory.fill(to + len, 0, size - len);
  return <i64>len;
}
