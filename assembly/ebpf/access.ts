// Access checks and faults of a run (spec/ebpf.md §1): shared by the interpreter (vm.ts),
// the helpers (helpers.ts) and compiled programs (through the `vmCheck` export). Below both:
// it imports neither.

import {
  VM_REGS, VM_FAULT, VM_FAULT_PC, VM_STACK, VM_NREGIONS, VM_REGIONS, VM_REGION_SIZE, VM_STACK_SIZE, VM_REGION_WRITABLE, VM_REGION_SKB_CTX,
  VM_KVIEW, VM_KVIEW_SIZE, VM_ITER_KEY, VM_NPROG_REGIONS, VM_PROG_REGIONS, VM_NMAPS, VM_MAPS, MAP_TYPE, MAP_VALUES, MAP_MAX_ENTRIES, MAP_STRIDE, MAP_CAPACITY,
  MAP_SLOT_SIZE, MAP_COPIES, MAP_FLAGS, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, MAP_SLOT_KEY, MAP_KEY_SIZE,
} from "../abi/vm";
import { SKB_DATA, SKB_TSTAMP } from "../abi/layout";

/** A helper's argument register r`i` of the run (r1..r5). */
@inline export function arg(rec: usize, i: u32): u64 {
  return load<u64>(rec + VM_REGS + (<usize>i << 3));
}

/** Sets a helper's return value (r0). */
@inline export function ret(rec: usize, v: u64): void {
  store<u64>(rec + VM_REGS, v);
}

/** Ends the run with a fault at `pc`; returns the fault code. */
export function vmFault(rec: usize, code: u32, pc: u32): u32 {
  store<u32>(rec, code, VM_FAULT);
  store<u32>(rec, pc, VM_FAULT_PC);
  return code;
}

/**
 * The address of an access of `size` bytes at `a`, or 0 when no region allows it.
 * The stack is checked first (the commonest case), then the table.
 */
/** The region entry the last successful `vmCheck` matched (0 for the stack). */
export let lastRegion: usize = 0;

/** Whether a `size`-byte write at `off` into an __sk_buff (VM_REGION_SKB_CTX) stays in its writable part. */
@inline export function skbCtxWritable(off: u64, size: u32): bool {
  return off + <u64>size <= <u64>SKB_DATA || (off >= <u64>SKB_TSTAMP && off + <u64>size <= <u64>SKB_TSTAMP + 8);
}

/** The end of a region's part that stores may reach directly (the rest of an __sk_buff goes through `vmCheck`). */
@inline export function regionWriteHi(r: usize): u64 {
  const flags = load<u32>(r, 8);
  if ((flags & VM_REGION_WRITABLE) == 0) return 0;
  const lo = <u64>load<u32>(r);
  return (flags & VM_REGION_SKB_CTX) != 0 ? lo + <u64>SKB_DATA : <u64>load<u32>(r, 4);
}

@inline function inRegion(r: usize, a: u64, size: u32): bool {
  const lo = <u64>load<u32>(r);
  const hi = <u64>load<u32>(r, 4);
  return a >= lo && a <= hi && <u64>size <= hi - a;
}

/** `a` (in region `r`), or 0 when the region refuses the write. */
@inline function regionAccess(r: usize, a: u64, size: u32, write: bool): usize {
  const flags = load<u32>(r, 8);
  if (write && ((flags & VM_REGION_WRITABLE) == 0 || ((flags & VM_REGION_SKB_CTX) != 0 && !skbCtxWritable(a - <u64>load<u32>(r), size)))) return 0;
  lastRegion = r;
  return <usize>a;
}

export function vmCheck(rec: usize, a: u64, size: u32, write: bool): usize {
  lastRegion = 0;
  const stack = <u64>load<u32>(rec, VM_STACK);
  const top = stack + <u64>VM_STACK_SIZE;
  if (a >= stack && a <= top && <u64>size <= top - a) return <usize>a;
  const n = load<u32>(rec, VM_NREGIONS);
  for (let i: u32 = 0; i < n; i++) {
    const r = rec + VM_REGIONS + <usize>(i * VM_REGION_SIZE);
    if (inRegion(r, a, size)) return regionAccess(r, a, size, write);
  }
  // The program's own (up to 64): sorted by address and disjoint, so their ends rise with
  // their starts; the first whose end reaches a + size is the only one that may hold it.
  const np = load<u32>(rec, VM_NPROG_REGIONS);
  if (np != 0) {
    const t = <usize>load<u32>(rec, VM_PROG_REGIONS);
    const end = a + <u64>size;
    let lo: u32 = 0, hi = np;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (<u64>load<u32>(t + <usize>(mid * VM_REGION_SIZE), 4) < end) lo = mid + 1; else hi = mid;
    }
    if (lo < np) {
      const r = t + <usize>(lo * VM_REGION_SIZE);
      if (inRegion(r, a, size)) return regionAccess(r, a, size, write);
    }
  }
  // (bpf_for_each_map_elem's array key, read-only)
  const ik = <u64>(rec + VM_ITER_KEY);
  if (!write && a >= ik && a <= ik + 4 && <u64>size <= ik + 4 - a) return <usize>a;
  const kv = <u64>load<u32>(rec, VM_KVIEW);
  if (kv != 0 && !write && a >= kv && a <= kv + <u64>VM_KVIEW_SIZE && <u64>size <= kv + <u64>VM_KVIEW_SIZE - a) return <usize>a;
  return inInnerMap(rec, a, size, write) ? <usize>a : 0;
}

/** End of a map's value storage (arrays: entries × stride × copies; hash maps: their slots). */
function valuesEnd(map: usize): usize {
  const v = <usize>load<u32>(map, MAP_VALUES);
  const cap = load<u32>(map, MAP_CAPACITY);
  if (cap != 0) return v + <usize>(cap * load<u32>(map, MAP_SLOT_SIZE));
  return v + <usize>(load<u32>(map, MAP_MAX_ENTRIES) * load<u32>(map, MAP_STRIDE) * load<u32>(map, MAP_COPIES));
}

/** An access inside the values of `inner` (a map record, 0 for none), if it allows it. */
@inline function inValues(inner: usize, a: u64, size: u32, write: bool): i32 {
  if (inner == 0) return -1;
  const lo = <u64>load<u32>(inner, MAP_VALUES);
  const end = <u64>valuesEnd(inner);
  if (a >= lo && a <= end && <u64>size <= end - a) return !write || (load<u32>(inner, MAP_FLAGS) & 0x80) == 0 ? 1 : 0;
  return -1;
}

/** An access inside the values of a map that one of the program's maps-of-maps holds now. */
export function inInnerMap(rec: usize, a: u64, size: u32, write: bool): bool {
  const n = load<u32>(rec, VM_NMAPS);
  const list = <usize>load<u32>(rec, VM_MAPS);
  for (let i: u32 = 0; i < n; i++) {
    const outer = <usize>load<u32>(list + (<usize>i << 2));
    const t = load<u32>(outer, MAP_TYPE);
    const values = <usize>load<u32>(outer, MAP_VALUES);
    if (t == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
      const max = load<u32>(outer, MAP_MAX_ENTRIES);
      const stride = load<u32>(outer, MAP_STRIDE);
      for (let k: u32 = 0; k < max; k++) {
        const r = inValues(<usize>atomic.load<u32>(values + <usize>(k * stride)), a, size, write);
        if (r >= 0) return r == 1;
      }
    } else if (t == BPF_MAP_TYPE_HASH_OF_MAPS) {
      // (its used slots: state 1, the inner map's record after the key)
      const cap = load<u32>(outer, MAP_CAPACITY);
      const ss = load<u32>(outer, MAP_SLOT_SIZE);
      const at = <usize>MAP_SLOT_KEY + <usize>((load<u32>(outer, MAP_KEY_SIZE) + 7) & ~7);
      for (let k: u32 = 0; k < cap; k++) {
        const s = values + <usize>(k * ss);
        if (atomic.load<u32>(s) != 1) continue;
        const r = inValues(<usize>atomic.load<u32>(s + at), a, size, write);
        if (r >= 0) return r == 1;
      }
    }
  }
  return false;
}
