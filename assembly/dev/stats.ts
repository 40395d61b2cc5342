// Per-thread device counters (the kernel's per-CPU stats): only the owning thread writes
// its block, the host sums blocks; so plain (non-atomic) adds are enough.

import { GLOBALS, G_COUNTERS, G_MAX_DEVICES, COUNTERS_SIZE, C_TX_DROPPED, C_RX_DROPPED } from "../abi/layout";

@inline export function counters(thread: u32, slot: u32): usize {
  return <usize>load<u32>(GLOBALS, G_COUNTERS) +
    <usize>((thread * load<u32>(GLOBALS, G_MAX_DEVICES) + slot) * COUNTERS_SIZE);
}

@inline export function bump(block: usize, index: u32, by: u64): void {
  const p = block + (<usize>index << 3);
  store<u64>(p, load<u64>(p) + by);
}

/** tx_dropped plus the reason's own counter. */
@inline export function txDrop(block: usize, reason: u32): void {
  bump(block, C_TX_DROPPED, 1);
  bump(block, reason, 1);
}

/** rx_dropped plus the reason's own counter (`n` frames, default one). */
@inline export function rxDrop(block: usize, reason: u32, n: u64 = 1): void {
  bump(block, C_RX_DROPPED, n);
  bump(block, reason, n);
}
