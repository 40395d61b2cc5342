/**
 * The options of `Emulator.create`, one table: each option's type and range, checked
 * before anything is allocated (NetError EINVAL naming the option and the rule). README's
 * options table is this table.
 */

import { NetError } from './errors.js';

type Rule =
  | { kind: 'int'; min: number; max: number; pow2?: boolean }
  | { kind: 'bool' }
  | { kind: 'url' }
  | { kind: 'wasm' };

/** Largest shared memory a wasm32 module can address: 65536 pages of 64 KiB (4 GiB). */
export const WASM32_MAX_BYTES = 65536 * 65536;

export const OPTION_RULES: Record<string, Rule> = {
  workers: { kind: 'int', min: 0, max: 64 },
  appThreads: { kind: 'int', min: 0, max: 16 },
  maxDevices: { kind: 'int', min: 16, max: 1 << 20 },
  framesPerThread: { kind: 'int', min: 64, max: 65536, pow2: true },
  frameSize: { kind: 'int', min: 2048, max: 65536, pow2: true },
  ringSize: { kind: 'int', min: 64, max: 32768, pow2: true },
  traceSlots: { kind: 'int', min: 64, max: 65536, pow2: true },
  captureSnaplen: { kind: 'int', min: 0, max: 65535 },
  maxMemory: { kind: 'int', min: 16 << 20, max: WASM32_MAX_BYTES },
  workerTimeoutMs: { kind: 'int', min: 1, max: 0x7fffffff },
  seed: { kind: 'int', min: 0, max: 0xffffffff },
  roundNs: { kind: 'int', min: 1, max: 1e9 },
  perNetnsUnregister: { kind: 'bool' },
  jit: { kind: 'bool' },
  wasm: { kind: 'wasm' },
  wasmUrl: { kind: 'url' },
  workerUrl: { kind: 'url' },
};

function bad(name: string, rule: string, v: unknown): never {
  const shown = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? Object.prototype.toString.call(v) : String(v);
  throw new NetError('EINVAL', `option ${name}: ${rule}, got ${shown}`);
}

/** Checks every option present (undefined means the default); unknown keys are refused. */
export function checkOptions(opts: unknown, rules: Record<string, Rule> = OPTION_RULES): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) bad('options', 'must be an object', opts);
  for (const [name, v] of Object.entries(opts as Record<string, unknown>)) {
    const r = rules[name];
    if (!r) throw new NetError('EINVAL', `unknown option ${name}`);
    if (v === undefined) continue;
    switch (r.kind) {
      case 'int':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < r.min || v > r.max || (r.pow2 && (v & (v - 1)) !== 0)) {
          bad(name, `must be ${r.pow2 ? 'a power of two' : 'an integer'} in ${r.min}..${r.max}`, v);
        }
        break;
      case 'bool':
        if (typeof v !== 'boolean') bad(name, 'must be a boolean', v);
        break;
      case 'url':
        if (typeof v !== 'string' && !(v instanceof URL)) bad(name, 'must be a URL or a string', v);
        break;
      case 'wasm':
        if (typeof v !== 'string' && !(v instanceof URL) && !(v instanceof ArrayBuffer) && !(v instanceof Uint8Array) && !(v instanceof WebAssembly.Module)) {
          bad(name, 'must be a URL, a string, an ArrayBuffer, a Uint8Array or a WebAssembly.Module', v);
        }
        break;
    }
  }
}
