/**
 * Descriptor streams between two worker threads over one AF_XDP-shaped ring in the shared
 * memory: the ring stress test (none lost or duplicated) and the xsk bench (ring throughput).
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { nodeImport } from '../node.js';

export interface StreamResult {
  /** Descriptors the consumer received in sequence. */
  received: number;
  /** Out-of-sequence descriptors (lost, duplicated or reordered). */
  errors: number;
  /** Million descriptors per second, from the consumer's start to its end. */
  mdps: number;
}

/** Streams `total` descriptors (in chunks of at most 2^31) through a fresh ring of `size` entries. */
export async function stream(dp: Dataplane, total: number, o: { batch?: number; size?: number } = {}): Promise<StreamResult> {
  const { Worker } = await nodeImport<typeof import('node:worker_threads')>('node:worker_threads');
  const ring = dp.allocRing(o.size ?? 2048, A.DESC_SIZE);
  const batch = o.batch ?? 64;
  // Plain JavaScript, so it runs the same from src/ (tests, benches) and from dist/ (the build copies it there).
  const url = new URL('./stream-worker.mjs', import.meta.url);
  const run = (side: 'produce' | 'consume') => new Promise<{ done: number; ms: number; errors: number }>((resolve, reject) => {
    const w = new Worker(url, { workerData: { module: dp.module, memory: dp.memory, side, ring, first: 0, total, batch } });
    w.once('message', resolve);
    w.once('error', reject);
  });
  try {
    const [, c] = await Promise.all([run('produce'), run('consume')]);
    return { received: c.done, errors: c.errors, mdps: c.done / (c.ms * 1e3) };
  } finally {
    dp.release(ring, dp.ringBytes(o.size ?? 2048, A.DESC_SIZE));
  }
}
