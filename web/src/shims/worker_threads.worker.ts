/** node:worker_threads inside the xdpsock Web Worker: workerData is the page's first message. */

declare const self: { postMessage(m: unknown): void; addEventListener(t: 'message', fn: (e: { data: { workerData: unknown } }) => void, o?: { once: boolean }): void };

export const workerData: any = await new Promise((resolve) => self.addEventListener('message', (e) => resolve(e.data.workerData), { once: true }));

export const parentPort = { postMessage: (m: unknown): void => self.postMessage(m) };
