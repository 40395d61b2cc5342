// The dataplane module instantiated on the shared memory for a plain-JavaScript worker
// (app-worker.mjs, stream-worker.mjs; src/wasm.ts does the same for the dataplane's
// own threads). The dataplane calls compiled programs through its function table; these
// threads install none, so every program slot runs the interpreter and every batch slot
// declines (abi JIT_*).

/** Returns the instance's exports. */
export async function instantiateDataplane(module, memory) {
  const table = new WebAssembly.Table({ initial: 32768, element: 'anyfunc' });
  const instance = await WebAssembly.instantiate(module, { env: { memory, table, abort: () => { throw new Error('abort'); }, seed: () => 0 } });
  const ex = instance.exports;
  if (ex.JIT_TABLE_SIZE.value > table.length) throw new Error('dataplane: function table too small');
  for (let i = ex.JIT_BASE.value; i < ex.JIT_SLOTS.value; i++) {
    table.set(i, ex.jitFallback);
    table.set(i + ex.JIT_SLOTS.value, ex.jitBatchFallback);
  }
  return ex;
}
