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
  ref?: () => void;
  unref?: () => void;
}

/**
 * `keepAlive`: the endpoint holds the event loop only while requests wait for an answer
 * (the host's side of a worker: an idle worker must not keep Node alive, a pending call
 * must). comlink answers every request with exactly one message.
 */
export function nodeEndpoint(port: NodePort, o: { keepAlive?: boolean } = {}): Endpoint {
  const wrapped = new WeakMap<object, (value: unknown) => void>();
  let pending = 0;
  const counted = o.keepAlive === true && typeof port.ref === 'function' && typeof port.unref === 'function';
  if (counted) {
    port.on('message', () => {
      if (pending > 0 && --pending === 0) port.unref!();
    });
  }
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => {
      port.postMessage(message, transfer);
      if (counted && pending++ === 0) port.ref!();
    },
    addEventListener: (_type: string, handler: unknown) => {
      const fn = (data: unknown): void => {
        if (typeof handler === 'function') handler({ data });
        else (handler as { handleEvent(e: unknown): void }).handleEvent({ data });
      };
      wrapped.set(handler as object, fn);
      port.on('message', fn);
      // (a message listener refs a worker's port: give it back unless a call is waiting)
      if (counted && pending === 0) port.unref!();
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
