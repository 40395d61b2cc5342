/**
 * eBPF → WebAssembly (spec/ebpf.md §1.14): one module per program, importing the shared
 * memory and, from the thread's dataplane instance, the helper dispatcher, the general
 * access check and the map lookup, update and delete. Semantics are exactly the interpreter's
 * (assembly/ebpf/vm.ts): the same results, faults and fault pcs, the same instruction
 * budget and executed-instruction count.
 *
 * Shape of the output:
 * - one Wasm function per subprogram (pc 0, every bpf-to-bpf call target and every
 *   bpf_loop callback), taking (rec, depth, r0..r10) and returning (r0..r5, r10): eBPF
 *   registers are Wasm locals; r6..r9 stay the caller's, as the interpreter's frames
 *   restore them (a verified program's subprograms other than pc 0 take (rec, depth, r10,
 *   r1..r5) and return r0 alone: Gen.slim); bpf_loop on one of the program's own callbacks calls the callback's
 *   loop function, a second copy of it whose exits end an iteration (one call per loop;
 *   a verified program's takes the frame, nr, ctx and r3..r5 and returns the iterations);
 * - basic blocks (cfg.ts) are laid out in pc order in nested `block`s, so a forward jump
 *   is one `br`; a loop nothing enters but through its head becomes a Wasm `loop`; other
 *   back edges go through a dispatch `loop` whose `br_table` picks the block;
 * - the budget is charged once per basic block; a budget that cannot pay for a block
 *   hands the rest of the run (which ends in that block) to the interpreter, so it ends
 *   with the interpreter's fault at its pc; helper and subprogram calls end blocks; a
 *   loop whose trip count is known on entry (`r += c … jne/jlt r, K`, no calls) has a
 *   second copy without budget tests (nor charges, when its blocks form a chain: the
 *   budget is settled from the counter where the copy is left), entered when the budget
 *   covers all its iterations; a small chain whose every exit compares a value moving
 *   with the iterations with one that does not (the csum loop's data_end) runs that copy
 *   in rounds of 8 (4) iterations without exit tests, when a test at the round's start
 *   shows none is taken in them (layout.ts groupExits); the batch code of a loop-free main function tests the
 *   budget once per batch (budgetBound);
 * - every memory access is checked: r10-relative stack accesses inside the frame need no
 *   check when no instruction writes r10; others are compared with the packet, the
 *   context, the stack and the program's own regions inline, then the general check;
 * - helper calls hand over r1..r5 (the whole register file, budget and packet bounds for
 *   the few helpers that run eBPF or move the packet).
 * A fault stores its code and pc in the run record, sets the module's `fault` global and
 * unwinds; `run(rec)` returns the fault (0, a VM_FAULT_*, or VM_TAIL_CALL).
 */

import { buildFunc, decode, isCall, writesR10, type Func, type Insn } from './cfg.js';
import { CodegenError } from './errors.js';
import { BATCH_CTX, funcPointer } from './locals.js';
import type { CompileOptions, CompiledCode } from './options.js';
import { Gen } from './gen.js';
import { aluMethods } from './alu.js';
import { batchMethods } from './batch.js';
import { callMethods } from './calls.js';
import { layoutMethods } from './layout.js';
import { memoryMethods } from './memory.js';

// The emitters of each concern (their files declare them on Gen's interface). Installed
// here, by a statement that uses the modules, not by importing them for their side effects:
// a bundler that trusts the package's `sideEffects` list drops side-effect-only imports.
Object.assign(Gen.prototype, aluMethods, batchMethods, callMethods, layoutMethods, memoryMethods);

export { CodegenError } from './errors.js';
export { codegenMap, type CodegenRegion, type CodegenMap, type CompileOptions, type CompiledCode } from './options.js';

export function compileProgram(insns: Uint8Array, o: CompileOptions = {}): CompiledCode {
  const w = makeGen(insns, o);
  const bytes = w.module();
  return { bytes, functions: w.funcs.length, blocks: w.funcs.reduce((s, f) => s + f.blocks.length, 0), countedLoops: w.countedLoops, groupedLoops: w.groupedLoops, roundPacketAccesses: w.roundPacketAccesses, unchecked: w.direct };
}

/** The code generator's state for one program (its decoded instructions and functions). */
export function makeGen(insns: Uint8Array, o: CompileOptions): Gen {
  if (insns.length % 8 !== 0 || insns.length === 0) throw new CodegenError('program size is not a positive multiple of 8', 0);
  const n = insns.length / 8;
  const ins: Insn[] = new Array(n);
  for (let pc = 0; pc < n; pc++) ins[pc] = decode(insns, pc);
  const r10Fixed = !ins.some(writesR10);

  // Subprograms: pc 0 and every bpf-to-bpf call target inside the program.
  const starts = new Set<number>([0]);
  for (let pc = 0; pc < n; pc++) {
    const i = ins[pc]!;
    if (isCall(i) && i.src === 1) {
      const t = pc + 1 + i.imm;
      if (t >= 0 && t < n) starts.add(t);
    }
    // Callback pointers (bpf_loop: lddw with src BPF_PSEUDO_FUNC) start functions too.
    const cb = funcPointer(ins, pc);
    if (cb !== undefined) starts.add(cb);
  }
  const sorted = [...starts].sort((a, b) => a - b);
  const funcIndex = new Map<number, number>(sorted.map((s, k) => [s, k]));
  const funcs: Func[] = sorted.map((start, k) => buildFunc(ins, n, start, sorted[k + 1] ?? n));
  return new Gen(ins, n, funcs, funcIndex, r10Fixed, o.regions ?? [], o.batch ? BATCH_CTX[o.batch] : undefined, o.maps ?? [], o.verified === true, o.verified === true && o.proven?.length === n ? o.proven : null, o.oneThread === true);
}
