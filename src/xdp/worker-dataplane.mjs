// The dataplane module instantiated on the shared memory: the one implementation for every
// thread — the host and the dataplane workers (through src/wasm.ts) and the plain-JavaScript
// workers (app-worker.mjs, stream-worker.mjs). Plain JavaScript so those workers run it the
// same from src/ (tests) and dist/ (it is not compiled).
//
// The dataplane calls compiled eBPF programs through this instance's own function table
// (abi JIT_*): every program slot starts as the interpreter (`jitFallback`) and every batch
// slot declines (`jitBatchFallback`); a thread that installs a program's code sets its slot.

/**
 * Instantiates `module` against `memory`; returns its exports and its function table.
 * @param {WebAssembly.Module} module
 * @param {WebAssembly.Memory} memory
 * @returns {Promise<Record<string, unknown> & { table: WebAssembly.Table }>}
 */
export async function instantiateDataplane(module, memory) {
  const table = new WebAssembly.Table({ initial: 32768, element: 'anyfunc' });
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      table,
      abort: () => { throw new Error('dataplane abort'); },
      seed: () => 0,
    },
  });
  const ex = /** @type {any} */ (instance.exports);
  if (ex.JIT_TABLE_SIZE.value > table.length) throw new Error('dataplane: function table too small');
  for (let i = ex.JIT_BASE.value; i < ex.JIT_SLOTS.value; i++) {
    table.set(i, ex.jitFallback);
    table.set(i + ex.JIT_SLOTS.value, ex.jitBatchFallback);
  }
  return { ...ex, table };
}
