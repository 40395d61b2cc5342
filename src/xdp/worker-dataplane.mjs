// The dataplane module instantiated on the shared memory: the one implementation for every
// thread — the host and the dataplane workers (through src/wasm.ts) and the plain-JavaScript
// workers (app-worker.mjs, stream-worker.mjs). Plain JavaScript so those workers run it the
// same from src/ (tests) and dist/ (it is not compiled).
//
// The dataplane calls compiled eBPF programs through this instance's own function table
// (abi JIT_*): every program slot starts as the interpreter (`jitFallback`) and every batch
// slot declines (`jitBatchFallback`); a thread that installs a program's code sets its slot.

/**
 * An AssemblyScript string in the dataplane's memory (UTF-16, byte length in the word
 * before it), for abort messages: what @assemblyscript/loader would do for the raw bindings.
 * @param {WebAssembly.Memory} memory
 * @param {number} ptr
 * @returns {string}
 */
function asString(memory, ptr) {
  if (!ptr || ptr < 4 || (ptr & 1) !== 0 || ptr >= memory.buffer.byteLength) return '?';
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  const n = Math.min(bytes >>> 1, 1024, (memory.buffer.byteLength - ptr) >>> 1);
  const units = new Uint16Array(memory.buffer, ptr, n).slice();
  let s = '';
  for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode(...units.subarray(i, i + 4096));
  return s;
}

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
      abort: (msg, file, line, col) => {
        throw new Error(`dataplane abort: ${asString(memory, msg)} (${asString(memory, file)}:${line}:${col})`);
      },
      seed: () => 0,
      // (the clock of the run statistics, assembly/ebpf/stats.ts: called only while they are on)
      now: () => performance.now(),
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
