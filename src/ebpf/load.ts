/**
 * BPF_PROG_LOAD for a clang-compiled object: the ELF loader's programs and maps become
 * maps in the shared memory and relocated program images (map references resolved to
 * map records, global data to value addresses, callbacks to tagged function pointers),
 * checked by the verifier before they are placed.
 */

import * as A from '../abi.generated.js';
import { progTag } from './tag.js';
import { NetError, fail, strerror, withLog } from '../errors.js';
import { CORE_POISON_IMM, loadObject, type BpfObject } from './elf.js';
import { LDDW, Pseudo, decode, encodeInto } from './insn.js';
import { BpfMap, MAP_TYPE_NUMBERS } from './maps.js';
import type { AttachType, BpfFs, BpfProgram, ProgType } from './program.js';
import { VerifierError, verify } from './verifier.js';
import type { Dataplane } from '../dataplane.js';
import { BPFFS_ROOT } from './bpffs.js';
import { LoadError } from './load-error.js';
import { attachLegacyMaps } from './legacy-maps.js';


export interface LoadedObject {
  license: string;
  programs: Map<string, BpfProgram>;
  maps: Map<string, BpfMap>;
  /** Id of the object's BTF (0: the object has none). */
  btfId: number;
}

// BTF object ids (the kernel's btf_idr): id 1 is vmlinux's own BTF, which every kernel with
// BTF registers at boot, so an object's BTF gets 2 and up. Global like map ids (maps.ts).
let nextBtfId = 2;

const NO_BTF_MAPS: ReadonlySet<string> = new Set(['perf_event_array', 'cgroup_array', 'sockmap', 'sockhash', 'array_of_maps', 'hash_of_maps', 'devmap', 'devmap_hash', 'cpumap', 'xskmap', 'queue', 'stack']);

export interface ProgramLoader {
  /** The bpffs (maps an object asks to have pinned go there). */
  readonly bpffs: BpfFs;
  /** Closes a program's handle (a failed load closes what it loaded). */
  closeProgram(prog: BpfProgram): void;
  /** Closes a map's handle (a PROG_ARRAY lets go of its programs). */
  closeMap(map: BpfMap): void;
  loadProgram(o: {
    name: string; type: ProgType; insns: Uint8Array; expectedAttachType?: AttachType;
    regions?: { addr: number; len: number; writable: boolean }[]; maps?: number[];
    /** false: the image was verified before relocation (see loadBpfObject). */
    verify?: boolean;
  }, proven?: Uint8Array): BpfProgram;
  /** BPF_MAP_UPDATE_ELEM on a PROG_ARRAY (the slot holds a reference to the program). */
  progArraySet(map: BpfMap, index: number, prog: BpfProgram | undefined): void;
}

/** Resolves an object's pseudo `lddw`s against its maps; returns the image and the maps it uses. */
/** The verifier's line for a program past MAX_USED_MAPS (kernel/bpf/verifier.c add_used_map). */
export function maxMapsLine(): string {
  return `The total number of maps per program has reached the limit of ${A.PR_MAX_MAPS}`;
}

export function relocate(obj: BpfObject, index: number, maps: BpfMap[]): { insns: Uint8Array; used: BpfMap[] } {
  const p = obj.programs[index]!;
  const insns = p.insns.slice();
  const used = new Set<BpfMap>();
  const n = insns.length / 8;
  for (let pc = 0; pc < n; pc++) {
    const i = decode(insns, pc);
    if (i.code !== LDDW) continue;
    const next = decode(insns, pc + 1);
    let value: bigint;
    // Immediates, and callback pointers: these stay as the kernel takes them (src
    // BPF_PSEUDO_FUNC, imm the offset to the function), which no constant can be mistaken for.
    if (i.src === Pseudo.IMM || i.src === Pseudo.FUNC) { pc++; continue; }
    if (i.src === Pseudo.MAP_FD || i.src === Pseudo.MAP_VALUE) {
      const m = maps[i.imm];
      if (!m) fail('EINVAL', `${p.section}: instruction ${pc} refers to map ${i.imm}, which does not exist`);
      used.add(m);
      if (i.src === Pseudo.MAP_FD) value = BigInt(m.record);
      else {
        if (m.type !== 'array' || next.imm < 0 || next.imm >= m.valueSize) fail('EINVAL', `${p.section}: instruction ${pc}: direct value access outside map ${m.name}`);
        value = BigInt(m.values + next.imm);
      }
    } else {
      fail('EINVAL', `${p.section}: instruction ${pc}: lddw pseudo source ${i.src} is not supported`);
    }
    encodeInto(insns, pc, { ...i, src: 0, imm: Number(BigInt.asIntN(32, value & 0xffffffffn)) });
    encodeInto(insns, pc + 1, { ...next, imm: Number(BigInt.asIntN(32, value >> 32n)) });
    pc++;
  }
  return { insns, used: [...used] };
}

/** BPF_MAP_TYPE_PERF_EVENT_ARRAY. */
const PERF_EVENT_ARRAY = 4;

function newMap(dp: Dataplane, m: BpfObject['maps'][number]): BpfMap {
  return new BpfMap(dp, mapSpec(dp, m));
}

/** The BPF_MAP_CREATE a definition makes. */
function mapSpec(dp: Dataplane, m: BpfObject['maps'][number]): ConstructorParameters<typeof BpfMap>[1] {
  // A perf event array without max_entries gets one per possible CPU, as libbpf and
  // Cilium's loader give it (nkemu's CPUs: the host and the dataplane workers).
  const maxEntries = m.kind !== 'global' && m.type === PERF_EVENT_ARRAY && m.maxEntries === 0 ? dp.workers + 1 : m.maxEntries;
  return {
    // (maps of maps hold an inner map's fd: libbpf sets their value size to 4)
    // (iproute2's legacy loader gives the kernel no map names: BPF_MAP_CREATE without one)
    name: m.kind === 'legacy' ? '' : m.name, type: m.kind === 'global' ? 'array' : m.type, keySize: m.keySize, valueSize: m.innerMap ? 4 : m.valueSize, maxEntries,
    flags: m.kind === 'global' ? 0 : m.flags & ~(1 << 10), readonlyProg: (m.flags & (1 << 7)) !== 0, initial: m.initial,
    mapExtra: m.mapExtra,
    inner: m.innerMap ? { type: m.innerMap.type, keySize: m.innerMap.keySize, valueSize: m.innerMap.valueSize, maxEntries: m.innerMap.maxEntries } : undefined,
  };
}

/**
 * libbpf's map_is_reuse_compat: a map pinned where a LIBBPF_PIN_BY_NAME map goes is taken
 * when its type, key and value sizes, max entries, flags and map_extra are the definition's.
 */
function reuseCompat(dp: Dataplane, m: BpfObject['maps'][number], pin: BpfMap): boolean {
  const s = mapSpec(dp, m);
  return MAP_TYPE_NUMBERS[pin.type] === s.type && pin.keySize === s.keySize && pin.valueSize === s.valueSize
    && pin.maxEntries === s.maxEntries && pin.flags === (s.flags ?? 0) && pin.mapExtra === (s.mapExtra ?? 0);
}

/** loadObject's options (Emulator.loadObject). */
export interface LoadObjectOptions {
  /** Load only these programs (function names); default: every program libbpf autoloads. */
  programs?: string[];
  /** Every program's type, as bpftool's `type TYPE` sets it. */
  type?: string;
  /**
   * iproute2's /etc/iproute2/bpf_pinning (custom pinning id → subpath under /sys/fs/bpf),
   * for legacy `maps` definitions whose `pinning` is neither 0, 1 nor 2 (legacy-maps.ts).
   */
  pinning?: Record<number, string>;
  /**
   * libbpf's pin_root_path: where `.maps` definitions with `pinning` LIBBPF_PIN_BY_NAME are
   * pinned, by name, and taken from when pinned already (default /sys/fs/bpf, as for
   * bpftool; iproute2 built with libbpf gives `<its work dir>/globals`).
   */
  pinRoot?: string;
}

/** Loads every program of an ELF object (maps created first, shared between its programs). */
export function loadBpfObject(dp: Dataplane, loader: ProgramLoader, bytes: Uint8Array, o: LoadObjectOptions = {}): LoadedObject {
  const obj = loadObject(bytes, { type: o.type });
  const maps: BpfMap[] = [];
  // (maps this load made; the others are pinned maps it reuses, which stay as they are)
  const created: BpfMap[] = [];
  const create = (m: BpfObject['maps'][number], inner?: BpfMap): BpfMap => {
    try {
      const def = inner ? { ...m, innerMap: { ...m, name: `${m.name}.inner`, type: MAP_TYPE_NUMBERS[inner.type], keySize: inner.keySize, valueSize: inner.valueSize, maxEntries: inner.maxEntries, flags: inner.flags } } : m;
      const map = newMap(dp, def);
      created.push(map);
      return map;
    } catch (e) {
      // (libbpf's bpf_object__create_maps: "map 'name': failed to create: <strerror>(-errno)")
      throw withLog(e, (r) => `map '${m.name}': failed to create: ${strerror(r.errno)}(-${r.code})${r.extack === undefined ? '' : `\n${r.extack}`}`);
    }
  };
  // (LIBBPF_PIN_BY_NAME maps this load pinned: libbpf unpins them when the load fails)
  const pinnedHere: string[] = [];
  const byName = (m: BpfObject['maps'][number]): BpfMap => {
    const path = `${o.pinRoot ?? BPFFS_ROOT}/${m.name}`;
    const e = loader.bpffs.get(path);
    if (e) {
      // (bpf_object__reuse_map, then bpf_object__create_maps's lines)
      if (e.kind === 'map' && reuseCompat(dp, m, e.map)) return e.map;
      throw new LoadError(`couldn't reuse pinned map at '${path}': parameter mismatch\nmap '${m.name}': error reusing pinned map\nmap '${m.name}': failed to create: Invalid argument(-22)`);
    }
    const map = create(m);
    loader.bpffs.pin(path, { kind: 'map', map });
    pinnedHere.push(path);
    return map;
  };
  const undo = (): void => {
    for (const p of pinnedHere) loader.bpffs.unpin(p);
  };
  try {
    const legacy = obj.maps.flatMap((m, i) => (m.kind === 'legacy' ? [i] : []));
    obj.maps.forEach((m, i) => {
      // (a legacy `maps` section is iproute2's: its maps are made by its rules, together)
      if (i === legacy[0]) attachLegacyMaps(obj.maps, legacy, maps, { fs: loader.bpffs, bytes, pinning: o.pinning, create });
      if (m.kind === 'btf' && m.pinning === 1) maps[i] = byName(m);
      else if (m.kind !== 'legacy') maps[i] = create(m);
    });
  } catch (e) {
    undo();
    for (const m of created) m.close();
    throw e;
  }
  // libbpf loads the object's BTF before its maps and hands it to each map with the key and
  // value type ids of its __type()s; the kernel keeps it (the map's btf_id) when either is
  // set. libbpf creates the types below without BTF (bpf_object__create_map).
  const btfId = obj.btf ? nextBtfId++ : 0;
  if (obj.btf) {
    obj.maps.forEach((def, i) => {
      const key = def.btfKey ?? 0, value = def.btfValue ?? 0;
      // (a pinned map taken keeps the BTF it was made with)
      if ((key || value) && !NO_BTF_MAPS.has(maps[i]!.type) && created.includes(maps[i]!)) maps[i]!.btf = { id: btfId, types: obj.btf!, key, value };
    });
  }
  const out: LoadedObject = { license: obj.license, programs: new Map(), maps: new Map(maps.map((m, i) => [obj.maps[i]!.name, m])), btfId };
  try {
    fill(obj, o, loader, maps, out);
  } catch (e) {
    // A refused object leaves nothing behind: its programs closed, its maps with them.
    for (const p of out.programs.values()) loader.closeProgram(p);
    undo();
    for (const m of created) if (m.handleOpen) loader.closeMap(m);
    throw e;
  }
  return out;
}

function fill(obj: BpfObject, o: { programs?: string[] }, loader: ProgramLoader, maps: BpfMap[], out: LoadedObject): void {
  const gpl = /^(GPL|GPL v2|GPL and additional rights|Dual BSD\/GPL|Dual MIT\/GPL|Dual MPL\/GPL)$/.test(obj.license);
  obj.programs.forEach((p, index) => {
    if (o.programs ? !o.programs.includes(p.name) : !p.autoload) return;
    try {
      fillProgram(obj, index, gpl, loader, maps, out);
    } catch (e) {
      throw named(withLog(e, (r) => `prog '${p.name}': ${r.message}`), p.name, p.section);
    }
  });
  // Static PROG_ARRAY slots (`.values = { [i] = &prog }`), as libbpf fills them after loading.
  obj.maps.forEach((def, i) => {
    if (maps[i]!.type !== 'prog_array') return;
    for (const v of def.initValues ?? []) {
      const prog = out.programs.get(v.name);
      if (prog) loader.progArraySet(maps[i]!, v.slot, prog);
    }
  });
}

/**
 * A program's refusal names it and its section, and carries what libbpf prints for it
 * (bpf_object_load_prog: the errno's text, the verifier's log when there is one, the
 * negative errno).
 */
function named(e: unknown, prog: string, section: string): unknown {
  if (!(e instanceof NetError)) return e;
  e.program ??= prog;
  e.section ??= section;
  const log = e instanceof VerifierError ? e.verifierLog ?? e.log : undefined;
  e.libbpfLog ??= [
    `libbpf: prog '${prog}': BPF program load failed: ${strerror(e.errno)}`,
    ...(log ? [`libbpf: prog '${prog}': -- BEGIN PROG LOAD LOG --`, log, '-- END PROG LOAD LOG --'] : []),
    `libbpf: prog '${prog}': failed to load: -${e.code}`,
  ].join('\n');
  return e;
}

/**
 * verify(), with libbpf's rewrite of a refusal at an instruction it poisoned for a CO-RE
 * relocation without a target (fixup_log_failed_core_relo): the verifier's `invalid func
 * unknown#195896080` becomes `<invalid CO-RE relocation>` and the relocation it failed.
 */
function verifyPoisoned(p: BpfObject['programs'][number], o: Parameters<typeof verify>[1]): ReturnType<typeof verify> {
  try {
    return verify(p.insns, o);
  } catch (e) {
    const spec = e instanceof VerifierError ? p.corePoison?.get(e.pc) : undefined;
    if (spec === undefined || !(e instanceof VerifierError) || e.log !== `invalid func unknown#${CORE_POISON_IMM}`) throw e;
    const patch = `<invalid CO-RE relocation>\nfailed to resolve CO-RE relocation ${spec}`;
    const err = new VerifierError('EINVAL', e.pc, `failed to resolve CO-RE relocation ${spec}`);
    err.message = `${e.pc}: ${patch}`;
    if (e.verifierLog) {
      err.verifierLog = e.verifierLog.replace(new RegExp(`^${e.pc}: \\(85\\) call unknown#${CORE_POISON_IMM}\n${e.log}$`, 'm'), `${e.pc}: ${patch}`);
    }
    throw err;
  }
}

/** Verifies, relocates and places one program of the object. */
function fillProgram(obj: BpfObject, index: number, gpl: boolean, loader: ProgramLoader, maps: BpfMap[], out: LoadedObject): void {
  const p = obj.programs[index]!;
  // (resolve_pseudo_ldimm64 runs before the verifier's walk: a program naming more than
  // MAX_USED_MAPS maps, global data sections included, is refused first)
  const { insns, used } = relocate(obj, index, maps);
  if (used.length > A.PR_MAX_MAPS) fail('E2BIG', maxMapsLine());
  const checked = verifyPoisoned(p, {
    type: p.type === 'sched_act' ? 'sched_cls' : p.type, gplCompatible: gpl,
    ...(p.attachType === 'xdp_devmap' || p.attachType === 'xdp_cpumap' ? { expectedAttachType: p.attachType } : {}), subprogs: p.functions.map((f) => f.start),
    maps: maps.map((m) => ({
      kind: m.type === 'array_of_maps' || m.type === 'hash_of_maps' ? 'of_maps' as const : m.type === 'array' || m.type === 'percpu_array' ? 'array' as const : 'other' as const,
      keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, type: MAP_TYPE_NUMBERS[m.type], rdonly: m.readonlyProg,
    })),
  });
  const regions = used.map((m) => ({ addr: m.values, len: m.valuesSize, writable: !m.readonlyProg }));
  const prog = loader.loadProgram({
    name: p.name, type: p.type === 'sched_act' ? 'sched_cls' : p.type as ProgType, insns,
    expectedAttachType: p.attachType === 'none' ? undefined : p.attachType,
    regions, maps: used.map((m) => m.record),
    // Verified above, as the kernel sees it (map references, not their addresses); what
    // that proved (map value accesses too: the relocated image's map addresses are plain
    // numbers to the checks) runs unchecked.
    verify: false,
  }, checked.provenAccesses);
  // (the tag of the image as libbpf hands it to the kernel: map loads by fd, zeroed in the hash)
  prog.tag = progTag(p.insns);
  prog.btfId = out.btfId;
  out.programs.set(p.name, prog);
}
