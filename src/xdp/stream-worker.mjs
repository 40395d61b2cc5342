// A worker that runs one side of a descriptor stream over a shared ring (the ring stress
// test and the xsk bench): it instantiates the dataplane module on the shared memory and
// calls xskStreamProduce or xskStreamConsume, then reports what it did.
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateDataplane } from './worker-dataplane.mjs';

const { module, memory, side, ring, first, total, batch } = workerData;
const ex = await instantiateDataplane(module, memory);
const t0 = performance.now();
let done = 0;
let errors = 0;
const spins = 200_000_000;
// In calls of at most CHUNK descriptors: V8 cannot swap optimized code into a Wasm
// function that is already running, so one call for the whole stream would stay on the
// baseline compiler's code; the first calls tier the loop up.
const CHUNK = 1 << 18;
while (done < total) {
  const want = Math.min(CHUNK, total - done);
  const n = side === 'produce'
    ? ex.xskStreamProduce(ring, BigInt(first + done), want, batch, spins)
    : ex.xskStreamConsume(ring, BigInt(first + done), want, batch, spins);
  if (side === 'consume') errors += ex.xskStreamErrors();
  done += n;
  if (n < want) break; // the other side stopped
}
const ms = performance.now() - t0;
parentPort.postMessage({ done, ms, errors });
