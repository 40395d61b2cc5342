/** What the code generator is given (compile.ts) and what it returns. */

import * as A from '../../abi.generated.js';

export interface CodegenRegion {
  addr: number;
  len: number;
  writable: boolean;
}

/** A map the program names (its record address), as bpf_map_lookup_elem sees it. */
export interface CodegenMap {
  addr: number;
  type: number;
  maxEntries: number;
  /** Array maps: where element 0 is, and the distance between elements. */
  values: number;
  stride: number;
  /** Per-CPU maps: the number of copies (a thread past the last uses copy 0); 1 otherwise. */
  copies?: number;
  /** The key's and value's sizes (map calls other than array lookups run inline only when given). */
  keySize?: number;
  valueSize?: number;
  /** Hash maps: slots (a power of two) and the distance between them (hash lookups run inline when given). */
  capacity?: number;
  slotSize?: number;
}

/** A map as the code generator sees it, read from its record (abi MAP_*) in the shared memory. */
export function codegenMap(dv: DataView, addr: number): CodegenMap {
  const u32 = (off: number): number => dv.getUint32(addr + off, true);
  return {
    addr, type: u32(A.MAP_TYPE), maxEntries: u32(A.MAP_MAX_ENTRIES), values: u32(A.MAP_VALUES), stride: u32(A.MAP_STRIDE),
    copies: u32(A.MAP_COPIES), keySize: u32(A.MAP_KEY_SIZE), valueSize: u32(A.MAP_VALUE_SIZE),
    capacity: u32(A.MAP_CAPACITY), slotSize: u32(A.MAP_SLOT_SIZE),
  };
}

export interface CompileOptions {
  /**
   * Only this thread runs eBPF on this memory (a dataplane without workers): atomic
   * read-modify-writes (BPF_ATOMIC add, or, and, xor, xchg and their fetch forms) are plain
   * loads and stores, which nothing can tell apart here; cmpxchg stays atomic.
   */
  oneThread?: boolean;
  /**
   * Regions the program always has besides the context and the packet (its global data
   * and map values, fixed at load): checked inline as constants. Others still pass
   * through the general check.
   */
  regions?: readonly CodegenRegion[];
  /**
   * Generate the batch loop (`batch` runs the program over many packets in one call) for
   * this context: `skb` (tc: a writable __sk_buff) or `xdp` (a read-only xdp_md). It
   * copies the main function, so it roughly doubles the module and the time to generate
   * it. Without it, `batch` declines.
   */
  batch?: 'skb' | 'xdp';
  /**
   * The program passed the load-time checks (its context accesses and registers are as the
   * kernel's verifier allows): the per-packet entry's main function may then rely on what
   * bounds.ts proves, as the batch code does (accesses proven inside the context, the
   * packet's checked range or a map's element run unchecked). Needs `batch` (the context).
   */
  verified?: boolean;
  /**
   * With `verified`: per pc, 1 where the load-time checks proved the memory access in
   * bounds on every path (VerifyResult.provenAccesses): it runs unchecked in every function
   * and entry, as the kernel's JIT relies on its verifier.
   */
  proven?: Uint8Array;
  /**
   * The program's maps (fixed at load): calls naming one of them in r1 (a constant) run
   * inline or call the map code directly — lookups (array, per-CPU array and hash maps
   * inline, as the kernel's JIT inlines them), updates, deletes, and bpf_redirect_map into
   * a devmap or XSKMAP with constant flags.
   */
  maps?: readonly CodegenMap[];
}

/** A loop whose iterations are known on entry (Gen.countedLoop): `reg += step` until `reg != limit` (or `<`) fails. */

export interface CompiledCode {
  /** The module's bytes: imports env.memory, env.helper, env.check, env.lookup, env.update, env.delete, env.short, env.tail; exports `run` and `batch`. */
  bytes: Uint8Array;
  /** Wasm functions generated (one per subprogram). */
  functions: number;
  /** Basic blocks generated. */
  blocks: number;
  /** Loops whose trip count is known on entry (they run without budget tests when the budget covers them), over every function generated. */
  countedLoops: number;
  /** Of those, the ones whose copy runs rounds of iterations without their exit tests (layout.ts groupExits). */
  groupedLoops: number;
  /** Loads and stores in those rounds run unchecked where a round's test shows them inside the packet (layout.ts groupTest), counted per copy emitted. */
  roundPacketAccesses: number;
  /**
   * Memory accesses emitted without a run-time check because bounds.ts proved them inside
   * the context, the packet's checked range or a map element: in the per-packet entry's
   * main function (`run`, verified programs only) and in the batch loop.
   */
  unchecked: { run: number; batch: number };
}
