/**
 * A namespace's IPv6 addresses and main routing table (net/ipv6/addrconf.c, route.c):
 * `::1/128` on lo, the link-local address a device generates when it becomes ready
 * (admin up with carrier), addresses added by hand, their prefix routes (`proto kernel
 * metric 256`), and duplicate address detection as the state an address shows.
 *
 * DAD runs on the virtual clock and hears no answers: an address that needs it is
 * `tentative` for dad_transmits × retrans_time (1 s) from the moment its device is ready,
 * then settled. The kernel waits a random part of rtr_solicit_delay (below 1 s) first;
 * nkemu waits none. Devices with IFF_NOARP (netkit L3) or IFF_LOOPBACK, `nodad`
 * addresses and accept_dad 0 (all and default) skip it.
 */

import { fail } from '../../errors.js';
import type { RouteType } from './route.js';
import { LINK_LOCAL_PREFIX, LOOPBACK6, eui64, inPrefix6, mask6, scopeRank6, type Scope6, scopeOf6 } from './addr6.js';

/** IN6_ADDR_GEN_MODE_*: how a device's link-local interface identifier is made. */
export type AddrGenMode = 'eui64' | 'none' | 'stable_secret' | 'random';

/** IFA_F_* bits an IPv6 address carries in nkemu. */
export const IFA_F_NODAD = 0x02;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

export interface Address6 {
  ifindex: number;
  addr: bigint;
  prefixLen: number;
  /** IFA_F_* (permanent always; tentative while DAD runs). */
  flags: number;
  scope: Scope6;
  /** When DAD began (the device was ready); undefined while it waits for the device. */
  dadStartNs?: bigint;
}

export interface Route6 {
  dst: bigint;
  prefixLen: number;
  ifindex: number;
  /** Gateway, 0n for none. */
  via: bigint;
  metric: number;
  proto: 'kernel' | 'boot';
  /** Insertion order (among equal keys the kernel lists the older first). */
  seq: number;
  /** RTN_*: unicast when absent; blackhole, unreachable and prohibit routes go through lo. */
  type?: RouteType;
}

export interface Link6 {
  ifindex: number;
  mac: Uint8Array;
  /** Admin up with carrier (addrconf_link_ready). */
  up: boolean;
  noarp: boolean;
  loopback?: boolean;
}

export interface Addrconf6Io {
  link(ifindex: number): Link6 | undefined;
  nowNs(): bigint;
  changed(): void;
}

/** IP6_RT_PRIO_ADDRCONF: the metric of the routes addresses make. */
export const RT6_PRIO_ADDRCONF = 256;
/** IP6_RT_PRIO_USER: a route added without a metric. */
export const RT6_PRIO_USER = 1024;
const DAD_NS = 1_000_000_000n;

export class Addrconf {
  private readonly io: Addrconf6Io;
  private addrs: Address6[] = [];
  private routes: Route6[] = [];
  /** Devices addrconf has configured (IF_READY): set when first ready, cleared on down. */
  private readonly ready = new Set<number>();
  private readonly genMode = new Map<number, AddrGenMode>();
  private seq = 0;
  private rnd = 0x6e6b656d;
  /** net.ipv6.conf.all.accept_dad and .default.accept_dad (devices follow default). */
  acceptDadAll = 1;
  acceptDadDefault = 1;

  constructor(io: Addrconf6Io) {
    this.io = io;
  }

  // ---- addresses ------------------------------------------------------------------

  /**
   * The addresses, device by device in the kernel's list order: global before link before
   * host scope, the newest first within one. DAD that has run its time is settled here.
   */
  addresses(ifindex?: number): readonly Address6[] {
    const now = this.io.nowNs();
    for (const a of this.addrs) {
      if (a.flags & IFA_F_TENTATIVE && a.dadStartNs !== undefined && now >= a.dadStartNs + DAD_NS) {
        a.flags &= ~IFA_F_TENTATIVE;
        this.io.changed();
      }
    }
    return ifindex === undefined ? this.addrs : this.addrs.filter((a) => a.ifindex === ifindex);
  }

  /**
   * When an address stops being tentative: 0n if it is not, the end of its DAD while that
   * runs, undefined while it waits for its device.
   */
  settlesAtNs(a: Address6): bigint | undefined {
    if (!(a.flags & IFA_F_TENTATIVE)) return 0n;
    return a.dadStartNs === undefined ? undefined : a.dadStartNs + DAD_NS;
  }

  isLocal(addr: bigint): boolean {
    return addr === LOOPBACK6 || this.addresses().some((a) => a.addr === addr && !(a.flags & IFA_F_TENTATIVE));
  }

  /** `ip -6 addr add ADDR/LEN dev DEV [nodad] [noprefixroute]` (EEXIST when present on the device). */
  addAddress(ifindex: number, addr: bigint, prefixLen: number, o: { nodad?: boolean; noprefixroute?: boolean } = {}): Address6 {
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 128) fail('EINVAL', 'Invalid prefix length');
    const l = this.io.link(ifindex);
    if (!l) fail('ENODEV');
    if (this.addrs.some((a) => a.ifindex === ifindex && a.addr === addr)) fail('EEXIST', 'ipv6: address already assigned');
    const flags = IFA_F_PERMANENT | (o.nodad ? IFA_F_NODAD : 0) | (o.noprefixroute ? IFA_F_NOPREFIXROUTE : 0);
    const a = this.insert({ ifindex, addr, prefixLen, flags, scope: scopeOf6(addr) });
    // (tentative from the start when DAD will run: it waits for the device to be ready)
    if (this.ready.has(ifindex)) this.configure(a);
    else if (this.needsDad(a)) a.flags |= IFA_F_TENTATIVE;
    this.io.changed();
    return a;
  }

  /** `ip -6 addr del` (EADDRNOTAVAIL when absent): its prefix route goes unless another address keeps it. */
  delAddress(ifindex: number, addr: bigint, prefixLen?: number): void {
    const a = this.addrs.find((x) => x.ifindex === ifindex && x.addr === addr && (prefixLen === undefined || x.prefixLen === prefixLen));
    if (!a) fail('EADDRNOTAVAIL', 'ipv6: address not found');
    this.addrs = this.addrs.filter((x) => x !== a);
    const dst = a.addr & mask6(a.prefixLen);
    const kept = this.addrs.some((x) => x.ifindex === ifindex && x.prefixLen === a.prefixLen && (x.addr & mask6(x.prefixLen)) === dst);
    if (!kept) this.routes = this.routes.filter((r) => !(r.proto === 'kernel' && r.ifindex === ifindex && r.dst === dst && r.prefixLen === a.prefixLen));
    this.io.changed();
  }

  /** ipv6_link_dev_addr: before the first address of the same or a narrower scope. */
  private insert(a: Address6): Address6 {
    const rank = scopeRank6(a.addr);
    const at = this.addrs.findIndex((x) => x.ifindex === a.ifindex && rank >= scopeRank6(x.addr));
    if (at < 0) this.addrs.push(a);
    else this.addrs.splice(at, 0, a);
    return a;
  }

  /** The device is ready: an address gets its prefix route and begins DAD (or skips it). */
  private configure(a: Address6): void {
    const l = this.io.link(a.ifindex);
    if (!(a.flags & IFA_F_NOPREFIXROUTE) && !l?.loopback) this.addPrefixRoute(a.ifindex, a.addr & mask6(a.prefixLen), a.prefixLen);
    if (!this.needsDad(a)) {
      a.flags &= ~IFA_F_TENTATIVE;
      a.dadStartNs = undefined;
    } else {
      a.flags |= IFA_F_TENTATIVE;
      a.dadStartNs = this.io.nowNs();
    }
  }

  /** addrconf_dad_begin's test: DAD runs unless the device or the address or the sysctls say not. */
  private needsDad(a: Address6): boolean {
    const l = this.io.link(a.ifindex);
    return !!l && !l.noarp && !l.loopback && !(a.flags & IFA_F_NODAD) && (this.acceptDadAll >= 1 || this.acceptDadDefault >= 1);
  }

  private addPrefixRoute(ifindex: number, dst: bigint, prefixLen: number): void {
    if (this.routes.some((r) => r.ifindex === ifindex && r.dst === dst && r.prefixLen === prefixLen && r.metric === RT6_PRIO_ADDRCONF)) return;
    this.routes.push({ dst, prefixLen, ifindex, via: 0n, metric: RT6_PRIO_ADDRCONF, proto: 'kernel', seq: this.seq++ });
  }

  // ---- address generation ---------------------------------------------------------

  addrGenMode(ifindex: number): AddrGenMode {
    return this.genMode.get(ifindex) ?? 'eui64';
  }

  /**
   * `ip link set DEV addrgenmode MODE`: the mode the next link-local address is made with
   * (the present one stays). stable_secret without a secret is EINVAL, as in the kernel.
   */
  setAddrGenMode(ifindex: number, mode: AddrGenMode): void {
    if (mode === 'stable_secret') fail('EINVAL');
    this.genMode.set(ifindex, mode);
    this.io.changed();
  }

  /** xorshift32, seeded: `random` interface identifiers, the same on every run. */
  private random64(): bigint {
    let v = 0n;
    for (let i = 0; i < 2; i++) {
      let x = this.rnd;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.rnd = x >>> 0;
      v = (v << 32n) | BigInt(this.rnd);
    }
    // (the universal/local bit cleared, as ipv6_gen_rnd_iid does)
    return v & ~(2n << 56n);
  }

  // ---- links ----------------------------------------------------------------------

  /**
   * NETDEV_UP / NETDEV_CHANGE with carrier (addrconf_notify): the first time a device is
   * ready, lo gets ::1/128, another device its link-local address (addrconf_dev_config),
   * and its addresses their routes and DAD.
   */
  linkUp(ifindex: number): void {
    const l = this.io.link(ifindex);
    if (!l || !l.up || this.ready.has(ifindex)) return;
    this.ready.add(ifindex);
    if (l.loopback) {
      if (!this.addrs.some((a) => a.ifindex === ifindex && a.addr === LOOPBACK6)) this.insert({ ifindex, addr: LOOPBACK6, prefixLen: 128, flags: IFA_F_PERMANENT, scope: 'host' });
    } else {
      const mode = this.addrGenMode(ifindex);
      const iid = mode === 'eui64' ? eui64(l.mac) : mode === 'random' ? this.random64() : undefined;
      const ll = iid === undefined ? undefined : LINK_LOCAL_PREFIX | iid;
      if (ll !== undefined && !this.addrs.some((a) => a.ifindex === ifindex && a.addr === ll)) {
        this.insert({ ifindex, addr: ll, prefixLen: 64, flags: IFA_F_PERMANENT, scope: 'link' });
      }
    }
    for (const a of this.addrs) if (a.ifindex === ifindex) this.configure(a);
    this.io.changed();
  }

  /** NETDEV_DOWN (addrconf_ifdown, keep_addr_on_down 0): every address and route of the device goes. */
  linkDown(ifindex: number): void {
    this.ready.delete(ifindex);
    this.addrs = this.addrs.filter((a) => a.ifindex !== ifindex);
    this.routes = this.routes.filter((r) => r.ifindex !== ifindex);
    this.io.changed();
  }

  /** NETDEV_UNREGISTER: the device's settings go too. */
  forgetLink(ifindex: number): void {
    this.linkDown(ifindex);
    this.genMode.delete(ifindex);
  }

  // ---- routes ---------------------------------------------------------------------

  /**
   * The main table in fib6's dump order: a walk of the prefix tree, a route inside
   * another's prefix before it, otherwise by address; equal prefixes by metric, then age.
   */
  routeList(): Route6[] {
    return [...this.routes].sort((a, b) => {
      const common = Math.min(a.prefixLen, b.prefixLen);
      if (inPrefix6(a.dst, b.dst, common)) {
        return b.prefixLen - a.prefixLen || a.metric - b.metric || a.seq - b.seq;
      }
      return a.dst < b.dst ? -1 : 1;
    });
  }

  /**
   * `ip -6 route add PREFIX [via GW] [dev DEV] [metric N]` (ip6_route_add). The prefix's host
   * bits are cleared; another route of the same prefix and metric is EEXIST (NLM_F_EXCL). A
   * gateway needs a device when it is link-local (EINVAL, "Egress device not specified"),
   * else takes the device of the connected route that reaches it (EHOSTUNREACH without one);
   * neither gateway nor device is ENODEV. A blackhole, unreachable or prohibit route
   * (ip6_route_info_create: RTF_REJECT) goes through the loopback device, `loopback`, and
   * keeps no gateway.
   */
  addRoute(r: { dst: bigint; prefixLen: number; via?: bigint; ifindex?: number; metric?: number; type?: RouteType; loopback?: number }): Route6 {
    if (!Number.isInteger(r.prefixLen) || r.prefixLen < 0 || r.prefixLen > 128) fail('EINVAL', 'Invalid prefix length');
    const dst = r.dst & mask6(r.prefixLen);
    const metric = r.metric ?? RT6_PRIO_USER;
    const type = r.type ?? 'unicast';
    const via = type === 'unicast' ? r.via ?? 0n : 0n;
    let ifindex = type === 'unicast' ? r.ifindex ?? 0 : r.loopback ?? 0;
    if (via) {
      if (scopeOf6(via) === 'link') {
        if (!ifindex) fail('EINVAL', 'Egress device not specified');
      } else {
        const nh = this.lookup(via, ifindex || undefined);
        if (!nh || nh.via) fail('EHOSTUNREACH');
        ifindex = nh.ifindex;
      }
    } else if (!ifindex) {
      fail('ENODEV');
    }
    const l = this.io.link(ifindex);
    if (!l) fail('ENODEV');
    if (this.routes.some((x) => x.dst === dst && x.prefixLen === r.prefixLen && x.metric === metric)) fail('EEXIST');
    const route: Route6 = { dst, prefixLen: r.prefixLen, ifindex, via, metric, proto: 'boot', seq: this.seq++, ...(type !== 'unicast' ? { type } : {}) };
    this.routes.push(route);
    this.io.changed();
    return route;
  }

  /**
   * `ip -6 route replace|change` (NLM_F_REPLACE): the route of the same prefix and metric
   * gives way to the new one, checked as an add is (the old one stays if it is refused);
   * none: replace (NLM_F_CREATE) adds, change is ENOENT.
   */
  replaceRoute(r: { dst: bigint; prefixLen: number; via?: bigint; ifindex?: number; metric?: number; type?: RouteType; loopback?: number }, create: boolean): Route6 {
    const dst = r.dst & mask6(r.prefixLen);
    const metric = r.metric ?? RT6_PRIO_USER;
    const old = this.routeList().find((x) => x.dst === dst && x.prefixLen === r.prefixLen && x.metric === metric);
    if (!old) {
      if (!create) fail('ENOENT', 'Can not replace route - no match found');
      return this.addRoute(r);
    }
    const at = this.routes.indexOf(old);
    this.routes.splice(at, 1);
    try {
      const added = this.addRoute(r);
      // (in the old one's place: its age, for the dump order)
      added.seq = old.seq;
      return added;
    } catch (e) {
      this.routes.splice(at, 0, old);
      throw e;
    }
  }

  /** `ip -6 route del PREFIX [via GW] [dev DEV] [metric N]`: the first route that matches every given key (ESRCH: none). */
  delRoute(r: { dst: bigint; prefixLen: number; via?: bigint; ifindex?: number; metric?: number }): void {
    const dst = r.dst & mask6(r.prefixLen);
    const hit = this.routeList().find((x) => x.dst === dst && x.prefixLen === r.prefixLen && (r.metric === undefined || x.metric === r.metric)
      && (r.via === undefined || x.via === r.via) && (!r.ifindex || x.ifindex === r.ifindex));
    if (!hit) fail('ESRCH');
    this.routes = this.routes.filter((x) => x !== hit);
    this.io.changed();
  }

  /** Removes one route as it is (`ip -6 route flush`). */
  removeRoute(r: Route6): void {
    this.routes = this.routes.filter((x) => x !== r);
    this.io.changed();
  }

  /**
   * fib6_lookup: the longest prefix that matches, then the lowest metric, then the oldest,
   * among routes through `oif` when given (a route without carrier still counts:
   * ignore_routes_with_linkdown is 0).
   */
  lookup(dst: bigint, oif?: number): Route6 | undefined {
    return this.routeList()
      .filter((r) => inPrefix6(dst, r.dst, r.prefixLen) && (oif === undefined || r.ifindex === oif))
      .sort((a, b) => b.prefixLen - a.prefixLen || a.metric - b.metric || a.seq - b.seq)[0];
  }

  /**
   * ipv6_dev_get_saddr (RFC 6724's rules that apply here): the destination itself; then an
   * address of the destination's scope or the nearest wider one (else the widest narrower);
   * then one on the outgoing device; then the longest common prefix, counted no further
   * than the address's own prefix length (IPV6_SADDR_RULE_PREFIX). Tentative addresses
   * are never chosen; for a link-scope destination only the outgoing device's count.
   */
  selectSource(dst: bigint, oif: number): bigint | undefined {
    const rank = scopeRank6(dst);
    const cands = this.addresses().filter((a) => !(a.flags & IFA_F_TENTATIVE) && (rank > 2 || a.ifindex === oif));
    const common = (a: bigint): number => {
      let x = a ^ dst;
      let n = 128;
      while (x > 0n) { x >>= 1n; n--; }
      return n;
    };
    const key = (a: Address6): number[] => {
      const r = scopeRank6(a.addr);
      return [a.addr === dst ? 0 : 1, r >= rank ? r - rank : 0x100 - r, a.ifindex === oif ? 0 : 1, 128 - Math.min(common(a.addr), a.prefixLen)];
    };
    let best: Address6 | undefined;
    let bestKey: number[] = [];
    for (const a of cands) {
      const k = key(a);
      const better = !best || k.some((v, i) => v !== bestKey[i] && k.slice(0, i).every((w, j) => w === bestKey[j]) && v < bestKey[i]!);
      if (better) { best = a; bestKey = k; }
    }
    return best?.addr;
  }

  /** Whether a route's device has lost its carrier (RTNH_F_LINKDOWN). */
  linkdown(r: Route6): boolean {
    const l = this.io.link(r.ifindex);
    return !!l && !l.up;
  }
}
