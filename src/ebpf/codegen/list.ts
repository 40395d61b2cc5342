/**
 * A program list's module: the batch code of a netkit or tcx list of programs as one Wasm
 * loop over the packets, each packet running the programs one after another in it
 * (batch.ts `listLoopFn`), instead of one call into each program's own module per batch,
 * each with its own loop over the packets. For lists of programs that call only plain
 * helpers, all inline, have no loops and whose every memory access the load-time checks
 * proved in bounds (`listable`):
 * their code then needs nothing from the run record's program part, which belongs to one
 * program at a time. The module's `run` is the first program's (the dataplane never calls
 * it); `batch` takes (rec, entries, n) like a program's (VM_BATCH_SKIP among n's flags),
 * declining (0) when the record's budget cannot pay for every program's longest run.
 */

import { budgetBound } from './gen.js';
import { PLAIN_HELPERS } from '../helpers.js';
import { CodegenError } from './errors.js';
import { makeGen } from './compile.js';
import type { CompileOptions, CompiledCode } from './options.js';

/** Helpers taking a map key or value (lookup, update, delete): proven at the call, or not listable. */
const MAP_ARG_HELPERS = new Set([1, 2, 3]);

/** Legacy packet loads (BPF_LD ABS/IND): they read the record's packet fields. */
const LEGACY_LOADS = new Set([0x20, 0x28, 0x30, 0x40, 0x48, 0x50]);

/**
 * Why a program cannot be part of a list's module, or '' when it can: compiled for skb
 * batches, verified with its proofs, no calls but of helpers that leave the budget and
 * the packet alone (no kfuncs, subprograms or tail calls), no legacy packet loads, and
 * every load, store and atomic operation proven in bounds (`proven`), a helper call's
 * map key and value too. (`compileList` refuses, too, loops, and a helper whose code
 * leaves the program's own: the dispatcher, a check of its arguments at run time.)
 */
export function listable(insns: Uint8Array, o: CompileOptions): string {
  const n = insns.length / 8;
  if (o.batch !== 'skb') return 'not a tc program';
  if (!o.verified || o.proven?.length !== n) return 'not verified with its proofs';
  for (let pc = 0; pc < n; pc++) {
    const code = insns[pc * 8]!;
    const cls = code & 7;
    if (code === 0x85) {
      const src = insns[pc * 8 + 1]! >> 4;
      const imm = new DataView(insns.buffer, insns.byteOffset + pc * 8 + 4, 4).getInt32(0, true);
      if (src !== 0 || !PLAIN_HELPERS.has(imm)) return 'it calls more than plain helpers';
      if (MAP_ARG_HELPERS.has(imm) && o.proven[pc] !== 1) return `the map key or value at ${pc} is checked at run time`;
      continue;
    }
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
