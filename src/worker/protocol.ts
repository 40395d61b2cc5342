/**
 * What the host may ask a dataplane worker (through comlink). Packets never travel in
 * these messages, only through rings in the shared memory.
 */

/** A compiled program for a worker's function table: its slot (abi JIT_*) and module. */
export type JitEntry = [slot: number, module: WebAssembly.Module];

export interface WorkerApi {
  /**
   * Instantiates the dataplane over the shared memory, installs the compiled programs in
   * `jit` (every module the host holds when it sends this), and starts the poll loop as `thread`.
   */
  init(module: WebAssembly.Module, memory: WebAssembly.Memory, thread: number, jit: JitEntry[]): Promise<void>;
  /** Instantiates a compiled program's module against this thread's dataplane and puts it in `slot`. */
  jitInstall(slot: number, module: WebAssembly.Module): Promise<void>;
  /** Puts the interpreter back into `slot` (the program was freed). */
  jitUninstall(slot: number): Promise<void>;
  /** Whether `slot` of this thread's table holds compiled code (not the interpreter). */
  jitInstalled(slot: number): Promise<boolean>;
  /** Runs pktgen on this thread (it must own the device). Returns frames handed to xmit. */
  pktgen(slot: number, tmpl: number, len: number, count: number, batch: number, flows: number, portOff: number, proto: number): number;
  /** Stops the poll loop; resolves once it has stopped. */
  stop(): Promise<void>;
}
