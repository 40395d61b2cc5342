/**
 * The host's side of the shared memory: lays out the globals, thread states, frame pools
 * and rings, allocates records, publishes device records by swap + generation (the
 * emulator's RCU), and reads counters. Packets never pass through here one at a time:
 * the host's own dataplane instance moves them in batches.
 */

import * as A from './abi.generated.js';
import { JitTable } from './ebpf/codegen/jit.js';
import { NetError } from './errors.js';
import { checkOptions, OPTION_RULES, WASM32_MAX_BYTES } from './options.js';
import { compileDataplane, createMemory, instantiateDataplane, type WasmSource } from './wasm.js';

/** A packet the slow-path stack dropped, with the kernel's skb drop reason and where. */
export interface StackDrop {
  tstampNs: bigint;
  netns: number;
  ifindex: number;
  len: number;
  mark: number;
  /** The kernel function that frees it (kfree_skb_reason's caller), e.g. ip6_rcv_core. */
  where: string;
  /** The SKB_DROP_REASON_* name without its prefix, e.g. IPV6DISABLED. */
  reason: string;
}
/** Stack drops kept between drains (beyond: not recorded, as a full trace ring loses records). */
const STACK_DROPS_MAX = 4096;

/** Where the virtual clock starts: one second after a boot (see bpf_ktime_get_ns). */
export const BOOT_NS = 1_000_000_000n;

/** The dataplane module's exports the host uses (raw bindings: numbers only). */
export interface DataplaneExports {
  heapBase(): number;
  memZero(addr: number, len: number): void;
  poll(thread: number, budget: number): number;
  quiesce(thread: number): number;
  txPush(slot: number, descs: number, n: number, wire: number): number;
  rxPop(slot: number, queue: number, out: number, n: number): number;
  sinkDrop(thread: number, slot: number): number;
  pktgen(thread: number, slot: number, tmpl: number, len: number, count: number, batch: number, flows: number, portOff: number, proto: number): number;
  pktgenList(thread: number, slot: number, list: number, n: number, start: number, count: number, batch: number): number;
  framesAlloc(thread: number, out: number, n: number): number;
  framesFree(thread: number, list: number, n: number): void;
  framesAvailable(thread: number): number;
  xskTxPass(thread: number, xs: number, zc: number): number;
  xskZcTx(thread: number, xs: number): number;
  xskSendto(thread: number, xs: number, msgFlags: number): number;
  xskRecvfrom(xs: number, msgFlags: number): number;
  xskPoll(thread: number, xs: number): number;
  xskRxDrop(xs: number, max: number): number;
  xskAppStep(thread: number, app: number): number;
}

export interface DataplaneOptions {
  /** Worker threads besides the host (thread 0). Default 0. */
  workers?: number;
  /**
   * Thread slots for AF_XDP applications in their own workers (after the dataplane
   * workers): they run their syscalls' kernel side (the copy TX pass) but no poll loop
   * and no BPF programs. Default 0.
   */
  appThreads?: number;
  /** Device slots (devices alive at once, all namespaces). Default 4096. */
  maxDevices?: number;
  /** Frames in each thread's pool, a power of two. Default 4096. */
  framesPerThread?: number;
  /** Bytes per frame, a power of two ≥ 2048. Default 4096. */
  frameSize?: number;
  /** Entries of each rx/tx ring, a power of two. Default 512. */
  ringSize?: number;
  /** Trace and capture ring entries per thread. Default 4096. */
  traceSlots?: number;
  /** Bytes kept of each captured frame, 0..65535. Default 2048. */
  captureSnaplen?: number;
  /**
   * Most bytes the shared memory may grow to (a multiple of 64 KiB is used), 16 MiB..4 GiB.
   * Default 4 GiB, the wasm32 limit. Requests that need more fail with NetError ENOMEM.
   */
  maxMemory?: number;
  /** The dataplane .wasm (URL, bytes or module). Default: the packaged release build. */
  wasm?: WasmSource;
  /**
   * Where the dataplane .wasm is served from, when the default (the package's own file,
   * found through `new URL(…, import.meta.url)`) is not where a bundler put it: e.g.
   * esbuild, which copies it only when imported (`import url from 'nkemu/dataplane.wasm'`
   * with the `file` loader). Same as `wasm` given a URL; `wasm` wins when both are set.
   */
  wasmUrl?: URL | string;
  /**
   * The dataplane worker script (the package's `nkemu/worker` entry, bundled on its own
   * for bundlers that do not follow `new Worker(new URL(…, import.meta.url))`, e.g.
   * esbuild). Default: the package's own `worker.js` beside it.
   */
  workerUrl?: URL | string;
  /** How long a worker may take to load and start before `create` rejects (ETIMEDOUT). Default 30000 ms. */
  workerTimeoutMs?: number;
}

const PAGE = 65536;
const LINE = A.CACHE_LINE;

function align(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/** Records waiting for every thread to pass the generation that retired them. */
interface Retired { addr: number; size: number; gen: number; then?: () => void }

export class Dataplane {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly exports: DataplaneExports;
  /** Every thread slot: the host (0), the dataplane workers, then the application threads. */
  readonly threads: number;
  /** Dataplane workers (threads 1..workers); percpu maps have workers + 1 CPUs. */
  readonly workers: number;
  /** First application thread slot (threads - appThreads). */
  readonly firstAppThread: number;
  readonly maxDevices: number;
  readonly framesPerThread: number;
  readonly frameSize: number;
  readonly ringSize: number;
  readonly traceSlots: number;
  readonly captureSnaplen: number;
  /** Scratch area of the host thread for descriptor batches. */
  readonly hostScratch: number;
  readonly scratchSize: number;
  /** The worker script and start timeout the worker pool uses (DataplaneOptions). */
  readonly workerUrl: URL | string | undefined;
  readonly workerTimeoutMs: number;

  private brk = 0;
  private readonly free = new Map<number, number[]>();
  private readonly retired: Retired[] = [];
  private u8!: Uint8Array;
  private dv!: DataView;
  private i32!: Int32Array;

  /** Most pages the shared memory may grow to (maxMemory). */
  readonly maxPages: number;

  private constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, exports: DataplaneExports, o: Required<Omit<DataplaneOptions, 'wasm' | 'wasmUrl' | 'workerUrl'>> & { workerUrl?: URL | string }) {
    this.maxPages = Math.floor(o.maxMemory / PAGE);
    this.module = module;
    this.memory = memory;
    this.exports = exports;
    this.threads = o.workers + 1 + o.appThreads;
    this.workers = o.workers;
    this.firstAppThread = o.workers + 1;
    this.maxDevices = o.maxDevices;
    this.framesPerThread = o.framesPerThread;
    this.frameSize = o.frameSize;
    this.ringSize = o.ringSize;
    this.traceSlots = o.traceSlots;
    this.captureSnaplen = o.captureSnaplen;
    this.workerUrl = o.workerUrl;
    this.workerTimeoutMs = o.workerTimeoutMs;
    this.scratchSize = 1024 * A.DESC_SIZE;
    this.refresh();
    if (exports.heapBase() > A.HOST_BASE) throw new Error('dataplane static data overlaps the host arena');
    this.brk = A.HOST_BASE;
    this.layout();
    this.hostScratch = this.thread(0).scratch;
  }

  static async create(opts: DataplaneOptions = {}): Promise<Dataplane> {
    // (Emulator.create checks its own options too; unknown keys are its business.)
    const { wasm, wasmUrl, ...rest } = opts;
    checkOptions({ ...rest, wasm, wasmUrl }, OPTION_RULES);
    const o = {
      workers: opts.workers ?? 0,
      appThreads: opts.appThreads ?? 0,
      maxDevices: opts.maxDevices ?? 4096,
      framesPerThread: opts.framesPerThread ?? 4096,
      frameSize: opts.frameSize ?? 4096,
      ringSize: opts.ringSize ?? 512,
      traceSlots: opts.traceSlots ?? 4096,
      captureSnaplen: opts.captureSnaplen ?? 2048,
      maxMemory: opts.maxMemory ?? WASM32_MAX_BYTES,
      workerUrl: opts.workerUrl,
      workerTimeoutMs: opts.workerTimeoutMs ?? 30_000,
    };
    const threads = o.workers + 1 + o.appThreads;
    // The fixed regions (frame pools, return rings, counters, trace and capture rings)
    // plus room for records and rings; the rest grows on demand up to maxMemory.
    const fixed = threads * (o.framesPerThread * (o.frameSize + 4) + threads * (o.framesPerThread * 4 + 256))
      + o.maxDevices * (4 + threads * A.COUNTERS_SIZE) + 2 * threads * o.traceSlots * (A.CAP_HEADER + o.captureSnaplen + A.TRACE_SIZE + 64)
      + threads * (A.BPF_AREA_SIZE + 1024 * A.DESC_SIZE + o.ringSize * 2 * A.RD_SIZE + 256 * A.PK_SIZE + 4096);
    const maxPages = Math.floor(o.maxMemory / PAGE);
    // At least the module's own minimum (asconfig initialMemory: 32 pages).
    const pages = Math.max(Math.ceil((A.HOST_BASE + fixed + o.frameSize * 2) / PAGE) + 64, 32);
    if (pages > maxPages) {
      throw new NetError('ENOMEM', `options workers, appThreads, framesPerThread, frameSize, maxDevices, traceSlots, captureSnaplen: the fixed regions need ${pages * PAGE} bytes, more than maxMemory (${maxPages * PAGE})`);
    }
    let memory: WebAssembly.Memory;
    try {
      memory = createMemory(pages, maxPages);
    } catch (e) {
      if (e instanceof RangeError) throw new NetError('ENOMEM', `cannot allocate ${pages * PAGE} bytes of shared memory: ${e.message}`);
      throw e;
    }
    const module = await compileDataplane(opts.wasm ?? opts.wasmUrl);
    const exports = await instantiateDataplane<DataplaneExports>(module, memory);
    return new Dataplane(module, memory, exports, o);
  }

  // ---- raw views -------------------------------------------------------------------

  /** Compiled eBPF programs in this thread's function table (freed slots are reused; see JitTable). */
  get jit(): JitTable {
    // (without workers this thread alone runs eBPF here: atomics need no lock)
    return (this.jitTable ??= new JitTable({ memory: this.memory, exports: this.exports, oneThread: this.workers === 0 }));
  }
  private jitTable: JitTable | undefined;

  private refresh(): void {
    const buf = this.memory.buffer as unknown as SharedArrayBuffer;
    if (this.u8?.buffer === buf && this.u8.byteLength === buf.byteLength) return;
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
    this.i32 = new Int32Array(buf);
  }

  bytes(): Uint8Array { this.refresh(); return this.u8; }
  view(): DataView { this.refresh(); return this.dv; }
  words(): Int32Array { this.refresh(); return this.i32; }

  // ---- allocation --------------------------------------------------------------------

  /** Zeroed, 64-byte aligned bytes in the shared memory (control plane only). */
  alloc(size: number, alignment = LINE): number {
    const sz = align(size, LINE);
    const list = this.free.get(sz);
    let addr: number | undefined;
    if (list?.length) {
      if (alignment <= LINE) addr = list.pop();
      else {
        // (a freed block of this size that has the alignment: UMEMs, frame pools)
        for (let i = list.length - 1; i >= 0; i--) {
          if (list[i]! % alignment === 0) { addr = list.splice(i, 1)[0]; break; }
        }
      }
    }
    // (memory above the arena's top was never handed out: wasm memory starts and grows zeroed)
    let fresh = false;
    if (addr !== undefined) this.freeBytes -= sz;
    if (addr === undefined) {
      fresh = true;
      addr = align(this.brk, alignment);
      const end = addr + sz;
      // (never the last line below 4 GiB: the datapath's u32 bounds, addr + len, would wrap to 0)
      if (end > WASM32_MAX_BYTES - LINE) throw new NetError('ENOMEM', `shared memory: ${end} bytes needed, past the wasm32 limit`);
      this.ensure(end);
      // (the gap an alignment leaves is free memory too: smaller records take it)
      if (addr > this.brk) this.release(this.brk, addr - this.brk);
      this.brk = end;
    }
    if (!fresh) {
      if (sz >= 1 << 16) this.exports.memZero(addr, sz);
      else this.bytes().fill(0, addr, addr + sz);
    }
    return addr;
  }

  /**
   * Grows the memory to hold `end` bytes (with some slack, within maxPages); ENOMEM,
   * with nothing changed, when it cannot.
   */
  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const havePages = have / PAGE;
    const need = Math.ceil((end - have) / PAGE);
    if (havePages + need > this.maxPages) throw new NetError('ENOMEM', `shared memory: ${end} bytes needed, maxMemory is ${this.maxPages * PAGE}`);
    // Slack (1/16 of what there is, at least 16 pages) so small records do not grow it one page at a time.
    const want = Math.min(this.maxPages - havePages, need + Math.max(16, havePages >> 4));
    try {
      this.memory.grow(want);
    } catch {
      try {
        this.memory.grow(need);
      } catch (e) {
        throw new NetError('ENOMEM', `shared memory cannot grow to ${end} bytes: ${(e as Error).message}`);
      }
    }
  }

  /** Bytes of shared memory in use now (the arena's top; freed records are reused below it). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  private freeBytes = 0;

  /** Bytes of the arena allocated and not freed (retired records waiting for a grace period count). */
  get liveBytes(): number {
    return this.brk - A.HOST_BASE - this.freeBytes;
  }

  /** The arena's top: bytes handed out so far, freed ones included (they are reused). */
  get arenaTop(): number {
    return this.brk;
  }

  release(addr: number, size: number): void {
    const sz = align(size, LINE);
    let list = this.free.get(sz);
    if (!list) this.free.set(sz, (list = []));
    list.push(addr);
    this.freeBytes += sz;
  }

  /** A ring of `size` entries of `entrySize` bytes (see abi: R_*). */
  allocRing(size: number, entrySize: number): number {
    const r = this.alloc(A.RING_ENTRIES + size * entrySize);
    const dv = this.view();
    dv.setUint32(r + A.R_SIZE, size, true);
    dv.setUint32(r + A.R_MASK, size - 1, true);
    dv.setUint32(r + A.R_ENTRY_SIZE, entrySize, true);
    dv.setUint32(r + A.R_CACHED_CONS, size, true);
    return r;
  }

  ringBytes(size: number, entrySize: number): number {
    return A.RING_ENTRIES + size * entrySize;
  }

  private readonly appThreadsInUse = new Set<number>();

  /** Claims a free application thread slot (undefined when all are taken). */
  claimAppThread(): number | undefined {
    for (let t = this.firstAppThread; t < this.threads; t++) {
      if (this.appThreadsInUse.has(t)) continue;
      this.appThreadsInUse.add(t);
      Atomics.store(this.words(), (this.thread(t).state + A.T_SEEN_GENERATION) >>> 2, this.generation);
      return t;
    }
    return undefined;
  }

  /** Gives an application thread slot back; it holds no record any more. */
  releaseAppThread(t: number): void {
    Atomics.store(this.words(), (this.thread(t).state + A.T_SEEN_GENERATION) >>> 2, 0x7fffffff);
    this.appThreadsInUse.delete(t);
  }

  // ---- layout ------------------------------------------------------------------------

  /** Address of a thread's state record and the regions it points at. */
  thread(t: number): { state: number; scratch: number; trace: number; capture: number; redirect: number; printk: number } {
    const dv = this.view();
    const state = dv.getUint32(A.GLOBALS + A.G_THREADS, true) + t * A.THREAD_SIZE;
    return {
      state,
      scratch: dv.getUint32(state + A.T_SCRATCH, true),
      trace: dv.getUint32(state + A.T_TRACE_RING, true),
      capture: dv.getUint32(state + A.T_CAPTURE_RING, true),
      redirect: dv.getUint32(state + A.T_REDIRECT_RING, true),
      printk: dv.getUint32(state + A.T_PRINTK_RING, true),
    };
  }

  private layout(): void {
    const n = this.threads;
    const devTable = this.alloc(this.maxDevices * 4);
    const counters = this.alloc(n * this.maxDevices * A.COUNTERS_SIZE);
    const threads = this.alloc(n * A.THREAD_SIZE);
    const poolBytes = this.framesPerThread * this.frameSize;
    const pools = this.alloc(n * poolBytes, this.frameSize);
    const g = A.GLOBALS;
    const dv = this.view();
    dv.setUint32(g + A.G_MAGIC, A.ABI_MAGIC, true);
    dv.setUint32(g + A.G_VERSION, A.ABI_VERSION, true);
    dv.setUint32(g + A.G_GENERATION, 1, true);
    dv.setUint32(g + A.G_MAX_DEVICES, this.maxDevices, true);
    dv.setUint32(g + A.G_DEV_TABLE, devTable, true);
    dv.setUint32(g + A.G_COUNTERS, counters, true);
    dv.setUint32(g + A.G_MAX_THREADS, n, true);
    dv.setUint32(g + A.G_FRAME_SIZE, this.frameSize, true);
    dv.setUint32(g + A.G_FRAMES_PER_THREAD, this.framesPerThread, true);
    dv.setUint32(g + A.G_POOL_BASE, pools, true);
    dv.setUint32(g + A.G_THREADS, threads, true);
    dv.setUint32(g + A.G_TRACE_SLOTS, this.traceSlots, true);
    dv.setUint32(g + A.G_CAPTURE_SNAPLEN, this.captureSnaplen, true);
    // The virtual clock starts at BOOT_NS, not 0: bpf_ktime_get_ns is never 0 (the kernel's
    // CLOCK_MONOTONIC counts from boot), and it only moves forward.
    dv.setBigUint64(g + A.G_CLOCK_NS, BOOT_NS, true);
    for (let t = 0; t < n; t++) {
      const ts = threads + t * A.THREAD_SIZE;
      const stack = this.alloc(this.framesPerThread * 4);
      const rings = this.alloc(n * 4);
      for (let s = 0; s < n; s++) {
        const r = s === t ? 0 : this.allocRing(this.framesPerThread, 4);
        this.view().setUint32(rings + s * 4, r, true);
      }
      const trace = this.allocRing(this.traceSlots, A.TRACE_SIZE);
      const capture = this.allocRing(this.traceSlots, align(A.CAP_HEADER + this.captureSnaplen, 8));
      const scratch = this.alloc(this.scratchSize);
      const bpf = this.alloc(A.BPF_AREA_SIZE);
      const v = this.view();
      new Uint8Array(this.memory.buffer, bpf, A.BPF_AREA_SIZE).fill(0);
      v.setUint32(bpf + A.BPF_VM + A.VM_THREAD, t, true);
      v.setUint32(bpf + A.BPF_VM + A.VM_STACK, bpf + A.BPF_STACK, true);
      v.setUint32(ts + A.T_BPF, bpf, true);
      v.setUint32(ts + A.T_REDIRECT_RING, this.allocRing(this.ringSize * 2, A.RD_SIZE), true);
      v.setUint32(ts + A.T_PRINTK_RING, this.allocRing(256, A.PK_SIZE), true);
      for (let i = 0; i < this.framesPerThread; i++) {
        v.setUint32(stack + i * 4, pools + t * poolBytes + i * this.frameSize, true);
      }
      v.setUint32(ts + A.T_FREE_TOP, this.framesPerThread, true);
      v.setUint32(ts + A.T_FREE_STACK, stack, true);
      v.setUint32(ts + A.T_RETURN_RINGS, rings, true);
      v.setUint32(ts + A.T_TRACE_RING, trace, true);
      v.setUint32(ts + A.T_CAPTURE_RING, capture, true);
      v.setUint32(ts + A.T_SCRATCH, scratch, true);
      // An application thread slot holds nothing until an application runs on it.
      if (t >= this.firstAppThread) v.setUint32(ts + A.T_SEEN_GENERATION, 0x7fffffff, true);
    }
  }

  // ---- publication (swap + generation) -----------------------------------------------

  get generation(): number {
    return Atomics.load(this.words(), (A.GLOBALS + A.G_GENERATION) >>> 2);
  }

  /** Stores a word that the dataplane reads, atomically, and bumps the generation. */
  publishWord(addr: number, value: number, retire?: { addr: number; size: number }): void {
    const w = this.words();
    Atomics.store(w, addr >>> 2, value);
    const gen = Atomics.add(w, (A.GLOBALS + A.G_GENERATION) >>> 2, 1) + 1;
    if (retire && retire.addr !== 0) this.retired.push({ ...retire, gen });
    this.reclaim();
  }

  /** The device record address published for `slot` (0 = none). */
  deviceRecord(slot: number): number {
    const table = this.view().getUint32(A.GLOBALS + A.G_DEV_TABLE, true);
    // (>>> 0: an address, unsigned past 2 GiB where the Int32Array reads it negative)
    return Atomics.load(this.words(), (table + slot * 4) >>> 2) >>> 0;
  }

  /** Publishes a new device record for `slot` (0 removes it) and retires the old one. */
  publishDevice(slot: number, record: number): void {
    const table = this.view().getUint32(A.GLOBALS + A.G_DEV_TABLE, true);
    const old = this.deviceRecord(slot);
    this.publishWord(table + slot * 4, record, { addr: old, size: A.DEV_SIZE });
  }

  /** Publishes a thread's poll list (device slots it services). */
  publishPollList(thread: number, slots: readonly number[]): void {
    const list = this.alloc(A.PL_SLOTS + slots.length * 4);
    const dv = this.view();
    dv.setUint32(list + A.PL_COUNT, slots.length, true);
    slots.forEach((s, i) => dv.setUint32(list + A.PL_SLOTS + i * 4, s, true));
    const state = this.thread(thread).state;
    const old = dv.getUint32(state + A.T_POLL_LIST, true);
    const oldCount = old ? dv.getUint32(old + A.PL_COUNT, true) : 0;
    this.publishWord(state + A.T_POLL_LIST, list, { addr: old, size: A.PL_SLOTS + oldCount * 4 });
  }

  /**
   * Retires a record that the dataplane may still be reading (freed after a grace period).
   * The generation moves on first: the record is freed once every worker has quiesced
   * after this call (one that quiesced before it may have picked the record up since).
   */
  retire(addr: number, size: number): void {
    if (addr === 0) return;
    const gen = Atomics.add(this.words(), (A.GLOBALS + A.G_GENERATION) >>> 2, 1) + 1;
    this.retired.push({ addr, size, gen });
    this.reclaim();
  }

  /**
   * Frees retired records every worker has moved past. The host (thread 0) runs its
   * dataplane calls to completion before returning to JavaScript, so it never holds
   * a stale pointer here.
   */
  reclaim(): void {
    if (this.retired.length === 0) return;
    let min = this.generation;
    for (let t = 1; t < this.threads; t++) {
      min = Math.min(min, Atomics.load(this.words(), (this.thread(t).state + A.T_SEEN_GENERATION) >>> 2));
    }
    for (let i = 0; i < this.retired.length; ) {
      const r = this.retired[i]!;
      if (r.gen <= min) {
        this.retired.splice(i, 1);
        if (r.addr !== 0) this.release(r.addr, r.size);
        r.then?.();
      } else {
        i++;
      }
    }
  }

  /** Runs `fn` once every worker has passed the current generation. */
  afterGrace(fn: () => void): void {
    const gen = Atomics.add(this.words(), (A.GLOBALS + A.G_GENERATION) >>> 2, 1) + 1;
    this.retired.push({ addr: 0, size: 0, gen, then: fn });
    this.reclaim();
  }

  /** Frees the frames still sitting in a descriptor ring that nobody will consume any more. */
  freeRingFrames(ring: number): void {
    const list = this.hostScratch;
    let n = 0;
    const flush = (): void => { this.exports.framesFree(0, list, n); n = 0; };
    this.drainRing(ring, (e) => {
      this.view().setUint32(list + n * 4, Number(this.view().getBigUint64(e + A.DESC_ADDR, true)), true);
      if (++n === 256) flush();
    });
    flush();
  }

  /** Records still waiting for a grace period. */
  get pendingRetired(): number {
    return this.retired.length;
  }

  // ---- counters ----------------------------------------------------------------------

  /** Sum over threads of every counter of a device slot (C_* indexes). */
  counters(slot: number): bigint[] {
    const dv = this.view();
    const base = dv.getUint32(A.GLOBALS + A.G_COUNTERS, true);
    const out = new Array<bigint>(A.COUNTERS_COUNT).fill(0n);
    for (let t = 0; t < this.threads; t++) {
      const block = base + (t * this.maxDevices + slot) * A.COUNTERS_SIZE;
      for (let c = 0; c < A.COUNTERS_COUNT; c++) out[c]! += dv.getBigUint64(block + c * 8, true);
    }
    return out;
  }

  /** Address of thread `t`'s counter block for a slot (the host bumps only thread 0's). */
  countersAddr(t: number, slot: number): number {
    const base = this.view().getUint32(A.GLOBALS + A.G_COUNTERS, true);
    return base + (t * this.maxDevices + slot) * A.COUNTERS_SIZE;
  }

  /** Zeroes a slot's counters in every thread's block (a new device in a reused slot). */
  clearCounters(slot: number): void {
    const base = this.view().getUint32(A.GLOBALS + A.G_COUNTERS, true);
    for (let t = 0; t < this.threads; t++) {
      const block = base + (t * this.maxDevices + slot) * A.COUNTERS_SIZE;
      this.bytes().fill(0, block, block + A.COUNTERS_SIZE);
    }
  }

  /** Adds to a counter from the host thread's block (host-side events such as stack rx drops). */
  bumpCounter(slot: number, index: number, by = 1n): void {
    const dv = this.view();
    const at = dv.getUint32(A.GLOBALS + A.G_COUNTERS, true) + slot * A.COUNTERS_SIZE + index * 8;
    dv.setBigUint64(at, dv.getBigUint64(at, true) + by, true);
  }

  // ---- virtual clock and tracing ------------------------------------------------------

  get clockNs(): bigint {
    return this.view().getBigUint64(A.GLOBALS + A.G_CLOCK_NS, true);
  }

  set clockNs(v: bigint) {
    this.view().setBigUint64(A.GLOBALS + A.G_CLOCK_NS, v, true);
  }

  /** AF_XDP applications running in their own workers on this dataplane (XskApp): close stops them. */
  readonly apps = new Set<{ stop(): Promise<unknown> }>();

  /**
   * The flow hash's key (the kernel's hashrnd; assembly/dev/flowhash.ts) from `seed`: the
   * same seed hashes every flow alike, another seed differently.
   */
  setHashKey(seed: number): void {
    let x = BigInt.asUintN(64, BigInt(seed >>> 0) * 0x9e3779b97f4a7c15n + 0x68617368726e64n);
    const next = (): bigint => {
      // splitmix64
      x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
      let z = x;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      return z ^ (z >> 31n);
    };
    this.view().setBigUint64(A.GLOBALS + A.G_HASH_KEY, next(), true);
    this.view().setBigUint64(A.GLOBALS + A.G_HASH_KEY + 8, next(), true);
    this.rnd = next();
  }

  /** splitmix64's state for randomU32 (seeded with the flow hash's key by setHashKey). */
  private rnd = 0x6e6b656d75n;

  /**
   * The emulator's get_random_u32 (a bloom filter's hash seed): a splitmix64 stream from
   * the emulator's seed, so one seed gives the same maps every run.
   */
  randomU32(): number {
    this.rnd = BigInt.asUintN(64, this.rnd + 0x9e3779b97f4a7c15n);
    let z = this.rnd;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return Number((z ^ (z >> 31n)) & 0xffffffffn);
  }

  /** Drops in the slow-path stack while tracing is on (the trace's host records, trace/trace.ts). */
  readonly stackDrops: StackDrop[] = [];
  /** Tracing is on: the stack records its drops in stackDrops. */
  tracing = false;
  /** Stack drops not recorded because stackDrops was full (reported by the tracer, never silent). */
  stackDropsLost = 0;

  setTrace(on: boolean): void {
    this.tracing = on;
    if (!on) this.stackDrops.length = 0;
    const w = this.words();
    const i = (A.GLOBALS + A.G_TRACE_FLAGS) >>> 2;
    if (on) Atomics.or(w, i, A.TRACE_ON); else Atomics.and(w, i, ~A.TRACE_ON);
  }

  /** A drop of the slow-path stack, recorded while tracing is on. */
  stackDrop(d: Omit<StackDrop, 'tstampNs'>): void {
    if (!this.tracing) return;
    if (this.stackDrops.length < STACK_DROPS_MAX) this.stackDrops.push({ ...d, tstampNs: this.clockNs });
    else this.stackDropsLost++;
  }

  /** Drains a per-thread ring of fixed-size records (host is the only consumer). */
  drainRing(ring: number, each: (entry: number) => void): number {
    const w = this.words();
    const dv = this.view();
    const prod = Atomics.load(w, (ring + A.R_PRODUCER) >>> 2) >>> 0;
    let cons = dv.getUint32(ring + A.R_CONSUMER, true);
    const mask = dv.getUint32(ring + A.R_MASK, true);
    const esize = dv.getUint32(ring + A.R_ENTRY_SIZE, true);
    let n = 0;
    while (cons !== prod) {
      each(ring + A.RING_ENTRIES + (cons & mask) * esize);
      cons = (cons + 1) >>> 0;
      n++;
    }
    Atomics.store(w, (ring + A.R_CONSUMER) >>> 2, cons | 0);
    return n;
  }

  /** Records lost because a trace/capture ring was full. */
  ringLost(ring: number): number {
    return this.view().getUint32(ring + A.R_FLAGS, true);
  }

  /** True when a ring has nothing waiting. */
  ringEmpty(ring: number): boolean {
    const w = this.words();
    return Atomics.load(w, (ring + A.R_PRODUCER) >>> 2) === Atomics.load(w, (ring + A.R_CONSUMER) >>> 2);
  }
}
