/**
 * Building and parsing test frames: Ethernet (with 802.1Q / 802.1ad tags), IPv4, IPv6,
 * UDP, TCP, ICMP and ICMPv6, with the checksums filled in (IPv4 header, UDP/TCP/ICMPv6
 * over the pseudo-header, ICMP over its message). What `pktgen`, `wireIn` and `testRun`
 * take, and what `Capture` and `Stack` hand back.
 *
 *   const frame = buildPacket({
 *     eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
 *     ipv4: { src: '10.0.0.1', dst: '10.0.0.2' },
 *     udp: { sport: 1234, dport: 53 },
 *     payload: 'hello',
 *   });
 *   parsePacket(frame).udp?.checksumOk; // true
 */

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** A MAC address: `'02:00:00:00:00:01'` or its 6 bytes. */
export type MacAddress = string | Uint8Array;

export interface VlanTag {
  /** VLAN id, 0..4095. */
  id: number;
  /** Priority code point, 0..7. Default 0. */
  pcp?: number;
  /** Drop eligible indicator. Default false. */
  dei?: boolean;
  /** The tag's TPID: 0x8100 (802.1Q, default) or 0x88a8 (802.1ad outer tag). */
  tpid?: number;
}

export interface EthernetSpec {
  /** Default `02:00:00:00:00:02`. */
  dst?: MacAddress;
  /** Default `02:00:00:00:00:01`. */
  src?: MacAddress;
  /** EtherType after the tags; default from the network header (IPv4, IPv6). */
  type?: number;
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  /** Default 64. */
  ttl?: number;
  /** DSCP and ECN byte. Default 0. */
  tos?: number;
  /** Identification. Default 0. */
  id?: number;
  /** Don't-fragment flag. Default true. */
  df?: boolean;
  /** Protocol; default from the transport header. */
  protocol?: number;
}

export interface Ipv6Spec {
  src: string;
  dst: string;
  /** Default 64. */
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  /** Next header; default from the transport header. */
  nextHeader?: number;
}

export interface UdpSpec {
  sport: number;
  dport: number;
  /** Fill in the checksum (default true; over IPv4 false leaves 0, "no checksum"). */
  checksum?: boolean;
}

export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** Flags as letters (`'S'`, `'SA'`, `'PA'`, `'F'`, `'R'`; also U, E, C) or the flag byte. Default `'S'`. */
  flags?: string | number;
  /** Default 65535. */
  window?: number;
  urgent?: number;
}

export interface IcmpSpec {
  /** ICMP type (ICMPv6 over IPv6), or `'echo-request'` / `'echo-reply'` for either. */
  type: number | 'echo-request' | 'echo-reply';
  code?: number;
  /** Identifier and sequence number of an echo (the header's second word). */
  id?: number;
  seq?: number;
}

export interface PacketSpec {
  eth?: EthernetSpec;
  /** One tag, or several (outermost first) for QinQ. */
  vlan?: VlanTag | VlanTag[];
  ipv4?: Ipv4Spec;
  ipv6?: Ipv6Spec;
  udp?: UdpSpec;
  tcp?: TcpSpec;
  icmp?: IcmpSpec;
  /** Bytes, UTF-8 text, or a length (bytes 0, 1, 2, … wrapping at 256). */
  payload?: Uint8Array | string | number;
  /** Pad the payload so the whole frame is this many bytes (no FCS); a longer frame stays as is. */
  size?: number;
}

const TCP_FLAGS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

/** The one's-complement sum of `b` (RFC 1071), not folded or inverted; add a previous sum. */
export function checksumPartial(b: Uint8Array, sum = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  return sum;
}

/** The Internet checksum (RFC 1071) of `b`, starting from a partial sum. */
export function internetChecksum(b: Uint8Array, sum = 0): number {
  sum = checksumPartial(b, sum);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function parseMacAddress(m: MacAddress): Uint8Array {
  if (m instanceof Uint8Array) {
    if (m.length !== 6) throw new RangeError(`MAC address: 6 bytes expected, got ${m.length}`);
    return m;
  }
  const parts = m.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{1,2}$/i.test(p))) throw new RangeError(`invalid MAC address '${m}'`);
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

export function formatMacAddress(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parseIpv4Address(s: string): Uint8Array {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  const b = m ? m.slice(1).map(Number) : [];
  if (!m || b.some((x) => x > 255)) throw new RangeError(`invalid IPv4 address '${s}'`);
  return new Uint8Array(b);
}

export function parseIpv6Address(s: string): Uint8Array {
  const bad = (): never => { throw new RangeError(`invalid IPv6 address '${s}'`); };
  let text = s;
  const words: number[] = [];
  // An embedded IPv4 tail (::ffff:10.0.0.1).
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4) {
    const b = parseIpv4Address(v4[2]!);
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    text = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const group = (h: string): number[] => (h === '' ? [] : h.split(':').map((w) => (/^[0-9a-f]{1,4}$/i.test(w) ? parseInt(w, 16) : bad())));
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) bad();
  words.push(...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail);
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

/** RFC 5952 text: lower case, the longest run of two or more zero words as `::`. */
export function formatIpv6Address(b: Uint8Array): string {
  const w = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(w) : `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

function payloadBytes(p: PacketSpec['payload']): Uint8Array {
  if (p === undefined) return new Uint8Array(0);
  if (typeof p === 'string') return new TextEncoder().encode(p);
  if (typeof p === 'number') return Uint8Array.from({ length: p }, (_, i) => i & 0xff);
  return p;
}

function u16(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${what} must be 0..65535, got ${v}`);
  return v;
}

/** The pseudo-header sum for a transport checksum (RFC 768 / RFC 8200 §8.1). */
function pseudoSum(net: { v4?: Uint8Array[]; v6?: Uint8Array[] }, proto: number, len: number): number {
  if (net.v4) return checksumPartial(net.v4[0]!) + checksumPartial(net.v4[1]!) + proto + len;
  return checksumPartial(net.v6![0]!) + checksumPartial(net.v6![1]!) + Math.floor(len / 0x10000) + (len & 0xffff) + proto;
}

/** One frame from its layers; every length and checksum filled in. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const l4count = [spec.udp, spec.tcp, spec.icmp].filter(Boolean).length;
  if (l4count > 1) throw new RangeError('buildPacket: at most one of udp, tcp, icmp');
  if (spec.ipv4 && spec.ipv6) throw new RangeError('buildPacket: ipv4 or ipv6, not both');
  if (l4count && !spec.ipv4 && !spec.ipv6) throw new RangeError('buildPacket: a transport header needs ipv4 or ipv6');
  const tags = spec.vlan === undefined ? [] : Array.isArray(spec.vlan) ? spec.vlan : [spec.vlan];
  const v6 = !!spec.ipv6;
  const proto = spec.udp ? IPPROTO_UDP : spec.tcp ? IPPROTO_TCP : spec.icmp ? (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP) : undefined;
  const l2len = 14 + 4 * tags.length;
  const l3len = spec.ipv4 ? 20 : spec.ipv6 ? 40 : 0;
  const l4len = spec.udp ? 8 : spec.tcp ? 20 : spec.icmp ? 8 : 0;
  let data = payloadBytes(spec.payload);
  const headers = l2len + l3len + l4len;
  if (spec.size !== undefined && headers + data.length < spec.size) {
    const padded = new Uint8Array(spec.size - headers);
    padded.set(data);
    data = padded;
  }
  const f = new Uint8Array(headers + data.length);
  const dv = new DataView(f.buffer);
  f.set(parseMacAddress(spec.eth?.dst ?? '02:00:00:00:00:02'), 0);
  f.set(parseMacAddress(spec.eth?.src ?? '02:00:00:00:00:01'), 6);
  let off = 12;
  for (const t of tags) {
    if (!Number.isInteger(t.id) || t.id < 0 || t.id > 4095) throw new RangeError(`VLAN id must be 0..4095, got ${t.id}`);
    dv.setUint16(off, t.tpid ?? ETH_P_8021Q);
    dv.setUint16(off + 2, ((t.pcp ?? 0) & 7) << 13 | (t.dei ? 0x1000 : 0) | t.id);
    off += 4;
  }
  dv.setUint16(off, spec.eth?.type ?? (spec.ipv4 ? ETH_P_IP : spec.ipv6 ? ETH_P_IPV6 : 0));
  off += 2;
  const l3 = off;
  const l4 = l3 + l3len;
  const l4total = l4len + data.length;
  let net: { v4?: Uint8Array[]; v6?: Uint8Array[] } = {};
  if (spec.ipv4) {
    const h = spec.ipv4;
    const src = parseIpv4Address(h.src);
    const dst = parseIpv4Address(h.dst);
    f[l3] = 0x45;
    f[l3 + 1] = h.tos ?? 0;
    dv.setUint16(l3 + 2, u16(20 + l4total, 'IPv4 total length'));
    dv.setUint16(l3 + 4, h.id ?? 0);
    dv.setUint16(l3 + 6, (h.df ?? true) ? 0x4000 : 0);
    f[l3 + 8] = h.ttl ?? 64;
    f[l3 + 9] = h.protocol ?? proto ?? 0;
    f.set(src, l3 + 12);
    f.set(dst, l3 + 16);
    dv.setUint16(l3 + 10, internetChecksum(f.subarray(l3, l3 + 20)));
    net = { v4: [src, dst] };
  } else if (spec.ipv6) {
    const h = spec.ipv6;
    const src = parseIpv6Address(h.src);
    const dst = parseIpv6Address(h.dst);
    dv.setUint32(l3, (6 << 28 | ((h.trafficClass ?? 0) & 0xff) << 20 | ((h.flowLabel ?? 0) & 0xfffff)) >>> 0);
    dv.setUint16(l3 + 4, u16(l4total, 'IPv6 payload length'));
    f[l3 + 6] = h.nextHeader ?? proto ?? 59;
    f[l3 + 7] = h.hopLimit ?? 64;
    f.set(src, l3 + 8);
    f.set(dst, l3 + 24);
    net = { v6: [src, dst] };
  }
  f.set(data, l4 + l4len);
  const seg = f.subarray(l4);
  if (spec.udp) {
    dv.setUint16(l4, u16(spec.udp.sport, 'UDP sport'));
    dv.setUint16(l4 + 2, u16(spec.udp.dport, 'UDP dport'));
    dv.setUint16(l4 + 4, u16(l4total, 'UDP length'));
    if (spec.udp.checksum !== false || v6) {
      const c = internetChecksum(seg, pseudoSum(net, IPPROTO_UDP, l4total));
      dv.setUint16(l4 + 6, c === 0 ? 0xffff : c);
    }
  } else if (spec.tcp) {
    const t = spec.tcp;
    dv.setUint16(l4, u16(t.sport, 'TCP sport'));
    dv.setUint16(l4 + 2, u16(t.dport, 'TCP dport'));
    dv.setUint32(l4 + 4, (t.seq ?? 0) >>> 0);
    dv.setUint32(l4 + 8, (t.ack ?? 0) >>> 0);
    f[l4 + 12] = 5 << 4;
    const flags = t.flags ?? 'S';
    f[l4 + 13] = typeof flags === 'number' ? flags : [...flags.toUpperCase()].reduce((a, c) => {
      if (!(c in TCP_FLAGS)) throw new RangeError(`unknown TCP flag '${c}'`);
      return a | TCP_FLAGS[c]!;
    }, 0);
    dv.setUint16(l4 + 14, t.window ?? 65535);
    dv.setUint16(l4 + 18, t.urgent ?? 0);
    dv.setUint16(l4 + 16, internetChecksum(seg, pseudoSum(net, IPPROTO_TCP, l4total)));
  } else if (spec.icmp) {
    const i = spec.icmp;
    const type = i.type === 'echo-request' ? (v6 ? 128 : 8) : i.type === 'echo-reply' ? (v6 ? 129 : 0) : i.type;
    f[l4] = type;
    f[l4 + 1] = i.code ?? 0;
    dv.setUint16(l4 + 4, i.id ?? 0);
    dv.setUint16(l4 + 6, i.seq ?? 0);
    dv.setUint16(l4 + 2, v6 ? internetChecksum(seg, pseudoSum(net, IPPROTO_ICMPV6, l4total)) : internetChecksum(seg));
  }
  return f;
}

export interface ParsedPacket {
  eth: { dst: string; src: string; type: number };
  vlan: Required<VlanTag>[];
  ipv4?: Required<Omit<Ipv4Spec, 'protocol'>> & { protocol: number; totalLength: number; checksum: number; checksumOk: boolean };
  ipv6?: Required<Omit<Ipv6Spec, 'nextHeader'>> & { nextHeader: number; payloadLength: number };
  udp?: { sport: number; dport: number; length: number; checksum: number; checksumOk: boolean };
  tcp?: { sport: number; dport: number; seq: number; ack: number; flags: string; window: number; urgent: number; checksum: number; checksumOk: boolean };
  icmp?: { type: number; code: number; id: number; seq: number; checksum: number; checksumOk: boolean; v6: boolean };
  /** What follows the last header understood. */
  payload: Uint8Array;
}

/**
 * Parses what `buildPacket` builds (and any frame of those layers); checks every checksum
 * (`checksumOk`; a UDP checksum of 0 over IPv4, "none", counts as ok). Throws RangeError
 * on a frame too short for a header it announces.
 */
export function parsePacket(frame: Uint8Array): ParsedPacket {
  const need = (n: number, what: string): void => { if (frame.length < n) throw new RangeError(`frame too short for ${what} (${frame.length} bytes)`); };
  need(14, 'Ethernet');
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const out: ParsedPacket = { eth: { dst: formatMacAddress(frame.subarray(0, 6)), src: formatMacAddress(frame.subarray(6, 12)), type: 0 }, vlan: [], payload: new Uint8Array(0) };
  let off = 12;
  let type = dv.getUint16(off);
  while (type === ETH_P_8021Q || type === ETH_P_8021AD) {
    need(off + 6, 'a VLAN tag');
    const tci = dv.getUint16(off + 2);
    out.vlan.push({ tpid: type, id: tci & 0xfff, pcp: tci >> 13, dei: (tci & 0x1000) !== 0 });
    off += 4;
    type = dv.getUint16(off);
  }
  out.eth.type = type;
  off += 2;
  let proto = -1;
  let end = frame.length;
  let net: { v4?: Uint8Array[]; v6?: Uint8Array[] } = {};
  if (type === ETH_P_IP) {
    need(off + 20, 'IPv4');
    const ihl = (frame[off]! & 0xf) * 4;
    need(off + ihl, 'IPv4 options');
    const totalLength = dv.getUint16(off + 2);
    const src = frame.slice(off + 12, off + 16);
    const dst = frame.slice(off + 16, off + 20);
    out.ipv4 = {
      src: Array.from(src).join('.'), dst: Array.from(dst).join('.'), ttl: frame[off + 8]!, tos: frame[off + 1]!, id: dv.getUint16(off + 4),
      df: (dv.getUint16(off + 6) & 0x4000) !== 0, protocol: frame[off + 9]!, totalLength, checksum: dv.getUint16(off + 10),
      checksumOk: internetChecksum(frame.subarray(off, off + ihl)) === 0,
    };
    proto = frame[off + 9]!;
    end = Math.min(frame.length, off + totalLength);
    net = { v4: [src, dst] };
    off += ihl;
  } else if (type === ETH_P_IPV6) {
    need(off + 40, 'IPv6');
    const w = dv.getUint32(off);
    const src = frame.slice(off + 8, off + 24);
    const dst = frame.slice(off + 24, off + 40);
    const payloadLength = dv.getUint16(off + 4);
    out.ipv6 = {
      src: formatIpv6Address(src), dst: formatIpv6Address(dst), trafficClass: (w >>> 20) & 0xff, flowLabel: w & 0xfffff,
      nextHeader: frame[off + 6]!, hopLimit: frame[off + 7]!, payloadLength,
    };
    proto = frame[off + 6]!;
    end = Math.min(frame.length, off + 40 + payloadLength);
    net = { v6: [src, dst] };
    off += 40;
  }
  const seg = frame.subarray(off, end);
  const transportOk = (p: number): boolean => internetChecksum(seg, pseudoSum(net, p, seg.length)) === 0;
  if (proto === IPPROTO_UDP) {
    need(off + 8, 'UDP');
    const checksum = dv.getUint16(off + 6);
    out.udp = { sport: dv.getUint16(off), dport: dv.getUint16(off + 2), length: dv.getUint16(off + 4), checksum, checksumOk: (checksum === 0 && !!net.v4) || transportOk(IPPROTO_UDP) };
    off += 8;
  } else if (proto === IPPROTO_TCP) {
    need(off + 20, 'TCP');
    const flagByte = frame[off + 13]!;
    out.tcp = {
      sport: dv.getUint16(off), dport: dv.getUint16(off + 2), seq: dv.getUint32(off + 4), ack: dv.getUint32(off + 8),
      flags: Object.entries(TCP_FLAGS).filter(([, bit]) => flagByte & bit).map(([c]) => c).join(''),
      window: dv.getUint16(off + 14), checksum: dv.getUint16(off + 16), urgent: dv.getUint16(off + 18), checksumOk: transportOk(IPPROTO_TCP),
    };
    off += (frame[off + 12]! >> 4) * 4;
  } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    need(off + 8, 'ICMP');
    const v6 = proto === IPPROTO_ICMPV6;
    out.icmp = {
      type: frame[off]!, code: frame[off + 1]!, checksum: dv.getUint16(off + 2), id: dv.getUint16(off + 4), seq: dv.getUint16(off + 6), v6,
      checksumOk: v6 ? transportOk(IPPROTO_ICMPV6) : internetChecksum(seg) === 0,
    };
    off += 8;
  }
  out.payload = frame.slice(Math.min(off, end), end);
  return out;
}
