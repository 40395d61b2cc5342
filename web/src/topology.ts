/**
 * The topology panel, drawn from the emulator: namespaces as regions, devices in them
 * (netkit primaries, peers and single devices, NICs, loopback) with their rx queues,
 * netkit pairs joined by a line, leases as arrows from the netkit queue to the NIC
 * queue, AF_XDP sockets and zcrx receivers on the queues they use, attached programs as
 * badges; counters with rates under each device, refreshed while traffic runs.
 */

import type { Emulator } from '../../src/emulator.js';
import type { NetDevice, RxQueue } from '../../src/net/netdev.js';
import type { MprogList } from '../../src/ebpf/mprog.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import type { XskPool, XskSocket } from '../../src/xdp/socket.js';

export interface QueueSnap { index: number; lease?: string; leasedBy?: string; xsk?: string; zcrx?: boolean }
export interface DevSnap {
  key: string; ns: string; name: string; ifindex: number; kind: string; role: string; up: boolean;
  detail: string; peer?: string; queues: QueueSnap[]; progs: string[]; xsks: string[];
}
export interface Snapshot { namespaces: { name: string; devices: DevSnap[] }[] }

const qkey = (q: RxQueue): string => `${q.dev.netns.name}/${q.dev.name}#${q.index}`;
const progNames = (l: MprogList | undefined): string[] => (l ? l.programs().map((p) => p as unknown as BpfProgram).map((p) => `${p.name}#${p.id}`) : []);

/** What the panel draws, read from the emulator's devices. */
export function snapshot(emu: Emulator): Snapshot {
  const namespaces = ['init', ...emu.listNetns().slice().reverse()];
  return {
    namespaces: namespaces.map((ns) => ({
      name: ns,
      // (loopback last: the devices that take part come first in their region)
      devices: emu.links(ns).map((d) => devSnap(d)).sort((a, b) => Number(a.kind === 'loopback') - Number(b.kind === 'loopback')),
    })),
  };
}

function devSnap(d: NetDevice): DevSnap {
  const nk = d.netkit;
  const role = d.kind === 'loopback' ? 'loopback' : d.kind === 'nic' ? 'NIC' : nk?.peer ? (nk.primary ? 'netkit primary' : 'netkit peer') : 'netkit single';
  const detail = nk ? `${nk.mode === 1 ? 'l3' : 'l2'} · policy ${nk.policy === 2 ? 'blackhole' : 'forward'}` : d.kind === 'nic' ? `${d.rxq.length} rx queues` : '';
  const progs: string[] = [];
  if (nk) for (const p of progNames(nk.progs)) progs.push(`${nk.primary || !nk.peer ? 'netkit_primary' : 'netkit_peer'}: ${p}`);
  for (const p of progNames(d.tcxIngress)) progs.push(`tcx_ingress: ${p}`);
  for (const p of progNames(d.tcxEgress)) progs.push(`tcx_egress: ${p}`);
  if (d.nic?.xdp) progs.push(`xdp: ${d.nic.xdp.name}#${d.nic.xdp.id}`);
  const xsks: string[] = [];
  const queues: QueueSnap[] = d.rxq.map((q) => {
    const s: QueueSnap = { index: q.index };
    if (q.lease) {
      if (d.kind === 'netkit') s.lease = qkey(q.lease);
      else s.leasedBy = qkey(q.lease);
    }
    const pool = q.pool as XskPool | undefined;
    if (pool) {
      s.xsk = [...pool.sockets].map((k) => sockText(k)).join(', ');
    }
    if (q.provider) s.zcrx = true;
    return s;
  });
  // Sockets bound here through a lease hold their pool on the NIC's queue: list them on this device too.
  for (const q of d.rxq) {
    const pool = (q.lease?.pool ?? q.pool) as XskPool | undefined;
    if (!pool) continue;
    for (const k of pool.sockets) if (k.bound?.dev === d) xsks.push(`AF_XDP q${k.bound.queue} ${sockText(k)}`);
  }
  return {
    key: `${d.netns.name}/${d.name}`, ns: d.netns.name, name: d.name, ifindex: d.ifindex, kind: d.kind, role, up: d.up, detail,
    peer: nk?.peer && nk.primary ? `${nk.peer.netns.name}/${nk.peer.name}` : undefined, queues, progs, xsks,
  };
}

function sockText(k: XskSocket): string {
  const s = (k as unknown as { sizes: { fill: number; rx: number; tx: number; comp: number } }).sizes;
  const b = k.bound;
  const zc = b?.pool.zerocopy ? 'zc' : 'copy';
  return `${zc} fill ${s.fill} rx ${s.rx} tx ${s.tx} comp ${s.comp}`;
}

/** Structure only (no counters): the panel is rebuilt when this changes. */
export function signature(s: Snapshot): string {
  return JSON.stringify(s);
}

const esc = (t: string): string => t.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function render(host: HTMLElement, s: Snapshot): void {
  const parts: string[] = ['<svg class="links" aria-hidden="true"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#4fb3ff"/></marker></defs></svg>'];
  for (const ns of s.namespaces) {
    parts.push(`<div class="netns" data-netns="${esc(ns.name)}" role="group" aria-label="netns ${esc(ns.name)}"><span class="ns-name">netns ${esc(ns.name)}</span>`);
    for (const d of ns.devices) {
      const qs = d.queues.length > 1 || d.kind !== 'loopback'
        ? `<div class="queues">${d.queues.map((q) => `<span class="q${q.lease ? ' lessee' : ''}${q.leasedBy ? ' leased' : ''}${q.xsk ? ' xsk' : ''}${q.zcrx ? ' zcrx' : ''}" data-queue="${esc(d.key)}#${q.index}" title="${esc(`rx queue ${q.index}${q.lease ? ` leases ${q.lease}` : ''}${q.leasedBy ? ` leased to ${q.leasedBy}` : ''}${q.xsk ? ` · AF_XDP pool: ${q.xsk}` : ''}${q.zcrx ? ' · io_uring zcrx' : ''}`)}">${q.index}</span>`).join('')}</div>`
        : '';
      parts.push(`<div class="dev ${esc(d.kind)}${d.up ? '' : ' down'}" data-device="${esc(d.key)}" ${d.peer ? `data-peer="${esc(d.peer)}"` : ''}>`
        + `<div><span class="name">${esc(d.name)}</span> <span class="kind">${d.ifindex}: ${esc(d.role)}${d.up ? '' : ' (down)'}</span></div>`
        + (d.detail ? `<div class="kind">${esc(d.detail)}</div>` : '')
        + d.progs.map((p) => `<span class="badge prog" title="attached program">${esc(p)}</span>`).join('')
        + d.xsks.map((x) => `<span class="badge xsk">${esc(x)}</span>`).join('')
        + qs
        + `<div class="counters" data-counters="${esc(d.key)}">rx 0 pkts · tx 0 pkts</div></div>`);
    }
    parts.push('</div>');
  }
  host.innerHTML = parts.join('');
  drawLinks(host, s);
}

/** The SVG overlay: pairs (device to device) and leases (queue to queue), from where the boxes ended up. */
export function drawLinks(host: HTMLElement, s: Snapshot): void {
  const svg = host.querySelector('svg.links') as SVGSVGElement | null;
  if (!svg) return;
  const base = host.getBoundingClientRect();
  svg.setAttribute('width', String(host.scrollWidth));
  svg.setAttribute('height', String(host.scrollHeight));
  const at = (el: Element | null): DOMRect | undefined => el?.getBoundingClientRect();
  const pos = (r: DOMRect, fx: number, fy: number): [number, number] => [r.left - base.left + host.scrollLeft + r.width * fx, r.top - base.top + host.scrollTop + r.height * fy];
  const lines: string[] = [];
  const sel = (a: string, v: string): Element | null => host.querySelector(`[${a}="${CSS.escape(v)}"]`);
  for (const ns of s.namespaces) {
    for (const d of ns.devices) {
      if (d.peer) {
        const a = at(sel('data-device', d.key));
        const b = at(sel('data-device', d.peer));
        if (a && b) {
          // (side by side: an arc over the tops, clear of the other boxes in the regions;
          // one region below the other: bottom to top)
          const across = Math.abs(a.left - b.left) > Math.abs(a.top - b.top);
          const [x1, y1] = across ? pos(a, 0.5, 0) : pos(a, 0.5, a.top < b.top ? 1 : 0);
          const [x2, y2] = across ? pos(b, 0.5, 0) : pos(b, 0.5, a.top < b.top ? 0 : 1);
          const top = Math.min(y1, y2) - 22;
          const [cx1, cy1, cx2, cy2] = across ? [x1, top, x2, top] : [x1, y1 + (y2 - y1) / 2, x2, y1 + (y2 - y1) / 2];
          lines.push(`<path d="M${x1},${y1} C${cx1},${cy1} ${cx2},${cy2} ${x2},${y2}" stroke="#8bd17c" stroke-width="2" fill="none" stroke-dasharray="5 3"><title>netkit pair ${d.key} ↔ ${d.peer}</title></path>`);
        }
      }
      for (const q of d.queues) {
        if (!q.lease) continue;
        const a = at(sel('data-queue', `${d.key}#${q.index}`));
        const b = at(sel('data-queue', q.lease));
        if (a && b) {
          const [x1, y1] = pos(a, 0.5, 1);
          const [x2, y2] = pos(b, 0.5, 1);
          const dip = Math.max(y1, y2) + 30;
          lines.push(`<path d="M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}" stroke="#4fb3ff" stroke-width="2" fill="none" marker-end="url(#arrow)"><title>lease: ${d.key} queue ${q.index} → ${q.lease}</title></path>`);
        }
      }
    }
  }
  svg.innerHTML = svg.querySelector('defs')!.outerHTML + lines.join('');
}

const fmt = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)} k` : String(Math.round(n)));

interface Seen { t: number; rx: bigint; tx: bigint; rxB: bigint; txB: bigint; rates: string }

/** Counters under each device: packets and bytes, rates since the last update, drops by reason. */
export class Counters {
  private seen = new Map<string, Seen>();

  reset(): void {
    this.seen.clear();
  }

  update(host: HTMLElement, emu: Emulator): void {
    const now = performance.now();
    for (const el of host.querySelectorAll<HTMLElement>('[data-counters]')) {
      const key = el.dataset.counters!;
      const i = key.indexOf('/');
      let d: NetDevice;
      try {
        d = emu.device(key.slice(0, i), key.slice(i + 1));
      } catch {
        continue;
      }
      const st = emu.stats(d);
      // Rates over windows of at least a second (the workers publish counters per batch).
      const prev = this.seen.get(key);
      let rates = prev?.rates ?? '';
      if (!prev || now - prev.t >= 1000) {
        if (prev) {
          const dt = (now - prev.t) / 1000;
          const rp = Number(st.rxPackets - prev.rx) / dt;
          const tp = Number(st.txPackets - prev.tx) / dt;
          rates = rp > 0 || tp > 0 ? `\n<span class="rate">rx ${fmt(rp)}pps ${fmt((Number(st.rxBytes - prev.rxB) * 8) / dt)}bit/s\ntx ${fmt(tp)}pps ${fmt((Number(st.txBytes - prev.txB) * 8) / dt)}bit/s</span>` : '';
        }
        this.seen.set(key, { t: now, rx: st.rxPackets, tx: st.txPackets, rxB: st.rxBytes, txB: st.txBytes, rates });
      }
      const drops = Object.entries(st.dropReasons).map(([k, v]) => `${k} ${v}`).join(', ');
      const html = `rx ${st.rxPackets} pkts ${fmt(Number(st.rxBytes))}B\ntx ${st.txPackets} pkts ${fmt(Number(st.txBytes))}B`
        + (st.rxDropped || st.txDropped ? `\n<span class="drops">dropped rx ${st.rxDropped} tx ${st.txDropped}${drops ? `\n${esc(drops)}` : ''}</span>` : '')
        + rates;
      if (el.innerHTML !== html) el.innerHTML = html;
    }
  }
}
