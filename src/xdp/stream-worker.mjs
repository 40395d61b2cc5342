// A worker that runs one side of a descriptor stream over a shared ring (the ring stress
// test and the xsk bench): it instantiates the dataplane module on the shared memory and
// calls xskStreamProduce or xskStreamConsume, then reports what it did.
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, side, ring, first, total, batch } = workerData;
const table = new WebAssembly.Table({ initial: 1, element: 'anyfunc' }); // the dataplane imports one; streams never call compiled code
const instance = await WebAssembly.instantiate(module, { env: { memory, table, abort: () => { throw new Error('abort'); }, seed: () => 0 } });
const ex = instance.exports;
const t0 = performance.now();
let done = 0;
const spins = 200_000_000;
if (side === 'produce') done = ex.xskStreamProduce(ring, BigInt(first), total, batch, spins);
else done = ex.xskStreamConsume(ring, BigInt(first), total, batch, spins);
const ms = performance.now() - t0;
parentPort.postMessage({ done, ms, errors: side === 'consume' ? ex.xskStreamErrors() : 0 });
