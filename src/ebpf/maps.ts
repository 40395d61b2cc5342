/**
 * eBPF maps in the shared memory (assembly/ebpf/maps.ts does the work): arrays, hashes
 * (per-CPU, LRU, LPM), ring buffers, devmaps, cpumaps, XSKMAPs, maps of maps, queues,
 * stacks, bloom filters, cgroup arrays, sockmaps and sockhashes, plus global data
 * (`.data`/`.rodata`/`.bss` as one-entry arrays). Creation checks and the user-space API
 * (lookup, update, delete, lookup-and-delete, iteration) with the kernel's errno.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { WASM32_MAX_BYTES } from '../options.js';
import { fail, type Errno } from '../errors.js';
import type { Btf } from './btf.js';

/** Map types by bpftool's names for them (`bpftool map show`). */
export type MapType = 'hash' | 'array' | 'percpu_hash' | 'percpu_array' | 'prog_array' | 'lru_hash' | 'lru_percpu_hash' | 'lpm_trie' | 'ringbuf' | 'devmap' | 'xskmap' | 'array_of_maps' | 'hash_of_maps' | 'perf_event_array'
  | 'cpumap' | 'queue' | 'stack' | 'devmap_hash' | 'bloom_filter' | 'cgroup_array' | 'sockmap' | 'sockhash';

export const MAP_TYPE_NUMBERS: Record<MapType, number> = {
  hash: 1, array: 2, prog_array: 3, percpu_hash: 5, percpu_array: 6, lru_hash: 9, lru_percpu_hash: 10, lpm_trie: 11, ringbuf: 27, devmap: 14, xskmap: 17,
  array_of_maps: 12, hash_of_maps: 13, perf_event_array: 4, cpumap: 16, queue: 22, stack: 23, devmap_hash: 25, bloom_filter: 30,
  cgroup_array: 8, sockmap: 15, sockhash: 18,
};
const TYPE_NAMES: Record<number, MapType> = Object.fromEntries(Object.entries(MAP_TYPE_NUMBERS).map(([name, n]) => [n, name as MapType]));

export interface MapSpec {
  name: string;
  type: MapType | number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** Read-only for programs (BPF_F_RDONLY_PROG, `.rodata`). */
  readonlyProg?: boolean;
  /** Initial contents of entry 0 (global data). */
  initial?: Uint8Array;
  /** Maps of maps: what every inner map must look like. */
  inner?: { type: MapType | number; keySize: number; valueSize: number; maxEntries: number };
  /** map_extra: a bloom filter's number of hash functions (low 4 bits; 0 = 5); 0 for every other type. */
  mapExtra?: number;
}

interface MapExports {
  mapLookup(map: number, key: number, cpu: number): number;
  mapUpdate(map: number, key: number, value: number, flags: bigint, cpu: number, all: number): number;
  mapDelete(map: number, key: number, thread: number): number;
  mapPushPop(map: number, value: number, op: number, flags: bigint): number;
}

const ERRNO: Record<number, Errno> = { 2: 'ENOENT', 7: 'E2BIG', 17: 'EEXIST', 22: 'EINVAL', 28: 'ENOSPC', 95: 'EOPNOTSUPP' };
const BPF_F_LOCK = 4;
const BPF_F_NO_PREALLOC = 1;
const BPF_F_NO_COMMON_LRU = 1 << 1;
const BPF_F_NUMA_NODE = 1 << 2;
const BPF_F_RDONLY = 1 << 3;
const BPF_F_WRONLY = 1 << 4;
const BPF_F_ZERO_SEED = 1 << 6;
const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_F_WRONLY_PROG = 1 << 8;
const BPF_F_MMAPABLE = 1 << 10;
const KNOWN_FLAGS = BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG | BPF_F_MMAPABLE;
/** BPF_F_ACCESS_MASK: who may read and write. */
const BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
/** KMALLOC_MAX_SIZE on x86-64 (4 MiB): the largest value a queue, stack or bloom filter takes. */
const KMALLOC_MAX_SIZE = 1 << 22;
/** The kernel's cpumap refuses more entries than CONFIG_NR_CPUS (256 in the kernel the fixtures came from). */
const NR_CPUS = 256;
/** cpu_map_update_elem's sanity limit on a CPU's queue size. */
const CPUMAP_MAX_QSIZE = 16384;
/** SOCK_CREATE_FLAG_MASK (net/core/sock_map.c): the flags a sockmap or sockhash takes; a cgroup array takes the same. */
const SOCK_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;
/** MAX_BPF_STACK: the longest sockhash key (sock_hash_alloc). */
const MAX_BPF_STACK = 512;
/** INT_MAX: the largest fd a sockmap's value may name (sock_map_update_elem_sys). */
const S32_MAX = 0x7fffffff;

/** Map types whose user-space values are file descriptors nkemu does not have (update: EBADF). */
const FD_VALUED: ReadonlySet<MapType> = new Set(['cgroup_array', 'sockmap', 'sockhash']);

/** bpf_map_flags_access_ok: a map cannot be both read-only and write-only for programs. */
const accessOk = (flags: number): boolean => (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !== (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
const isInt = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** Map types without keys: values go in with push and come out with pop or peek. */
const KEYLESS: ReadonlySet<MapType> = new Set(['queue', 'stack', 'bloom_filter']);

/**
 * A bloom filter's bit array (bloom_map_alloc): max_entries × hash functions × 7/5 bits
 * (≈ 1/ln 2 per element per function), at least 64, rounded up to a power of two; 2^32
 * bits when that overflows a u32 or passes 2^31. Returns its mask (bits - 1) and bytes.
 */
function bloomBits(maxEntries: number, hashes: number): { mask: number; bytes: number } {
  let bits = maxEntries * hashes;
  if (bits <= 0xffffffff) bits = Math.floor(bits / 5) * 7;
  if (bits > 0xffffffff || bits > 2 ** 31) return { mask: 0xffffffff, bytes: 2 ** 29 };
  bits = bits <= 64 ? 64 : 2 ** Math.ceil(Math.log2(bits));
  return { mask: bits - 1, bytes: bits / 8 };
}

let nextId = 1;

/** Live maps by record address, per dataplane (programs name maps by record). */
const live = new WeakMap<object, Map<number, BpfMap>>();

export class BpfMap {
  readonly id = nextId++;
  readonly name: string;
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** The map record (abi MAP_*): what programs get from `lddw` and pass to helpers. */
  readonly record: number;
  /** Values (arrays) or slots (hash maps): the memory programs may touch. */
  readonly values: number;
  readonly valuesSize: number;
  readonly copies: number;
  readonly readonlyProg: boolean;
  private readonly dp: Dataplane;
  private readonly stride: number;
  private readonly slotSize: number;
  private readonly capacity: number;
  private readonly scratch: number;

  /**
   * Holders besides the user's handle: programs using the map, outer maps holding it.
   * The map is freed when the handle is closed and the last holder lets go (the kernel's
   * refcnt and usercnt).
   */
  refs = 0;
  /** The user's handle (the fd) is open. */
  handleOpen = true;
  /** Freed: its memory is retired; every call fails with EBADF. */
  freed = false;
  /** The BTF it was created with (btf_id; the key and value type ids, 0 when not declared). */
  btf?: { id: number; types: Btf; key: number; value: number };
  /** Inner maps held by a map of maps, by key (hex). */
  private readonly innerHeld = new Map<string, BpfMap>();

  /** A closed AF_XDP socket leaves every XSKMAP (xsk_delete_from_maps). */
  static forgetSocket(dp: Dataplane, record: number): void {
    const w = dp.words();
    for (const m of live.get(dp)?.values() ?? []) {
      if (m.type !== 'xskmap') continue;
      for (let i = 0; i < m.maxEntries; i++) {
        const at = (m.values + i * m.stride) >>> 2;
        if (Atomics.load(w, at) >>> 0 === record) Atomics.store(w, at, 0);
      }
    }
  }

  /** The live map whose record is at `record` (undefined for none). */
  static byRecord(dp: Dataplane, record: number): BpfMap | undefined {
    return live.get(dp)?.get(record);
  }

  /** map_extra as created (bloom filters: the number of hash functions asked for, 0 = 5). */
  readonly mapExtra: number;

  /**
   * The creation checks of the map types that have their own (queue_stack_map_alloc_check,
   * bloom_map_alloc, cpu_map_alloc, dev_map_init_map for DEVMAP_HASH), in the kernel's
   * order; true when `type` is one of them (its flags are checked here, not generically).
   * A bloom filter also gets its bit array's size and its hash seed: get_random_u32 (the
   * emulator's, from its seed) unless BPF_F_ZERO_SEED asks for 0.
   */
  private static checkNewer(type: MapType, s: MapSpec, flags: number, extra: number, dp: Dataplane): { bloom?: { mask: number; bytes: number; seed: number; hashes: number } } | undefined {
    const entries = s.maxEntries, ks = s.keySize, vs = s.valueSize;
    if (!isInt(entries) || !isInt(ks) || !isInt(vs)) fail('EINVAL');
    if (type === 'queue' || type === 'stack') {
      if (entries === 0 || ks !== 0 || vs === 0 || flags & ~(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK) || !accessOk(flags)) fail('EINVAL');
      // (a larger value could not be read back from user space)
      if (vs > KMALLOC_MAX_SIZE) fail('E2BIG');
      return {};
    }
    if (type === 'bloom_filter') {
      if (ks !== 0 || vs === 0 || entries === 0 || flags & ~(BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK) || !accessOk(flags) || !isInt(extra) || extra & ~0xf) fail('EINVAL');
      const hashes = extra || 5;
      return { bloom: { ...bloomBits(entries, hashes), hashes, seed: flags & BPF_F_ZERO_SEED ? 0 : dp.randomU32() } };
    }
    if (type === 'cpumap') {
      if (entries === 0 || ks !== 4 || (vs !== 4 && vs !== 8) || flags & ~BPF_F_NUMA_NODE) fail('EINVAL');
      if (entries > NR_CPUS) fail('E2BIG');
      return {};
    }
    if (type === 'devmap_hash') {
      if (entries === 0 || ks !== 4 || (vs !== 4 && vs !== 8) || flags & ~(BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY)) fail('EINVAL');
      if (entries > 2 ** 31) fail('EINVAL');
      return {};
    }
    // fd_array_map_alloc_check, then array_map_alloc_check: a cgroup fd (4 bytes) under a u32
    // index; no BPF_F_RDONLY_PROG/WRONLY_PROG, no mmap, no BPF_F_NO_PREALLOC.
    if (type === 'cgroup_array') {
      if (vs !== 4 || entries === 0 || ks !== 4 || flags & ~SOCK_CREATE_FLAG_MASK) fail('EINVAL');
      return {};
    }
    // sock_map_alloc and sock_hash_alloc: a socket fd (4 or 8 bytes) under a u32 index, or
    // any key up to MAX_BPF_STACK bytes.
    if (type === 'sockmap' || type === 'sockhash') {
      if (entries === 0 || (type === 'sockmap' ? ks !== 4 : ks === 0) || (vs !== 4 && vs !== 8) || flags & ~SOCK_CREATE_FLAG_MASK) fail('EINVAL');
      if (ks > MAX_BPF_STACK) fail('E2BIG');
      return {};
    }
    return undefined;
  }

  constructor(dp: Dataplane, s: MapSpec) {
    const type = typeof s.type === 'number' ? TYPE_NAMES[s.type] : s.type;
    if (!type) fail('EINVAL', `map type ${s.type} is not supported`);
    let flags = s.flags ?? 0;
    const extra = s.mapExtra ?? 0;
    // map_create: only bloom filters (and arenas) take map_extra.
    if (extra !== 0 && type !== 'bloom_filter') fail('EINVAL');
    const newer = BpfMap.checkNewer(type, s, flags, extra, dp);
    // ringbuf_map_alloc: no key or value, a power-of-two number of pages.
    if (type === 'ringbuf') {
      if (s.keySize !== 0 || s.valueSize !== 0 || !Number.isInteger(s.maxEntries) || s.maxEntries < 4096 || s.maxEntries % 4096 !== 0 || (s.maxEntries & (s.maxEntries - 1)) !== 0) fail('EINVAL');
      if (flags & ~KNOWN_FLAGS) fail('EINVAL');
    }
    // map_check_no_btf / array_map_alloc_check / htab_map_alloc_check, in spirit.
    if (s.keySize <= 0 && type !== 'ringbuf' && !KEYLESS.has(type)) fail('EINVAL');
    if ((type === 'array' || type === 'percpu_array' || type === 'prog_array') && s.keySize !== 4) fail('EINVAL');
    if (type === 'prog_array' && s.valueSize !== 4) fail('EINVAL');
    // dev_map_alloc / xsk_map_alloc: key 4, value 4 (devmap may carry a program fd: 8).
    // Maps of maps: the value is an inner map (an fd in user space), 4 bytes; one template.
    if ((type === 'array_of_maps' || type === 'hash_of_maps') && (s.valueSize !== 4 || !s.inner)) fail('EINVAL');
    if (type === 'array_of_maps' && s.keySize !== 4) fail('EINVAL');
    if (type === 'perf_event_array' && (s.keySize !== 4 || s.valueSize !== 4)) fail('EINVAL');
    if ((type === 'devmap' || type === 'xskmap') && (s.keySize !== 4 || (s.valueSize !== 4 && !(type === 'devmap' && s.valueSize === 8)))) fail('EINVAL');
    if (type !== 'ringbuf' && (!Number.isInteger(s.valueSize) || s.valueSize <= 0 || !Number.isInteger(s.maxEntries) || s.maxEntries <= 0)) fail('EINVAL');
    // htab_map_alloc_check: per-CPU LRU lists only for LRU maps, which are always preallocated (-ENOTSUPP).
    const lru = type === 'lru_hash' || type === 'lru_percpu_hash';
    if (flags & BPF_F_NO_COMMON_LRU && !lru) fail('EINVAL');
    if (lru && flags & BPF_F_NO_PREALLOC) fail('ENOTSUPP');
    if (!newer && flags & ~(KNOWN_FLAGS | (lru ? BPF_F_NO_COMMON_LRU : 0))) fail('EINVAL');
    // trie_alloc: no preallocation, key = {prefixlen u32, 1..256 data bytes}.
    if (type === 'lpm_trie' && (!(flags & BPF_F_NO_PREALLOC) || s.keySize <= 4 || s.keySize > 4 + 256)) fail('EINVAL');
    if (s.valueSize > (1 << 20) || s.keySize > 512) fail('E2BIG');
    // dev_map_init_map: a devmap's value points at the device; programs may not write it.
    if (type === 'devmap_hash') flags |= BPF_F_RDONLY_PROG;
    this.dp = dp;
    this.name = s.name.slice(0, 15);
    this.type = type;
    this.keySize = s.keySize;
    this.valueSize = s.valueSize;
    this.maxEntries = s.maxEntries;
    this.flags = flags;
    this.readonlyProg = s.readonlyProg ?? (flags & BPF_F_RDONLY_PROG) !== 0;
    this.mapExtra = extra;
    this.inner = s.inner;
    this.copies = type.startsWith('percpu') || type === 'lru_percpu_hash' ? dp.workers + 1 : 1;
    this.stride = (s.valueSize + 7) & ~7;
    if (type === 'ringbuf') {
      this.slotSize = 0;
      this.capacity = 0;
      this.valuesSize = s.maxEntries;
    } else if (type === 'queue' || type === 'stack') {
      // A ring of max_entries + 1 values (queue_stack_map_alloc: one slot stays free).
      this.slotSize = 0;
      this.capacity = 0;
      this.valuesSize = (s.maxEntries + 1) * this.stride;
    } else if (type === 'bloom_filter') {
      this.slotSize = 0;
      this.capacity = 0;
      this.valuesSize = newer!.bloom!.bytes;
    } else if (type === 'sockhash') {
      // (always empty: nothing to keep)
      this.slotSize = 0;
      this.capacity = 0;
      this.valuesSize = 8;
    } else if (type === 'array' || type === 'percpu_array' || type === 'prog_array' || type === 'devmap' || type === 'xskmap' || type === 'array_of_maps' || type === 'perf_event_array' || type === 'cpumap'
      || type === 'cgroup_array' || type === 'sockmap') {
      this.slotSize = 0;
      this.capacity = 0;
      this.valuesSize = this.copies * s.maxEntries * this.stride;
    } else {
      this.slotSize = A.MAP_SLOT_KEY + ((s.keySize + 7) & ~7) + this.copies * this.stride;
      let cap = 2;
      while (cap < s.maxEntries * 2) cap *= 2;
      this.capacity = cap;
      // LPM tries keep two key buffers per thread after the slots.
      this.valuesSize = cap * this.slotSize + (type === 'lpm_trie' ? (dp.workers + 1) * 2 * ((s.keySize + 7) & ~7) : 0);
    }
    // As large as the kernel makes them (array_map_alloc: max_entries × round_up(value_size,
    // 8), one block): what the shared memory cannot hold fails with ENOMEM, as
    // bpf_map_area_alloc does. Past the wasm32 address space (4 GiB) nothing can hold it.
    if (this.valuesSize > WASM32_MAX_BYTES) fail('ENOMEM', `map '${this.name}': ${this.valuesSize} bytes of values, more than the 4 GiB a wasm32 memory holds`);
    // (all or nothing: a map that cannot get its memory leaves none taken)
    this.record = dp.alloc(A.MAP_RECORD_SIZE);
    try {
      this.values = dp.alloc(this.valuesSize);
    } catch (e) {
      dp.release(this.record, A.MAP_RECORD_SIZE);
      throw e;
    }
    try {
      this.scratch = dp.alloc(this.scratchSize);
    } catch (e) {
      dp.release(this.values, this.valuesSize);
      dp.release(this.record, A.MAP_RECORD_SIZE);
      throw e;
    }
    let reg = live.get(dp);
    if (!reg) live.set(dp, (reg = new Map()));
    reg.set(this.record, this);
    // (dp.alloc hands the values zeroed)
    const dv = dp.view();
    const r = this.record;
    dv.setUint32(r + A.MAP_TYPE, MAP_TYPE_NUMBERS[type], true);
    dv.setUint32(r + A.MAP_KEY_SIZE, s.keySize, true);
    dv.setUint32(r + A.MAP_VALUE_SIZE, s.valueSize, true);
    dv.setUint32(r + A.MAP_MAX_ENTRIES, s.maxEntries, true);
    dv.setUint32(r + A.MAP_VALUES, this.values, true);
    dv.setUint32(r + A.MAP_STRIDE, this.stride, true);
    dv.setUint32(r + A.MAP_LOCK, 0, true);
    dv.setUint32(r + A.MAP_COUNT, 0, true);
    dv.setUint32(r + A.MAP_SLOT_SIZE, this.slotSize, true);
    dv.setUint32(r + A.MAP_CAPACITY, this.capacity, true);
    dv.setUint32(r + A.MAP_COPIES, this.copies, true);
    dv.setUint32(r + A.MAP_FLAGS, flags, true);
    dv.setUint32(r + A.MAP_CLOCK, 0, true);
    dv.setUint32(r + A.MAP_RB_CONS, 0, true);
    dv.setUint32(r + A.MAP_RB_PROD, 0, true);
    if (newer?.bloom) {
      dv.setUint32(r + A.MAP_BLOOM_SEED, newer.bloom.seed, true);
      dv.setUint32(r + A.MAP_BLOOM_MASK, newer.bloom.mask, true);
      dv.setUint32(r + A.MAP_BLOOM_HASHES, newer.bloom.hashes, true);
    }
    if (s.initial) dp.bytes().set(s.initial.subarray(0, s.valueSize), this.values);
  }

  private get scratchSize(): number {
    return Math.max(((this.keySize + 7) & ~7) + this.copies * this.stride, 8);
  }

  private get ex(): MapExports {
    if (this.freed) fail('EBADF');
    return this.dp.exports as unknown as MapExports;
  }

  /** A program or an outer map takes a reference. */
  hold(): void {
    this.refs++;
  }

  /** A holder lets go; the map goes with the last one once its handle is closed. */
  put(): void {
    this.refs--;
    this.maybeFree();
  }

  /** Closes the user's handle (EBADF when closed already). */
  close(): void {
    if (!this.handleOpen) fail('EBADF');
    this.handleOpen = false;
    this.maybeFree();
  }

  private maybeFree(): void {
    if (this.freed || this.handleOpen || this.refs > 0) return;
    this.freed = true;
    live.get(this.dp)?.delete(this.record);
    this.free();
    const inner = [...this.innerHeld.values()];
    this.innerHeld.clear();
    for (const m of inner) m.put();
    const rings = this.perfRings;
    this.perfRings = [];
    for (const r of rings) r.close();
  }

  private putKey(key: Uint8Array): number {
    if (this.freed) fail('EBADF');
    if (!(key instanceof Uint8Array) || key.length !== this.keySize) fail('EINVAL');
    this.dp.bytes().set(key, this.scratch);
    return this.scratch;
  }

  /**
   * BPF_MAP_LOOKUP_ELEM: the value (per-CPU maps: one per thread), or undefined (ENOENT).
   * A queue or stack (no key: an empty one) answers its next value without taking it
   * (peek); a bloom filter answers whether `value` may be in it (the value, or undefined).
   */
  lookup(key: Uint8Array, value?: Uint8Array): Uint8Array | Uint8Array[] | undefined {
    if (FD_VALUED.has(this.type)) return this.lookupFdValued(key);
    if (KEYLESS.has(this.type)) {
      this.putKey(key);
      if (this.type === 'bloom_filter') {
        if (!(value instanceof Uint8Array) || value.length !== this.valueSize) fail('EINVAL');
        this.dp.bytes().set(value, this.scratch);
      }
      return this.pushPop(A.QS_PEEK);
    }
    // (user space's lookups do not count as uses for an LRU map: the high bit says so)
    // (>>> 0: Wasm returns an i32, negative for an address past 2 GiB)
    const at = this.ex.mapLookup(this.record, this.putKey(key), 0x80000000) >>> 0;
    if (at === 0) return undefined;
    const b = this.dp.bytes();
    if (this.copies === 1) return b.slice(at, at + this.valueSize);
    // Per-CPU: copy 0's address; the others follow at their stride (array: per-CPU blocks).
    const step = this.type === 'percpu_array' ? this.maxEntries * this.stride : this.stride;
    // (per-CPU hash and LRU per-CPU hash: the copies follow each other in the slot)
    return Array.from({ length: this.copies }, (_, c) => b.slice(at + c * step, at + c * step + this.valueSize));
  }

  /**
   * A cgroup array's, sockmap's or sockhash's lookup from user space: a cgroup array has no
   * value to show (bpf_fd_array_map_lookup_elem without map_fd_sys_lookup_elem: ENOTSUPP,
   * whatever the key); a sockmap or sockhash shows a socket's cookie, in an 8-byte value
   * only (ENOSPC in a 4-byte one), and nkemu's hold none (ENOENT: undefined).
   */
  private lookupFdValued(key: Uint8Array): undefined {
    this.putKey(key);
    if (this.type === 'cgroup_array') fail('ENOTSUPP');
    if (this.valueSize !== 8) fail('ENOSPC');
    return undefined;
  }

  /**
   * A cgroup array's, sockmap's or sockhash's update from user space: the value is a file
   * descriptor (a cgroup's; a socket's), and nkemu has none, so every one the checks before
   * it let through is not open: EBADF. The checks, in the kernel's order:
   * bpf_fd_array_map_update_elem (flags other than BPF_ANY: EINVAL; an index past the end:
   * E2BIG), sock_map_update_elem_sys (BPF_F_LOCK: EINVAL; an fd past INT_MAX: EINVAL; the
   * slot and flags only after the socket). A cgroup goes in with `setCgroup`; a socket cannot.
   */
  private updateFdValued(key: Uint8Array, value: Uint8Array, flags: number): never {
    this.putKey(key);
    if (!(value instanceof Uint8Array) || value.length !== this.valueSize) fail('EINVAL');
    const dv = new DataView(value.buffer, value.byteOffset, value.length);
    if (this.type === 'cgroup_array') {
      if (flags !== 0) fail('EINVAL');
      if (new DataView(key.buffer, key.byteOffset).getUint32(0, true) >= this.maxEntries) fail('E2BIG');
      fail('EBADF');
    }
    if (flags & BPF_F_LOCK) fail('EINVAL');
    const fd = this.valueSize === 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
    if (fd > BigInt(S32_MAX)) fail('EINVAL');
    fail('EBADF');
  }

  /** BPF_MAP_UPDATE_ELEM with BPF_ANY (0), BPF_NOEXIST (1) or BPF_EXIST (2). Per-CPU maps take one value per thread or one for all. */
  update(key: Uint8Array, value: Uint8Array | Uint8Array[], flags = 0): void {
    // An XSKMAP takes AF_XDP sockets (setSocket), not bytes.
    if (this.type === 'xskmap') fail('EOPNOTSUPP', 'use setSocket for an XSKMAP');
    if (FD_VALUED.has(this.type)) this.updateFdValued(key, Array.isArray(value) ? value[0]! : value, flags);
    const k = this.putKey(key);
    const values = Array.isArray(value) ? value : Array.from({ length: this.copies }, () => value);
    if (values.length !== this.copies || values.some((v) => v.length !== this.valueSize)) fail('EINVAL');
    // Queues, stacks and bloom filters: an update with no key pushes the value.
    if (KEYLESS.has(this.type)) {
      this.dp.bytes().set(values[0]!, this.scratch);
      const r = this.ex.mapPushPop(this.record, this.scratch, A.QS_PUSH, BigInt(flags));
      if (r < 0) fail(ERRNO[-r] ?? 'EINVAL');
      return;
    }
    const word = (i: number): number => new DataView(values[0]!.buffer, values[0]!.byteOffset).getUint32(i, true);
    if (this.type === 'cpumap') {
      // cpu_map_update_elem: the key is a CPU (a dataplane thread here), the value its queue
      // size (0 = no entry) and an optional XDP program to run there.
      const cpu = new DataView(key.buffer, key.byteOffset).getUint32(0, true);
      if (flags > 2) fail('EINVAL');
      if (cpu >= this.maxEntries) fail('E2BIG');
      if (flags === 1) fail('EEXIST');
      if (word(0) > CPUMAP_MAX_QSIZE) fail('EOVERFLOW');
      if (cpu >= this.dp.workers + 1) fail('ENODEV');
      if (this.valueSize === 8 && (word(4) | 0) > 0) fail('EOPNOTSUPP', 'cpumap programs (bpf_cpumap_val.bpf_prog) are not supported by the emulator');
    }
    if (this.type === 'devmap_hash') {
      // __dev_map_hash_update_elem: an entry names a device (ifindex 0 is none: -EINVAL).
      if (flags > 2 || word(0) === 0) fail('EINVAL');
      if (this.valueSize === 8 && (word(4) | 0) > 0) fail('EOPNOTSUPP', 'devmap programs (bpf_devmap_val.bpf_prog) are not supported by the emulator');
    }
    const v = this.scratch + ((this.keySize + 7) & ~7);
    values.forEach((x, c) => this.dp.bytes().set(x, v + c * this.stride));
    const r = this.ex.mapUpdate(this.record, k, v, BigInt(flags), 0, 1);
    if (r < 0) fail(ERRNO[-r] ?? 'EINVAL');
  }

  /** BPF_MAP_DELETE_ELEM (arrays, queues and stacks: EINVAL; bloom filters: EOPNOTSUPP). */
  delete(key: Uint8Array): void {
    const k = this.putKey(key);
    if (this.type === 'bloom_filter') fail('EOPNOTSUPP');
    if (this.type === 'cgroup_array') {
      // fd_array_map_delete_elem: E2BIG past the end, ENOENT for an empty slot.
      const index = new DataView(key.buffer, key.byteOffset).getUint32(0, true);
      if (index >= this.maxEntries) fail('E2BIG');
      const at = (this.values + index * this.stride) >>> 2;
      if (Atomics.exchange(this.dp.words(), at, 0) === 0) fail('ENOENT');
      return;
    }
    const r = this.ex.mapDelete(this.record, k, 0);
    if (r < 0) fail(ERRNO[-r] ?? 'EINVAL');
  }

  /**
   * BPF_MAP_LOOKUP_AND_DELETE_ELEM: a queue's or stack's next value, taken (pop; no key),
   * or a hash map's element, deleted (per-CPU: one value per thread); undefined when there
   * is none (ENOENT). Other maps have no such operation (the kernel's ENOTSUPP).
   */
  lookupAndDelete(key: Uint8Array): Uint8Array | Uint8Array[] | undefined {
    const k = this.putKey(key);
    if (this.type === 'queue' || this.type === 'stack') return this.pushPop(A.QS_POP);
    if (this.type !== 'hash' && this.type !== 'percpu_hash' && this.type !== 'lru_hash' && this.type !== 'lru_percpu_hash') fail('ENOTSUPP');
    const v = this.lookup(key);
    if (v !== undefined) {
      const r = this.ex.mapDelete(this.record, k, 0);
      if (r < 0) fail(ERRNO[-r] ?? 'EINVAL');
    }
    return v;
  }

  /** Peek or pop on a queue, stack or bloom filter (the value to test already in the scratch): the value, or undefined (ENOENT). */
  private pushPop(op: number): Uint8Array | undefined {
    const r = this.ex.mapPushPop(this.record, this.scratch, op, 0n);
    if (r === -2) return undefined;
    if (r < 0) fail(ERRNO[-r] ?? 'EINVAL');
    return this.dp.bytes().slice(this.scratch, this.scratch + this.valueSize);
  }

  /** Every key, in storage order (arrays, sockmaps: 0..max_entries-1; queues, stacks, bloom filters and nkemu's always empty sockhashes have none). */
  keys(): Uint8Array[] {
    if (this.type === 'ringbuf' || this.type === 'sockhash' || KEYLESS.has(this.type)) return [];
    if (this.type === 'prog_array' || this.capacity === 0) return Array.from({ length: this.maxEntries }, (_, i) => new Uint8Array(new Uint32Array([i]).buffer));
    const dv = this.dp.view();
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const s = this.values + i * this.slotSize;
      if (dv.getUint32(s, true) === 1) out.push(this.dp.bytes().slice(s + A.MAP_SLOT_KEY, s + A.MAP_SLOT_KEY + this.keySize));
    }
    return out;
  }

  /** The inner-map template of a map of maps. */
  inner?: MapSpec['inner'];

  /**
   * Maps of maps: puts `inner` under `key` (BPF_MAP_UPDATE_ELEM with an inner map's fd);
   * it must match the template (EINVAL). Undefined deletes the entry.
   */
  setInner(key: Uint8Array, inner: BpfMap | undefined, flags = 0): void {
    if (this.type !== 'array_of_maps' && this.type !== 'hash_of_maps') fail('EINVAL');
    const t = this.inner!;
    if (inner) {
      const type = typeof t.type === 'number' ? TYPE_NAMES[t.type] : t.type;
      if (inner.type !== type || inner.keySize !== t.keySize || inner.valueSize !== t.valueSize || inner.maxEntries !== t.maxEntries) fail('EINVAL');
    }
    if (inner?.freed) fail('EBADF');
    const id = Array.from(key, (b) => b.toString(16).padStart(2, '0')).join('');
    if (!inner && this.type === 'hash_of_maps') {
      this.delete(key);
    } else {
      const v = new Uint8Array(new Uint32Array([inner?.record ?? 0]).buffer);
      const k = this.putKey(key);
      const at = this.scratch + ((this.keySize + 7) & ~7);
      this.dp.bytes().set(v, at);
      const r = this.ex.mapUpdate(this.record, k, at, BigInt(flags), 0, 1);
      if (r < 0) fail(ERRNO[-r] ?? 'EINVAL');
    }
    // The outer map holds the inner one until the entry changes or the outer map goes
    // (a program may still be reading it: its memory waits for a grace period anyway).
    const old = this.innerHeld.get(id);
    if (inner) { inner.hold(); this.innerHeld.set(id, inner); } else this.innerHeld.delete(id);
    old?.put();
  }

  /** Maps of maps: the inner map under `key`, if any (what user space's lookup names by id). */
  innerAt(key: Uint8Array): BpfMap | undefined {
    return this.innerHeld.get(Array.from(key, (b) => b.toString(16).padStart(2, '0')).join(''));
  }

  private perfRings: BpfMap[] = [];

  /**
   * Perf event arrays: opens a perf buffer of `pages` pages on every CPU slot (what
   * libbpf's perf_buffer__new does with one perf event per CPU); until then
   * bpf_perf_event_output fails with -ENOENT.
   */
  openPerfBuffer(pages = 4): void {
    if (this.type !== 'perf_event_array') fail('EINVAL');
    if (this.perfRings.length) fail('EBUSY');
    for (let i = 0; i < this.maxEntries; i++) {
      const ring = new BpfMap(this.dp, { name: `${this.name}.${i}`, type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: pages * 4096 });
      this.perfRings.push(ring);
      Atomics.store(this.dp.words(), (this.values + i * this.stride) >>> 2, ring.record);
    }
  }

  /** Perf event arrays: the samples written since the last call, with the CPU slot they went to. */
  drainPerf(): { cpu: number; data: Uint8Array }[] {
    return this.perfRings.flatMap((r, cpu) => r.drain().map((data) => ({ cpu, data })));
  }

  /** XSKMAP: puts an AF_XDP socket (its record) at `index`, or empties it (undefined). */
  setSocket(index: number, sock: { record: number } | undefined): void {
    if (this.freed) fail('EBADF');
    if (this.type !== 'xskmap') fail('EINVAL');
    if (!Number.isInteger(index) || index < 0 || index >= this.maxEntries) fail('E2BIG');
    Atomics.store(this.dp.words(), (this.values + index * this.stride) >>> 2, sock?.record ?? 0);
  }

  /**
   * CGROUP_ARRAY: puts a cgroup in slot `index` (what BPF_MAP_UPDATE_ELEM does with a cgroup
   * directory's fd), or empties it (undefined). The cgroup is named by its path in nkemu's
   * cgroup v2 hierarchy, which has one: its root, `/` (any other path: ENOENT, as opening a
   * directory that does not exist). As BPF_MAP_UPDATE_ELEM: flags other than BPF_ANY are
   * EINVAL, an index past the end E2BIG.
   */
  setCgroup(index: number, cgroup: string | undefined, flags = 0): void {
    if (this.freed) fail('EBADF');
    if (this.type !== 'cgroup_array' || flags !== 0) fail('EINVAL');
    if (!Number.isInteger(index) || index < 0 || index >= this.maxEntries) fail('E2BIG');
    if (cgroup !== undefined && cgroup !== '/') fail('ENOENT', `no cgroup '${cgroup}': nkemu has one, the root ('/')`);
    Atomics.store(this.dp.words(), (this.values + index * this.stride) >>> 2, cgroup === undefined ? 0 : A.CGROUP_ROOT);
  }

  /** What setSlot refuses: a freed map (EBADF), another type (EINVAL), an index past the end (E2BIG). */
  slotCheck(index: number): void {
    if (this.freed) fail('EBADF');
    if (this.type !== 'prog_array') fail('EINVAL');
    if (!Number.isInteger(index) || index < 0 || index >= this.maxEntries) fail('E2BIG');
  }

  /** PROG_ARRAY: puts a program (its record address) in slot `index`, or empties it (0); E2BIG past the end. */
  setSlot(index: number, record: number): void {
    this.slotCheck(index);
    Atomics.store(this.dp.words(), (this.values + index * this.stride) >>> 2, record);
  }

  /**
   * Ring buffer consumer (what user space reads from the mmapped ring): every committed
   * record since the last drain, in order; discarded ones skipped; stops at one still busy.
   */
  drain(): Uint8Array[] {
    if (this.type !== 'ringbuf') fail('EINVAL');
    const w = this.dp.words();
    const dv = this.dp.view();
    const out: Uint8Array[] = [];
    let cons = Atomics.load(w, (this.record + A.MAP_RB_CONS) >>> 2) >>> 0;
    const prod = Atomics.load(w, (this.record + A.MAP_RB_PROD) >>> 2) >>> 0;
    while (cons !== prod) {
      const at = this.values + (cons & (this.maxEntries - 1));
      const h = Atomics.load(w, at >>> 2) >>> 0;
      if (h & A.RB_BUSY) break;
      const len = h & ~(A.RB_BUSY | A.RB_DISCARD);
      if (!(h & A.RB_DISCARD)) out.push(this.dp.bytes().slice(at + A.RB_HDR, at + A.RB_HDR + len));
      cons = (cons + ((len + A.RB_HDR + 7) & ~7)) >>> 0;
      void dv;
    }
    Atomics.store(w, (this.record + A.MAP_RB_CONS) >>> 2, cons | 0);
    return out;
  }

  /** Frees the map's memory (after every program using it is gone). */
  free(): void {
    this.dp.retire(this.values, this.valuesSize);
    this.dp.retire(this.record, A.MAP_RECORD_SIZE);
    this.dp.release(this.scratch, this.scratchSize);
  }
}
