/**
 * The packet view: the emulator's capture (every device, restarted as devices come and
 * go) and its per-packet trace, kept for the last few hundred packets; a packet's
 * headers dissected and its bytes in hex; the kept packets as a pcapng download.
 */

import type { Emulator } from '../../src/emulator.js';
import { parsePacket } from '../../src/packet.js';
import { PcapngWriter, readPcapng, type PcapngPacket } from '../../src/trace/pcapng.js';
import type { TraceEvent } from '../../src/trace/trace.js';
import type { XskPool } from '../../src/xdp/socket.js';
import type { Session } from './session.js';

const KEEP = 2000;
const SHOW = 200;

interface Kept extends PcapngPacket { no: number; ifname: string; ifdesc?: string; where: string }

const esc = (t: string): string => t.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export class Packets {
  private packets: Kept[] = [];
  private trace: (TraceEvent & { dev: string; progs: string; verdictText: string })[] = [];
  private next = 1;
  private selected: number | undefined;
  private devicesSeen = '';
  private dirty = false;

  constructor(private readonly session: Session, private readonly table: HTMLTableSectionElement, private readonly traceTable: HTMLTableSectionElement, private readonly detail: HTMLElement) {
    table.addEventListener('click', (e) => {
      const tr = (e.target as HTMLElement).closest('tr');
      if (tr?.dataset.no) this.select(Number(tr.dataset.no));
    });
  }

  clear(): void {
    this.paused = false;
    this.packets = [];
    this.trace = [];
    this.selected = undefined;
    this.dirty = true;
    this.detail.innerHTML = '<p class="muted">Select a packet.</p>';
  }

  private paused = false;

  /** Stops the capture (the traffic button's full-speed runs), or starts it again. */
  pause(on: boolean): void {
    const s = this.session;
    this.paused = on;
    if (on && s.capture) {
      this.take(s.emu.stopCapture(s.capture));
      s.capture = undefined;
    } else if (!on && !s.capture) {
      s.capture = s.emu.startCapture();
      this.devicesSeen = devicesKey(s.emu);
    }
  }

  private take(pcapng: Uint8Array): void {
    const file = readPcapng(pcapng);
    for (const p of file.packets) {
      const i = file.interfaces[p.iface];
      this.packets.push({ ...p, no: this.next++, ifname: i?.name ?? '?', ifdesc: i?.description, where: `${/netns (\S+)/.exec(i?.description ?? '')?.[1] ?? '?'}/${i?.name ?? '?'}` });
    }
    if (file.packets.length) this.dirty = true;
    if (this.packets.length > KEEP) this.packets.splice(0, this.packets.length - KEEP);
  }

  /** Takes what the capture and the tracer hold; restarts the capture when the set of devices changed. */
  poll(): void {
    const s = this.session;
    const emu = s.emu;
    const devs = devicesKey(emu);
    // The capture covers the devices registered when it started: a new device, or packets
    // to take, restart it (stopped first: a new capture skips what the rings still hold).
    if (s.capture && !this.paused) {
      s.capture.drain();
      if (s.capture.packets > 0 || devs !== this.devicesSeen) {
        this.take(emu.stopCapture(s.capture));
        s.capture = emu.startCapture();
        this.devicesSeen = devs;
      }
    }
    const ev = emu.tracer.drain();
    if (ev.length) {
      for (const e of ev) {
        const dev = devName(emu, e);
        this.trace.push({ ...e, dev, progs: progsRan(emu, e), verdictText: verdictText(emu, e) });
      }
      if (this.trace.length > KEEP) this.trace.splice(0, this.trace.length - KEEP);
      this.dirty = true;
    }
    if (this.dirty) this.render();
  }

  private filter = '';

  /** Shows only the packets and trace rows whose text contains `text` (case-insensitive). */
  setFilter(text: string): void {
    this.filter = text.trim().toLowerCase();
    this.render();
  }

  private render(): void {
    this.dirty = false;
    const f = this.filter;
    const keep = (t: string): boolean => f === '' || t.toLowerCase().includes(f);
    const rows = this.packets.map((p) => ({ p, sum: summary(p.data) }))
      .filter(({ p, sum }) => keep(`${p.no} ${p.where} ${p.direction} ${p.origLen} ${sum} ${p.comment ?? ''}`))
      .slice(-SHOW).reverse().map(({ p, sum }) => {
      const dropped = p.comment?.startsWith('drop:');
      return `<tr data-no="${p.no}" class="${dropped ? 'dropped' : ''}${p.no === this.selected ? ' sel' : ''}"><td>${p.no}</td><td>${(Number(p.tstampNs) / 1e9).toFixed(6)}</td><td>${esc(p.where)}</td><td>${p.direction}</td><td>${p.origLen}</td><td>${esc(sum)}${p.comment ? ` <b>${esc(p.comment)}</b>` : ''}</td></tr>`;
    });
    this.table.innerHTML = rows.join('');
    this.traceTable.innerHTML = this.trace.filter((e) => keep(`${e.dev} ${e.hook} ${e.progs} ${e.verdictText} ${e.reason ? e.reasonName || reasonName(e.reason) : ''} ${e.len}`)).slice(-SHOW).reverse().map((e) =>
      `<tr class="${e.reason ? 'dropped' : ''}"><td>${(Number(e.tstampNs) / 1e9).toFixed(6)}</td><td>${esc(e.dev)}</td><td>${esc(e.hook)}</td><td>${esc(e.progs)}</td><td>${esc(e.verdictText)}</td><td>${e.reason ? esc(e.reasonName || reasonName(e.reason)) : ''}</td><td>${e.len}</td></tr>`).join('');
  }

  private select(no: number): void {
    const p = this.packets.find((x) => x.no === no);
    if (!p) return;
    this.selected = no;
    for (const tr of this.table.querySelectorAll('tr')) tr.classList.toggle('sel', tr.dataset.no === String(no));
    this.detail.innerHTML = `<div><b>#${p.no}</b> ${esc(p.where)} ${p.direction}, ${p.data.length} of ${p.origLen} bytes${p.comment ? `, ${esc(p.comment)}` : ''}</div>`
      + `<pre>${esc(dissect(p.data))}</pre><details open><summary>bytes</summary><pre>${esc(hexdump(p.data))}</pre></details>`;
  }

  /** The kept packets as one pcapng file (interfaces named as the capture named them). */
  pcapng(): Uint8Array {
    const w = new PcapngWriter({ application: 'nkemu playground' });
    const ids = new Map<string, number>();
    for (const p of this.packets) {
      const k = `${p.ifname}\0${p.ifdesc ?? ''}`;
      let id = ids.get(k);
      if (id === undefined) ids.set(k, (id = w.addInterface({ name: p.ifname, description: p.ifdesc })));
      w.addPacket({ iface: id, tstampNs: p.tstampNs, data: p.data, origLen: p.origLen, direction: p.direction, comment: p.comment });
    }
    return w.bytes();
  }

  get count(): number {
    return this.packets.length;
  }
}

let reasonNames: ((r: number) => string) | undefined;
export function setReasonNames(fn: (r: number) => string): void {
  reasonNames = fn;
}
const reasonName = (r: number): string => reasonNames?.(r) ?? String(r);

function devicesKey(emu: Emulator): string {
  return ['init', ...emu.listNetns()].map((ns) => emu.links(ns).map((d) => `${ns}/${d.name}/${d.ifindex}`).join(',')).join(';');
}

/** The programs that ran at the hook, as the topology's badges name them (name#id), in run order. */
function progsRan(emu: Emulator, e: TraceEvent): string {
  const name = (id: number): string => `${emu.bpf.prog(id)?.name ?? 'prog'}#${id}`;
  const shown = e.progIds.map(name);
  // (the record keeps the first few ids of a long list, and always the last)
  const hidden = e.progsRun - e.progIds.length - 1;
  if (hidden > 0) shown.push(`… ${hidden} more`);
  if (hidden >= 0) shown.push(name(e.progLast));
  return shown.join(', ');
}

/**
 * The verdict, and at the xdp hook where a redirect went: the AF_XDP socket that took the
 * frame (bound to `peerIfindex`, its pool on the frame's rx queue) or the devmap's device.
 */
const XSKMAP = 17;
function verdictText(emu: Emulator, e: TraceEvent): string {
  if (e.hook !== 'xdp' || e.verdictName !== 'REDIRECT' || !e.peerIfindex) return e.verdictName;
  const ns = emu.namespaceById(e.netns);
  const nic = ns && emu.links(ns.name).find((x) => x.ifindex === e.ifindex);
  const pool = nic?.rxq[e.queue]?.pool as XskPool | undefined;
  const sock = pool && [...pool.sockets].find((k) => k.bound?.dev.ifindex === e.peerIfindex);
  if (sock?.bound) return `REDIRECT → AF_XDP ${sock.bound.dev.netns.name}/${sock.bound.dev.name} q${sock.bound.queue}`;
  // (the socket closed since: the record says an XSKMAP redirect took it, to that ifindex)
  if (e.mark === XSKMAP) return `REDIRECT → AF_XDP socket on ifindex ${e.peerIfindex}`;
  const to = ns && emu.links(ns.name).find((x) => x.ifindex === e.peerIfindex);
  return `REDIRECT → ${to ? `${ns.name}/${to.name}` : `if${e.peerIfindex}`}`;
}

function devName(emu: Emulator, e: TraceEvent): string {
  const ns = emu.namespaceById(e.netns);
  if (!ns) return `netns ${e.netns} if ${e.ifindex}`;
  const d = emu.links(ns.name).find((x) => x.ifindex === e.ifindex);
  return `${ns.name}/${d?.name ?? `if${e.ifindex}`}`;
}

const PROTO: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };

export function summary(f: Uint8Array): string {
  try {
    const p = parsePacket(f);
    const ip = p.ipv4 ?? p.ipv6;
    if (!ip) return `${p.eth.src} → ${p.eth.dst} type 0x${p.eth.type.toString(16).padStart(4, '0')}`;
    const l4 = p.udp ? `UDP ${p.udp.sport} → ${p.udp.dport}` : p.tcp ? `TCP ${p.tcp.sport} → ${p.tcp.dport} [${p.tcp.flags}]` : p.icmp ? `ICMP ${p.icmp.type === 8 ? 'echo request' : p.icmp.type === 0 ? 'echo reply' : `type ${p.icmp.type}`} id ${p.icmp.id} seq ${p.icmp.seq}` : PROTO[p.ipv4?.protocol ?? -1] ?? '';
    return `${ip.src} → ${ip.dst} ${l4}`;
  } catch (e) {
    return `malformed: ${(e as Error).message}`;
  }
}

/** Headers one per block, fields as a dissector shows them. */
export function dissect(f: Uint8Array): string {
  let p;
  try {
    p = parsePacket(f);
  } catch (e) {
    return `malformed: ${(e as Error).message}`;
  }
  const out: string[] = [`Ethernet II, Src: ${p.eth.src}, Dst: ${p.eth.dst}, Type: 0x${p.eth.type.toString(16).padStart(4, '0')}`];
  for (const v of p.vlan) out.push(`802.1Q VLAN, ID: ${v.id}, PRI: ${v.pcp}, DEI: ${v.dei ? 1 : 0}`);
  if (p.ipv4) {
    const i = p.ipv4;
    out.push(`Internet Protocol Version 4, Src: ${i.src}, Dst: ${i.dst}`,
      `    Total Length: ${i.totalLength}, TTL: ${i.ttl}, Protocol: ${PROTO[i.protocol] ?? i.protocol} (${i.protocol}), TOS: 0x${(i.tos ?? 0).toString(16).padStart(2, '0')}`,
      `    Identification: 0x${(i.id ?? 0).toString(16).padStart(4, '0')}, Header checksum: 0x${i.checksum.toString(16).padStart(4, '0')} [${i.checksumOk ? 'correct' : 'incorrect'}]`);
  }
  if (p.ipv6) out.push(`Internet Protocol Version 6, Src: ${p.ipv6.src}, Dst: ${p.ipv6.dst}`, `    Payload Length: ${p.ipv6.payloadLength}, Next Header: ${p.ipv6.nextHeader}, Hop Limit: ${p.ipv6.hopLimit}`);
  if (p.udp) out.push(`User Datagram Protocol, Src Port: ${p.udp.sport}, Dst Port: ${p.udp.dport}`, `    Length: ${p.udp.length}, Checksum: 0x${p.udp.checksum.toString(16).padStart(4, '0')} [${p.udp.checksumOk ? 'correct' : 'incorrect'}]`);
  if (p.tcp) out.push(`Transmission Control Protocol, Src Port: ${p.tcp.sport}, Dst Port: ${p.tcp.dport}`, `    Seq: ${p.tcp.seq}, Ack: ${p.tcp.ack}, Flags: [${p.tcp.flags}], Window: ${p.tcp.window}, Checksum: 0x${p.tcp.checksum.toString(16).padStart(4, '0')} [${p.tcp.checksumOk ? 'correct' : 'incorrect'}]`);
  if (p.icmp) out.push(`Internet Control Message Protocol${p.icmp.v6 ? 'v6' : ''}, Type: ${p.icmp.type}, Code: ${p.icmp.code}`, `    Identifier: ${p.icmp.id}, Sequence: ${p.icmp.seq}, Checksum: 0x${p.icmp.checksum.toString(16).padStart(4, '0')} [${p.icmp.checksumOk ? 'correct' : 'incorrect'}]`);
  if (p.payload.length) out.push(`Data (${p.payload.length} bytes)`);
  return out.join('\n');
}

export function hexdump(f: Uint8Array): string {
  const lines: string[] = [];
  for (let o = 0; o < f.length; o += 16) {
    const row = f.subarray(o, o + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    lines.push(`${o.toString(16).padStart(4, '0')}  ${hex.slice(0, 8).join(' ').padEnd(23)}  ${hex.slice(8).join(' ').padEnd(23)}  ${[...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')}`);
  }
  return lines.join('\n');
}
