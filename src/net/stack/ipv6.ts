/**
 * A namespace's IPv6 packet path (slow path): receive (ip6_rcv_core's checks), local
 * delivery of ICMPv6 (echo, errors quoting an echo of ours, neighbour discovery),
 * forwarding between devices with net.ipv6.conf.all.forwarding (hop limit, ICMPv6 time
 * exceeded, destination unreachable, packet too big with the MTU), and output with
 * neighbour discovery (NS to the solicited-node group, NA back, the cache's states) on
 * devices that do L2; NOARP devices (netkit L3) send to their own address, as for IPv4.
 */

import { fail } from '../../errors.js';
import type { FrameMeta, RxMeta } from '../types.js';
import { formatIp6, ip6Bytes, readIp6, scopeOf6 } from './addr6.js';
import type { Addrconf } from './addrconf.js';
import { ETH_HLEN, csumPartial, rd16, type NeighState } from './packet.js';
import type { RouteType } from './route.js';
import { Udp6Table, type Udp6Socket } from './udp6.js';

export const ETH_P_IPV6 = 0x86dd;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_UDP = 17;
/** Destination unreachable: port unreachable (no UDP socket). */
export const ICMPV6_PORT_UNREACH = 4;
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PKT_TOOBIG = 2;
export const ICMPV6_TIME_EXCEED = 3;
export const ICMPV6_PARAMPROB = 4;
/** Parameter problem: unrecognized next header. */
export const ICMPV6_UNK_NEXTHDR = 1;
export const IPPROTO_TCP = 6;
/** Parameter problem: unrecognized IPv6 option. */
export const ICMPV6_UNK_OPTION = 2;
const NEXTHDR_HOP = 0;
const NEXTHDR_ROUTING = 43;
const NEXTHDR_FRAGMENT = 44;
const NEXTHDR_NONE = 59;
const NEXTHDR_DEST = 60;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const NDISC_NEIGHBOUR_SOLICITATION = 135;
export const NDISC_NEIGHBOUR_ADVERTISEMENT = 136;
/** Destination unreachable codes: no route, address unreachable (ND failed). */
export const ICMPV6_NOROUTE = 0;
export const ICMPV6_ADDR_UNREACH = 3;
/** Destination unreachable: communication administratively prohibited (a prohibit route). */
export const ICMPV6_ADM_PROHIBITED = 1;
/** IPV6_MIN_MTU: an ICMPv6 error quotes what fits in it. */
const IPV6_MIN_MTU = 1280;
const ALL_NODES = 0xff02n << 112n | 1n;
const NDISC_PROBES = 3;
const UNRES_QLEN = 101;
const UDP_RCVBUF = 4096;

export interface Ipv6Header {
  off: number;
  payloadLen: number;
  next: number;
  hopLimit: number;
  src: bigint;
  dst: bigint;
}

/** The IPv6 header at `off`, or why it was refused ('short': no whole header, 'header': not version 6, 'truncated': shorter than its payload length). */
export function parseIpv6(f: Uint8Array, off = ETH_HLEN): Ipv6Header | 'short' | 'header' | 'truncated' {
  if (f.length < off + 40) return 'short';
  if (f[off]! >> 4 !== 6) return 'header';
  const payloadLen = rd16(f, off + 4);
  if (f.length < off + 40 + payloadLen) return 'truncated';
  return { off, payloadLen, next: f[off + 6]!, hopLimit: f[off + 7]!, src: readIp6(f, off + 8), dst: readIp6(f, off + 24) };
}

/** An upper-layer checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and the message. */
export function l4Checksum6(src: bigint, dst: bigint, proto: number, msg: Uint8Array, off = 0, len = msg.length - off): number {
  const ph = new Uint8Array(40);
  ph.set(ip6Bytes(src), 0);
  ph.set(ip6Bytes(dst), 16);
  ph[32] = (len >>> 24) & 255; ph[33] = (len >>> 16) & 255; ph[34] = (len >>> 8) & 255; ph[35] = len & 255;
  ph[39] = proto;
  return ~csumPartial(msg, off, len, csumPartial(ph, 0, 40)) & 0xffff;
}

/** The ICMPv6 checksum. */
export function icmp6Checksum(src: bigint, dst: bigint, msg: Uint8Array, off = 0, len = msg.length - off): number {
  return l4Checksum6(src, dst, IPPROTO_ICMPV6, msg, off, len);
}

/** Ethernet (addresses zero) + IPv6 header around `payload`; an ICMPv6 payload gets its checksum. */
export function buildIpv6(h: { src: bigint; dst: bigint; next: number; hopLimit: number }, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + 40 + payload.length);
  f[12] = 0x86; f[13] = 0xdd;
  const o = ETH_HLEN;
  f[o] = 0x60;
  f[o + 4] = payload.length >>> 8; f[o + 5] = payload.length & 255;
  f[o + 6] = h.next;
  f[o + 7] = h.hopLimit;
  f.set(ip6Bytes(h.src), o + 8);
  f.set(ip6Bytes(h.dst), o + 24);
  f.set(payload, o + 40);
  if (h.next === IPPROTO_ICMPV6 && payload.length >= 4) {
    const c = icmp6Checksum(h.src, h.dst, f, o + 40, payload.length);
    f[o + 42] = c >>> 8; f[o + 43] = c & 255;
  } else if (h.next === IPPROTO_UDP && payload.length >= 8) {
    // (mandatory in IPv6: a computed 0 is sent as 0xffff)
    const c = l4Checksum6(h.src, h.dst, IPPROTO_UDP, f, o + 40, payload.length) || 0xffff;
    f[o + 46] = c >>> 8; f[o + 47] = c & 255;
  }
  return f;
}

/** An ICMPv6 message (checksum left zero: buildIpv6 fills it). */
function icmp6(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type; m[1] = code;
  m[4] = (rest >>> 24) & 255; m[5] = (rest >>> 16) & 255; m[6] = (rest >>> 8) & 255; m[7] = rest & 255;
  m.set(data, 8);
  return m;
}

/** The solicited-node group of an address (ff02::1:ffXX:XXXX). */
export function solicitedNode(a: bigint): bigint {
  return (0xff02n << 112n) | (0x1ffn << 24n) | (a & 0xffffffn);
}

/** The Ethernet multicast address of an IPv6 group (33:33 + its last 32 bits). */
function multicastMac(a: bigint): Uint8Array {
  const b = ip6Bytes(a);
  return new Uint8Array([0x33, 0x33, b[12]!, b[13]!, b[14]!, b[15]!]);
}

export interface Neighbour6 {
  ifindex: number;
  dst: bigint;
  lladdr: Uint8Array | null;
  state: NeighState;
  /** NTF_ROUTER: the neighbour's NA said it forwards. */
  router: boolean;
  queue: { frame: Uint8Array; meta: FrameMeta }[];
  probes: number;
}

export interface Ipv6Io {
  link(ifindex: number): { ifindex: number; mac: Uint8Array; up: boolean; noarp: boolean; mtu: number; loopback?: boolean } | undefined;
  xmit(ifindex: number, frame: Uint8Array, meta: FrameMeta): void;
  /** Local delivery through the namespace's loopback queue (drained after the current frame). */
  loop(frame: Uint8Array, meta: FrameMeta): void;
  nowNs(): bigint;
  changed(): void;
  /** An echo reply or an error quoting an echo of ours, for the pinger with this id. */
  ping(id: number, e: { kind: 'reply' | 'unreachable' | 'ttl' | 'toobig'; code: number; seq: number; from: bigint; ttl: number; bytes: number }): void;
  /** kfree_skb_reason: the packet dropped, where and why (SKB_DROP_REASON_* without the prefix), for the trace. */
  drop?(d: { ifindex: number; len: number; mark: number; where: string; reason: string }): void;
}

/** Icmp6 / Ip6 counters (/proc/net/snmp6 names). */
export interface Ipv6Counters {
  Ip6InReceives: number; Ip6InHdrErrors: number; Ip6InAddrErrors: number; Ip6InNoRoutes: number; Ip6OutForwDatagrams: number;
  Ip6InDelivers: number; Ip6OutRequests: number; Ip6OutNoRoutes: number; Ip6InTooBigErrors: number; Ip6InTruncatedPkts: number;
  Ip6InUnknownProtos: number; Ip6InDiscards: number; Icmp6InErrors: number; Icmp6InCsumErrors: number; Icmp6OutParmProblems: number;
  Udp6InCsumErrors: number;
  Icmp6InMsgs: number; Icmp6InEchos: number; Icmp6InEchoReplies: number; Icmp6InDestUnreachs: number; Icmp6InTimeExcds: number;
  Icmp6InPktTooBigs: number; Icmp6InNeighborSolicits: number; Icmp6InNeighborAdvertisements: number;
  Icmp6OutMsgs: number; Icmp6OutEchos: number; Icmp6OutEchoReplies: number; Icmp6OutDestUnreachs: number; Icmp6OutTimeExcds: number;
  Icmp6OutPktTooBigs: number; Icmp6OutNeighborSolicits: number; Icmp6OutNeighborAdvertisements: number;
  Udp6InDatagrams: number; Udp6NoPorts: number; Udp6InErrors: number; Udp6OutDatagrams: number; Udp6RcvbufErrors: number;
}

export class Ipv6 {
  private readonly io: Ipv6Io;
  private readonly conf: Addrconf;
  private readonly neigh = new Map<string, Neighbour6>();
  /** The UDP sockets bound to IPv6 (udp6.ts). */
  readonly udp: Udp6Table;
  private fwd = false;
  /** Devices whose forwarding was written after all's (ifindex → value). */
  private readonly devFwd = new Map<number, boolean>();
  /** net.ipv6.conf.all.hop_limit. */
  hopLimit = 64;
  readonly counters: Ipv6Counters = Object.fromEntries([
    'Ip6InReceives', 'Ip6InHdrErrors', 'Ip6InAddrErrors', 'Ip6InNoRoutes', 'Ip6OutForwDatagrams', 'Ip6InDelivers', 'Ip6OutRequests', 'Ip6OutNoRoutes',
    'Ip6InTooBigErrors', 'Ip6InTruncatedPkts', 'Ip6InUnknownProtos', 'Ip6InDiscards', 'Icmp6InErrors', 'Icmp6InCsumErrors',
    'Icmp6OutParmProblems', 'Udp6InCsumErrors', 'Icmp6InMsgs', 'Icmp6InEchos', 'Icmp6InEchoReplies', 'Icmp6InDestUnreachs', 'Icmp6InTimeExcds', 'Icmp6InPktTooBigs',
    'Icmp6InNeighborSolicits', 'Icmp6InNeighborAdvertisements', 'Icmp6OutMsgs', 'Icmp6OutEchos', 'Icmp6OutEchoReplies', 'Icmp6OutDestUnreachs',
    'Icmp6OutTimeExcds', 'Icmp6OutPktTooBigs', 'Icmp6OutNeighborSolicits', 'Icmp6OutNeighborAdvertisements',
    'Udp6InDatagrams', 'Udp6NoPorts', 'Udp6InErrors', 'Udp6OutDatagrams', 'Udp6RcvbufErrors',
  ].map((k) => [k, 0])) as unknown as Ipv6Counters;

  constructor(io: Ipv6Io, conf: Addrconf) {
    this.io = io;
    this.conf = conf;
    this.udp = new Udp6Table((sock, dst, dport, data, meta) => this.sendUdp(sock, dst, dport, data, meta), conf);
  }

  /**
   * net.ipv6.conf.all.forwarding (a new namespace: 0), which the packet path follows
   * (ip6_forward) and addrconf_fixup_forwarding copies to default and every device, even
   * when it does not change.
   */
  get forwarding(): boolean {
    return this.fwd;
  }

  set forwarding(on: boolean) {
    if (on === this.fwd && this.devFwd.size === 0) return;
    this.fwd = on;
    this.devFwd.clear();
    this.io.changed();
  }

  /**
   * net.ipv6.conf.DEV.forwarding: the device's own switch (bpf_fib_lookup's, the router
   * flag of its neighbour advertisements). all's value unless written since all was.
   */
  deviceForwarding(ifindex: number): boolean {
    return this.devFwd.get(ifindex) ?? this.fwd;
  }

  setDeviceForwarding(ifindex: number, on: boolean): void {
    if (this.deviceForwarding(ifindex) === on) return;
    this.devFwd.set(ifindex, on);
    this.io.changed();
  }

  // ---- neighbours -----------------------------------------------------------------

  /**
   * `ip -6 neigh add|replace|change` (RTM_NEWNEIGH): a static entry (PERMANENT unless a
   * state is given); EEXIST when one is there and not replaced; EINVAL without an lladdr
   * when none is known.
   */
  addNeighbour(ifindex: number, dst: bigint, lladdr: Uint8Array | null, o: { state?: NeighState; replace?: boolean } = {}): void {
    const key = `${ifindex}/${dst}`;
    const old = this.neigh.get(key);
    if (old && !o.replace) fail('EEXIST');
    if (lladdr === null && !old?.lladdr) fail('EINVAL', 'No link layer address given');
    const n: Neighbour6 = { ifindex, dst, lladdr: lladdr ?? old!.lladdr, state: o.state ?? 'PERMANENT', router: old?.router ?? false, queue: old?.queue ?? [], probes: 0 };
    this.neigh.set(key, n);
    this.io.changed();
    for (const q of n.queue.splice(0)) {
      q.frame.set(n.lladdr!, 0);
      this.io.xmit(ifindex, q.frame, { ...q.meta, protocol: ETH_P_IPV6, buffer: undefined });
    }
  }

  neighbours(): readonly Neighbour6[] {
    return [...this.neigh.values()];
  }

  /** `ip -6 neigh del`. */
  delNeighbour(ifindex: number, dst: bigint): boolean {
    const gone = this.neigh.delete(`${ifindex}/${dst}`);
    if (gone) this.io.changed();
    return gone;
  }

  /** NETDEV_DOWN: the device's entries go. */
  linkDown(ifindex: number): void {
    for (const [k, n] of this.neigh) if (n.ifindex === ifindex) this.neigh.delete(k);
  }

  get resolving(): boolean {
    for (const n of this.neigh.values()) if (n.state === 'INCOMPLETE') return true;
    return false;
  }

  /** A virtual second passed: an unanswered NS is sent again (3 in all), then the entry fails and its frames are answered with address unreachable. */
  tick(): void {
    for (const [k, n] of this.neigh) {
      if (n.state !== 'INCOMPLETE') continue;
      if (n.probes < NDISC_PROBES) { this.solicit(n); continue; }
      n.state = 'FAILED';
      for (const q of n.queue.splice(0)) {
        const ip = parseIpv6(q.frame);
        if (typeof ip !== 'string') this.icmpError(q.frame, ip, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, 0);
      }
      this.neigh.delete(k);
    }
  }

  /** ndisc_send_ns: to the target's solicited-node group, from an address on the device. */
  private solicit(n: Neighbour6): void {
    const l = this.io.link(n.ifindex);
    if (!l) return;
    const src = this.conf.selectSource(n.dst, n.ifindex) ?? 0n;
    // (the target, then the source link-layer address option)
    const body = new Uint8Array(24);
    body.set(ip6Bytes(n.dst), 0);
    body[16] = 1; body[17] = 1; body.set(l.mac, 18);
    const group = solicitedNode(n.dst);
    const f = buildIpv6({ src, dst: group, next: IPPROTO_ICMPV6, hopLimit: 255 }, icmp6(NDISC_NEIGHBOUR_SOLICITATION, 0, 0, body));
    n.probes++;
    this.counters.Icmp6OutMsgs++;
    this.counters.Icmp6OutNeighborSolicits++;
    f.set(multicastMac(group), 0);
    f.set(l.mac, 6);
    this.io.xmit(n.ifindex, f, { protocol: ETH_P_IPV6 });
  }

  // ---- output ---------------------------------------------------------------------

  /** ip6_finish_output2: loopback, NOARP (own address), multicast (33:33:…), or the neighbour cache. */
  private output(ifindex: number, nexthop: bigint, frame: Uint8Array, meta: FrameMeta): void {
    const l = this.io.link(ifindex);
    if (!l || !l.up) return;
    if (l.loopback) return this.io.loop(frame, meta);
    frame.set(l.mac, 6);
    const send = (mac: Uint8Array): void => { frame.set(mac, 0); this.io.xmit(ifindex, frame, { ...meta, protocol: ETH_P_IPV6, buffer: undefined }); };
    if (l.noarp) return send(l.mac);
    if (nexthop >> 120n === 0xffn) return send(multicastMac(nexthop));
    const key = `${ifindex}/${nexthop}`;
    let n = this.neigh.get(key);
    if (n?.lladdr && n.state !== 'INCOMPLETE' && n.state !== 'FAILED') return send(n.lladdr);
    if (!n) {
      n = { ifindex, dst: nexthop, lladdr: null, state: 'INCOMPLETE', router: false, queue: [], probes: 0 };
      this.neigh.set(key, n);
      this.solicit(n);
    }
    if (n.queue.length >= UNRES_QLEN) n.queue.shift();
    n.queue.push({ frame, meta });
  }

  /**
   * ip6_xmit: routes and sends `payload` (ENETUNREACH without a route; an own address
   * loops back). Returns the source address used.
   */
  send(dst: bigint, next: number, payload: Uint8Array, o: { src?: bigint; hopLimit?: number; meta?: FrameMeta; ifindex?: number } = {}): bigint {
    const local = this.conf.isLocal(dst);
    const r = local ? undefined : this.conf.lookup(dst, o.ifindex);
    if (!local && !r) {
      this.counters.Ip6OutNoRoutes++;
      fail('ENETUNREACH');
    }
    // (ip6_route_output's dst error for the reject types)
    if (r?.type === 'blackhole') fail('EINVAL');
    if (r?.type === 'unreachable') {
      this.counters.Ip6OutNoRoutes++;
      fail('EHOSTUNREACH');
    }
    if (r?.type === 'prohibit') fail('EACCES');
    const src = o.src ?? (local ? dst : this.conf.selectSource(dst, r!.ifindex) ?? 0n);
    const frame = buildIpv6({ src, dst, next, hopLimit: o.hopLimit ?? this.hopLimit }, payload);
    this.counters.Ip6OutRequests++;
    if (local) this.io.loop(frame, o.meta ?? {});
    else this.output(r!.ifindex, r!.via || dst, frame, o.meta ?? {});
    return src;
  }

  /** An ICMPv6 echo request for the pinger `id`. */
  echo(dst: bigint, id: number, seq: number, data: Uint8Array, o: { hopLimit?: number; meta?: FrameMeta; ifindex?: number } = {}): void {
    this.counters.Icmp6OutMsgs++;
    this.counters.Icmp6OutEchos++;
    this.send(dst, IPPROTO_ICMPV6, icmp6(ICMPV6_ECHO_REQUEST, 0, ((id & 0xffff) << 16) | (seq & 0xffff), data), o);
  }

  // ---- receiving ------------------------------------------------------------------

  /** kfree_skb_reason(skb, reason) in `where`: the trace shows it. */
  private drop(ifindex: number, f: Uint8Array, meta: { mark?: number }, where: string, reason: string): void {
    this.io.drop?.({ ifindex, len: f.length, mark: meta.mark ?? 0, where, reason });
  }

  /** ipv6_rcv: `looped` for frames of the namespace's own that came back through lo. */
  rcv(ifindex: number, f: Uint8Array, meta: RxMeta, looped: boolean): void {
    if (meta.pktType === 3 /* PACKET_OTHERHOST */) return this.drop(ifindex, f, meta, 'ip6_rcv_core', 'OTHERHOST');
    this.counters.Ip6InReceives++;
    const ip = parseIpv6(f);
    if (ip === 'truncated') {
      this.counters.Ip6InTruncatedPkts++;
      return this.drop(ifindex, f, meta, 'ip6_rcv_core', 'PKT_TOO_SMALL');
    }
    // ip6_rcv_core's header checks (RFC 4291 2.5.3, 2.7): ::1 from outside lo, interface-local or scope-0 multicast from outside, a multicast source
    const mscope = typeof ip === 'string' ? 0 : ip.dst >> 120n === 0xffn ? Number((ip.dst >> 112n) & 0xfn) : -1;
    if (typeof ip === 'string' || ((ip.src === 1n || ip.dst === 1n) && !looped) || (mscope === 1 && !looped) || mscope === 0 || ip.src >> 120n === 0xffn) {
      this.counters.Ip6InHdrErrors++;
      return this.drop(ifindex, f, meta, 'ip6_rcv_core', ip === 'header' ? 'UNHANDLED_PROTO' : 'IP_INHDR');
    }
    if (this.forUs(ifindex, ip.dst)) {
      this.deliver(ifindex, f, ip, meta);
      return;
    }
    // a group not joined: ip6_mc_input frees it (no reason given)
    if (ip.dst >> 120n === 0xffn) return this.drop(ifindex, f, meta, 'ip6_mc_input', 'NOT_SPECIFIED');
    // ip6_route_input first: no route is the null entry's discard (and an ICMPv6 no route),
    // a reject route its own input, forwarding or not
    if (!looped) {
      const r = this.conf.lookup(ip.dst);
      if (!r) return this.noRoute(f, ip, meta, ifindex);
      if (r.type) return this.reject(r.type, f, ip, meta, ifindex);
    }
    if (looped || !this.forwarding || scopeOf6(ip.dst) === 'link') {
      this.counters.Ip6InAddrErrors++;
      return this.drop(ifindex, f, meta, 'ip6_forward', 'IP_INADDRERRORS');
    }
    this.forward(f, ip, meta, ifindex);
  }

  /** An own address (any device: the weak host model), ::1, all-nodes, or a solicited-node group of the device's addresses. */
  private forUs(ifindex: number, dst: bigint): boolean {
    if (this.conf.isLocal(dst) || dst === ALL_NODES) return true;
    return dst >> 24n === solicitedNode(0n) >> 24n && this.conf.addresses(ifindex).some((a) => solicitedNode(a.addr) === dst);
  }

  /** ip6_pkt_discard: the route lookup's null entry (ICMPv6 no route back). */
  private noRoute(f: Uint8Array, ip: Ipv6Header, meta: RxMeta, ifindex: number): void {
    this.counters.Ip6InNoRoutes++;
    this.icmpError(f, ip, ICMPV6_DEST_UNREACH, ICMPV6_NOROUTE, 0);
    this.drop(ifindex, f, meta, 'ip6_pkt_discard', 'IP_INNOROUTES');
  }

  /**
   * A reject route's input: blackhole dst_discard (silent), unreachable ip6_pkt_discard
   * (ICMPv6 no route), prohibit ip6_pkt_prohibit (ICMPv6 administratively prohibited).
   */
  private reject(type: RouteType, f: Uint8Array, ip: Ipv6Header, meta: RxMeta, ifindex: number): void {
    if (type === 'blackhole') return this.drop(ifindex, f, meta, 'dst_discard', 'NOT_SPECIFIED');
    if (type === 'unreachable') return this.noRoute(f, ip, meta, ifindex);
    this.counters.Ip6InNoRoutes++;
    this.icmpError(f, ip, ICMPV6_DEST_UNREACH, ICMPV6_ADM_PROHIBITED, 0);
    this.drop(ifindex, f, meta, 'ip6_pkt_prohibit', 'IP_INNOROUTES');
  }

  /** ip6_forward: hop limit, route, MTU, then out with the hop limit one less. */
  private forward(f: Uint8Array, ip: Ipv6Header, meta: RxMeta, ifindex: number): void {
    if (ip.hopLimit <= 1) {
      this.counters.Ip6InHdrErrors++;
      this.icmpError(f, ip, ICMPV6_TIME_EXCEED, 0, 0);
      return this.drop(ifindex, f, meta, 'ip6_forward', 'IP_INHDR');
    }
    const r = this.conf.lookup(ip.dst);
    if (!r) return this.noRoute(f, ip, meta, ifindex);
    const out = this.io.link(r.ifindex);
    const len = 40 + ip.payloadLen;
    if (out && len > out.mtu) {
      this.counters.Ip6InTooBigErrors++;
      this.icmpError(f, ip, ICMPV6_PKT_TOOBIG, 0, out.mtu);
      return this.drop(ifindex, f, meta, 'ip6_forward', 'PKT_TOO_BIG');
    }
    const copy = f.slice(0, ip.off + len);
    copy[ip.off + 7] = ip.hopLimit - 1;
    this.counters.Ip6OutForwDatagrams++;
    this.output(r.ifindex, r.via || ip.dst, copy, { mark: meta.mark, priority: meta.priority });
  }

  /**
   * The TLV options of a hop-by-hop or destination options header at `h` (ip6_parse_tlv):
   * pads and unknown options whose type says skip pass; another unknown option drops the
   * packet, with a parameter problem (unknown option, pointing at it) for types 10 and 11
   * (11 not to a multicast destination). True when the packet goes on.
   */
  private tlvOk(ifindex: number, f: Uint8Array, ip: Ipv6Header, meta: RxMeta, h: number, hdrEnd: number): boolean {
    for (let p = h + 2; p < hdrEnd;) {
      const type = f[p]!;
      if (type === 0) { p++; continue; }
      if (p + 2 > hdrEnd || p + 2 + f[p + 1]! > hdrEnd) {
        this.counters.Ip6InHdrErrors++;
        this.drop(ifindex, f, meta, 'ip6_parse_tlv', 'IP_INHDR');
        return false;
      }
      // (PadN; router alert and jumbo payload in a hop-by-hop header are known and pass here)
      const known = type === 1 || ((type === 5 || type === 0xc2) && this.hbhAt === h);
      if (!known) {
        const act = type >> 6;
        if (act !== 0) {
          if (act === 2 || (act === 3 && ip.dst >> 120n !== 0xffn)) this.icmpError(f, ip, ICMPV6_PARAMPROB, ICMPV6_UNK_OPTION, p - ip.off);
          this.drop(ifindex, f, meta, 'ip6_tlvopt_unknown', 'UNHANDLED_PROTO');
          return false;
        }
      }
      p += 2 + f[p + 1]!;
    }
    return true;
  }
  /** Where the hop-by-hop header being parsed starts (its known options differ from a destination options header's). */
  private hbhAt = -1;

  /**
   * ip6_input → ip6_protocol_deliver_rcu: the extension headers (hop-by-hop first only,
   * destination options, routing with no segments left, an atomic fragment), then UDP or
   * ICMPv6; TCP finds no socket; no next header is discarded; another next header is
   * answered with a parameter problem (IP_NOPROTO) pointing at the field that named it.
   */
  private deliver(ifindex: number, f: Uint8Array, ip: Ipv6Header, meta: RxMeta): void {
    let o = ip.off + 40;
    const end = o + ip.payloadLen;
    let next = ip.next;
    // (the offset, from the IPv6 header, of the field holding `next`)
    let nhoff = 6;
    for (;;) {
      if (next === NEXTHDR_HOP || next === NEXTHDR_DEST || next === NEXTHDR_ROUTING || next === NEXTHDR_FRAGMENT) {
        if (next === NEXTHDR_HOP && o !== ip.off + 40) break; // (only right after the IPv6 header: else no protocol takes it)
        const hlen = next === NEXTHDR_FRAGMENT ? 8 : (f[o + 1]! + 1) * 8;
        if (o + 2 > end || o + hlen > end) {
          this.counters.Ip6InHdrErrors++;
          return this.drop(ifindex, f, meta, next === NEXTHDR_HOP || next === NEXTHDR_DEST ? 'ip6_parse_tlv' : 'ip6_rcv_core', 'IP_INHDR');
        }
        if (next === NEXTHDR_HOP || next === NEXTHDR_DEST) {
          this.hbhAt = next === NEXTHDR_HOP ? o : -1;
          if (!this.tlvOk(ifindex, f, ip, meta, o, o + hlen)) return;
        } else if (next === NEXTHDR_ROUTING) {
          // (a segment routing header with seg6 off, or segments left: ipv6_rthdr_rcv frees it)
          if (f[o + 2] === 4 || f[o + 3] !== 0) return this.drop(ifindex, f, meta, 'ipv6_rthdr_rcv', 'NOT_SPECIFIED');
        } else if ((rd16(f, o + 2) & 0xfff9) !== 0) {
          // (a real fragment: nkemu does not reassemble; the kernel queues it, and frees it with FRAG_REASM_TIMEOUT if the rest never comes)
          return;
        }
        nhoff = o - ip.off;
        next = f[o]!;
        o += hlen;
        continue;
      }
      break;
    }
    if (next === IPPROTO_UDP) {
      this.counters.Ip6InDelivers++;
      return this.udpRcv(ifindex, f, ip, meta, o);
    }
    if (next === IPPROTO_TCP) {
      // (nkemu has no TCP: tcp_v6_rcv without a socket; the kernel also answers with a reset)
      this.counters.Ip6InDelivers++;
      return this.drop(ifindex, f, meta, 'tcp_v6_rcv', 'NO_SOCKET');
    }
    if (next === NEXTHDR_NONE) {
      this.counters.Ip6InDelivers++;
      return this.drop(ifindex, f, meta, 'dst_discard_out', 'NOT_SPECIFIED');
    }
    if (next !== IPPROTO_ICMPV6) {
      this.counters.Ip6InUnknownProtos++;
      // (the pointer: the offset of the next header field that named it, IP6CB(skb)->nhoff)
      this.icmpError(f, ip, ICMPV6_PARAMPROB, ICMPV6_UNK_NEXTHDR, nhoff);
      // (ip6_protocol_deliver_rcu, inlined in ip6_input_finish: the kernel reports that)
      return this.drop(ifindex, f, meta, 'ip6_input_finish', 'IP_NOPROTO');
    }
    this.counters.Ip6InDelivers++;
    this.counters.Icmp6InMsgs++;
    if (end - o < 4) {
      this.counters.Icmp6InErrors++;
      return this.drop(ifindex, f, meta, 'icmpv6_rcv', 'NOT_SPECIFIED');
    }
    if (icmp6Checksum(ip.src, ip.dst, f, o, end - o) !== 0) {
      this.counters.Icmp6InCsumErrors++;
      this.counters.Icmp6InErrors++;
      return this.drop(ifindex, f, meta, 'icmpv6_rcv', 'ICMP_CSUM');
    }
    const type = f[o]!;
    if (type === NDISC_NEIGHBOUR_SOLICITATION || type === NDISC_NEIGHBOUR_ADVERTISEMENT) {
      // ndisc_rcv's checks
      if (ip.hopLimit !== 255) return this.drop(ifindex, f, meta, 'icmpv6_rcv', 'IPV6_NDISC_HOP_LIMIT');
      if (f[o + 1] !== 0) return this.drop(ifindex, f, meta, 'icmpv6_rcv', 'IPV6_NDISC_BAD_CODE');
      if (end - o < 24) return this.drop(ifindex, f, meta, 'icmpv6_rcv', 'NOT_SPECIFIED');
    } else if (end - o < 8) {
      return;
    }
    if (type === ICMPV6_ECHO_REQUEST) {
      this.counters.Icmp6InEchos++;
      if (ip.dst >> 120n === 0xffn) return;
      this.counters.Icmp6OutMsgs++;
      this.counters.Icmp6OutEchoReplies++;
      const rest = ((f[o + 4]! << 24) | (f[o + 5]! << 16) | (f[o + 6]! << 8) | f[o + 7]!) >>> 0;
      try {
        this.send(ip.src, IPPROTO_ICMPV6, icmp6(ICMPV6_ECHO_REPLY, 0, rest, f.subarray(o + 8, end)), { src: ip.dst, ifindex: scopeOf6(ip.src) === 'link' ? ifindex : undefined });
      } catch {
        /* no route back */
      }
    } else if (type === ICMPV6_ECHO_REPLY) {
      this.counters.Icmp6InEchoReplies++;
      this.io.ping(rd16(f, o + 4), { kind: 'reply', code: 0, seq: rd16(f, o + 6), from: ip.src, ttl: ip.hopLimit, bytes: end - o });
    } else if (type === ICMPV6_DEST_UNREACH || type === ICMPV6_TIME_EXCEED || type === ICMPV6_PKT_TOOBIG) {
      if (type === ICMPV6_DEST_UNREACH) this.counters.Icmp6InDestUnreachs++;
      else if (type === ICMPV6_TIME_EXCEED) this.counters.Icmp6InTimeExcds++;
      else this.counters.Icmp6InPktTooBigs++;
      // the quoted packet: an echo of ours names the pinger
      const q = o + 8;
      if (end >= q + 48 && f[q + 6] === IPPROTO_ICMPV6 && f[q + 40] === ICMPV6_ECHO_REQUEST) {
        const kind = type === ICMPV6_DEST_UNREACH ? 'unreachable' : type === ICMPV6_TIME_EXCEED ? 'ttl' : 'toobig';
        // (a packet too big carries the MTU where the others have nothing)
        const code = type === ICMPV6_PKT_TOOBIG ? ((f[o + 4]! << 24) | (f[o + 5]! << 16) | (f[o + 6]! << 8) | f[o + 7]!) >>> 0 : f[o + 1]!;
        this.io.ping(rd16(f, q + 44), { kind, code, seq: rd16(f, q + 46), from: ip.src, ttl: ip.hopLimit, bytes: end - o });
      }
    } else if (type === NDISC_NEIGHBOUR_SOLICITATION) {
      this.counters.Icmp6InNeighborSolicits++;
      this.ndiscSolicit(ifindex, f, ip, o, end, meta);
    } else if (type === NDISC_NEIGHBOUR_ADVERTISEMENT) {
      this.counters.Icmp6InNeighborAdvertisements++;
      this.ndiscAdvert(ifindex, f, o, end);
    }
  }

  /**
   * udpv6_rcv: the length and the (mandatory) checksum, then the socket bound to the port
   * (and to the address or any, the device or any); none: port unreachable.
   */
  private udpRcv(ifindex: number, f: Uint8Array, ip: Ipv6Header, meta: RxMeta, o: number): void {
    const room = ip.off + 40 + ip.payloadLen - o;
    const len = room >= 8 ? rd16(f, o + 4) : 0;
    if (len < 8 || len > room) {
      this.counters.Udp6InErrors++;
      return this.drop(ifindex, f, meta, '__udp6_lib_rcv', 'PKT_TOO_SMALL');
    }
    // (a zero checksum: refused when a socket is found that does not take them, no_check6_rx off,
    // report_csum_error in __udp6_lib_rcv; without a socket the packet is NO_SOCKET, as this kernel has it)
    const zero = rd16(f, o + 6) === 0;
    if (!zero && l4Checksum6(ip.src, ip.dst, IPPROTO_UDP, f, o, len) !== 0) {
      this.counters.Udp6InCsumErrors++;
      this.counters.Udp6InErrors++;
      return this.drop(ifindex, f, meta, '__udp6_lib_rcv', 'UDP_CSUM');
    }
    const dport = rd16(f, o + 2);
    const s = this.udp.find(dport, ip.dst, ifindex);
    if (s && zero) {
      this.counters.Udp6InCsumErrors++;
      this.counters.Udp6InErrors++;
      return this.drop(ifindex, f, meta, '__udp6_lib_rcv', 'UDP_CSUM');
    }
    if (!s) {
      this.counters.Udp6NoPorts++;
      if (ip.dst >> 120n !== 0xffn) this.icmpError(f, ip, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0);
      return this.drop(ifindex, f, meta, '__udp6_lib_rcv', 'NO_SOCKET');
    }
    if (s.queue.length >= UDP_RCVBUF) {
      this.counters.Udp6RcvbufErrors++;
      return this.drop(ifindex, f, meta, 'udpv6_queue_rcv_one_skb', 'SOCKET_RCVBUFF');
    }
    this.counters.Udp6InDatagrams++;
    s.queue.push({ src: ip.src, sport: rd16(f, o), dst: ip.dst, dport, data: f.slice(o + 8, o + len), ifindex: meta.ifindex, mark: meta.mark });
  }

  /** @internal Udp6Socket.send: sendto() on an IPv6 UDP socket. */
  sendUdp(s: Udp6Socket, dst: bigint, dport: number, data: Uint8Array, meta: FrameMeta): void {
    if (s.closed) fail('EBADF');
    if (!Number.isInteger(dport) || dport < 0 || dport > 65535) fail('EINVAL');
    const m = new Uint8Array(8 + data.length);
    m[0] = s.port >>> 8; m[1] = s.port & 255; m[2] = dport >>> 8; m[3] = dport & 255;
    m[4] = m.length >>> 8; m[5] = m.length & 255;
    m.set(data, 8);
    this.counters.Udp6OutDatagrams++;
    this.send(dst, IPPROTO_UDP, m, { src: s.addr || undefined, meta, ifindex: s.ifindex || undefined });
  }

  /** The link-layer address option of type `type` (1 source, 2 target) in an ND message. */
  private llOption(f: Uint8Array, from: number, end: number, type: number): Uint8Array | null {
    for (let p = from; p + 8 <= end && f[p + 1]! > 0; p += f[p + 1]! * 8) if (f[p] === type) return f.slice(p + 2, p + 8);
    return null;
  }

  /** ndisc_recv_ns: for an address of ours on the device, the sender is learnt (STALE) and told our MAC (NA, solicited, override). */
  private ndiscSolicit(ifindex: number, f: Uint8Array, ip: Ipv6Header, o: number, end: number, meta: RxMeta): void {
    const l = this.io.link(ifindex);
    const target = readIp6(f, o + 8);
    if (!l || l.noarp) return;
    if (target >> 120n === 0xffn) return this.drop(ifindex, f, meta, 'icmpv6_rcv', 'NOT_SPECIFIED');
    if (!this.conf.addresses(ifindex).some((a) => a.addr === target)) return this.drop(ifindex, f, meta, 'icmpv6_rcv', 'IPV6_NDISC_NS_OTHERHOST');
    const sll = this.llOption(f, o + 24, end, 1);
    if (ip.src === 0n) return; // (DAD from another host: nkemu's addresses never collide)
    if (sll) this.learn(ifindex, ip.src, sll, 'STALE', false);
    // (flags router, solicited, override; the target, then the target link-layer address option)
    const flags = ((this.deviceForwarding(ifindex) ? 0x80 : 0) | 0x40 | 0x20) << 24;
    const body = new Uint8Array(24);
    body.set(ip6Bytes(target), 0);
    body[16] = 2; body[17] = 1; body.set(l.mac, 18);
    this.counters.Icmp6OutMsgs++;
    this.counters.Icmp6OutNeighborAdvertisements++;
    const na = buildIpv6({ src: target, dst: ip.src, next: IPPROTO_ICMPV6, hopLimit: 255 }, icmp6(NDISC_NEIGHBOUR_ADVERTISEMENT, 0, flags >>> 0, body));
    na.set(sll ?? multicastMac(ALL_NODES), 0);
    na.set(l.mac, 6);
    this.io.xmit(ifindex, na, { protocol: ETH_P_IPV6 });
  }

  /** ndisc_recv_na: an entry being resolved becomes REACHABLE and its frames go out. */
  private ndiscAdvert(ifindex: number, f: Uint8Array, o: number, end: number): void {
    const target = readIp6(f, o + 8);
    const tll = this.llOption(f, o + 24, end, 2);
    const n = this.neigh.get(`${ifindex}/${target}`);
    if (!n || !tll) return;
    this.learn(ifindex, target, tll, (f[o + 4]! & 0x40) !== 0 ? 'REACHABLE' : 'STALE', (f[o + 4]! & 0x80) !== 0);
  }

  private learn(ifindex: number, dst: bigint, lladdr: Uint8Array, state: NeighState, router: boolean): void {
    const key = `${ifindex}/${dst}`;
    const n = this.neigh.get(key) ?? { ifindex, dst, lladdr: null, state, router, queue: [], probes: 0 };
    if (n.state === 'PERMANENT') return;
    n.lladdr = lladdr;
    n.state = state;
    n.router = router;
    this.neigh.set(key, n);
    this.io.changed();
    for (const q of n.queue.splice(0)) {
      q.frame.set(lladdr, 0);
      this.io.xmit(ifindex, q.frame, { ...q.meta, protocol: ETH_P_IPV6, buffer: undefined });
    }
  }

  /**
   * icmp6_send: an error quoting as much of the packet as fits in the minimum MTU, never
   * about an ICMPv6 error, a multicast destination (but packet too big) or an unspecified
   * or multicast source.
   */
  private icmpError(f: Uint8Array, ip: Ipv6Header, type: number, code: number, info: number): void {
    if (ip.next === IPPROTO_ICMPV6 && f[ip.off + 40]! < 128) return;
    if (type === ICMPV6_PARAMPROB) this.counters.Icmp6OutParmProblems++;
    if ((ip.dst >> 120n === 0xffn && type !== ICMPV6_PKT_TOOBIG) || ip.src === 0n || ip.src >> 120n === 0xffn) return;
    const quoted = f.slice(ip.off, Math.min(ip.off + 40 + ip.payloadLen, ip.off + IPV6_MIN_MTU - 48));
    this.counters.Icmp6OutMsgs++;
    if (type === ICMPV6_DEST_UNREACH) this.counters.Icmp6OutDestUnreachs++;
    else if (type === ICMPV6_TIME_EXCEED) this.counters.Icmp6OutTimeExcds++;
    else if (type === ICMPV6_PKT_TOOBIG) this.counters.Icmp6OutPktTooBigs++;
    try {
      this.send(ip.src, IPPROTO_ICMPV6, icmp6(type, code, info, quoted), { hopLimit: 64 });
    } catch {
      /* no route back to the sender */
    }
  }
}

export { formatIp6 };
