/**
 * The dataplane workers: worker_threads in Node, module Web Workers in browsers. Each
 * gets the compiled module and the shared memory, and a thread id (1..N; 0 is the host).
 */

import { wrap, releaseProxy, type Remote } from 'comlink';
import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { JitPeers } from '../ebpf/codegen/jit.js';
import { NetError } from '../errors.js';
import { isNode, nodeImport } from '../node.js';
import { nodeEndpoint } from './endpoint.js';
import type { JitEntry, WorkerApi } from './protocol.js';

interface Handle {
  api: Remote<WorkerApi>;
  terminate(): Promise<unknown> | void;
  /** Rejects when the worker fails to load or exits; never resolves. */
  failed: Promise<never>;
  /** Where the script came from, for error messages. */
  url: string;
}

async function spawn(workerUrl: URL | string | undefined): Promise<Handle> {
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  if (isNode) {
    const { Worker } = await nodeImport<typeof import('node:worker_threads')>('node:worker_threads');
    // From TypeScript sources (tests, tsx) the worker goes through tsx; built code runs worker.js.
    // (Not a literal: bundlers building for browsers have nothing to emit here.)
    const url = workerUrl ?? new URL(import.meta.url.endsWith('.ts') ? '../../scripts/tsx-worker.mjs' : './worker.js', import.meta.url);
    const w = new Worker(typeof url === 'string' && /^[a-z]+:/i.test(url) ? new URL(url) : url);
    w.unref();
    w.on('error', (e: Error) => fail(new Error(e.message)));
    w.on('exit', (code: number) => fail(new Error(`exited with code ${code}`)));
    // The endpoint holds the event loop only while a call waits for its answer; once
    // terminating, the worker holds it until it is gone (a late answer must not let go).
    let terminating = false;
    const port = {
      postMessage: (m: unknown, t?: readonly unknown[]) => w.postMessage(m, t as never),
      on: (type: 'message', fn: (v: unknown) => void) => w.on(type, fn),
      off: (type: 'message', fn: (v: unknown) => void) => w.off(type, fn),
      ref: () => w.ref(),
      unref: () => { if (!terminating) w.unref(); },
    };
    const terminate = (): Promise<number> => { terminating = true; w.ref(); return w.terminate(); };
    return { api: wrap<WorkerApi>(nodeEndpoint(port, { keepAlive: true })), terminate, failed, url: String(url) };
  }
  // Bundlers (Vite, Rollup, webpack) recognise this literal form and emit the worker.
  const w = workerUrl !== undefined
    ? new Worker(workerUrl, { type: 'module' })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const url = workerUrl !== undefined ? String(workerUrl) : new URL('./worker.js', import.meta.url).href;
  // A script that cannot be fetched or evaluated fires `error` (a plain Event for a failed fetch).
  w.addEventListener('error', (e: Event) => {
    const msg = (e as ErrorEvent).message;
    fail(new Error(msg ? msg : 'the script could not be loaded (404, wrong MIME type or a syntax error)'));
  });
  return { api: wrap<WorkerApi>(w as never), terminate: () => w.terminate(), failed, url };
}

/** `ready`, or a NetError when the worker fails to load or start within `ms`. */
async function started(h: Handle, thread: number, ready: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NetError('ETIMEDOUT', `dataplane worker ${thread} (${h.url}) did not start within ${ms} ms; pass workerUrl to Emulator.create if the script is elsewhere`)), ms);
  });
  try {
    await Promise.race([
      ready,
      timeout,
      h.failed.catch((e: Error) => {
        throw new NetError('ENOENT', `dataplane worker ${thread} failed to load from ${h.url}: ${e.message}; pass workerUrl to Emulator.create if the script is elsewhere`);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
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
        const h = await spawn(dp.workerUrl);
        // Snapshot, send and register in one synchronous step: nothing can compile in between.
        const jit: JitEntry[] = [...dp.jit.modules];
        const ready = h.api.init(dp.module, dp.memory, t, jit);
        pool.workers.push(h);
        await started(h, t, ready, dp.workerTimeoutMs);
      }
    } catch (e) {
      dp.jit.peers = undefined;
      for (const h of pool.workers) {
        h.api[releaseProxy]();
        await h.terminate();
      }
      throw e;
    }
    return pool;
  }

  /** JitPeers: every worker installs `module` in `slot` (asynchronously; see `jitSettled`). */
  install(slot: number, module: WebAssembly.Module): void {
    for (const h of this.workers) this.track(h.api.jitInstall(slot, module), `install slot ${slot}`);
  }

  /** JitPeers: every worker puts the interpreter back into `slot`. */
  uninstall(slot: number): Promise<unknown> {
    return Promise.all(this.workers.map((h) => {
      const p = h.api.jitUninstall(slot);
      this.track(p, `uninstall slot ${slot}`);
      return p;
    }));
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
      const bell = (this.dp.thread(t).state + A.T_DOORBELL) >>> 2;
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
    for (let t = 1; t <= this.dp.workers; t++) Atomics.store(w, (this.dp.thread(t).state + A.T_STOP) >>> 2, 1);
    this.kick();
    for (const h of this.workers) {
      await h.api.stop();
      h.api[releaseProxy]();
      await h.terminate();
    }
  }
}
