// Vite: nothing to configure; the package's new URL(…, import.meta.url) patterns give the
// .wasm and the worker script to the bundler.
import { Emulator } from 'nkemu';
import { scenario } from './scenario.js';

window.result = scenario(Emulator, {});
