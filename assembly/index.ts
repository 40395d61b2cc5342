// The dataplane module: one .wasm, instantiated by every thread over one shared memory.
// Only batch-level entry points are exported (a JS->Wasm call per packet costs the
// whole per-packet budget).

export function abort(msg: usize, file: usize, line: u32, col: u32): void { unreachable(); }

/** First byte above the module's static data; the host allocates above it. */
export function heapBase(): usize { return __heap_base; }

/** Zeroes [addr, addr + len) (the host's allocator, for large blocks: memory.fill runs at memset speed). */
export function memZero(addr: usize, len: usize): void { memory.fill(addr, 0, len); }

// --- core dataplane exports (abi, rings, frames, xmit) ---
export * from "./abi/layout";
export * from "./abi/vm";
export * from "./abi/xsk";
export { poll, quiesce, txPush, rxPop, sinkDrop, pktgen, pktgenList } from "./dev/poll";
export { framesAlloc, framesFree, framesAvailable } from "./dev/frames";
export { netkitXmit } from "./dev/netkit";

// --- eBPF engine exports ---
export { vmRun, vmRunRepeat, vmRunShort, vmCheck, progRun, jitFallback, jitBatchFallback, jitTail } from "./ebpf/vm";
export { vmCall as vmHelper } from "./ebpf/vm";
export { testRunBatch } from "./ebpf/skb";
export { mapLookup, mapUpdate, mapDelete, mapPushPop } from "./ebpf/maps";
export { xskStreamProduce, xskStreamConsume, xskStreamErrors } from "./xsk/stream";
export { xskTxPass, xskZcTx, xskSendto, xskRecvfrom, xskPoll } from "./xsk/xsk";
export { xskRxDrop, xskAppStep } from "./xsk/app";
