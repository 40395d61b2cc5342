/**
 * Header views and builders for the slow-path stack: Ethernet, ARP, IPv4, ICMP, UDP.
 * Addresses are u32 in host order; MACs are 6-byte arrays. Builders return whole frames
 * (Ethernet header included: netkit L3 devices still carry one, zeroed).
 */

export const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const ICMP_ECHOREPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PORT_UNREACH = 3;
/** Communication administratively prohibited (RFC 1812): a prohibit route's answer. */
export const ICMP_PKT_FILTERED = 13;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;

/** A neighbour entry's NUD state, in iproute2's words. */
export type NeighState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'FAILED' | 'PERMANENT' | 'NOARP';

export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** Dotted quad → u32 (host order); `null` when not an IPv4 address. */
export function parseIp(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return null;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function formatIp(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Netmask of a prefix length, as u32. */
export function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(s: string): Uint8Array | null {
  const m = /^([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2})$/i.exec(s);
  return m ? new Uint8Array(m.slice(1).map((x) => parseInt(x, 16))) : null;
}

export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The 16-bit one's complement sum of `len` bytes at `off`, folded, starting from `sum`. */
export function csumPartial(b: Uint8Array, off: number, len: number, sum = 0): number {
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Internet checksum (complemented sum) of a range. */
export function checksum(b: Uint8Array, off: number, len: number, sum = 0): number {
  return ~csumPartial(b, off, len, sum) & 0xffff;
}

const rd16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const rd32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const wr16 = (b: Uint8Array, o: number, v: number): void => { b[o] = (v >>> 8) & 255; b[o + 1] = v & 255; };
const wr32 = (b: Uint8Array, o: number, v: number): void => { wr16(b, o, v >>> 16); wr16(b, o + 2, v & 0xffff); };

export { rd16, rd32 };

export interface Ipv4Header {
  /** Offset of the IPv4 header in the frame. */
  off: number;
  ihl: number;
  tos: number;
  totalLen: number;
  id: number;
  ttl: number;
  proto: number;
  src: number;
  dst: number;
}

/** Why an IPv4 header was refused (ip_rcv_core's checks), or the parsed header. */
export function parseIpv4(f: Uint8Array, off = ETH_HLEN): Ipv4Header | 'short' | 'header' | 'checksum' {
  if (f.length < off + 20) return 'short';
  const vihl = f[off]!;
  const ihl = (vihl & 15) * 4;
  if (vihl >> 4 !== 4 || ihl < 20 || f.length < off + ihl) return 'header';
  const totalLen = rd16(f, off + 2);
  if (totalLen < ihl || f.length < off + totalLen) return 'short';
  if (checksum(f, off, ihl) !== 0) return 'checksum';
  return {
    off, ihl, tos: f[off + 1]!, totalLen, id: rd16(f, off + 4), ttl: f[off + 8]!, proto: f[off + 9]!,
    src: rd32(f, off + 12), dst: rd32(f, off + 16),
  };
}

export interface Ipv4Build {
  src: number;
  dst: number;
  proto: number;
  ttl?: number;
  tos?: number;
  id?: number;
  /** Don't-fragment bit (set by default, as Linux does for PMTU discovery). */
  df?: boolean;
}

/** Ethernet + IPv4 header around `payload` (checksum filled). */
export function buildIpv4(dstMac: Uint8Array, srcMac: Uint8Array, h: Ipv4Build, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + 20 + payload.length);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  wr16(f, 12, ETH_P_IP);
  const o = ETH_HLEN;
  f[o] = 0x45;
  f[o + 1] = h.tos ?? 0;
  wr16(f, o + 2, 20 + payload.length);
  wr16(f, o + 4, h.id ?? 0);
  wr16(f, o + 6, h.df === false ? 0 : 0x4000);
  f[o + 8] = h.ttl ?? 64;
  f[o + 9] = h.proto;
  wr32(f, o + 12, h.src);
  wr32(f, o + 16, h.dst);
  wr16(f, o + 10, checksum(f, o, 20));
  f.set(payload, o + 20);
  return f;
}

/** ICMP message: type, code, 4 bytes of rest-of-header, data; checksum filled. */
export function buildIcmp(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type;
  m[1] = code;
  wr32(m, 4, rest);
  m.set(data, 8);
  wr16(m, 2, checksum(m, 0, m.length));
  return m;
}

function pseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/** UDP datagram with the IPv4 pseudo-header checksum (0 becomes 0xffff). */
export function buildUdp(src: number, dst: number, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  wr16(m, 0, sport);
  wr16(m, 2, dport);
  wr16(m, 4, m.length);
  m.set(data, 8);
  const c = checksum(m, 0, m.length, pseudoSum(src, dst, IPPROTO_UDP, m.length));
  wr16(m, 6, c === 0 ? 0xffff : c);
  return m;
}

/** True when a UDP datagram's checksum is absent (0) or right. */
export function udpChecksumOk(f: Uint8Array, ip: Ipv4Header): boolean {
  const o = ip.off + ip.ihl;
  if (rd16(f, o + 6) === 0) return true;
  const len = rd16(f, o + 4);
  return checksum(f, o, len, pseudoSum(ip.src, ip.dst, IPPROTO_UDP, len)) === 0;
}

export interface Arp {
  op: number;
  sha: Uint8Array;
  spa: number;
  tha: Uint8Array;
  tpa: number;
}

/** An Ethernet/IPv4 ARP packet, or null when it is not one. */
export function parseArp(f: Uint8Array): Arp | null {
  if (f.length < ETH_HLEN + 28) return null;
  const o = ETH_HLEN;
  if (rd16(f, o) !== 1 || rd16(f, o + 2) !== ETH_P_IP || f[o + 4] !== 6 || f[o + 5] !== 4) return null;
  return {
    op: rd16(f, o + 6), sha: f.slice(o + 8, o + 14), spa: rd32(f, o + 14), tha: f.slice(o + 18, o + 24), tpa: rd32(f, o + 24),
  };
}

export function buildArp(dstMac: Uint8Array, a: Arp): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + 28);
  f.set(dstMac, 0);
  f.set(a.sha, 6);
  wr16(f, 12, ETH_P_ARP);
  const o = ETH_HLEN;
  wr16(f, o, 1);
  wr16(f, o + 2, ETH_P_IP);
  f[o + 4] = 6;
  f[o + 5] = 4;
  wr16(f, o + 6, a.op);
  f.set(a.sha, o + 8);
  wr32(f, o + 14, a.spa);
  f.set(a.tha, o + 18);
  wr32(f, o + 24, a.tpa);
  return f;
}

/** Rewrites TTL in place and patches the header checksum incrementally (RFC 1624). */
export function decTtl(f: Uint8Array, ip: Ipv4Header): void {
  const o = ip.off;
  const old = rd16(f, o + 8);
  f[o + 8] = f[o + 8]! - 1;
  const now = rd16(f, o + 8);
  let sum = (~rd16(f, o + 10) & 0xffff) + (~old & 0xffff) + now;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  wr16(f, o + 10, ~sum & 0xffff);
}
