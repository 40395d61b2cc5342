/**
 * `ip` in iproute2's words: netns, link (netkit grammar of iplink_netkit.c), addr,
 * route, neigh. Parse errors print what iproute2 prints and change nothing: every
 * request is fully parsed before the emulator is asked.
 */

import { readFileSync } from 'node:fs';
import type { Emulator } from '../emulator.js';
import type { LinkDump, LinkRequest, NetkitData } from '../net/types.js';
import { NetError } from '../errors.js';
import { Iproute2Refusal, parsePinningDb } from '../ebpf/legacy-maps.js';
import { LoadError } from '../ebpf/load-error.js';
import type { LoadedObject } from '../ebpf/load.js';
import { formatIp, maskOf, parseIp } from '../net/stack/packet.js';
import { inPrefix6, parseIp6 } from '../net/stack/addr6.js';
import type { NeighState } from '../net/stack/stack.js';
import type { Route, RouteType } from '../net/stack/route.js';
import { CliError, type Ctx } from './context.js';
import {
  type AddrSelect, type AnyAddress, isInet6, addrBrief, addrBriefJson, addrJson, addrList, addrOneline, addrText, jsonText, linkBrief, linkBriefJson, linkJson, linkText, neighJson,
  neighLines, neigh6Json, neigh6Lines, type Prefix, routeGet, routeJson, routeLines,
} from './format.js';
import { isRoute6, route6Cmd, type Route6Helpers } from './ip-route6.js';
import type { Neighbour6 } from '../net/stack/ipv6.js';
import { ADDR_USAGE, IP_USAGE, IP_VERSION, LINK_USAGE, NEIGH_USAGE, NETNS_USAGE, ROUTE_USAGE } from './ip-usage.js';

const NETKIT_USAGE = [
  'Usage: ... netkit [ mode MODE ] [ POLICY ] [ scrub SCRUB ] [ peer [ POLICY <options> ] ]',
  '',
  'MODE: l3 | l2',
  'POLICY: forward | blackhole',
  'SCRUB: default | none',
  '(first values are the defaults if nothing is specified)',
  '',
  "To get <options> type 'ip link add help'.",
];

/** iproute2's matches(): `arg` is a non-empty prefix of `word` (`ip a`, `ip link sh`). */
function matches(arg: string | undefined, word: string): boolean {
  return arg !== undefined && arg.length > 0 && word.startsWith(arg);
}

/**
 * The end of an object's verb chain: a verb iproute2 has but nkemu does not model says so
 * (rather than iproute2's "unknown", which would be untrue); anything else is iproute2's error.
 */
function unknownVerb(object: string, verb: string, unmodelled: string[]): never {
  const known = unmodelled.find((v) => matches(verb, v));
  if (known) throw new CliError(`nkemu: "ip ${object} ${known}" is not supported`, 255);
  throw new CliError(`Command "${verb}" is unknown, try "ip ${object} help".`, 255);
}

/** usage(): the object's usage text on stderr, exit 255. */
function usage(text: string): never {
  throw new CliError(text, 255);
}

/** iproute2's invarg(): `Error: argument "X" is wrong: MSG`. */
function invarg(msg: string, arg: string): never {
  throw new CliError(`Error: argument "${arg}" is wrong: ${msg}`, 255);
}

function duparg(key: string, arg: string): never {
  throw new CliError(`Error: duplicate "${key}": "${arg}" is the second value.`, 255);
}

function duparg2(key: string, arg: string): never {
  throw new CliError(`Error: either "${key}" is duplicate, or "${arg}" is a garbage.`, 255);
}

/** get_u32 (decimal or 0x hex); `msg` is iproute2's invarg text, most of which end in a newline of their own. */
function uint(v: string, msg: string): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(v) || Number(v) > 0xffffffff) invarg(msg, v);
  return Number(v);
}

/**
 * get_integer (strtol, base 0: decimal, 0x hex, 0 octal) within an int, as IFLA_MTU's u32
 * carries it; iproute2's message for `mtu` ends in a newline of its own.
 */
function mtuArg(v: string): number {
  const m = /^([+-]?)(0x[0-9a-f]+|0[0-7]*|[1-9]\d*)$/i.exec(v);
  const n = m ? (m[1] === '-' ? -1 : 1) * (/^0x/i.test(m[2]!) ? parseInt(m[2]!, 16) : /^0./.test(m[2]!) ? parseInt(m[2]!, 8) : Number(m[2])) : NaN;
  if (!(n >= -0x80000000 && n <= 0x7fffffff)) invarg('Invalid "mtu" value\n', v);
  return n >>> 0;
}

function nextArg(args: string[], i: number): string {
  if (i + 1 >= args.length) throw new CliError('Command line is not complete. Try option "help"', 255);
  return args[i + 1]!;
}

/** iplink_parse: the generic options of `ip link add` (for the device or its peer). Returns where it stopped. */
function parseLinkOptions(args: string[], start: number, req: LinkRequest, stopAtType: boolean): number {
  let i = start;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'type' && stopAtType) return i;
    switch (a) {
      case 'name': case 'dev': {
        const v = nextArg(args, i++);
        if (req.ifname !== undefined) duparg2(a, v);
        if (v.length >= 16 || v.length === 0 || /[/:\s]/.test(v)) invarg('"name" not a valid ifname', v);
        req.ifname = v;
        break;
      }
      case 'numrxqueues': req.numRxQueues = uint(nextArg(args, i++), 'Invalid "numrxqueues" value\n'); break;
      case 'numtxqueues': req.numTxQueues = uint(nextArg(args, i++), 'Invalid "numtxqueues" value\n'); break;
      case 'mtu': {
        const v = nextArg(args, i++);
        if (req.mtu !== undefined) duparg('mtu', v);
        req.mtu = mtuArg(v);
        break;
      }
      case 'txqueuelen': case 'txqlen': case 'qlen': {
        const v = nextArg(args, i++);
        if (req.txqlen !== undefined) duparg('txqueuelen', v);
        req.txqlen = uint(v, 'Invalid "txqueuelen" value\n');
        break;
      }
      case 'address': req.address = nextArg(args, i++); break;
      case 'netns': req.netns = nextArg(args, i++); break;
      default:
        if (req.ifname !== undefined) duparg2('dev', a);
        if (a.length >= 16 || /[/:\s]/.test(a)) invarg('"name" not a valid ifname', a);
        req.ifname = a;
    }
  }
  return i;
}

/** netkit_parse_opt plus the leasing series' `single`. */
function parseNetkit(args: string[], start: number, data: NetkitData): void {
  let seenMode = false;
  let seenPeer = false;
  for (let i = start; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'mode') {
      const v = nextArg(args, i++);
      if (seenMode) duparg('mode', v);
      seenMode = true;
      if (v !== 'l3' && v !== 'l2') throw new CliError('Error: argument of "mode" must be either "l3" or "l2"', 255);
      data.mode = v;
    } else if (a === 'forward' || a === 'blackhole') {
      if (seenPeer) data.peerPolicy = a;
      else data.policy = a;
    } else if (a === 'peer') {
      if (seenPeer) duparg('peer', args[i + 1] ?? '');
      seenPeer = true;
    } else if (a === 'scrub') {
      const v = nextArg(args, i++);
      if (v !== 'none' && v !== 'default') throw new CliError('Error: scrub must be either "none" or "default"', 255);
      if (seenPeer) data.peerScrub = v;
      else data.scrub = v;
    } else if (a === 'single' && !seenPeer) {
      data.pairing = 'single';
    } else if (seenPeer) {
      const peer: LinkRequest = {};
      const end = parseLinkOptions(args, i, peer, true);
      if (end < args.length) duparg('type', args[end]!);
      data.peerInfo = peer;
      return;
    } else {
      throw new CliError([`netkit: unknown option "${a}"?`, ...NETKIT_USAGE].join('\n'), 255);
    }
  }
}

function findDev(emu: Emulator, ns: string, name: string) {
  const d = emu.netns(ns).find(name);
  if (!d) throw new CliError(`Cannot find device "${name}"`, 1);
  return d;
}

/** Prints a JSON listing as `-j` (compact) or `-j -p` (json_writer's pretty form). */
function printJson(ctx: Ctx, v: unknown): void {
  ctx.out.push(jsonText(v, ctx.pretty));
}

/** Text records: each its own lines, or one line with `\` for the breaks under `-o`. */
function printRecords(ctx: Ctx, records: string[][]): void {
  for (const r of records) {
    if (ctx.oneline) ctx.out.push(r.join('\\'));
    else ctx.out.push(...r);
  }
}

/** The selector of `ip link show`, `ip addr show` and `ip addr flush` (ipaddr_list_flush_or_save). */
interface LinkFilter {
  dev?: string;
  up: boolean;
  kind?: string;
  /** `to PREFIX` (addresses only): IPv4, or IPv6 in `to6`. */
  to?: Prefix;
  to6?: { addr: bigint; len: number };
  /** Address flags to match (get_filter): the wanted bits within `mask`. */
  flags: number;
  mask: number;
}

/** ifa_flag_names (IFA_F_*): `temporary` is `secondary`'s other name (IPv6's word for it). */
const IFA_FLAGS: Record<string, number> = {
  secondary: 0x01, temporary: 0x01, nodad: 0x02, optimistic: 0x04, dadfailed: 0x08, home: 0x10, deprecated: 0x20,
  tentative: 0x40, permanent: 0x80, mngtmpaddr: 0x100, noprefixroute: 0x200, autojoin: 0x400, 'stable-privacy': 0x800,
};

/** An address's IFA_F_* flags in nkemu: IPv4 ones are permanent, some secondary; IPv6 ones carry theirs. */
function ifaFlags(a: AnyAddress): number {
  if (isInet6(a)) return a.flags;
  return IFA_FLAGS.permanent! | (a.secondary ? IFA_FLAGS.secondary! : 0);
}

/** get_filter: FLAG or -FLAG (`dynamic` is -permanent, `primary` -secondary); false if it is none. */
function flagFilter(f: LinkFilter, word: string): boolean {
  let inv = word.startsWith('-');
  let name = inv ? word.slice(1) : word;
  if (name === 'dynamic') { inv = !inv; name = 'permanent'; } else if (name === 'primary') { inv = !inv; name = 'secondary'; }
  const bit = IFA_FLAGS[name];
  if (bit === undefined) return false;
  f.flags = inv ? f.flags & ~bit : f.flags | bit;
  f.mask |= bit;
  return true;
}

function parseLinkFilter(args: string[], help: string): LinkFilter {
  const f: LinkFilter = { up: false, flags: 0, mask: 0 };
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'to') {
      const v = nextArg(args, i++);
      if (v.includes(':')) {
        const [ip, len, extra] = v.split('/');
        const addr = parseIp6(ip!);
        const l = len === undefined ? 128 : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
        if (addr === null || extra !== undefined || !(l <= 128)) throw new CliError(`Error: any valid prefix is expected rather than "${v}".`, 1);
        f.to6 = { addr, len: l };
        continue;
      }
      const [ip, len, extra] = v.split('/');
      const addr = parseIp(ip!);
      const l = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
      if (addr === null || extra !== undefined || !(l <= 32)) throw new CliError(`Error: any valid prefix is expected rather than "${v}".`, 1);
      f.to = { addr, len: l };
    } else if (a === 'up') f.up = true;
    else if (flagFilter(f, a)) continue;
    else if (['scope', 'label', 'group', 'master', 'vrf'].includes(a)) throw new CliError(`nkemu: the "${a}" selector is not supported`, 255);
    else if (a === 'type') f.kind = nextArg(args, i++);
    else {
      if (a === 'dev') a = nextArg(args, i++);
      else if (matches(a, 'help')) usage(help);
      if (f.dev !== undefined) duparg2('dev', a);
      f.dev = a;
    }
  }
  return f;
}

/** The addresses a family, `to PREFIX` and the flag words select. */
function addrSelect(f: LinkFilter, fam?: Ctx['family']): AddrSelect {
  return (a) => {
    if (((ifaFlags(a) ^ f.flags) & f.mask) !== 0) return false;
    if (isInet6(a)) return (fam === undefined || fam === 'inet6') && f.to === undefined && (f.to6 === undefined || inPrefix6(a.addr, f.to6.addr, f.to6.len));
    return (fam === undefined || fam === 'inet') && f.to6 === undefined && (f.to === undefined || ((a.local ^ f.to.addr) & maskOf(f.to.len)) === 0);
  };
}

/** The devices a filter selects, in ifindex order (`Device "X" does not exist.` for a missing one). */
function filteredLinks(ctx: Ctx, f: LinkFilter): LinkDump[] {
  const { emu, ns } = ctx;
  if (f.dev !== undefined && !emu.netns(ns).find(f.dev)) throw new CliError(`Device "${f.dev}" does not exist.`, 1);
  const devs = f.dev === undefined ? emu.links(ns) : [emu.netns(ns).find(f.dev)!];
  return devs.map((d) => emu.dump(d))
    .filter((d) => (!f.up || d.flags.includes('UP')) && (f.kind === undefined || d.kind === f.kind));
}

/** `ip link show`: text, `-br`, `-o`, `-j [-p]`, with `-d` and `-s [-s]`. */
function linkShow(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const dumps = filteredLinks(ctx, parseLinkFilter(args, LINK_USAGE));
  const o = { details: ctx.details, stats: ctx.stats };
  if (ctx.brief) {
    if (ctx.json) return printJson(ctx, dumps.map((d) => linkBriefJson(emu, ns, d)));
    return void ctx.out.push(...dumps.map((d) => linkBrief(emu, ns, d)));
  }
  if (ctx.json) return printJson(ctx, dumps.map((d) => linkJson(emu, ns, d, o)));
  printRecords(ctx, dumps.map((d) => linkText(emu, ns, d, o)));
}

/**
 * `ip addr show`: with a family (`-4`, `-6`) only the devices holding an address of it, and
 * without their link layer.
 */
function addrShow(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const f = parseLinkFilter(args, ADDR_USAGE);
  if (ctx.family === 'link') {
    // `-0`: the link part alone, in the address listing's shape (no `mode`)
    const dumps = filteredLinks(ctx, f);
    const o = { details: ctx.details, stats: ctx.stats, addr: true };
    if (ctx.brief) {
      if (ctx.json) return printJson(ctx, dumps.map((d) => linkBriefJson(emu, ns, d)));
      return void ctx.out.push(...dumps.map((d) => linkBrief(emu, ns, d)));
    }
    if (ctx.json) return printJson(ctx, dumps.map((d) => linkJson(emu, ns, d, o)));
    return printRecords(ctx, dumps.map((d) => linkText(emu, ns, d, o)));
  }
  // (`to PREFIX` sets the family when none was given)
  const fam = ctx.family ?? (f.to ? 'inet' : f.to6 ? 'inet6' : undefined);
  const keep = addrSelect(f, fam);
  // ipaddr_filter: a device stays if one of its addresses passes every filter, or if it has
  // none at all and no family was asked for.
  const dumps = filteredLinks(ctx, f).filter((d) => {
    const all = addrList(emu, ns, d.ifindex);
    if (all.length === 0) return fam === undefined;
    return all.some(keep);
  });
  const o = { details: ctx.details, stats: ctx.stats, noL2: fam !== undefined, keep, inet6Dump: ctx.family === 'inet6' && f.dev === undefined };
  if (ctx.brief) {
    if (ctx.json) return printJson(ctx, dumps.map((d) => addrBriefJson(emu, ns, d, keep)));
    return void ctx.out.push(...dumps.map((d) => addrBrief(emu, ns, d, keep)));
  }
  if (ctx.json) return printJson(ctx, dumps.map((d) => addrJson(emu, ns, d, o)));
  if (ctx.oneline) return void ctx.out.push(...dumps.flatMap((d) => addrOneline(emu, ns, d, keep)));
  printRecords(ctx, dumps.map((d) => addrText(emu, ns, d, o)));
}

/** `ip addr flush SELECTOR`: every address of the selected devices (IPv4 secondaries first, as their primary would take them). */
function addrFlush(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  if (args.length === 0) throw new CliError('Flush requires arguments.', 1);
  const f = parseLinkFilter(args, ADDR_USAGE);
  const dumps = filteredLinks(ctx, f);
  if (ctx.family !== undefined && ctx.family !== 'inet' && ctx.family !== 'inet6') return;
  const fam = ctx.family ?? (f.to ? 'inet' : f.to6 ? 'inet6' : undefined);
  for (const d of dumps) {
    for (const a of [...addrList(emu, ns, d.ifindex, addrSelect(f, fam))].reverse()) {
      if (isInet6(a)) emu.stack(ns).inet6.delAddress(d.ifindex, a.addr, a.prefixLen);
      else emu.delAddress(ns, d.ifindex, `${formatIp(a.local)}/${a.prefixLen}`);
    }
  }
}

/** iproute2's CONFDIR/bpf_pinning (custom map pinning ids), when this host has one. */
function pinningDb(): Record<number, string> | undefined {
  try {
    return parsePinningDb(readFileSync('/etc/iproute2/bpf_pinning', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Loads the object's XDP program (the first, or section `sec`) and attaches it; null detaches. */
function setXdp(ctx: Ctx, dev: string, o: { file: string; sec?: string } | null): void {
  if (o === null) return ctx.emu.setXdp(ctx.ns, dev, undefined);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(o.file));
  } catch {
    throw new CliError(`Error: failed to open object file ${o.file}`, 255);
  }
  let obj: LoadedObject;
  try {
    // (a legacy `maps` section is loaded as iproute2's legacy loader loads it, its custom
    // pinning ids from this host's /etc/iproute2/bpf_pinning)
    // iproute2 makes its tree under the bpffs first (bpf_get_work_dir); built with libbpf,
    // as Debian's is, it gives libbpf `<work dir>/globals` to pin `.maps` maps by name in
    ctx.emu.bpf.fs.makeIproute2Tree();
    obj = ctx.emu.loadObject(bytes, { pinning: pinningDb(), pinRoot: '/sys/fs/bpf/xdp//globals' });
  } catch (e) {
    // (the legacy loader's refusals while it makes the maps: its own lines, exit 255;
    // libbpf's while it loads the object: its lines, then that the load failed)
    if (e instanceof Iproute2Refusal) throw new CliError(e.message, 255);
    if (e instanceof LoadError && e.section === undefined) {
      throw new CliError([...e.message.split('\n'), `failed to load object '${o.file}'`].map((l) => `libbpf: ${l}`).join('\n'), 255);
    }
    throw e;
  }
  const prog = [...obj.programs.values()].find((p) => p.type === 'xdp' && (!o.sec || o.sec === 'xdp' || p.name === o.sec));
  if (!prog) throw new CliError(`Error: no XDP program${o.sec ? ` in section ${o.sec}` : ''} in ${o.file}`, 255);
  ctx.emu.setXdp(ctx.ns, dev, prog);
}

function linkCmd(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const verb = args[0];
  if (verb === undefined) return linkShow(ctx, []);
  if (matches(verb, 'add')) {
    const req: LinkRequest = {};
    const at = parseLinkOptions(args, 1, req, true);
    if (at >= args.length) throw new CliError('Not enough information: "type" argument is required', 1);
    const kind = args[at + 1];
    if (kind !== 'netkit') throw new CliError(`Error: Unknown device type "${kind ?? ''}".`, 2);
    const data: NetkitData = {};
    parseNetkit(args, at + 2, data);
    emu.addLink({ ...req, linkinfo: { kind: 'netkit', data } }, ns);
    return;
  }
  if (matches(verb, 'set') || matches(verb, 'change')) {
    let i = 1;
    if (args[i] === 'dev') i++;
    const name = args[i++];
    if (name === undefined) throw new CliError('Not enough information: "dev" argument is required.', 255);
    const change: Parameters<Emulator['setLink']>[2] = {};
    let xdp: { file: string; sec?: string } | null | undefined;
    let pidNetns = false;
    for (; i < args.length; i++) {
      const a = args[i]!;
      switch (a) {
        case 'up': change.up = true; break;
        case 'down': change.up = false; break;
        case 'netns': {
          const v = nextArg(args, i++);
          if (change.netns !== undefined || pidNetns) duparg('netns', v);
          // (netns_get_fd: a name under the netns directory, else a PID — IFLA_NET_NS_PID, for
          // which the kernel finds no process here: ESRCH once the device is found)
          if (emu.hasNetns(v)) change.netns = v;
          else if (/^[+-]?\d+$/.test(v) && Math.abs(Number(v)) <= 0x7fffffff) pidNetns = true;
          else invarg('Invalid "netns" value\n', v);
          break;
        }
        case 'mtu': {
          const v = nextArg(args, i++);
          if (change.mtu !== undefined) duparg('mtu', v);
          change.mtu = mtuArg(v);
          break;
        }
        case 'name': {
          const v = nextArg(args, i++);
          if (v.length >= 16 || v.length === 0 || /[/:\s]/.test(v)) invarg('"name" not a valid ifname', v);
          change.ifname = v;
          break;
        }
        case 'address': {
          change.address = nextArg(args, i++);
          // (iproute2 parses the address itself: ll_addr_a2n)
          if (!/^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/i.test(change.address)) throw new CliError(`"${change.address}" is invalid lladdr.`, 1);
          break;
        }
        case 'txqueuelen': case 'txqlen': case 'qlen': {
          const v = nextArg(args, i++);
          if (change.txqlen !== undefined) duparg('txqueuelen', v);
          change.txqlen = uint(v, 'Invalid "txqueuelen" value\n');
          break;
        }
        case 'addrgenmode': {
          // (iplink_parse: an unknown mode is invarg with its message's own newline)
          const v = nextArg(args, i++);
          if (v !== 'eui64' && v !== 'none' && v !== 'stable_secret' && v !== 'random') invarg('Invalid address generation mode\n', v);
          change.addrgenmode = v;
          break;
        }
        case 'xdp': case 'xdpdrv': {
          // ip link set dev DEV xdp obj FILE [sec NAME] | xdp off
          const how = nextArg(args, i++);
          if (how === 'off') { xdp = null; break; }
          if (how !== 'obj') throw new CliError(`Error: argument "${how}" is wrong: "xdp" needs "obj FILE" or "off"`, 255);
          xdp = { file: nextArg(args, i++) };
          if (args[i + 1] === 'sec' || args[i + 1] === 'section') { i += 2; xdp.sec = args[i]; }
          break;
        }
        case 'type': {
          if (args[i + 1] !== 'netkit') throw new CliError(`Error: Unknown device type "${args[i + 1] ?? ''}".`, 2);
          const data: NetkitData = {};
          parseNetkit(args, i + 2, data);
          change.data = data;
          i = args.length;
          break;
        }
        default: duparg2('dev', a);
      }
    }
    findDev(emu, ns, name);
    if (pidNetns) throw new NetError('ESRCH');
    if (xdp !== undefined) return setXdp(ctx, name, xdp);
    emu.setLink(ns, name, change);
    return;
  }
  if (matches(verb, 'delete')) {
    let i = 1;
    if (args[i] === 'dev') i++;
    const name = args[i];
    if (name === undefined) throw new CliError('Not enough information: "dev" argument is required.', 255);
    findDev(emu, ns, name);
    emu.delLink(ns, name);
    return;
  }
  if (matches(verb, 'show') || matches(verb, 'lst') || matches(verb, 'list')) return linkShow(ctx, args.slice(1));
  if (matches(verb, 'help')) {
    // do_help: a kind with its own help prints it on stdout (netkit's print_help); else the usage
    if (args[1] === 'netkit') return void ctx.out.push(...NETKIT_USAGE);
    usage(LINK_USAGE);
  }
  unknownVerb('link', verb, ['replace', 'xstats', 'afstats', 'property']);
}

/** `ip addr {add|del} IFADDR dev IFNAME [broadcast ADDR|+|-] [label NAME]` (ipaddr_modify). */
function addrModify(ctx: Ctx, verb: 'add' | 'del', args: string[]): void {
  const { emu, ns } = ctx;
  let local: string | undefined;
  let dev: string | undefined;
  let brd: string | undefined;
  const flags: { nodad?: boolean; noprefixroute?: boolean } = {};
  const famName = ctx.family === 'inet' ? 'inet' : ctx.family === 'inet6' ? 'inet6' : 'any valid';
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'nodad' || a === 'noprefixroute') {
      flags[a] = true;
    } else if (matches(a, 'broadcast') || a === 'brd') {
      const v = nextArg(args, i++);
      if (brd !== undefined) duparg('broadcast', v);
      if (v !== '+' && v !== '-' && parseIp(v) === null) throw new CliError(`Error: inet address is expected rather than "${v}".`, 1);
      brd = v;
    } else if (a === 'dev') {
      dev = nextArg(args, i++);
    } else {
      if (a === 'local') a = nextArg(args, i++);
      if (matches(a, 'help')) usage(ADDR_USAGE);
      if (local !== undefined) duparg2('local', a);
      // (get_prefix: an address of the family asked for, or of either, and a length within it)
      const bad = (): never => { throw new CliError(`Error: ${famName} prefix is expected rather than "${a}".`, 1); };
      if (a.includes(':')) {
        const [ip, len, extra] = a.split('/');
        if (ctx.family === 'inet' || parseIp6(ip!) === null || extra !== undefined || (len !== undefined && !(/^\d{1,3}$/.test(len) && Number(len) <= 128))) bad();
      } else {
        const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(a);
        if (ctx.family === 'inet6' || !m || m.slice(1, 5).some((o) => Number(o) > 255) || (m[5] !== undefined && Number(m[5]) > 32)) bad();
      }
      local = a;
    }
  }
  if (dev === undefined) throw new CliError('Not enough information: "dev" argument is required.', 1);
  findDev(emu, ns, dev);
  // No address, no family: rtnetlink has no RTM_NEWADDR handler for AF_UNSPEC.
  if (local === undefined) throw new NetError('EOPNOTSUPP');
  if (local.includes(':')) {
    if (brd !== undefined) throw new CliError('nkemu: an IPv6 address takes no broadcast', 1);
    if (verb === 'del') return emu.delAddress(ns, dev, local);
    return emu.addAddress(ns, dev, local, flags);
  }
  if (flags.nodad || flags.noprefixroute) throw new CliError('nkemu: nodad and noprefixroute are IPv6 address flags here', 1);
  if (verb === 'del') {
    if (!local.includes('/')) {
      // no prefix length: the kernel matches the address alone, and iproute2 says so
      ctx.err.push('Warning: Executing wildcard deletion to stay compatible with old scripts.',
        `         Explicitly specify the prefix length (${local}/32) to avoid this warning.`,
        '         This special behaviour is likely to disappear in further releases,', '         fix your scripts!');
    }
    return emu.delAddress(ns, dev, local);
  }
  const [ip, len] = local.split('/');
  const addr = parseIp(ip!)!;
  const plen = len === undefined ? 32 : Number(len);
  // `brd +` / `brd -`: iproute2 computes the all-ones / all-zeros host part (prefixes up to /30).
  let b: number | undefined;
  if (brd === '+') b = plen <= 30 ? (addr | ~maskOf(plen)) >>> 0 : undefined;
  else if (brd === '-') b = plen <= 30 ? (addr & maskOf(plen)) >>> 0 : undefined;
  else if (brd !== undefined) b = parseIp(brd)!;
  emu.stack(ns).addAddress(emu.netns(ns).find(dev)!.ifindex, addr, plen, b);
}

function addrCmd(ctx: Ctx, args: string[]): void {
  const verb = args[0];
  if (verb === undefined) return addrShow(ctx, []);
  if (matches(verb, 'add')) return addrModify(ctx, 'add', args.slice(1));
  if (matches(verb, 'delete')) return addrModify(ctx, 'del', args.slice(1));
  if (matches(verb, 'list') || matches(verb, 'show') || matches(verb, 'lst')) return addrShow(ctx, args.slice(1));
  if (matches(verb, 'flush')) return addrFlush(ctx, args.slice(1));
  if (matches(verb, 'help')) usage(ADDR_USAGE);
  unknownVerb('address', verb, ['change', 'chg', 'replace', 'save', 'showdump', 'restore']);
}

/**
 * `table ID`: nkemu's stack keeps the main table only. Another number names a table that
 * does not exist, as in a fresh namespace (the kernel's answer to a dump of it); local,
 * default and all are not modelled.
 */
function parseTable(v: string, dump: boolean): void {
  if (v === 'main' || v === '254') return;
  if (!/^(local|default|all|\d+)$/.test(v)) invarg('table id value is invalid\n', v);
  if (dump && /^\d+$/.test(v) && Number(v) !== 253 && Number(v) !== 255 && Number(v) !== 0) {
    throw new CliError(`${new NetError('ENOENT', 'ipv4: FIB table does not exist').iproute2()}\nDump terminated`, 2);
  }
  throw new CliError(`nkemu: only the main table is modelled, not "${v}"`, 1);
}

/** What `ip route {show|flush}` selects: a device, and prefixes (root: inside it; match: containing it; exact: equal). */
interface RouteSelector {
  dev?: number;
  root?: Prefix;
  match?: Prefix;
}

/** get_prefix for IPv4: `default`, `A.B.C.D` (a /32) or `A.B.C.D/LEN`. */
function prefixArg(v: string): Prefix {
  if (v === 'default' || v === 'all' || v === 'any') return { addr: 0, len: 0 };
  const [ip, len, extra] = v.split('/');
  const addr = parseIp(ip!);
  const l = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (addr === null || extra !== undefined || !(l <= 32)) throw new CliError(`Error: any valid prefix is expected rather than "${v}".`, 1);
  return { addr, len: l };
}

/** iproute_list_flush_or_save's selector: `dev`/`oif`, `table`, `root P`, `match P`, `[exact|to] P`. */
function parseRouteSelector(ctx: Ctx, args: string[]): RouteSelector {
  let dev: string | undefined;
  const sel: RouteSelector = {};
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'dev' || matches(a, 'oif')) dev = nextArg(args, i++);
    else if (matches(a, 'table')) parseTable(nextArg(args, i++), true);
    else if (matches(a, 'help')) usage(ROUTE_USAGE);
    else {
      if (matches(a, 'to')) a = nextArg(args, i++);
      if (matches(a, 'root')) sel.root = prefixArg(nextArg(args, i++));
      else if (matches(a, 'match')) sel.match = prefixArg(nextArg(args, i++));
      else {
        if (matches(a, 'exact')) a = nextArg(args, i++);
        sel.root = sel.match = prefixArg(a);
      }
    }
  }
  if (dev !== undefined) sel.dev = findDev(ctx.emu, ctx.ns, dev).ifindex;
  return sel;
}

/** Whether a route (network, length, device) is one the selector takes. */
function selected(sel: RouteSelector, r: { dst: number; prefixLen: number; ifindex: number }): boolean {
  const within = (p: Prefix, net: number, len: number): boolean => ((net ^ p.addr) & maskOf(p.len)) === 0 && len >= p.len;
  return (sel.dev === undefined || r.ifindex === sel.dev)
    && (sel.root === undefined || within(sel.root, r.dst, r.prefixLen))
    && (sel.match === undefined || within({ addr: r.dst, len: r.prefixLen }, sel.match.addr, sel.match.len));
}

/** `ip route get [to] ADDR [from ADDR] [oif DEV] [mark N]` (iproute_get): the route the kernel would pick. */
function routeGetCmd(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const o: { dst?: number; from?: number; oif?: string; mark?: number } = {};
  const addr = (v: string): number => {
    const ip = parseIp(v.split('/')[0]!);
    if (ip === null || v.split('/').length > 2) throw new CliError(`Error: any valid prefix is expected rather than "${v}".`, 1);
    return ip;
  };
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'tos' || matches(a, 'dsfield')) {
      // (rtnl_dsfield_a2n: a byte; nkemu's routes carry no TOS, so every value finds the same route)
      const v = nextArg(args, i++);
      if (!/^(0x[0-9a-f]{1,2}|\d{1,3})$/i.test(v) || Number(v) > 255) invarg('TOS value is invalid\n', v);
    } else if (matches(a, 'from')) o.from = addr(nextArg(args, i++));
    else if (matches(a, 'mark')) {
      const v = nextArg(args, i++);
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(v) || Number(v) > 0xffffffff) invarg('invalid mark value', v);
      o.mark = Number(v);
    } else if (matches(a, 'oif') || a === 'dev') o.oif = nextArg(args, i++);
    else {
      if (a === 'to') a = nextArg(args, i++);
      if (matches(a, 'help')) usage(ROUTE_USAGE);
      o.dst = addr(a);
    }
  }
  if (o.dst === undefined) throw new CliError('need at least a destination address', 1);
  const oif = o.oif === undefined ? undefined : findDev(emu, ns, o.oif).ifindex;
  const r = routeGet(emu, ns, { dst: o.dst, from: o.from, oif, mark: o.mark });
  if (ctx.json) return printJson(ctx, [r.json]);
  printRecords(ctx, [r.text]);
}

/** The route types `ip route add|del` takes (the rest of iproute2's, local, broadcast, throw, nat, …, nkemu has not). */
const ROUTE_TYPES: ReadonlySet<string> = new Set(['unicast', 'blackhole', 'unreachable', 'prohibit']);

/** What the IPv6 routes' verbs (ip-route6.ts) take from this file. */
const ROUTE6_HELPERS: Route6Helpers = {
  nextArg, matches, uint, duparg2, usage, parseTable, printJson,
  findDev: (ctx, name) => findDev(ctx.emu, ctx.ns, name).ifindex,
};

function routeCmd(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const verb = args[0];
  // (`-6`, or a destination with a colon: the IPv6 table; help and unknown verbs stay here)
  const v6verbs = ['add', 'change', 'replace', 'delete', 'list', 'show', 'lst', 'flush', 'get', 'append', 'prepend'];
  if (isRoute6(ctx, args) && (verb === undefined || v6verbs.some((w) => matches(verb, w)) || verb === 'chg')) return route6Cmd(ctx, args, ROUTE6_HELPERS);
  const list = (sel: RouteSelector): void => {
    if (ctx.family !== undefined && ctx.family !== 'inet') return;
    const keep = (r: Route): boolean => selected(sel, r);
    if (ctx.json) printJson(ctx, routeJson(emu, ns, sel.dev, keep));
    else ctx.out.push(...routeLines(emu, ns, sel.dev, keep));
  };
  if (verb === undefined) return list({});
  const add = matches(verb, 'add');
  const change = matches(verb, 'change') || verb === 'chg';
  const replace = matches(verb, 'replace');
  if (add || change || replace || matches(verb, 'delete')) {
    const r: { dst: string; via?: string; dev?: string; src?: string; metric?: number; type?: RouteType } = { dst: '' };
    for (let i = 1; i < args.length; i++) {
      const a = args[i]!;
      // (iproute2's `[TYPE] PREFIX`: a type keyword before the prefix)
      if (r.dst === '' && r.type === undefined && ROUTE_TYPES.has(a)) r.type = a as RouteType;
      else if (a === 'via') r.via = nextArg(args, i++);
      else if (a === 'dev' || matches(a, 'oif')) r.dev = nextArg(args, i++);
      else if (a === 'src') r.src = nextArg(args, i++);
      else if (a === 'metric' || a === 'preference') {
        r.metric = uint(nextArg(args, i++), '"metric" value is invalid\n');
      }
      else if (matches(a, 'table')) parseTable(nextArg(args, i++), false);
      else if (r.dst === '') {
        const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(a);
        if (a !== 'default' && (!m || m.slice(1, 5).some((x) => Number(x) > 255) || (m[5] !== undefined && Number(m[5]) > 32))) {
          throw new CliError(`Error: any valid prefix is expected rather than "${a}".`, 1);
        }
        r.dst = a;
      } else duparg2('to', a);
    }
    if (r.dst === '') usage(ROUTE_USAGE);
    if (r.dev !== undefined) findDev(emu, ns, r.dev);
    // (a route with neither a device nor a gateway: the kernel's fib_create_info finds no device)
    if ((add || change || replace) && r.dev === undefined && r.via === undefined && (r.type ?? 'unicast') === 'unicast') throw new NetError('ENODEV');
    if (add) return emu.addRoute(ns, r);
    if (change || replace) {
      // fib_table_insert with NLM_F_REPLACE: the route of the same key (network, length,
      // metric) gives way to the new one, which is checked as an add is (the old one stays
      // if it is refused); none: replace creates, change (no NLM_F_CREATE) is ENOENT.
      const stack = emu.stack(ns);
      const [ip, len] = r.dst === 'default' ? ['0.0.0.0', '0'] : r.dst.split('/');
      const old = stack.routes.list().find((x) => x.dst === parseIp(ip!) && x.prefixLen === (len === undefined ? 32 : Number(len)) && x.metric === (r.metric ?? 0));
      if (!old) {
        if (change) throw new NetError('ENOENT');
        return emu.addRoute(ns, r);
      }
      stack.routes.remove(old);
      try {
        return emu.addRoute(ns, r);
      } catch (e) {
        stack.routes.add(old);
        throw e;
      }
    }
    // fib_table_delete: a given gateway must be the route's too
    if (r.via !== undefined) {
      const via = parseIp(r.via);
      const [ip, len] = r.dst === 'default' ? ['0.0.0.0', '0'] : r.dst.split('/');
      const hit = emu.stack(ns).routes.list().find((x) => x.dst === parseIp(ip!) && x.prefixLen === (len === undefined ? 32 : Number(len))
        && x.via === via && (r.metric === undefined || x.metric === r.metric));
      if (!hit) throw new NetError('ESRCH');
      return emu.delRoute(ns, { dst: r.dst, dev: hit.ifindex, metric: hit.metric });
    }
    return emu.delRoute(ns, { dst: r.dst, dev: r.dev, metric: r.metric, ...(r.type ? { type: r.type } : {}) });
  }
  if (matches(verb, 'list') || matches(verb, 'show') || matches(verb, 'lst')) return list(parseRouteSelector(ctx, args.slice(1)));
  if (matches(verb, 'get')) return routeGetCmd(ctx, args.slice(1));
  if (matches(verb, 'flush')) {
    if (args.length < 2) throw new CliError('"ip route flush" requires arguments.', 1);
    const sel = parseRouteSelector(ctx, args.slice(1));
    if (ctx.family !== undefined && ctx.family !== 'inet') return;
    const stack = emu.stack(ns);
    for (const r of [...stack.routes.list()]) {
      if (selected(sel, r)) stack.delRoute({ dst: r.dst, prefixLen: r.prefixLen, metric: r.metric, ifindex: r.ifindex });
    }
    return;
  }
  if (matches(verb, 'help')) usage(ROUTE_USAGE);
  unknownVerb('route', verb, ['prepend', 'append', 'test', 'save', 'restore', 'showdump']);
}

const NUD: Record<string, NeighState> = {
  permanent: 'PERMANENT', reachable: 'REACHABLE', stale: 'STALE', noarp: 'NOARP', incomplete: 'INCOMPLETE', failed: 'FAILED',
};

/** `ip neigh {show|flush} [to PREFIX] [dev DEV] [nud STATE|all]` (do_show_or_flush). */
function neighShowOrFlush(ctx: Ctx, args: string[], flush: boolean): void {
  const { emu, ns } = ctx;
  let dev: string | undefined;
  let to: { addr: number; len: number } | undefined;
  let to6: { addr: bigint; len: number } | undefined;
  // show leaves out NOARP entries and flush the PERMANENT ones too, unless a `nud` says otherwise
  let states: Set<NeighState> | 'all' = new Set(Object.values(NUD).filter((x) => x !== 'NOARP' && (!flush || x !== 'PERMANENT')));
  let nudGiven = false;
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'dev') dev = nextArg(args, i++);
    else if (a === 'nud') {
      const v = nextArg(args, i++);
      if (!nudGiven) states = new Set();
      nudGiven = true;
      if (v === 'all') states = 'all';
      else if (NUD[v] === undefined) invarg('nud state is bad', v);
      else if (states !== 'all') states.add(NUD[v]);
    } else if (a === 'all') continue;
    else {
      if (a === 'to') a = nextArg(args, i++);
      if (matches(a, 'help')) usage(NEIGH_USAGE);
      if (a.includes(':')) {
        const [ip6, len6, extra6] = a.split('/');
        const addr6 = parseIp6(ip6!);
        const l6 = len6 === undefined ? 128 : /^\d{1,3}$/.test(len6) ? Number(len6) : NaN;
        if (addr6 === null || extra6 !== undefined || !(l6 <= 128)) throw new CliError(`Error: any valid prefix is expected rather than "${a}".`, 1);
        to6 = { addr: addr6, len: l6 };
        continue;
      }
      const [ip, len, extra] = a.split('/');
      const addr = parseIp(ip!);
      const l = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
      if (addr === null || extra !== undefined || !(l <= 32)) throw new CliError(`Error: any valid prefix is expected rather than "${a}".`, 1);
      to = { addr, len: l };
    }
  }
  if (flush && args.length === 0) throw new CliError('Flush requires arguments.', 1);
  const ifindex = dev === undefined ? undefined : findDev(emu, ns, dev).ifindex;
  const stack = emu.stack(ns);
  const fam = ctx.family ?? (to ? 'inet' : to6 ? 'inet6' : undefined);
  const keep = (n: { ifindex: number; dst: number; state: NeighState }): boolean => (fam === undefined || fam === 'inet') && to6 === undefined
    && (ifindex === undefined || n.ifindex === ifindex)
    && (to === undefined || ((n.dst ^ to.addr) & maskOf(to.len)) === 0) && (states === 'all' || states.has(n.state));
  const keep6 = (n: Neighbour6): boolean => (fam === undefined || fam === 'inet6') && to === undefined && (ifindex === undefined || n.ifindex === ifindex)
    && (to6 === undefined || inPrefix6(n.dst, to6.addr, to6.len)) && (states === 'all' || states.has(n.state));
  if (flush) {
    for (const n of stack.neighbours().filter(keep)) stack.delNeighbour(n.ifindex, n.dst);
    for (const n of stack.ip6.neighbours().filter(keep6)) stack.ip6.delNeighbour(n.ifindex, n.dst);
    return;
  }
  if (ctx.family !== undefined && ctx.family !== 'inet' && ctx.family !== 'inet6') return void (ctx.json && printJson(ctx, []));
  if (ctx.json) printJson(ctx, [...neighJson(emu, ns, ifindex, keep), ...neigh6Json(emu, ns, ifindex, keep6)]);
  else ctx.out.push(...neighLines(emu, ns, ifindex, keep), ...neigh6Lines(emu, ns, ifindex, keep6));
}

/** `ip neigh {add|replace|change|del} ADDR [lladdr LLADDR] [nud STATE] dev DEV`. */
function neighModify(ctx: Ctx, verb: 'add' | 'replace' | 'change' | 'del', args: string[]): void {
  const { emu, ns } = ctx;
  const opt: { dst?: string; lladdr?: string; dev?: string; nud?: NeighState } = {};
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'lladdr') opt.lladdr = nextArg(args, i++);
    else if (a === 'dev') opt.dev = nextArg(args, i++);
    else if (a === 'nud') {
      const v = nextArg(args, i++);
      opt.nud = NUD[v];
      if (!opt.nud) invarg('nud state is bad', v);
    } else {
      if (a === 'to') a = nextArg(args, i++);
      if (matches(a, 'help')) usage(NEIGH_USAGE);
      if (opt.dst !== undefined) duparg2('to', a);
      opt.dst = a;
    }
  }
  if (opt.dev === undefined || opt.dst === undefined) throw new CliError('Device and destination are required arguments.', 255);
  const dev = findDev(emu, ns, opt.dev).ifindex;
  const stack = emu.stack(ns);
  let ll: Uint8Array | null = null;
  const lladdr = (): void => {
    if (opt.lladdr === undefined) return;
    if (!/^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/i.test(opt.lladdr)) throw new CliError(`"${opt.lladdr}" is invalid lladdr.`, 1);
    ll = new Uint8Array(opt.lladdr.split(':').map((x) => parseInt(x, 16)));
  };
  if (ctx.family === 'inet6' || opt.dst.includes(':')) {
    // (the IPv6 neighbour table, ndisc's: the same verbs on ipv6.ts's entries)
    const dst6 = parseIp6(opt.dst);
    if (dst6 === null) throw new CliError(`Error: ${ctx.family === 'inet6' ? 'inet6' : 'any valid'} address is expected rather than "${opt.dst}".`, 1);
    if (verb === 'del') {
      if (!stack.ip6.delNeighbour(dev, dst6)) throw new NetError('ENOENT');
      return;
    }
    lladdr();
    if (verb === 'change' && !stack.ip6.neighbours().some((x) => x.ifindex === dev && x.dst === dst6)) throw new NetError('ENOENT');
    return stack.ip6.addNeighbour(dev, dst6, ll, { state: opt.nud, replace: verb !== 'add' });
  }
  const dst = parseIp(opt.dst);
  if (dst === null) throw new CliError(`Error: any valid address is expected rather than "${opt.dst}".`, 1);
  if (verb === 'del') return stack.delNeighbour(dev, dst);
  lladdr();
  // change: NLM_F_REPLACE without NLM_F_CREATE, so the entry must exist
  if (verb === 'change' && !stack.neighbours().some((x) => x.ifindex === dev && x.dst === dst)) throw new NetError('ENOENT');
  stack.addNeighbour(dev, dst, ll, { state: opt.nud, replace: verb !== 'add' });
}

/** `ip neigh get ADDR dev DEV` (RTM_GETNEIGH): the one entry, its device named. */
function neighGet(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  let dev: string | undefined;
  let dst: string | undefined;
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === 'dev') dev = nextArg(args, i++);
    else {
      if (a === 'to') a = nextArg(args, i++);
      if (matches(a, 'help')) usage(NEIGH_USAGE);
      if (dst !== undefined) duparg2('to', a);
      dst = a;
    }
  }
  if (dev === undefined || dst === undefined) throw new CliError('Device and address are required arguments.', 1);
  const ip = parseIp(dst);
  if (ip === null) throw new CliError(`Error: any valid address is expected rather than "${dst}".`, 1);
  const ifindex = findDev(emu, ns, dev).ifindex;
  const keep = (n: { ifindex: number; dst: number }): boolean => n.ifindex === ifindex && n.dst === ip;
  if (!emu.stack(ns).neighbours().some(keep)) throw new NetError('ENOENT', 'Neighbour entry not found');
  if (ctx.json) printJson(ctx, neighJson(emu, ns, undefined, keep));
  else ctx.out.push(...neighLines(emu, ns, undefined, keep));
}

/** `ip neigh …` (do_ipneigh's verbs, in its order). */
function neighCmd(ctx: Ctx, args: string[]): void {
  const verb = args[0];
  const rest = args.slice(1);
  if (verb === undefined) return neighShowOrFlush(ctx, [], false);
  if (matches(verb, 'add')) return neighModify(ctx, 'add', rest);
  if (matches(verb, 'change') || verb === 'chg') return neighModify(ctx, 'change', rest);
  if (matches(verb, 'replace')) return neighModify(ctx, 'replace', rest);
  if (matches(verb, 'delete')) return neighModify(ctx, 'del', rest);
  if (matches(verb, 'get')) return neighGet(ctx, rest);
  if (matches(verb, 'show') || matches(verb, 'lst') || matches(verb, 'list')) return neighShowOrFlush(ctx, rest, false);
  if (matches(verb, 'flush')) return neighShowOrFlush(ctx, rest, true);
  if (matches(verb, 'help')) usage(NEIGH_USAGE);
  unknownVerb('neigh', verb, []);
}

/** NETNS_RUN_DIR as this iproute2 was built with (Debian: /run/netns). */
const NETNS_DIR = '/run/netns';

function netnsCmd(ctx: Ctx, args: string[], exec: (ns: string, argv: string[]) => Promise<void>): Promise<void> | void {
  const { emu } = ctx;
  const verb = args[0];
  if (verb === undefined || matches(verb, 'list')) {
    const init = emu.netns('init');
    for (const name of emu.listNetns().filter((n) => n !== 'init').reverse()) {
      const other = emu.netns(name);
      const id = init.nsidTarget === undefined ? undefined : [...Array(256).keys()].find((k) => init.nsidTarget(k) === other.id);
      ctx.out.push(id === undefined ? name : `${name} (id: ${id})`);
    }
    return;
  }
  if (matches(verb, 'help')) usage(NETNS_USAGE);
  if (matches(verb, 'add')) {
    const name = args[1];
    if (!name) throw new CliError('No netns name specified', 1);
    // (iproute2's is_valid_netns_name: a file name in the netns directory)
    if (name.includes('/') || name === '.' || name === '..' || name.length > 255) throw new CliError(`Invalid netns name "${name}"`, 255);
    if (emu.hasNetns(name)) throw new CliError(`Cannot create namespace file "${NETNS_DIR}/${name}": File exists`, 1);
    emu.addNetns(name);
    return;
  }
  if (matches(verb, 'delete')) {
    const name = args[1];
    if (!name) throw new CliError('No netns name specified', 1);
    if (!emu.hasNetns(name) || name === 'init') throw new CliError(`Cannot remove namespace file "${NETNS_DIR}/${name}": No such file or directory`, 1);
    emu.delNetns(name);
    return;
  }
  if (matches(verb, 'exec')) {
    const name = args[1];
    if (!name) throw new CliError('No netns name specified', 1);
    if (!emu.hasNetns(name)) throw new CliError(`Cannot open network namespace "${name}": No such file or directory`, 255);
    if (args.length < 3) throw new CliError('No command specified', 1);
    return exec(name, args.slice(2));
  }
  unknownVerb('netns', verb, ['list-id', 'set', 'identify', 'pids', 'monitor', 'attach']);
}

const FAMILIES: Record<string, NonNullable<Ctx['family']>> = { inet: 'inet', inet6: 'inet6', link: 'link', mpls: 'mpls', bridge: 'bridge' };

/**
 * ip.c's objects in its order, so an abbreviation picks what iproute2 picks (`ip a` is
 * address, `ip n` neighbor, `ip r` route); null for the ones nkemu does not model.
 */
const OBJECTS: [string, ((ctx: Ctx, args: string[], exec: (ns: string, argv: string[]) => Promise<void>) => Promise<void> | void) | null][] = [
  ['address', addrCmd], ['addrlabel', null], ['maddress', null], ['route', routeCmd], ['rule', null], ['neighbor', neighCmd],
  ['neighbour', neighCmd], ['ntable', null], ['ntbl', null], ['link', linkCmd], ['l2tp', null], ['fou', null], ['ila', null],
  ['macsec', null], ['tunnel', null], ['tuntap', null], ['tap', null], ['token', null], ['tcpmetrics', null], ['tcp_metrics', null],
  ['monitor', null], ['xfrm', null], ['mroute', null], ['mrule', null], ['netns', netnsCmd], ['netconf', null], ['vrf', null],
  ['sr', null], ['nexthop', null], ['mptcp', null], ['ioam', null], ['help', () => usage(IP_USAGE)],
];

type OptionHandler = (ctx: Ctx, value: () => string | undefined) => void;

/**
 * ip.c's options in the order it tries them: each by any prefix of its name, the first
 * match wins (`-b` is -batch, `-br` -brief, `-h` -human); null for the ones nkemu lacks.
 */
const OPTIONS: [string, OptionHandler | null][] = [
  // (the most rounds `ip addr flush` may take; nkemu's flush finishes in one)
  ['-loops', (_ctx, value) => { if (value() === undefined) usage(IP_USAGE); }],
  ['-family', (ctx, value) => {
    const v = value();
    if (v === undefined || v === 'help') usage(IP_USAGE);
    const f = FAMILIES[v];
    if (f === undefined) invarg('invalid protocol family', v);
    ctx.family = f;
  }],
  ['-human', null], ['-human-readable', null], ['-iec', null],
  ['-stats', (ctx) => { ctx.stats++; }], ['-statistics', (ctx) => { ctx.stats++; }],
  ['-details', (ctx) => { ctx.details = true; }],
  ['-resolve', null],
  ['-oneline', (ctx) => { ctx.oneline = true; }],
  ['-timestamp', null], ['-tshort', null],
  // (the iproute2 whose behaviour this follows; ip.c prints it and exits 0)
  ['-Version', (ctx) => { ctx.out.push(IP_VERSION); throw new CliError('', 0); }], ['-force', null],
  ['-batch', (_ctx, value) => {
    if (value() === undefined) usage(IP_USAGE);
    throw new CliError('nkemu: ip -batch is not supported; "nkemu run FILE" runs a script', 255);
  }],
  ['-brief', (ctx) => { ctx.brief = true; }],
  ['-json', (ctx) => { ctx.json = true; }],
  ['-pretty', (ctx) => { ctx.pretty = true; }],
  ['-rcvbuf', null], ['-color', null], // (handled before the table: it takes =WHEN)
  ['-help', () => usage(IP_USAGE)],
  ['-netns', (ctx, value) => {
    // (with no name ip.c passes a NULL, which glibc prints as "(null)")
    const v = value() ?? '(null)';
    if (!ctx.emu.hasNetns(v)) throw new CliError(`Cannot open network namespace "${v}": No such file or directory`, 255);
    ctx.ns = v;
  }],
  ['-Numeric', null], ['-all', null],
];

const FAMILY_FLAGS: Record<string, NonNullable<Ctx['family']>> = { '-4': 'inet', '-6': 'inet6', '-0': 'link', '-M': 'mpls', '-B': 'bridge' };

/** `ip [OPTIONS] OBJECT …`: ip.c's option loop, then the object by any prefix of its name. */
export async function ipCommand(ctx: Ctx, argv: string[], exec: (ns: string, argv: string[]) => Promise<void>): Promise<void> {
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    if (argv[i] === '--') { i++; break; }
    const o = argv[i]!.startsWith('--') ? argv[i]!.slice(1) : argv[i]!;
    // matches_color: -c[olor][=always|auto|never]; nkemu prints no colour, so never is all it takes
    const [co, cv] = o.split(/=(.*)/s) as [string, string | undefined];
    if (OPTIONS.slice(0, OPTIONS.findIndex(([n]) => n === '-color')).every(([n]) => !matches(o, n)) && matches(co, '-color')
      && (cv === undefined || ['always', 'auto', 'never'].includes(cv))) {
      if (cv !== 'never') throw new CliError(`nkemu: ip ${o} is not supported (no colours; -color=never is)`, 255);
      continue;
    }
    const fam = FAMILY_FLAGS[o];
    // (ip.c tests -loops and -family by prefix before the exact family flags)
    const hit = OPTIONS.slice(0, 2).find(([name]) => matches(o, name)) ?? (fam ? undefined : OPTIONS.slice(2).find(([name]) => matches(o, name)));
    if (fam && !hit) {
      ctx.family = fam;
      continue;
    }
    if (!hit) throw new CliError(`Option "${o}" is unknown, try "ip -help".`, 255);
    if (!hit[1]) throw new CliError(`nkemu: ip option "${hit[0]}" is not supported`, 255);
    hit[1](ctx, () => argv[++i]);
  }
  const obj = argv[i];
  if (obj === undefined) usage(IP_USAGE);
  const hit = OBJECTS.find(([name]) => matches(obj, name));
  if (!hit || !hit[1]) throw new CliError(`Object "${obj}" is unknown, try "ip help".`, 1);
  return hit[1](ctx, argv.slice(i + 1), exec);
}
