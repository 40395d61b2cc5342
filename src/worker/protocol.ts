/**
 * What the host may ask a dataplane worker (through comlink). Packets never travel in
 * these messages, only through rings in the shared memory.
 */

export interface WorkerApi {
  /** Instantiates the dataplane over the shared memory and starts the poll loop as `thread`. */
  init(module: WebAssembly.Module, memory: WebAssembly.Memory, thread: number): Promise<void>;
  /** Runs pktgen on this thread (it must own the device). Returns frames handed to xmit. */
  pktgen(slot: number, tmpl: number, len: number, count: number, batch: number, flows: number, portOff: number, proto: number): number;
  /** Stops the poll loop; resolves once it has stopped. */
  stop(): Promise<void>;
}
