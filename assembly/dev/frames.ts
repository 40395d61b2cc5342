// Frame pools: one per thread, owned by it. A frame goes back to its owner's free stack
// directly when the owner frees it, or through the owner's return ring for this thread
// otherwise (one SPSC ring per (owner, freeing thread), sized to hold the whole pool,
// so a return never fails).

import {
  GLOBALS, G_FRAME_SIZE, G_FRAMES_PER_THREAD, G_POOL_BASE, G_THREADS, G_MAX_THREADS,
  THREAD_SIZE, T_FREE_TOP, T_FREE_STACK, T_RETURN_RINGS,
} from "../abi/layout";
import {
  ringConsAvail, ringConsIndex, ringEntry, ringRelease, ringProdFree, ringProdIndex, ringSubmit,
} from "../ring/ring";

@inline export function threadState(thread: u32): usize {
  return <usize>load<u32>(GLOBALS, G_THREADS) + <usize>(thread * THREAD_SIZE);
}

@inline export function frameBase(addr: usize): usize {
  return addr & ~(<usize>load<u32>(GLOBALS, G_FRAME_SIZE) - 1);
}

@inline function frameOwner(base: usize): u32 {
  const shift = ctz(load<u32>(GLOBALS, G_FRAME_SIZE)) + ctz(load<u32>(GLOBALS, G_FRAMES_PER_THREAD));
  return <u32>((base - <usize>load<u32>(GLOBALS, G_POOL_BASE)) >> shift);
}

/** Moves every frame waiting in this thread's return rings onto its free stack. */
function reclaim(ts: usize, thread: u32): u32 {
  const rings = <usize>load<u32>(ts, T_RETURN_RINGS);
  const stack = <usize>load<u32>(ts, T_FREE_STACK);
  let top = load<u32>(ts, T_FREE_TOP);
  const threads = load<u32>(GLOBALS, G_MAX_THREADS);
  for (let t: u32 = 0; t < threads; t++) {
    if (t == thread) continue;
    const r = <usize>load<u32>(rings + (<usize>t << 2));
    const n = ringConsAvail(r, 0xffffffff);
    const idx = ringConsIndex(r);
    for (let i: u32 = 0; i < n; i++) {
      store<u32>(stack + (<usize>top << 2), load<u32>(ringEntry(r, idx + i)));
      top++;
    }
    ringRelease(r, n);
  }
  store<u32>(ts, top, T_FREE_TOP);
  return top;
}

/**
 * Copies 64 bytes in four 16-byte moves, no loop (V8 puts a stack check in every loop
 * round): a minimum-size frame's whole copy, or the head of a longer one.
 */
@inline export function copy64(dst: usize, src: usize): void {
  store<v128>(dst, load<v128>(src));
  store<v128>(dst, load<v128>(src, 16), 16);
  store<v128>(dst, load<v128>(src, 32), 32);
  store<v128>(dst, load<v128>(src, 48), 48);
}

/** Clears a frame's metadata (what allocating a fresh skb does). */
@inline export function zeroMeta(base: usize): void {
  const z = i32x4.splat(0);
  store<v128>(base, z, 0);
  store<v128>(base, z, 16);
  store<v128>(base, z, 32);
  store<v128>(base, z, 48);
}

/**
 * Pops up to n frames from this thread's pool into out[] (u32 frame bases, metadata
 * cleared); returns how many.
 */
export function framesAlloc(thread: u32, out: usize, n: u32): u32 {
  return framesTake(thread, out, n, true);
}

/**
 * framesAlloc; with `zero` false the metadata is left as the last user left it (the caller
 * clears it before anything reads it: pktgen's frames for a NIC, see nic.ts `freshMeta`).
 */
export function framesTake(thread: u32, out: usize, n: u32, zero: bool): u32 {
  const ts = threadState(thread);
  let top = load<u32>(ts, T_FREE_TOP);
  if (top < n) top = reclaim(ts, thread);
  const k = top < n ? top : n;
  const stack = <usize>load<u32>(ts, T_FREE_STACK);
  for (let i: u32 = 0; i < k; i++) {
    top--;
    const base = <usize>load<u32>(stack + (<usize>top << 2));
    if (zero) zeroMeta(base);
    store<u32>(out + (<usize>i << 2), <u32>base);
  }
  store<u32>(ts, top, T_FREE_TOP);
  return k;
}

/** One frame base from this thread's pool, or 0 when the pool is exhausted. */
export function frameAlloc(thread: u32): usize {
  const base = frameTake(thread);
  if (base != 0) zeroMeta(base);
  return base;
}

/** frameAlloc with the metadata left as the last user left it (see framesTake). */
export function frameTake(thread: u32): usize {
  const ts = threadState(thread);
  let top = load<u32>(ts, T_FREE_TOP);
  if (top == 0) {
    top = reclaim(ts, thread);
    if (top == 0) return 0;
  }
  top--;
  store<u32>(ts, top, T_FREE_TOP);
  return <usize>load<u32>(<usize>load<u32>(ts, T_FREE_STACK) + (<usize>top << 2));
}

/** Returns the frame holding `addr` to its owner. */
export function frameFree(thread: u32, addr: usize): void {
  const base = frameBase(addr);
  const owner = frameOwner(base);
  if (owner == thread) {
    const ts = threadState(thread);
    const top = load<u32>(ts, T_FREE_TOP);
    store<u32>(<usize>load<u32>(ts, T_FREE_STACK) + (<usize>top << 2), <u32>base);
    store<u32>(ts, top + 1, T_FREE_TOP);
    return;
  }
  returnFrame(thread, owner, base);
}

function returnFrame(thread: u32, owner: u32, base: usize): void {
  const r = <usize>load<u32>(<usize>load<u32>(threadState(owner), T_RETURN_RINGS) + (<usize>thread << 2));
  ringProdFree(r, 1); // cannot be full: the ring holds the owner's whole pool
  store<u32>(ringEntry(r, ringProdIndex(r)), <u32>base);
  ringSubmit(r, 1);
}

/** Frees n frames whose addresses (u32, any address inside the frame) are at list[]. */
export function framesFree(thread: u32, list: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) frameFree(thread, <usize>load<u32>(list + (<usize>i << 2)));
}

/** Number of free frames this thread holds right now (after reclaiming returns). */
export function framesAvailable(thread: u32): u32 {
  return reclaim(threadState(thread), thread);
}

/**
 * Frees the frames of n descriptors (at descs, DESC_SIZE apart). Frames of this thread's
 * pool go straight onto its free stack; others go back through return rings.
 */
export function framesFreeDescs(thread: u32, descs: usize, n: u32, descSize: u32): void {
  const ts = threadState(thread);
  const stack = <usize>load<u32>(ts, T_FREE_STACK);
  let top = load<u32>(ts, T_FREE_TOP);
  const mask = ~(<usize>load<u32>(GLOBALS, G_FRAME_SIZE) - 1);
  const shift = ctz(load<u32>(GLOBALS, G_FRAME_SIZE)) + ctz(load<u32>(GLOBALS, G_FRAMES_PER_THREAD));
  const pool = <usize>load<u32>(GLOBALS, G_POOL_BASE);
  for (let i: u32 = 0; i < n; i++) {
    const base = <usize>load<u32>(descs + <usize>(i * descSize)) & mask;
    const owner = <u32>((base - pool) >> shift);
    if (owner == thread) {
      store<u32>(stack + (<usize>top << 2), <u32>base);
      top++;
    } else {
      returnFrame(thread, owner, base);
    }
  }
  store<u32>(ts, top, T_FREE_TOP);
}
