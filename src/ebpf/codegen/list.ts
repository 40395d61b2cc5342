/**
 * A program list's module: the batch code of a netkit or tcx list of programs as one Wasm
 * loop over the packets, each packet running the programs one after another in it
 * (batch.ts `listLoopFn`), instead of one call into each program's own module per batch,
 * each with its own loop over the packets. For lists of programs that call nothing, have
 * no loops and whose every memory access the load-time checks proved in bounds (`listable`):
 * their code then needs nothing from the run record's program part, which belongs to one
 * program at a time. The module's `run` is the first program's (the dataplane never calls
 * it); `batch` takes (rec, entries, n) like a program's (VM_BATCH_SKIP among n's flags),
 * declining (0) when the record's budget cannot pay for every program's longest run.
 */

import { budgetBound } from './gen.js';
import { CodegenError } from './errors.js';
import { makeGen } from './compile.js';
import type { CompileOptions, CompiledCode } from './options.js';

/** Legacy packet loads (BPF_LD ABS/IND): they read the record's packet fields. */
const LEGACY_LOADS = new Set([0x20, 0x28, 0x30, 0x40, 0x48, 0x50]);

/**
 * Why a program cannot be part of a list's module, or '' when it can: compiled for skb
 * batches, verified with its proofs, no calls (helpers, kfuncs, subprograms, tail calls),
 * no legacy packet loads, no loops, and every load, store and atomic operation proven in
 * bounds (`proven`).
 */
export function listable(insns: Uint8Array, o: CompileOptions): string {
  const n = insns.length / 8;
  if (o.batch !== 'skb') return 'not a tc program';
  if (!o.verified || o.proven?.length !== n) return 'not verified with its proofs';
  for (let pc = 0; pc < n; pc++) {
    const code = insns[pc * 8]!;
    const cls = code & 7;
    if (code === 0x85) return 'it calls';
    if (LEGACY_LOADS.has(code)) return 'legacy packet loads';
    // (BPF_LDX, BPF_ST, BPF_STX: loads, stores and atomics)
    if ((cls === 1 || cls === 2 || cls === 3) && o.proven[pc] !== 1) return `the access at ${pc} is checked at run time`;
    if (code === 0x18) pc++;
  }
  return '';
}

/** Compiles the list module of `programs` (each `listable`, with its own options). */
export function compileList(programs: readonly { insns: Uint8Array; o: CompileOptions }[]): CompiledCode {
  if (programs.length < 2) throw new CodegenError('a list module takes two programs or more', 0);
  const gens = programs.map(({ insns, o }, k) => {
    const why = listable(insns, o);
    if (why) throw new CodegenError(`program ${k} of the list: ${why}`, 0);
    const g = makeGen(insns, o);
    if (g.funcs.length !== 1 || budgetBound(g.ins, g.funcs[0]!) === 0) throw new CodegenError(`program ${k} of the list: it has loops or subprograms`, 0);
    return g;
  });
  const first = gens[0]!;
  first.list = gens;
  const bytes = first.module();
  const unchecked = { run: first.direct.run, batch: gens.reduce((s, g) => s + g.direct.batch, 0) };
  return { bytes, functions: 1, blocks: gens.reduce((s, g) => s + g.funcs[0]!.blocks.length, 0), countedLoops: 0, groupedLoops: 0, roundPacketAccesses: 0, unchecked };
}
