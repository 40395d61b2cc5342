// esbuild does not follow new URL(…, import.meta.url): the .wasm comes through the `file`
// loader, the worker is its own entry point (esbuild-worker.js), both named here.
import { Emulator } from 'nkemu';
import wasm from 'nkemu/dataplane.wasm';
import { scenario } from './scenario.js';

window.result = scenario(Emulator, {
  wasmUrl: new URL(wasm, import.meta.url),
  workerUrl: new URL('./esbuild-worker.js', import.meta.url),
});
