/**
 * A namespace's minimal IPv4 stack (slow path, TypeScript): addresses, the main routing
 * table with longest-prefix match, forwarding between the namespace's devices, ARP on
 * devices without NOARP (netkit L2, NICs), ICMP echo and errors, and UDP sockets.
 * Enough for the kernel's netkit selftests (ping across a pair) and the seed scripts.
 *
 * Frames leave through `io.xmit` (the emulator batches them onto device tx rings) and
 * arrive through `receive`. Local destinations are delivered through an internal
 * loopback queue, drained iteratively so replies never recurse.
 */

import { fail } from '../../errors.js';
import type { FrameMeta, RxMeta } from '../types.js';
import {
  ARPOP_REPLY, ARPOP_REQUEST, BROADCAST_MAC, ETH_HLEN, ETH_P_ARP, ETH_P_IP, ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY,
  ICMP_HOST_UNREACH, ICMP_PKT_FILTERED, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED, IPPROTO_ICMP, IPPROTO_UDP, buildArp, buildIcmp, buildIpv4,
  buildUdp, checksum, decTtl, formatIp, maskOf, parseArp, parseIpv4, rd16, udpChecksumOk, type Ipv4Header,
} from './packet.js';
import { RouteTable, type Route, type RouteScope, type RouteType } from './route.js';
import type { NeighState } from './packet.js';
import { Addrconf } from './addrconf.js';
import { ETH_P_IPV6, Ipv6 } from './ipv6.js';
import type { Udp6Socket } from './udp6.js';

/** What the stack knows of a device (the emulator answers from its device table). */
export interface StackLink {
  ifindex: number;
  name: string;
  mac: Uint8Array;
  /** Administratively up with carrier (loopback: up). */
  up: boolean;
  noarp: boolean;
  mtu: number;
  loopback?: boolean;
}

export interface StackIo {
  links(): StackLink[];
  xmit(ifindex: number, frame: Uint8Array, meta: FrameMeta): void;
  nowNs(): bigint;
  /** The tables changed (addresses, routes, neighbours, forwarding): the dataplane's copy, bpf_fib_lookup's, is rebuilt. */
  changed?(): void;
  /** The stack dropped a packet (kfree_skb_reason): the kernel function and SKB_DROP_REASON_* name, for the trace. */
  drop?(d: { ifindex: number; len: number; mark: number; where: string; reason: string }): void;
}

export interface StackOptions {
  io: StackIo;
  /** net.ipv4.ip_forward. Default false, as in a new namespace. */
  forwarding?: boolean;
  /** Default TTL (net.ipv4.ip_default_ttl). Default 64. */
  ttl?: number;
}

export interface Address {
  ifindex: number;
  local: number;
  prefixLen: number;
  broadcast: number;
  /** Secondary: a later address in a subnet another address already covers. */
  secondary: boolean;
}

export type { NeighState } from './packet.js';

export interface Neighbour {
  ifindex: number;
  dst: number;
  lladdr: Uint8Array | null;
  state: NeighState;
  /** Frames waiting for resolution (arp_queue; unres_qlen). */
  queue: { frame: Uint8Array; meta: FrameMeta }[];
  probes: number;
  updatedNs: bigint;
}

/** A datagram a UDP socket received. */
export interface Datagram {
  src: number;
  sport: number;
  dst: number;
  dport: number;
  data: Uint8Array;
  ifindex: number;
  /** skb->queue_mapping of the frame that carried it. */
  queue: number;
  mark: number;
  /** Shared-memory address the frame's data was received at. */
  addr: number;
}

/** SNMP counters (/proc/net/snmp names). */
export interface StackCounters {
  ip: { InReceives: number; InHdrErrors: number; InAddrErrors: number; ForwDatagrams: number; InDelivers: number; OutRequests: number; OutNoRoutes: number; InDiscards: number; OutDiscards: number };
  icmp: { InMsgs: number; InEchos: number; InEchoReps: number; InDestUnreachs: number; InTimeExcds: number; OutMsgs: number; OutEchos: number; OutEchoReps: number; OutDestUnreachs: number; OutTimeExcds: number };
  udp: { InDatagrams: number; NoPorts: number; InErrors: number; OutDatagrams: number; RcvbufErrors: number };
  arp: { InRequests: number; InReplies: number; OutRequests: number; OutReplies: number; ResolveFailed: number; UnresolvedDiscards: number };
  /** Frames the stack ignored: not for this host (PACKET_OTHERHOST), unknown EtherType. */
  other: { OtherHost: number; UnknownProto: number };
}

/** An ICMP event a pinger sees: echo reply, or an error quoting its echo. */
export interface PingEvent {
  kind: 'reply' | 'unreachable' | 'ttl' | 'toobig';
  /** The ICMP code of an error (unreachable: net 0, host 1, port 3, administratively filtered 13). */
  code?: number;
  seq: number;
  from: number;
  /** The sender of an ICMPv6 reply or error (then `from` is 0). */
  from6?: bigint;
  ttl: number;
  bytes: number;
  atNs: bigint;
}

const UNRES_QLEN = 101;
const ARP_PROBES = 3;
const UDP_RCVBUF = 4096;
const EPHEMERAL_LO = 32768;
const EPHEMERAL_HI = 60999;

export class UdpSocket {
  readonly port: number;
  readonly addr: number;
  readonly ifindex: number;
  private readonly stack: Stack;
  readonly queue: Datagram[] = [];
  closed = false;

  /** @internal */
  constructor(stack: Stack, port: number, addr: number, ifindex: number) {
    this.stack = stack;
    this.port = port;
    this.addr = addr;
    this.ifindex = ifindex;
  }

  /** Takes every datagram received so far. */
  recv(): Datagram[] {
    return this.queue.splice(0);
  }

  /** sendto(): one datagram to `dst:dport` (routes; ENETUNREACH without one). */
  send(dst: number, dport: number, data: Uint8Array, meta: FrameMeta = {}): void {
    this.stack.sendUdp(this, dst, dport, data, meta);
  }

  close(): void {
    if (!this.closed) this.stack.unbind(this);
    this.closed = true;
  }
}

export class Stack {
  private readonly io: StackIo;
  private fwd: boolean;
  ttl: number;
  private addrs: Address[] = [];
  readonly routes = new RouteTable();
  private readonly neigh = new Map<string, Neighbour>();
  private readonly sockets = new Map<number, UdpSocket[]>();
  private readonly pingers = new Map<number, (e: PingEvent) => void>();
  private readonly loop: { frame: Uint8Array; meta: RxMeta }[] = [];
  private looping = false;
  private ipId = 1;
  private nextPort = EPHEMERAL_LO;
  private nextPingId = 1;
  readonly counters: StackCounters = {
    ip: { InReceives: 0, InHdrErrors: 0, InAddrErrors: 0, ForwDatagrams: 0, InDelivers: 0, OutRequests: 0, OutNoRoutes: 0, InDiscards: 0, OutDiscards: 0 },
    icmp: { InMsgs: 0, InEchos: 0, InEchoReps: 0, InDestUnreachs: 0, InTimeExcds: 0, OutMsgs: 0, OutEchos: 0, OutEchoReps: 0, OutDestUnreachs: 0, OutTimeExcds: 0 },
    udp: { InDatagrams: 0, NoPorts: 0, InErrors: 0, OutDatagrams: 0, RcvbufErrors: 0 },
    arp: { InRequests: 0, InReplies: 0, OutRequests: 0, OutReplies: 0, ResolveFailed: 0, UnresolvedDiscards: 0 },
    other: { OtherHost: 0, UnknownProto: 0 },
  };

  /** IPv6: addresses, the main table (addrconf.ts). */
  readonly inet6: Addrconf;
  /** IPv6: the packet path (ipv6.ts). */
  readonly ip6: Ipv6;

  constructor(o: StackOptions) {
    this.io = o.io;
    // (an IPv6 change republishes bpf_fib_lookup's copy of the tables, as an IPv4 one does)
    this.inet6 = new Addrconf({ link: (i) => this.link(i), nowNs: () => this.io.nowNs(), changed: () => this.changed() });
    this.ip6 = new Ipv6({
      link: (i) => this.link(i),
      xmit: (i, frame, meta) => this.io.xmit(i, frame, meta),
      loop: (frame, meta) => {
        this.loop.push({ frame, meta: rxMeta(1, { ...meta, buffer: undefined, protocol: ETH_P_IPV6 }) });
        this.drainLoop();
      },
      nowNs: () => this.io.nowNs(),
      changed: () => this.changed(),
      ping: (id, e) => this.pingers.get(id)?.({ ...e, from: 0, from6: e.from, atNs: this.io.nowNs() }),
      drop: (d) => this.io.drop?.(d),
    }, this.inet6);
    this.fwd = o.forwarding ?? false;
    this.ttl = o.ttl ?? 64;
  }

  /** net.ipv4.ip_forward (and conf.all.forwarding, which sets every device's). */
  get forwarding(): boolean {
    return this.fwd;
  }

  set forwarding(on: boolean) {
    if (on === this.fwd) return;
    this.fwd = on;
    this.changed();
  }

  private changed(): void {
    this.io.changed?.();
  }

  private link(ifindex: number): StackLink | undefined {
    return this.io.links().find((l) => l.ifindex === ifindex);
  }

  // ---- addresses ------------------------------------------------------------------

  /** `ip addr add ADDR/LEN dev DEV` (EEXIST when present on the device). */
  addAddress(ifindex: number, local: number, prefixLen: number, broadcast?: number): Address {
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) fail('EINVAL', 'Invalid prefix length');
    const l = this.link(ifindex);
    if (!l) fail('ENODEV');
    if (this.addrs.some((a) => a.ifindex === ifindex && a.local === local && a.prefixLen === prefixLen)) fail('EEXIST', 'ipv4: Address already assigned');
    const mask = maskOf(prefixLen);
    const secondary = this.addrs.some((a) => a.ifindex === ifindex && a.prefixLen === prefixLen && ((a.local & mask) >>> 0) === ((local & mask) >>> 0));
    const a: Address = { ifindex, local, prefixLen, broadcast: broadcast ?? 0, secondary };
    this.addrs.push(a);
    if (l.up) this.addPrefixRoute(a);
    this.changed();
    return a;
  }

  /**
   * `ip addr del` (EADDRNOTAVAIL when absent); its prefix route goes with it. A primary
   * takes its subnet's secondaries along (__inet_del_ifa without promote_secondaries, the
   * default).
   */
  delAddress(ifindex: number, local: number, prefixLen?: number): void {
    const a = this.addrs.find((x) => x.ifindex === ifindex && x.local === local && (prefixLen === undefined || x.prefixLen === prefixLen));
    if (!a) fail('EADDRNOTAVAIL', 'ipv4: Address not found');
    const mask = maskOf(a.prefixLen);
    const gone = (x: Address): boolean => x === a
      || (!a.secondary && x.secondary && x.ifindex === ifindex && x.prefixLen === a.prefixLen && ((x.local ^ a.local) & mask) === 0);
    this.addrs = this.addrs.filter((x) => !gone(x));
    const r = this.routes.list().find((x) => x.proto === 'kernel' && x.ifindex === ifindex && x.src === a.local);
    if (r) this.routes.remove(r);
    // The device's last address gone: IP is off on it, and every route through it goes
    // (fib_inetaddr_event's fib_disable_ip).
    if (!this.addrs.some((x) => x.ifindex === ifindex)) for (const x of this.routes.list().filter((y) => y.ifindex === ifindex)) this.routes.remove(x);
    this.changed();
  }

  addresses(ifindex?: number): readonly Address[] {
    return ifindex === undefined ? this.addrs : this.addrs.filter((a) => a.ifindex === ifindex);
  }

  private isLocal(addr: number): boolean {
    return (addr >>> 24) === 127 || this.addrs.some((a) => a.local === addr);
  }

  private isBroadcast(addr: number): boolean {
    return addr === 0xffffffff || this.addrs.some((a) => a.prefixLen < 31 && (a.broadcast === addr || ((a.local | ~maskOf(a.prefixLen)) >>> 0) === addr));
  }

  private addPrefixRoute(a: Address): void {
    const l = this.link(a.ifindex);
    if (a.secondary || a.prefixLen === 32 || l?.loopback) return;
    const dst = (a.local & maskOf(a.prefixLen)) >>> 0;
    if (this.routes.list().some((r) => r.dst === dst && r.prefixLen === a.prefixLen && r.ifindex === a.ifindex && r.proto === 'kernel')) return;
    this.routes.add({ dst, prefixLen: a.prefixLen, ifindex: a.ifindex, via: 0, src: a.local, metric: 0, proto: 'kernel', scope: 'link' });
  }

  // ---- routes ---------------------------------------------------------------------

  /**
   * `ip route add`: a gateway must be reachable through a connected route (ENETUNREACH,
   * "Nexthop has invalid gateway"), the device must be up (ENETDOWN), the route new (EEXIST).
   * A blackhole, unreachable or prohibit route takes neither a gateway nor a device (EINVAL).
   */
  addRoute(r: { dst: number; prefixLen: number; via?: number; ifindex?: number; src?: number; metric?: number; scope?: RouteScope; type?: RouteType }): Route {
    if (!Number.isInteger(r.prefixLen) || r.prefixLen < 0 || r.prefixLen > 32) fail('EINVAL', 'Invalid prefix length');
    const dst = (r.dst & maskOf(r.prefixLen)) >>> 0;
    if (dst !== r.dst >>> 0) fail('EINVAL', 'Invalid prefix for given prefix length');
    const metric = r.metric ?? 0;
    if (r.type && r.type !== 'unicast') {
      if (r.via || r.ifindex) fail('EINVAL', 'Gateway, device and multipath can not be specified for this route type');
      if (r.src && !this.isLocal(r.src)) fail('EINVAL', 'Invalid prefsrc address');
      if (this.routes.find(dst, r.prefixLen, metric)) fail('EEXIST');
      const route: Route = { dst, prefixLen: r.prefixLen, ifindex: 0, via: 0, src: r.src ?? 0, metric, proto: 'boot', scope: 'global', type: r.type };
      this.routes.add(route);
      this.changed();
      return route;
    }
    let ifindex = r.ifindex ?? 0;
    const via = r.via ?? 0;
    if (via) {
      const nh = this.routes.lookup(via);
      if (!nh || nh.via !== 0 || !nh.ifindex || (ifindex && nh.ifindex !== ifindex)) fail('ENETUNREACH', 'Nexthop has invalid gateway');
      ifindex = nh.ifindex;
    } else if (!ifindex) {
      fail('EINVAL', 'Device only route without a gateway or device');
    }
    const l = this.link(ifindex);
    if (!l) fail('ENODEV', 'Nexthop device is not found');
    if (!l.up) fail('ENETDOWN', 'Nexthop device is not up');
    if (r.src && !this.isLocal(r.src)) fail('EINVAL', 'Invalid prefsrc address');
    if (this.routes.find(dst, r.prefixLen, metric)) fail('EEXIST');
    const route: Route = { dst, prefixLen: r.prefixLen, ifindex, via, src: r.src ?? 0, metric, proto: 'boot', scope: r.scope ?? (via ? 'global' : 'link') };
    this.routes.add(route);
    this.changed();
    return route;
  }

  /** `ip route del` (ESRCH when no such route; a type, when given, must be the route's). */
  delRoute(r: { dst: number; prefixLen: number; metric?: number; ifindex?: number; type?: RouteType }): void {
    const found = this.routes.list().find((x) => x.dst === r.dst >>> 0 && x.prefixLen === r.prefixLen && (r.metric === undefined || x.metric === r.metric)
      && (!r.ifindex || x.ifindex === r.ifindex) && (r.type === undefined || (x.type ?? 'unicast') === r.type));
    if (!found) fail('ESRCH');
    this.routes.remove(found);
    this.changed();
  }

  /** The route a packet to `dst` takes, or undefined (ENETUNREACH for senders). */
  lookup(dst: number): Route | undefined {
    return this.routes.lookup(dst);
  }

  /** inet_select_addr: the route's preferred source, else a primary address on the device, else any (0 when none). */
  prefSource(r: Route): number {
    if (r.src) return r.src;
    const onDev = this.addrs.filter((a) => a.ifindex === r.ifindex && !a.secondary);
    const nh = r.via || 0;
    const match = onDev.find((a) => nh && ((a.local ^ nh) & maskOf(a.prefixLen)) === 0) ?? onDev[0];
    if (match) return match.local;
    const any = this.addrs.find((a) => (a.local >>> 24) !== 127);
    return any?.local ?? 0;
  }

  // ---- links ----------------------------------------------------------------------

  /** NETDEV_UP: connected routes of the device's addresses come back. */
  linkUp(ifindex: number): void {
    // inetdev_event(NETDEV_UP) on a loopback device configures 127.0.0.1/8.
    const l = this.link(ifindex);
    if (l?.loopback && !this.addrs.some((a) => a.ifindex === ifindex && a.local === 0x7f000001)) {
      this.addrs.unshift({ ifindex, local: 0x7f000001, prefixLen: 8, broadcast: 0, secondary: false });
    }
    for (const a of this.addrs) if (a.ifindex === ifindex) this.addPrefixRoute(a);
    this.inet6.linkUp(ifindex);
    this.changed();
  }

  /** NETDEV_DOWN: routes through the device and its neighbours go. */
  linkDown(ifindex: number): void {
    this.routes.flushDev(ifindex);
    for (const [k, n] of this.neigh) if (n.ifindex === ifindex) {
      this.counters.arp.UnresolvedDiscards += n.queue.length;
      this.neigh.delete(k);
    }
    this.inet6.linkDown(ifindex);
    this.ip6.linkDown(ifindex);
    this.changed();
  }

  /** NETDEV_UNREGISTER (or moved away): everything about the device goes. */
  forgetLink(ifindex: number): void {
    this.linkDown(ifindex);
    this.addrs = this.addrs.filter((a) => a.ifindex !== ifindex);
    this.inet6.forgetLink(ifindex);
    this.ip6.udp.forgetLink(ifindex);
    for (const list of this.sockets.values()) for (const s of list) if (s.ifindex === ifindex) s.close();
    this.changed();
  }

  // ---- neighbours -----------------------------------------------------------------

  neighbours(): readonly Neighbour[] {
    return [...this.neigh.values()];
  }

  /**
   * RTM_NEWNEIGH (`ip neigh add|replace`): an entry for `dst` on the device, PERMANENT
   * unless `state` says otherwise. `add` refuses an existing entry (EEXIST). Without a
   * link-layer address (__neigh_update) an entry that had a valid one keeps it; otherwise
   * EINVAL with the kernel's extack, whatever the state (every device here has a 6-byte
   * address; only an address-less device takes NOARP without one).
   */
  addNeighbour(ifindex: number, dst: number, lladdr: Uint8Array | null, o: { state?: NeighState; replace?: boolean } = {}): void {
    const state = o.state ?? 'PERMANENT';
    const key = `${ifindex}/${dst}`;
    const old = this.neigh.get(key);
    if (old && !o.replace) fail('EEXIST');
    const oldValid = old?.lladdr && (old.state === 'PERMANENT' || old.state === 'NOARP' || old.state === 'REACHABLE' || old.state === 'STALE');
    if (lladdr === null && !oldValid) fail('EINVAL', 'No link layer address given');
    lladdr ??= old!.lladdr;
    const n: Neighbour = { ifindex, dst, lladdr, state, queue: old?.queue ?? [], probes: 0, updatedNs: this.io.nowNs() };
    this.neigh.set(key, n);
    this.changed();
    // frames that waited for this address go now
    if (lladdr !== null && n.queue.length) {
      const queued = n.queue.splice(0);
      for (const q of queued) this.output(ifindex, dst, q.frame, q.meta);
    }
  }

  /** RTM_DELNEIGH (`ip neigh del`): ENOENT when there is none. */
  delNeighbour(ifindex: number, dst: number): void {
    const key = `${ifindex}/${dst}`;
    if (!this.neigh.delete(key)) fail('ENOENT');
    this.changed();
  }

  /** `ip neigh flush [dev]`: every entry but the PERMANENT and NOARP ones (iproute2 leaves those). */
  flushNeighbours(ifindex?: number): void {
    for (const [k, n] of this.neigh) {
      if ((ifindex === undefined || n.ifindex === ifindex) && n.state !== 'PERMANENT' && n.state !== 'NOARP') this.neigh.delete(k);
    }
    this.changed();
  }

  /**
   * Timers: an unanswered ARP request is retried (up to 3 probes), then the entry fails
   * and its queued frames are discarded with ICMP host unreachable to their senders.
   */
  tick(): void {
    this.ip6.tick();
    for (const [k, n] of this.neigh) {
      if (n.state !== 'INCOMPLETE') continue;
      if (n.probes < ARP_PROBES) {
        this.sendArpRequest(n);
        continue;
      }
      n.state = 'FAILED';
      this.counters.arp.ResolveFailed++;
      const queued = n.queue.splice(0);
      this.counters.arp.UnresolvedDiscards += queued.length;
      for (const q of queued) {
        const ip = parseIpv4(q.frame);
        if (typeof ip !== 'string') this.icmpError(q.frame, ip, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH);
      }
      this.neigh.delete(k);
    }
    this.drainLoop();
  }

  /** Whether any neighbour is still being resolved (the emulator keeps its timers running). */
  get resolving(): boolean {
    for (const n of this.neigh.values()) if (n.state === 'INCOMPLETE') return true;
    return this.ip6.resolving;
  }

  private sendArpRequest(n: Neighbour): void {
    const l = this.link(n.ifindex);
    if (!l) return;
    const spa = this.addrs.find((a) => a.ifindex === n.ifindex && ((a.local ^ n.dst) & maskOf(a.prefixLen)) === 0)?.local
      ?? this.addrs.find((a) => a.ifindex === n.ifindex)?.local ?? 0;
    n.probes++;
    this.counters.arp.OutRequests++;
    this.io.xmit(n.ifindex, buildArp(BROADCAST_MAC, { op: ARPOP_REQUEST, sha: l.mac, spa, tha: new Uint8Array(6), tpa: n.dst }), { protocol: ETH_P_ARP });
  }

  /** neigh_output: NOARP devices use their own address; others resolve with ARP first. */
  private output(ifindex: number, nexthop: number, frame: Uint8Array, meta: FrameMeta): void {
    const l = this.link(ifindex);
    if (!l || !l.up) {
      this.counters.ip.OutDiscards++;
      return;
    }
    if (l.loopback) {
      this.loop.push({ frame, meta: rxMeta(ifindex, { ...meta, buffer: undefined }) });
      return;
    }
    frame.set(l.mac, 6);
    const send = (dst: Uint8Array): void => {
      frame.set(dst, 0);
      if (meta.buffer !== undefined) this.kept = true;
      this.io.xmit(ifindex, frame, meta);
    };
    if (l.noarp) return send(l.mac);
    if (this.isBroadcast(nexthop)) return send(BROADCAST_MAC);
    const key = `${ifindex}/${nexthop}`;
    let n = this.neigh.get(key);
    if (n && (n.state === 'REACHABLE' || n.state === 'STALE' || n.state === 'PERMANENT' || n.state === 'NOARP') && n.lladdr) return send(n.lladdr);
    // Waiting for ARP: the frame is kept as a copy, its buffer goes back.
    meta = { ...meta, buffer: undefined };
    if (!n) {
      n = { ifindex, dst: nexthop, lladdr: null, state: 'INCOMPLETE', queue: [], probes: 0, updatedNs: this.io.nowNs() };
      this.neigh.set(key, n);
      this.sendArpRequest(n);
    }
    if (n.queue.length >= UNRES_QLEN) {
      n.queue.shift();
      this.counters.arp.UnresolvedDiscards++;
    }
    n.queue.push({ frame, meta });
  }

  // ---- sending --------------------------------------------------------------------

  /**
   * ip_queue_xmit: routes `payload` to `dst` and sends it (ENETUNREACH without a route).
   * Local destinations loop back. Returns the source address used.
   */
  sendIp(dst: number, proto: number, payload: Uint8Array, o: { src?: number; ttl?: number; tos?: number; meta?: FrameMeta; ifindex?: number } = {}): number {
    let r: Route | undefined;
    let local = false;
    if (this.isLocal(dst)) {
      local = true;
    } else {
      r = this.routes.lookup(dst);
      if (o.ifindex && (!r || r.ifindex !== o.ifindex)) {
        // SO_BINDTODEVICE / ping -I: only routes through that device, else on-link.
        const dev = o.ifindex;
        r = this.routes.list().find((x) => x.ifindex === dev && ((dst & maskOf(x.prefixLen)) >>> 0) === x.dst)
          ?? { dst, prefixLen: 32, ifindex: dev, via: 0, src: 0, metric: 0, proto: 'boot', scope: 'link' };
      }
      if (!r) {
        this.counters.ip.OutNoRoutes++;
        fail('ENETUNREACH');
      }
      // (ip_route_output_key's answer for the error route types)
      if (r.type === 'blackhole') fail('EINVAL');
      if (r.type === 'unreachable') {
        this.counters.ip.OutNoRoutes++;
        fail('EHOSTUNREACH');
      }
      if (r.type === 'prohibit') fail('EACCES');
    }
    const src = o.src ?? (local ? dst : this.prefSource(r!));
    const meta: FrameMeta = { ...o.meta, protocol: ETH_P_IP };
    const frame = buildIpv4(new Uint8Array(6), new Uint8Array(6), { src, dst, proto, ttl: o.ttl ?? this.ttl, tos: o.tos, id: this.ipId++ & 0xffff }, payload);
    this.counters.ip.OutRequests++;
    if (local) {
      this.loop.push({ frame, meta: rxMeta(1, meta) });
      this.drainLoop();
    } else {
      this.output(r!.ifindex, r!.via || dst, frame, meta);
    }
    return src;
  }

  /** @internal UdpSocket.send */
  sendUdp(s: UdpSocket, dst: number, dport: number, data: Uint8Array, meta: FrameMeta): void {
    if (s.closed) fail('EBADF');
    const r = this.isLocal(dst) ? undefined : this.routes.lookup(dst);
    const src = s.addr || (this.isLocal(dst) ? dst : r ? this.prefSource(r) : 0);
    this.counters.udp.OutDatagrams++;
    this.sendIp(dst, IPPROTO_UDP, buildUdp(src, dst, s.port, dport, data), { src, meta, ifindex: s.ifindex || undefined });
  }

  /** An ICMP echo request (ping); replies and errors for `id` go to `onEvent`. */
  echo(dst: number, id: number, seq: number, data: Uint8Array, o: { ttl?: number; tos?: number; meta?: FrameMeta; ifindex?: number } = {}): void {
    this.counters.icmp.OutMsgs++;
    this.counters.icmp.OutEchos++;
    this.sendIp(dst, IPPROTO_ICMP, buildIcmp(ICMP_ECHO, 0, ((id & 0xffff) << 16) | (seq & 0xffff), data), o);
  }

  /** Registers a pinger; returns its ICMP identifier and a function that unregisters it. */
  openPing(onEvent: (e: PingEvent) => void): { id: number; close: () => void } {
    const id = this.nextPingId++ & 0xffff;
    this.pingers.set(id, onEvent);
    return { id, close: () => this.pingers.delete(id) };
  }

  /** bind(): a UDP socket on `port` (0 = ephemeral), optionally an address and a device. */
  udpBind(o: { port?: number; addr?: number; ifindex?: number } = {}): UdpSocket {
    let port = o.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail('EINVAL');
    const addr = o.addr ?? 0;
    if (addr && !this.isLocal(addr)) fail('EADDRNOTAVAIL');
    if (port === 0) {
      for (let i = 0; i <= EPHEMERAL_HI - EPHEMERAL_LO; i++) {
        const p = this.nextPort;
        this.nextPort = p >= EPHEMERAL_HI ? EPHEMERAL_LO : p + 1;
        if (!this.sockets.has(p)) { port = p; break; }
      }
      if (port === 0) fail('EADDRINUSE');
    }
    const list = this.sockets.get(port) ?? [];
    if (list.some((s) => s.addr === 0 || addr === 0 || s.addr === addr)) fail('EADDRINUSE');
    const s = new UdpSocket(this, port, addr, o.ifindex ?? 0);
    list.push(s);
    this.sockets.set(port, list);
    return s;
  }

  /**
   * bind() on an IPv6 UDP socket (IPV6_V6ONLY): `port` (0 = ephemeral), optionally an
   * address of the namespace (EADDRNOTAVAIL otherwise) and a device.
   */
  udp6Bind(o: { port?: number; addr?: bigint; ifindex?: number } = {}): Udp6Socket {
    return this.ip6.udp.bind(o);
  }

  /** @internal */
  unbind(s: UdpSocket): void {
    const list = (this.sockets.get(s.port) ?? []).filter((x) => x !== s);
    if (list.length) this.sockets.set(s.port, list);
    else this.sockets.delete(s.port);
  }

  // ---- receiving ------------------------------------------------------------------

  /**
   * A frame a device delivered to this namespace (netif_receive_skb → the protocol
   * handlers). Returns true when the frame's buffer was forwarded as is (zero-copy):
   * the caller must not free it.
   */
  receive(ifindex: number, frame: Uint8Array, meta: RxMeta): boolean {
    this.kept = false;
    this.rx(ifindex, frame, meta);
    this.drainLoop();
    return this.kept;
  }
  /** Set when the frame being received was sent on from its own buffer. */
  private kept = false;

  private drainLoop(): void {
    if (this.looping) return;
    this.looping = true;
    try {
      for (let item = this.loop.shift(); item; item = this.loop.shift()) {
        if (item.meta.protocol === ETH_P_IPV6) this.ip6.rcv(item.meta.ifindex, item.frame, item.meta, true);
        else this.ipRcv(item.meta.ifindex, item.frame, item.meta, true);
      }
    } finally {
      this.looping = false;
    }
  }

  private rx(ifindex: number, f: Uint8Array, meta: RxMeta): void {
    const proto = f.length >= ETH_HLEN ? rd16(f, 12) : 0;
    if (proto === ETH_P_ARP) this.arpRcv(ifindex, f);
    else if (proto === ETH_P_IP) this.ipRcv(ifindex, f, meta, false);
    else if (proto === ETH_P_IPV6) this.ip6.rcv(ifindex, f, meta, false);
    else this.counters.other.UnknownProto++;
  }

  private arpRcv(ifindex: number, f: Uint8Array): void {
    const l = this.link(ifindex);
    const a = parseArp(f);
    if (!l || !a || l.noarp) return;
    // Learn (or refresh) the sender when we have an entry or the request is for us.
    const forUs = this.isLocal(a.tpa) && (a.tpa >>> 24) !== 127;
    const key = `${ifindex}/${a.spa}`;
    const n = this.neigh.get(key);
    if (n || (forUs && a.op === ARPOP_REQUEST)) {
      const entry = n ?? { ifindex, dst: a.spa, lladdr: null, state: 'INCOMPLETE' as NeighState, queue: [], probes: 0, updatedNs: 0n };
      // (usable now, or with another address: the FIB's copy changes)
      const news = entry.state !== 'REACHABLE' || !entry.lladdr || entry.lladdr.some((b, i) => b !== a.sha[i]);
      entry.lladdr = a.sha;
      entry.state = 'REACHABLE';
      entry.updatedNs = this.io.nowNs();
      this.neigh.set(key, entry);
      if (news) this.changed();
      for (const q of entry.queue.splice(0)) {
        q.frame.set(a.sha, 0);
        this.io.xmit(ifindex, q.frame, q.meta);
      }
    }
    if (a.op === ARPOP_REQUEST) {
      this.counters.arp.InRequests++;
      if (!forUs) return;
      this.counters.arp.OutReplies++;
      this.io.xmit(ifindex, buildArp(a.sha, { op: ARPOP_REPLY, sha: l.mac, spa: a.tpa, tha: a.sha, tpa: a.spa }), { protocol: ETH_P_ARP });
    } else if (a.op === ARPOP_REPLY) {
      this.counters.arp.InReplies++;
    }
  }

  private ipRcv(ifindex: number, f: Uint8Array, meta: RxMeta, looped: boolean): void {
    if (meta.pktType === 3 /* PACKET_OTHERHOST */) {
      this.counters.other.OtherHost++;
      return;
    }
    this.counters.ip.InReceives++;
    const ip = parseIpv4(f);
    if (typeof ip === 'string') {
      this.counters.ip.InHdrErrors++;
      return;
    }
    if (this.isLocal(ip.dst) || this.isBroadcast(ip.dst)) {
      this.counters.ip.InDelivers++;
      this.localDeliver(ifindex, f, ip, meta);
      return;
    }
    if (looped || !this.forwarding) {
      this.counters.ip.InAddrErrors++;
      return;
    }
    this.forward(f, ip, meta);
  }

  private forward(f: Uint8Array, ip: Ipv4Header, meta: RxMeta): void {
    if (ip.ttl <= 1) {
      this.icmpError(f, ip, ICMP_TIME_EXCEEDED, 0);
      this.counters.ip.InHdrErrors++;
      return;
    }
    const r = this.routes.lookup(ip.dst);
    if (!r) {
      this.counters.ip.OutNoRoutes++;
      this.icmpError(f, ip, ICMP_DEST_UNREACH, 0 /* net unreachable */);
      return;
    }
    // ip_error: a blackhole drops silently; unreachable and prohibit say so
    if (r.type === 'blackhole') {
      this.counters.ip.InDiscards++;
      return;
    }
    if (r.type === 'unreachable' || r.type === 'prohibit') {
      this.counters.ip.InAddrErrors++;
      this.icmpError(f, ip, ICMP_DEST_UNREACH, r.type === 'unreachable' ? ICMP_HOST_UNREACH : ICMP_PKT_FILTERED);
      return;
    }
    const out = f.slice(0, ip.off + ip.totalLen);
    decTtl(out, ip);
    this.counters.ip.ForwDatagrams++;
    // The skb keeps its buffer (and with it, memory-provider pages) when forwarded.
    const buffer = meta.addr && out.length === f.length ? meta.addr : undefined;
    this.output(r.ifindex, r.via || ip.dst, out, { mark: meta.mark, priority: meta.priority, protocol: ETH_P_IP, buffer });
  }

  private localDeliver(ifindex: number, f: Uint8Array, ip: Ipv4Header, meta: RxMeta): void {
    const o = ip.off + ip.ihl;
    const end = ip.off + ip.totalLen;
    if (ip.proto === IPPROTO_ICMP) {
      if (end - o < 8 || checksum(f, o, end - o) !== 0) {
        this.counters.icmp.InMsgs++;
        return;
      }
      this.counters.icmp.InMsgs++;
      const type = f[o]!;
      if (type === ICMP_ECHO) {
        this.counters.icmp.InEchos++;
        this.counters.icmp.OutMsgs++;
        this.counters.icmp.OutEchoReps++;
        const rest = ((f[o + 4]! << 24) | (f[o + 5]! << 16) | (f[o + 6]! << 8) | f[o + 7]!) >>> 0;
        const reply = buildIcmp(ICMP_ECHOREPLY, 0, rest, f.subarray(o + 8, end));
        try {
          this.sendIp(ip.src, IPPROTO_ICMP, reply, { src: this.isLocal(ip.dst) ? ip.dst : undefined, meta: { mark: meta.mark } });
        } catch {
          /* no route back: the kernel drops the reply the same way */
        }
      } else if (type === ICMP_ECHOREPLY) {
        this.counters.icmp.InEchoReps++;
        this.pingers.get(rd16(f, o + 4))?.({ kind: 'reply', seq: rd16(f, o + 6), from: ip.src, ttl: ip.ttl, bytes: end - o, atNs: this.io.nowNs() });
      } else if (type === ICMP_DEST_UNREACH || type === ICMP_TIME_EXCEEDED) {
        if (type === ICMP_DEST_UNREACH) this.counters.icmp.InDestUnreachs++;
        else this.counters.icmp.InTimeExcds++;
        // The quoted header: an echo of ours names the pinger.
        const q = o + 8;
        if (end >= q + 28 && f[q + 9] === IPPROTO_ICMP && f[q + (f[q]! & 15) * 4] === ICMP_ECHO) {
          const qo = q + (f[q]! & 15) * 4;
          this.pingers.get(rd16(f, qo + 4))?.({ kind: type === ICMP_DEST_UNREACH ? 'unreachable' : 'ttl', code: f[o + 1]!, seq: rd16(f, qo + 6), from: ip.src, ttl: ip.ttl, bytes: end - o, atNs: this.io.nowNs() });
        }
      }
      return;
    }
    if (ip.proto === IPPROTO_UDP) {
      if (end - o < 8 || rd16(f, o + 4) < 8 || o + rd16(f, o + 4) > end || !udpChecksumOk(f, ip)) {
        this.counters.udp.InErrors++;
        return;
      }
      const dport = rd16(f, o + 2);
      const s = (this.sockets.get(dport) ?? []).find((x) => (x.addr === 0 || x.addr === ip.dst) && (x.ifindex === 0 || x.ifindex === ifindex));
      if (!s) {
        this.counters.udp.NoPorts++;
        if (!this.isBroadcast(ip.dst)) this.icmpError(f, ip, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH);
        return;
      }
      if (s.queue.length >= UDP_RCVBUF) {
        this.counters.udp.RcvbufErrors++;
        return;
      }
      this.counters.udp.InDatagrams++;
      s.queue.push({
        src: ip.src, sport: rd16(f, o), dst: ip.dst, dport, data: f.slice(o + 8, o + rd16(f, o + 4)),
        ifindex: meta.ifindex, queue: meta.queue, mark: meta.mark, addr: meta.addr,
      });
    }
  }

  /** icmp_send: an error quoting the offending header and 8 bytes, never about an ICMP error. */
  private icmpError(f: Uint8Array, ip: Ipv4Header, type: number, code: number): void {
    if (ip.proto === IPPROTO_ICMP) {
      const t = f[ip.off + ip.ihl];
      if (t !== ICMP_ECHO && t !== ICMP_ECHOREPLY) return;
    }
    if (this.isBroadcast(ip.dst)) return;
    const quoted = f.slice(ip.off, Math.min(ip.off + ip.ihl + 8, ip.off + ip.totalLen));
    this.counters.icmp.OutMsgs++;
    if (type === ICMP_DEST_UNREACH) this.counters.icmp.OutDestUnreachs++;
    else this.counters.icmp.OutTimeExcds++;
    try {
      this.sendIp(ip.src, IPPROTO_ICMP, buildIcmp(type, code, 0, quoted));
    } catch {
      /* no route back to the sender */
    }
  }
}

function rxMeta(ifindex: number, m: FrameMeta): RxMeta {
  return { mark: m.mark ?? 0, priority: m.priority ?? 0, pktType: 0, tstamp: 0n, ifindex, protocol: m.protocol ?? ETH_P_IP, queue: 0, hash: 0, addr: 0 };
}

export { formatIp };
