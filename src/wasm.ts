/**
 * Loading the dataplane module over one shared memory.
 *
 * Every thread (the host and each worker) instantiates the same compiled module against
 * the same `WebAssembly.Memory`; the module's static data is re-written by each
 * instantiation, so it must stay read-only (see assembly/abi/).
 */

import { instantiateDataplane as instantiateShared } from './xdp/worker-dataplane.mjs';
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

/** Instantiate the dataplane against `memory`; returns its raw exports (and its function table). */
export async function instantiateDataplane<E = Record<string, unknown>>(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
): Promise<E> {
  // (the same code as the plain-JavaScript workers: xdp/worker-dataplane.mjs)
  return (await instantiateShared(module, memory)) as E;
}
