/**
 * A dataplane worker: instantiates the dataplane over the shared memory and polls its
 * devices. It never blocks inside Wasm (V8 11's Liftoff mishandles atomic.wait): when
 * idle it reports quiescence and sleeps in JavaScript with Atomics.waitAsync, so comlink
 * requests are served between polls.
 */

import { expose, type Endpoint } from 'comlink';
import * as A from '../abi.generated.js';
import type { DataplaneExports } from '../dataplane.js';
import { installJit, jitInstalled, uninstallJit, type JitHost } from '../ebpf/codegen/jit.js';
import { isNode, nodeImport } from '../node.js';
import { instantiateDataplane } from '../wasm.js';
import { nodeEndpoint } from './endpoint.js';
import type { WorkerApi } from './protocol.js';

/** Longest stretch of polling before letting messages through, in ms. */
const SLICE_MS = 4;
const IDLE_WAIT_MS = 200;

function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

function createApi(): WorkerApi {
  let ex: DataplaneExports | undefined;
  let host: JitHost | undefined;
  let thread = 0;
  // comlink runs each request as it arrives, so JIT requests sent right after `init` start
  // before the dataplane exists: they wait for it, in the order they came.
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  let stopped: Promise<void> | undefined;
  let stopFlag = false;

  async function loop(memory: WebAssembly.Memory): Promise<void> {
    const i32 = new Int32Array(memory.buffer);
    const state = new DataView(memory.buffer).getUint32(A.GLOBALS + A.G_THREADS, true) + thread * A.THREAD_SIZE;
    const bell = (state + A.T_DOORBELL) >>> 2;
    const stop = (state + A.T_STOP) >>> 2;
    for (;;) {
      if (stopFlag || Atomics.load(i32, stop) !== 0) return;
      const seen = Atomics.load(i32, bell);
      const t0 = performance.now();
      let n = 0;
      do n = ex!.poll(thread, 1 << 16); while (n > 0 && performance.now() - t0 < SLICE_MS);
      if (n > 0) {
        await macrotask();
        continue;
      }
      ex!.quiesce(thread);
      const w = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): { async: boolean; value: Promise<string> | string } })
        .waitAsync(i32, bell, seen, IDLE_WAIT_MS);
      if (w.async) await w.value;
      else await macrotask();
    }
  }

  return {
    async init(module, memory, id, jit) {
      ex = await instantiateDataplane<DataplaneExports>(module, memory);
      host = { memory, exports: ex, thread: id };
      for (const [slot, m] of jit) installJit(host, slot, m);
      thread = id;
      markReady();
      stopped = loop(memory);
    },
    async jitInstall(slot, module) {
      await ready;
      installJit(host!, slot, module);
    },
    async jitUninstall(slot) {
      await ready;
      uninstallJit(host!, slot);
    },
    async jitInstalled(slot) {
      await ready;
      return jitInstalled(host!, slot);
    },
    pktgen(slot, tmpl, len, count, batch, flows, portOff, proto) {
      return ex!.pktgen(thread, slot, tmpl, len, count, batch, flows, portOff, proto);
    },
    async stop() {
      stopFlag = true;
      await stopped;
    },
  };
}

async function main(): Promise<void> {
  const api = createApi();
  if (isNode) {
    const { parentPort } = await nodeImport<typeof import('node:worker_threads')>('node:worker_threads');
    if (!parentPort) return;
    expose(api, nodeEndpoint(parentPort as never));
  } else {
    expose(api, self as unknown as Endpoint);
  }
}

void main();
