/**
 * `ip` in iproute2's words: netns, link (netkit grammar of iplink_netkit.c), addr,
 * route, neigh. Parse errors print what iproute2 prints and change nothing: every
 * request is fully parsed before the emulator is asked.
 */

import { readFileSync } from 'node:fs';
import type { Emulator } from '../emulator.js';
import type { LinkDump, LinkRequest, NetkitData } from '../net/types.js';
import { NetError } from '../errors.js';
import { parseIp } from '../net/stack/packet.js';
import type { NeighState } from '../net/stack/stack.js';
import type { RouteType } from '../net/stack/route.js';
import { CliError, type Ctx } from './context.js';
import { addrJson, addrText, linkJson, linkText, neighJson, neighLines, routeJson, routeLines } from './format.js';

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

function uint(v: string | undefined, what: string, max = 0xffffffff): number {
  if (v === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(v) || Number(v) > max) invarg(`Invalid "${what}" value`, v ?? '');
  return Number(v);
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
      case 'numrxqueues': req.numRxQueues = uint(nextArg(args, i++), 'numrxqueues'); break;
      case 'numtxqueues': req.numTxQueues = uint(nextArg(args, i++), 'numtxqueues'); break;
      case 'mtu': req.mtu = uint(nextArg(args, i++), 'mtu'); break;
      case 'txqueuelen': case 'txqlen': case 'qlen': req.txqlen = uint(nextArg(args, i++), 'txqueuelen'); break;
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

function showOpts(ctx: Ctx): { details: boolean; stats: boolean } {
  return { details: ctx.details, stats: ctx.stats };
}

function findDev(emu: Emulator, ns: string, name: string) {
  const d = emu.netns(ns).find(name);
  if (!d) throw new CliError(`Cannot find device "${name}"`, 1);
  return d;
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
  const obj = ctx.emu.loadObject(bytes);
  const prog = [...obj.programs.values()].find((p) => p.type === 'xdp' && (!o.sec || o.sec === 'xdp' || p.name === o.sec));
  if (!prog) throw new CliError(`Error: no XDP program${o.sec ? ` in section ${o.sec}` : ''} in ${o.file}`, 255);
  ctx.emu.setXdp(ctx.ns, dev, prog);
}

type Formatter<T> = (emu: Emulator, ns: string, d: LinkDump, o: { details: boolean; stats: boolean }) => T;

/** `show [dev] [DEV]` for link and addr: every device of the namespace, or one. */
function show(ctx: Ctx, args: string[], json: Formatter<Record<string, unknown>>, text: Formatter<string[]>): void {
  const { emu, ns } = ctx;
  const name = args[args[1] === 'dev' ? 2 : 1];
  // (iproute2's show filter: ll_name_to_index failed)
  if (name !== undefined && !emu.netns(ns).find(name)) throw new CliError(`Device "${name}" does not exist.`, 1);
  const devs = name === undefined ? emu.links(ns) : [findDev(emu, ns, name)];
  const dumps = devs.map((d) => emu.dump(d));
  if (ctx.json) ctx.out.push(JSON.stringify(dumps.map((d) => json(emu, ns, d, showOpts(ctx)))));
  else for (const d of dumps) ctx.out.push(...text(emu, ns, d, showOpts(ctx)));
}

function linkCmd(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const verb = args[0] ?? 'show';
  if (verb === 'add') {
    const req: LinkRequest = {};
    const at = parseLinkOptions(args, 1, req, true);
    if (at >= args.length) throw new CliError('Not enough information: "type" argument is required', 255);
    const kind = args[at + 1];
    if (kind !== 'netkit') throw new CliError(`Error: Unknown device type "${kind ?? ''}".`, 2);
    const data: NetkitData = {};
    parseNetkit(args, at + 2, data);
    emu.addLink({ ...req, linkinfo: { kind: 'netkit', data } }, ns);
    return;
  }
  if (verb === 'set') {
    let i = 1;
    if (args[i] === 'dev') i++;
    const name = args[i++];
    if (name === undefined) throw new CliError('Not enough of information: "dev" argument is required.', 255);
    const change: Parameters<Emulator['setLink']>[2] = {};
    let xdp: { file: string; sec?: string } | null | undefined;
    for (; i < args.length; i++) {
      const a = args[i]!;
      switch (a) {
        case 'up': change.up = true; break;
        case 'down': change.up = false; break;
        case 'netns': change.netns = nextArg(args, i++); break;
        case 'mtu': change.mtu = uint(nextArg(args, i++), 'mtu'); break;
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
        case 'txqueuelen': case 'txqlen': case 'qlen': change.txqlen = uint(nextArg(args, i++), 'txqueuelen'); break;
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
    if (change.netns !== undefined && !emu.hasNetns(change.netns)) throw new CliError(`Invalid "netns" value "${change.netns}"`, 255);
    findDev(emu, ns, name);
    if (xdp !== undefined) return setXdp(ctx, name, xdp);
    emu.setLink(ns, name, change);
    return;
  }
  if (verb === 'del' || verb === 'delete') {
    let i = 1;
    if (args[i] === 'dev') i++;
    const name = args[i];
    if (name === undefined) throw new CliError('Not enough of information: "dev" argument is required.', 255);
    findDev(emu, ns, name);
    emu.delLink(ns, name);
    return;
  }
  if (verb === 'show' || verb === 'list' || verb === 'ls') return show(ctx, args, linkJson, linkText);
  throw new CliError(`Command "${verb}" is unknown, try "ip link help".`, 255);
}

function addrCmd(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const verb = args[0] ?? 'show';
  if (verb === 'add' || verb === 'del' || verb === 'delete') {
    const cidr = args[1];
    const devAt = args.indexOf('dev');
    if (cidr === undefined || devAt < 0 || args[devAt + 1] === undefined) throw new CliError('Not enough information: "dev" argument is required.', 255);
    const dev = args[devAt + 1]!;
    findDev(emu, ns, dev);
    // (iproute2's get_prefix: an IPv4 address and a length up to 32)
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || (m[5] !== undefined && Number(m[5]) > 32)) throw new CliError(`Error: any valid prefix is expected rather than "${cidr}".`, 1);
    if (verb === 'add') emu.addAddress(ns, dev, cidr);
    else emu.delAddress(ns, dev, cidr);
    return;
  }
  if (verb === 'show' || verb === 'list' || verb === 'ls') return show(ctx, args, addrJson, addrText);
  throw new CliError(`Command "${verb}" is unknown, try "ip address help".`, 255);
}

/** The route types `ip route add|del` takes (the rest of iproute2's, local, broadcast, throw, nat, …, nkemu has not). */
const ROUTE_TYPES: ReadonlySet<string> = new Set(['unicast', 'blackhole', 'unreachable', 'prohibit']);

function routeCmd(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const verb = args[0] ?? 'show';
  if (verb === 'add' || verb === 'del' || verb === 'delete') {
    const r: { dst: string; via?: string; dev?: string; src?: string; metric?: number; type?: RouteType } = { dst: '' };
    for (let i = 1; i < args.length; i++) {
      const a = args[i]!;
      // (iproute2's `[TYPE] PREFIX`: a type keyword before the prefix)
      if (r.dst === '' && r.type === undefined && ROUTE_TYPES.has(a)) r.type = a as RouteType;
      else if (a === 'via') r.via = nextArg(args, i++);
      else if (a === 'dev') r.dev = nextArg(args, i++);
      else if (a === 'src') r.src = nextArg(args, i++);
      else if (a === 'metric' || a === 'preference') r.metric = uint(nextArg(args, i++), 'metric');
      else if (r.dst === '') r.dst = a;
      else duparg2('to', a);
    }
    if (r.dst === '') throw new CliError('Error: "to" argument is required.', 255);
    if (r.dev !== undefined) findDev(emu, ns, r.dev);
    // (a route with neither a device nor a gateway: the kernel's fib_create_info finds no device)
    if (verb === 'add' && r.dev === undefined && r.via === undefined && (r.type ?? 'unicast') === 'unicast') throw new NetError('ENODEV');
    if (verb === 'add') emu.addRoute(ns, r);
    else emu.delRoute(ns, r);
    return;
  }
  if (verb === 'show' || verb === 'list' || verb === 'ls') {
    // `dev X`: that device's routes only
    const devAt = args.indexOf('dev');
    const dev = devAt >= 0 ? findDev(emu, ns, nextArg(args, devAt)).ifindex : undefined;
    if (ctx.json) ctx.out.push(JSON.stringify(routeJson(emu, ns, dev)));
    else ctx.out.push(...routeLines(emu, ns, dev));
    return;
  }
  throw new CliError(`Command "${verb}" is unknown, try "ip route help".`, 255);
}

const NUD: Record<string, NeighState> = { permanent: 'PERMANENT', reachable: 'REACHABLE', stale: 'STALE', noarp: 'NOARP' };

/** `ip neigh {add|replace|change|del|flush|show} …` over the namespace's neighbour table. */
function neighCmd(ctx: Ctx, args: string[]): void {
  const { emu, ns } = ctx;
  const verb = args[0] ?? 'show';
  const opt: { dst?: string; lladdr?: string; dev?: string; nud?: NeighState; all?: boolean } = {};
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'lladdr') opt.lladdr = nextArg(args, i++);
    else if (a === 'dev') opt.dev = nextArg(args, i++);
    else if (a === 'nud') {
      const v = nextArg(args, i++);
      opt.nud = NUD[v];
      if (!opt.nud) invarg('nud state is bad', v);
    } else if (a === 'to') opt.dst = nextArg(args, i++);
    else if (a === 'all' && (verb === 'flush' || verb === 'show')) opt.all = true;
    else if (opt.dst === undefined) opt.dst = a;
    else duparg2('to', a);
  }
  const dev = opt.dev === undefined ? undefined : findDev(emu, ns, opt.dev).ifindex;
  const stack = emu.stack(ns);
  if (verb === 'add' || verb === 'replace' || verb === 'change' || verb === 'chg' || verb === 'del' || verb === 'delete') {
    if (dev === undefined || opt.dst === undefined) throw new CliError('Device and destination are required arguments.', 255);
    const dst = parseIp(opt.dst);
    if (dst === null) throw new CliError(`Error: any valid address is expected rather than "${opt.dst}".`, 1);
    if (verb === 'del' || verb === 'delete') return stack.delNeighbour(dev, dst);
    let ll: Uint8Array | null = null;
    if (opt.lladdr !== undefined) {
      if (!/^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/i.test(opt.lladdr)) throw new CliError(`"${opt.lladdr}" is invalid lladdr.`, 1);
      ll = new Uint8Array(opt.lladdr.split(':').map((x) => parseInt(x, 16)));
    }
    return stack.addNeighbour(dev, dst, ll, { state: opt.nud, replace: verb !== 'add' });
  }
  if (verb === 'flush') {
    if (dev === undefined && !opt.all && opt.dst === undefined) throw new CliError('Flush requires arguments.', 1);
    return stack.flushNeighbours(dev);
  }
  if (verb === 'show' || verb === 'list' || verb === 'ls') {
    if (ctx.json) ctx.out.push(JSON.stringify(neighJson(emu, ns, dev)));
    else ctx.out.push(...neighLines(emu, ns, dev));
    return;
  }
  throw new CliError(`Command "${verb}" is unknown, try "ip neigh help".`, 255);
}

function netnsCmd(ctx: Ctx, args: string[], exec: (ns: string, argv: string[]) => Promise<void>): Promise<void> | void {
  const { emu } = ctx;
  const verb = args[0] ?? 'list';
  if (verb === 'add') {
    const name = args[1];
    if (!name) throw new CliError('No netns name specified', 255);
    // (iproute2's is_valid_netns_name: a file name in /var/run/netns)
    if (name.includes('/') || name === '.' || name === '..' || name.length > 255) throw new CliError(`Invalid netns name "${name}"`, 255);
    if (emu.hasNetns(name)) throw new CliError(`Cannot create namespace file "/var/run/netns/${name}": File exists`, 1);
    emu.addNetns(name);
    return;
  }
  if (verb === 'del' || verb === 'delete') {
    const name = args[1];
    if (!name) throw new CliError('No netns name specified', 255);
    if (!emu.hasNetns(name) || name === 'init') throw new CliError(`Cannot remove namespace file "/var/run/netns/${name}": No such file or directory`, 1);
    emu.delNetns(name);
    return;
  }
  if (verb === 'list' || verb === 'show') {
    const init = emu.netns('init');
    for (const name of emu.listNetns().filter((n) => n !== 'init').reverse()) {
      const other = emu.netns(name);
      const id = init.nsidTarget === undefined ? undefined : [...Array(256).keys()].find((k) => init.nsidTarget(k) === other.id);
      ctx.out.push(id === undefined ? name : `${name} (id: ${id})`);
    }
    return;
  }
  if (verb === 'exec') {
    const name = args[1];
    if (!name || args.length < 3) throw new CliError('No netns name specified', 255);
    if (!emu.hasNetns(name)) throw new CliError(`Cannot open network namespace "${name}": No such file or directory`, 1);
    return exec(name, args.slice(2));
  }
  throw new CliError(`Command "${verb}" is unknown, try "ip netns help".`, 255);
}

/** `ip [-n NS] [-d] [-j] [-s] OBJECT ...` */
export async function ipCommand(ctx: Ctx, argv: string[], exec: (ns: string, argv: string[]) => Promise<void>): Promise<void> {
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const o = argv[i]!;
    if (o === '-n' || o === '-netns') {
      ctx.ns = argv[++i] ?? '';
      if (!ctx.emu.hasNetns(ctx.ns)) throw new CliError(`Cannot open network namespace "${ctx.ns}": No such file or directory`, 255);
    } else if (o === '-d' || o === '-details') ctx.details = true;
    else if (o === '-j' || o === '-json') ctx.json = true;
    else if (o === '-s' || o === '-stats' || o === '-statistics') ctx.stats = true;
    else if (o === '-p' || o === '-pretty') ctx.pretty = true;
    else if (o === '-4') continue;
    else throw new CliError(`Option "${o}" is unknown, try "ip -help".`, 255);
  }
  const obj = argv[i];
  const rest = argv.slice(i + 1);
  switch (obj) {
    case 'link': case 'l': return linkCmd(ctx, rest);
    case 'addr': case 'address': case 'a': return addrCmd(ctx, rest);
    case 'route': case 'r': case 'ro': return routeCmd(ctx, rest);
    case 'neigh': case 'neighbor': case 'neighbour': case 'n': return neighCmd(ctx, rest);
    case 'netns': return netnsCmd(ctx, rest, exec);
    case undefined: throw new CliError('Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }', 255);
    default: throw new CliError(`Object "${obj}" is unknown, try "ip help".`, 1);
  }
}
