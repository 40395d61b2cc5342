/**
 * Compiled programs in the dataplane's function table (abi JIT_*): a program's module is
 * instantiated against the thread's dataplane instance (the shared memory, its helper
 * dispatcher and access check) and its `run` goes into the program's slot, its `batch`
 * JIT_SLOTS further. Slots nobody installed hold the interpreter (and a batch entry that
 * runs no batch), so a thread that has not installed a program yet still runs it correctly.
 *
 * The host compiles; every other thread (the dataplane workers) instantiates the same
 * `WebAssembly.Module` against its own instance, told through `JitTable.peers`. Installs
 * reach a worker some time after the load: until then it runs the program on the
 * interpreter, with the same results.
 */

import * as A from '../../abi.generated.js';
import { CodegenError, compileProgram, type CompileOptions, type CompiledCode } from './compile.js';
import { compileList } from './list.js';

/** What the dataplane instance of a thread offers compiled code. */
export interface JitHost {
  memory: WebAssembly.Memory;
  exports: object;
  /** The thread this instance runs for (its run record and batch entries warm new code up); default 0, the host. */
  thread?: number;
  /** No other thread runs eBPF on this memory (a dataplane without workers): code is compiled with CompileOptions.oneThread. */
  oneThread?: boolean;
}

interface JitExports {
  table: WebAssembly.Table;
  vmHelper: (...a: number[]) => number;
  vmCheck: (...a: never[]) => number;
  mapLookup: (map: number, key: number, cpu: number) => number;
  mapUpdate: (map: number, key: number, value: number, flags: bigint, cpu: number, all: number) => number;
  mapDelete: (map: number, key: number, cpu: number) => number;
  vmRunShort: (rec: number, pc: number, depth: number) => number;
  jitTail: (rec: number, prog: number) => number;
  jitFallback: (rec: number) => number;
  jitBatchFallback: (rec: number, entries: number, n: number) => number;
}

/** A program's compiled code, or why it has none. */
export interface JitInfo {
  /** Function-table slot (the program record's PR_JIT); 0 when not compiled. */
  slot: number;
  /** Why the program runs on the interpreter (empty when compiled). */
  reason: string;
  /** Size of the generated module in bytes. */
  bytes: number;
  /** Time to generate, validate and instantiate the module, in milliseconds. */
  compileMs: number;
  /**
   * Memory accesses emitted without a run-time check (the load-time checks or the code
   * generator's own dataflow proved them in bounds), in the per-packet code and in the
   * batch loop (CompiledCode.unchecked); absent when not compiled.
   */
  unchecked?: { run: number; batch: number };
  /**
   * Set while the module compiles in the background (where synchronous compiles of its
   * size are refused): resolves to the final state once it is installed, or why not.
   */
  ready?: Promise<JitInfo>;
}

/** What a compiled module imports from the thread's dataplane instance. */
function jitImports(host: JitHost): WebAssembly.Imports {
  const ex = host.exports as JitExports;
  return { env: { memory: host.memory, helper: ex.vmHelper, check: ex.vmCheck, lookup: ex.mapLookup, update: ex.mapUpdate, delete: ex.mapDelete, short: ex.vmRunShort, tail: ex.jitTail } };
}

type BatchEntry = (rec: number, entries: number, n: number) => number;

/**
 * Warms a new module's batch code up: V8 compiles a Wasm function on its first call (lazily,
 * with its baseline compiler), which made a program's first batch about 50 times slower
 * than later ones (`npm run bench -- xmit`, "first call"); after this, about 2 times (the
 * baseline code until V8 optimizes it; running it more here to tier it up would cost an
 * optimizing compile for every program loaded, run or not). One call over the thread's
 * batch entries with every entry marked finished (VM_BATCH_SKIP: a list's later program
 * leaves them as they are) compiles the entry and loop functions without running the
 * program: nothing but the record's executed count is written (plus 0), and the entries'
 * fault words and the record's budget get their values back. Only between dataplane calls
 * on this thread (the record and entries are the thread's). The per-packet `run` is not
 * warmed: every call of it runs the program.
 */
function warmBatch(host: JitHost, batch: BatchEntry): void {
  const buf = host.memory.buffer;
  const dv = new DataView(buf);
  const threads = dv.getUint32(A.GLOBALS + A.G_THREADS, true);
  const t = host.thread ?? 0;
  if (threads === 0 || t >= dv.getUint32(A.GLOBALS + A.G_MAX_THREADS, true)) return;
  const area = dv.getUint32(threads + t * A.THREAD_SIZE + A.T_BPF, true);
  if (area === 0) return;
  const rec = area + A.BPF_VM;
  const entries = area + A.BPF_BATCH;
  const budget = dv.getUint32(rec + A.VM_BUDGET, true);
  const faults = new Uint32Array(A.BPF_BATCH_MAX);
  for (let i = 0; i < A.BPF_BATCH_MAX; i++) {
    const at = entries + i * A.BE_SIZE + A.BE_FAULT;
    faults[i] = dv.getUint32(at, true);
    dv.setUint32(at, A.VM_FAULT_READ, true);
  }
  dv.setUint32(rec + A.VM_BUDGET, 0xffffffff, true);
  try {
    batch(rec, entries, A.BPF_BATCH_MAX | A.VM_BATCH_SKIP);
  } finally {
    dv.setUint32(rec + A.VM_BUDGET, budget, true);
    for (let i = 0; i < A.BPF_BATCH_MAX; i++) dv.setUint32(entries + i * A.BE_SIZE + A.BE_FAULT, faults[i]!, true);
  }
}

function setSlot(host: JitHost, slot: number, inst: WebAssembly.Instance): void {
  warmBatch(host, inst.exports.batch as BatchEntry);
  const table = (host.exports as JitExports).table;
  // The batch entry first: a packet that finds the new `run` may find its `batch` too.
  table.set(slot + A.JIT_SLOTS, inst.exports.batch as BatchEntry);
  table.set(slot, inst.exports.run as (rec: number) => number);
}

/** Instantiates a compiled module against one thread's dataplane instance and installs it. */
export function installJit(host: JitHost, slot: number, module: WebAssembly.Module): void {
  setSlot(host, slot, new WebAssembly.Instance(module, jitImports(host)));
}

/** Whether `slot` holds compiled code in this thread's table (not the interpreter). */
export function jitInstalled(host: JitHost, slot: number): boolean {
  const ex = host.exports as JitExports;
  return slot >= A.JIT_BASE && slot < A.JIT_SLOTS && ex.table.get(slot) !== ex.jitFallback;
}

/** Puts the interpreter back into a slot. */
export function uninstallJit(host: JitHost, slot: number): void {
  const ex = host.exports as JitExports;
  ex.table.set(slot, ex.jitFallback);
  ex.table.set(slot + A.JIT_SLOTS, ex.jitBatchFallback);
}

/**
 * The other threads' tables: told of every slot the host installs or releases, after the
 * host's own table changed. Delivery may be asynchronous (a worker installs when its
 * message arrives); it must keep the order of calls for each thread.
 */
export interface JitPeers {
  install(slot: number, module: WebAssembly.Module): void;
  /** Resolves once every peer has put the interpreter back (rejects if one cannot). */
  uninstall(slot: number): Promise<unknown>;
}

/**
 * The host's slot allocator. A freed slot is handed out again once every thread's table
 * holds the interpreter there: at once on the host, after every worker acknowledged its
 * uninstall otherwise (until then a worker could still run the old code for a program
 * record that names the slot). A peer that fails to uninstall keeps the slot out of use.
 */
export class JitTable {
  private next = A.JIT_BASE;
  private readonly free: number[] = [];
  /** Slots released whose peers have not all acknowledged the uninstall yet. */
  private draining = 0;
  /** Modules by slot, for threads that install them later. */
  readonly modules = new Map<number, WebAssembly.Module>();
  /** The worker threads' tables (set by the worker pool); none without workers. */
  peers: JitPeers | undefined;

  /** `reuse`: hand freed slots out again; `end`: one past the last slot to hand out (the table's size, JIT_SLOTS). */
  constructor(private readonly host: JitHost, private readonly reuse = true, private readonly end = A.JIT_SLOTS) {}

  /** Slots holding compiled code now, and slots waiting for their peers to let go. */
  get inUse(): { installed: number; draining: number; free: number; highWater: number } {
    return { installed: this.modules.size, draining: this.draining, free: this.free.length, highWater: this.next - A.JIT_BASE };
  }

  /** Compiles `insns` and installs them in a new slot; on failure says why (slot 0). */
  compile(insns: Uint8Array, o: CompileOptions = {}): JitInfo {
    return this.build(() => compileProgram(insns, this.host.oneThread ? { ...o, oneThread: true } : o));
  }

  /**
   * Compiles a program list's module (list.ts: each program with the options it was
   * compiled with) and installs it in a new slot; on failure says why (slot 0).
   */
  compileList(programs: readonly { insns: Uint8Array; o: CompileOptions }[]): JitInfo {
    return this.build(() => compileList(programs.map((p) => (this.host.oneThread ? { insns: p.insns, o: { ...p.o, oneThread: true } } : p))));
  }

  private build(generate: () => CompiledCode): JitInfo {
    const t0 = performance.now();
    let bytes: Uint8Array;
    let unchecked: { run: number; batch: number };
    try {
      ({ bytes, unchecked } = generate());
    } catch (e) {
      if (e instanceof CodegenError) return { slot: 0, reason: e.message, bytes: 0, compileMs: 0 };
      throw e;
    }
    const slot = this.free.pop() ?? (this.next < this.end ? this.next++ : 0);
    if (slot === 0) return { slot: 0, reason: `all ${this.end - A.JIT_BASE} compiled-code slots are in use`, bytes: bytes.length, compileMs: 0 };
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
      installJit(this.host, slot, module);
    } catch (e) {
      if (!(e instanceof RangeError)) {
        this.free.push(slot);
        return { slot: 0, reason: `the engine refused the module: ${(e as Error).message}`, bytes: bytes.length, compileMs: 0 };
      }
      // Browsers refuse synchronous compiles of larger modules on the main thread: compile
      // in the background; the program runs on the interpreter until `ready` installs it.
      const ready = this.compileLater(slot, bytes, t0, unchecked);
      return { slot: 0, reason: 'compiling in the background (this thread may not compile a module this size synchronously)', bytes: bytes.length, compileMs: 0, ready };
    }
    this.modules.set(slot, module);
    this.peers?.install(slot, module);
    return { slot, reason: '', bytes: bytes.length, compileMs: performance.now() - t0, unchecked };
  }

  private async compileLater(slot: number, bytes: Uint8Array, t0: number, unchecked: { run: number; batch: number }): Promise<JitInfo> {
    try {
      const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
      setSlot(this.host, slot, await WebAssembly.instantiate(module, jitImports(this.host)));
      this.modules.set(slot, module);
      this.peers?.install(slot, module);
      return { slot, reason: '', bytes: bytes.length, compileMs: performance.now() - t0, unchecked };
    } catch (e) {
      this.free.push(slot);
      return { slot: 0, reason: `the engine refused the module: ${(e as Error).message}`, bytes: bytes.length, compileMs: 0 };
    }
  }

  /** Whether `slot` holds compiled code in the host's table. */
  installed(slot: number): boolean {
    return jitInstalled(this.host, slot);
  }

  /** Frees a program's slot: the host and every peer put the interpreter back. */
  release(slot: number): void {
    if (slot === 0 || !this.modules.has(slot)) return;
    this.modules.delete(slot);
    uninstallJit(this.host, slot);
    if (!this.peers) {
      if (this.reuse) this.free.push(slot);
      return;
    }
    this.draining++;
    this.peers.uninstall(slot).then(
      () => { this.draining--; if (this.reuse) this.free.push(slot); },
      () => { this.draining--; },
    );
  }
}
