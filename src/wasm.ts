/**
 * Loading the dataplane module over one shared memory.
 *
 * Every thread (the host and each worker) instantiates the same compiled module against
 * the same `WebAssembly.Memory`; the module's static data is re-written by each
 * instantiation, so it must stay read-only (see assembly/abi/).
 */

import { JIT_BASE, JIT_SLOTS, JIT_TABLE_SIZE } from './abi.generated.js';
import { isNode, nodeImport } from './node.js';

declare global {
  // The public types name WebAssembly.Module and WebAssembly.Memory, which TypeScript
  // declares only in the DOM and WebWorker libs: these empty interfaces merge with those
  // where present, and keep the declarations valid in projects without them (Node with
  // `lib: ["es2022"]` and @types/node).
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace WebAssembly {
    // eslint-disable-next-line @typescript-eslint/no-empty-interface
    interface Module {}
    // eslint-disable-next-line @typescript-eslint/no-empty-interface
    interface Memory {}
  }
}

/** Where the dataplane .wasm comes from: a URL or path, its bytes, or a compiled module. */
export type WasmSource = URL | string | ArrayBuffer | Uint8Array | WebAssembly.Module;

/**
 * Default: the release build, `build/dataplane.wasm` beside `src/` (the build copies it to
 * `dist/build/` beside `dist/src/`, so this one literal works from both). Written as
 * `new URL('literal', import.meta.url)` so that bundlers that understand the pattern
 * (Vite, Rollup, webpack) emit the file and rewrite the URL; with esbuild pass `wasmUrl`.
 */
export function defaultWasmUrl(): URL {
  return new URL('../build/dataplane.wasm', import.meta.url);
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

async function readSource(src: URL | string): Promise<Uint8Array> {
  const url = typeof src === 'string' && !/^[a-z]+:/i.test(src) ? new URL(`file://${src}`) : new URL(String(src));
  if (url.protocol === 'file:' && isNode) {
    const { readFile } = await nodeImport<typeof import('node:fs/promises')>('node:fs/promises');
    const { fileURLToPath } = await nodeImport<typeof import('node:url')>('node:url');
    try {
      return new Uint8Array(await readFile(fileURLToPath(url)));
    } catch (e) {
      throw new Error(`cannot load dataplane wasm from ${url}: ${(e as Error).message} (pass wasmUrl to Emulator.create)`);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load dataplane wasm from ${url}: HTTP ${res.status} (pass wasmUrl to Emulator.create)`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Compile the dataplane once; the result can be posted to workers. */
export async function compileDataplane(src: WasmSource = defaultWasmUrl()): Promise<WebAssembly.Module> {
  if (src instanceof WebAssembly.Module) return src;
  const bytes = src instanceof ArrayBuffer ? new Uint8Array(src) : src instanceof Uint8Array ? src : await readSource(src);
  if (bytes.length < 4 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    const head = new TextDecoder().decode(bytes.subarray(0, 64));
    const hint = /<(!doctype|html)/i.test(head) ? ' (got HTML, probably a 404 for the .wasm URL; pass wasmUrl to Emulator.create)' : '';
    const where = src instanceof URL || typeof src === 'string' ? ` at ${String(src)}` : '';
    throw new Error(`dataplane wasm${where}: not a WebAssembly module${hint}`);
  }
  return WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
}

/** Shared memory for the dataplane: `pages` initial 64 KiB pages, `maximum` pages at most. */
export function createMemory(pages: number, maximum: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: pages, maximum, shared: true });
}

/**
 * An AssemblyScript string in the dataplane's memory (UTF-16, byte length in the word
 * before it), for abort messages: what @assemblyscript/loader would do for the raw bindings.
 */
function asString(memory: WebAssembly.Memory, ptr: number): string {
  if (!ptr || ptr < 4 || (ptr & 1) !== 0 || ptr >= memory.buffer.byteLength) return '?';
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  const n = Math.min(bytes >>> 1, 1024, (memory.buffer.byteLength - ptr) >>> 1);
  const units = new Uint16Array(memory.buffer, ptr, n).slice();
  let s = '';
  for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode(...units.subarray(i, i + 4096));
  return s;
}

/** Instantiate the dataplane against `memory`; returns its raw exports. */
export async function instantiateDataplane<E = Record<string, unknown>>(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
): Promise<E> {
  // Compiled eBPF programs are called through this instance's table (abi JIT_*): every
  // slot starts as the interpreter, a program's slot gets its code once this thread installs it.
  const table = new WebAssembly.Table({ initial: JIT_TABLE_SIZE, element: 'anyfunc' });
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      table,
      abort: (msg: number, file: number, line: number, col: number) => {
        throw new Error(`dataplane abort: ${asString(memory, msg)} (${asString(memory, file)}:${line}:${col})`);
      },
      seed: () => 0,
    },
  });
  const fallback = instance.exports.jitFallback as (rec: number) => number;
  const batchFallback = instance.exports.jitBatchFallback as (rec: number, entries: number, n: number) => number;
  for (let i = JIT_BASE; i < JIT_SLOTS; i++) {
    table.set(i, fallback);
    table.set(i + JIT_SLOTS, batchFallback);
  }
  return { ...instance.exports, table } as E;
}
