/**
 * BTF and BTF.ext readers (spec/ebpf.md §5.5, §5.6): the type graph of an object, enough
 * to read `.maps` definitions and to apply CO-RE relocations against the uapi contexts.
 * Little-endian only (clang `-target bpf` on x86 and arm64 hosts).
 */
import * as A from '../abi.generated.js';
import { LoadError } from './load-error.js';

export const enum BtfKind {
  UNKN = 0, INT = 1, PTR = 2, ARRAY = 3, STRUCT = 4, UNION = 5, ENUM = 6, FWD = 7, TYPEDEF = 8,
  VOLATILE = 9, CONST = 10, RESTRICT = 11, FUNC = 12, FUNC_PROTO = 13, VAR = 14, DATASEC = 15,
  FLOAT = 16, DECL_TAG = 17, TYPE_TAG = 18, ENUM64 = 19,
}

export interface BtfMember {
  name: string;
  type: number;
  /** Bit offset from the start of the record. */
  bitOffset: number;
  /** Bitfield width, 0 when the member is not a bitfield. */
  bitSize: number;
}

export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** `size` for INT/ENUM/STRUCT/UNION/DATASEC/FLOAT, referenced type id otherwise. */
  sizeOrType: number;
  vlen: number;
  kindFlag: boolean;
  /** STRUCT/UNION members. */
  members?: BtfMember[];
  /** ARRAY element type and count. */
  array?: { type: number; indexType: number; nelems: number };
  /** ENUM/ENUM64 values (ENUM64 as bigint when above 2^53). */
  enumValues?: { name: string; value: number | bigint }[];
  /** DATASEC entries: VAR type id, offset, size (clang leaves offsets 0 in .o files). */
  vars?: { type: number; offset: number; size: number }[];
  /** FUNC_PROTO parameters. */
  params?: { name: string; type: number }[];
  /** INT trailing word: encoding << 24 | bit offset << 16 | bits (encoding bit 0 = signed). */
  intEncoding?: number;
  /** VAR linkage: 0 static, 1 global, 2 extern. */
  linkage?: number;
}

const BTF_MAGIC = 0xeb9f;
const MODIFIERS = new Set([BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG]);

function fail(section: string, msg: string): never {
  throw new LoadError(msg, section);
}

function cstr(bytes: Uint8Array, at: number, end: number): string {
  let e = at;
  while (e < end && bytes[e] !== 0) e++;
  return new TextDecoder().decode(bytes.subarray(at, e));
}

/** The parsed `.BTF` section: type id → record, plus lookups used by the loader. */
export class Btf {
  /** Index = type id; entry 0 is `void`. */
  readonly types: BtfType[];
  private readonly strings: Uint8Array;

  constructor(bytes: Uint8Array) {
    if (bytes.length < 24) fail('.BTF', `section is ${bytes.length} bytes, shorter than the 24-byte header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint16(0, true) !== BTF_MAGIC) fail('.BTF', `bad magic 0x${dv.getUint16(0, true).toString(16)} (want 0xeb9f, little-endian)`);
    if (bytes[2] !== 1) fail('.BTF', `unsupported version ${bytes[2]}`);
    const hdrLen = dv.getUint32(4, true);
    const typeOff = dv.getUint32(8, true);
    const typeLen = dv.getUint32(12, true);
    const strOff = dv.getUint32(16, true);
    const strLen = dv.getUint32(20, true);
    if (hdrLen + typeOff + typeLen > bytes.length || hdrLen + strOff + strLen > bytes.length) {
      fail('.BTF', 'type or string section extends past the end of the section');
    }
    this.strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    this.types = [{ id: 0, kind: BtfKind.UNKN, name: '', sizeOrType: 0, vlen: 0, kindFlag: false }];
    let p = hdrLen + typeOff;
    const end = p + typeLen;
    const u32 = (): number => { const v = dv.getUint32(p, true); p += 4; return v; };
    while (p < end) {
      if (p + 12 > end) fail('.BTF', `truncated type record at byte ${p}`);
      const name = this.str(u32());
      const info = u32();
      const sizeOrType = u32();
      const kind = ((info >>> 24) & 0x1f) as BtfKind;
      const vlen = info & 0xffff;
      const kindFlag = (info >>> 31) === 1;
      const t: BtfType = { id: this.types.length, kind, name, sizeOrType, vlen, kindFlag };
      const need = (n: number): void => { if (p + n > end) fail('.BTF', `truncated trailing data of type ${t.id}`); };
      switch (kind) {
        case BtfKind.INT: need(4); t.intEncoding = u32(); break;
        case BtfKind.PTR: case BtfKind.FWD: case BtfKind.TYPEDEF: case BtfKind.VOLATILE:
        case BtfKind.CONST: case BtfKind.RESTRICT: case BtfKind.FUNC: case BtfKind.FLOAT:
        case BtfKind.TYPE_TAG:
          break;
        case BtfKind.ARRAY: need(12); t.array = { type: u32(), indexType: u32(), nelems: u32() }; break;
        case BtfKind.STRUCT: case BtfKind.UNION:
          need(12 * vlen);
          t.members = [];
          for (let i = 0; i < vlen; i++) {
            const mName = this.str(u32());
            const type = u32();
            const off = u32();
            t.members.push(kindFlag
              ? { name: mName, type, bitOffset: off & 0xffffff, bitSize: off >>> 24 }
              : { name: mName, type, bitOffset: off, bitSize: 0 });
          }
          break;
        case BtfKind.ENUM:
          need(8 * vlen);
          t.enumValues = [];
          for (let i = 0; i < vlen; i++) {
            const n = this.str(u32());
            t.enumValues.push({ name: n, value: kindFlag ? dv.getInt32(p, true) : dv.getUint32(p, true) });
            p += 4;
          }
          break;
        case BtfKind.ENUM64:
          need(12 * vlen);
          t.enumValues = [];
          for (let i = 0; i < vlen; i++) {
            const n = this.str(u32());
            const lo = BigInt(u32());
            const hi = BigInt(u32());
            let v = (hi << 32n) | lo;
            if (kindFlag) v = BigInt.asIntN(64, v);
            t.enumValues.push({ name: n, value: v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v });
          }
          break;
        case BtfKind.FUNC_PROTO:
          need(8 * vlen);
          t.params = [];
          for (let i = 0; i < vlen; i++) t.params.push({ name: this.str(u32()), type: u32() });
          break;
        case BtfKind.VAR: need(4); t.linkage = u32(); break;
        case BtfKind.DATASEC:
          need(12 * vlen);
          t.vars = [];
          for (let i = 0; i < vlen; i++) t.vars.push({ type: u32(), offset: u32(), size: u32() });
          break;
        case BtfKind.DECL_TAG: need(4); p += 4; break;
        default:
          fail('.BTF', `type ${t.id} has unknown kind ${kind}`);
      }
      this.types.push(t);
    }
  }

  /** String at `off` in the BTF string section. */
  str(off: number): string {
    if (off >= this.strings.length) fail('.BTF', `string offset ${off} past the string section (${this.strings.length} bytes)`);
    return cstr(this.strings, off, this.strings.length);
  }

  type(id: number): BtfType {
    const t = this.types[id];
    if (!t) fail('.BTF', `type id ${id} does not exist (last is ${this.types.length - 1})`);
    return t;
  }

  /** Follows typedef/const/volatile/restrict/type_tag to the underlying type. */
  skipMods(id: number): BtfType {
    let t = this.type(id);
    for (let guard = 0; MODIFIERS.has(t.kind); guard++) {
      if (guard > 64) fail('.BTF', `modifier chain from type ${id} does not end`);
      t = this.type(t.sizeOrType);
    }
    return t;
  }

  /** Size in bytes of a type (spec §5.5 "Sizes"). */
  sizeOf(id: number): number {
    const t = this.skipMods(id);
    switch (t.kind) {
      case BtfKind.INT: case BtfKind.ENUM: case BtfKind.ENUM64: case BtfKind.STRUCT:
      case BtfKind.UNION: case BtfKind.FLOAT: case BtfKind.DATASEC:
        return t.sizeOrType;
      case BtfKind.PTR: return 8;
      case BtfKind.ARRAY: return t.array!.nelems * this.sizeOf(t.array!.type);
      case BtfKind.VAR: return this.sizeOf(t.sizeOrType);
      default: fail('.BTF', `type ${id} (kind ${t.kind}) has no size`);
    }
  }

  /** First type of `kind` named `name`, if any. */
  find(name: string, kind: BtfKind): BtfType | undefined {
    return this.types.find((t) => t.kind === kind && t.name === name);
  }
}

/** One CO-RE relocation record of `.BTF.ext` (spec §5.6). */
export interface CoreRelo {
  /** Byte offset of the instruction in its ELF section. */
  insnOff: number;
  /** Local root type id. */
  typeId: number;
  /** Colon-separated access string, e.g. `0:2`. */
  access: string;
  kind: CoreKind;
}

export const enum CoreKind {
  FIELD_BYTE_OFFSET = 0, FIELD_BYTE_SIZE = 1, FIELD_EXISTS = 2, FIELD_SIGNED = 3,
  FIELD_LSHIFT_U64 = 4, FIELD_RSHIFT_U64 = 5, TYPE_ID_LOCAL = 6, TYPE_ID_TARGET = 7,
  TYPE_EXISTS = 8, TYPE_SIZE = 9, ENUMVAL_EXISTS = 10, ENUMVAL_VALUE = 11, TYPE_MATCHES = 12,
}

export const CORE_KIND_NAMES = [
  'field_byte_offset', 'field_byte_size', 'field_exists', 'field_signed', 'field_lshift_u64',
  'field_rshift_u64', 'type_id_local', 'type_id_target', 'type_exists', 'type_size',
  'enumval_exists', 'enumval_value', 'type_matches',
];

/** `.BTF.ext`: per ELF section, the function starts and the CO-RE relocations. */
export interface BtfExt {
  funcInfo: Map<string, { insnOff: number; typeId: number }[]>;
  coreRelos: Map<string, CoreRelo[]>;
}

/** Parses `.BTF.ext`; strings (section names, access strings) come from `btf`. */
export function parseBtfExt(bytes: Uint8Array, btf: Btf): BtfExt {
  const S = '.BTF.ext';
  if (bytes.length < 24) fail(S, `section is ${bytes.length} bytes, shorter than the 24-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(0, true) !== BTF_MAGIC) fail(S, 'bad magic (want 0xeb9f, little-endian)');
  const hdrLen = dv.getUint32(4, true);
  const out: BtfExt = { funcInfo: new Map(), coreRelos: new Map() };
  const blocks = (off: number, len: number, minRec: number, each: (sec: string, at: number) => void): void => {
    if (len === 0) return;
    let p = hdrLen + off;
    const end = p + len;
    if (end > bytes.length || p + 4 > end) fail(S, 'subsection extends past the end of the section');
    const recSize = dv.getUint32(p, true);
    p += 4;
    if (recSize < minRec) fail(S, `record size ${recSize} below the minimum ${minRec}`);
    while (p < end) {
      if (p + 8 > end) fail(S, `truncated block header at byte ${p}`);
      const sec = btf.str(dv.getUint32(p, true));
      const n = dv.getUint32(p + 4, true);
      p += 8;
      if (p + n * recSize > end) fail(S, `block for section '${sec}' extends past its subsection`);
      for (let i = 0; i < n; i++, p += recSize) each(sec, p);
    }
  };
  blocks(dv.getUint32(8, true), dv.getUint32(12, true), 8, (sec, at) => {
    const list = out.funcInfo.get(sec) ?? [];
    list.push({ insnOff: dv.getUint32(at, true), typeId: dv.getUint32(at + 4, true) });
    out.funcInfo.set(sec, list);
  });
  if (hdrLen >= 32) {
    blocks(dv.getUint32(24, true), dv.getUint32(28, true), 16, (sec, at) => {
      const list = out.coreRelos.get(sec) ?? [];
      list.push({
        insnOff: dv.getUint32(at, true),
        typeId: dv.getUint32(at + 4, true),
        access: btf.str(dv.getUint32(at + 8, true)),
        kind: dv.getUint32(at + 12, true) as CoreKind,
      });
      out.coreRelos.set(sec, list);
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// CO-RE against the emulator's "kernel": the uapi contexts and the wire headers.

interface CtxField { offset: number; size: number; count?: number }

/** Field layout of the uapi contexts (spec §2.1, §2.3); arrays give element size + count. */
const UAPI_CONTEXTS: Record<string, { size: number; fields: Record<string, CtxField> }> = {
  __sk_buff: {
    size: 192,
    fields: {
      len: { offset: 0, size: 4 }, pkt_type: { offset: 4, size: 4 }, mark: { offset: 8, size: 4 },
      queue_mapping: { offset: 12, size: 4 }, protocol: { offset: 16, size: 4 },
      vlan_present: { offset: 20, size: 4 }, vlan_tci: { offset: 24, size: 4 },
      vlan_proto: { offset: 28, size: 4 }, priority: { offset: 32, size: 4 },
      ingress_ifindex: { offset: 36, size: 4 }, ifindex: { offset: 40, size: 4 },
      tc_index: { offset: 44, size: 4 }, cb: { offset: 48, size: 4, count: 5 },
      hash: { offset: 68, size: 4 }, tc_classid: { offset: 72, size: 4 }, data: { offset: 76, size: 4 },
      data_end: { offset: 80, size: 4 }, napi_id: { offset: 84, size: 4 }, family: { offset: 88, size: 4 },
      remote_ip4: { offset: 92, size: 4 }, local_ip4: { offset: 96, size: 4 },
      remote_ip6: { offset: 100, size: 4, count: 4 }, local_ip6: { offset: 116, size: 4, count: 4 },
      remote_port: { offset: 132, size: 4 }, local_port: { offset: 136, size: 4 },
      data_meta: { offset: 140, size: 4 }, flow_keys: { offset: 144, size: 8 }, tstamp: { offset: 152, size: 8 },
      wire_len: { offset: 160, size: 4 }, gso_segs: { offset: 164, size: 4 }, sk: { offset: 168, size: 8 },
      gso_size: { offset: 176, size: 4 }, tstamp_type: { offset: 180, size: 1 }, hwtstamp: { offset: 184, size: 8 },
    },
  },
  xdp_md: {
    size: 24,
    fields: {
      data: { offset: 0, size: 4 }, data_end: { offset: 4, size: 4 }, data_meta: { offset: 8, size: 4 },
      ingress_ifindex: { offset: 12, size: 4 }, rx_queue_index: { offset: 16, size: 4 },
      egress_ifindex: { offset: 20, size: 4 },
    },
  },
  // The kernel's own structs as bpf_cast_to_kern_ctx shows them (abi KV_*): the fields
  // nkemu models, at its offsets; a field it does not model fails the relocation.
  sk_buff: {
    size: A.KV_DEV,
    fields: {
      dev: { offset: A.KV_SKB_DEV, size: 8 }, mark: { offset: A.KV_SKB_MARK, size: 4 },
      priority: { offset: A.KV_SKB_PRIORITY, size: 4 }, len: { offset: A.KV_SKB_LEN, size: 4 },
    },
  },
  net_device: {
    size: A.VM_KVIEW_SIZE - A.KV_DEV,
    fields: {
      needed_headroom: { offset: A.KV_DEV_HEADROOM - A.KV_DEV, size: 2 }, needed_tailroom: { offset: A.KV_DEV_TAILROOM - A.KV_DEV, size: 2 },
      ifindex: { offset: A.KV_DEV_IFINDEX - A.KV_DEV, size: 4 }, mtu: { offset: A.KV_DEV_MTU - A.KV_DEV, size: 4 },
    },
  },
};

/** Structs whose layout is fixed by a wire format or uapi: the local layout is the target. */
const STABLE_STRUCTS = new Set([
  'ethhdr', 'vlan_hdr', 'iphdr', 'ipv6hdr', 'in_addr', 'in6_addr', 'tcphdr', 'udphdr', 'icmphdr',
  'icmp6hdr', 'arphdr', 'frag_hdr', 'ipv6_opt_hdr', 'ipv6_rt_hdr', 'ip_auth_hdr', 'ip_esp_hdr',
  'gre_base_hdr', 'bpf_sock_tuple', 'bpf_devmap_val', 'bpf_cpumap_val', 'bpf_fib_lookup',
  'bpf_tunnel_key', 'bpf_xfrm_state', 'bpf_flow_keys',
]);

/**
 * Outcome of one CO-RE relocation: the value clang encoded and the value to patch in, or
 * `poison` when nkemu's "kernel" has no matching type or field (libbpf's "no matching
 * targets found" for a relocation that needs a value): the loader replaces the
 * instruction with libbpf's invalid call, which the verifier refuses only if it is reached.
 * `spec` is libbpf's description of the local side (bpf_core_format_spec).
 */
export interface CoreValue { local: number; target: number; poison?: boolean; spec: string }

/** libbpf's core_relo_kind_str(). */
const LIBBPF_KIND_NAMES = [
  'byte_off', 'byte_sz', 'field_exists', 'signed', 'lshift_u64', 'rshift_u64', 'local_type_id',
  'target_type_id', 'type_exists', 'type_size', 'enumval_exists', 'enumval_value', 'type_matches',
];
const BTF_KIND_STR: Record<number, string> = {
  [BtfKind.INT]: 'int', [BtfKind.PTR]: 'ptr', [BtfKind.ARRAY]: 'array', [BtfKind.STRUCT]: 'struct',
  [BtfKind.UNION]: 'union', [BtfKind.ENUM]: 'enum', [BtfKind.FWD]: 'fwd', [BtfKind.TYPEDEF]: 'typedef',
  [BtfKind.VOLATILE]: 'volatile', [BtfKind.CONST]: 'const', [BtfKind.RESTRICT]: 'restrict',
  [BtfKind.FLOAT]: 'float', [BtfKind.TYPE_TAG]: 'type_tag', [BtfKind.ENUM64]: 'enum64',
};

/** Kinds that only ask whether something exists: a miss is 0, not a poisoned instruction. */
const EXISTS_KINDS = new Set([CoreKind.FIELD_EXISTS, CoreKind.TYPE_EXISTS, CoreKind.TYPE_MATCHES, CoreKind.ENUMVAL_EXISTS]);

/**
 * libbpf's bpf_core_format_spec() of the local side: `<kind> [id] struct name`, then for
 * fields `.member[index]… (raw:access @ offset N)`, for enum values `::NAME = V`.
 */
function formatSpec(btf: Btf, r: CoreRelo): string {
  const t0 = btf.types[r.typeId];
  let s = `<${LIBBPF_KIND_NAMES[r.kind] ?? `kind ${r.kind}`}> [${r.typeId}] ${BTF_KIND_STR[t0?.kind ?? 0] ?? 'unknown'} ${t0?.name || '<anon>'}`;
  if (r.kind === CoreKind.ENUMVAL_EXISTS || r.kind === CoreKind.ENUMVAL_VALUE) {
    const v = btf.skipMods(r.typeId).enumValues?.[Number(r.access)];
    return v ? `${s}::${v.name} = ${v.value}` : s;
  }
  if (r.kind >= CoreKind.TYPE_ID_LOCAL) return s;
  const idx = r.access.split(':').map(Number);
  let t = btf.skipMods(r.typeId);
  let bit = idx[0]! * btf.sizeOf(t.id) * 8;
  if (idx[0]! > 0) s += `[${idx[0]}]`;
  for (let k = 1; k < idx.length; k++) {
    const i = idx[k]!;
    if ((t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) && t.members?.[i]) {
      const m = t.members[i]!;
      if (m.name) s += `.${m.name}`;
      bit += m.bitOffset;
      t = btf.skipMods(m.type);
    } else if (t.kind === BtfKind.ARRAY) {
      s += `[${i}]`;
      bit += i * btf.sizeOf(t.array!.type) * 8;
      t = btf.skipMods(t.array!.type);
    } else break;
  }
  return `${s} (${idx.join(':')} @ offset ${bit % 8 ? `${Math.floor(bit / 8)}.${bit % 8}` : bit / 8})`;
}

/** Drops a libbpf "flavor" suffix (`__sk_buff___old` → `__sk_buff`). */
const essential = (name: string): string => {
  const i = name.indexOf('___');
  return i > 0 ? name.slice(0, i) : name;
};

/**
 * Computes a CO-RE relocation against the emulator's target types. Throws a plain Error
 * with the reason when the relocation kind or the root type is not supported; the loader
 * adds the section and instruction index.
 */
export function resolveCore(btf: Btf, r: CoreRelo): CoreValue {
  const spec = formatSpec(btf, r);
  const v = resolve(btf, r);
  if (v !== MISS) return { ...v, spec };
  // (no matching target: an existence question is answered 0, anything else poisoned)
  return EXISTS_KINDS.has(r.kind) ? { local: 1, target: 0, spec } : { local: 0, target: 0, poison: true, spec };
}

/** No type or field of nkemu's "kernel" matches the relocation's local side. */
const MISS = Symbol('no matching target');

function resolve(btf: Btf, r: CoreRelo): { local: number; target: number } | typeof MISS {
  const root = btf.skipMods(r.typeId);
  const rootName = essential(root.name);
  const kindName = CORE_KIND_NAMES[r.kind] ?? `kind ${r.kind}`;
  if (r.kind === CoreKind.ENUMVAL_EXISTS || r.kind === CoreKind.ENUMVAL_VALUE) {
    if (root.kind !== BtfKind.ENUM && root.kind !== BtfKind.ENUM64) throw new Error(`CO-RE ${kindName} on non-enum type '${root.name}'`);
    const v = root.enumValues?.[Number(r.access)];
    if (!v) throw new Error(`CO-RE ${kindName}: enum '${root.name}' has no value #${r.access}`);
    // (the emulator's kernel has linux/bpf.h's enums, with the program's own values)
    if (!/^(bpf_|xdp_|sk_action$)/.test(rootName)) return MISS;
    const value = r.kind === CoreKind.ENUMVAL_EXISTS ? 1 : Number(v.value);
    return { local: value, target: value };
  }
  if (r.kind === CoreKind.TYPE_ID_LOCAL) return { local: r.typeId, target: r.typeId };
  const ctx = UAPI_CONTEXTS[rootName];
  // Only the uapi contexts (__sk_buff, xdp_md), the kernel's sk_buff and net_device
  // (bpf_cast_to_kern_ctx) and wire / uapi headers are modelled: any other type is one the
  // emulator's kernel lacks.
  if (!ctx && !STABLE_STRUCTS.has(rootName)) return MISS;
  if (r.kind === CoreKind.TYPE_ID_TARGET) throw new Error(`CO-RE type_id_target on '${root.name}': the emulator has no kernel BTF ids`);
  if (r.kind === CoreKind.TYPE_EXISTS || r.kind === CoreKind.TYPE_MATCHES) return { local: 1, target: 1 };
  if (r.kind === CoreKind.TYPE_SIZE) {
    const local = btf.sizeOf(root.id);
    return { local, target: ctx ? ctx.size : local };
  }
  if (r.kind > CoreKind.FIELD_RSHIFT_U64) throw new Error(`CO-RE relocation kind ${r.kind} is not supported`);

  // Walk the access string through the local type: first index is an array index on the
  // base pointer, then member / array indices.
  const idx = r.access.split(':').map((s) => Number(s));
  if (idx.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`CO-RE access string '${r.access}' is malformed`);
  let t = root;
  let bitOff = idx[0]! * btf.sizeOf(root.id) * 8;
  let bitSize = 0;
  let byteSize = btf.sizeOf(root.id);
  let topField: string | undefined;
  let elemIndex = 0;
  for (let k = 1; k < idx.length; k++) {
    const i = idx[k]!;
    if (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) {
      const m = t.members![i];
      if (!m) throw new Error(`CO-RE access '${r.access}': '${root.name}' has no member #${i}`);
      if (k === 1) topField = m.name;
      bitOff += m.bitOffset;
      bitSize = m.bitSize;
      byteSize = btf.sizeOf(m.type);
      t = btf.skipMods(m.type);
    } else if (t.kind === BtfKind.ARRAY) {
      const elem = btf.sizeOf(t.array!.type);
      if (k === 2) elemIndex = i;
      bitOff += i * elem * 8;
      bitSize = 0;
      byteSize = elem;
      t = btf.skipMods(t.array!.type);
    } else {
      throw new Error(`CO-RE access '${r.access}' indexes into non-aggregate type '${t.name}'`);
    }
  }
  const local = fieldValue(r.kind, bitOff, bitSize, byteSize, { kind: t.kind, intSigned: t.kind === BtfKind.INT && ((t.intEncoding! >>> 24) & 1) === 1 });
  if (!ctx) return { local, target: local };

  if (idx.length === 1) throw new Error(`CO-RE ${kindName} on '${root.name}' without a field`);
  const f = ctx.fields[topField!];
  if (!f) return MISS;
  if (r.kind === CoreKind.FIELD_EXISTS) return { local: 1, target: 1 };
  if (idx.length > (f.count ? 3 : 2)) throw new Error(`CO-RE access '${r.access}' goes below field '${rootName}.${topField}'`);
  if (f.count && idx.length === 3 && elemIndex >= f.count) throw new Error(`CO-RE access '${r.access}': index ${elemIndex} past '${rootName}.${topField}[${f.count}]'`);
  const whole = f.count !== undefined && idx.length === 2;
  const size = whole ? f.size * f.count! : f.size;
  const off = idx[0]! * ctx.size + f.offset + (whole ? 0 : elemIndex * f.size);
  return { local, target: fieldValue(r.kind, off * 8, 0, size, { kind: BtfKind.INT, intSigned: false }) };
}

/** FIELD_* values from a field's bit position and size (libbpf bpf_core_calc_field_relo, little-endian). */
function fieldValue(kind: CoreKind, bitOff: number, bitSize: number, byteSize: number, t: Pick<BtfType, 'kind'> & { intSigned?: boolean }): number {
  const byteOff = bitSize ? Math.floor(bitOff / 8 / byteSize) * byteSize : bitOff / 8;
  const bits = bitSize || byteSize * 8;
  switch (kind) {
    case CoreKind.FIELD_BYTE_OFFSET: return byteOff;
    case CoreKind.FIELD_BYTE_SIZE: return byteSize;
    case CoreKind.FIELD_EXISTS: return 1;
    case CoreKind.FIELD_SIGNED: return t.kind === BtfKind.ENUM || t.intSigned ? 1 : 0;
    case CoreKind.FIELD_LSHIFT_U64: return 64 - (bitOff + bits - byteOff * 8);
    case CoreKind.FIELD_RSHIFT_U64: return 64 - bits;
    default: throw new Error(`CO-RE kind ${kind} is not a field relocation`);
  }
}
