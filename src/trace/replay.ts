/**
 * Frames of a capture file for replay (`nkemu bench --pcap`, `pktgen … pcap FILE`): the
 * classic pcap format (either byte order, µs or ns timestamps) and pcapng (read by
 * pcapng.ts), Ethernet link type only. A file that is neither, or is cut short, is refused
 * with a CaptureError naming the file, the byte offset and what was wrong there.
 *
 *   pcap:  magic u32 | version 2.4 | thiszone | sigfigs | snaplen | linktype   (24 bytes)
 *          then per record: ts_sec | ts_frac | caplen | origlen   (16 bytes) | caplen bytes
 */

import { LINKTYPE_ETHERNET, readPcapng } from './pcapng.js';

/** A capture that cannot be replayed: the message names the file and the problem. */
export class CaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaptureError';
  }
}

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;

export interface ReplayCapture {
  format: 'pcap' | 'pcapng';
  /** Frames in capture order, as captured (a record cut by the snap length is replayed cut). */
  frames: Uint8Array[];
  /** Records whose captured length is shorter than the frame was on the wire. */
  truncated: number;
}

/** The frames of a pcap or pcapng file; `name` is only used in error messages. */
export function readCapture(bytes: Uint8Array, name = 'capture'): ReplayCapture {
  if (bytes.length < 4) throw new CaptureError(`${name}: not a pcap or pcapng file (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = dv.getUint32(0, true);
  const be = dv.getUint32(0, false);
  let out: ReplayCapture;
  if (le === PCAPNG_SHB) out = pcapng(bytes, name);
  else if (le === PCAP_US || le === PCAP_NS) out = pcap(bytes, dv, true, name);
  else if (be === PCAP_US || be === PCAP_NS) out = pcap(bytes, dv, false, name);
  else throw new CaptureError(`${name}: not a pcap or pcapng file (magic 0x${be.toString(16).padStart(8, '0')})`);
  if (out.frames.length === 0) throw new CaptureError(`${name}: the capture holds no packets`);
  return out;
}

function pcap(b: Uint8Array, dv: DataView, le: boolean, name: string): ReplayCapture {
  if (b.length < 24) throw new CaptureError(`${name}: pcap file header cut short (${b.length} of 24 bytes)`);
  const major = dv.getUint16(4, le);
  if (major !== 2) throw new CaptureError(`${name}: pcap version ${major}.${dv.getUint16(6, le)} (want 2.4)`);
  const link = dv.getUint32(20, le) & 0x0fffffff;
  if (link !== LINKTYPE_ETHERNET) throw new CaptureError(`${name}: link type ${link} is not Ethernet (1)`);
  const frames: Uint8Array[] = [];
  let truncated = 0;
  for (let o = 24; o < b.length;) {
    if (o + 16 > b.length) throw new CaptureError(`${name}: record header at byte ${o} cut short (${b.length - o} of 16 bytes)`);
    const caplen = dv.getUint32(o + 8, le);
    const orig = dv.getUint32(o + 12, le);
    if (caplen > 0x40000) throw new CaptureError(`${name}: record at byte ${o} claims ${caplen} bytes (at most 262144)`);
    if (o + 16 + caplen > b.length) throw new CaptureError(`${name}: record at byte ${o} cut short (${b.length - o - 16} of ${caplen} bytes)`);
    if (caplen < orig) truncated++;
    frames.push(b.slice(o + 16, o + 16 + caplen));
    o += 16 + caplen;
  }
  return { format: 'pcap', frames, truncated };
}

function pcapng(b: Uint8Array, name: string): ReplayCapture {
  let file;
  try {
    file = readPcapng(b);
  } catch (e) {
    throw new CaptureError(`${name}: ${(e as Error).message.replace(/^pcapng: /, 'pcapng: ')}`);
  }
  const frames: Uint8Array[] = [];
  let truncated = 0;
  for (const p of file.packets) {
    const iface = file.interfaces[p.iface];
    if (!iface) throw new CaptureError(`${name}: pcapng: a packet names interface ${p.iface}, which the file does not describe`);
    if ((iface.linkType ?? LINKTYPE_ETHERNET) !== LINKTYPE_ETHERNET) throw new CaptureError(`${name}: interface ${p.iface} has link type ${iface.linkType}, not Ethernet (1)`);
    if (p.data.length < p.origLen) truncated++;
    frames.push(p.data);
  }
  return { format: 'pcapng', frames, truncated };
}
