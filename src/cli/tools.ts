/**
 * The other tools the CLI speaks: ping (iputils), a pktgen-like generator, wire
 * injection into NICs, `nic add|del` (plugging emulated NICs), ethtool channels / RSS /
 * ntuple, ynl's netdev family (queue-create, queue-get), and `zcrx` (a memory-provider
 * receiver standing in for io_uring zero-copy receive).
 */

import { NetError, fail, strerror } from '../errors.js';
import { formatIp, parseIp, parseMac } from '../net/stack/packet.js';
import { pingHeader } from '../net/stack/ping.js';
import { parseIp6 } from '../net/stack/addr6.js';
import { buildPacket } from '../packet.js';
import type { MemoryProvider } from '../net/provider.js';
import { YNL_HELP, parseYnlArgs, pformat, pyRepr } from './ynl-args.js';
import { CliError, type Ctx } from './context.js';
import { ETHTOOL_USAGE, PING_USAGE, PING_VERSION } from './usage.js';
import { ntupleText, parseRule } from './ethtool-ntuple.js';

function num(v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new CliError(`invalid ${what}: '${v ?? ''}'`, 1);
  return Number(v);
}

function ip(v: string | undefined, what: string): number {
  const a = v === undefined ? null : parseIp(v);
  if (a === null) throw new CliError(`invalid ${what}: '${v ?? ''}'`, 1);
  return a;
}

/** `ping [-c N] [-i S] [-s SIZE] [-t TTL] [-Q TOS] [-m MARK] [-I DEV] [-q] DST` */
/** iputils' strtol_or_err: a whole integer in [min, max] (its messages; `maxText` prints max as C's LONG_MAX). */
function intArg(v: string, min: number, max: number, maxText = String(max)): number {
  if (!/^\s*[+-]?\d+$/.test(v)) throw new CliError(`ping: invalid argument: '${v}'`, 1);
  const n = Number(v);
  if (n < min || n > max) throw new CliError(`ping: invalid argument: '${v}': out of range: ${min} <= value <= ${maxText}`, 1);
  return n;
}

/** iputils' parsetos: decimal or 0x hex, 0..255. */
function tosArg(v: string): number {
  const hex = /^0[xX]/.test(v);
  if (!(hex ? /^0[xX][0-9a-fA-F]+$/ : /^\d+$/).test(v)) throw new CliError(`ping: bad TOS value: ${v}`, 2);
  const n = Number.parseInt(hex ? v.slice(2) : v, hex ? 16 : 10);
  if (n > 255) throw new CliError(`ping: the ${hex ? 'hexadecimal' : 'decimal'} value of TOS bits must be in range 0-255: ${v}`, 2);
  return n;
}

export async function ping(ctx: Ctx, argv: string[], family?: 4 | 6): Promise<number> {
  const o: Parameters<Ctx['emu']['ping']>[2] = { count: 4 };
  let quiet = false;
  let fam = family;
  let dst: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new CliError(`ping: option requires an argument -- '${a.slice(1)}'\n${PING_USAGE.replace(/\n$/, '')}`, 2);
      return v;
    };
    if (a === '-c') o.count = intArg(val(), 1, Number.MAX_SAFE_INTEGER, '9223372036854775807');
    else if (a === '-i') {
      // (iputils' ping_strtod: garbage warns and counts as 0; a negative interval is none)
      const v = val();
      let x = Number(v);
      if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) {
        ctx.err.push(`ping: option argument contains garbage: ${v}`, 'ping: this will become fatal error in the future');
        x = Number.parseFloat(v);
        if (!Number.isFinite(x)) x = 0;
      }
      o.interval = Math.max(0, x);
    } else if (a === '-s') o.size = intArg(val(), 0, 2147483647);
    else if (a === '-t') o.ttl = intArg(val(), 0, 255);
    else if (a === '-Q') o.tos = tosArg(val());
    else if (a === '-m') o.mark = intArg(val(), 0, 4294967295);
    else if (a === '-I') o.device = val();
    else if (a === '-q') quiet = true;
    else if (a === '-4' || a === '-6') {
      // (iputils: -4 and -6 together are refused)
      const f = a === '-4' ? 4 : 6;
      if (fam !== undefined && fam !== f) throw new CliError('ping: only one -4 or -6 option may be specified', 2);
      fam = f;
    } else if (a === '-h') throw new CliError(PING_USAGE.replace(/\n$/, ''), 2);
    else if (a === '-V') { ctx.out.push(...PING_VERSION.split('\n')); return 0; }
    else if (a.startsWith('-')) throw new CliError(`ping: invalid option -- '${a.slice(1)}'\n${PING_USAGE.replace(/\n$/, '')}`, 2);
    else dst = a;
  }
  if (dst === undefined) throw new CliError('ping: usage error: Destination address required', 1);
  // (a TTL of 0 passes the parser; the kernel's IP_TTL refuses it)
  if (o.ttl === 0) throw new CliError('ping: cannot set unicast time-to-live: Invalid argument', 2);
  // (a literal of the other family than -4/-6 asks for: getaddrinfo finds no such address)
  const v6 = parseIp6(dst) !== null;
  if ((!v6 && parseIp(dst) === null) || (fam === 6 && !v6) || (fam === 4 && v6)) {
    throw new CliError(`ping: ${dst}: ${fam === undefined ? 'Name or service not known' : 'Address family for hostname not supported'}`, 2);
  }
  if (o.device !== undefined && !ctx.emu.netns(ctx.ns).find(o.device)) throw new CliError(`ping: SO_BINDTODEVICE ${o.device}: No such device`, 2);
  // Lines are printed as they come (the header before the first), the statistics at the
  // end or when SIGINT stops the run, as iputils ping does.
  let headed = false;
  const head = (): void => { if (!headed) { headed = true; ctx.out.push(pingHeader(dst!, o.size ?? 56)); } };
  let r;
  try {
    r = await ctx.emu.ping(ctx.ns, dst, { ...o, ...(ctx.signal ? { signal: ctx.signal } : {}), onLine: (l) => { head(); if (!quiet) ctx.out.push(l); } });
  } catch (e) {
    // (what ping prints when connect() fails: no route, or a blackhole, unreachable or prohibit one)
    // (iputils says more about EACCES for IPv4 only: the broadcast hint)
    const why = e instanceof NetError ? (v6 && e.errno === 'EACCES' ? 'ping: connect: Permission denied' : PING_CONNECT[e.errno]) : undefined;
    if (why) throw new CliError(why, 2);
    throw e;
  }
  head();
  ctx.out.push(...r.statistics());
  return r.received > 0 ? 0 : 1;
}

const PING_CONNECT: Record<string, string> = {
  ENETUNREACH: 'ping: connect: Network is unreachable',
  EINVAL: 'ping: connect: Invalid argument',
  EHOSTUNREACH: 'ping: connect: No route to host',
  EACCES: 'ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules',
};

/** A UDP or TCP over IPv4 frame of `size` bytes for pktgen and wire injection (the packet API). */
export function udpFrame(o: { dstMac: Uint8Array; srcMac: Uint8Array; src: number; dst: number; sport: number; dport: number; size: number; proto: number; checksum?: boolean }): Uint8Array {
  const l4 = o.proto === 6 ? { tcp: { sport: o.sport, dport: o.dport, flags: 'S' } } : { udp: { sport: o.sport, dport: o.dport, checksum: o.checksum } };
  return buildPacket({ eth: { dst: o.dstMac, src: o.srcMac }, ipv4: { src: formatIp(o.src), dst: formatIp(o.dst), protocol: o.proto === 6 || o.proto === 17 ? undefined : o.proto }, ...l4, size: o.size });
}

export interface FrameArgs { dev: string; count: number; size: number; src: number; dst: number; sport: number; dport: number; flows: number; dstMac?: Uint8Array; proto: number }

export function frameArgs(argv: string[], tool: 'pktgen' | 'wire'): FrameArgs {
  const f: FrameArgs = { dev: '', count: 1, size: 64, src: parseIp('10.0.0.1')!, dst: parseIp('10.0.0.2')!, sport: 9, dport: 9, flows: 1, proto: 17 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    switch (a) {
      case 'dev': f.dev = v ?? ''; break;
      case 'count': f.count = num(v, 'count'); break;
      case 'size': f.size = num(v, 'size'); break;
      case 'src': f.src = ip(v, 'src'); break;
      case 'dst': f.dst = ip(v, 'dst'); break;
      case 'sport': f.sport = num(v, 'sport'); break;
      case 'dport': f.dport = num(v, 'dport'); break;
      case 'flows': f.flows = num(v, 'flows'); break;
      case 'proto': f.proto = v === 'tcp' ? 6 : v === 'udp' ? 17 : num(v, 'proto'); break;
      case 'dst_mac': {
        const m = parseMac(v ?? '');
        if (!m) throw new CliError(`invalid dst_mac: '${v ?? ''}'`, 1);
        f.dstMac = m;
        break;
      }
      default:
        throw new CliError(`${tool}: unknown argument '${a}'`, 1);
    }
  }
  if (f.dev === '') throw new CliError(`${tool}: a device is required`, 1);
  if (f.size < 14 || f.size > 9000) throw new CliError(`invalid size: '${f.size}'`, 1);
  return f;
}

/** `pktgen dev DEV [count N] [size B] [src IP] [dst IP] [sport P] [dport P] [flows N] [dst_mac MAC]` */
export async function pktgen(ctx: Ctx, argv: string[]): Promise<void> {
  const f = frameArgs(argv, 'pktgen');
  const { emu, ns } = ctx;
  const d = emu.netns(ns).find(f.dev);
  if (!d) throw new CliError(`Cannot find device "${f.dev}"`, 1);
  // Like the kernel's pktgen without UDPCSUM: no UDP checksum, so varying the source port keeps frames valid.
  const frame = udpFrame({ dstMac: f.dstMac ?? d.mac, srcMac: d.mac, ...f, checksum: false });
  const peer = d.netkit?.peer;
  const before = emu.stats(d);
  const peerBefore = peer ? emu.stats(peer) : undefined;
  // In chunks of half an rx ring, each drained (settle) before the next: a pair's peer
  // receives every packet instead of dropping all but a ring's worth as BACKLOG_FULL.
  const chunk = Math.max(1, emu.dp.ringSize >> 1);
  let sent = 0;
  for (let done = 0; done < f.count; done += chunk) {
    sent += await emu.pktgen(ns, f.dev, frame, { count: Math.min(chunk, f.count - done), flows: f.flows, portOffset: 34 });
    await emu.settle();
  }
  const after = emu.stats(d);
  ctx.out.push(`pktgen: ${f.dev}: sent ${sent} of ${f.count} (${frame.length} bytes, ${f.flows} flow${f.flows === 1 ? '' : 's'})`);
  ctx.out.push(`  tx_packets +${after.txPackets - before.txPackets} tx_dropped +${after.txDropped - before.txDropped}${drops(before, after)}`);
  if (peer && peerBefore) {
    const p = emu.stats(peer);
    ctx.out.push(`  peer ${peer.name} (netns ${peer.netns.name}): rx_packets +${p.rxPackets - peerBefore.rxPackets} rx_dropped +${p.rxDropped - peerBefore.rxDropped}${drops(peerBefore, p)}`);
  }
}

/** Drop reasons that grew between two stats snapshots: ` (BACKLOG_FULL +3, …)`. */
function drops(before: { dropReasons: Record<string, bigint> }, after: { dropReasons: Record<string, bigint> }): string {
  const grew = Object.entries(after.dropReasons).map(([k, v]) => [k, v - (before.dropReasons[k] ?? 0n)] as const).filter(([, v]) => v > 0n);
  return grew.length ? ` (${grew.map(([k, v]) => `${k} +${v}`).join(', ')})` : '';
}

/** `wire DEV [count N] [size B] [src IP] [dst IP] [sport P] [dport P] [proto tcp|udp] [dst_mac MAC]`: frames arriving from the wire. */
export async function wire(ctx: Ctx, argv: string[]): Promise<void> {
  const f = frameArgs(['dev', ...argv], 'wire');
  const { emu, ns } = ctx;
  const d = emu.netns(ns).find(f.dev);
  if (!d) throw new CliError(`Cannot find device "${f.dev}"`, 1);
  for (let i = 0; i < f.count; i++) {
    const sport = f.sport + (i % f.flows);
    emu.wireIn(ns, f.dev, udpFrame({ dstMac: f.dstMac ?? d.mac, srcMac: new Uint8Array([2, 0xee, 0, 0, 0, 1]), ...f, sport }));
  }
  await emu.settle();
  ctx.out.push(`wire: ${f.count} frames into ${f.dev}`);
}

/** `nic add NAME [rxqueues N] [txqueues N] [address MAC]` / `nic del NAME` */
export function nicCmd(ctx: Ctx, argv: string[]): void {
  const verb = argv[0];
  const name = argv[1];
  if ((verb !== 'add' && verb !== 'del') || !name) throw new CliError('Usage: nic add NAME [rxqueues N] [txqueues N] [address MAC] | nic del NAME', 1);
  if (verb === 'del') {
    if (!ctx.emu.netns(ctx.ns).find(name)) throw new CliError(`Cannot find device "${name}"`, 1);
    ctx.emu.delNic(ctx.ns, name);
    return;
  }
  const o: { name: string; rxQueues?: number; txQueues?: number; address?: string; netns: string } = { name, netns: ctx.ns };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (a === 'rxqueues') o.rxQueues = num(v, 'rxqueues');
    else if (a === 'txqueues') o.txQueues = num(v, 'txqueues');
    else if (a === 'address') o.address = v;
    else throw new CliError(`nic: unknown argument '${a}'`, 1);
  }
  ctx.emu.addNic(o);
}

function ethtoolChannels(ctx: Ctx, dev: string): void {
  const d = ctx.emu.netns(ctx.ns).find(dev);
  // Only the NIC has get_channels: netkit dropped it before merging (spec/netkit.md §1.4), lo never had it.
  if (!d) throw new CliError(`netlink error: no device matches name (offset 24)\nnetlink error: No such device`, 1);
  if (!d.nic) throw new CliError('netlink error: Operation not supported', 1);
  const c = ctx.emu.channels(ctx.ns, dev);
  ctx.out.push(`Channel parameters for ${dev}:`, 'Pre-set maximums:', 'RX:\t\tn/a', 'TX:\t\tn/a', 'Other:\t\tn/a', `Combined:\t${c.maxCombined}`,
    'Current hardware settings:', 'RX:\t\tn/a', 'TX:\t\tn/a', 'Other:\t\tn/a', `Combined:\t${c.combined}`);
}

const BAD_ARGS = 'ethtool: bad command line argument(s)\nFor more information run ethtool -h';

/** `ethtool -h|--version|-l|-L|-x|-X|-n|-N|--config-ntuple|--show-ntuple DEV ...` */
export function ethtool(ctx: Ctx, argv: string[]): void {
  const [opt, dev, ...rest] = argv;
  if (opt === '-h' || opt === '--help') { ctx.out.push(...ETHTOOL_USAGE.replace(/\n$/, '').split('\n')); return; }
  if (opt === '--version') { ctx.out.push('ethtool version 6.1'); return; }
  if (opt === undefined || dev === undefined) throw new CliError(BAD_ARGS, 1);
  const { emu, ns } = ctx;
  const d = emu.netns(ns).find(dev);
  // What the driver answers for a device that is not there, or has no such operation.
  const why = !d ? 'No such device' : !d.nic ? 'Operation not supported' : undefined;
  // (the ioctl's errno as ethtool prints it after its own words)
  const netlinkText = (e: unknown): string => { if (e instanceof NetError) return strerror(e.errno); throw e; };
  switch (opt) {
    case '-l': case '--show-channels': return ethtoolChannels(ctx, dev);
    case '-L': case '--set-channels': {
      const at = rest.findIndex((x) => x === 'combined' || x === 'rx');
      if (at < 0) throw new CliError(BAD_ARGS, 1);
      const n = num(rest[at + 1], 'channel count');
      if (!d) throw new CliError('netlink error: no device matches name (offset 24)\nnetlink error: No such device', 1);
      try { emu.setChannels(ns, dev, n); } catch (e) { throw new CliError(`netlink error: ${netlinkText(e)}`, 1); }
      return;
    }
    case '-x': case '--show-rxfh-indir': case '--show-rxfh': {
      if (why || !d?.nic) throw new CliError(`Cannot get RX ring count: ${why}`, 1);
      const ci = rest.indexOf('context');
      const id = ci >= 0 ? num(rest[ci + 1], 'context') : 0;
      const c = d.nic.contexts.get(id);
      if (!c) throw new CliError('Cannot get RSS context: No such file or directory', 1);
      ctx.out.push(`RX flow hash indirection table for ${dev} with ${d.realNumRxQueues} RX ring(s):`);
      // (ethtool's print_indir_table: "%5u: " then " %5u" per entry, eight to a row)
      for (let i = 0; i < c.table.length; i += 8) ctx.out.push(`${String(i).padStart(5)}: ${c.table.slice(i, i + 8).map((q) => ` ${String(q).padStart(5)}`).join('')}`);
      ctx.out.push('RSS hash key:', 'Operation not supported', 'RSS hash function:', '    toeplitz: on', '    xor: off', '    crc32: off');
      return;
    }
    case '-X': case '--set-rxfh-indir': case '--rxfh': {
      const o: { start?: number; equal?: number; context?: number | 'new'; delete?: boolean } = {};
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i]!;
        if (a === 'start') o.start = num(rest[++i], 'start');
        else if (a === 'equal') o.equal = num(rest[++i], 'equal');
        else if (a === 'context') { const v = rest[++i]; o.context = v === 'new' ? 'new' : num(v, 'context'); }
        else if (a === 'delete') o.delete = true;
        else throw new CliError(BAD_ARGS, 1);
      }
      if (why) throw new CliError(`Cannot get RX ring count: ${why}`, 1);
      const id = emu.setRss(ns, dev, o);
      if (o.context === 'new') ctx.out.push(`New RSS context is ${id}`);
      return;
    }
    case '-n': case '-u': case '--show-ntuple': case '--show-nfc': {
      if (rest[0] === 'rule') {
        // one rule, as rxclass_rule_get prints it (no header)
        const loc = num(rest[1], 'rule');
        const r = d?.nic?.rules.get(loc);
        if (!r) throw new CliError(`rxclass: Cannot get RX class rule: ${why ?? 'No such file or directory'}\nCannot get RX classification rule`, 1);
        ctx.out.push(...ntupleText(r));
        return;
      }
      if (rest.length > 0) throw new CliError(BAD_ARGS, 1);
      if (why || !d?.nic) throw new CliError(`Cannot get RX rings: ${why}\nrxclass: Cannot get RX class rule count: ${why}\nRX classification rule retrieval failed`, 1);
      const rules = [...d.nic.rules.values()].sort((a, b) => a.location - b.location);
      ctx.out.push(`${d.realNumRxQueues} RX rings available`, `Total ${rules.length} rules`, '');
      for (const r of rules) ctx.out.push(...ntupleText(r));
      return;
    }
    case '-N': case '-U': case '--config-ntuple': case '--config-nfc': {
      if (rest[0] === 'delete') {
        const loc = num(rest[1], 'location');
        if (why) throw new CliError(`rmgr: Cannot delete RX class rule: ${why}\nCannot delete classification rule`, 1);
        emu.delNtuple(ns, dev, loc);
        return;
      }
      if (rest[0] !== 'flow-type' || rest.length < 2) throw new CliError(BAD_ARGS, 1);
      // rxclass_parse_ruleopts: its words, then exit_bad_args
      const p = parseRule(rest.slice(1));
      if (!p.ok) {
        if (p.stdout) ctx.out.push(p.stdout);
        throw new CliError(p.stderr ? `${p.stderr}\n${BAD_ARGS}` : BAD_ARGS, 1);
      }
      // rxclass_rule_ins: without a location it asks the device for a free one first (a failure
      // there fails the command); the insertion's own failure is only reported (perror), and
      // ethtool still exits 0
      if (why && !p.located) throw new CliError(`rxclass: Cannot get RX class rule count: ${why}\nCannot insert classification rule`, 1);
      let loc: number;
      try {
        if (why) fail(why === 'No such device' ? 'ENODEV' : 'EOPNOTSUPP');
        if (p.unsupported) fail('EINVAL');
        loc = emu.addNtuple(ns, dev, p.rule as Parameters<typeof emu.addNtuple>[2]);
      } catch (e) {
        ctx.err.push(`rmgr: Cannot insert RX class rule: ${netlinkText(e)}`);
        return;
      }
      // (rxclass_rule_ins names the location only when it chose it)
      if (!p.located) ctx.out.push(`Added rule with ID ${loc}`);
      return;
    }
    default: throw new CliError(BAD_ARGS, 1);
  }
}

/**
 * ynl with the netdev family (queue-create, queue-get; `--list-families`, `--list-ops`):
 * the real tool's command line (ynl-args.ts: argparse's help, abbreviations and errors),
 * replies as pprint prints them, or JSON with `--output-json`.
 */
export function ynl(ctx: Ctx, argv: string[]): void {
  const a = parseYnlArgs(argv);
  if (a.help) { ctx.out.push(YNL_HELP); return; }
  if (a.list_families) { ctx.out.push('netdev'); return; }
  if (a.spec !== undefined) throw new CliError(`ynl: --spec is not supported here: nkemu has the netdev family built in (--family netdev)`, 2);
  const family = a.family as string;
  if (family !== 'netdev') throw new CliError(`ynl: family '${family}' is not supported here (netdev only)`, 2);
  const parse = (json: string): Record<string, unknown> => {
    let attrs: unknown;
    try {
      attrs = JSON.parse(json);
    } catch {
      throw new CliError(`ynl: error: argument --json: invalid loads value: '${json}'`, 2);
    }
    // (a request's attributes are a JSON object: null, a list or a scalar is no request)
    if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) throw new CliError(`ynl: error: argument --json: not an attribute set: '${json}'`, 2);
    return attrs as Record<string, unknown>;
  };
  const attrs = a.json_text === undefined ? {} : parse(a.json_text as string);
  const print = (v: unknown): void => { ctx.out.push(a.output_json ? JSON.stringify(v) : pformat(v)); };
  if (a.list_ops || a.list_msgs) {
    // (the operations nkemu implements, as cli.py prints each: name, then its modes)
    for (const [op, modes] of [['queue-get', 'do, dump'], ['queue-create', 'do']]) ctx.out.push(`${op}  [ ${modes} ]`);
  }
  const run = (op: string, dump: boolean, at: Record<string, unknown>): unknown => {
    if (op === 'queue-create' && !dump) return ctx.emu.queueCreate(at as Parameters<Ctx['emu']['queueCreate']>[0], ctx.ns);
    if (op === 'queue-get' && dump) return ctx.emu.queueDump(ctx.ns, at.ifindex as number | undefined);
    if (op === 'queue-get') return ctx.emu.queueGet(ctx.ns, at as { ifindex: number; id: number; type: 'rx' | 'tx' });
    throw new CliError(`ynl: unknown operation '${op}' for netdev${dump ? ' (dump)' : ''}`, 2);
  };
  try {
    if (a.do !== undefined) print(run(a.do as string, false, attrs));
    if (a.dump !== undefined) print(run(a.dump as string, true, attrs));
    if (a.multi !== undefined) print((a.multi as [string, string][]).map(([op, json]) => run(op, false, parse(json))));
  } catch (e) {
    if (!(e instanceof NetError)) throw e;
    const ext = e.extack === undefined ? '' : `\textack: {'msg': ${pyRepr(e.extack)}}`;
    throw new CliError(`Netlink error: ${strerror(e.errno)}\n\terror: -${e.code}${ext}`, 1);
  }
}

/** Receivers opened by `zcrx bind`, numbered from 1. */
const receivers = new WeakMap<object, MemoryProvider[]>();

/** `zcrx bind dev DEV queue Q [buffers N]` / `zcrx show`: an io_uring zero-copy receiver stand-in. */
export function zcrx(ctx: Ctx, argv: string[]): void {
  const list = receivers.get(ctx.emu) ?? [];
  receivers.set(ctx.emu, list);
  if (argv[0] === 'show') {
    list.forEach((p, i) => ctx.out.push(`zcrx ${i + 1}: ${p.opened.dev.name} queue ${p.opened.index} -> ${p.queue.dev.name} queue ${p.queue.index}: ${p.delivered} frames received in its buffers${p.closed ? ' (closed)' : ''}`));
    return;
  }
  if (argv[0] !== 'bind') throw new CliError('Usage: zcrx bind dev DEV queue Q [buffers N] | zcrx show', 1);
  let dev = '';
  let queue = -1;
  let buffers = 256;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (a === 'dev') dev = v ?? '';
    else if (a === 'queue') queue = num(v, 'queue');
    else if (a === 'buffers') buffers = num(v, 'buffers');
    else throw new CliError(`zcrx: unknown argument '${a}'`, 1);
  }
  if (!ctx.emu.netns(ctx.ns).find(dev)) throw new CliError(`Cannot find device "${dev}"`, 1);
  const p = ctx.emu.bindProvider(ctx.ns, dev, queue, { kind: 'io_uring', buffers });
  list.push(p);
  ctx.out.push(`zcrx ${list.length}: ${dev} queue ${queue} -> ${p.queue.dev.name} queue ${p.queue.index}`);
}
