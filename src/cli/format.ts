/**
 * iproute2's output shapes for `ip link`, `ip addr`, `ip route`, `ip neigh`: the text
 * form and the `-j` JSON form (snake_case keys, flags as arrays, absent attributes
 * omitted), built from the public dump API.
 */

import * as A from '../abi.generated.js';
import type { Emulator } from '../emulator.js';
import type { LinkDump } from '../net/types.js';
import { formatIp, formatMac } from '../net/stack/packet.js';
import { formatRoute, type Route } from '../net/stack/route.js';

export interface ShowOptions {
  details: boolean;
  stats: boolean;
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

function statsText(d: LinkDump): string[] {
  const s = d.stats;
  const row = (cols: [string, bigint][]): [string, string] => {
    const head = cols.map(([h, v]) => h.padStart(Math.max(h.length, String(v).length)));
    const vals = cols.map(([h, v]) => String(v).padStart(Math.max(h.length, String(v).length)));
    return [head.join(' '), vals.join(' ')];
  };
  const [rh, rv] = row([['bytes', s.rxBytes], ['packets', s.rxPackets], ['errors', s.rxErrors], ['dropped', s.rxDropped], ['missed', 0n], ['mcast', s.multicast]]);
  const [th, tv] = row([['bytes', s.txBytes], ['packets', s.txPackets], ['errors', s.txErrors], ['dropped', s.txDropped], ['carrier', 0n], ['collsns', 0n]]);
  return [`    RX:  ${rh}`, `         ${rv}`, `    TX:  ${th}`, `         ${tv}`];
}

/** One device, as `ip [-d] [-s] link show` prints it. */
export function linkText(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions & { addr?: boolean }): string[] {
  const { name, mdown } = linkSuffix(emu, ns, d);
  const flags = printFlags(d, mdown).join(',');
  const lines = [`${d.ifindex}: ${name}: <${flags}> mtu ${d.mtu} qdisc ${d.qdisc} state ${d.operstate}${o.addr ? '' : ` mode ${d.linkmode}`} group ${d.group} qlen ${d.txqlen}`];
  let l2 = `    link/${d.linkType} ${d.address} brd ${d.broadcast}`;
  // iproute2 names the peer's namespace when it can (`link-netns NAME`), else its nsid.
  if (d.linkNetnsid !== undefined) {
    const peer = emu.netns(ns).find(d.ifindex)?.netkit?.peer;
    l2 += peer && peer.netns.name !== 'init' ? ` link-netns ${peer.netns.name}` : ` link-netnsid ${d.linkNetnsid}`;
  }
  if (o.details) {
    l2 += ` promiscuity 0 allmulti 0 minmtu ${d.minMtu} maxmtu ${d.maxMtu} `;
    lines.push(l2);
    lines.push(`    ${d.kind === 'netkit' ? netkitText(d) : ''}${tail(d)}`);
  } else {
    lines.push(l2);
  }
  if (o.stats) lines.push(...statsText(d));
  return lines;
}

/** One device as an element of `ip -j [-d] [-s] link show`. */
export function linkJson(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions): Record<string, unknown> {
  const { mdown } = linkSuffix(emu, ns, d);
  const j: Record<string, unknown> = { ifindex: d.ifindex };
  if (d.link !== undefined && d.linkNetnsid === undefined && d.link !== 0) j.link = d.linkName ?? null;
  if (d.linkNetnsid !== undefined) j.link_index = d.link;
  j.ifname = d.ifname;
  j.flags = printFlags(d, mdown);
  j.mtu = d.mtu;
  j.qdisc = d.qdisc;
  j.operstate = d.operstate;
  j.linkmode = d.linkmode;
  j.group = d.group;
  j.txqlen = d.txqlen;
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
    Object.assign(j, {
      num_tx_queues: d.numTxQueues, num_rx_queues: d.numRxQueues, gso_max_size: d.gsoMaxSize, gso_max_segs: d.gsoMaxSegs,
      tso_max_size: d.tsoMaxSize, tso_max_segs: d.tsoMaxSegs, gro_max_size: d.groMaxSize, gso_ipv4_max_size: d.gsoMaxSize, gro_ipv4_max_size: d.groMaxSize,
    });
  }
  if (o.stats) {
    const s = d.stats;
    j.stats64 = {
      rx: { bytes: Number(s.rxBytes), packets: Number(s.rxPackets), errors: Number(s.rxErrors), dropped: Number(s.rxDropped), over_errors: 0, multicast: Number(s.multicast) },
      tx: { bytes: Number(s.txBytes), packets: Number(s.txPackets), errors: Number(s.txErrors), dropped: Number(s.txDropped), carrier_errors: 0, collisions: 0 },
    };
  }
  return j;
}

/** `ip addr show` lines for one device (link lines, then its inet lines). */
export function addrText(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions): string[] {
  const lines = linkText(emu, ns, d, { details: o.details, stats: false, addr: true });
  for (const a of emu.stack(ns).addresses(d.ifindex)) {
    const brd = a.broadcast ? ` brd ${formatIp(a.broadcast)}` : '';
    const scope = (a.local >>> 24) === 127 ? 'host' : 'global';
    lines.push(`    inet ${formatIp(a.local)}/${a.prefixLen}${brd} scope ${scope}${a.secondary ? ' secondary' : ''} ${d.ifname}`);
    lines.push('       valid_lft forever preferred_lft forever');
  }
  return lines;
}

export function addrJson(emu: Emulator, ns: string, d: LinkDump, o: ShowOptions): Record<string, unknown> {
  const j = linkJson(emu, ns, d, { details: o.details, stats: false });
  j.addr_info = emu.stack(ns).addresses(d.ifindex).map((a) => ({
    family: 'inet', local: formatIp(a.local), prefixlen: a.prefixLen,
    ...(a.broadcast ? { broadcast: formatIp(a.broadcast) } : {}),
    scope: (a.local >>> 24) === 127 ? 'host' : 'global', ...(a.secondary ? { secondary: true } : {}), label: d.ifname,
    valid_life_time: 4294967295, preferred_life_time: 4294967295,
  }));
  return j;
}

/**
 * The routes as the kernel dumps them (fib_trie: by network, a longer prefix before a
 * shorter one of the same network, then by metric); with `dev` (an ifindex), its only.
 */
function dumpOrder(emu: Emulator, ns: string, dev?: number): Route[] {
  return emu.stack(ns).routes.list().filter((r) => dev === undefined || r.ifindex === dev)
    .sort((a, b) => (a.dst >>> 0) - (b.dst >>> 0) || b.prefixLen - a.prefixLen || (a.metric ?? 0) - (b.metric ?? 0));
}

/** `ip route show [dev DEV]` lines: iproute2 ends each with a space and leaves the device out of a `dev` listing. */
export function routeLines(emu: Emulator, ns: string, dev?: number): string[] {
  const n = emu.netns(ns);
  // (a blackhole, unreachable or prohibit route has no device to name)
  return dumpOrder(emu, ns, dev).map((r) => `${formatRoute(r, dev !== undefined || !r.ifindex ? undefined : n.find(r.ifindex)?.name ?? `if${r.ifindex}`)} `);
}

export function routeJson(emu: Emulator, ns: string, dev?: number): Record<string, unknown>[] {
  const n = emu.netns(ns);
  return dumpOrder(emu, ns, dev).map((r) => ({
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

/** `ip neigh show [dev DEV]` lines: iproute2 ends each with a space and leaves the device out of a `dev` listing. */
export function neighLines(emu: Emulator, ns: string, dev?: number): string[] {
  const n = emu.netns(ns);
  return emu.stack(ns).neighbours().filter((x) => dev === undefined || x.ifindex === dev)
    .map((x) => `${formatIp(x.dst)}${dev === undefined ? ` dev ${n.find(x.ifindex)?.name ?? `if${x.ifindex}`}` : ''}${x.lladdr ? ` lladdr ${formatMac(x.lladdr)}` : ''} ${x.state} `);
}

export function neighJson(emu: Emulator, ns: string, dev?: number): Record<string, unknown>[] {
  const n = emu.netns(ns);
  return emu.stack(ns).neighbours().filter((x) => dev === undefined || x.ifindex === dev).map((x) => ({
    dst: formatIp(x.dst),
    ...(dev === undefined ? { dev: n.find(x.ifindex)?.name ?? `if${x.ifindex}` } : {}),
    ...(x.lladdr ? { lladdr: formatMac(x.lladdr) } : {}),
    state: [x.state],
  }));
}
