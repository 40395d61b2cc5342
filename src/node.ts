/**
 * Node built-ins, loaded only when running on Node. The specifier goes through a
 * variable so that bundlers building for browsers (Vite, esbuild, webpack) never try to
 * resolve `node:*`: a browser build needs no `external` list or stubs for them.
 */

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** `import(name)` hidden from bundlers; `T` is e.g. `typeof import('node:worker_threads')`. */
export function nodeImport<T>(name: `node:${string}`): Promise<T> {
  const specifier: string = name;
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<T>;
}
