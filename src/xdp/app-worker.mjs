// An AF_XDP application in its own worker (the xdpsock loops): instantiates the dataplane
// module on the shared memory and steps the application (xskAppStep) on its thread slot
// until the host sets the stop word, then drains what is left and reports. Plain
// JavaScript, so it runs the same from src/ (tests) and dist/ (it is not compiled).
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, app, thread, stopIndex } = workerData;
// The dataplane calls compiled programs through its table; this thread installs none, so
// every slot runs the interpreter (the same table the host's dataplane instances get).
const table = new WebAssembly.Table({ initial: 32768, element: 'anyfunc' });
const instance = await WebAssembly.instantiate(module, { env: { memory, table, abort: () => { throw new Error('abort'); }, seed: () => 0 } });
const ex = instance.exports;
if (ex.JIT_TABLE_SIZE.value > table.length) throw new Error('dataplane: function table too small');
for (let i = ex.JIT_BASE.value; i < ex.JIT_SLOTS.value; i++) {
  table.set(i, ex.jitFallback);
  table.set(i + ex.JIT_SLOTS.value, ex.jitBatchFallback);
}
const i32 = new Int32Array(memory.buffer);
parentPort.postMessage({ started: true });
let idle = 0;
while (Atomics.load(i32, stopIndex) === 0) {
  // Between steps the application holds no dataplane record: report the generation seen.
  ex.quiesce(thread);
  if (ex.xskAppStep(thread, app) !== 0) { idle = 0; continue; }
  // Idle: sleep in JavaScript (never inside Wasm), woken early by the host's stop.
  if (++idle > 32) Atomics.wait(i32, stopIndex, 0, 1);
}
// rx-drop and l2fwd: what arrived before the stop is still handled (tx-only just stops).
if (workerData.drain) for (let k = 0; k < 1024 && ex.xskAppStep(thread, app) !== 0; k++);
ex.quiesce(thread);
parentPort.postMessage({ done: true });
