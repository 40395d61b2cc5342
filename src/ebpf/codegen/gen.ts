/**
 * The code generator's state for one program (`Gen`) and the methods that lay out its
 * functions, blocks and labels; the emitters of each concern are declared on it by their
 * own files (alu.ts, memory.ts, calls.ts, layout.ts, batch.ts) and installed by compile.ts.
 */

import * as A from '../../abi.generated.js';
import { isCall, type Block, type Func, type Insn } from './cfg.js';
import { CodegenError } from './errors.js';
import { PACKET_MOVING_HELPERS } from '../helpers.js';
import { batchFacts, type BatchContext } from './bounds.js';
import { EMPTY, I32, I64, Op, Writer } from './wasm.js';
import { BUD, CODE, CW_HI, CW_LO, C_HI, C_LO, type CountedLoop, DEPTH, EMPTY_HI, EMPTY_LO, FP, FPC, FUNC_TAG, F_BSWAP16, F_BSWAP32, F_FAULT, F_RUN, F_SHORT, F_SUB0, G_BUDGET, G_FAULT, LABEL, LD_ABS_EXIT, L_CTX, L_I, L_NR, L_R6, N_I32_LOCALS, N_I64_LOCALS, PW_HI, PW_LO, PLAIN, P_HI, P_LO, R, REC, SCR, ST_LO, T_BATCH, T_CHECK, T_FAULT, T_HELPER, T_LDABS, T_RUN, T_SLIM, T_SUB, T_TAIL, T_UNARY64, T_UPDATE, VIRTUAL, funcPointer } from './locals.js';
import type { CodegenRegion, CodegenMap } from './options.js';

/**
 * The most instructions a run of `f` can execute when that is known up front: no back
 * edges (each block runs at most once) and only calls that leave the budget alone (plain
 * and packet-moving helpers, bpf_cast_to_kern_ctx; not bpf-to-bpf calls, tail calls or
 * helpers that run callbacks). 0 when not.
 */
export function budgetBound(ins: Insn[], f: Func): number {
  if (f.back.length) return 0;
  let n = 0;
  for (const b of f.blocks) {
    for (const pc of b.pcs) {
      const i = ins[pc]!;
      if (i.code === 0x85 && !(i.src === 0 && (PLAIN.has(i.imm) || PACKET_MOVING_HELPERS.has(i.imm))) && !(i.src === 2 && PLAIN.has(A.VM_KFUNC_BASE + i.imm))) return 0;
    }
    n += b.pcs.length;
  }
  return n;
}

/** A writer that keeps r11..r15 in the run record. */
class GenWriter extends Writer {
  override get(l: number): this {
    if (l < VIRTUAL) return super.get(l);
    return super.get(REC).mem(Op.i64_load, 3, A.VM_REGS + (l - VIRTUAL) * 8);
  }

  override set(l: number): this {
    if (l < VIRTUAL) return super.set(l);
    return super.set(SCR).get(REC).get(SCR).mem(Op.i64_store, 3, A.VM_REGS + (l - VIRTUAL) * 8);
  }
}

// Compiling is synchronous and never nested: the two big buffers are reused from one
// program to the next (only the finished module is a new allocation).
const CODE_SCRATCH = new Writer(1 << 16);
const BODY_SCRATCH = new GenWriter(1 << 16);

export class Gen {
  c = new Writer(1 << 10);
  /**
   * Open Wasm labels, innermost last: 'E<k>' ends right before block k, 'L<k>' is the loop
   * headed by block k, 'top' the dispatch loop, '-' anything else (an if around a branch).
   */
  labels: string[] = [];
  /** Where each named label sits in `labels` (names are unique while open). */
  labelAt = new Map<string, number>();
  f!: Func;
  bi = 0;
  /** Size of the block being emitted and the index of the instruction in it. */
  curK = 0;
  curM = 0;
  /** bpf_loop callbacks the program names with lddw: pointer value → function index. */
  callbacks = new Map<bigint, number>();
  /** Emitting the batch loop's copy of the main function (exits and unwinds end a packet's run). */
  batchMode = false;
  /** Registers holding a constant below 2^32 (an lddw, or a mov of a non-negative immediate) set earlier in the current block. */
  konst = new Map<number, number>();
  /** Registers holding r10 + k (a mov of r10, then adds and subtracts of immediates) set earlier in the current block: k. */
  fpOff = new Map<number, number>();
  /** Emitting a callback's loop function (an exit ends the iteration, not the function). */
  loopMode = false;
  /** Emitting a function of the slim calling convention (`slim`): its exits return r0 alone. */
  slimFn = false;
  /** Callbacks (function numbers) that have a loop function, and its function index. */
  loopFns: number[] = [];
  loopIndex = new Map<number, number>();
  /** Some call goes through the helper dispatcher (which reads the record's packet fields). */
  dispatched = false;
  /** Some inlined helper reads and writes the record's packet fields. */
  packetFields = false;
  /** Some bpf_redirect_map runs inline (it writes the record's redirect fields). */
  redirects = false;
  /** In batch mode: accesses proven inside the context or packet, and packet-bound loads (bounds.ts). */
  facts: Uint8Array = new Uint8Array(0);
  /**
   * The same facts for the per-packet entry's main function (`run`), for a verified program
   * whose pc 0 nothing calls; `run` enters it only when the record's r1 is the context and
   * the regions are as the batch context says (else the interpreter runs the run), so every
   * proven access (the `data`/`data_end` loads too) needs no check. Null: every access is checked.
   */
  runFacts: Uint8Array | null = null;
  /** Accesses emitted unchecked on the strength of the facts, per entry (CompiledCode.unchecked). */
  direct = { run: 0, batch: 0 };
  /**
   * When the main function has no loops and calls nothing that runs eBPF (each block runs
   * at most once a run, the helpers leave the budget alone): its instruction count, the
   * most a run can use; the batch code then tests the budget once, at its start (and
   * declines when it is lower), instead of per block. 0 otherwise.
   */
  batchCost = 0;
  /** The counted loop whose unchecked copy is being emitted with its budget deferred (`settleBudget`). */
  deferred: CountedLoop | undefined;
  /** In a counted loop's grouped round (layout.ts groupExits): its exits and latch, emitted as not taken (the latch as taken). */
  stripped: Set<number> | undefined;
  /** In a grouped round: the packet accesses its test showed inside the packet in every iteration (run unchecked). */
  roundPacket: Set<number> | undefined;
  /** Packet accesses run unchecked in grouped rounds so far. */
  roundPacketAccesses = 0;
  /** In an unrolled counted loop's copy other than the last: the pc of its latch (else -1). */
  unrollLatch = -1;
  /** In the batch code: the packet's and context's regions go into the record only before a general check. */
  lazyRegions = false;
  /** General checks (the dataplane's vmCheck, which reads the record's regions) emitted so far. */
  generalChecks = 0;
  /** Counted loops versioned so far. */
  countedLoops = 0;
  /** Counted loops grouped so far (layout.ts groupExits). */
  groupedLoops = 0;
  /** Emitting a counted loop's copy that runs with the budget for all its iterations (no per-block test). */
  unchecked = false;
  /** Blocks whose 'E' label sits inside a structured loop, and the loops (header → last block). */
  loops = new Map<number, number>();
  /**
   * A program list's module (list.ts): the programs whose main functions its batch loop
   * runs one after another for each packet (this one first); its `run` is this program's.
   */
  list: Gen[] | undefined;

  constructor(
    readonly ins: Insn[],
    readonly n: number,
    readonly funcs: Func[],
    readonly funcIndex: Map<number, number>,
    readonly r10Fixed: boolean,
    readonly regions: readonly CodegenRegion[],
    readonly batch: BatchContext | undefined,
    readonly maps: readonly CodegenMap[],
    readonly verified = false,
    readonly proven: Uint8Array | null = null,
    /** No other thread runs eBPF on this memory (CompileOptions.oneThread). */
    readonly oneThread = false,
  ) {
    this.inlineRegions = pickInlineRegions(ins, n, regions, maps);
  }

  /**
   * The regions every access checks inline, as constants: all of them up to INLINE_REGIONS,
   * else the INLINE_REGIONS the program names most (its lddw's of their addresses and of
   * their maps); accesses to the others go through the general check (a bisection).
   */
  readonly inlineRegions: readonly CodegenRegion[];

  module(): Uint8Array {
    for (let pc = 0; pc + 1 < this.n; pc++) {
      const cb = funcPointer(this.ins, pc);
      const k = cb === undefined ? undefined : this.funcIndex.get(cb);
      if (k !== undefined) this.callbacks.set((FUNC_TAG << 32n) | BigInt(cb!), k);
    }
    const m = new Writer(4096 + this.n * 48);
    m.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    // Types.
    const t = new Writer();
    t.u32(11);
    t.u8(0x60).u32(4).bytes([I32, I32, I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(4).bytes([I32, I64, I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(3).bytes([I32, I32, I32]).u32(0);
    t.u8(0x60).u32(3).bytes([I32, I64, I32]).u32(1).u8(I64);
    t.u8(0x60).u32(1).u8(I64).u32(1).u8(I64);
    t.u8(0x60).u32(1).u8(I32).u32(1).u8(I32);
    t.u8(0x60).u32(13).bytes([I32, I32, ...new Array(11).fill(I64)]).u32(7).bytes(new Array(7).fill(I64));
    t.u8(0x60).u32(3).bytes([I32, I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(6).bytes([I32, I32, I32, I64, I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(2).bytes([I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(8).bytes([I32, I32, ...new Array(6).fill(I64)]).u32(1).u8(I64);
    m.section(1, t);
    // Imports.
    const im = new Writer();
    im.u32(8);
    im.name('env').name('memory').u8(0x02).u8(0x03).u32(1).u32(65536);
    im.name('env').name('helper').u8(0x00).u32(T_HELPER);
    im.name('env').name('check').u8(0x00).u32(T_CHECK);
    im.name('env').name('lookup').u8(0x00).u32(T_BATCH);
    im.name('env').name('update').u8(0x00).u32(T_UPDATE);
    im.name('env').name('delete').u8(0x00).u32(T_BATCH);
    im.name('env').name('short').u8(0x00).u32(T_BATCH);
    im.name('env').name('tail').u8(0x00).u32(T_TAIL);
    m.section(2, im);
    // Functions.
    const fs = new Writer();
    // bpf_loop callbacks get a second function: the whole loop, its iterations inside.
    this.loopFns = [...new Set(this.callbacks.values())].sort((a, b) => a - b);
    const loopBase = F_SUB0 + this.funcs.length + (this.batch ? 2 : 1);
    this.loopFns.forEach((k, j) => this.loopIndex.set(k, loopBase + j));
    const nf = 5 + this.funcs.length + (this.batch ? 3 : 2) + this.loopFns.length;
    fs.u32(nf).u32(T_FAULT).u32(T_LDABS).u32(T_UNARY64).u32(T_UNARY64).u32(T_UNARY64).u32(T_RUN);
    for (let k = 0; k < this.funcs.length; k++) fs.u32(this.slim(k) ? T_SLIM : T_SUB);
    fs.u32(T_BATCH);
    if (this.batch) fs.u32(T_SUB);
    for (const k of this.loopFns) fs.u32(this.slim(k) ? T_SLIM : T_SUB);
    m.section(3, fs);
    // Globals: fault (i32), budget (i32).
    const g = new Writer();
    g.u32(4);
    for (let k = 0; k < 4; k++) g.u8(I32).u8(1).i32c(0).u8(Op.end);
    m.section(6, g);
    // Exports.
    const ex = new Writer();
    ex.u32(2).name('run').u8(0x00).u32(F_RUN);
    ex.name('batch').u8(0x00).u32(F_SUB0 + this.funcs.length);
    m.section(7, ex);
    // Code.
    this.c = CODE_SCRATCH.reset(2048 + this.n * 48);
    const c = this.c;
    c.u32(nf);
    if (this.batch && this.verified && !this.entersPcZero()) {
      this.runFacts = batchFacts(this.ins, this.funcs[0]!, this.batch, (id, kfunc) => PLAIN.has(kfunc ? A.VM_KFUNC_BASE + id : id), this.valueMaps());
    }
    this.body(() => this.faultFn(), []);
    this.body(() => this.ldAbsFn(), [[1, I64]]);
    this.body(() => this.bswap16Fn(), []);
    this.body(() => this.bswap32Fn(), []);
    this.body(() => this.bswap64Fn(), []);
    this.body(() => this.runFn(), [[1, I32], [1, I64]]);
    this.funcs.forEach((f, k) => {
      this.f = f;
      this.slimFn = this.slim(k);
      // (a slim function's r6..r10 are locals, after its parameters rec, depth, r10 and r1..r5)
      this.body(() => this.subFn(), [...(this.slimFn ? [[5, I64] as [number, number]] : []), [N_I64_LOCALS, I64], [N_I32_LOCALS, I32], [1, I64], [8, I64], [2, I32], [1, I64], [1, I32]], 256 + (f.end - f.start) * 48);
      this.slimFn = false;
    });
    this.batchCost = this.batch ? budgetBound(this.ins, this.funcs[0]!) : 0;
    if (this.list) {
      // (every program's run must fit the budget the batch declines below)
      for (const g of this.list) g.batchCost = budgetBound(g.ins, g.funcs[0]!);
      this.batchCost = Math.max(...this.list.map((g) => g.batchCost));
    }
    this.body(() => this.batchFn(), []);
    if (this.batch) {
      this.f = this.funcs[0]!;
      this.batchMode = true;
      this.body(() => (this.list ? this.listLoopFn(this.list) : this.batchLoopFn()), [[N_I64_LOCALS, I64], [N_I32_LOCALS, I32], [1, I64], [8, I64], [2, I32], [1, I64], [1, I32], [5, I32], [1, I64], [3, I32], [1, I64], [1, I32], [6, I32]], 512 + (this.f.end - this.f.start) * 48);
      this.batchMode = false;
      this.lazyRegions = false;
    }
    for (const k of this.loopFns) {
      this.f = this.funcs[k]!;
      this.loopMode = true;
      this.slimFn = this.slim(k);
      this.body(() => this.loopFn(), [...(this.slimFn ? [[5, I64] as [number, number]] : []), [N_I64_LOCALS, I64], [N_I32_LOCALS, I32], [1, I64], [8, I64], [2, I32], [1, I64], [1, I32], [7, I64]], 256 + (this.f.end - this.f.start) * 48);
      this.slimFn = false;
      this.loopMode = false;
    }
    m.section(10, c);
    return m.out();
  }

  /**
   * Whether function `k` takes the slim calling convention (T_SLIM): a verified program's
   * subprogram other than the main function (which `run`, the batch loop and calls of pc 0
   * enter with every register), r10 never written. Only bpf-to-bpf calls enter it.
   */
  slim(k: number): boolean {
    return k > 0 && this.verified && this.r10Fixed;
  }

  /** Whether anything but `run` enters pc 0: a bpf-to-bpf call or a callback pointer naming it (its r1 is then no context). */
  entersPcZero(): boolean {
    for (let pc = 0; pc < this.n; pc++) {
      const i = this.ins[pc]!;
      if (isCall(i) && i.src === 1 && pc + 1 + i.imm === 0) return true;
      if (funcPointer(this.ins, pc) === 0) return true;
    }
    return false;
  }

  /** Emits one function body (size-prefixed) with its local declarations. */
  body(emit: () => void, locals: [number, number][], size = 1 << 10): void {
    const outer = this.c;
    const inner = BODY_SCRATCH.reset(size);
    this.c = inner;
    inner.u32(locals.length);
    for (const [count, type] of locals) inner.u32(count).u8(type);
    emit();
    inner.u8(Op.end);
    this.c = outer;
    outer.u32(inner.len).bytes(inner.buf.subarray(0, inner.len));
  }

  /** fault(rec, code, pc): records the fault for the host and unwinds through the global. */
  faultFn(): void {
    const c = this.c;
    c.get(0).get(1).mem(Op.i32_store, 2, A.VM_FAULT);
    c.get(0).get(2).mem(Op.i32_store, 2, A.VM_FAULT_PC);
    c.get(1).op(Op.global_set).u32(G_FAULT);
  }

  /** ldabs(rec, off, size): a network-order packet load, or the run ends with r0 = 0 (§1.11). */
  ldAbsFn(): void {
    const c = this.c;
    // if (off + size > len || off >> 32 != 0) { fault = LD_ABS_EXIT; return 0 }
    c.get(1).get(2).op(Op.i64_extend_i32_u).op(Op.i64_add).get(0).mem(Op.i32_load, 2, A.VM_PKT_LEN).op(Op.i64_extend_i32_u).op(Op.i64_gt_u);
    c.get(1).i64c(32).op(Op.i64_shr_u).op(Op.i64_eqz).op(Op.i32_eqz).op(Op.i32_or);
    c.u8(Op.if).u8(EMPTY).i32c(LD_ABS_EXIT).op(Op.global_set).u32(G_FAULT).i64c(0).op(Op.return).op(Op.end);
    c.get(0).mem(Op.i32_load, 2, A.VM_PKT).get(1).op(Op.i32_wrap_i64).op(Op.i32_add).op(Op.local_set).u32(0);
    c.get(2).i32c(1).op(Op.i32_eq);
    c.u8(Op.if).u8(EMPTY).get(0).mem(Op.i64_load8_u, 0).op(Op.return).op(Op.end);
    c.get(2).i32c(2).op(Op.i32_eq);
    c.u8(Op.if).u8(EMPTY).get(0).mem(Op.i64_load16_u, 0).op(Op.call).u32(F_BSWAP16).op(Op.return).op(Op.end);
    c.get(0).mem(Op.i64_load32_u, 0).op(Op.call).u32(F_BSWAP32);
  }

  bswap16Fn(): void {
    const c = this.c;
    c.get(0).i64c(0xff).op(Op.i64_and).i64c(8).op(Op.i64_shl);
    c.get(0).i64c(8).op(Op.i64_shr_u).i64c(0xff).op(Op.i64_and).op(Op.i64_or);
  }

  bswap32Fn(): void {
    const c = this.c;
    // ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >> 8) & 0xff00) | ((x >> 24) & 0xff), on the low 32 bits.
    c.get(0).i64c(0xff).op(Op.i64_and).i64c(24).op(Op.i64_shl);
    c.get(0).i64c(0xff00).op(Op.i64_and).i64c(8).op(Op.i64_shl).op(Op.i64_or);
    c.get(0).i64c(8).op(Op.i64_shr_u).i64c(0xff00).op(Op.i64_and).op(Op.i64_or);
    c.get(0).i64c(24).op(Op.i64_shr_u).i64c(0xff).op(Op.i64_and).op(Op.i64_or);
  }

  bswap64Fn(): void {
    const c = this.c;
    c.get(0).op(Op.call).u32(F_BSWAP32).i64c(32).op(Op.i64_shl);
    c.get(0).i64c(32).op(Op.i64_shr_u).op(Op.call).u32(F_BSWAP32).op(Op.i64_or);
  }

  /** run(rec): the interpreter's vmExec from pc 0 at depth 0, with r0..r10 as the record has them. */
  runFn(): void {
    const c = this.c;
    const B0 = 1;
    const RES = 2;
    c.i32c(0).op(Op.global_set).u32(G_FAULT);
    c.get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).tee(B0).op(Op.global_set).u32(G_BUDGET);
    const ctx = this.runFacts ? this.batch : undefined;
    if (ctx) {
      // The main function relies on bounds.ts's facts: only for a run whose r1 is the
      // context and whose regions are as they say (every dataplane run; not a tail call
      // from an unverified program that passes something else in r1). Any other runs on
      // the interpreter, whole.
      const region = (off: number): void => { c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS + off); };
      c.get(REC).mem(Op.i32_load, 2, A.VM_NREGIONS).i32c(2).op(Op.i32_ge_u);
      c.get(REC).mem(Op.i64_load, 3, A.VM_REGS + 8);
      region(0);
      c.op(Op.i64_extend_i32_u).op(Op.i64_eq).op(Op.i32_and);
      region(4);
      region(0);
      c.op(Op.i32_sub).i32c(ctx.size).op(Op.i32_eq).op(Op.i32_and);
      region(8);
      c.i32c(ctx.writable ? A.VM_REGION_WRITABLE | A.VM_REGION_SKB_CTX : 0).op(Op.i32_eq).op(Op.i32_and);
      region(A.VM_REGION_SIZE + 8);
      c.i32c(A.VM_REGION_WRITABLE).op(Op.i32_and).i32c(0).op(Op.i32_ne).op(Op.i32_and);
      c.u8(Op.if).u8(EMPTY);
    }
    c.get(REC).i32c(0);
    for (let r = 0; r <= 10; r++) c.get(REC).mem(Op.i64_load, 3, A.VM_REGS + r * 8);
    c.op(Op.call).u32(F_SUB0);
    for (let k = 0; k < 6; k++) c.op(Op.drop);
    c.set(RES);
    if (ctx) {
      c.op(Op.else);
      // (the interpreter follows tail calls itself and leaves r0 and the budget in the record)
      c.get(REC).i32c(0).i32c(0).op(Op.call).u32(F_SHORT).op(Op.global_set).u32(G_FAULT);
      c.get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).op(Op.global_set).u32(G_BUDGET);
      c.get(REC).mem(Op.i64_load, 3, A.VM_REGS).set(RES);
      c.op(Op.end);
    }
    // r0 goes back unless the run faulted (a legacy packet load out of range ends with r0 = 0).
    c.op(Op.global_get).u32(G_FAULT).i32c(LD_ABS_EXIT).op(Op.i32_eq);
    c.u8(Op.if).u8(EMPTY).i64c(0).set(RES).i32c(0).op(Op.global_set).u32(G_FAULT).op(Op.end);
    c.op(Op.global_get).u32(G_FAULT).op(Op.i32_eqz);
    c.u8(Op.if).u8(EMPTY).get(REC).get(RES).mem(Op.i64_store, 3, A.VM_REGS).op(Op.end);
    c.get(REC).op(Op.global_get).u32(G_BUDGET).mem(Op.i32_store, 2, A.VM_BUDGET);
    c.get(REC).get(REC).mem(Op.i64_load, 3, A.VM_EXECUTED).get(B0).op(Op.global_get).u32(G_BUDGET).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_add).mem(Op.i64_store, 3, A.VM_EXECUTED);
    c.op(Op.global_get).u32(G_FAULT);
  }

  subFn(): void {
    // A slim function's r10 comes in r0's parameter (its r0 is not read before it is written).
    if (this.slimFn) this.c.get(R(0)).set(R(10)).i64c(0).set(R(0));
    this.prologue(this.boundsUsed(this.f));
    this.faultBlock(this.f);
    this.unwind();
  }

  /**
   * A bpf_loop callback's loop function (inlineLoop calls it once, nr >= 1): the callback's
   * code run for i = 0, 1, ... inside one function, each iteration as a call would run it
   * (r1 = i, r2 = ctx, r6..r9 the caller's, the same frame; r0 and r3..r5 as the last
   * iteration left them), until nr or a nonzero r0. Takes (rec, depth, r0, nr, ctx,
   * r3..r10) like a call; returns r0..r5 and the number of iterations. A verified
   * program's (`slim`): takes (rec, depth, r10, nr, ctx, r3..r5), returns the number of
   * iterations (the callback reads no r0 or r6..r9 before writing them, the caller no
   * r1..r5 after the helper call).
   */
  loopFn(): void {
    const c = this.c;
    const slim = this.slimFn;
    if (slim) c.get(R(0)).set(R(10)).i64c(0).set(R(0));
    this.prologue();
    c.get(R(1)).set(L_NR).get(R(2)).set(L_CTX).i64c(0).set(L_I);
    if (!slim) for (let r = 6; r <= 9; r++) c.get(R(r)).set(L_R6 + r - 6);
    c.u8(Op.block).u8(EMPTY);
    this.pushLabel('LD');
    c.u8(Op.loop).u8(EMPTY);
    this.pushLabel('LI');
    c.get(L_I).set(R(1)).get(L_CTX).set(R(2));
    if (!slim) for (let r = 6; r <= 9; r++) c.get(L_R6 + r - 6).set(R(r));
    c.u8(Op.block).u8(EMPTY);
    this.pushLabel('X');
    this.faultBlock(this.f);
    this.unwind();
    c.op(Op.end);
    this.popLabel();
    // The iteration returned r0: stop on nonzero, or after nr.
    c.get(L_I).i64c(1).op(Op.i64_add).set(L_I);
    c.get(R(0)).op(Op.i64_eqz).op(Op.i32_eqz).u8(Op.br_if).u32(this.depth('LD'));
    c.get(L_I).get(L_NR).op(Op.i64_lt_u).u8(Op.br_if).u32(this.depth('LI'));
    c.op(Op.end);
    this.popLabel();
    c.op(Op.end);
    this.popLabel();
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    if (!slim) for (let r = 0; r <= 5; r++) c.get(R(r));
    c.get(L_I);
  }

  /**
   * Whether `f` reads the access bounds (prologue): a memory access other than one inside
   * its frame through a fixed r10, a legacy packet load, or a helper or kfunc call (their
   * inline forms check pointers; the others reload the packet's bounds).
   */
  boundsUsed(f: Func): boolean {
    for (const b of f.blocks) {
      for (const pc of b.pcs) {
        const i = this.ins[pc]!;
        const cls = i.code & 7;
        if (i.code === 0x85) { if (i.src !== 1) return true; continue; }
        if (cls === 0 && i.code !== 0x18) return true;
        if (cls !== 1 && cls !== 2 && cls !== 3) continue;
        const base = cls === 1 ? i.src : i.dst;
        const size = [4, 2, 1, 8][(i.code >> 3) & 3]!;
        if (!(this.r10Fixed && base === 10 && i.off >= -A.VM_FRAME_STACK && i.off + size <= 0)) return true;
      }
    }
    return false;
  }

  /**
   * Whether a call of function `k` leaves the record's regions as they were (no helper,
   * kfunc or tail call in it or in what it calls): the caller's packet bounds still hold.
   */
  keepsRegions(k: number, seen = new Set<number>()): boolean {
    if (seen.has(k)) return false;
    seen.add(k);
    const f = this.funcs[k]!;
    for (const b of f.blocks) {
      for (const pc of b.pcs) {
        const i = this.ins[pc]!;
        if (i.code !== 0x85) continue;
        if (i.src !== 1) return false;
        const t = this.funcIndex.get(pc + 1 + i.imm);
        if (t === undefined || !this.keepsRegions(t, seen)) return false;
      }
    }
    return true;
  }

  /** A function's start: its access bounds (when `bounds`), frame pointer and budget in locals. */
  prologue(bounds = true): void {
    const c = this.c;
    if (bounds) this.prologueBounds();
    if (this.r10Fixed) c.get(R(10)).op(Op.i32_wrap_i64).i32c(A.VM_FRAME_STACK).op(Op.i32_sub).set(FP);
    c.op(Op.global_get).u32(G_BUDGET).set(BUD);
    this.labels = [];
    this.labelAt.clear();
  }

  prologueBounds(): void {
    const c = this.c;
    // Access bounds: the whole stack, the context and packet (regions 0 and 1 when present).
    c.get(REC).mem(Op.i32_load, 2, A.VM_STACK).op(Op.i64_extend_i32_u).set(ST_LO);
    c.i64c(EMPTY_LO).tee(C_LO).tee(CW_LO).tee(P_LO).set(PW_LO);
    c.i64c(EMPTY_HI).tee(C_HI).tee(CW_HI).tee(P_HI).set(PW_HI);
    c.get(REC).mem(Op.i32_load, 2, A.VM_NREGIONS).i32c(2).op(Op.i32_ge_u);
    c.u8(Op.if).u8(EMPTY);
    c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS).op(Op.i64_extend_i32_u).set(C_LO);
    c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS + 4).op(Op.i64_extend_i32_u).set(C_HI);
    c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS + 8).i32c(A.VM_REGION_WRITABLE).op(Op.i32_and);
    c.u8(Op.if).u8(EMPTY).get(C_LO).set(CW_LO).get(C_HI).set(CW_HI).op(Op.end);
    // An __sk_buff: stores reach the fields before `data` directly, the rest through the check.
    c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS + 8).i32c(A.VM_REGION_SKB_CTX).op(Op.i32_and);
    c.u8(Op.if).u8(EMPTY).get(C_LO).i64c(A.SKB_DATA).op(Op.i64_add).set(CW_HI).op(Op.end);
    c.op(Op.end);
    this.loadPacketBounds();
  }

  /**
   * The function's blocks inside the fault block: every fault site sets CODE and FPC and
   * leaves through it to one exit, which records the fault (and the budget) for the host.
   */
  faultBlock(f: Func): void {
    const c = this.c;
    c.u8(Op.block).u8(EMPTY);
    this.pushLabel('F');
    c.u8(Op.block).u8(EMPTY);
    this.pushLabel('S');
    this.layout(f);
    c.op(Op.end);
    this.popLabel();
    // A budget that cannot pay for the block at FPC: the interpreter runs the rest of the
    // run from there (it ends in that block), then its fault leaves as any other.
    this.spill();
    if (this.lazyRegions) this.storeRegions();
    c.get(REC).get(BUD).mem(Op.i32_store, 2, A.VM_BUDGET);
    c.get(REC).get(FPC).get(DEPTH).op(Op.call).u32(F_SHORT).tee(CODE);
    c.op(Op.i32_eqz);
    // (0: a legacy packet load out of range ended the run, r0 = 0)
    c.u8(Op.if).u8(EMPTY).i32c(LD_ABS_EXIT).set(CODE).op(Op.end);
    c.get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).set(BUD);
    c.get(REC).mem(Op.i32_load, 2, A.VM_FAULT_PC).set(FPC);
    c.op(Op.end);
    this.popLabel();
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    c.get(REC).get(CODE).get(FPC).op(Op.call).u32(F_FAULT);
  }

  /** Opens a Wasm block/loop/if that fault exits must branch out of (it counts in `depth`). */
  enter(op: number, type = EMPTY): void {
    this.c.u8(op).u8(type);
    this.pushLabel('-');
  }

  leave(): void {
    this.c.op(Op.end);
    this.popLabel();
  }

  pushLabel(l: string): void {
    if (l !== '-') this.labelAt.set(l, this.labels.length);
    this.labels.push(l);
  }

  popLabel(): string | undefined {
    const l = this.labels.pop();
    if (l !== undefined && l !== '-') this.labelAt.delete(l);
    return l;
  }

  close(l: string): void {
    const top = this.popLabel();
    if (!top || !top.startsWith(l)) throw new CodegenError(`internal: label ${top} closed as ${l}`, this.f.blocks[this.bi]!.start);
  }

  /** Branch depth of an open label, or -1. */
  depth(l: string): number {
    const i = this.labelAt.get(l);
    return i === undefined ? -1 : this.labels.length - 1 - i;
  }

  loadPacketBounds(): void {
    const c = this.c;
    c.get(REC).mem(Op.i32_load, 2, A.VM_NREGIONS).i32c(2).op(Op.i32_ge_u);
    c.u8(Op.if).u8(EMPTY);
    c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS + A.VM_REGION_SIZE).op(Op.i64_extend_i32_u).set(P_LO);
    c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS + A.VM_REGION_SIZE + 4).op(Op.i64_extend_i32_u).set(P_HI);
    c.i64c(EMPTY_LO).set(PW_LO).i64c(EMPTY_HI).set(PW_HI);
    c.get(REC).mem(Op.i32_load, 2, A.VM_REGIONS + A.VM_REGION_SIZE + 8).i32c(A.VM_REGION_WRITABLE).op(Op.i32_and);
    c.u8(Op.if).u8(EMPTY).get(P_LO).set(PW_LO).get(P_HI).set(PW_HI).op(Op.end);
    c.op(Op.end);
  }

  /** The batch code's packet context and packet (regions 0 and 1) into the record, for the dataplane's checks. */
  storeRegions(): void {
    const c = this.c;
    const put = (off: number, l: number): void => { c.get(REC).get(l).op(Op.i32_wrap_i64).mem(Op.i32_store, 2, off); };
    put(A.VM_REGIONS, C_LO);
    put(A.VM_REGIONS + 4, C_HI);
    put(A.VM_REGIONS + A.VM_REGION_SIZE, P_LO);
    put(A.VM_REGIONS + A.VM_REGION_SIZE + 4, P_HI);
    // (and no kernel view: this run has taken none)
    c.get(REC).i32c(0).mem(Op.i32_store, 2, A.VM_KVIEW);
  }

  /** Returns from the current function with dummy values (a fault is unwinding); in the batch loop, ends the packet's run. */
  unwind(): void {
    const c = this.c;
    if (this.batchMode) {
      c.u8(Op.br).u32(this.depth('U'));
      return;
    }
    for (let k = 0; k < (this.slimFn ? 1 : 7); k++) c.i64c(0);
    c.op(Op.return);
  }

  /**
   * The budget as the interpreter would have it after the current instruction: the block
   * was charged whole, the instructions after this one never ran.
   */
  syncBudget(): void {
    const unrun = this.curK - this.curM - 1;
    this.c.get(BUD);
    if (unrun) this.c.i32c(unrun).op(Op.i32_add);
    this.c.op(Op.global_set).u32(G_BUDGET);
  }

  fault(code: number, pc: number): void {
    const c = this.c;
    if (this.deferred) this.settleBudget(this.bi, this.curM);
    // The budget as the interpreter leaves it: the instructions after this one never ran.
    const unrun = this.curK - this.curM - 1;
    if (unrun) c.get(BUD).i32c(unrun).op(Op.i32_add).set(BUD);
    c.i32c(code).set(CODE).i32c(pc | 0).set(FPC);
    c.u8(Op.br).u32(this.depth('F'));
  }

  /** After a call that may have faulted: unwind when the global says so. */
  checkUnwind(): void {
    const c = this.c;
    c.op(Op.global_get).u32(G_FAULT);
    this.enter(Op.if);
    this.syncBudget();
    this.unwind();
    this.leave();
  }

  block(b: Block): void {
    const c = this.c;
    const k = b.pcs.length;
    let terminated = false;
    this.konst.clear();
    this.fpOff.clear();
    // The budget is charged a block at a time. One that cannot pay for the whole block
    // hands the run to the interpreter at the block's start (the 'S' exit): the run ends
    // in this block, and the interpreter ends it exactly (a budget fault before the
    // (budget+1)-th instruction, or a fault an instruction it still pays for raises). (No
    // test in a counted loop's copy entered with the budget for all of its iterations,
    // nor in a loop-free program's batch code.)
    if (!this.unchecked && !(this.batchMode && this.batchCost > 0)) {
      c.get(BUD).i32c(k).op(Op.i32_lt_u);
      c.u8(Op.if).u8(EMPTY);
      this.pushLabel('-');
      c.i32c(b.start).set(FPC);
      c.u8(Op.br).u32(this.depth('S'));
      this.popLabel();
      c.op(Op.end);
    }
    if (!this.deferred) c.get(BUD).i32c(k).op(Op.i32_sub).set(BUD);
    this.curK = k;
    for (let m = 0; m < k; m++) {
      this.curM = m;
      terminated = this.insn(b.pcs[m]!);
      this.track(b.pcs[m]!);
    }
    if (!terminated) {
      const last = b.pcs[k - 1]!;
      this.goto(last + (this.ins[last]!.code === 0x18 ? 2 : 1), last, true);
    }
  }

  /**
   * Control goes to `t` (a block start, or outside the program: a pc fault there). For
   * fallthrough into the next block nothing is emitted.
   */
  goto(t: number, from: number, fallthrough = false): void {
    const f = this.f;
    if (t < 0 || t >= this.n) {
      this.fault(A.VM_FAULT_PC_RANGE, t >>> 0);
      return;
    }
    const j = f.index.get(t);
    if (j === undefined) throw new CodegenError(fallthrough ? 'falls through into the next subprogram' : `jump to ${t} leaves its subprogram`, from);
    if (j === this.bi + 1 && fallthrough && !this.leavesDeferred(t)) return;
    const c = this.c;
    if (this.leavesDeferred(t)) this.settleBudget(this.bi, this.curM);
    if (j > this.bi) {
      const d = this.depth(`E${j}`);
      if (d < 0) throw new CodegenError(`internal: no label for block ${j}`, from);
      c.u8(Op.br).u32(d);
      return;
    }
    const d = this.depth(`L${j}`);
    if (d >= 0) { c.u8(Op.br).u32(d); return; }
    c.i32c(j).set(LABEL);
    c.u8(Op.br).u32(this.depth('top'));
  }

  /** Emits a conditional jump: the condition (i32) is on the stack. */
  branchIf(t: number, from: number): void {
    const c = this.c;
    const j = t >= 0 && t < this.n ? this.f.index.get(t) : undefined;
    const d = j === undefined || this.leavesDeferred(t) ? -1 : j > this.bi ? this.depth(`E${j}`) : this.depth(`L${j}`);
    if (d >= 0) {
      c.u8(Op.br_if).u32(d);
      return;
    }
    c.u8(Op.if).u8(EMPTY);
    this.pushLabel('-');
    this.goto(t, from);
    this.popLabel();
    c.op(Op.end);
  }

  /**
   * Keeps `konst` after the instruction at pc: lddw sets a register, anything else that
   * writes one forgets it; and `fpOff`: a 64-bit mov of r10 (or of a register it knows)
   * sets one, adding or subtracting an immediate moves it, anything else that writes the
   * register forgets it.
   */
  track(pc: number): void {
    const i = this.ins[pc]!;
    const cls = i.code & 7;
    const fo = this.fpOff;
    if (i.code === 0xbf && i.off === 0 && (i.src === 10 || fo.has(i.src)) && i.dst !== 10) fo.set(i.dst, i.src === 10 ? 0 : fo.get(i.src)!);
    else if ((i.code === 0x07 || i.code === 0x17) && fo.has(i.dst)) fo.set(i.dst, fo.get(i.dst)! + (i.code === 0x07 ? i.imm : -i.imm));
    else if (cls === 4 || cls === 7 || cls === 1 || i.code === 0x18) fo.delete(i.dst);
    else if (cls === 3 && (i.code & 0xe0) === 0xc0) { fo.delete(i.src); fo.delete(0); }
    else if (cls === 0 || i.code === 0x85) for (let r = 0; r <= 5; r++) fo.delete(r);
    if (i.code === 0x18) {
      const hi = pc + 1 < this.n ? this.ins[pc + 1]!.imm : 0;
      if (i.src === 0 && hi === 0) this.konst.set(i.dst, i.imm >>> 0);
      else this.konst.delete(i.dst);
    } else if (i.code === 0xb4 || (i.code === 0xb7 && i.imm >= 0)) {
      // mov32 / mov64 of a non-negative immediate: the register's value is imm.
      this.konst.set(i.dst, i.imm >>> 0);
    } else if (cls === 4 || cls === 7 || cls === 1) {
      this.konst.delete(i.dst);
    } else if (cls === 3 && (i.code & 0xe0) === 0xc0) {
      this.konst.delete(i.src);
      this.konst.delete(0);
    } else if (cls === 0 || i.code === 0x85) {
      for (let r = 0; r <= 5; r++) this.konst.delete(r);
    }
  }

  /** Emits one instruction; true when it ends the block (exit, ja, a taken-or-not jump handled here). */
  insn(pc: number): boolean {
    const i = this.ins[pc]!;
    const cls = i.code & 7;
    switch (cls) {
      case 7: return this.alu64(i, pc);
      case 4: return this.alu32(i, pc);
      case 5: case 6: return this.jmp(i, pc);
      case 1: return this.ldx(i, pc);
      case 2: case 3: return this.st(i, pc);
      default: return this.ld(i, pc);
    }
  }

  spill(): void {
    const c = this.c;
    for (let r = 0; r <= 10; r++) c.get(REC).get(R(r)).mem(Op.i64_store, 3, A.VM_REGS + r * 8);
  }
}

/** At most this many of a program's regions are checked inline in every access (abi PR_MAX_REGIONS: 64). */
export const INLINE_REGIONS = 8;

function pickInlineRegions(ins: readonly Insn[], n: number, regions: readonly CodegenRegion[], maps: readonly CodegenMap[]): readonly CodegenRegion[] {
  if (regions.length <= INLINE_REGIONS) return regions;
  const uses = new Map<CodegenRegion, number>(regions.map((g) => [g, 0]));
  const find = (a: number): CodegenRegion | undefined => regions.find((g) => a >= g.addr && a < g.addr + Math.max(g.len, 1));
  for (let pc = 0; pc + 1 < n; pc++) {
    const i = ins[pc]!;
    if (i.code !== 0x18) continue;
    const a = i.imm >>> 0;
    pc++;
    if (ins[pc]!.imm !== 0) continue;
    const m = maps.find((x) => x.addr === a);
    const g = find(m ? m.values : a);
    if (g) uses.set(g, uses.get(g)! + 1);
  }
  // (the most named first; ties in the order given)
  return regions.map((g, k) => ({ g, k })).sort((x, y) => uses.get(y.g)! - uses.get(x.g)! || x.k - y.k).slice(0, INLINE_REGIONS).map((x) => x.g);
}
