/**
 * `ethtool -N DEV flow-type ...` and `ethtool -n DEV [rule N]` as ethtool's rxclass.c
 * parses and prints them: the per-flow-type option tables (rule_nfc_tcp_ip4, _tcp_ip6,
 * _usr_ip6, _ether, ...), values with an optional mask (`m MASK` or `NAME-mask MASK`,
 * whose set bits are ignored), strtoull's number forms, the flags that refuse a field
 * given twice, and rxclass_print_nfc_rule's lines (masks shown inverted: the bits ignored).
 */

import type { NtupleRule } from '../net/netdev.js';
import { formatIp6, parseIp6 } from '../net/stack/addr6.js';
import { formatIp, parseIp, parseMac } from '../net/stack/packet.js';

/** What rxclass_parse_ruleopts decided: a rule for the driver, or why ethtool stopped (its words, then bad args). */
export type ParsedRule =
  | { ok: true; rule: Omit<Partial<NtupleRule>, 'flowType'> & { flowType: string; action: number }; located: boolean; unsupported: boolean }
  | { ok: false; stdout?: string; stderr?: string };

type Kind = 'ip4' | 'ip6' | 'u8' | 'be16' | 'be32' | 'be64' | 'u32' | 'u64' | 'mac' | 'vf' | 'queue';

// rxclass.c's NFC_FLAG_* (NFC_FLAG_SPI is SPORT|DPORT there: l4data or spi after a port is refused as given twice)
const F_RING = 0x1, F_LOC = 0x2, F_SADDR = 0x4, F_DADDR = 0x8, F_SPORT = 0x10, F_DPORT = 0x20, F_SPI = 0x30, F_TOS = 0x40,
  F_PROTO = 0x80, F_VLAN = 0x100, F_UDEF = 0x200, F_VETH = 0x400, F_MAC = 0x800, F_VF = 0x1000, F_QUEUE = 0x2000;

interface Opt { name: string; kind: Kind; flag: number; masked: boolean }
const o = (name: string, kind: Kind, flag: number, masked = true): Opt => ({ name, kind, flag, masked });
const RING = [o('action', 'u64', F_RING, false), o('vf', 'vf', F_VF, false), o('queue', 'queue', F_QUEUE, false), o('loc', 'u32', F_LOC, false)];
const EXT = [o('vlan-etype', 'be16', F_VETH), o('vlan', 'be16', F_VLAN), o('user-def', 'be64', F_UDEF)];
const tcp = (ip: Kind, tos: string): Opt[] => [o('src-ip', ip, F_SADDR), o('dst-ip', ip, F_DADDR), o(tos, 'u8', F_TOS),
  o('src-port', 'be16', F_SPORT), o('dst-port', 'be16', F_DPORT), ...RING, ...EXT, o('dst-mac', 'mac', F_MAC)];
const esp = (ip: Kind, tos: string): Opt[] => [o('src-ip', ip, F_SADDR), o('dst-ip', ip, F_DADDR), o(tos, 'u8', F_TOS),
  o('spi', 'be32', F_SPI), ...RING, ...EXT, o('dst-mac', 'mac', F_MAC)];
const usr = (ip: Kind, tos: string): Opt[] => [o('src-ip', ip, F_SADDR), o('dst-ip', ip, F_DADDR), o(tos, 'u8', F_TOS),
  o('l4proto', 'u8', F_PROTO), o('l4data', 'be32', F_SPI), o('spi', 'be32', F_SPI), o('src-port', 'be16', F_SPORT),
  o('dst-port', 'be16', F_DPORT), ...RING, ...EXT, o('dst-mac', 'mac', F_MAC)];
const ETHER = [o('src', 'mac', F_SADDR), o('dst', 'mac', F_DADDR), o('proto', 'be16', F_PROTO), ...RING, ...EXT];

const TABLES: Record<string, Opt[]> = {
  tcp4: tcp('ip4', 'tos'), udp4: tcp('ip4', 'tos'), sctp4: tcp('ip4', 'tos'), ah4: esp('ip4', 'tos'), esp4: esp('ip4', 'tos'),
  ip4: usr('ip4', 'tos'), tcp6: tcp('ip6', 'tclass'), udp6: tcp('ip6', 'tclass'), sctp6: tcp('ip6', 'tclass'),
  ah6: esp('ip6', 'tclass'), esp6: esp('ip6', 'tclass'), ip6: usr('ip6', 'tclass'), ether: ETHER,
};
/** The flow types nkemu's NIC matches; the others parse as ethtool parses them and the driver refuses them. */
const SUPPORTED = new Set(['tcp4', 'udp4', 'ether', 'tcp6', 'udp6', 'ip6']);

/** strtoull(str, 0) with rxclass_get_ulong's checks (a negative number wraps; past `bits` bits: refused). */
function ulong(s: string, bits: number): bigint | null {
  const m = /^[\t\n\v\f\r ]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)?$/.exec(s);
  if (!m) return null;
  let v = m[2] === undefined ? 0n : BigInt(m[2].startsWith('0') && !/^0[xX]/.test(m[2]) && m[2].length > 1 ? `0o${m[2].slice(1)}` : m[2]);
  if (v >= 1n << 64n) return null; // ERANGE
  if (m[1] === '-' && v !== 0n) v = (1n << 64n) - v;
  return v > (1n << BigInt(bits)) - 1n ? null : v;
}

type Value = bigint | Uint8Array;

/** One option's value (`mask` false) or its mask, or null when ethtool refuses it. */
function parseValue(kind: Kind, s: string): Value | null {
  switch (kind) {
    case 'ip4': { const a = parseIp(s); return a === null ? null : BigInt(a >>> 0); }
    case 'ip6': return parseIp6(s);
    case 'mac': {
      // (sscanf "%2x:%2x:..." after a check for a colon)
      if (!s.includes(':')) return null;
      const m = parseMac(s);
      return m ?? null;
    }
    case 'u8': case 'vf': return ulong(s, 8);
    case 'be16': return ulong(s, 16);
    case 'be32': case 'u32': case 'queue': return ulong(s, 32);
    case 'be64': case 'u64': return ulong(s, 64);
  }
}

const WIDTH: Partial<Record<Kind, number>> = { ip4: 32, ip6: 128, u8: 8, be16: 16, be32: 32, be64: 64, u32: 32, u64: 64 };
const ones = (bits: number): bigint => (1n << BigInt(bits)) - 1n;

/** rxclass_parse_ruleopts over the words after `flow-type`. */
export function parseRule(args: string[]): ParsedRule {
  const syntax = { ok: false as const, stderr: 'Add rule, invalid syntax' };
  if (args.length < 1) return syntax;
  const type = args[0]!;
  const table = TABLES[type];
  if (!table) return syntax;
  let flags = 0;
  // value and mask (bits to match, as the driver gets them) per option
  const vals = new Map<string, { v: Value; m: Value }>();
  let cookie = 0n;
  let located = false;
  let context: number | undefined;
  for (let i = 1; i < args.length;) {
    if (args[i] === 'context') {
      i++;
      if (i >= args.length) return { ok: false, stderr: "'context' missing value" };
      const v = ulong(args[i]!, 32);
      if (v === null) return { ok: false, stderr: `Invalid context value[${args[i]}]` };
      if (v === 0xffffffffn) return { ok: false, stderr: `Bad context value ${v.toString(16)}` };
      context = Number(v);
      i++;
      continue;
    }
    const opt = table.find((x) => x.name === args[i]);
    if (!opt) return { ok: false, stdout: `Add rule, unrecognized option[${args[i]}]` };
    i++;
    if (i >= args.length) break;
    const text = args[i]!;
    const v = (flags & opt.flag) !== 0 ? null : parseValue(opt.kind, text);
    if (v === null) return { ok: false, stderr: `Invalid ${opt.name} value[${text}]` };
    flags |= opt.flag;
    if (opt.kind === 'queue') cookie = (cookie & ~0xffffffffn) | (v as bigint);
    else if (opt.kind === 'vf') cookie = (cookie & ~(0xffn << 32n)) | (((v as bigint) + 1n) << 32n);
    else if (opt.name === 'action') cookie = v as bigint;
    else if (opt.name === 'loc') located = true;
    const width = WIDTH[opt.kind];
    const full: Value = opt.kind === 'mac' ? new Uint8Array(6).fill(0xff) : ones(width ?? 0);
    vals.set(opt.name, { v, m: full });
    i++;
    if (i >= args.length) break;
    if (args[i] !== 'm' && args[i] !== `${opt.name}-mask`) continue;
    i++;
    if (i >= args.length) return syntax;
    const mv = opt.masked ? parseValue(opt.kind, args[i]!) : null;
    if (mv === null) return { ok: false, stderr: `Invalid ${opt.name} mask[${args[i]}]` };
    // (the mask given is the bits to ignore)
    vals.get(opt.name)!.m = mv instanceof Uint8Array ? mv.map((b) => b ^ 0xff) : ~mv & ones(width!);
    i++;
  }
  if ((flags & F_RING) && (flags & F_QUEUE)) return { ok: false, stderr: 'action and queue are not compatible' };
  if ((flags & F_RING) && (flags & F_VF)) return { ok: false, stderr: 'action and vf are not compatible' };

  const rule: Omit<Partial<NtupleRule>, 'flowType'> & { flowType: string; action: number } = { flowType: type, action: 0 };
  // a ring cookie past a plain queue (a VF, Wake-on-LAN) or a field nkemu's NIC does not match: the driver refuses it
  let unsupported = !SUPPORTED.has(type);
  if (cookie === ones(64)) rule.action = -1;
  else if (cookie >> 32n !== 0n) unsupported = true;
  else rule.action = Number(cookie);
  if (located) rule.location = Number(vals.get('loc')!.v);
  if (context !== undefined) rule.context = context;
  const v6 = type.endsWith('6');
  for (const [k, x] of vals) {
    const n = x.v as bigint;
    const m = x.m as bigint;
    switch (k) {
      case 'src-ip': if (v6) { rule.srcIp6 = n; rule.srcIp6Mask = m; } else { rule.srcIp = Number(n); rule.srcIpMask = Number(m); } break;
      case 'dst-ip': if (v6) { rule.dstIp6 = n; rule.dstIp6Mask = m; } else { rule.dstIp = Number(n); rule.dstIpMask = Number(m); } break;
      case 'src-port': rule.srcPort = Number(n); rule.srcPortMask = Number(m); break;
      case 'dst-port': rule.dstPort = Number(n); rule.dstPortMask = Number(m); break;
      case 'tos': rule.tos = Number(n); rule.tosMask = Number(m); break;
      case 'tclass': rule.tclass = Number(n); rule.tclassMask = Number(m); break;
      case 'l4proto': rule.l4proto = Number(n); rule.l4protoMask = Number(m); break;
      case 'l4data': {
        // (the first four L4 bytes: an ip6 rule's ports)
        rule.srcPort = Number(n >> 16n); rule.srcPortMask = Number(m >> 16n);
        rule.dstPort = Number(n & 0xffffn); rule.dstPortMask = Number(m & 0xffffn);
        break;
      }
      case 'src': rule.srcMac = x.v as Uint8Array; rule.srcMacMask = x.m as Uint8Array; break;
      case 'dst': rule.dstMac = x.v as Uint8Array; rule.dstMacMask = x.m as Uint8Array; break;
      case 'proto': rule.proto = Number(n); rule.protoMask = Number(m); break;
      case 'action': case 'queue': case 'vf': case 'loc': break;
      default: unsupported = true; // spi, vlan, vlan-etype, user-def, dst-mac
    }
  }
  return { ok: true, rule, located, unsupported };
}

const RULE_TYPES: Record<string, string> = {
  tcp4: 'TCP over IPv4', udp4: 'UDP over IPv4', tcp6: 'TCP over IPv6', udp6: 'UDP over IPv6', ip6: 'Raw IPv6',
};
const hexMac = (m: Uint8Array): string => [...m].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':');
const ALL6 = (1n << 128n) - 1n;

/**
 * One ntuple rule as ethtool's rxclass_print_nfc_rule prints it: masks inverted (the
 * driver's "bits to match" become ethtool's "bits to ignore": 0.0.0.0 or :: for an exact
 * field, all ones for one the rule does not look at).
 */
export function ntupleText(r: NtupleRule): string[] {
  const eff = (v: unknown, m: number | undefined, full: number): number => (v === undefined ? 0 : m ?? full);
  const eff6 = (v: bigint | undefined, m: bigint | undefined): bigint => (v === undefined ? 0n : m ?? ALL6);
  const ports = (): string[] => [
    `\tSrc port: ${r.srcPort ?? 0} mask: 0x${(~eff(r.srcPort, r.srcPortMask, 0xffff) & 0xffff).toString(16)}`,
    `\tDest port: ${r.dstPort ?? 0} mask: 0x${(~eff(r.dstPort, r.dstPortMask, 0xffff) & 0xffff).toString(16)}`,
  ];
  const out = [`Filter: ${r.location}`];
  if (r.flowType === 'ether') {
    const macMask = (v?: Uint8Array, m?: Uint8Array): Uint8Array => (v === undefined ? new Uint8Array(6) : m ?? new Uint8Array(6).fill(0xff)).map((b) => b ^ 0xff);
    out.push('\tFlow Type: Raw Ethernet',
      `\tSrc MAC addr: ${hexMac(r.srcMac ?? new Uint8Array(6))} mask: ${hexMac(macMask(r.srcMac, r.srcMacMask))}`,
      `\tDest MAC addr: ${hexMac(r.dstMac ?? new Uint8Array(6))} mask: ${hexMac(macMask(r.dstMac, r.dstMacMask))}`,
      `\tEthertype: 0x${(r.proto ?? 0).toString(16).toUpperCase()} mask: 0x${(~eff(r.proto, r.protoMask, 0xffff) & 0xffff).toString(16).toUpperCase()}`);
  } else if (r.flowType === 'tcp6' || r.flowType === 'udp6' || r.flowType === 'ip6') {
    out.push(`\tRule Type: ${RULE_TYPES[r.flowType]}`,
      `\tSrc IP addr: ${formatIp6(r.srcIp6 ?? 0n)} mask: ${formatIp6(~eff6(r.srcIp6, r.srcIp6Mask) & ALL6)}`,
      `\tDest IP addr: ${formatIp6(r.dstIp6 ?? 0n)} mask: ${formatIp6(~eff6(r.dstIp6, r.dstIp6Mask) & ALL6)}`,
      `\tTraffic Class: 0x${(r.tclass ?? 0).toString(16)} mask: 0x${(~eff(r.tclass, r.tclassMask, 0xff) & 0xff).toString(16)}`);
    if (r.flowType === 'ip6') {
      const l4 = (((r.srcPort ?? 0) << 16) | (r.dstPort ?? 0)) >>> 0;
      const l4m = ((~eff(r.srcPort, r.srcPortMask, 0xffff) & 0xffff) << 16 | (~eff(r.dstPort, r.dstPortMask, 0xffff) & 0xffff)) >>> 0;
      out.push(`\tProtocol: ${r.l4proto ?? 0} mask: 0x${(~eff(r.l4proto, r.l4protoMask, 0xff) & 0xff).toString(16)}`,
        `\tL4 bytes: 0x${l4.toString(16)} mask: 0x${l4m.toString(16)}`);
    } else {
      out.push(...ports());
    }
  } else {
    out.push(`\tRule Type: ${RULE_TYPES[r.flowType] ?? r.flowType}`,
      `\tSrc IP addr: ${formatIp(r.srcIp ?? 0)} mask: ${formatIp(~eff(r.srcIp, r.srcIpMask, 0xffffffff) >>> 0)}`,
      `\tDest IP addr: ${formatIp(r.dstIp ?? 0)} mask: ${formatIp(~eff(r.dstIp, r.dstIpMask, 0xffffffff) >>> 0)}`,
      `\tTOS: 0x${(r.tos ?? 0).toString(16)} mask: 0x${(~eff(r.tos, r.tosMask, 0xff) & 0xff).toString(16)}`,
      ...ports());
  }
  if (r.context) out.push(`\tRSS Context ID: ${r.context}`);
  out.push(r.action === -1 ? '\tAction: Drop' : `\tAction: Direct to queue ${r.action}`, '');
  return out;
}
