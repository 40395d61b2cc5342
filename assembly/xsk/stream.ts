// Moving descriptors across a ring between two threads (the AF_XDP ring discipline), for
// the ring stress test and the xsk bench: the producer writes sequence numbers, the
// consumer checks them. Both spin on a full/empty ring without blocking (no atomic.wait in
// Wasm), for at most `spins` empty rounds, then return how far they got.

import { DESC_ADDR, DESC_LEN, RING_ENTRIES, R_MASK } from "../abi/layout";
import { ringConsAvail, ringConsIndex, ringProdFree, ringProdIndex, ringRelease, ringSubmit } from "../ring/ring";

/** Produces descriptors `first .. first+total-1` (addr = sequence) in batches; returns how many went in. */
export function xskStreamProduce(ring: usize, first: u64, total: u32, batch: u32, spins: u32): u32 {
  let done: u32 = 0;
  let idle: u32 = 0;
  while (done < total) {
    const want = total - done < batch ? total - done : batch;
    const n = ringProdFree(ring, want);
    if (n == 0) { if (++idle > spins) break; continue; }
    idle = 0;
    const idx = ringProdIndex(ring);
    // Hoisted: the ring's geometry does not change (16-byte descriptors).
    const entries = ring + RING_ENTRIES;
    const mask = load<u32>(ring, R_MASK);
    for (let i: u32 = 0; i < n; i++) {
      const e = entries + (<usize>((idx + i) & mask) << 4);
      store<u64>(e, first + <u64>(done + i), DESC_ADDR);
      store<u32>(e, 64, DESC_LEN);
    }
    ringSubmit(ring, n);
    done += n;
  }
  return done;
}

let streamErrors: u32 = 0;

/** Errors (out-of-sequence descriptors) seen by the last xskStreamConsume. */
export function xskStreamErrors(): u32 { return streamErrors; }

/** Consumes `total` descriptors expecting `first, first+1, …`; returns how many it took. */
export function xskStreamConsume(ring: usize, first: u64, total: u32, batch: u32, spins: u32): u32 {
  let done: u32 = 0;
  let idle: u32 = 0;
  streamErrors = 0;
  while (done < total) {
    const n = ringConsAvail(ring, batch);
    if (n == 0) { if (++idle > spins) break; continue; }
    idle = 0;
    const idx = ringConsIndex(ring);
    const entries = ring + RING_ENTRIES;
    const mask = load<u32>(ring, R_MASK);
    for (let i: u32 = 0; i < n; i++) {
      if (load<u64>(entries + (<usize>((idx + i) & mask) << 4), DESC_ADDR) != first + <u64>(done + i)) streamErrors++;
    }
    ringRelease(ring, n);
    done += n;
  }
  return done;
}
