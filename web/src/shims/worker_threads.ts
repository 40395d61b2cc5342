/**
 * node:worker_threads' Worker over a module Web Worker, for src/xdp/app.ts (xdpsock's
 * application threads): `workerData` goes as the first message (the worker's side,
 * worker_threads.worker.ts, awaits it before the worker's code runs), then messages and
 * errors as Node delivers them.
 */

type Fn = (v: unknown) => void;

export class Worker {
  private readonly w: globalThis.Worker;

  constructor(url: URL | string, o: { workerData?: unknown } = {}) {
    this.w = new globalThis.Worker(url, { type: 'module' });
    this.w.postMessage({ workerData: o.workerData });
  }

  on(type: 'message' | 'error' | 'exit', fn: Fn): this {
    this.listen(type, fn, false);
    return this;
  }

  once(type: 'message' | 'error' | 'exit', fn: Fn): this {
    this.listen(type, fn, true);
    return this;
  }

  private listen(type: string, fn: Fn, once: boolean): void {
    if (type === 'message') this.w.addEventListener('message', (e) => fn(e.data), { once });
    else if (type === 'error') {
      this.w.addEventListener('error', (e) => fn(new Error(e.message || 'the xdpsock worker could not be loaded')), { once });
      this.w.addEventListener('messageerror', () => fn(new Error('the xdpsock worker could not read a message')), { once });
    }
  }

  postMessage(m: unknown): void {
    this.w.postMessage(m);
  }

  terminate(): Promise<number> {
    this.w.terminate();
    return Promise.resolve(0);
  }

  ref(): void {}
  unref(): void {}
}
