/**
 * comlink endpoints for Node's worker_threads (browsers' Worker and `self` are endpoints
 * already): Node's ports deliver the data itself, comlink expects MessageEvent-like
 * objects with a `data` field.
 */

import type { Endpoint } from 'comlink';

interface NodePort {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(type: 'message', listener: (value: unknown) => void): unknown;
  off(type: 'message', listener: (value: unknown) => void): unknown;
  start?: () => void;
}

export function nodeEndpoint(port: NodePort): Endpoint {
  const wrapped = new WeakMap<object, (value: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => port.postMessage(message, transfer),
    addEventListener: (_type: string, handler: unknown) => {
      const fn = (data: unknown): void => {
        if (typeof handler === 'function') handler({ data });
        else (handler as { handleEvent(e: unknown): void }).handleEvent({ data });
      };
      wrapped.set(handler as object, fn);
      port.on('message', fn);
    },
    removeEventListener: (_type: string, handler: unknown) => {
      const fn = wrapped.get(handler as object);
      if (fn) {
        port.off('message', fn);
        wrapped.delete(handler as object);
      }
    },
    start: port.start?.bind(port),
  } as Endpoint;
}
