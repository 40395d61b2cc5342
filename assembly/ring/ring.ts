// Single-producer single-consumer rings, AF_XDP-shaped (see abi/layout.ts for the box
// diagram). The verbs follow libxdp's xsk.h: the producer reserves and submits, the
// consumer peeks and releases; each returns how many entries it handled. Indexes run
// free and wrap at 2^32; the size is a power of two.

import {
  R_PRODUCER, R_CACHED_CONS, R_CONSUMER, R_CACHED_PROD, R_SIZE, R_MASK, R_ENTRY_SIZE, RING_ENTRIES,
} from "../abi/layout";

/** Address of entry `idx` (a free-running index). */
@inline export function ringEntry(r: usize, idx: u32): usize {
  return r + RING_ENTRIES + <usize>((idx & load<u32>(r, R_MASK)) * load<u32>(r, R_ENTRY_SIZE));
}

/**
 * Producer: how many of `nb` entries are free (up to nb). The consumer index is read
 * (atomically) only when the cached copy says there is not enough room.
 */
@inline export function ringProdFree(r: usize, nb: u32): u32 {
  const prod = load<u32>(r, R_PRODUCER);
  let free = load<u32>(r, R_CACHED_CONS) - prod;
  if (free >= nb) return nb;
  // cached_cons holds consumer + size, so "cached_cons - producer" is the free count.
  const cons = atomic.load<u32>(r + R_CONSUMER);
  store<u32>(r, cons + load<u32>(r, R_SIZE), R_CACHED_CONS);
  free = cons + load<u32>(r, R_SIZE) - prod;
  return free < nb ? free : nb;
}

/** Producer: the index of the first reserved entry (the current producer index). */
@inline export function ringProdIndex(r: usize): u32 {
  return load<u32>(r, R_PRODUCER);
}

/** Producer: publish `nb` entries written after ringProdIndex(). */
@inline export function ringSubmit(r: usize, nb: u32): void {
  atomic.store<u32>(r + R_PRODUCER, load<u32>(r, R_PRODUCER) + nb);
}

/** Consumer: how many entries (up to nb) are ready. */
@inline export function ringConsAvail(r: usize, nb: u32): u32 {
  const cons = load<u32>(r, R_CONSUMER);
  let avail = load<u32>(r, R_CACHED_PROD) - cons;
  if (avail == 0) {
    const prod = atomic.load<u32>(r + R_PRODUCER);
    store<u32>(r, prod, R_CACHED_PROD);
    avail = prod - cons;
  }
  return avail < nb ? avail : nb;
}

/** Consumer: the index of the first ready entry (the current consumer index). */
@inline export function ringConsIndex(r: usize): u32 {
  return load<u32>(r, R_CONSUMER);
}

/** Consumer: give `nb` entries back to the producer. */
@inline export function ringRelease(r: usize, nb: u32): void {
  atomic.store<u32>(r + R_CONSUMER, load<u32>(r, R_CONSUMER) + nb);
}

/** Batch producer for u32 entries from an array in memory; returns how many went in. */
export function ringProduceU32(r: usize, src: usize, nb: u32): u32 {
  const n = ringProdFree(r, nb);
  const idx = ringProdIndex(r);
  for (let i: u32 = 0; i < n; i++) store<u32>(ringEntry(r, idx + i), load<u32>(src + (<usize>i << 2)));
  ringSubmit(r, n);
  return n;
}
