/**
 * pcapng files (the format Wireshark writes by default): one Section Header Block, one
 * Interface Description Block per device (link type Ethernet, `if_tsresol` = 9: ns
 * timestamps), Enhanced Packet Blocks with direction flags and an optional comment, and
 * Interface Statistics Blocks for drop counts. Little-endian; every block is padded to
 * 32 bits and repeats its length at the end. Also a reader (tests, tools).
 *
 *   block:  type u32 | total length u32 | body ... | total length u32
 *   option: code u16 | length u16 | value, padded to 4 | ... | opt_endofopt (0, 0)
 */

export const LINKTYPE_ETHERNET = 1;

const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const EPB = 0x00000006;
const ISB = 0x00000005;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const SHB_USERAPPL = 4;
const EPB_FLAGS = 2;
const ISB_IFRECV = 4;
const ISB_IFDROP = 5;

export type Direction = 'in' | 'out' | 'unknown';

export interface PcapngInterface {
  name: string;
  description?: string;
  linkType?: number;
  snaplen?: number;
}

export interface PcapngPacket {
  iface: number;
  tstampNs: bigint;
  data: Uint8Array;
  origLen: number;
  direction: Direction;
  comment?: string;
}

const enc = new TextEncoder();
const pad4 = (n: number): number => (n + 3) & ~3;

function options(opts: [number, Uint8Array][]): Uint8Array {
  if (opts.length === 0) return new Uint8Array(0);
  const size = opts.reduce((a, [, v]) => a + 4 + pad4(v.length), 0) + 4;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const [code, v] of opts) {
    dv.setUint16(o, code, true);
    dv.setUint16(o + 2, v.length, true);
    out.set(v, o + 4);
    o += 4 + pad4(v.length);
  }
  dv.setUint16(o, OPT_END, true);
  return out;
}

function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + pad4(body.length);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, total, true);
  out.set(body, 8);
  dv.setUint32(total - 4, total, true);
  return out;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

/** Builds a pcapng file in memory, block by block. */
export class PcapngWriter {
  private readonly blocks: Uint8Array[] = [];
  private readonly ifaces: PcapngInterface[] = [];

  constructor(o: { application?: string } = {}) {
    const head = new Uint8Array(16);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, BYTE_ORDER_MAGIC, true);
    dv.setUint16(4, 1, true);
    dv.setUint16(6, 0, true);
    dv.setBigInt64(8, -1n, true); // section length unknown
    const opts = options([[SHB_USERAPPL, enc.encode(o.application ?? 'nkemu')]]);
    this.blocks.push(block(SHB, concat([head, opts])));
  }

  /** Adds an interface (IDB); returns its id for packets. */
  addInterface(i: PcapngInterface): number {
    const head = new Uint8Array(8);
    const dv = new DataView(head.buffer);
    dv.setUint16(0, i.linkType ?? LINKTYPE_ETHERNET, true);
    dv.setUint32(4, i.snaplen ?? 262144, true);
    const opts: [number, Uint8Array][] = [[IF_NAME, enc.encode(i.name)]];
    if (i.description) opts.push([IF_DESCRIPTION, enc.encode(i.description)]);
    opts.push([IF_TSRESOL, new Uint8Array([9])]);
    this.blocks.push(block(IDB, concat([head, options(opts)])));
    this.ifaces.push(i);
    return this.ifaces.length - 1;
  }

  get interfaces(): readonly PcapngInterface[] {
    return this.ifaces;
  }

  /** Adds a packet (EPB) on interface `iface`, timestamped in nanoseconds. */
  addPacket(p: PcapngPacket): void {
    if (p.iface < 0 || p.iface >= this.ifaces.length) throw new RangeError(`pcapng: no interface ${p.iface}`);
    const head = new Uint8Array(20);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, p.iface, true);
    dv.setUint32(4, Number(p.tstampNs >> 32n), true);
    dv.setUint32(8, Number(p.tstampNs & 0xffffffffn), true);
    dv.setUint32(12, p.data.length, true);
    dv.setUint32(16, p.origLen, true);
    const data = new Uint8Array(pad4(p.data.length));
    data.set(p.data);
    const opts: [number, Uint8Array][] = [];
    if (p.direction !== 'unknown') opts.push([EPB_FLAGS, u32(p.direction === 'in' ? 1 : 2)]);
    if (p.comment) opts.push([OPT_COMMENT, enc.encode(p.comment)]);
    this.blocks.push(block(EPB, concat([head, data, options(opts)])));
  }

  /** Adds interface statistics (ISB): packets received and dropped at `tstampNs`. */
  addStatistics(iface: number, tstampNs: bigint, o: { received?: bigint; dropped?: bigint }): void {
    const head = new Uint8Array(12);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, iface, true);
    dv.setUint32(4, Number(tstampNs >> 32n), true);
    dv.setUint32(8, Number(tstampNs & 0xffffffffn), true);
    const opts: [number, Uint8Array][] = [];
    if (o.received !== undefined) opts.push([ISB_IFRECV, u64(o.received)]);
    if (o.dropped !== undefined) opts.push([ISB_IFDROP, u64(o.dropped)]);
    this.blocks.push(block(ISB, concat([head, options(opts)])));
  }

  /** The file so far. */
  bytes(): Uint8Array {
    return concat(this.blocks);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface PcapngFile {
  interfaces: (PcapngInterface & { tsresol: number })[];
  packets: PcapngPacket[];
}

/** Reads a little-endian pcapng file (the blocks this module writes, others skipped). */
export function readPcapng(b: Uint8Array): PcapngFile {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dec = new TextDecoder();
  const out: PcapngFile = { interfaces: [], packets: [] };
  let o = 0;
  if (b.length < 28 || dv.getUint32(0, true) !== SHB || dv.getUint32(8, true) !== BYTE_ORDER_MAGIC) throw new Error('pcapng: not a little-endian pcapng file');
  const opts = (start: number, end: number): Map<number, Uint8Array> => {
    const m = new Map<number, Uint8Array>();
    for (let p = start; p + 4 <= end;) {
      const code = dv.getUint16(p, true);
      const len = dv.getUint16(p + 2, true);
      if (code === OPT_END) break;
      m.set(code, b.subarray(p + 4, p + 4 + len));
      p += 4 + pad4(len);
    }
    return m;
  };
  while (o + 12 <= b.length) {
    const type = dv.getUint32(o, true);
    const total = dv.getUint32(o + 4, true);
    if (total < 12 || o + total > b.length || dv.getUint32(o + total - 4, true) !== total) throw new Error(`pcapng: bad block at ${o}`);
    const body = o + 8;
    const end = o + total - 4;
    if (type === IDB) {
      const m = opts(body + 8, end);
      const name = m.get(IF_NAME);
      const desc = m.get(IF_DESCRIPTION);
      out.interfaces.push({
        linkType: dv.getUint16(body, true), snaplen: dv.getUint32(body + 4, true), name: name ? dec.decode(name) : '',
        description: desc ? dec.decode(desc) : undefined, tsresol: m.get(IF_TSRESOL)?.[0] ?? 6,
      });
    } else if (type === EPB) {
      const caplen = dv.getUint32(body + 12, true);
      if (20 + caplen > end - body) throw new Error(`pcapng: packet block at ${o} claims ${caplen} bytes, more than the block holds`);
      const m = opts(body + 20 + pad4(caplen), end);
      const flags = m.get(EPB_FLAGS);
      const dir = flags ? new DataView(flags.buffer, flags.byteOffset).getUint32(0, true) & 3 : 0;
      const comment = m.get(OPT_COMMENT);
      out.packets.push({
        iface: dv.getUint32(body, true),
        tstampNs: (BigInt(dv.getUint32(body + 4, true)) << 32n) | BigInt(dv.getUint32(body + 8, true)),
        data: b.slice(body + 20, body + 20 + caplen), origLen: dv.getUint32(body + 16, true),
        direction: dir === 1 ? 'in' : dir === 2 ? 'out' : 'unknown', comment: comment ? dec.decode(comment) : undefined,
      });
    }
    o += total;
  }
  return out;
}
