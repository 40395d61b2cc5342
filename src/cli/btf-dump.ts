/**
 * bpftool's btf_dumper (tools/bpf/bpftool/btf_dumper.c): a map key or value read through its
 * BTF type, as the value json-writer.ts prints. `plain` is bpftool's is_plain_text (a map
 * dump or lookup without -j), which prints pointers, bitfields and unprintable chars in hex.
 */

import { type Btf, BtfKind, type BtfType } from '../ebpf/btf.js';
import { Raw } from './json-writer.js';

const INT_SIGNED = 1, INT_CHAR = 2, INT_BOOL = 4;
const MODS = new Set([BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG]);

export function btfDump(btf: Btf, id: number, data: Uint8Array, plain: boolean): unknown {
  return dump(btf, id, 0, data, plain);
}

function dump(btf: Btf, id: number, bitOff: number, data: Uint8Array, plain: boolean): unknown {
  const t = btf.type(id);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (t.kind) {
    case BtfKind.INT: return dumpInt(t, bitOff, data, plain);
    case BtfKind.STRUCT: case BtfKind.UNION: {
      const o: Record<string, unknown> = {};
      for (const m of t.members ?? []) {
        const at = data.subarray(m.bitOffset >> 3);
        // (a bitfield member, or a member that is not byte-aligned: the bits as an integer)
        o[m.name] = m.bitSize ? bits(at, m.bitOffset & 7, m.bitSize, plain) : dump(btf, m.type, m.bitOffset & 7, at, plain);
      }
      return o;
    }
    case BtfKind.ARRAY: {
      const a = t.array!;
      if (isStr(btf, a, data)) return new TextDecoder().decode(data.subarray(0, data.indexOf(0)));
      const size = btf.sizeOf(a.type);
      return Array.from({ length: a.nelems }, (_, i) => dump(btf, a.type, 0, data.subarray(i * size), plain));
    }
    case BtfKind.ENUM: case BtfKind.ENUM64: {
      const v = t.sizeOrType === 8 ? dv.getBigInt64(0, true) : BigInt(t.sizeOrType === 1 ? dv.getInt8(0) : t.sizeOrType === 2 ? dv.getInt16(0, true) : dv.getInt32(0, true));
      const e = t.enumValues?.find((x) => BigInt(x.value) === v || BigInt.asIntN(64, BigInt(x.value)) === v);
      return e ? e.name : new Raw(v.toString());
    }
    case BtfKind.PTR: {
      // (%p: glibc prints a null pointer as "(nil)"; -j: %lu)
      const v = dv.getBigUint64(0, true);
      return new Raw(plain ? (v === 0n ? '(nil)' : `0x${v.toString(16)}`) : v.toString());
    }
    case BtfKind.FLOAT: {
      const v = t.sizeOrType === 4 ? dv.getFloat32(0, true) : dv.getFloat64(0, true);
      return new Raw(v.toFixed(6));
    }
    case BtfKind.VAR: return dump(btf, t.sizeOrType, bitOff, data, plain);
    default:
      if (MODS.has(t.kind)) return dump(btf, t.sizeOrType, bitOff, data, plain);
      // (btf_dumper_do_type: a kind it cannot print, FWD or FUNC_PROTO, fails the dump)
      throw new Error(`btf_dumper: type ${id} of kind ${t.kind} cannot be printed`);
  }
}

function dumpInt(t: BtfType, bitOff: number, data: Uint8Array, plain: boolean): unknown {
  const enc = t.intEncoding ?? 0;
  const nbits = enc & 0xff;
  const off = (enc >> 16) & 0xff;
  const kind = enc >>> 24;
  if (bitOff || off || nbits % 8) return bits(data, bitOff + off, nbits, plain);
  if (nbits === 128) return bits(data, 0, 128, plain);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const get = (signed: boolean): bigint => {
    switch (nbits) {
      case 8: return BigInt(signed ? dv.getInt8(0) : dv.getUint8(0));
      case 16: return BigInt(signed ? dv.getInt16(0, true) : dv.getUint16(0, true));
      case 32: return BigInt(signed ? dv.getInt32(0, true) : dv.getUint32(0, true));
      default: return signed ? dv.getBigInt64(0, true) : dv.getBigUint64(0, true);
    }
  };
  if (kind === INT_BOOL) return data[0] !== 0;
  if (kind === INT_CHAR) {
    const c = data[0]!;
    if (c >= 0x20 && c < 0x7f) return new Raw(`"${String.fromCharCode(c)}"`);
    return new Raw(plain ? `0x${c.toString(16)}` : String(c));
  }
  return new Raw(get(kind === INT_SIGNED).toString());
}

/** btf_dumper_int_bits → btf_int128_print: hex, bare in plain text and quoted in JSON. */
function bits(data: Uint8Array, bitOff: number, nbits: number, plain: boolean): Raw {
  let v = 0n;
  const bytes = Math.ceil((bitOff + nbits) / 8);
  for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i] ?? 0);
  v = (v >> BigInt(bitOff)) & ((1n << BigInt(nbits)) - 1n);
  const upper = v >> 64n;
  const lower = v & ((1n << 64n) - 1n);
  const hex = upper === 0n ? `0x${lower.toString(16)}` : `0x${upper.toString(16)}${lower.toString(16).padStart(16, '0')}`;
  return new Raw(plain ? hex : `"${hex}"`);
}

/** is_str_array: a char[] (not through a typedef) holding printable bytes up to a NUL. */
function isStr(btf: Btf, a: { type: number; nelems: number }, data: Uint8Array): boolean {
  if (!a.nelems) return false;
  let e = btf.type(a.type);
  while (e.kind === BtfKind.VOLATILE || e.kind === BtfKind.CONST || e.kind === BtfKind.RESTRICT || e.kind === BtfKind.TYPE_TAG) e = btf.type(e.sizeOrType);
  if (e.kind !== BtfKind.INT || e.sizeOrType !== 1) return false;
  if (((e.intEncoding ?? 0) >>> 24) !== INT_CHAR && e.name !== 'char') return false;
  for (let i = 0; i < a.nelems; i++) {
    const c = data[i]!;
    if (c === 0) return true;
    if (c <= 0x1f || c >= 0x7f) return false;
  }
  return false;
}
