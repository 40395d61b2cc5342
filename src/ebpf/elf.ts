/**
 * BPF object loader (spec/ebpf.md §5): reads a clang-compiled ELF64 little-endian
 * relocatable object and returns its programs (instructions linked with their `.text`
 * subprograms, map references recorded) and its maps (`.maps` BTF definitions, legacy
 * `maps`, global data sections). What it cannot load it refuses with a LoadError naming
 * the section and, where there is one, the instruction index.
 *
 * Older object forms load as the kernel-side loaders take them (issue 25,
 * test/fixtures/loader): `.relaX` (SHT_RELA) sections are skipped, as libbpf and
 * iproute2's legacy loader both skip them; a program section with no STT_FUNC symbol is one
 * program, the whole section (iproute2's legacy loader, libbpf before 0.2); static
 * (STB_LOCAL) programs load (iproute2's legacy loader; libbpf 1.x refuses them).
 */
import { LoadError } from './load-error.js';
import { Btf, BtfKind, parseBtfExt, resolveCore, type BtfExt } from './btf.js';
import { Cls, LDDW, Pseudo, cls, decode, encodeInto, type Insn } from './insn.js';
import { KFUNCS } from './helpers.js';

export { LoadError };

export type ProgType = 'sched_cls' | 'sched_act' | 'xdp' | 'socket_filter';
export type AttachType = 'netkit_primary' | 'netkit_peer' | 'tcx_ingress' | 'tcx_egress' | 'xdp' | 'xdp_devmap' | 'xdp_cpumap' | 'none';

/** A map reference patched into an `lddw`: slot `pc` has src MAP_FD or MAP_VALUE, imm = map index, next imm = offset. */
export interface MapReloc {
  pc: number;
  kind: 'map' | 'map_value';
  /** Index into `BpfObject.maps`. */
  map: number;
  /** Byte offset inside the value (always 0 for `map`). */
  offset: number;
}

export interface BpfProgram {
  /** Name of the function symbol. */
  name: string;
  /** ELF section as written (a leading `?` kept). */
  section: string;
  type: ProgType;
  attachType: AttachType;
  /** False for `?`-prefixed sections (libbpf: not loaded by default). */
  autoload: boolean;
  /** The entry function's slots followed by every `.text` function it reaches; calls fixed. */
  insns: Uint8Array;
  relocations: MapReloc[];
  /** Start slot of each function inside `insns` (the entry first, at 0). */
  functions: { name: string; start: number }[];
  /**
   * Instructions poisoned by CO-RE relocations nkemu's kernel has no target for, by slot
   * in `insns`: libbpf's description of each (the verifier's refusal, if one is reached).
   */
  corePoison?: Map<number, string>;
}

/** libbpf's poisoned instruction: `call 0xbad2310` ("bad relo"), refused if reached. */
export const CORE_POISON_IMM = 0xbad2310;

export interface BpfMapDef {
  name: string;
  /** `enum bpf_map_type` value (spec §4.1). */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** `map_extra` (bloom filters: the number of hash functions). */
  mapExtra?: number;
  /** Template of the inner maps of ARRAY_OF_MAPS / HASH_OF_MAPS. */
  innerMap?: BpfMapDef;
  /**
   * `.maps`: 0 none, 1 LIBBPF_PIN_BY_NAME. Legacy `maps` (iproute2's struct bpf_elf_map):
   * 0 PIN_NONE, 1 PIN_OBJECT_NS, 2 PIN_GLOBAL_NS, others ids of /etc/iproute2/bpf_pinning.
   */
  pinning?: number;
  /** iproute2's struct bpf_elf_map `id`: names the map as an inner-map template / inner map. */
  legacyId?: number;
  /** iproute2's `inner_id`: a map of maps takes the map whose `id` this is as its template. */
  innerId?: number;
  /**
   * iproute2's `inner_idx`, for a map with an `id` and no `inner_id`: the key it gets in
   * every map of maps whose `inner_id` is its `id` (0xffffffff: none).
   */
  innerIdx?: number;
  /** Initial value of a global-data map (`.bss`: zeros). */
  initial?: Uint8Array;
  /** Static slots of PROG_ARRAY / map-in-map (`values = { [i] = &prog }`): program or map name. */
  initValues?: { slot: number; name: string }[];
  kind: 'btf' | 'legacy' | 'global';
  /** BTF type ids of `__type(key, …)` / `__type(value, …)` (what bpftool formats a dump by). */
  btfKey?: number;
  btfValue?: number;
}

export interface BpfObject {
  license: string;
  programs: BpfProgram[];
  maps: BpfMapDef[];
  /** The object's `.BTF`, which libbpf loads as one BTF object (programs and maps name it). */
  btf?: Btf;
}

// --- section names → program type (libbpf section_defs, spec §5.2) ----------------------

interface SecDef { pattern: string; type: ProgType; attach: AttachType }
const SEC_DEFS: SecDef[] = [
  { pattern: 'netkit/primary', type: 'sched_cls', attach: 'netkit_primary' },
  { pattern: 'netkit/peer', type: 'sched_cls', attach: 'netkit_peer' },
  { pattern: 'tc/ingress', type: 'sched_cls', attach: 'tcx_ingress' },
  { pattern: 'tc/egress', type: 'sched_cls', attach: 'tcx_egress' },
  { pattern: 'tcx/ingress', type: 'sched_cls', attach: 'tcx_ingress' },
  { pattern: 'tcx/egress', type: 'sched_cls', attach: 'tcx_egress' },
  { pattern: 'tc+', type: 'sched_cls', attach: 'none' },
  { pattern: 'classifier+', type: 'sched_cls', attach: 'none' },
  { pattern: 'action+', type: 'sched_act', attach: 'none' },
  { pattern: 'xdp/devmap', type: 'xdp', attach: 'xdp_devmap' },
  { pattern: 'xdp.frags/devmap', type: 'xdp', attach: 'xdp_devmap' },
  { pattern: 'xdp/cpumap', type: 'xdp', attach: 'xdp_cpumap' },
  { pattern: 'xdp.frags/cpumap', type: 'xdp', attach: 'xdp_cpumap' },
  { pattern: 'xdp.frags', type: 'xdp', attach: 'xdp' },
  { pattern: 'xdp+', type: 'xdp', attach: 'xdp' },
  { pattern: 'socket+', type: 'socket_filter', attach: 'none' },
];

/** Program type and expected attach type of a section name, or undefined when unknown. */
export function matchSection(name: string): { type: ProgType; attachType: AttachType } | undefined {
  const n = name.startsWith('?') ? name.slice(1) : name;
  for (const d of SEC_DEFS) {
    const p = d.pattern;
    const hit = p.endsWith('/') ? n.startsWith(p)
      : p.endsWith('+') ? n === p.slice(0, -1) || n.startsWith(p.slice(0, -1) + '/')
      : n === p;
    if (hit) return { type: d.type, attachType: d.attach };
  }
  return undefined;
}

// --- ELF structures ---------------------------------------------------------------------

const EM_NONE = 0;
const EM_BPF = 247;
const ET_REL = 1;
const SHT_PROGBITS = 1, SHT_SYMTAB = 2, SHT_NOBITS = 8, SHT_REL = 9;
const SHF_EXECINSTR = 0x4;
const STT_OBJECT = 1, STT_FUNC = 2, STT_SECTION = 3;
const STB_LOCAL = 0, STB_GLOBAL = 1;
const SHN_UNDEF = 0, SHN_LORESERVE = 0xff00;
const R_BPF_64_64 = 1, R_BPF_64_32 = 10;
const R_NAMES: Record<number, string> = {
  0: 'R_BPF_NONE', 1: 'R_BPF_64_64', 2: 'R_BPF_64_ABS64', 3: 'R_BPF_64_ABS32', 4: 'R_BPF_64_NODYLD32', 10: 'R_BPF_64_32',
};
const CALL = 0x85;
const PSEUDO_CALL = 1;
const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_F_MMAPABLE = 1 << 10;
/** Largest `.data`/`.rodata`/`.bss` accepted (the value of a one-entry array). */
const MAX_GLOBAL_DATA = 1 << 24;

/** Map types the emulator implements (spec §4.1). */
const MAP_TYPES: Record<number, string> = {
  1: 'hash', 2: 'array', 3: 'prog_array', 4: 'perf_event_array', 5: 'percpu_hash', 6: 'percpu_array',
  9: 'lru_hash', 10: 'lru_percpu_hash', 11: 'lpm_trie', 12: 'array_of_maps', 13: 'hash_of_maps',
  14: 'devmap', 16: 'cpumap', 17: 'xskmap', 22: 'queue', 23: 'stack', 25: 'devmap_hash', 27: 'ringbuf',
  30: 'bloom_filter', 8: 'cgroup_array', 15: 'sockmap', 18: 'sockhash',
};
const PROG_ARRAY = 3, ARRAY_OF_MAPS = 12, HASH_OF_MAPS = 13;

interface Section {
  index: number;
  name: string;
  type: number;
  flags: number;
  size: number;
  link: number;
  info: number;
  /** File bytes (empty for NOBITS). */
  data: Uint8Array;
}

interface Sym {
  name: string;
  type: number;
  bind: number;
  shndx: number;
  value: number;
  size: number;
}

interface Rel { offset: number; type: number; sym: Sym }

/** A function inside a code section, in slots. */
interface Func { name: string; sec: Section; start: number; end: number; global: boolean }

const isGlobalData = (n: string): boolean =>
  /^\.(data|rodata|bss)(\..*)?$/.test(n) && !n.startsWith('.data.rel');

class ElfFile {
  readonly sections: Section[] = [];
  readonly symbols: Sym[] = [];
  private readonly dv: DataView;

  constructor(bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const b = bytes;
    if (b.length < 64) throw new LoadError(`not an ELF object: ${b.length} bytes, shorter than the 64-byte ELF64 header`);
    if (b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) throw new LoadError('not an ELF object: bad magic');
    if (b[4] !== 2) throw new LoadError(`ELF class ${b[4]} is not supported (want ELFCLASS64)`);
    if (b[5] !== 1) throw new LoadError(`ELF data encoding ${b[5]} is not supported (want little-endian)`);
    const eType = this.u16(16);
    const machine = this.u16(18);
    if (machine !== EM_BPF && machine !== EM_NONE) throw new LoadError(`ELF machine ${machine} is not BPF (want EM_BPF = 247)`);
    if (eType !== ET_REL) throw new LoadError(`ELF type ${eType} is not a relocatable object (want ET_REL)`);
    const shoff = this.u64(40);
    const shentsize = this.u16(58);
    const shnum = this.u16(60);
    const shstrndx = this.u16(62);
    if (shentsize !== 64) throw new LoadError(`section header size ${shentsize} (want 64)`);
    if (shnum === 0 || shoff + shnum * 64 > b.length) throw new LoadError(`section header table (${shnum} entries at ${shoff}) is truncated or missing`);
    const raw: (Omit<Section, 'name'> & { nameOff: number })[] = [];
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * 64;
      const type = this.u32(at + 4);
      const offset = this.u64(at + 24);
      const size = this.u64(at + 32);
      if (type !== SHT_NOBITS && offset + size > b.length) throw new LoadError(`section ${i} (${offset}+${size}) extends past the end of the file (${b.length} bytes)`);
      raw.push({
        index: i, nameOff: this.u32(at), type, flags: this.u64(at + 8), size, link: this.u32(at + 40), info: this.u32(at + 44),
        data: type === SHT_NOBITS ? new Uint8Array(0) : b.subarray(offset, offset + size),
      });
    }
    const shstr = raw[shstrndx];
    if (!shstr) throw new LoadError(`section name table index ${shstrndx} is out of range`);
    for (const s of raw) this.sections.push({ ...s, name: cstr(shstr.data, s.nameOff) });

    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (symtab) {
      const strtab = this.sections[symtab.link];
      if (!strtab) throw new LoadError('string table of the symbol table is missing', '.symtab');
      const sd = new DataView(symtab.data.buffer, symtab.data.byteOffset, symtab.data.byteLength);
      for (let at = 0; at + 24 <= symtab.data.length; at += 24) {
        const info = symtab.data[at + 4]!;
        this.symbols.push({
          name: cstr(strtab.data, sd.getUint32(at, true)),
          type: info & 0xf,
          bind: info >>> 4,
          shndx: sd.getUint16(at + 6, true),
          value: Number(sd.getBigUint64(at + 8, true)),
          size: Number(sd.getBigUint64(at + 16, true)),
        });
      }
    }
  }

  section(name: string): Section | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** Relocations of a SHT_REL section. */
  rels(rel: Section): Rel[] {
    const d = new DataView(rel.data.buffer, rel.data.byteOffset, rel.data.byteLength);
    const out: Rel[] = [];
    for (let at = 0; at + 16 <= rel.data.length; at += 16) {
      const info = d.getBigUint64(at + 8, true);
      const symIdx = Number(info >> 32n);
      const sym = this.symbols[symIdx];
      if (!sym) throw new LoadError(`relocation ${at / 16} names symbol ${symIdx}, past the symbol table`, rel.name);
      out.push({ offset: Number(d.getBigUint64(at, true)), type: Number(info & 0xffffffffn), sym });
    }
    return out;
  }

  private u16(at: number): number { return this.dv.getUint16(at, true); }
  private u32(at: number): number { return this.dv.getUint32(at, true); }
  private u64(at: number): number {
    const v = this.dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LoadError(`ELF field at byte ${at} is out of range`);
    return Number(v);
  }
}

function cstr(bytes: Uint8Array, at: number): string {
  let e = at;
  while (e < bytes.length && bytes[e] !== 0) e++;
  return new TextDecoder().decode(bytes.subarray(at, e));
}

// --- loader -----------------------------------------------------------------------------

/** Parses and links a BPF ELF object (spec §5.7 steps 1–5). */
/**
 * Parses a BPF ELF object. `type` sets every program's type as libbpf's
 * bpf_program__set_type does for bpftool's `type TYPE` (a section-name prefix: `xdp`,
 * `classifier`, `tc`, …), for sections whose names it cannot classify too.
 */
export function loadObject(bytes: Uint8Array, o: { type?: string } = {}): BpfObject {
  const forced = o.type === undefined ? undefined : matchSection(o.type) ?? matchSection(`${o.type}/`);
  // (bpftool retries an unknown TYPE with a '/' appended, and libbpf names that)
  if (o.type !== undefined && !forced) throw new LoadError(`failed to guess program type from ELF section '${o.type}/'`);
  const elf = new ElfFile(bytes);
  const licenseSec = elf.section('license');
  const license = licenseSec ? cstr(licenseSec.data, 0) : '';

  const btfSec = elf.section('.BTF');
  const btf = btfSec ? new Btf(btfSec.data) : undefined;
  const extSec = elf.section('.BTF.ext');
  const ext = btf && extSec ? parseBtfExt(extSec.data, btf) : undefined;

  // SHT_RELA sections (older toolchains' `.relaX`) are skipped, as both kernel-side loaders
  // skip them: libbpf relocates from SHT_REL sections only (bpf_object__elf_collect logs
  // "elf: skipping section(N) .relaX" and goes on), and iproute2's legacy loader
  // (bpf_fetch_prog_relo) relocates from SHT_REL only, then loads the section as it is.
  // Neither reads r_addend: the code stays unrelocated (an lddw of a map stays `r1 = 0`,
  // which the verifier refuses as the kernel's does, `R1 type=scalar expected=map_ptr`).
  const codeSecs = elf.sections.filter((s) => s.type === SHT_PROGBITS && s.flags & SHF_EXECINSTR);
  // Each code section gets a private copy with its CO-RE relocations applied.
  const code = new Map<Section, Uint8Array>();
  const poisoned = new Map<Section, Map<number, string>>();
  for (const s of codeSecs) {
    if (s.size % 8 !== 0) throw new LoadError(`size ${s.size} is not a multiple of 8`, s.name);
    const c = s.data.slice();
    if (ext && btf) poisoned.set(s, applyCore(c, s.name, ext, btf));
    code.set(s, c);
  }
  const relsOf = new Map<Section, Map<number, Rel>>();
  for (const r of elf.sections) {
    if (r.type !== SHT_REL) continue;
    const target = elf.sections[r.info];
    if (!target || !code.has(target)) continue;
    const m = new Map<number, Rel>();
    for (const rel of elf.rels(r)) {
      if (rel.offset % 8 !== 0 || rel.offset >= target.size) {
        throw new LoadError(`relocation offset ${rel.offset} is not an instruction boundary`, target.name);
      }
      m.set(rel.offset / 8, rel);
    }
    relsOf.set(target, m);
  }

  // Functions of every code section, sorted by start.
  const funcs = new Map<Section, Func[]>();
  for (const s of codeSecs) {
    const list = elf.symbols
      .filter((y) => y.type === STT_FUNC && y.shndx === s.index)
      .sort((a, b) => a.value - b.value);
    if (list.length === 0 && s.name !== '.text' && s.size > 0) {
      // The old layout (objects from before LLVM 7): no STT_FUNC symbol, the program is the
      // whole section, as iproute2's legacy loader takes it (by section) and libbpf before
      // 0.2 did (one program per section). libbpf named it by the section's first global
      // symbol, of any type (bpf_object__init_prog_names); with none, it is named by its
      // section, the name iproute2 loads it by. libbpf 1.x finds no program here.
      const named = elf.symbols.find((y) => y.shndx === s.index && y.bind === STB_GLOBAL && y.name !== '');
      funcs.set(s, [{ name: named?.name ?? s.name, sec: s, start: 0, end: s.size / 8, global: true }]);
      continue;
    }
    funcs.set(s, list.map((y, i) => {
      const start = y.value / 8;
      const next = list[i + 1];
      const end = y.size ? start + y.size / 8 : next ? next.value / 8 : s.size / 8;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start >= end || end * 8 > s.size) {
        throw new LoadError(`function '${y.name}' (bytes ${y.value}+${y.size}) is not a whole run of instructions inside the section`, s.name);
      }
      return { name: y.name, sec: s, start, end, global: y.bind !== STB_LOCAL };
    }));
  }

  const { maps, mapAt, dataMapOf } = collectMaps(elf, btf);

  const programs: BpfProgram[] = [];
  for (const s of codeSecs) {
    if (s.name === '.text') continue;
    const def = forced ?? matchSection(s.name);
    // (libbpf's words; bpftool's `type TYPE` and loadObject's `type` set it)
    if (!def) throw new LoadError(`failed to guess program type from ELF section '${s.name}'`);
    const entries = funcs.get(s)!;
    if (entries.length === 0) throw new LoadError('code section has no function symbol', s.name);
    for (const f of entries) {
      // A static (STB_LOCAL) program loads: iproute2's legacy loader loads by section, and
      // older libbpf loaded them. libbpf 1.x refuses the object at open, ENOTSUP,
      // "sec 'S': program 'P' is static and not supported" (bpf_object__add_programs).
      const linked = link(f, { elf, code, relsOf, funcs, mapAt, dataMapOf, poisoned });
      programs.push({
        name: f.name, section: s.name, type: def.type, attachType: def.attachType,
        autoload: !s.name.startsWith('?'), ...linked,
      });
    }
  }

  initMapValues(elf, maps, programs);
  return { license, programs, maps, ...(btf ? { btf } : {}) };
}

// --- CO-RE --------------------------------------------------------------------------------

/**
 * Applies a code section's CO-RE relocations in place. A relocation nkemu's kernel has no
 * target for poisons its instruction as libbpf does (both slots of an lddw); returns the
 * poisoned slots with libbpf's description of each.
 */
function applyCore(c: Uint8Array, secName: string, ext: BtfExt, btf: Btf): Map<number, string> {
  const poisoned = new Map<number, string>();
  for (const r of ext.coreRelos.get(secName) ?? []) {
    const pc = r.insnOff / 8;
    if (r.insnOff % 8 !== 0 || r.insnOff >= c.length) throw new LoadError(`CO-RE relocation at byte ${r.insnOff} is not an instruction`, secName);
    let v;
    try {
      v = resolveCore(btf, r);
    } catch (e) {
      if (e instanceof LoadError) throw new LoadError(e.message, secName, pc);
      throw new LoadError((e as Error).message, secName, pc);
    }
    const i = decode(c, pc);
    const k = cls(i.code);
    if (v.poison) {
      const bad = { code: CALL, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM };
      if (i.code === LDDW && pc + 1 < c.length / 8) {
        encodeInto(c, pc + 1, bad);
        poisoned.set(pc + 1, v.spec);
      }
      encodeInto(c, pc, bad);
      poisoned.set(pc, v.spec);
      continue;
    }
    if (k === Cls.LDX || k === Cls.STX || k === Cls.ST) {
      if (i.off !== v.local) throw new LoadError(`CO-RE relocation expects offset ${v.local}, instruction has ${i.off}`, secName, pc);
      if (v.target > 0x7fff) throw new LoadError(`CO-RE offset ${v.target} does not fit a 16-bit offset`, secName, pc);
      encodeInto(c, pc, { ...i, off: v.target });
    } else if ((k === Cls.ALU || k === Cls.ALU64) && !(i.code & 0x08)) {
      if (i.imm !== v.local) throw new LoadError(`CO-RE relocation expects immediate ${v.local}, instruction has ${i.imm}`, secName, pc);
      encodeInto(c, pc, { ...i, imm: v.target });
    } else if (i.code === LDDW && i.src === Pseudo.IMM) {
      encodeInto(c, pc, { ...i, imm: v.target | 0 });
      encodeInto(c, pc + 1, { ...decode(c, pc + 1), imm: Math.floor(v.target / 2 ** 32) | 0 });
    } else {
      throw new LoadError(`CO-RE relocation on opcode 0x${i.code.toString(16)} cannot be patched`, secName, pc);
    }
  }
  return poisoned;
}

// --- maps ---------------------------------------------------------------------------------

/** iproute2's struct bpf_elf_map_min (type, key, value, max entries) and struct bpf_elf_map. */
const LEGACY_DEF_MIN = 16, LEGACY_DEF_MAX = 36;

interface MapIndex {
  maps: BpfMapDef[];
  /** (section index, byte offset) of a `.maps` / `maps` definition → map index. */
  mapAt: Map<string, number>;
  /** Global-data section index → map index. */
  dataMapOf: Map<number, number>;
}

function checkMapType(def: BpfMapDef, section: string): void {
  if (!MAP_TYPES[def.type]) throw new LoadError(`map '${def.name}': map type ${def.type} is not supported by the emulator`, section);
}

function collectMaps(elf: ElfFile, btf: Btf | undefined): MapIndex {
  const maps: BpfMapDef[] = [];
  const mapAt = new Map<string, number>();
  const dataMapOf = new Map<number, number>();
  const symsIn = (s: Section): Sym[] => elf.symbols
    .filter((y) => y.shndx === s.index && y.type !== STT_SECTION && y.name !== '')
    .sort((a, b) => a.value - b.value);

  const btfMaps = elf.section('.maps');
  if (btfMaps) {
    if (!btf) throw new LoadError("'.maps' needs BTF and the object has no '.BTF' section", '.maps');
    const sec = btf.find('.maps', BtfKind.DATASEC);
    if (!sec) throw new LoadError("no DATASEC '.maps' in BTF", '.maps');
    // libbpf order: DATASEC entries; offsets from the symbols (clang leaves BTF offsets 0).
    const syms = new Map(symsIn(btfMaps).map((y) => [y.name, y]));
    for (const v of sec.vars!) {
      const t = btf.type(v.type);
      if (t.kind !== BtfKind.VAR) throw new LoadError(`DATASEC entry type ${v.type} is not a VAR`, '.maps');
      const y = syms.get(t.name);
      if (!y) throw new LoadError(`map '${t.name}' has no symbol in '.maps'`, '.maps');
      const def = parseBtfMapDef(btf, t.name, t.sizeOrType);
      checkMapType(def, '.maps');
      mapAt.set(`${btfMaps.index}:${y.value}`, maps.length);
      maps.push(def);
    }
  }

  // Legacy `maps` (pre-BTF): libbpf ≥ 1.0 refuses the section ("legacy map definitions in
  // 'maps' section are not supported by libbpf v1.0+"), so its rules are iproute2's legacy
  // loader's (lib/bpf_legacy.c, bpf_fetch_maps_end): one definition a map symbol, all the
  // same size, between struct bpf_elf_map_min (16 bytes) and struct bpf_elf_map (36); a
  // shorter one reads as zeros past its end.
  const legacy = elf.section('maps');
  if (legacy) {
    const syms = symsIn(legacy);
    if (syms.length === 0) throw new LoadError('0 maps not supported in current map section!', 'maps');
    const defSize = legacy.size / syms.length;
    if (!Number.isInteger(defSize) || legacy.size % 4 !== 0) throw new LoadError('Number BPF map symbols are not multiple of struct bpf_elf_map!', 'maps');
    if (defSize > LEGACY_DEF_MAX) throw new LoadError('struct bpf_elf_map not supported, coming from future version?', 'maps');
    if (defSize < LEGACY_DEF_MIN) throw new LoadError('struct bpf_elf_map too small, not supported!', 'maps');
    const d = new DataView(legacy.data.buffer, legacy.data.byteOffset, legacy.data.byteLength);
    for (const y of syms) {
      if (y.value + defSize > legacy.size || y.value % defSize !== 0 || mapAt.has(`${legacy.index}:${y.value}`)) throw new LoadError('Different struct bpf_elf_map in use!', 'maps');
      const at = y.value;
      const u32 = (i: number): number => (i * 4 < defSize ? d.getUint32(at + i * 4, true) : 0);
      const def: BpfMapDef = {
        name: y.name, type: u32(0), keySize: u32(1), valueSize: u32(2), maxEntries: u32(3), flags: u32(4), kind: 'legacy',
      };
      // iproute2's struct bpf_elf_map: ..., u32 id, u32 pinning, u32 inner_id, u32 inner_idx.
      if (u32(5)) def.legacyId = u32(5);
      if (u32(6)) def.pinning = u32(6);
      if (u32(7)) def.innerId = u32(7);
      if (u32(5) && !u32(7)) def.innerIdx = u32(8);
      checkMapType(def, 'maps');
      mapAt.set(`${legacy.index}:${y.value}`, maps.length);
      maps.push(def);
    }
  }

  for (const s of elf.sections) {
    if (!isGlobalData(s.name) || (s.type !== SHT_PROGBITS && s.type !== SHT_NOBITS) || s.size === 0) continue;
    if (s.size > MAX_GLOBAL_DATA) throw new LoadError(`global data section of ${s.size} bytes is above the emulator's ${MAX_GLOBAL_DATA}-byte limit`, s.name);
    const ro = s.name.startsWith('.rodata');
    dataMapOf.set(s.index, maps.length);
    maps.push({
      name: s.name, type: 2, keySize: 4, valueSize: s.size, maxEntries: 1,
      flags: (ro ? BPF_F_RDONLY_PROG : 0) | BPF_F_MMAPABLE,
      initial: s.type === SHT_NOBITS ? new Uint8Array(s.size) : s.data.slice(), kind: 'global',
    });
  }
  return { maps, mapAt, dataMapOf };
}

/** Byte offset of the `values` member in a map definition (for `.rel.maps`). */
const valuesOffset = new WeakMap<BpfMapDef, number>();

/** libbpf `parse_btf_map_def`: members encode numbers as PTR → ARRAY[N] and types as PTR → T. */
function parseBtfMapDef(btf: Btf, name: string, typeId: number): BpfMapDef {
  const S = '.maps';
  const st = btf.skipMods(typeId);
  if (st.kind !== BtfKind.STRUCT) throw new LoadError(`map '${name}' is not a struct`, S);
  const def: BpfMapDef = { name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, kind: 'btf' };
  let keyType = 0, valueType = 0;
  const num = (m: { name: string; type: number }): number => {
    const p = btf.skipMods(m.type);
    const a = p.kind === BtfKind.PTR ? btf.skipMods(p.sizeOrType) : undefined;
    if (!a || a.kind !== BtfKind.ARRAY) throw new LoadError(`map '${name}': member '${m.name}' is not a __uint()`, S);
    return a.array!.nelems;
  };
  const ptrTarget = (m: { name: string; type: number }): number => {
    const p = btf.skipMods(m.type);
    if (p.kind !== BtfKind.PTR) throw new LoadError(`map '${name}': member '${m.name}' is not a __type()`, S);
    return p.sizeOrType;
  };
  for (const m of st.members!) {
    switch (m.name) {
      case 'type': def.type = num(m); break;
      case 'max_entries': def.maxEntries = num(m); break;
      case 'map_flags': def.flags = num(m); break;
      case 'key_size': def.keySize = checkSize(def.keySize, num(m), name, 'key'); break;
      case 'value_size': def.valueSize = checkSize(def.valueSize, num(m), name, 'value'); break;
      case 'key': keyType = ptrTarget(m); def.keySize = checkSize(def.keySize, btf.sizeOf(keyType), name, 'key'); break;
      case 'value': valueType = ptrTarget(m); def.valueSize = checkSize(def.valueSize, btf.sizeOf(valueType), name, 'value'); break;
      case 'pinning': {
        const p = num(m);
        if (p > 1) throw new LoadError(`map '${name}': invalid pinning value ${p}.`, S);
        def.pinning = p;
        break;
      }
      case 'map_extra': def.mapExtra = num(m); break;
      case 'numa_node': num(m); break;
      case 'values': {
        valuesOffset.set(def, m.bitOffset / 8);
        const arr = btf.skipMods(m.type);
        if (arr.kind !== BtfKind.ARRAY) throw new LoadError(`map '${name}': 'values' is not an array`, S);
        const elem = btf.skipMods(arr.array!.type);
        const pointee = elem.kind === BtfKind.PTR ? btf.skipMods(elem.sizeOrType) : undefined;
        if (!pointee) throw new LoadError(`map '${name}': 'values' elements are not pointers`, S);
        if (pointee.kind === BtfKind.STRUCT) {
          def.innerMap = parseBtfMapDef(btf, `${name}.inner`, pointee.id);
          if (def.innerMap.pinning !== undefined) throw new LoadError(`map '${name}.inner': inner def can't be pinned.`, S);
          checkMapType(def.innerMap, S);
          def.valueSize = checkSize(def.valueSize, 4, name, 'value');
        } else if (pointee.kind === BtfKind.FUNC_PROTO) {
          def.valueSize = checkSize(def.valueSize, 4, name, 'value');
        } else {
          throw new LoadError(`map '${name}': 'values' must point to programs or map definitions`, S);
        }
        break;
      }
      default:
        throw new LoadError(`map '${name}': unknown attribute '${m.name}'`, S);
    }
  }
  if (keyType) def.btfKey = keyType;
  if (valueType) def.btfValue = valueType;
  if (def.innerMap && def.type !== ARRAY_OF_MAPS && def.type !== HASH_OF_MAPS) {
    throw new LoadError(`map '${name}': inner map definition on a map of type ${def.type}`, S);
  }
  return def;
}

function checkSize(prev: number, next: number, map: string, what: string): number {
  if (prev !== 0 && prev !== next) throw new LoadError(`map '${map}': conflicting ${what} sizes ${prev} and ${next}`, '.maps');
  return next;
}

/** `.rel.maps`: static slots of PROG_ARRAY and map-in-map (`values = { [i] = &x }`). */
function initMapValues(elf: ElfFile, maps: BpfMapDef[], programs: BpfProgram[]): void {
  const btfMaps = elf.section('.maps');
  const rel = btfMaps && elf.sections.find((s) => s.type === SHT_REL && s.info === btfMaps.index);
  if (!btfMaps || !rel) return;
  const starts = elf.symbols
    .filter((y) => y.shndx === btfMaps.index && y.type === STT_OBJECT)
    .sort((a, b) => a.value - b.value);
  for (const r of elf.rels(rel)) {
    const owner = [...starts].reverse().find((y) => y.value <= r.offset);
    const def = owner && maps.find((m) => m.name === owner.name && m.kind === 'btf');
    if (!owner || !def) throw new LoadError(`relocation at byte ${r.offset} is outside any map`, '.rel.maps');
    if (def.type !== PROG_ARRAY && !def.innerMap) throw new LoadError(`map '${def.name}': static values on a map of type ${def.type}`, '.rel.maps');
    const slot = (r.offset - owner.value - (valuesOffset.get(def) ?? 0)) / 8;
    if (!Number.isInteger(slot) || slot < 0 || slot >= def.maxEntries) throw new LoadError(`map '${def.name}': static value slot ${slot} out of range`, '.rel.maps');
    if (def.type === PROG_ARRAY && !programs.some((p) => p.name === r.sym.name)) {
      throw new LoadError(`map '${def.name}': slot ${slot} names '${r.sym.name}', which is not a program of this object`, '.rel.maps');
    }
    (def.initValues ??= []).push({ slot, name: r.sym.name });
  }
}


// --- linking ------------------------------------------------------------------------------

interface LinkContext {
  elf: ElfFile;
  code: Map<Section, Uint8Array>;
  relsOf: Map<Section, Map<number, Rel>>;
  funcs: Map<Section, Func[]>;
  mapAt: Map<string, number>;
  dataMapOf: Map<number, number>;
  /** Per code section, the slots CO-RE poisoned (applyCore). */
  poisoned: Map<Section, Map<number, string>>;
}

/**
 * Copies `entry` and, transitively, every function it calls or takes the address of, each
 * once, in discovery order; resolves map and global-data relocations; rewrites every
 * bpf-to-bpf call and function address to the new layout (spec §5.4 steps 2–5).
 */
function link(entry: Func, cx: LinkContext): Pick<BpfProgram, 'insns' | 'relocations' | 'functions' | 'corePoison'> {
  const placed = new Map<Func, number>();
  const order: Func[] = [];
  let total = 0;
  const place = (g: Func): number => {
    let at = placed.get(g);
    if (at === undefined) {
      at = total;
      placed.set(g, at);
      total += g.end - g.start;
      order.push(g);
    }
    return at;
  };
  place(entry);
  const bodies: Uint8Array[] = [];
  const relocations: MapReloc[] = [];
  const corePoison = new Map<number, string>();

  for (let q = 0; q < order.length; q++) {
    const f = order[q]!;
    const base = placed.get(f)!;
    const c = cx.code.get(f.sec)!;
    const rels = cx.relsOf.get(f.sec);
    const body = c.slice(f.start * 8, f.end * 8);
    for (const [pc, spec] of cx.poisoned.get(f.sec) ?? []) if (f.start <= pc && pc < f.end) corePoison.set(base + pc - f.start, spec);
    const fail = (msg: string, pc: number): never => { throw new LoadError(msg, f.sec.name, pc); };
    /** New pc of slot `slot` of section `sec`, appending the function that holds it. */
    const target = (sec: Section, slot: number, pc: number): number => {
      const g = cx.funcs.get(sec)?.find((h) => h.start <= slot && slot < h.end);
      if (!g) return fail(`call target ${slot} in section '${sec.name}' is not inside a function`, pc);
      if (g.sec.name !== '.text' && g !== entry) {
        return fail(`calls '${g.name}' in program section '${sec.name}'; subprograms must live in .text`, pc);
      }
      return place(g) + slot - g.start;
    };
    const put = (pc: number, i: Insn): void => encodeInto(body, pc - f.start, i);

    for (let pc = f.start; pc < f.end; pc++) {
      const i = decode(c, pc);
      const npc = base + pc - f.start;
      const isLddw = i.code === LDDW;
      if (isLddw && pc + 1 >= f.end) fail('lddw is missing its second slot', pc);
      const rel = rels?.get(pc);
      if (rel) {
        if (rel.type !== R_BPF_64_64 && rel.type !== R_BPF_64_32) {
          fail(`relocation type ${rel.type} (${R_NAMES[rel.type] ?? 'unknown'}) is not supported in a code section`, pc);
        }
        const y = rel.sym;
        if (y.shndx === SHN_UNDEF && i.code === CALL) {
          // An extern function: a kfunc, called with src_reg 2 and the emulator's id (libbpf
          // puts the kernel's BTF id there). One nkemu lacks is refused with libbpf's line for
          // a kfunc the kernel lacks (bpf_object__resolve_ksym_func_btf_id).
          const k = KFUNCS.get(y.name);
          if (!k) return fail(`extern (func ksym) '${y.name}': not found in kernel or module BTFs (the emulator has: ${[...KFUNCS.keys()].join(', ')})`, pc);
          put(pc, { ...i, src: 2, imm: k.id });
          continue;
        }
        if (y.shndx === SHN_UNDEF) fail(`extern symbol '${y.name}' (ksym or kconfig) is not supported`, pc);
        if (y.shndx >= SHN_LORESERVE) fail(`symbol '${y.name}' is in special section 0x${y.shndx.toString(16)} (COMMON or absolute); declare it static or initialise it`, pc);
        const ysec = cx.elf.sections[y.shndx];
        if (!ysec) return fail(`symbol '${y.name}' names section ${y.shndx}, past the section table`, pc);
        if (i.code === CALL) {
          if (i.src !== PSEUDO_CALL) fail(`relocation on a call with src_reg ${i.src} (want a bpf-to-bpf call, src_reg 1)`, pc);
          if (!cx.code.has(ysec)) fail(`call relocation against '${y.name}' in non-code section '${ysec.name}'`, pc);
          put(pc, { ...i, imm: target(ysec, y.value / 8 + i.imm + 1, pc) - (npc + 1) });
        } else if (isLddw) {
          const next = decode(c, pc + 1);
          const mapIdx = cx.mapAt.get(`${y.shndx}:${y.value + (y.type === STT_SECTION ? i.imm : 0)}`);
          const dataIdx = cx.dataMapOf.get(y.shndx);
          if (mapIdx !== undefined) {
            put(pc, { ...i, src: Pseudo.MAP_FD, imm: mapIdx });
            put(pc + 1, { ...next, imm: 0 });
            relocations.push({ pc: npc, kind: 'map', map: mapIdx, offset: 0 });
          } else if (dataIdx !== undefined) {
            const offset = (i.imm >>> 0) + y.value;
            put(pc, { ...i, src: Pseudo.MAP_VALUE, imm: dataIdx });
            put(pc + 1, { ...next, imm: offset });
            relocations.push({ pc: npc, kind: 'map_value', map: dataIdx, offset });
          } else if (cx.code.has(ysec)) {
            put(pc, { ...i, src: Pseudo.FUNC, imm: target(ysec, (y.value + i.imm) / 8, pc) - (npc + 1) });
          } else if (ysec.name === '.maps' || ysec.name === 'maps') {
            fail(`lddw relocation against '${y.name}' does not start a map definition`, pc);
          } else {
            fail(`lddw relocation against '${y.name}' in section '${ysec.name}' is not supported`, pc);
          }
        } else {
          fail(`relocation on opcode 0x${i.code.toString(16)}, which is neither lddw nor call`, pc);
        }
      } else if (i.code === CALL && i.src === PSEUDO_CALL) {
        put(pc, { ...i, imm: target(f.sec, pc + 1 + i.imm, pc) - (npc + 1) });
      } else if (isLddw && i.src === Pseudo.FUNC) {
        put(pc, { ...i, imm: target(f.sec, pc + 1 + i.imm, pc) - (npc + 1) });
      } else if (isLddw && i.src !== Pseudo.IMM) {
        fail(`lddw with src_reg ${i.src} and no relocation`, pc);
      } else if (i.code === CALL && i.src !== 0) {
        fail(`call with src_reg ${i.src} (kfunc) is not supported`, pc);
      }
      if (isLddw) pc++;
    }
    bodies.push(body);
  }

  const insns = new Uint8Array(total * 8);
  order.forEach((g, k) => insns.set(bodies[k]!, placed.get(g)! * 8));
  return { insns, relocations, functions: order.map((g) => ({ name: g.name, start: placed.get(g)! })), ...(corePoison.size ? { corePoison } : {}) };
}
