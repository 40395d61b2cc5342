/**
 * src/node.ts as the page sees it (web/build.mjs swaps it in): not Node, and the one
 * built-in the emulator asks for in a browser, worker_threads (for the AF_XDP
 * application threads of xdpsock), is the Web Worker shim.
 */

export const isNode = false;

export async function nodeImport<T>(name: `node:${string}`): Promise<T> {
  if (name === 'node:worker_threads') return (await import('./worker_threads.js')) as unknown as T;
  throw new Error(`${name} is not available in a browser`);
}
