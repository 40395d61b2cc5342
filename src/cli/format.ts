/**
 * iproute2's output shapes for `ip link`, `ip addr`, `ip route`, `ip neigh`: the text
 * form and the `-j` JSON form (snake_case keys, flags as arrays, absent attributes
 * omitted), built from the public dump API.
 */

import { uptime } from 'node:os';
import * as A from '../abi.generated.js';
import type { Emulator } from '../emulator.js';
import type { BpfProgram } from '../ebpf/program.js';
import type { LinkDump } from '../net/types.js';
import type { Address, Neighbour } from '../net/stack/stack.js';
import { NetError } from '../errors.js';
import { formatIp, formatMac, maskOf } from '../net/stack/packet.js';
import { formatRoute, type Route } from '../net/stack/route.js';
import { IFA_F_NODAD, IFA_F_NOPREFIXROUTE, IFA_F_TENTATIVE, type Address6, type Route6 } from '../net/stack/addrconf.js';
import { formatIp6 } from '../net/stack/addr6.js';
import type { Neighbour6 } from '../net/stack/ipv6.js';

/** An IPv4 prefix (`to PREFIX` selectors). */
export interface Prefix {
  addr: number;
  len: number;
}

/** An address of either family (an IPv6 one has `addr`, an IPv4 one `local`). */
export type AnyAddress = Address | Address6;

export function isInet6(a: AnyAddress): a is Address6 {
  return 'addr' in a;
}

/** `ip addr show to PREFIX`, `secondary`, …: the addresses the selector takes. */
export type AddrSelect = (a: AnyAddress) => boolean;

export interface AddrFilter {
  keep?: AddrSelect;
}

/** How `ip addr` shows a device's link part: without `mode`, and without the link layer for one family. */
export interface AddrView {
  addr?: boolean;
  noL2?: boolean;
  /**
   * The link part of an IPv6 dump (`ip -6 addr` without a device: the kernel answers
   * with inet6_fill_ifinfo, which carries no qdisc and no group).
   */
  inet6Dump?: boolean;
}

export interface ShowOptions {
  details: boolean;
  /** `-s` count. */
  stats: number;
}

/** `@peer` / `@ifN`, and M-DOWN when the same-namespace peer is down (print_linkinfo). */
function linkSuffix(emu: Emulator, ns: string, d: LinkDump): { name: string; mdown: boolean } {
  if (d.link === undefined) return { name: d.ifname, mdown: false };
  if (d.link === 0) return { name: `${d.ifname}@NONE`, mdown: false };
  if (d.linkNetnsid !== undefined) return { name: `${d.ifname}@if${d.link}`, mdown: false };
  const peer = emu.netns(ns).find(d.link);
  return { name: `${d.ifname}@${d.linkName ?? `if${d.link}`}`, mdown: peer ? !peer.up : false };
}

/** print_link_flags: NO-CARRIER first when up without carrier, M-DOWN last when the peer is down. */
function printFlags(d: LinkDump, mdown: boolean): string[] {
  const up = d.flags.includes('UP');
  const running = (d.rawFlags & A.IFF_RUNNING) !== 0;
  return [...(up && !running ? ['NO-CARRIER'] : []), ...d.flags, ...(mdown ? ['M-DOWN'] : [])];
}

function netkitText(d: LinkDump): string {
  const x = d.data!;
  const parts = [`mode ${x.mode}`, `type ${x.primary ? 'primary' : 'peer'}`, `policy ${x.policy}`];
  if (x.peerPolicy !== undefined) parts.push(`peer policy ${x.peerPolicy}`);
  if (x.scrub !== undefined) parts.push(`scrub ${x.scrub}`);
  if (x.peerScrub !== undefined) parts.push(`peer scrub ${x.peerScrub}`);
  return `netkit ${parts.join(' ')} `;
}

function tail(d: LinkDump): string {
  return `numtxqueues ${d.numTxQueues} numrxqueues ${d.numRxQueues} gso_max_size ${d.gsoMaxSize} gso_max_segs ${d.gsoMaxSegs} tso_max_size ${d.tsoMaxSize} tso_max_segs ${d.tsoMaxSegs} gro_max_size ${d.groMaxSize} gso_ipv4_max_size ${d.gsoMaxSize} gro_ipv4_max_size ${d.groMaxSize} `;
}

/**
 * print_stats64's text table: every column as wide as its header or its widest value
 * (size_columns), the label column at least `*X errors:`; `-s -s` adds the error rows,
 * whose widths count too.
 */
function statsText(d: LinkDump, level: number): string[] {
  const s = d.stats;
  const rx = [s.rxBytes, s.rxPackets, s.rxErrors, s.rxDropped, 0n, s.multicast];
  const tx = [s.txBytes, s.txPackets, s.txErrors, s.txDropped, 0n, 0n];
  // (nkemu counts none of the error kinds below: no length, CRC, framing or FIFO faults on a virtual wire)
  const rxErr = [0n, 0n, 0n, 0n, 0n, 0n];
  const txErr = [0n, 0n, 0n, 0n, 0n, BigInt(d.carrierChanges)];
  const cols = ['*X errors:', 'packets', 'errors', 'dropped', 'heartbt', 'overrun', 'compressed'].map((h) => h.length);
  const size = (vals: bigint[]): void => vals.forEach((v, i) => { cols[i] = Math.max(cols[i]!, String(v).length); });
  size(rx);
  size(tx);
  if (level > 1) { size(rxErr); size(txErr); }
  const pad = (w: number, t: string): string => t.padStart(w);
  const nums = (vals: bigint[], from: number): string => vals.slice(from).map((v, i) => `${pad(cols[i + from]!, String(v))} `).join('');
  const head = (label: string, names: string[]): string => `    ${label} ${pad(cols[0]! - 4, names[0]!)} ${names.slice(1).map((n, i) => pad(cols[i + 1]!, n)).join(' ')} ${pad(cols[6]!, '')}`;
  const errHead = (label: string, names: string[]): string => `    ${label}${pad(cols[0]! - 10, '')} ${names.map((n, i) => pad(cols[i + 1]!, n)).join(' ')}`;
  const lines = [head('RX:', ['bytes', 'packets', 'errors', 'dropped', 'missed', 'mcast']), `    ${nums(rx, 0)}`];
  if (level > 1) lines.push(errHead('RX errors:', ['length', 'crc', 'frame', 'fifo', 'overrun']), `${pad(cols[0]! + 5, '')}${nums(rxErr, 1)}`);
  lines.push(head('TX:', ['bytes', 'packets', 'errors', 'dropped', 'carrier', 'collsns']), `    ${nums(tx, 0)}`);
  if (level > 1) lines.push(errHead('TX errors:', ['aborted', 'fifo', 'window', 'heartbt', 'transns']), `${pad(cols[0]! + 5, '')}${nums(txErr, 1)}`);
  return lines;
}

/** The device's XDP program (IFLA_XDP): nkemu's XDP is native, XDP_ATTACHED_DRV (mode 1). */
function xdpOf(emu: Emulator, ns: string, d: LinkDump): BpfProgram | undefined {
  return emu.netns(ns).find(d.ifindex)?.nic?.xdp;
}

/**
 * bpf_dump_prog_info's fields for `prog/xdp` (iproute2's lib/bpf_glue): with -d, load_time
 * is the kernel's boot-based time of the load in ns, here the wall-clock load time less the
 * host's boot time (the uptime before now).
 */
function xdpProg(p: BpfProgram, details: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = { id: p.id, name: p.name, tag: p.tag || '0000000000000000', jited: p.jit.slot !== 0 ? 1 : 0 };
  if (details) {
    const boot = Date.now() - uptime() * 1000;
    Object.assign(o, { load_time: Math.round((p.loadedAt - boot) * 1e6), created_by_uid: 0, ...(p.btfId ? { btf_id: p.btfId } : {}) });
  }
  return o;
}

/** `    prog/xdp id N name NAME tag TAG jited [load_time T created_by_uid 0 btf_id B] ` */
function xdpText(p: BpfProgram, details: boolean): string {
  const o = xdpProg(p, details);
  return `    prog/xdp id ${o.id} name ${o.name} tag ${o.tag}${o.jited ? ' jited' : ''}${details ? ` load_time ${o.load_time} created_by_uid 0${o.btf_id ? ` btf_id ${o.btf_id}` : ''}` : ''} `;
}

/** One device, as `ip [-d] [-s] link show` prints it. */
export function linkText(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions & AddrView): string[] {
  const { name, mdown } = linkSuffix(emu, ns, d);
  const flags = printFlags(d, mdown).join(',');
  // (xdp_dump after the mtu: `xdp` in a link listing, `xdp/id:N` in an address listing)
  const xdp = xdpOf(emu, ns, d);
  const mtu = `mtu ${d.mtu}${xdp ? (o.addr ? ` xdp/id:${xdp.id}` : ' xdp') : ''}`;
  const lines = [o.inet6Dump
    ? `${d.ifindex}: ${name}: <${flags}> ${mtu} state ${d.operstate} qlen ${d.txqlen}`
    : `${d.ifindex}: ${name}: <${flags}> ${mtu} qdisc ${d.qdisc} state ${d.operstate}${o.addr ? '' : ` mode ${d.linkmode}`} group ${d.group} qlen ${d.txqlen}`];
  // (an address listing for one family leaves out the link layer)
  if (o.noL2) return lines;
  let l2 = `    link/${d.linkType} ${d.address} brd ${d.broadcast}`;
  // iproute2 names the peer's namespace when it can (`link-netns NAME`), else its nsid.
  if (d.linkNetnsid !== undefined) {
    const peer = emu.netns(ns).find(d.ifindex)?.netkit?.peer;
    l2 += peer && peer.netns.name !== 'init' ? ` link-netns ${peer.netns.name}` : ` link-netnsid ${d.linkNetnsid}`;
  }
  if (o.details) {
    l2 += ` promiscuity 0 allmulti 0 minmtu ${d.minMtu} maxmtu ${d.maxMtu} `;
    // print_linkinfo starts a line for the kind only when there is IFLA_LINKINFO (not on lo)
    // (then the inet6 part of IFLA_AF_SPEC: the address generation mode)
    const gen = `addrgenmode ${d.addrGenMode} `;
    if (d.kind === 'netkit') lines.push(l2, `    ${netkitText(d)}${gen}${tail(d)}`);
    else lines.push(l2 + gen + tail(d));
  } else {
    lines.push(l2);
  }
  // (the second xdp_dump, with the program: a link listing, or any with -d)
  if (xdp && (!o.addr || o.details)) lines.push(xdpText(xdp, o.details));
  if (o.stats) lines.push(...statsText(d, o.stats));
  return lines;
}

/** print_name_and_link as JSON: the peer (`link`, or `link_index` in another namespace), the name. */
function nameJson(d: LinkDump): Record<string, unknown> {
  const j: Record<string, unknown> = {};
  if (d.link !== undefined && d.linkNetnsid === undefined && d.link !== 0) j.link = d.linkName ?? null;
  if (d.linkNetnsid !== undefined) j.link_index = d.link;
  j.ifname = d.ifname;
  return j;
}

/** One device as an element of `ip -j [-d] [-s] link show`. */
export function linkJson(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions & AddrView): Record<string, unknown> {
  const { mdown } = linkSuffix(emu, ns, d);
  const j: Record<string, unknown> = { ifindex: d.ifindex, ...nameJson(d) };
  j.flags = printFlags(d, mdown);
  j.mtu = d.mtu;
  const xdp = xdpOf(emu, ns, d);
  if (xdp) {
    const prog = xdpProg(xdp, o.details);
    j.xdp = { mode: 1, prog, attached: [{ mode: 1, prog }] };
  }
  if (!o.inet6Dump) j.qdisc = d.qdisc;
  j.operstate = d.operstate;
  if (!o.addr) j.linkmode = d.linkmode;
  if (!o.inet6Dump) j.group = d.group;
  j.txqlen = d.txqlen;
  if (o.noL2) return j;
  j.link_type = d.linkType;
  j.address = d.address;
  j.broadcast = d.broadcast;
  if (d.linkNetnsid !== undefined) j.link_netnsid = d.linkNetnsid;
  if (o.details) {
    Object.assign(j, { promiscuity: 0, allmulti: 0, min_mtu: d.minMtu, max_mtu: d.maxMtu });
    if (d.kind === 'netkit') {
      const x = d.data!;
      const data: Record<string, unknown> = { mode: x.mode, type: x.primary ? 'primary' : 'peer', policy: x.policy };
      if (x.peerPolicy !== undefined) data.peer_policy = x.peerPolicy;
      if (x.scrub !== undefined) data.scrub = x.scrub;
      if (x.peerScrub !== undefined) data.peer_scrub = x.peerScrub;
      j.linkinfo = { info_kind: 'netkit', info_data: data };
    }
    j.inet6_addr_gen_mode = d.addrGenMode;
    Object.assign(j, {
      num_tx_queues: d.numTxQueues, num_rx_queues: d.numRxQueues, gso_max_size: d.gsoMaxSize, gso_max_segs: d.gsoMaxSegs,
      tso_max_size: d.tsoMaxSize, tso_max_segs: d.tsoMaxSegs, gro_max_size: d.groMaxSize, gso_ipv4_max_size: d.gsoMaxSize, gro_ipv4_max_size: d.groMaxSize,
    });
  }
  if (o.stats) {
    const s = d.stats;
    const rx: Record<string, number> = { bytes: Number(s.rxBytes), packets: Number(s.rxPackets), errors: Number(s.rxErrors), dropped: Number(s.rxDropped), over_errors: 0, multicast: Number(s.multicast) };
    const tx: Record<string, number> = { bytes: Number(s.txBytes), packets: Number(s.txPackets), errors: Number(s.txErrors), dropped: Number(s.txDropped), carrier_errors: 0, collisions: 0 };
    if (o.stats > 1) {
      Object.assign(rx, { length_errors: 0, crc_errors: 0, frame_errors: 0, fifo_errors: 0, missed_errors: 0 });
      Object.assign(tx, { aborted_errors: 0, fifo_errors: 0, window_errors: 0, heartbeat_errors: 0, carrier_changes: d.carrierChanges });
    }
    j.stats64 = { rx, tx };
  }
  return j;
}

/**
 * The device's addresses as the kernel dumps them: IPv4 in ifa_list order (primaries as
 * added, then secondaries), then IPv6 in the device's list order.
 */
export function addrList(emu: Emulator, ns: string, ifindex: number, keep: AddrSelect = () => true): readonly AnyAddress[] {
  const st = emu.stack(ns);
  const all = st.addresses(ifindex).filter(keep);
  return [...all.filter((a) => !a.secondary), ...all.filter((a) => a.secondary), ...st.inet6.addresses(ifindex).filter(keep)];
}

function addrScope(a: AnyAddress): string {
  return isInet6(a) ? a.scope : (a.local >>> 24) === 127 ? 'host' : 'global';
}

/** The words print_ifa_flags prints for an IPv6 address (permanent is implied and left out). */
function inet6Flags(a: Address6): string[] {
  return [...(a.flags & IFA_F_NODAD ? ['nodad'] : []), ...(a.flags & IFA_F_TENTATIVE ? ['tentative'] : []),
    ...(a.flags & IFA_F_NOPREFIXROUTE ? ['noprefixroute'] : [])];
}

/** The address as ADDR/LEN. */
function addrText1(a: AnyAddress): string {
  return isInet6(a) ? `${formatIp6(a.addr)}/${a.prefixLen}` : `${formatIp(a.local)}/${a.prefixLen}`;
}

/** The `inet` or `inet6` line of one address and its lifetime line (an IPv6 one has no label, and a space at its end). */
function inetLines(a: AnyAddress, ifname: string): string[] {
  const life = '       valid_lft forever preferred_lft forever';
  if (isInet6(a)) return [`    inet6 ${addrText1(a)} scope ${a.scope} ${inet6Flags(a).map((f) => `${f} `).join('')}`, life];
  const brd = a.broadcast ? ` brd ${formatIp(a.broadcast)}` : '';
  return [`    inet ${formatIp(a.local)}/${a.prefixLen}${brd} scope ${addrScope(a)}${a.secondary ? ' secondary' : ''} ${ifname}`, life];
}

/** `ip addr show` lines for one device (link lines, then its inet lines). */
export function addrText(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions & AddrView & AddrFilter): string[] {
  const lines = linkText(emu, ns, d, { details: o.details, stats: 0, addr: true, noL2: o.noL2, inet6Dump: o.inet6Dump });
  for (const a of addrList(emu, ns, d.ifindex, o.keep)) lines.push(...inetLines(a, d.ifname));
  // (`-s`: the link's counters follow its addresses)
  if (o.stats) lines.push(...statsText(d, o.stats));
  return lines;
}

/** `ip -o addr show`: one line per address, `IFINDEX: IFNAME` then the address lines joined by `\`. */
export function addrOneline(emu: Emulator, ns: string, d: LinkDump, keep?: AddrSelect): string[] {
  return addrList(emu, ns, d.ifindex, keep).map((a) => `${d.ifindex}: ${d.ifname}${inetLines(a, d.ifname).join('\\')}`);
}

export function addrJson(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions & AddrView & AddrFilter): Record<string, unknown> {
  const j = linkJson(emu, ns, d, { details: o.details, stats: o.stats, addr: true, noL2: o.noL2, inet6Dump: o.inet6Dump });
  // (`-s`: stats64 after addr_info)
  const stats = j.stats64;
  delete j.stats64;
  j.addr_info = addrList(emu, ns, d.ifindex, o.keep).map((a) => isInet6(a) ? {
    family: 'inet6', local: formatIp6(a.addr), prefixlen: a.prefixLen, scope: a.scope,
    ...Object.fromEntries(inet6Flags(a).map((f) => [f, true])),
    valid_life_time: 4294967295, preferred_life_time: 4294967295,
  } : {
    family: 'inet', local: formatIp(a.local), prefixlen: a.prefixLen,
    ...(a.broadcast ? { broadcast: formatIp(a.broadcast) } : {}),
    scope: addrScope(a), ...(a.secondary ? { secondary: true } : {}), label: d.ifname,
    valid_life_time: 4294967295, preferred_life_time: 4294967295,
  });
  if (stats !== undefined) j.stats64 = stats;
  return j;
}

/** print_name_and_link and print_operstate of `-br`: the name (with `@peer`) in 16 columns, the state in 14. */
function briefHead(emu: Emulator, ns: string, d: LinkDump): string {
  return `${linkSuffix(emu, ns, d).name.padEnd(16)} ${d.operstate.padEnd(14)} `;
}

/** `ip -br link`: name, state, link-layer address, flags. */
export function linkBrief(emu: Emulator, ns: string, d: LinkDump): string {
  return `${briefHead(emu, ns, d)}${d.address} <${printFlags(d, linkSuffix(emu, ns, d).mdown).join(',')}> `;
}

/** `ip -br addr`: name, state, then every address as ADDR/LEN. */
export function addrBrief(emu: Emulator, ns: string, d: LinkDump, keep?: AddrSelect): string {
  return `${briefHead(emu, ns, d)}${addrList(emu, ns, d.ifindex, keep).map((a) => `${addrText1(a)} `).join('')}`;
}

/** `ip -br -j link`: the name part, the state, the link-layer address and the flags. */
export function linkBriefJson(emu: Emulator, ns: string, d: LinkDump): Record<string, unknown> {
  return { ...nameJson(d), operstate: d.operstate, address: d.address, flags: printFlags(d, linkSuffix(emu, ns, d).mdown) };
}

/** `ip -br -j addr`: the name part, the state and each address as local and prefixlen. */
export function addrBriefJson(emu: Emulator, ns: string, d: LinkDump, keep?: AddrSelect): Record<string, unknown> {
  return { ...nameJson(d), operstate: d.operstate, addr_info: addrList(emu, ns, d.ifindex, keep).map((a) => ({ local: isInet6(a) ? formatIp6(a.addr) : formatIp(a.local), prefixlen: a.prefixLen })) };
}

/**
 * iproute2's json_writer: `-j` prints compact JSON; `-j -p` indents objects by four
 * spaces a level, opens arrays with `[ `, keeps an array's scalars on one line
 * (`[ "UP","LOWER_UP" ]`) and prints an empty array as `[ ]`.
 */
export function jsonText(v: unknown, pretty: boolean): string {
  if (!pretty) return JSON.stringify(v);
  let out = '';
  let depth = 0;
  let sep = '';
  const eor = (): void => { out += sep; sep = ','; };
  const eol = (): void => { out += `\n${'    '.repeat(depth)}`; };
  const value = (x: unknown): void => {
    if (Array.isArray(x)) {
      eor();
      out += '[ ';
      depth++;
      sep = '';
      for (const e of x) value(e);
      if (sep) out += ' ';
      depth--;
      out += ']';
      sep = ',';
    } else if (x !== null && typeof x === 'object') {
      eor();
      out += '{';
      depth++;
      sep = '';
      for (const [k, e] of Object.entries(x)) {
        eor();
        eol();
        sep = '';
        out += `${JSON.stringify(k)}: `;
        value(e);
      }
      depth--;
      if (sep) eol();
      out += '}';
      sep = ',';
    } else {
      eor();
      out += JSON.stringify(x);
    }
  };
  value(v);
  return out;
}

/**
 * The routes as the kernel dumps them (fib_trie: by network, a longer prefix before a
 * shorter one of the same network, then by metric), those `keep` selects.
 */
function dumpOrder(emu: Emulator, ns: string, keep: (r: Route) => boolean): Route[] {
  return emu.stack(ns).routes.list().filter(keep)
    .sort((a, b) => (a.dst >>> 0) - (b.dst >>> 0) || b.prefixLen - a.prefixLen || (a.metric ?? 0) - (b.metric ?? 0));
}

/** `ip route show [dev DEV]` lines: iproute2 ends each with a space and leaves the device out of a `dev` listing. */
export function routeLines(emu: Emulator, ns: string, dev?: number, keep: (r: Route) => boolean = (r) => dev === undefined || r.ifindex === dev): string[] {
  const n = emu.netns(ns);
  // (a blackhole, unreachable or prohibit route has no device to name)
  return dumpOrder(emu, ns, keep).map((r) => `${formatRoute(r, dev !== undefined || !r.ifindex ? undefined : n.find(r.ifindex)?.name ?? `if${r.ifindex}`)} `);
}

export function routeJson(emu: Emulator, ns: string, dev?: number, keep: (r: Route) => boolean = (r) => dev === undefined || r.ifindex === dev): Record<string, unknown>[] {
  const n = emu.netns(ns);
  return dumpOrder(emu, ns, keep).map((r) => ({
    ...(r.type && r.type !== 'unicast' ? { type: r.type } : {}),
    dst: r.prefixLen === 0 ? 'default' : r.prefixLen === 32 ? formatIp(r.dst) : `${formatIp(r.dst)}/${r.prefixLen}`,
    ...(r.via ? { gateway: formatIp(r.via) } : {}),
    ...(dev === undefined && r.ifindex ? { dev: n.find(r.ifindex)?.name ?? `if${r.ifindex}` } : {}),
    ...(r.proto !== 'boot' ? { protocol: r.proto } : {}),
    ...(r.scope !== 'global' ? { scope: r.scope } : {}),
    ...(r.src ? { prefsrc: formatIp(r.src) } : {}),
    ...(r.metric ? { metric: r.metric } : {}),
    flags: [],
  }));
}

/** An IPv6 route's destination as iproute2 prints it: `default`, a host alone, else ADDR/LEN. */
function dst6(r: Route6): string {
  return r.prefixLen === 0 ? 'default' : r.prefixLen === 128 ? formatIp6(r.dst) : `${formatIp6(r.dst)}/${r.prefixLen}`;
}

/**
 * `ip -6 route show [dev DEV]` lines: no space at the end (unlike IPv4's), the device left
 * out of a `dev` listing, `linkdown` for a device without carrier, `pref medium` last.
 */
export function route6Lines(emu: Emulator, ns: string, dev?: number, keep: (r: Route6) => boolean = (r) => dev === undefined || r.ifindex === dev): string[] {
  const n = emu.netns(ns);
  const inet6 = emu.stack(ns).inet6;
  return inet6.routeList().filter(keep).map((r) => [
    ...(r.type ? [r.type] : []), dst6(r), ...(r.via ? ['via', formatIp6(r.via)] : []), ...(dev === undefined ? ['dev', n.find(r.ifindex)?.name ?? `if${r.ifindex}`] : []),
    ...(r.proto !== 'boot' ? ['proto', r.proto] : []), 'metric', String(r.metric), ...(inet6.linkdown(r) ? ['linkdown'] : []), 'pref', 'medium',
  ].join(' '));
}

export function route6Json(emu: Emulator, ns: string, dev?: number, keep: (r: Route6) => boolean = (r) => dev === undefined || r.ifindex === dev): Record<string, unknown>[] {
  const n = emu.netns(ns);
  const inet6 = emu.stack(ns).inet6;
  return inet6.routeList().filter(keep).map((r) => ({
    ...(r.type ? { type: r.type } : {}), dst: dst6(r), ...(r.via ? { gateway: formatIp6(r.via) } : {}), ...(dev === undefined ? { dev: n.find(r.ifindex)?.name ?? `if${r.ifindex}` } : {}),
    ...(r.proto !== 'boot' ? { protocol: r.proto } : {}), metric: r.metric, flags: inet6.linkdown(r) ? ['linkdown'] : [], pref: 'medium',
  }));
}

type NeighFilter = (n: Neighbour) => boolean;

/** `ip neigh show [dev DEV]` lines: iproute2 ends each with a space and leaves the device out of a `dev` listing. */
export function neighLines(emu: Emulator, ns: string, dev?: number, keep: NeighFilter = () => true): string[] {
  const n = emu.netns(ns);
  return emu.stack(ns).neighbours().filter(keep)
    .map((x) => `${formatIp(x.dst)}${dev === undefined ? ` dev ${n.find(x.ifindex)?.name ?? `if${x.ifindex}`}` : ''}${x.lladdr ? ` lladdr ${formatMac(x.lladdr)}` : ''} ${x.state} `);
}

export function neighJson(emu: Emulator, ns: string, dev?: number, keep: NeighFilter = () => true): Record<string, unknown>[] {
  const n = emu.netns(ns);
  return emu.stack(ns).neighbours().filter(keep).map((x) => ({
    dst: formatIp(x.dst),
    ...(dev === undefined ? { dev: n.find(x.ifindex)?.name ?? `if${x.ifindex}` } : {}),
    ...(x.lladdr ? { lladdr: formatMac(x.lladdr) } : {}),
    state: [x.state],
  }));
}

/** `ip -6 neigh show` lines: as IPv4's, with `router` after the address of a neighbour that said it forwards. */
export function neigh6Lines(emu: Emulator, ns: string, dev: number | undefined, keep: (n: Neighbour6) => boolean): string[] {
  const n = emu.netns(ns);
  return emu.stack(ns).ip6.neighbours().filter(keep)
    .map((x) => `${formatIp6(x.dst)}${dev === undefined ? ` dev ${n.find(x.ifindex)?.name ?? `if${x.ifindex}`}` : ''}${x.lladdr ? ` lladdr ${formatMac(x.lladdr)}` : ''}${x.router ? ' router' : ''} ${x.state} `);
}

export function neigh6Json(emu: Emulator, ns: string, dev: number | undefined, keep: (n: Neighbour6) => boolean): Record<string, unknown>[] {
  const n = emu.netns(ns);
  return emu.stack(ns).ip6.neighbours().filter(keep).map((x) => ({
    dst: formatIp6(x.dst),
    ...(dev === undefined ? { dev: n.find(x.ifindex)?.name ?? `if${x.ifindex}` } : {}),
    ...(x.lladdr ? { lladdr: formatMac(x.lladdr) } : {}),
    ...(x.router ? { router: null } : {}),
    state: [x.state],
  }));
}

/**
 * `ip route get`: what ip_route_output_key_hash would answer (RTM_GETROUTE), as iproute2
 * prints a cached route. A `from` must be one of the namespace's addresses and an `oif`
 * must be up (else ENETUNREACH). Then the local table: a local address goes through `lo`
 * with itself as source (127/8 from 127.0.0.1), a subnet's broadcast address out of its
 * device; else the longest-prefix route, through `oif` when given (none: the destination
 * is taken as on that link), its source the route's preferred one or inet_select_addr's
 * unless `from` fixed it. No route: ENETUNREACH.
 */
export function routeGet(emu: Emulator, ns: string, q: { dst: number; from?: number; oif?: number; mark?: number }): { text: string[]; json: Record<string, unknown> } {
  const stack = emu.stack(ns);
  const n = emu.netns(ns);
  const addrs = stack.addresses();
  const name = (ifindex: number): string => n.find(ifindex)?.name ?? `if${ifindex}`;
  if (q.from !== undefined && !addrs.some((a) => a.local === q.from)) throw new NetError('ENETUNREACH');
  if (q.oif !== undefined && !n.find(q.oif)?.up) throw new NetError('ENETUNREACH');
  const own = addrs.find((a) => a.local === q.dst);
  const loopback = (q.dst >>> 24) === 127 ? addrs.find((a) => a.local === 0x7f000001) : undefined;
  // fib_add_ifaddr's broadcast routes: a primary's subnet broadcast (below /31) and its `brd`
  const brd = addrs.find((a) => !a.secondary && ((a.prefixLen < 31 && ((a.local | ~maskOf(a.prefixLen)) >>> 0) === q.dst) || (a.broadcast !== 0 && a.broadcast === q.dst)));
  let type: 'local' | 'broadcast' | undefined;
  let dev: string;
  let via = 0;
  let src: number;
  if (own || loopback) {
    type = 'local';
    dev = 'lo';
    // (fib_add_ifaddr gives a secondary's local route its primary as prefsrc)
    const prim = own?.secondary ? addrs.find((p) => !p.secondary && p.ifindex === own.ifindex && p.prefixLen === own.prefixLen
      && ((p.local ^ own.local) & maskOf(own.prefixLen)) === 0) : undefined;
    src = (prim ?? own ?? loopback!).local;
  } else if (brd) {
    type = 'broadcast';
    dev = name(brd.ifindex);
    src = brd.local;
  } else {
    const r = stack.routes.list().find((x) => ((q.dst & maskOf(x.prefixLen)) >>> 0) === x.dst && (q.oif === undefined || x.ifindex === q.oif));
    if (r) {
      dev = name(r.ifindex);
      via = r.via;
      src = stack.prefSource(r);
    } else if (q.oif !== undefined) {
      // "Apparently, routing tables are wrong. Assume, that the destination is on link."
      dev = name(q.oif);
      const onDev = addrs.filter((a) => a.ifindex === q.oif && !a.secondary);
      src = (onDev[0] ?? addrs.find((a) => (a.local >>> 24) !== 127))?.local ?? 0;
    } else {
      throw new NetError('ENETUNREACH');
    }
  }
  const prefsrc = q.from === undefined && src ? src : undefined;
  const flags = type === 'broadcast' ? ['local', 'brd'] : type ? [type] : [];
  const text = [
    `${type ? `${type} ` : ''}${formatIp(q.dst)}${q.from !== undefined ? ` from ${formatIp(q.from)}` : ''}${via ? ` via ${formatIp(via)}` : ''} dev ${dev}`
      + `${prefsrc !== undefined ? ` src ${formatIp(prefsrc)}` : ''}${q.mark ? ` mark ${q.mark}` : ''} uid 0 `,
    `    cache ${flags.length ? `<${flags.join(',')}> ` : ''}`,
  ];
  const json: Record<string, unknown> = {
    ...(type ? { type } : {}), dst: formatIp(q.dst), ...(q.from !== undefined ? { from: formatIp(q.from) } : {}),
    ...(via ? { gateway: formatIp(via) } : {}), dev, ...(prefsrc !== undefined ? { prefsrc: formatIp(prefsrc) } : {}),
    flags: [], ...(q.mark ? { mark: q.mark } : {}), uid: 0, cache: flags,
  };
  return { text, json };
}
