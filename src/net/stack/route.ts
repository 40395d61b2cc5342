/**
 * The IPv4 main table: longest-prefix match, then lowest metric. Small tables (a
 * namespace has a handful of routes), so a list sorted by prefix length is enough.
 */

import { formatIp, maskOf } from './packet.js';

export type RouteProto = 'kernel' | 'boot' | 'static';
/**
 * rtnetlink's route types nkemu has: unicast (a device and maybe a gateway), and the three
 * that answer with an error and have neither (RTN_BLACKHOLE: -EINVAL, dropped silently;
 * RTN_UNREACHABLE: -EHOSTUNREACH, ICMP host unreachable; RTN_PROHIBIT: -EACCES, ICMP
 * administratively filtered).
 */
export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';
export type RouteScope = 'global' | 'link' | 'host';

export interface Route {
  /** Network address (host bits zero). */
  dst: number;
  prefixLen: number;
  ifindex: number;
  /** Gateway, 0 for directly connected. */
  via: number;
  /** Preferred source address, 0 for none. */
  src: number;
  metric: number;
  proto: RouteProto;
  scope: RouteScope;
  /** Default unicast; the other types have no device (ifindex 0) and no gateway. */
  type?: RouteType;
}

export class RouteTable {
  private routes: Route[] = [];

  list(): readonly Route[] {
    return this.routes;
  }

  /** Same key as the kernel's fib: (dst, prefix, metric) — plus the device for connected routes. */
  find(dst: number, prefixLen: number, metric?: number): Route | undefined {
    return this.routes.find((r) => r.dst === dst && r.prefixLen === prefixLen && (metric === undefined || r.metric === metric));
  }

  add(r: Route): void {
    this.routes.push(r);
    // Longest prefix first, then metric: lookup takes the first match.
    this.routes.sort((a, b) => b.prefixLen - a.prefixLen || a.metric - b.metric || a.dst - b.dst);
  }

  remove(r: Route): void {
    this.routes = this.routes.filter((x) => x !== r);
  }

  /** Drops every route out of `ifindex` (fib_sync_down_dev on NETDEV_DOWN / unregister). */
  flushDev(ifindex: number): void {
    this.routes = this.routes.filter((r) => r.ifindex !== ifindex);
  }

  lookup(dst: number): Route | undefined {
    for (const r of this.routes) if (((dst & maskOf(r.prefixLen)) >>> 0) === r.dst) return r;
    return undefined;
  }
}

/** `ip route show` line of a route, without the device name lookup (none: a `dev` filter's listing, which leaves it out). */
export function formatRoute(r: Route, devName: string | undefined): string {
  const dst = r.prefixLen === 0 ? 'default' : r.prefixLen === 32 ? formatIp(r.dst) : `${formatIp(r.dst)}/${r.prefixLen}`;
  const parts = r.type && r.type !== 'unicast' ? [r.type, dst] : [dst];
  if (r.via) parts.push('via', formatIp(r.via));
  if (devName !== undefined) parts.push('dev', devName);
  if (r.proto !== 'boot') parts.push('proto', r.proto);
  if (r.scope !== 'global') parts.push('scope', r.scope);
  if (r.src) parts.push('src', formatIp(r.src));
  if (r.metric) parts.push('metric', String(r.metric));
  return parts.join(' ');
}
