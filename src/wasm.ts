/**
 * Loading the dataplane module over one shared memory.
 *
 * Every thread (the host and each worker) instantiates the same compiled module against
 * the same `WebAssembly.Memory`; the module's static data is re-written by each
 * instantiation, so it must stay read-only (see assembly/abi/).
 */

import { instantiateDataplane as instantiateShared } from './xdp/worker-dataplane.mjs';

/** Where the dataplane .wasm comes from: a URL or path, its bytes, or a compiled module. */
export type WasmSource = URL | string | ArrayBuffer | Uint8Array | WebAssembly.Module;

/** Default: the release build next to the package (`build/dataplane.wasm`). */
export function defaultWasmUrl(debug = false): URL {
  // Compiled code runs from dist/src/, sources (tests, tsx) from src/.
  if (import.meta.url.includes('/dist/src/')) {
    return debug ? new URL('../../build/dataplane.debug.wasm', import.meta.url) : new URL('../../build/dataplane.wasm', import.meta.url);
  }
  return debug ? new URL('../build/dataplane.debug.wasm', import.meta.url) : new URL('../build/dataplane.wasm', import.meta.url);
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

async function readSource(src: URL | string): Promise<Uint8Array> {
  const url = typeof src === 'string' && !/^[a-z]+:/i.test(src) ? new URL(`file://${src}`) : new URL(String(src));
  if (url.protocol === 'file:' && typeof process !== 'undefined' && process.versions?.node) {
    const { readFile } = await import('node:fs/promises');
    const { fileURLToPath } = await import('node:url');
    return new Uint8Array(await readFile(fileURLToPath(url)));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load dataplane wasm from ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Compile the dataplane once; the result can be posted to workers. */
export async function compileDataplane(src: WasmSource = defaultWasmUrl()): Promise<WebAssembly.Module> {
  if (src instanceof WebAssembly.Module) return src;
  const bytes = src instanceof ArrayBuffer ? new Uint8Array(src) : src instanceof Uint8Array ? src : await readSource(src);
  if (bytes.length < 4 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    const head = new TextDecoder().decode(bytes.subarray(0, 64));
    const hint = /<(!doctype|html)/i.test(head) ? ' (got HTML, probably a 404 for the .wasm URL)' : '';
    throw new Error(`dataplane wasm: not a WebAssembly module${hint}`);
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
