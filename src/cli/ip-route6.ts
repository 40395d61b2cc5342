/**
 * `ip -6 route` (and `ip route` given an IPv6 prefix): add, del, show, flush and get on a
 * namespace's IPv6 main table (net/stack/addrconf.ts), in iproute2 6.1's words.
 */

import { NetError } from '../errors.js';
import { formatIp6, inPrefix6, parseIp6 } from '../net/stack/addr6.js';
import type { Route6 } from '../net/stack/addrconf.js';
import type { RouteType } from '../net/stack/route.js';
import { CliError, type Ctx } from './context.js';
import { route6Json, route6Lines } from './format.js';
import { ROUTE_USAGE } from './ip-usage.js';

export interface Route6Helpers {
  nextArg(args: string[], i: number): string;
  matches(arg: string | undefined, word: string): boolean;
  findDev(ctx: Ctx, name: string): number;
  printJson(ctx: Ctx, v: unknown): void;
  uint(v: string, msg: string): number;
  duparg2(key: string, arg: string): never;
  usage(text: string): never;
  parseTable(v: string, dump: boolean): void;
}

interface Prefix6 {
  addr: bigint;
  len: number;
}

/** get_prefix(AF_INET6): `default`/`all`/`any`, ADDR (a /128) or ADDR/LEN; iproute2's error otherwise. */
function prefix6(v: string, family: Ctx['family']): Prefix6 {
  if (v === 'default' || v === 'all' || v === 'any') return { addr: 0n, len: 0 };
  const [ip, len, extra] = v.split('/');
  const addr = parseIp6(ip!);
  const l = len === undefined ? 128 : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (addr === null || extra !== undefined || !(l <= 128)) throw new CliError(`Error: ${family === 'inet6' ? 'inet6' : 'any valid'} prefix is expected rather than "${v}".`, 1);
  return { addr, len: l };
}

/** get_addr(AF_INET6) for a gateway or a source. */
function addr6(v: string): bigint {
  const a = parseIp6(v);
  if (a === null) throw new CliError(`Error: inet6 address is expected rather than "${v}".`, 1);
  return a;
}

/** Whether `ip route …` names an IPv6 destination (its prefix has a colon) when no family was given. */
export function isRoute6(ctx: Ctx, args: string[]): boolean {
  if (ctx.family === 'inet6') return true;
  if (ctx.family !== undefined) return false;
  const valued = new Set(['via', 'dev', 'oif', 'src', 'from', 'metric', 'preference', 'table', 'mark', 'tos', 'proto', 'scope', 'root', 'match', 'exact']);
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (valued.has(a)) { if (a !== 'root' && a !== 'match' && a !== 'exact') i++; continue; }
    if (a === 'to') continue;
    return a.includes(':');
  }
  return false;
}

export function route6Cmd(ctx: Ctx, args: string[], h: Route6Helpers): void {
  const { emu, ns } = ctx;
  const inet6 = emu.stack(ns).inet6;
  const verb = args[0];
  if (verb === undefined || h.matches(verb, 'list') || h.matches(verb, 'show') || h.matches(verb, 'lst') || h.matches(verb, 'flush')) {
    const flush = verb !== undefined && h.matches(verb, 'flush');
    if (flush && args.length < 2) throw new CliError('"ip route flush" requires arguments.', 1);
    const sel = selector(ctx, args.slice(1), h);
    if (flush) {
      for (const r of inet6.routeList().filter(sel.keep)) inet6.removeRoute(r);
      return;
    }
    if (ctx.json) return h.printJson(ctx, route6Json(emu, ns, sel.dev, sel.keep));
    return void ctx.out.push(...route6Lines(emu, ns, sel.dev, sel.keep));
  }
  if (h.matches(verb, 'get')) return get(ctx, args.slice(1), h);
  const add = h.matches(verb, 'add');
  const replace = h.matches(verb, 'replace');
  const change = h.matches(verb, 'change') || verb === 'chg';
  if (!add && !replace && !change && !h.matches(verb, 'delete')) throw new CliError(`nkemu: "ip -6 route ${verb}" is not supported`, 255);
  let dst: Prefix6 | undefined;
  let via: bigint | undefined;
  let dev: string | undefined;
  let metric: number | undefined;
  let type: RouteType | undefined;
  for (let i = 1; i < args.length; i++) {
    let a = args[i]!;
    // (iproute2's `[TYPE] PREFIX`: a type keyword before the prefix)
    if (dst === undefined && type === undefined && ROUTE6_TYPES.has(a)) type = a as RouteType;
    else if (a === 'via') via = addr6(h.nextArg(args, i++));
    else if (a === 'dev' || h.matches(a, 'oif')) dev = h.nextArg(args, i++);
    else if (a === 'metric' || a === 'preference') metric = h.uint(h.nextArg(args, i++), '"metric" value is invalid\n');
    else if (h.matches(a, 'table')) h.parseTable(h.nextArg(args, i++), false);
    else {
      if (a === 'to') a = h.nextArg(args, i++);
      if (h.matches(a, 'help')) h.usage(ROUTE_USAGE);
      if (dst !== undefined) h.duparg2('to', a);
      dst = prefix6(a, ctx.family);
    }
  }
  if (dst === undefined) h.usage(ROUTE_USAGE);
  const ifindex = dev === undefined ? undefined : h.findDev(ctx, dev);
  const r = { dst: dst.addr, prefixLen: dst.len, via, ifindex, metric, type, loopback: h.findDev(ctx, 'lo') };
  if (add) inet6.addRoute(r);
  else if (replace || change) inet6.replaceRoute(r, replace);
  else inet6.delRoute(r);
}

/** The route types `ip -6 route add|del` takes (iproute2's others, local, throw, nat, …, nkemu has not). */
const ROUTE6_TYPES: ReadonlySet<string> = new Set(['unicast', 'blackhole', 'unreachable', 'prohibit']);

/** iproute_list_flush_or_save's selector for IPv6: `dev`, `table`, `root P`, `match P`, `[exact] P`. */
function selector(ctx: Ctx, args: string[], h: Route6Helpers): { dev?: number; keep: (r: Route6) => boolean } {
  let dev: string | undefined;
  let root: Prefix6 | undefined;
  let match: Prefix6 | undefined;
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'dev' || h.matches(a, 'oif')) dev = h.nextArg(args, i++);
    else if (h.matches(a, 'table')) h.parseTable(h.nextArg(args, i++), true);
    else if (h.matches(a, 'help')) h.usage(ROUTE_USAGE);
    else {
      if (h.matches(a, 'to')) a = h.nextArg(args, i++);
      if (h.matches(a, 'root')) root = prefix6(h.nextArg(args, i++), ctx.family);
      else if (h.matches(a, 'match')) match = prefix6(h.nextArg(args, i++), ctx.family);
      else {
        if (h.matches(a, 'exact')) a = h.nextArg(args, i++);
        root = match = prefix6(a, ctx.family);
      }
    }
  }
  const ifindex = dev === undefined ? undefined : h.findDev(ctx, dev);
  return {
    dev: ifindex,
    keep: (r) => (ifindex === undefined || r.ifindex === ifindex)
      && (root === undefined || (r.prefixLen >= root.len && inPrefix6(r.dst, root.addr, root.len)))
      && (match === undefined || (r.prefixLen <= match.len && inPrefix6(match.addr, r.dst, r.prefixLen))),
  };
}

/**
 * `ip -6 route get ADDR [from ADDR] [oif DEV]`: an own address through lo from the local
 * table; else the route fib6 picks (ENETUNREACH without one), its source chosen by
 * ipv6_dev_get_saddr unless `from` fixed it (which then prints instead of `::`).
 */
function get(ctx: Ctx, args: string[], h: Route6Helpers): void {
  const { emu, ns } = ctx;
  const inet6 = emu.stack(ns).inet6;
  let dst: bigint | undefined;
  let from: bigint | undefined;
  let oif: string | undefined;
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (h.matches(a, 'from')) from = prefix6(h.nextArg(args, i++), ctx.family).addr;
    else if (h.matches(a, 'oif') || a === 'dev') oif = h.nextArg(args, i++);
    else {
      if (a === 'to') a = h.nextArg(args, i++);
      if (h.matches(a, 'help')) h.usage(ROUTE_USAGE);
      dst = prefix6(a, ctx.family).addr;
    }
  }
  if (dst === undefined) throw new CliError('need at least a destination address', 1);
  const oifIndex = oif === undefined ? undefined : h.findDev(ctx, oif);
  const n = emu.netns(ns);
  const name = (i: number): string => n.find(i)?.name ?? `if${i}`;
  const fromText = formatIp6(from ?? 0n);
  if (inet6.isLocal(dst) && oifIndex === undefined) {
    const src = formatIp6(from ?? dst);
    const text = `local ${formatIp6(dst)} from ${fromText} dev lo table local proto kernel src ${src} metric 0 pref medium`;
    if (ctx.json) return h.printJson(ctx, [{ type: 'local', dst: formatIp6(dst), from: fromText, dev: 'lo', table: 'local', protocol: 'kernel', prefsrc: src, metric: 0, flags: [], pref: 'medium' }]);
    return void ctx.out.push(text);
  }
  const r = inet6.lookup(dst, oifIndex);
  if (!r) throw new NetError('ENETUNREACH');
  // (ip6_route_output's dst error for the reject types)
  if (r.type === 'blackhole') throw new NetError('EINVAL');
  if (r.type === 'unreachable') throw new NetError('EHOSTUNREACH');
  if (r.type === 'prohibit') throw new NetError('EACCES');
  const src = from ?? inet6.selectSource(dst, r.ifindex);
  const parts = [formatIp6(dst), 'from', fromText, ...(r.via ? ['via', formatIp6(r.via)] : []), 'dev', name(r.ifindex),
    ...(r.proto === 'kernel' ? ['proto', 'kernel'] : []), ...(src !== undefined ? ['src', formatIp6(src)] : []), 'metric', String(r.metric), 'pref', 'medium'];
  if (ctx.json) {
    return h.printJson(ctx, [{
      dst: formatIp6(dst), from: fromText, ...(r.via ? { gateway: formatIp6(r.via) } : {}), dev: name(r.ifindex),
      ...(r.proto === 'kernel' ? { protocol: 'kernel' } : {}), ...(src !== undefined ? { prefsrc: formatIp6(src) } : {}), metric: r.metric, flags: [], pref: 'medium',
    }]);
  }
  ctx.out.push(parts.join(' '));
}
