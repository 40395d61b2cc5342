/**
 * The dataplane workers: worker_threads in Node, module Web Workers in browsers. Each
 * gets the compiled module and the shared memory, and a thread id (1..N; 0 is the host).
 */

import { wrap, releaseProxy, type Remote } from 'comlink';
import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { WorkerApi } from './protocol.js';

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

export class WorkerPool {
  private readonly dp: Dataplane;
  private readonly workers: Handle[];

  private constructor(dp: Dataplane, workers: Handle[]) {
    this.dp = dp;
    this.workers = workers;
  }

  static async start(dp: Dataplane): Promise<WorkerPool> {
    const workers: Handle[] = [];
    for (let t = 1; t <= dp.workers; t++) {
      const h = await spawn();
      await h.api.init(dp.module, dp.memory, t);
      workers.push(h);
    }
    return new WorkerPool(dp, workers);
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
