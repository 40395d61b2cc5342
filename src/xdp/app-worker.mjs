// An AF_XDP application in its own worker (the xdpsock loops): instantiates the dataplane
// module on the shared memory and steps the application (xskAppStep) on its thread slot
// until the host sets the stop word, then drains what is left and reports. Plain
// JavaScript, so it runs the same from src/ (tests) and dist/ (it is not compiled).
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateDataplane } from './worker-dataplane.mjs';

const { module, memory, app, thread, stopIndex } = workerData;
const ex = await instantiateDataplane(module, memory);
const i32 = new Int32Array(memory.buffer);
parentPort.postMessage({ started: true });
// Idle, it keeps polling (xdpsock's busy loop) for SPIN_MS after the last work, then
// sleeps a millisecond at a time in JavaScript (never inside Wasm), woken early by the
// host's stop: under traffic it never sleeps, and an idle one costs next to nothing.
const SPIN_MS = 2;
let idle = 0;
let idleSince = 0;
while (Atomics.load(i32, stopIndex) === 0) {
  // Between steps the application holds no dataplane record: report the generation seen.
  ex.quiesce(thread);
  if (ex.xskAppStep(thread, app) !== 0) { idle = 0; continue; }
  if ((++idle & 63) !== 0) continue;
  const now = performance.now();
  if (idle === 64) idleSince = now;
  else if (now - idleSince > SPIN_MS) Atomics.wait(i32, stopIndex, 0, 1);
}
// rx-drop and l2fwd: what arrived before the stop is still handled (tx-only just stops).
if (workerData.drain) for (let k = 0; k < 1024 && ex.xskAppStep(thread, app) !== 0; k++);
ex.quiesce(thread);
parentPort.postMessage({ done: true });
