// The kernel's software flow hash (net/core/flow_dissector.c, __skb_get_hash): the flow
// dissector's keys — protocol, addresses and ports, ordered so both directions of a flow
// give the same (__flow_hash_consistentify) — hashed with SipHash-2-4 under the
// emulator's key (hashrnd: GLOBALS + G_HASH_KEY, from the seed); never 0. Reads the frame
// only inside [p, p + len); allocates nothing.

import { GLOBALS, G_HASH_KEY } from "../abi/layout";

@inline function rotl(x: u64, b: u64): u64 {
  return (x << b) | (x >> (64 - b));
}

// SipHash state: module globals (one hash at a time; an instance runs on one thread).
let v0: u64 = 0, v1: u64 = 0, v2: u64 = 0, v3: u64 = 0;

@inline function round(): void {
  v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
  v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
}

@inline function word(m: u64): void {
  v3 ^= m;
  round(); round();
  v0 ^= m;
}

@inline function be16(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p, 1);
}

/** IP protocols whose first 4 bytes are the ports the dissector takes (TCP, UDP, SCTP, UDP-Lite). */
@inline function hasPorts(proto: u32): bool {
  return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

/** The flow hash of the Ethernet frame at `p` (`len` bytes). */
export function flowHash(p: usize, len: u32): u32 {
  const k0 = load<u64>(GLOBALS + G_HASH_KEY);
  const k1 = load<u64>(GLOBALS + G_HASH_KEY + 8);
  v0 = k0 ^ 0x736f6d6570736575;
  v1 = k1 ^ 0x646f72616e646f6d;
  v2 = k0 ^ 0x6c7967656e657261;
  v3 = k1 ^ 0x7465646279746573;
  let words: u64 = 0;
  let off: u32 = 12;
  let proto: u32 = len >= 14 ? be16(p + 12) : 0;
  // VLAN tags (802.1Q, 802.1ad): the protocol after them
  while ((proto == 0x8100 || proto == 0x88a8) && off + 6 <= len) {
    off += 4;
    proto = be16(p + off);
  }
  off += 2;
  if (proto == 0x0800 && off + 20 <= len && (load<u8>(p + off) >> 4) == 4) {
    const ihl = <u32>(load<u8>(p + off) & 0xf) << 2;
    const ipProto = <u32>load<u8>(p + off + 9);
    let a = bswap<u32>(load<u32>(p + off + 12)), b = bswap<u32>(load<u32>(p + off + 16));
    let ports: u32 = 0;
    // the ports of an unfragmented packet's (or a first fragment's) transport header
    if ((be16(p + off + 6) & 0x1fff) == 0 && ihl >= 20 && hasPorts(ipProto) && off + ihl + 4 <= len) ports = bswap<u32>(load<u32>(p + off + ihl));
    // both directions alike: the lower address first, its port with it
    if (b < a || (b == a && (ports & 0xffff) < (ports >> 16))) {
      const t = a; a = b; b = t;
      ports = (ports << 16) | (ports >> 16);
    }
    word((<u64>proto << 48) | (<u64>ipProto << 40) | <u64>ports);
    word((<u64>a << 32) | <u64>b);
    words = 2;
  } else if (proto == 0x86dd && off + 40 <= len) {
    const ipProto = <u32>load<u8>(p + off + 6);
    let ports: u32 = 0;
    if (hasPorts(ipProto) && off + 44 <= len) ports = bswap<u32>(load<u32>(p + off + 40));
    // the lower address first (as 128-bit big-endian numbers), its port with it
    const s = p + off + 8, d = p + off + 24;
    let swap = (ports & 0xffff) < (ports >> 16);
    for (let i: u32 = 0; i < 16; i++) {
      const x = load<u8>(s + i), y = load<u8>(d + i);
      if (x != y) { swap = y < x; break; }
    }
    if (swap) ports = (ports << 16) | (ports >> 16);
    const lo = swap ? d : s, hi = swap ? s : d;
    word((<u64>proto << 48) | (<u64>ipProto << 40) | <u64>ports);
    word(bswap<u64>(load<u64>(lo)));
    word(bswap<u64>(load<u64>(lo, 8)));
    word(bswap<u64>(load<u64>(hi)));
    word(bswap<u64>(load<u64>(hi, 8)));
    words = 5;
  } else {
    // no network header the dissector knows: the protocol alone
    word(<u64>proto << 48);
    words = 1;
  }
  // SipHash's last block: the message length in its top byte
  const last: u64 = (words * 8) << 56;
  v3 ^= last;
  round(); round();
  v0 ^= last;
  v2 ^= 0xff;
  round(); round(); round(); round();
  const h = <u32>(v0 ^ v1 ^ v2 ^ v3);
  return h != 0 ? h : 1;
}
