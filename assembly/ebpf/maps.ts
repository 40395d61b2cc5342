// eBPF maps in the shared memory (spec/ebpf.md §4): arrays (per-CPU, devmap, XSKMAP, cpumap,
// maps of maps), hashes (per-CPU, LRU, LPM, DEVMAP_HASH), ring buffers, queues, stacks and
// bloom filters, with the kernel's update flags and errors. Hash maps are open-addressed over a
// preallocated slot array (capacity a power of two ≥ 2 × max_entries); updates and deletes
// take the map's spinlock (short, never blocking in Wasm), lookups do not. A deleted
// element's slot is marked, not cleared, so a concurrent lookup never reads freed memory.

import {
  MAP_TYPE, MAP_KEY_SIZE, MAP_VALUE_SIZE, MAP_MAX_ENTRIES, MAP_VALUES, MAP_STRIDE, MAP_LOCK, MAP_COUNT,
  MAP_SLOT_SIZE, MAP_CAPACITY, MAP_COPIES, MAP_SLOT_KEY, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY,
  BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_NOEXIST, BPF_EXIST, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
  BPF_MAP_TYPE_LPM_TRIE, MAP_CLOCK, MAP_SLOT_USE, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_XSKMAP, BPF_MAP_TYPE_ARRAY_OF_MAPS,
  BPF_MAP_TYPE_HASH_OF_MAPS, MAP_RB_CONS, MAP_RB_PROD, RB_BUSY, RB_DISCARD, RB_HDR, BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK,
  MAP_QS_TAIL, MAP_QS_HEAD, BPF_MAP_TYPE_BLOOM_FILTER, MAP_BLOOM_SEED, MAP_BLOOM_MASK, MAP_BLOOM_HASHES, BPF_MAP_TYPE_DEVMAP_HASH,
  BPF_MAP_TYPE_CPUMAP, BPF_ANY, QS_PUSH, QS_POP, BPF_MAP_TYPE_SOCKHASH,
} from "../abi/vm";

const ENOENT: i32 = -2;
const E2BIG: i32 = -7;
const EEXIST: i32 = -17;
const EINVAL: i32 = -22;

@inline function isArray(t: u32): bool {
  return t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_DEVMAP || t == BPF_MAP_TYPE_XSKMAP
    || t == BPF_MAP_TYPE_ARRAY_OF_MAPS || t == BPF_MAP_TYPE_CPUMAP;
}

/** Arrays whose slots hold a target or nothing (0): an empty slot is no element, and deleting empties it. */
@inline function isTargetArray(t: u32): bool {
  return t == BPF_MAP_TYPE_DEVMAP || t == BPF_MAP_TYPE_XSKMAP || t == BPF_MAP_TYPE_CPUMAP;
}

/** Map-in-map: a lookup returns the inner map (its record), not a pointer to the slot. */
@inline function isOfMaps(t: u32): bool { return t == BPF_MAP_TYPE_ARRAY_OF_MAPS || t == BPF_MAP_TYPE_HASH_OF_MAPS; }
@inline function isLru(t: u32): bool { return t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH; }
@inline function isHash(t: u32): bool {
  return t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH || isLru(t) || t == BPF_MAP_TYPE_LPM_TRIE || t == BPF_MAP_TYPE_HASH_OF_MAPS
    || t == BPF_MAP_TYPE_DEVMAP_HASH;
}

const ENOSPC: i32 = -28;

/** Marks a slot used now (LRU order). */
@inline function touch(map: usize, slot: usize): void {
  const now = atomic.add<u32>(map + MAP_CLOCK, 1) + 1;
  store<u32>(slot, now, MAP_SLOT_USE);
}

/** LRU: deletes the least recently used element (the kernel's LRU is approximate too). */
function evict(map: usize): void {
  const cap = load<u32>(map, MAP_CAPACITY);
  const ss = load<u32>(map, MAP_SLOT_SIZE);
  const slots = <usize>load<u32>(map, MAP_VALUES);
  const now = load<u32>(map, MAP_CLOCK);
  let best: usize = 0;
  let age: u32 = 0;
  for (let i: u32 = 0; i < cap; i++) {
    const s = slots + <usize>(i * ss);
    if (atomic.load<u32>(s) != 1) continue;
    const a = now - load<u32>(s, MAP_SLOT_USE);
    if (best == 0 || a > age) { best = s; age = a; }
  }
  if (best != 0) {
    atomic.store<u32>(best, 2);
    store<u32>(map, load<u32>(map, MAP_COUNT) - 1, MAP_COUNT);
  }
}

/**
 * LPM trie keys are {prefixlen u32, data}: copies `key` to `out` with the data masked to
 * `plen` bits and the prefix length set to `plen` (the canonical form stored).
 */
function lpmMask(key: usize, out: usize, ks: u32, plen: u32): void {
  store<u32>(out, plen);
  for (let i: u32 = 4; i < ks; i++) {
    const bit = (i - 4) * 8;
    let b = load<u8>(key + i);
    if (bit >= plen) b = 0;
    else if (bit + 8 > plen) b &= <u8>(<u32>0xff << (8 - (plen - bit)));
    store<u8>(out + i, b);
  }
}

/**
 * A hash map's hash of a key: its bytes as little-endian 64-bit words (the last one
 * zero-extended), each mixed in with one multiply (`hashMix`), never 0. One multiply per 8
 * bytes: the compiled lookups (codegen/calls.ts inlineHashLookup) compute the same.
 */
@inline function hashKey(key: usize, n: u32): u32 {
  let h: u64 = HASH_SEED;
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) h = hashMix(h, load<u64>(key + i));
  if (i < n) {
    // the last 1..7 bytes, zero-extended (as 4-, 2- and 1-byte loads, in that order)
    const p = key + i;
    const r = n - i;
    let w: u64 = 0;
    let j: u32 = 0;
    if (r >= 4) { w = <u64>load<u32>(p); j = 4; }
    if (r - j >= 2) { w |= <u64>load<u16>(p + j) << (<u64>j << 3); j += 2; }
    if (j < r) w |= <u64>load<u8>(p + j) << (<u64>j << 3);
    h = hashMix(h, w);
  }
  return <u32>h | 1;
}

/** Hash seed and multiplier (the golden ratio's, as 64-bit fixed point). */
const HASH_SEED: u64 = 0xcbf29ce484222325;
const HASH_MUL: u64 = 0x9e3779b97f4a7c15;
@inline function hashMix(h: u64, w: u64): u64 {
  const x = (h ^ w) * HASH_MUL;
  return x ^ (x >> 32);
}

@inline function keyEq(a: usize, b: usize, n: u32): bool {
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  if (i + 4 <= n) { if (load<u32>(a + i) != load<u32>(b + i)) return false; i += 4; }
  for (; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** Slot `i` of the probe sequence of hash `h`. */
@inline function probe(map: usize, h: u32, i: u32): usize {
  const cap = load<u32>(map, MAP_CAPACITY);
  return <usize>load<u32>(map, MAP_VALUES) + <usize>(((h + i) & (cap - 1)) * load<u32>(map, MAP_SLOT_SIZE));
}

/** The slot holding `key`, or 0. */
function hashFind(map: usize, key: usize): usize {
  const ks = load<u32>(map, MAP_KEY_SIZE);
  const cap = load<u32>(map, MAP_CAPACITY);
  const h = hashKey(key, ks);
  for (let i: u32 = 0; i < cap; i++) {
    const s = probe(map, h, i);
    const st = atomic.load<u32>(s);
    if (st == 0) return 0;
    if (st == 1 && load<u32>(s, 4) == h && keyEq(s + MAP_SLOT_KEY, key, ks)) return s;
  }
  return 0;
}

@inline function valueOf(map: usize, slot: usize, cpu: u32): usize {
  const kr = (load<u32>(map, MAP_KEY_SIZE) + 7) & ~7;
  return slot + MAP_SLOT_KEY + <usize>kr + <usize>(cpu * load<u32>(map, MAP_STRIDE));
}

function lock(map: usize): void {
  while (atomic.cmpxchg<u32>(map + MAP_LOCK, 0, 1) != 0) {}
}

function unlock(map: usize): void {
  atomic.store<u32>(map + MAP_LOCK, 0);
}

/**
 * What bpf_redirect_map(map, key) redirects to, or 0 for nothing (the key is the u32 the
 * kernel's lookup functions take): a devmap's or XSKMAP's slot (an ifindex, a socket
 * record), a DEVMAP_HASH element's ifindex, a cpumap CPU + 1 (its slot set: qsize != 0).
 */
export function redirectTarget(map: usize, t: u32, key: u32): u32 {
  if (t == BPF_MAP_TYPE_DEVMAP_HASH) {
    // hashFind on the key's 4 bytes, without a key in memory: as hashKey computes it.
    const h = <u32>hashMix(HASH_SEED, <u64>key) | 1;
    const cap = load<u32>(map, MAP_CAPACITY);
    for (let i: u32 = 0; i < cap; i++) {
      const s = probe(map, h, i);
      const st = atomic.load<u32>(s);
      if (st == 0) return 0;
      if (st == 1 && load<u32>(s, 4) == h && load<u32>(s, MAP_SLOT_KEY) == key) return load<u32>(valueOf(map, s, 0));
    }
    return 0;
  }
  if (key >= load<u32>(map, MAP_MAX_ENTRIES)) return 0;
  const v = atomic.load<u32>(<usize>load<u32>(map, MAP_VALUES) + <usize>(key * load<u32>(map, MAP_STRIDE)));
  if (t == BPF_MAP_TYPE_CPUMAP) return v == 0 ? 0 : key + 1;
  return v;
}

/**
 * bpf_for_each_map_elem's walk over `map`: its positions (an array's entries, a hash map's
 * slots, in slot order: not the kernel's bucket order), 0 for a type it does not walk.
 */
export function mapIterCount(map: usize): u32 {
  const t = load<u32>(map, MAP_TYPE);
  if (t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY) return load<u32>(map, MAP_MAX_ENTRIES);
  if (t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH || isLru(t)) return load<u32>(map, MAP_CAPACITY);
  return 0;
}

/** The value (this CPU's) at walk position `i`, or 0 when no element is there. */
export function mapIterValue(map: usize, i: u32, cpu: u32): usize {
  const t = load<u32>(map, MAP_TYPE);
  if (cpu >= load<u32>(map, MAP_COPIES)) cpu = 0;
  if (isArray(t)) {
    const max = load<u32>(map, MAP_MAX_ENTRIES);
    return <usize>load<u32>(map, MAP_VALUES) + <usize>((cpu * max + i) * load<u32>(map, MAP_STRIDE));
  }
  const s = <usize>load<u32>(map, MAP_VALUES) + <usize>(i * load<u32>(map, MAP_SLOT_SIZE));
  return atomic.load<u32>(s) == 1 ? valueOf(map, s, cpu) : 0;
}

/** A hash map's key at walk position `i` (an element is there). */
export function mapIterKey(map: usize, i: u32): usize {
  return <usize>load<u32>(map, MAP_VALUES) + <usize>(i * load<u32>(map, MAP_SLOT_SIZE)) + MAP_SLOT_KEY;
}

/**
 * bpf_map_lookup_elem: the value's address (this CPU's for per-CPU maps), or 0. `cpu` with
 * bit 31 set is user space's lookup (thread 0), which an LRU map does not count as a use
 * (htab_lru_map_lookup_elem_sys leaves the element's reference bit alone).
 */
export function mapLookup(map: usize, key: usize, cpu: u32): usize {
  const t = load<u32>(map, MAP_TYPE);
  const sys = (cpu & 0x80000000) != 0;
  cpu &= 0x7fffffff;
  if (isOfMaps(t)) {
    const p = mapLookupSlot(map, key, cpu, t, sys);
    return p == 0 ? 0 : <usize>atomic.load<u32>(p);
  }
  return mapLookupSlot(map, key, cpu, t, sys);
}

function mapLookupSlot(map: usize, key: usize, cpu: u32, t: u32, sys: bool): usize {
  const thread = cpu;
  if (cpu >= load<u32>(map, MAP_COPIES)) cpu = 0;
  if (isArray(t)) {
    const k = load<u32>(key);
    const max = load<u32>(map, MAP_MAX_ENTRIES);
    if (k >= max) return 0;
    const stride = load<u32>(map, MAP_STRIDE);
    const at = <usize>load<u32>(map, MAP_VALUES) + <usize>((cpu * max + k) * stride);
    // A devmap, XSKMAP or cpumap slot holds a device, a socket or a CPU's queue size, or
    // nothing: an empty one is no element (__dev_map_lookup_elem, __xsk_map_lookup_elem and
    // __cpu_map_lookup_elem give NULL).
    if (isTargetArray(t) && atomic.load<u32>(at) == 0) return 0;
    return at;
  }
  if (t == BPF_MAP_TYPE_LPM_TRIE) {
    const ks = load<u32>(map, MAP_KEY_SIZE);
    const scratch = lpmScratch(map, thread);
    let plen = load<u32>(key);
    const max = (ks - 4) * 8;
    if (plen > max) plen = max;
    for (let p: i32 = <i32>plen; p >= 0; p--) {
      lpmMask(key, scratch, ks, <u32>p);
      const s = hashFind(map, scratch);
      if (s != 0) return valueOf(map, s, 0);
    }
    return 0;
  }
  if (isHash(t)) {
    const s = hashFind(map, key);
    if (s == 0) return 0;
    if (isLru(t) && !sys) touch(map, s);
    return valueOf(map, s, cpu);
  }
  return 0;
}

/**
 * LPM key buffers after the slots, two per thread (lookup, canonical key for updates):
 * lookups run without the lock, so threads must not share them.
 */
@inline function lpmScratch(map: usize, thread: u32): usize {
  const kr = (load<u32>(map, MAP_KEY_SIZE) + 7) & ~7;
  return <usize>load<u32>(map, MAP_VALUES) + <usize>(load<u32>(map, MAP_CAPACITY) * load<u32>(map, MAP_SLOT_SIZE)) + <usize>(thread * 2 * kr);
}

/** bpf_map_update_elem: 0 or -errno. `all` writes every CPU's copy (user space updates). */
export function mapUpdate(map: usize, key: usize, value: usize, flags: u64, cpu: u32, all: bool): i32 {
  const thread = cpu;
  if (flags > BPF_EXIST) return EINVAL;
  const t = load<u32>(map, MAP_TYPE);
  const vs = load<u32>(map, MAP_VALUE_SIZE);
  const copies = load<u32>(map, MAP_COPIES);
  const stride = load<u32>(map, MAP_STRIDE);
  if (cpu >= copies) cpu = 0;
  if (isArray(t)) {
    const k = load<u32>(key);
    const max = load<u32>(map, MAP_MAX_ENTRIES);
    if (k >= max) return E2BIG;
    if (flags == BPF_NOEXIST) return EEXIST;
    const base = <usize>load<u32>(map, MAP_VALUES);
    if (all) for (let c: u32 = 0; c < copies; c++) memory.copy(base + <usize>((c * max + k) * stride), value + <usize>(c * stride), vs);
    else memory.copy(base + <usize>((cpu * max + k) * stride), value, vs);
    return 0;
  }
  if (!isHash(t)) return EINVAL;
  // __dev_map_hash_update_elem refuses only BPF_NOEXIST on an element that exists: with
  // BPF_EXIST a new key is inserted all the same.
  if (t == BPF_MAP_TYPE_DEVMAP_HASH && flags == BPF_EXIST) flags = BPF_ANY;
  if (t == BPF_MAP_TYPE_LPM_TRIE) {
    const ks = load<u32>(map, MAP_KEY_SIZE);
    if (load<u32>(key) > (ks - 4) * 8) return EINVAL;
  }
  lock(map);
  if (t == BPF_MAP_TYPE_LPM_TRIE) {
    const kr = (load<u32>(map, MAP_KEY_SIZE) + 7) & ~7;
    const canon = lpmScratch(map, thread) + <usize>kr;
    lpmMask(key, canon, load<u32>(map, MAP_KEY_SIZE), load<u32>(key));
    key = canon;
  }
  let s = hashFind(map, key);
  if (s != 0 && flags == BPF_NOEXIST) { unlock(map); return EEXIST; }
  if (s == 0 && flags == BPF_EXIST) { unlock(map); return ENOENT; }
  if (s == 0) {
    if (load<u32>(map, MAP_COUNT) >= load<u32>(map, MAP_MAX_ENTRIES)) {
      if (isLru(t)) evict(map);
      else { unlock(map); return t == BPF_MAP_TYPE_LPM_TRIE ? ENOSPC : E2BIG; }
    }
    const ks = load<u32>(map, MAP_KEY_SIZE);
    const cap = load<u32>(map, MAP_CAPACITY);
    const h = hashKey(key, ks);
    for (let i: u32 = 0; i < cap; i++) {
      const c = probe(map, h, i);
      if (atomic.load<u32>(c) != 1) { s = c; break; }
    }
    store<u32>(s, h, 4);
    memory.copy(s + MAP_SLOT_KEY, key, ks);
    // the key's padding (to 8 bytes) zero, as the compiled lookups compare a slot's key a
    // word at a time (codegen/calls.ts inlineHashLookup), and the values
    const kr = (ks + 7) & ~7;
    memory.fill(s + MAP_SLOT_KEY + <usize>ks, 0, <usize>(kr - ks + copies * stride));
    store<u32>(map, load<u32>(map, MAP_COUNT) + 1, MAP_COUNT);
    if (all) for (let c: u32 = 0; c < copies; c++) memory.copy(valueOf(map, s, c), value + <usize>(c * stride), vs);
    else memory.copy(valueOf(map, s, cpu), value, vs);
    touch(map, s);
    atomic.store<u32>(s, 1); // published last: lookups see a whole element
  } else {
    if (all) for (let c: u32 = 0; c < copies; c++) memory.copy(valueOf(map, s, c), value + <usize>(c * stride), vs);
    else memory.copy(valueOf(map, s, cpu), value, vs);
    // An LRU update puts a new element in the old one's place (htab_lru_map_update_elem): the most recently used.
    if (isLru(t)) touch(map, s);
  }
  unlock(map);
  return 0;
}

/** bpf_map_delete_elem: 0 or -errno (arrays cannot delete: -EINVAL; devmap, XSKMAP and cpumap slots empty; sockmaps -EINVAL, sockhashes -ENOENT). */
export function mapDelete(map: usize, key: usize, thread: u32): i32 {
  const t = load<u32>(map, MAP_TYPE);
  if (isTargetArray(t)) {
    // dev_map_delete_elem, xsk_map_delete_elem, cpu_map_delete_elem: -EINVAL past the end,
    // else the slot is emptied (0 whether or not it held anything).
    const k = load<u32>(key);
    if (k >= load<u32>(map, MAP_MAX_ENTRIES)) return EINVAL;
    atomic.store<u32>(<usize>load<u32>(map, MAP_VALUES) + <usize>(k * load<u32>(map, MAP_STRIDE)), 0);
    return 0;
  }
  // A sockhash is always empty here (nkemu has no sockets to put in it): sock_hash_delete_elem's
  // -ENOENT; a sockmap's empty slot, or one past the end, is sock_map_delete_elem's -EINVAL.
  if (t == BPF_MAP_TYPE_SOCKHASH) return ENOENT;
  if (!isHash(t)) return EINVAL;
  lock(map);
  if (t == BPF_MAP_TYPE_LPM_TRIE) {
    const ks = load<u32>(map, MAP_KEY_SIZE);
    if (load<u32>(key) > (ks - 4) * 8) { unlock(map); return EINVAL; }
    const canon = lpmScratch(map, thread) + <usize>((ks + 7) & ~7);
    lpmMask(key, canon, ks, load<u32>(key));
    key = canon;
  }
  const s = hashFind(map, key);
  if (s == 0) { unlock(map); return ENOENT; }
  atomic.store<u32>(s, 2);
  store<u32>(map, load<u32>(map, MAP_COUNT) - 1, MAP_COUNT);
  unlock(map);
  return 0;
}

/**
 * bpf_ringbuf_reserve: room for `size` bytes, or 0 when the ring is full. A record never
 * wraps (the kernel maps the ring twice instead): one that would is preceded by a
 * discarded padding record up to the end.
 */
export function ringbufReserve(map: usize, size: u64): usize {
  const max = load<u32>(map, MAP_MAX_ENTRIES);
  if (size == 0 || size > <u64>(max - RB_HDR) || (size & 0xc0000000) != 0) return 0;
  const total = (<u32>size + RB_HDR + 7) & ~7;
  const data = <usize>load<u32>(map, MAP_VALUES);
  lock(map);
  const cons = atomic.load<u32>(map + MAP_RB_CONS);
  let prod = load<u32>(map, MAP_RB_PROD);
  let at = prod & (max - 1);
  let pad: u32 = 0;
  if (at + total > max) pad = max - at;
  if (prod + pad + total - cons > max) { unlock(map); return 0; }
  if (pad != 0) {
    store<u32>(data + at, (pad - RB_HDR) | RB_DISCARD);
    store<u32>(data + at, at, 4);
    prod += pad;
    at = 0;
  }
  store<u32>(data + at, <u32>size | RB_BUSY);
  store<u32>(data + at, at, 4);
  atomic.store<u32>(map + MAP_RB_PROD, prod + total);
  unlock(map);
  return data + at + RB_HDR;
}

/** bpf_ringbuf_submit / discard: the record at `p` (as reserve returned it) becomes visible. */
export function ringbufCommit(p: usize, discard: bool): void {
  const h = p - RB_HDR;
  const len = load<u32>(h) & ~(RB_BUSY | RB_DISCARD);
  atomic.store<u32>(h, discard ? len | RB_DISCARD : len);
}

const EOPNOTSUPP: i32 = -95;

/**
 * bpf_map_push_elem / pop_elem / peek_elem on a queue, stack or bloom filter (and the
 * syscall's update with no key, lookup-and-delete and lookup on them): 0 or -errno.
 * Push reads the value at `value`; pop and peek write it there (a bloom filter's peek
 * reads it: the element to test). Other maps: -EINVAL (the verifier keeps programs from
 * getting here; the syscall refuses first).
 */
export function mapPushPop(map: usize, value: usize, op: u32, flags: u64): i32 {
  const t = load<u32>(map, MAP_TYPE);
  if (t == BPF_MAP_TYPE_BLOOM_FILTER) {
    if (op == QS_POP) return EOPNOTSUPP;
    if (op == QS_PUSH && flags != BPF_ANY) return EINVAL;
    return bloomOp(map, value, op == QS_PUSH);
  }
  if (t != BPF_MAP_TYPE_QUEUE && t != BPF_MAP_TYPE_STACK) return EINVAL;
  const vs = load<u32>(map, MAP_VALUE_SIZE);
  const stride = load<u32>(map, MAP_STRIDE);
  const size = load<u32>(map, MAP_MAX_ENTRIES) + 1;
  const slots = <usize>load<u32>(map, MAP_VALUES);
  if (op == QS_PUSH) {
    // queue_stack_map_push_elem: BPF_EXIST replaces the oldest element when full.
    if ((flags & <u64>BPF_NOEXIST) != 0 || flags > BPF_EXIST) return EINVAL;
    lock(map);
    const head = load<u32>(map, MAP_QS_HEAD);
    let tail = load<u32>(map, MAP_QS_TAIL);
    const next = head + 1 >= size ? 0 : head + 1;
    if (next == tail) {
      if (flags != BPF_EXIST) { unlock(map); return E2BIG; }
      tail = tail + 1 >= size ? 0 : tail + 1;
      store<u32>(map, tail, MAP_QS_TAIL);
    }
    memory.copy(slots + <usize>(head * stride), value, vs);
    store<u32>(map, next, MAP_QS_HEAD);
    unlock(map);
    return 0;
  }
  lock(map);
  const head = load<u32>(map, MAP_QS_HEAD);
  const tail = load<u32>(map, MAP_QS_TAIL);
  if (head == tail) {
    // __queue_map_get / __stack_map_get clear the caller's buffer on an empty map.
    unlock(map);
    memory.fill(value, 0, vs);
    return ENOENT;
  }
  if (t == BPF_MAP_TYPE_QUEUE) {
    memory.copy(value, slots + <usize>(tail * stride), vs);
    if (op == QS_POP) store<u32>(map, tail + 1 >= size ? 0 : tail + 1, MAP_QS_TAIL);
  } else {
    const index = head == 0 ? size - 1 : head - 1;
    memory.copy(value, slots + <usize>(index * stride), vs);
    if (op == QS_POP) store<u32>(map, index, MAP_QS_HEAD);
  }
  unlock(map);
  return 0;
}

/**
 * The kernel's jhash (include/linux/jhash.h, Bob Jenkins' lookup3) over `n` bytes at `k`
 * (`words`: jhash2 over n / 4 u32 words, whose initial value counts bytes the same way):
 * bloom filters pick their bits with it, so the bits set here are the kernel's.
 */
function jhash(k: usize, n: u32, initval: u32): u32 {
  let a: u32 = 0xdeadbeef + n + initval;
  let b = a;
  let c = a;
  while (n > 12) {
    a += load<u32>(k); b += load<u32>(k, 4); c += load<u32>(k, 8);
    a -= c; a ^= rotl<u32>(c, 4); c += b;
    b -= a; b ^= rotl<u32>(a, 6); a += c;
    c -= b; c ^= rotl<u32>(b, 8); b += a;
    a -= c; a ^= rotl<u32>(c, 16); c += b;
    b -= a; b ^= rotl<u32>(a, 19); a += c;
    c -= b; c ^= rotl<u32>(b, 4); b += a;
    n -= 12;
    k += 12;
  }
  if (n == 0) return c;
  // The tail: jhash's byte switch, which on a little-endian CPU adds the bytes as the low
  // ones of three words (jhash2's word switch is the same for whole words).
  let w0: u32 = 0, w1: u32 = 0, w2: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const byte = <u32>load<u8>(k + <usize>i) << ((i & 3) << 3);
    if (i < 4) w0 |= byte; else if (i < 8) w1 |= byte; else w2 |= byte;
  }
  a += w0; b += w1; c += w2;
  c ^= b; c -= rotl<u32>(b, 14);
  a ^= c; a -= rotl<u32>(c, 11);
  b ^= a; b -= rotl<u32>(a, 25);
  c ^= b; c -= rotl<u32>(b, 16);
  a ^= c; a -= rotl<u32>(c, 4);
  b ^= a; b -= rotl<u32>(a, 14);
  c ^= b; c -= rotl<u32>(b, 24);
  return c;
}

/**
 * bloom_map_push_elem / bloom_map_peek_elem: hash i (0..nr_hash_funcs-1) of the value is
 * jhash (jhash2 for a whole number of words: the same function on little-endian words)
 * seeded with seed + i, masked to the bit array; push sets those bits, peek answers 0
 * when all are set (a false positive included), else -ENOENT.
 */
function bloomOp(map: usize, value: usize, push: bool): i32 {
  const vs = load<u32>(map, MAP_VALUE_SIZE);
  const seed = load<u32>(map, MAP_BLOOM_SEED);
  const mask = load<u32>(map, MAP_BLOOM_MASK);
  const n = load<u32>(map, MAP_BLOOM_HASHES);
  const bits = <usize>load<u32>(map, MAP_VALUES);
  for (let i: u32 = 0; i < n; i++) {
    const h = jhash(value, vs, seed + i) & mask;
    const word = bits + (<usize>(h >> 5) << 2);
    const bit: u32 = 1 << (h & 31);
    if (push) atomic.or<u32>(word, bit);
    else if ((atomic.load<u32>(word) & bit) == 0) return ENOENT;
  }
  return 0;
}
