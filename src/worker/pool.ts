/**
 * The dataplane workers: worker_threads in Node, module Web Workers in browsers. Each
 * gets the compiled module and the shared memory, and a thread id (1..N; 0 is the host).
 */

import { wrap, releaseProxy, type Remote } from 'comlink';
import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { JitPeers } from '../ebpf/codegen/jit.js';
import type { JitEntry, WorkerApi } from './protocol.js';

interface Handle { api: Remote<WorkerApi>; terminate(): Promise<unknown> | void }

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

async function spawn(): Promise<Handle> {
  const here = import.meta.url;
  const fromTs = here.endsWith('.ts');
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    const { nodeEndpoint } = await import('./endpoint.js');
    const w = new Worker(new URL(fromTs ? './tsx-worker.mjs' : './worker.js', here));
    w.unref();
    return { api: wrap<WorkerApi>(nodeEndpoint(w as never)), terminate: () => w.terminate() };
  }
  const w = new Worker(new URL('./worker.js', here), { type: 'module' });
  return { api: wrap<WorkerApi>(w as never), terminate: () => w.terminate() };
}

export class WorkerPool implements JitPeers {
  private readonly dp: Dataplane;
  /** Workers that were sent `init`, in thread order (thread = index + 1). */
  private readonly workers: Handle[] = [];
  /** JIT requests not yet answered; the first failure is kept for `jitSettled`. */
  private readonly jitPending = new Set<Promise<unknown>>();
  private jitError: Error | undefined;

  private constructor(dp: Dataplane) {
    this.dp = dp;
  }

  /**
   * Spawns the workers. Each gets, with `init`, every compiled module the host holds at
   * that moment, and every later install or release after it (same port, same order), so
   * none is missed while the pool is starting.
   */
  static async start(dp: Dataplane): Promise<WorkerPool> {
    const pool = new WorkerPool(dp);
    dp.jit.peers = pool;
    try {
      for (let t = 1; t <= dp.workers; t++) {
        const h = await spawn();
        // Snapshot, send and register in one synchronous step: nothing can compile in between.
        const jit: JitEntry[] = [...dp.jit.modules];
        const ready = h.api.init(dp.module, dp.memory, t, jit);
        pool.workers.push(h);
        await ready;
      }
    } catch (e) {
      dp.jit.peers = undefined;
      for (const h of pool.workers) await h.terminate();
      throw e;
    }
    return pool;
  }

  /** JitPeers: every worker installs `module` in `slot` (asynchronously; see `jitSettled`). */
  install(slot: number, module: WebAssembly.Module): void {
    for (const h of this.workers) this.track(h.api.jitInstall(slot, module), `install slot ${slot}`);
  }

  /** JitPeers: every worker puts the interpreter back into `slot`. */
  uninstall(slot: number): void {
    for (const h of this.workers) this.track(h.api.jitUninstall(slot), `uninstall slot ${slot}`);
  }

  private track(p: Promise<unknown>, what: string): void {
    const q = p.then(
      () => undefined,
      (e: unknown) => { this.jitError ??= new Error(`dataplane worker: cannot ${what}: ${(e as Error).message ?? e}`); },
    ).finally(() => this.jitPending.delete(q));
    this.jitPending.add(q);
  }

  /** Resolves once every worker has handled every JIT request sent so far; throws the first failure. */
  async jitSettled(): Promise<void> {
    while (this.jitPending.size > 0) await Promise.all([...this.jitPending]);
    const e = this.jitError;
    this.jitError = undefined;
    if (e) throw e;
  }

  /** Whether each worker (thread 1..N, index 0..N-1) runs compiled code from `slot`. */
  jitInstalled(slot: number): Promise<boolean[]> {
    return Promise.all(this.workers.map((h) => h.api.jitInstalled(slot)));
  }

  /** Wakes every worker (new work or new configuration to pick up). */
  kick(): void {
    const w = this.dp.words();
    for (let t = 1; t <= this.dp.workers; t++) {
      const bell = (this.dp.thread(t).state + A.T_DOORBELL) >> 2;
      Atomics.add(w, bell, 1);
      Atomics.notify(w, bell);
    }
  }

  /** Waits (yielding to the event loop) until `done()` holds; throws after `timeoutMs`. */
  async idle(done: () => boolean, timeoutMs = 30_000): Promise<void> {
    const t0 = Date.now();
    while (!done()) {
      if (Date.now() - t0 > timeoutMs) throw new Error('dataplane workers did not drain their rings in time');
      await new Promise((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));
    }
  }

  pktgen(thread: number, ...args: [number, number, number, number, number, number, number, number]): Promise<number> {
    return this.workers[thread - 1]!.api.pktgen(...args);
  }

  private stopped = false;

  /** Stops every worker; calling it again does nothing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.dp.jit.peers === this) this.dp.jit.peers = undefined;
    await Promise.allSettled([...this.jitPending]);
    const w = this.dp.words();
    for (let t = 1; t <= this.dp.workers; t++) Atomics.store(w, (this.dp.thread(t).state + A.T_STOP) >> 2, 1);
    this.kick();
    for (const h of this.workers) {
      await h.api.stop();
      h.api[releaseProxy]();
      await h.terminate();
    }
  }
}
