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
 *   restore them; bpf_loop on one of the program's own callbacks calls the callback's
 *   loop function, a second copy of it whose exits end an iteration (one call per loop);
 * - basic blocks (cfg.ts) are laid out in pc order in nested `block`s, so a forward jump
 *   is one `br`; a loop nothing enters but through its head becomes a Wasm `loop`; other
 *   back edges go through a dispatch `loop` whose `br_table` picks the block;
 * - the budget is charged once per basic block; a budget that cannot pay for a block
 *   hands the rest of the run (which ends in that block) to the interpreter, so it ends
 *   with the interpreter's fault at its pc; helper and subprogram calls end blocks; a
 *   loop whose trip count is known on entry (`r += c … jne/jlt r, K`, no calls) has a
 *   second copy without budget tests (nor charges, when its blocks form a chain: the
 *   budget is settled from the counter where the copy is left), entered when the budget
 *   covers all its iterations; the batch code of a loop-free main function tests the
 *   budget once per batch (budgetBound);
 * - every memory access is checked: r10-relative stack accesses inside the frame need no
 *   check when no instruction writes r10; others are compared with the packet, the
 *   context, the stack and the program's own regions inline, then the general check;
 * - helper calls hand over r1..r5 (the whole register file, budget and packet bounds for
 *   the few helpers that run eBPF or move the packet).
 * A fault stores its code and pc in the run record, sets the module's `fault` global and
 * unwinds; `run(rec)` returns the fault (0, a VM_FAULT_*, or VM_TAIL_CALL).
 */

import * as A from '../../abi.generated.js';
import { buildFunc, decode, isCall, successors, writesR10, type Block, type Func, type Insn } from './cfg.js';
import { CodegenError } from './errors.js';
import { PACKET_MOVING_HELPERS, PLAIN_HELPERS, TAIL_CALL } from '../helpers.js';
import { FACT_DATA, FACT_DATA_END, FACT_DIRECT, batchFacts, type BatchContext, type BatchMap } from './bounds.js';
import { ATOMIC, EMPTY, I32, I64, Op, Writer } from './wasm.js';

export { CodegenError } from './errors.js';

export interface CodegenRegion {
  addr: number;
  len: number;
  writable: boolean;
}

/** A map the program names (its record address), as bpf_map_lookup_elem sees it. */
export interface CodegenMap {
  addr: number;
  type: number;
  maxEntries: number;
  /** Array maps: where element 0 is, and the distance between elements. */
  values: number;
  stride: number;
  /** Per-CPU maps: the number of copies (a thread past the last uses copy 0); 1 otherwise. */
  copies?: number;
  /** The key's and value's sizes (map calls other than array lookups run inline only when given). */
  keySize?: number;
  valueSize?: number;
  /** Hash maps: slots (a power of two) and the distance between them (hash lookups run inline when given). */
  capacity?: number;
  slotSize?: number;
}

/** A map as the code generator sees it, read from its record (abi MAP_*) in the shared memory. */
export function codegenMap(dv: DataView, addr: number): CodegenMap {
  const u32 = (off: number): number => dv.getUint32(addr + off, true);
  return {
    addr, type: u32(A.MAP_TYPE), maxEntries: u32(A.MAP_MAX_ENTRIES), values: u32(A.MAP_VALUES), stride: u32(A.MAP_STRIDE),
    copies: u32(A.MAP_COPIES), keySize: u32(A.MAP_KEY_SIZE), valueSize: u32(A.MAP_VALUE_SIZE),
    capacity: u32(A.MAP_CAPACITY), slotSize: u32(A.MAP_SLOT_SIZE),
  };
}

export interface CompileOptions {
  /**
   * Regions the program always has besides the context and the packet (its global data
   * and map values, fixed at load): checked inline as constants. Others still pass
   * through the general check.
   */
  regions?: readonly CodegenRegion[];
  /**
   * Generate the batch loop (`batch` runs the program over many packets in one call) for
   * this context: `skb` (tc: a writable __sk_buff) or `xdp` (a read-only xdp_md). It
   * copies the main function, so it roughly doubles the module and the time to generate
   * it. Without it, `batch` declines.
   */
  batch?: 'skb' | 'xdp';
  /**
   * The program's maps (fixed at load): calls naming one of them in r1 (a constant) run
   * inline or call the map code directly — lookups (array, per-CPU array and hash maps
   * inline, as the kernel's JIT inlines them), updates, deletes, and bpf_redirect_map into
   * a devmap or XSKMAP with constant flags.
   */
  maps?: readonly CodegenMap[];
}

/** A loop whose iterations are known on entry (Gen.countedLoop): `reg += step` until `reg != limit` (or `<`) fails. */
interface CountedLoop {
  reg: number;
  step: number;
  limit: number;
  /** A 64-bit compare (else 32-bit: the register's low half counts). */
  wide: boolean;
  /** `jne` (else `jlt`, unsigned). */
  ne: boolean;
  /** At most this many instructions per iteration. */
  cost: number;
  /** The pc of the back edge's conditional jump. */
  latch: number;
  /** Its first and last blocks, and where the increment is in the last one. */
  h: number;
  e: number;
  incAt: number;
  /** The budget can be settled at the exits instead of charged per block (`settleBudget`). */
  chain: boolean;
}

/** Counted loops of at most UNROLL_MAX_COST instructions run UNROLL iterations per Wasm loop round in their unchecked copy. */
const UNROLL = 4, UNROLL_MAX_COST = 24;

export interface CompiledCode {
  /** The module's bytes: imports env.memory, env.helper, env.check, env.lookup, env.update, env.delete, env.short; exports `run` and `batch`. */
  bytes: Uint8Array;
  /** Wasm functions generated (one per subprogram). */
  functions: number;
  /** Basic blocks generated. */
  blocks: number;
  /** Loops whose trip count is known on entry (they run without budget tests when the budget covers them), over every function generated. */
  countedLoops: number;
}

// Internal, never stored in the record: a legacy packet load out of range ends the whole
// run with r0 = 0 (the interpreter's `depth = depth0; break`).
const LD_ABS_EXIT = 0x200;
/** Callback pointers (bpf_loop): (FUNC_TAG << 32) | pc, as `lddw rX, <func>` loads them (assembly/ebpf/helpers.ts). */
const FUNC_TAG = 0xbf0cn;
const PSEUDO_FUNC = 4;

/** The pc of the function an `lddw` at pc points to (src BPF_PSEUDO_FUNC), if it is one inside the program. */
function funcPointer(ins: readonly Insn[], pc: number): number | undefined {
  const i = ins[pc]!;
  if (i.code !== 0x18 || i.src !== PSEUDO_FUNC || pc + 1 >= ins.length) return undefined;
  const t = pc + 1 + i.imm;
  return t >= 0 && t < ins.length ? t : undefined;
}
/** Helper numbers (include/uapi/linux/bpf.h) the generator may handle itself. */
const enum Fn {
  MapLookup = 1, MapUpdate = 2, MapDelete = 3, KtimeGetNs = 5, GetPrandomU32 = 7, GetSmpProcessorId = 8,
  SkbStoreBytes = 9, Redirect = 23, SkbLoadBytes = 26,
  XdpAdjustHead = 44, RedirectMap = 51, XdpAdjustMeta = 54, XdpAdjustTail = 65, RedirectPeer = 155, Loop = 181,
}
/** What those helpers return besides 0: errnos and tc actions. */
const EINVAL = -22, EFAULT = -14, TC_ACT_SHOT = 2, TC_ACT_REDIRECT = 7;
/** The XDP buffer's reserved head (struct xdp_frame) and the metadata limit (assembly/ebpf/helpers.ts). */
const XDP_MIN_HEADROOM = 40, XDP_META_MAX = 32;
/** i32.atomic.load (after the 0xfe prefix). */
const ATOMIC_LOAD32 = 0x10;
const EMPTY_LO = -1n;
const EMPTY_HI = 8;

// Locals of every subprogram function: params first.
const REC = 0;
const DEPTH = 1;
// r11..r15 are not valid eBPF registers, but the interpreter keeps them in the run record
// (helpers use r11 as scratch): they stay there, as virtual locals the writer turns into
// loads and stores.
const VIRTUAL = 1000;
const R = (i: number): number => (i <= 10 ? 2 + i : VIRTUAL + i); // r0..r10 → 2..12
const EA = 13; // i64
const TMP = 14; // i64
const SPARE = 15; // i64
const ADDR = 16; // i32
const LABEL = 17; // i32
const CODE = 18; // i32
const ST_LO = 19; // i64: stack
const C_LO = 20, C_HI = 21, CW_LO = 22, CW_HI = 23; // i64: context (read, write)
const P_LO = 24, P_HI = 25, PW_LO = 26, PW_HI = 27; // i64: packet (read, write)
const FP = 28; // i32: r10 - 512 when r10 is never written
const BUD = 29; // i32: the budget (the global only at calls, exits and faults)
const SCR = 30; // i64: a value on its way to a virtual register
const FPC = 31; // i32: the pc of the fault being raised
// The batch loop's own (after a subprogram's locals): entry index, entry, budget, count,
// entries, the packet's r0 and fault.
const B_I = 32, B_E = 33, B_B0 = 34, B_N = 35, B_W = 36; // i32
const B_RES = 37; // i64
const B_FLT = 38; // i32
const B_S = 39; // i32: stop at the first fault (VM_BATCH_STOP)
const B_C = 40; // i32: chain the runs' packets (VM_BATCH_CHAIN)
const B_EXEC = 41; // i64: instructions the batch's runs executed (added to the record's count at the end)
const B_K = 42; // i32: skip the entries an earlier program finished (VM_BATCH_SKIP)
// A loop function's own (after a subprogram's locals): nr, ctx, i, and the caller's r6..r9.
const L_NR = 32, L_CTX = 33, L_I = 34, L_R6 = 35; // i64 (L_R6..L_R6 + 3)
const N_I64_LOCALS = 3; // EA, TMP, SPARE
const N_I32_LOCALS = 3; // ADDR, LABEL, CODE

// Function indices: imports first.
const F_HELPER = 0;
const F_CHECK = 1;
const F_LOOKUP = 2;
const F_UPDATE = 3;
const F_DELETE = 4;
const F_SHORT = 5;
const F_FAULT = 6;
const F_LDABS = 7;
const F_BSWAP16 = 8;
const F_BSWAP32 = 9;
const F_BSWAP64 = 10;
const F_RUN = 11;
const F_SUB0 = 12;

// Types.
const T_HELPER = 0; // (i32 rec, i32 id, i32 depth, i32 pc) -> i32
const T_CHECK = 1; // (i32 rec, i64 ea, i32 size, i32 write) -> i32
const T_FAULT = 2; // (i32 rec, i32 code, i32 pc) -> ()
const T_LDABS = 3; // (i32 rec, i64 off, i32 size) -> i64
const T_UNARY64 = 4; // (i64) -> i64
const T_RUN = 5; // (i32) -> i32
const T_SUB = 6; // (i32, i32, i64 x 11) -> (i64 x 7)
const T_BATCH = 7; // (i32 rec, i32 entries, i32 n) -> i32; also the map lookup's and delete's (i32 map, i32 key, i32 cpu) -> i32
const T_UPDATE = 8; // (i32 map, i32 key, i32 value, i64 flags, i32 cpu, i32 all) -> i32

const ALU64: Partial<Record<number, number>> = { 0: Op.i64_add, 1: Op.i64_sub, 2: Op.i64_mul, 4: Op.i64_or, 5: Op.i64_and, 6: Op.i64_shl, 7: Op.i64_shr_u, 10: Op.i64_xor, 12: Op.i64_shr_s };
const ALU32: Partial<Record<number, number>> = { 0: Op.i32_add, 1: Op.i32_sub, 2: Op.i32_mul, 4: Op.i32_or, 5: Op.i32_and, 6: Op.i32_shl, 7: Op.i32_shr_u, 10: Op.i32_xor, 12: Op.i32_shr_s };
const CMP64: Partial<Record<number, number>> = { 1: Op.i64_eq, 2: Op.i64_gt_u, 3: Op.i64_ge_u, 5: Op.i64_ne, 6: Op.i64_gt_s, 7: Op.i64_ge_s, 10: Op.i64_lt_u, 11: Op.i64_le_u, 12: Op.i64_lt_s, 13: Op.i64_le_s };
const CMP32: Partial<Record<number, number>> = { 1: Op.i32_eq, 2: Op.i32_gt_u, 3: Op.i32_ge_u, 5: Op.i32_ne, 6: Op.i32_gt_s, 7: Op.i32_ge_s, 10: Op.i32_lt_u, 11: Op.i32_le_u, 12: Op.i32_lt_s, 13: Op.i32_le_s };

/**
 * The dispatcher's numbers (kfuncs at VM_KFUNC_BASE + id) of the helpers calls hand just
 * r1..r5 to (helpers.ts PLAIN_HELPERS; bpf_cast_to_kern_ctx is one too); every other
 * helper gets the whole register file and fresh packet bounds.
 */
const PLAIN = new Set([...PLAIN_HELPERS, A.VM_KFUNC_BASE + A.KFUNC_CAST_TO_KERN_CTX]);

/** The context the batch loop hands its program, by kind. */
const BATCH_CTX: Record<'skb' | 'xdp', BatchContext> = {
  skb: { size: A.SKB_CTX_SIZE, writable: true, writableEnd: A.SKB_DATA, data: A.SKB_DATA, dataEnd: A.SKB_DATA_END },
  xdp: { size: 24, writable: false, writableEnd: 0, data: 0, dataEnd: 4 },
};

// Globals.
const G_FAULT = 0;
const G_BUDGET = 1;
// batch(rec, entries, n) hands its arguments to the batch loop through these.
const G_WORK = 2;
const G_N = 3;

export function compileProgram(insns: Uint8Array, o: CompileOptions = {}): CompiledCode {
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
  const w = new Gen(ins, n, funcs, funcIndex, r10Fixed, o.regions ?? [], o.batch ? BATCH_CTX[o.batch] : undefined, o.maps ?? []);
  const bytes = w.module();
  return { bytes, functions: funcs.length, blocks: funcs.reduce((s, f) => s + f.blocks.length, 0), countedLoops: w.countedLoops };
}

/**
 * The most instructions a run of `f` can execute when that is known up front: no back
 * edges (each block runs at most once) and only calls that leave the budget alone (plain
 * and packet-moving helpers, bpf_cast_to_kern_ctx; not bpf-to-bpf calls, tail calls or
 * helpers that run callbacks). 0 when not.
 */
function budgetBound(ins: Insn[], f: Func): number {
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

class Gen {
  private c = new Writer(1 << 10);
  /**
   * Open Wasm labels, innermost last: 'E<k>' ends right before block k, 'L<k>' is the loop
   * headed by block k, 'top' the dispatch loop, '-' anything else (an if around a branch).
   */
  private labels: string[] = [];
  /** Where each named label sits in `labels` (names are unique while open). */
  private labelAt = new Map<string, number>();
  private f!: Func;
  private bi = 0;
  /** Size of the block being emitted and the index of the instruction in it. */
  private curK = 0;
  private curM = 0;
  /** bpf_loop callbacks the program names with lddw: pointer value → function index. */
  private callbacks = new Map<bigint, number>();
  /** Emitting the batch loop's copy of the main function (exits and unwinds end a packet's run). */
  private batchMode = false;
  /** Registers holding a constant below 2^32 (an lddw, or a mov of a non-negative immediate) set earlier in the current block. */
  private konst = new Map<number, number>();
  /** Emitting a callback's loop function (an exit ends the iteration, not the function). */
  private loopMode = false;
  /** Callbacks (function numbers) that have a loop function, and its function index. */
  private loopFns: number[] = [];
  private loopIndex = new Map<number, number>();
  /** Some call goes through the helper dispatcher (which reads the record's packet fields). */
  private dispatched = false;
  /** Some inlined helper reads and writes the record's packet fields. */
  private packetFields = false;
  /** Some bpf_redirect_map runs inline (it writes the record's redirect fields). */
  private redirects = false;
  /** In batch mode: accesses proven inside the context or packet, and packet-bound loads (bounds.ts). */
  private facts: Uint8Array = new Uint8Array(0);
  /**
   * When the main function has no loops and calls nothing that runs eBPF (each block runs
   * at most once a run, the helpers leave the budget alone): its instruction count, the
   * most a run can use; the batch code then tests the budget once, at its start (and
   * declines when it is lower), instead of per block. 0 otherwise.
   */
  private batchCost = 0;
  /** The counted loop whose unchecked copy is being emitted with its budget deferred (`settleBudget`). */
  private deferred: CountedLoop | undefined;
  /** In an unrolled counted loop's copy other than the last: the pc of its latch (else -1). */
  private unrollLatch = -1;
  /** In the batch code: the packet's and context's regions go into the record only before a general check. */
  private lazyRegions = false;
  /** Counted loops versioned so far. */
  countedLoops = 0;
  /** Emitting a counted loop's copy that runs with the budget for all its iterations (no per-block test). */
  private unchecked = false;
  /** Blocks whose 'E' label sits inside a structured loop, and the loops (header → last block). */
  private loops = new Map<number, number>();

  constructor(
    private readonly ins: Insn[],
    private readonly n: number,
    private readonly funcs: Func[],
    private readonly funcIndex: Map<number, number>,
    private readonly r10Fixed: boolean,
    private readonly regions: readonly CodegenRegion[],
    private readonly batch: BatchContext | undefined,
    private readonly maps: readonly CodegenMap[],
  ) {}

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
    t.u32(9);
    t.u8(0x60).u32(4).bytes([I32, I32, I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(4).bytes([I32, I64, I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(3).bytes([I32, I32, I32]).u32(0);
    t.u8(0x60).u32(3).bytes([I32, I64, I32]).u32(1).u8(I64);
    t.u8(0x60).u32(1).u8(I64).u32(1).u8(I64);
    t.u8(0x60).u32(1).u8(I32).u32(1).u8(I32);
    t.u8(0x60).u32(13).bytes([I32, I32, ...new Array(11).fill(I64)]).u32(7).bytes(new Array(7).fill(I64));
    t.u8(0x60).u32(3).bytes([I32, I32, I32]).u32(1).u8(I32);
    t.u8(0x60).u32(6).bytes([I32, I32, I32, I64, I32, I32]).u32(1).u8(I32);
    m.section(1, t);
    // Imports.
    const im = new Writer();
    im.u32(7);
    im.name('env').name('memory').u8(0x02).u8(0x03).u32(1).u32(65536);
    im.name('env').name('helper').u8(0x00).u32(T_HELPER);
    im.name('env').name('check').u8(0x00).u32(T_CHECK);
    im.name('env').name('lookup').u8(0x00).u32(T_BATCH);
    im.name('env').name('update').u8(0x00).u32(T_UPDATE);
    im.name('env').name('delete').u8(0x00).u32(T_BATCH);
    im.name('env').name('short').u8(0x00).u32(T_BATCH);
    m.section(2, im);
    // Functions.
    const fs = new Writer();
    // bpf_loop callbacks get a second function: the whole loop, its iterations inside.
    this.loopFns = [...new Set(this.callbacks.values())].sort((a, b) => a - b);
    const loopBase = F_SUB0 + this.funcs.length + (this.batch ? 2 : 1);
    this.loopFns.forEach((k, j) => this.loopIndex.set(k, loopBase + j));
    const nf = 5 + this.funcs.length + (this.batch ? 3 : 2) + this.loopFns.length;
    fs.u32(nf).u32(T_FAULT).u32(T_LDABS).u32(T_UNARY64).u32(T_UNARY64).u32(T_UNARY64).u32(T_RUN);
    for (let k = 0; k < this.funcs.length; k++) fs.u32(T_SUB);
    fs.u32(T_BATCH);
    if (this.batch) fs.u32(T_SUB);
    for (let j = 0; j < this.loopFns.length; j++) fs.u32(T_SUB);
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
    this.body(() => this.faultFn(), []);
    this.body(() => this.ldAbsFn(), [[1, I64]]);
    this.body(() => this.bswap16Fn(), []);
    this.body(() => this.bswap32Fn(), []);
    this.body(() => this.bswap64Fn(), []);
    this.body(() => this.runFn(), [[1, I32], [1, I64]]);
    for (const f of this.funcs) {
      this.f = f;
      this.body(() => this.subFn(), [[N_I64_LOCALS, I64], [N_I32_LOCALS, I32], [1, I64], [8, I64], [2, I32], [1, I64], [1, I32]], 256 + (f.end - f.start) * 48);
    }
    this.batchCost = this.batch ? budgetBound(this.ins, this.funcs[0]!) : 0;
    this.body(() => this.batchFn(), []);
    if (this.batch) {
      this.f = this.funcs[0]!;
      this.batchMode = true;
      this.body(() => this.batchLoopFn(), [[N_I64_LOCALS, I64], [N_I32_LOCALS, I32], [1, I64], [8, I64], [2, I32], [1, I64], [1, I32], [5, I32], [1, I64], [3, I32], [1, I64], [1, I32]], 512 + (this.f.end - this.f.start) * 48);
      this.batchMode = false;
      this.lazyRegions = false;
    }
    for (const k of this.loopFns) {
      this.f = this.funcs[k]!;
      this.loopMode = true;
      this.body(() => this.loopFn(), [[N_I64_LOCALS, I64], [N_I32_LOCALS, I32], [1, I64], [8, I64], [2, I32], [1, I64], [1, I32], [7, I64]], 256 + (this.f.end - this.f.start) * 48);
      this.loopMode = false;
    }
    m.section(10, c);
    return m.out();
  }

  /** Emits one function body (size-prefixed) with its local declarations. */
  private body(emit: () => void, locals: [number, number][], size = 1 << 10): void {
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

  // --- small internal functions -------------------------------------------------------

  /** fault(rec, code, pc): records the fault for the host and unwinds through the global. */
  private faultFn(): void {
    const c = this.c;
    c.get(0).get(1).mem(Op.i32_store, 2, A.VM_FAULT);
    c.get(0).get(2).mem(Op.i32_store, 2, A.VM_FAULT_PC);
    c.get(1).op(Op.global_set).u32(G_FAULT);
  }

  /** ldabs(rec, off, size): a network-order packet load, or the run ends with r0 = 0 (§1.11). */
  private ldAbsFn(): void {
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

  private bswap16Fn(): void {
    const c = this.c;
    c.get(0).i64c(0xff).op(Op.i64_and).i64c(8).op(Op.i64_shl);
    c.get(0).i64c(8).op(Op.i64_shr_u).i64c(0xff).op(Op.i64_and).op(Op.i64_or);
  }

  private bswap32Fn(): void {
    const c = this.c;
    // ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >> 8) & 0xff00) | ((x >> 24) & 0xff), on the low 32 bits.
    c.get(0).i64c(0xff).op(Op.i64_and).i64c(24).op(Op.i64_shl);
    c.get(0).i64c(0xff00).op(Op.i64_and).i64c(8).op(Op.i64_shl).op(Op.i64_or);
    c.get(0).i64c(8).op(Op.i64_shr_u).i64c(0xff00).op(Op.i64_and).op(Op.i64_or);
    c.get(0).i64c(24).op(Op.i64_shr_u).i64c(0xff).op(Op.i64_and).op(Op.i64_or);
  }

  private bswap64Fn(): void {
    const c = this.c;
    c.get(0).op(Op.call).u32(F_BSWAP32).i64c(32).op(Op.i64_shl);
    c.get(0).i64c(32).op(Op.i64_shr_u).op(Op.call).u32(F_BSWAP32).op(Op.i64_or);
  }

  /** run(rec): the interpreter's vmExec from pc 0 at depth 0, with r0..r10 as the record has them. */
  private runFn(): void {
    const c = this.c;
    const B0 = 1;
    const RES = 2;
    c.i32c(0).op(Op.global_set).u32(G_FAULT);
    c.get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).tee(B0).op(Op.global_set).u32(G_BUDGET);
    c.get(REC).i32c(0);
    for (let r = 0; r <= 10; r++) c.get(REC).mem(Op.i64_load, 3, A.VM_REGS + r * 8);
    c.op(Op.call).u32(F_SUB0);
    for (let k = 0; k < 6; k++) c.op(Op.drop);
    c.set(RES);
    // r0 goes back unless the run faulted (a legacy packet load out of range ends with r0 = 0).
    c.op(Op.global_get).u32(G_FAULT).i32c(LD_ABS_EXIT).op(Op.i32_eq);
    c.u8(Op.if).u8(EMPTY).i64c(0).set(RES).i32c(0).op(Op.global_set).u32(G_FAULT).op(Op.end);
    c.op(Op.global_get).u32(G_FAULT).op(Op.i32_eqz);
    c.u8(Op.if).u8(EMPTY).get(REC).get(RES).mem(Op.i64_store, 3, A.VM_REGS).op(Op.end);
    c.get(REC).op(Op.global_get).u32(G_BUDGET).mem(Op.i32_store, 2, A.VM_BUDGET);
    c.get(REC).get(REC).mem(Op.i64_load, 3, A.VM_EXECUTED).get(B0).op(Op.global_get).u32(G_BUDGET).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_add).mem(Op.i64_store, 3, A.VM_EXECUTED);
    c.op(Op.global_get).u32(G_FAULT);
  }

  /**
   * batch(rec, entries, n): the program once per entry (abi BE_*), as `run` would run it
   * with the record prepared by the dataplane for that packet (assembly/ebpf/skb.ts
   * `prepare`): the record's program part and budget are in place, this sets the context
   * and packet regions, and what helpers read of the packet when the program calls any.
   * r1 is the entry's context, the other registers start at 0 (a verified program reads
   * none before writing it). Each entry gets r0, the fault (0 or a VM_FAULT_*) and, with
   * helpers, where the packet is now and the redirect asked for. n may carry
   * VM_BATCH_STOP and VM_BATCH_CHAIN. It hands over to the batch loop (`batchLoopFn`)
   * through globals and returns how many entries ran; 0 for a module compiled without
   * the batch loop or a program with tail calls (its runs need `progRun`, which follows
   * them).
   */
  private batchFn(): void {
    const c = this.c;
    const RECP = 0, WORK = 1, N = 2;
    if (!this.batch || this.ins.some((i) => i.code === 0x85 && i.src === 0 && i.imm === TAIL_CALL)) {
      c.i32c(0);
      return;
    }
    if (this.batchCost > 0) {
      // The batch code has no budget tests: a budget that might not cover a run declines.
      c.get(RECP).mem(Op.i32_load, 2, A.VM_BUDGET).i32c(this.batchCost).op(Op.i32_lt_u);
      c.u8(Op.if).u8(EMPTY).i32c(0).op(Op.return).op(Op.end);
    }
    c.get(WORK).op(Op.global_set).u32(G_WORK);
    c.get(N).op(Op.global_set).u32(G_N);
    c.get(RECP).i32c(0);
    for (let r = 0; r <= 10; r++) c.i64c(0);
    c.op(Op.call).u32(F_SUB0 + this.funcs.length + 1);
    for (let k = 0; k < 7; k++) c.op(Op.drop);
    c.op(Op.global_get).u32(G_N);
  }

  /**
   * The batch loop: the main function's code (this.f = funcs[0], `batchMode`) inside a
   * loop over the entries, with each packet's context and packet bounds set straight into
   * the locals; an exit ends the packet's run with its r0, a fault or an unwinding call
   * with its fault.
   */
  private batchLoopFn(): void {
    const c = this.c;
    const f = this.f;
    const ctx = this.batch!;
    // The record's packet fields, for the helper dispatcher and legacy packet loads (every
    // function of the program is generated by now: `dispatched` is known).
    const helpers = this.dispatched || this.packetFields || this.ins.some((i) => [0x20, 0x28, 0x30, 0x40, 0x48, 0x50].includes(i.code));
    const redirects = helpers || this.redirects;
    c.get(REC).mem(Op.i32_load, 2, A.VM_STACK).op(Op.i64_extend_i32_u).set(ST_LO);
    c.op(Op.global_get).u32(G_WORK).set(B_W);
    c.op(Op.global_get).u32(G_N).tee(B_N).i32c(31).op(Op.i32_shr_u).set(B_S);
    c.get(B_N).i32c(30).op(Op.i32_shr_u).i32c(1).op(Op.i32_and).set(B_C);
    c.get(B_N).i32c(29).op(Op.i32_shr_u).i32c(1).op(Op.i32_and).set(B_K);
    c.get(B_N).i32c(0x1fffffff).op(Op.i32_and).set(B_N);
    c.get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).set(B_B0);
    this.labels = [];
    this.labelAt.clear();
    this.enter(Op.block);
    this.enter(Op.loop);
    c.get(B_I).get(B_N).op(Op.i32_ge_u).u8(Op.br_if).u32(1);
    c.get(B_W).get(B_I).i32c(A.BE_SIZE).op(Op.i32_mul).op(Op.i32_add).set(B_E);
    // A list's later program: an entry an earlier program finished stays as it is.
    c.get(B_K);
    this.enter(Op.if);
    c.get(B_E).mem(Op.i32_load, 2, A.BE_FAULT).get(B_E).mem(Op.i32_load, 2, A.BE_VERDICT).i32c(A.NETKIT_NEXT).op(Op.i32_ne).op(Op.i32_or);
    this.enter(Op.if);
    c.get(B_I).i32c(1).op(Op.i32_add).set(B_I);
    c.u8(Op.br).u32(2);
    this.leave();
    this.leave();
    const field = (off: number): void => { c.get(B_E).mem(Op.i32_load, 2, off); };
    const put = (off: number, value: () => void): void => { c.get(REC); value(); c.mem(Op.i32_store, 2, off); };
    if (helpers) {
      // Chained runs: this one starts where the last left the packet (helpers move it).
      c.get(B_C);
      this.enter(Op.if);
      c.get(B_E).get(REC).mem(Op.i32_load, 2, A.VM_PKT).mem(Op.i32_store, 2, A.BE_DATA);
      c.get(B_E).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).mem(Op.i32_store, 2, A.BE_LEN);
      this.leave();
    }
    // This packet's context (region 0; writable for tc) and packet (region 1, writable), in
    // the locals and the record.
    field(A.BE_CTX);
    c.op(Op.i64_extend_i32_u).tee(C_LO).set(R(1));
    c.get(C_LO).i64c(ctx.size).op(Op.i64_add).set(C_HI);
    if (ctx.writable) c.get(C_LO).set(CW_LO).get(C_LO).i64c(ctx.writableEnd).op(Op.i64_add).set(CW_HI);
    else c.i64c(EMPTY_LO).set(CW_LO).i64c(EMPTY_HI).set(CW_HI);
    field(A.BE_DATA);
    c.op(Op.i64_extend_i32_u).tee(P_LO).set(PW_LO);
    field(A.BE_LEN);
    c.op(Op.i64_extend_i32_u).get(P_LO).op(Op.i64_add).tee(P_HI).set(PW_HI);
    // Only the general check reads them when nothing else runs outside this function (no
    // dispatched helpers, no subprograms): stored on its (rare) way there, not per packet.
    this.lazyRegions = !helpers && this.funcs.length === 1 && this.loopFns.length === 0;
    if (!this.lazyRegions) this.storeRegions();
    if (helpers) {
      // What helpers read of the packet.
      put(A.VM_PKT, () => field(A.BE_DATA));
      put(A.VM_PKT_LEN, () => field(A.BE_LEN));
      put(A.VM_META, () => field(A.BE_META));
      put(A.VM_CTX, () => field(A.BE_CTX));
      put(A.VM_PKT_LO, () => field(A.BE_LO));
      put(A.VM_PKT_HI, () => field(A.BE_HI));
      // XDP: data_meta starts empty (at data), or where the last chained run left it; 0 for skb programs.
      c.get(B_C).op(Op.i32_eqz);
      this.enter(Op.if);
      put(A.VM_PKT_META, () => (ctx.writable ? c.i32c(0) : field(A.BE_DATA)));
      this.leave();
      for (const off of [A.VM_FAULT, A.VM_FAULT_PC, A.VM_KVIEW]) put(off, () => c.i32c(0));
    }
    if (redirects) for (const off of [A.VM_REDIRECT_IFINDEX, A.VM_REDIRECT_FLAGS]) put(off, () => c.i32c(0));
    c.i32c(0).op(Op.global_set).u32(G_FAULT);
    // r1 = the context (above); the others 0 (a verified program reads none unwritten); r10 the stack top.
    for (const r of [0, 2, 3, 4, 5, 6, 7, 8, 9]) c.i64c(0).set(R(r));
    // Every run starts at block 0 (the dispatch loop's label is where the last run left it).
    c.i32c(0).set(LABEL);
    c.get(ST_LO).i64c(A.VM_FRAME_STACK * A.VM_MAX_FRAMES).op(Op.i64_add).set(R(10));
    if (this.r10Fixed) c.get(R(10)).op(Op.i32_wrap_i64).i32c(A.VM_FRAME_STACK).op(Op.i32_sub).set(FP);
    c.get(B_B0).set(BUD);
    this.facts = batchFacts(this.ins, f, ctx, (id, kfunc) => PLAIN.has(kfunc ? A.VM_KFUNC_BASE + id : id), this.valueMaps());
    c.u8(Op.block).u8(EMPTY);
    this.pushLabel('D');
    c.u8(Op.block).u8(EMPTY);
    this.pushLabel('U');
    this.faultBlock(f);
    c.op(Op.end);
    this.popLabel();
    // Unwound (a fault, or a legacy packet load out of range: r0 = 0, no fault).
    c.i64c(0).set(B_RES);
    c.op(Op.global_get).u32(G_FAULT).tee(B_FLT).i32c(LD_ABS_EXIT).op(Op.i32_eq);
    c.u8(Op.if).u8(EMPTY).i32c(0).set(B_FLT).op(Op.end);
    c.op(Op.end);
    this.popLabel();
    c.get(B_E).get(B_RES).op(Op.i32_wrap_i64).mem(Op.i32_store, 2, A.BE_VERDICT);
    c.get(B_E).get(B_FLT).mem(Op.i32_store, 2, A.BE_FAULT);
    // Instructions run, as `run` counts them (helpers that run callbacks adjust the record's
    // count themselves: additions, so the batch's sum goes in once, at the end).
    c.get(B_EXEC).get(B_B0).op(Op.global_get).u32(G_BUDGET).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_add).set(B_EXEC);
    const back: [number, number][] = [];
    if (helpers) back.push([A.BE_DATA, A.VM_PKT], [A.BE_LEN, A.VM_PKT_LEN]);
    if (redirects) back.push([A.BE_RD_IFINDEX, A.VM_REDIRECT_IFINDEX], [A.BE_RD_FLAGS, A.VM_REDIRECT_FLAGS]);
    for (const [to, from] of back) c.get(B_E).get(REC).mem(Op.i32_load, 2, from).mem(Op.i32_store, 2, to);
    // (no redirect asked for: none, whatever an earlier batch left in the entry)
    if (!redirects) for (const to of [A.BE_RD_IFINDEX, A.BE_RD_FLAGS]) c.get(B_E).i32c(0).mem(Op.i32_store, 2, to);
    c.get(B_I).i32c(1).op(Op.i32_add).set(B_I);
    c.get(B_FLT).i32c(0).op(Op.i32_ne).get(B_S).op(Op.i32_and).u8(Op.br_if).u32(1);
    c.u8(Op.br).u32(0);
    this.leave();
    this.leave();
    // How many entries ran, for `batch` to return.
    c.get(B_I).op(Op.global_set).u32(G_N);
    c.get(REC).get(REC).mem(Op.i64_load, 3, A.VM_EXECUTED).get(B_EXEC).op(Op.i64_add).mem(Op.i64_store, 3, A.VM_EXECUTED);
    for (let k = 0; k < 7; k++) c.i64c(0);
  }

  // --- subprograms --------------------------------------------------------------------

  private subFn(): void {
    this.prologue();
    this.faultBlock(this.f);
    this.unwind();
  }

  /**
   * A bpf_loop callback's loop function (inlineLoop calls it once, nr >= 1): the callback's
   * code run for i = 0, 1, ... inside one function, each iteration as a call would run it
   * (r1 = i, r2 = ctx, r6..r9 the caller's, the same frame; r0 and r3..r5 as the last
   * iteration left them), until nr or a nonzero r0. Takes (rec, depth, r0, nr, ctx,
   * r3..r10) like a call; returns r0..r5 and the number of iterations.
   */
  private loopFn(): void {
    const c = this.c;
    this.prologue();
    c.get(R(1)).set(L_NR).get(R(2)).set(L_CTX).i64c(0).set(L_I);
    for (let r = 6; r <= 9; r++) c.get(R(r)).set(L_R6 + r - 6);
    c.u8(Op.block).u8(EMPTY);
    this.pushLabel('LD');
    c.u8(Op.loop).u8(EMPTY);
    this.pushLabel('LI');
    c.get(L_I).set(R(1)).get(L_CTX).set(R(2));
    for (let r = 6; r <= 9; r++) c.get(L_R6 + r - 6).set(R(r));
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
    for (let r = 0; r <= 5; r++) c.get(R(r));
    c.get(L_I);
  }

  /** A function's start: its access bounds, frame pointer and budget in locals. */
  private prologue(): void {
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
    if (this.r10Fixed) c.get(R(10)).op(Op.i32_wrap_i64).i32c(A.VM_FRAME_STACK).op(Op.i32_sub).set(FP);
    c.op(Op.global_get).u32(G_BUDGET).set(BUD);
    this.labels = [];
    this.labelAt.clear();
  }

  /**
   * The function's blocks inside the fault block: every fault site sets CODE and FPC and
   * leaves through it to one exit, which records the fault (and the budget) for the host.
   */
  private faultBlock(f: Func): void {
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

  /**
   * Block layout. A loop whose blocks [h, e] nothing outside enters except at h, and that
   * holds no other loop header, becomes a Wasm `loop` (its back edges are one `br`); the
   * 'E' labels of its inner blocks open inside it. Other back edges go through the
   * dispatch loop: set the label, `br` to the top, `br_table` to the block.
   */
  private layout(f: Func): void {
    const c = this.c;
    const N = f.blocks.length;
    const ends = new Map<number, number>();
    for (const [from, to] of f.back) ends.set(to, Math.max(ends.get(to) ?? to, from));
    this.loops = new Map();
    const inLoop = new Set<number>();
    for (const [h, e] of [...ends].sort((a, b) => a[0] - b[0])) {
      let ok = true;
      for (const h2 of ends.keys()) if (h2 > h && h2 <= e) ok = false;
      for (let k = 0; k < N && ok; k++) {
        if (k >= h && k <= e) continue;
        for (const t of this.succBlocks(f, k)) if (t > h && t <= e) ok = false;
      }
      if ([...this.loops].some(([h2, e2]) => h <= e2 && h2 <= e)) ok = false;
      if (!ok) continue;
      this.loops.set(h, e);
      for (let k = h + 1; k <= e; k++) inLoop.add(k);
    }
    const loopEnds = new Set(this.loops.values());
    const dispatch = f.back.some(([from, to]) => !(this.loops.has(to) && from <= this.loops.get(to)!));
    const open = (l: string): void => { this.pushLabel(l); };
    if (dispatch) { c.u8(Op.loop).u8(EMPTY); open('top'); }
    for (let k = N - 1; k >= 1; k--) if (!inLoop.has(k)) { c.u8(Op.block).u8(EMPTY); open(`E${k}`); }
    if (dispatch) {
      c.u8(Op.block).u8(EMPTY);
      open('E0');
      c.get(LABEL).u8(Op.br_table).u32(N);
      for (let k = 0; k < N; k++) c.u32(inLoop.has(k) ? 0 : this.depth(`E${k}`));
      c.u32(0);
      c.op(Op.end);
      this.popLabel();
    }
    const versioned = new Set<number>();
    for (let k = 0; k < N; k++) {
      this.bi = k;
      const e = this.loops.get(k);
      if (e !== undefined) {
        const counted = this.countedLoop(f, k, e);
        if (counted) {
          // block $done { block $checked { br_if $checked (not enough budget)
          //   loop { blocks k..e, no budget tests } br $done } loop { blocks k..e } }
          versioned.add(e);
          this.countedLoops++;
          c.u8(Op.block).u8(EMPTY);
          open('-');
          c.u8(Op.block).u8(EMPTY);
          open('-');
          this.enoughBudget(counted);
          c.op(Op.i32_eqz).u8(Op.br_if).u32(0);
          this.unchecked = true;
          // Small bodies are unrolled: copies 1..n-1 end in `br_if $out` when the loop ends
          // (the latch not taken) and go on into the next copy; the last one branches back.
          const copies = counted.cost <= UNROLL_MAX_COST ? UNROLL : 1;
          if (counted.chain) {
            // The budget is settled where the copy is left, from the counter (its entry value in SPARE).
            this.deferred = counted;
            c.get(R(counted.reg)).set(SPARE);
          }
          c.u8(Op.block).u8(EMPTY);
          open('O');
          c.u8(Op.loop).u8(EMPTY);
          open(`L${k}`);
          for (let u = 0; u < copies; u++) {
            for (let m = e; m > k; m--) { c.u8(Op.block).u8(EMPTY); open(`E${m}`); }
            this.unrollLatch = u + 1 < copies ? counted.latch : -1;
            for (let j = k; j <= e; j++) {
              this.bi = j;
              this.block(f.blocks[j]!);
              if (j < e) { c.op(Op.end); this.close(`E${j + 1}`); }
            }
          }
          this.unrollLatch = -1;
          c.op(Op.end);
          this.close('L');
          c.op(Op.end);
          this.close('O');
          if (this.deferred) {
            // Left through a latch: every iteration so far ran whole.
            this.settleBudget(e, -1);
            this.deferred = undefined;
          }
          this.unchecked = false;
          this.bi = k;
          c.u8(Op.br).u32(1);
          c.op(Op.end);
          this.popLabel();
        }
        c.u8(Op.loop).u8(EMPTY);
        open(`L${k}`);
        for (let m = e; m > k; m--) { c.u8(Op.block).u8(EMPTY); open(`E${m}`); }
      }
      this.block(f.blocks[k]!);
      if (loopEnds.has(k)) {
        c.op(Op.end);
        this.close('L');
        if (versioned.has(k)) { c.op(Op.end); this.popLabel(); }
      }
      if (k + 1 < N) { c.op(Op.end); this.close(`E${k + 1}`); }
    }
    if (dispatch) { c.op(Op.end); this.close('top'); }
    c.op(Op.unreachable);
  }

  /**
   * A loop [h, e] whose trip count is known on entry: no calls or legacy packet loads in
   * it, one back edge (the last instruction of block e, `jne`/`jlt` of a register against
   * a constant, 64- or 32-bit), and that register written in the loop only by one `add`
   * of a constant in block e (so every iteration runs it once). An iteration runs each of
   * the loop's blocks at most once (no other loop header is inside): it costs at most the
   * loop's instruction count.
   */
  private countedLoop(f: Func, h: number, e: number): CountedLoop | undefined {
    if (f.back.some(([from, to]) => to === h && from !== e)) return undefined;
    const eb = f.blocks[e]!;
    const lastPc = eb.pcs[eb.pcs.length - 1]!;
    const j = this.ins[lastPc]!;
    const op = j.code & 0xf0;
    const wide = (j.code & 7) === 5;
    if ((j.code & 8) !== 0 || (op !== 0x50 && op !== 0xa0) || lastPc + 1 + j.off !== f.blocks[h]!.start) return undefined;
    const r = j.dst;
    if (r === 10) return undefined;
    let cost = 0;
    let step: number | undefined;
    let incAt = 0;
    for (let k = h; k <= e; k++) {
      const b = f.blocks[k]!;
      cost += b.pcs.length;
      for (const pc of b.pcs) {
        const i = this.ins[pc]!;
        const cls = i.code & 7;
        if (i.code === 0x85 || (cls === 0 && i.code !== 0x18)) return undefined;
        const writes = cls === 4 || cls === 7 || cls === 1 || i.code === 0x18 ? i.dst === r
          : cls === 3 && (i.code & 0xe0) === 0xc0 ? i.src === r || r === 0 : false;
        if (!writes) continue;
        const add = i.code === 0x07 || (i.code === 0x04 && !wide);
        if (step !== undefined || k !== e || !add || i.imm === 0) return undefined;
        step = i.imm;
        incAt = b.pcs.indexOf(pc);
      }
    }
    // jlt: counting up to a limit below 2^31, so the register reaches it before it could wrap.
    if (step === undefined || (op === 0xa0 && (step < 0 || j.imm < 0))) return undefined;
    // Deferred budget (settleBudget): 64-bit counting, the blocks a chain (each one's only
    // successor inside the loop the next, the last's the header), no exit inside.
    let chain = wide;
    for (let k = h; k <= e && chain; k++) {
      for (const t of this.succBlocks(f, k)) if (t >= h && t <= e && t !== (k === e ? h : k + 1)) chain = false;
      if (f.blocks[k]!.pcs.some((pc) => this.ins[pc]!.code === 0x95)) chain = false;
    }
    return { reg: r, step, limit: j.imm, wide, ne: op === 0x50, cost, latch: lastPc, h, e, incAt, chain };
  }

  /**
   * In a counted loop's unchecked copy with its budget deferred (the budget local keeps its
   * value at the loop's entry, the blocks charge nothing): sets it to what the per-block
   * charges would have left at block `j`'s start, block j charged whole (as `block` leaves
   * it) — the iterations done from the counter's distance from its entry value (SPARE),
   * times the iteration's cost, plus the blocks of this iteration up to j. `m`: the
   * instruction of block j being emitted (past the loop's increment, this iteration counts
   * as done); -1 after the latch.
   */
  private settleBudget(j: number, m: number): void {
    const l = this.deferred!;
    const c = this.c;
    const a = Math.abs(l.step);
    if (l.step > 0) c.get(R(l.reg)).get(SPARE).op(Op.i64_sub);
    else c.get(SPARE).get(R(l.reg)).op(Op.i64_sub);
    if ((a & (a - 1)) === 0) c.i64c(Math.log2(a)).op(Op.i64_shr_u);
    else c.i64c(a).op(Op.i64_div_u);
    c.op(Op.i32_wrap_i64).set(CODE);
    // Charged so far in this iteration: the blocks up to j, j whole (as `block` charges it).
    let prefix = 0;
    for (let k = l.h; k <= j && m >= 0; k++) prefix += this.f.blocks[k]!.pcs.length;
    // Past the increment (or after the latch) the current iteration is among those done.
    const incremented = m < 0 || (j === l.e && m > l.incAt);
    if (incremented && m >= 0) prefix -= l.cost;
    c.get(BUD).get(CODE).i32c(l.cost).op(Op.i32_mul).op(Op.i32_sub);
    if (prefix) c.i32c(prefix).op(Op.i32_sub);
    c.set(BUD);
  }

  /** Whether block `j` lies outside the deferred loop (a jump there leaves it). */
  private leavesDeferred(t: number): boolean {
    const l = this.deferred;
    if (!l) return false;
    const j = t >= 0 && t < this.n ? this.f.index.get(t) : undefined;
    return j === undefined || j < l.h || j > l.e;
  }

  /**
   * Leaves 1 (i32) when the budget covers every iteration of a counted loop from here
   * (then no block in it can run out), 0 otherwise: the iterations `n` from the register's
   * value on entry, and n * cost <= budget.
   */
  private enoughBudget(l: CountedLoop): void {
    const c = this.c;
    const a = Math.abs(l.step);
    // distance: how far the register has to go (64-bit, or 32-bit zero-extended).
    if (l.wide) {
      if (l.step > 0) c.i64c(l.limit).get(R(l.reg)).op(Op.i64_sub);
      else c.get(R(l.reg)).i64c(l.limit).op(Op.i64_sub);
    } else {
      if (l.step > 0) c.i32c(l.limit).get(R(l.reg)).op(Op.i32_wrap_i64).op(Op.i32_sub);
      else c.get(R(l.reg)).op(Op.i32_wrap_i64).i32c(l.limit).op(Op.i32_sub);
      c.op(Op.i64_extend_i32_u);
    }
    c.set(TMP);
    if (l.ne) {
      // r != K: the loop ends exactly when r reaches K, after distance / step iterations
      // when the step divides the distance.
      c.get(TMP).i64c(a).op(Op.i64_rem_u).op(Op.i64_eqz);
      c.get(TMP).i64c(a).op(Op.i64_div_u);
    } else {
      // r < K (unsigned): it ends within ceil(distance / step) iterations: exactly that
      // from r < K; from r > K, at the first if r + step does not wrap, else once r is
      // back at K or more (the distance again).
      c.get(TMP).i64c(a - 1).op(Op.i64_add).i64c(a).op(Op.i64_div_u);
    }
    // 1 <= n <= budget / cost, as one unsigned compare (distance 0, n = 0, would go round
    // the whole range: left to the checked copy).
    c.i64c(1).op(Op.i64_sub);
    c.get(BUD).op(Op.i64_extend_i32_u).i64c(l.cost).op(Op.i64_div_u);
    c.op(Op.i64_lt_u);
    if (l.ne) c.op(Op.i32_and);
  }

  private succBlocks(f: Func, k: number): number[] {
    const b = f.blocks[k]!;
    return successors(this.ins, b.pcs[b.pcs.length - 1]!).map((t) => f.index.get(t)).filter((j): j is number => j !== undefined);
  }

  /** Opens a Wasm block/loop/if that fault exits must branch out of (it counts in `depth`). */
  private enter(op: number, type = EMPTY): void {
    this.c.u8(op).u8(type);
    this.pushLabel('-');
  }

  private leave(): void {
    this.c.op(Op.end);
    this.popLabel();
  }

  private pushLabel(l: string): void {
    if (l !== '-') this.labelAt.set(l, this.labels.length);
    this.labels.push(l);
  }

  private popLabel(): string | undefined {
    const l = this.labels.pop();
    if (l !== undefined && l !== '-') this.labelAt.delete(l);
    return l;
  }

  private close(l: string): void {
    const top = this.popLabel();
    if (!top || !top.startsWith(l)) throw new CodegenError(`internal: label ${top} closed as ${l}`, this.f.blocks[this.bi]!.start);
  }

  /** Branch depth of an open label, or -1. */
  private depth(l: string): number {
    const i = this.labelAt.get(l);
    return i === undefined ? -1 : this.labels.length - 1 - i;
  }

  private loadPacketBounds(): void {
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
  private storeRegions(): void {
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
  private unwind(): void {
    const c = this.c;
    if (this.batchMode) {
      c.u8(Op.br).u32(this.depth('U'));
      return;
    }
    for (let k = 0; k < 7; k++) c.i64c(0);
    c.op(Op.return);
  }

  /**
   * The budget as the interpreter would have it after the current instruction: the block
   * was charged whole, the instructions after this one never ran.
   */
  private syncBudget(): void {
    const unrun = this.curK - this.curM - 1;
    this.c.get(BUD);
    if (unrun) this.c.i32c(unrun).op(Op.i32_add);
    this.c.op(Op.global_set).u32(G_BUDGET);
  }

  private fault(code: number, pc: number): void {
    const c = this.c;
    if (this.deferred) this.settleBudget(this.bi, this.curM);
    // The budget as the interpreter leaves it: the instructions after this one never ran.
    const unrun = this.curK - this.curM - 1;
    if (unrun) c.get(BUD).i32c(unrun).op(Op.i32_add).set(BUD);
    c.i32c(code).set(CODE).i32c(pc | 0).set(FPC);
    c.u8(Op.br).u32(this.depth('F'));
  }

  /** After a call that may have faulted: unwind when the global says so. */
  private checkUnwind(): void {
    const c = this.c;
    c.op(Op.global_get).u32(G_FAULT);
    this.enter(Op.if);
    this.syncBudget();
    this.unwind();
    this.leave();
  }

  private block(b: Block): void {
    const c = this.c;
    const k = b.pcs.length;
    let terminated = false;
    this.konst.clear();
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
  private goto(t: number, from: number, fallthrough = false): void {
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
  private branchIf(t: number, from: number): void {
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

  /** Keeps `konst` after the instruction at pc: lddw sets a register, anything else that writes one forgets it. */
  private track(pc: number): void {
    const i = this.ins[pc]!;
    const cls = i.code & 7;
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
  private insn(pc: number): boolean {
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

  private src64(i: Insn): void {
    if (i.code & 8) this.c.get(R(i.src));
    else this.c.i64c(i.imm);
  }

  private alu64(i: Insn, pc: number): boolean {
    const c = this.c;
    const d = R(i.dst);
    const op = i.code >> 4;
    const simple = ALU64[op];
    if (simple !== undefined) {
      c.get(d);
      this.src64(i);
      c.op(simple).set(d);
      return false;
    }
    switch (op) {
      case 3: case 9: this.divmod(i, true); return false;
      case 8: // neg (0x8f, with the source bit, is no instruction)
        if ((i.code & 8) !== 0) { this.fault(A.VM_FAULT_INSN, pc); return true; }
        c.i64c(0).get(d).op(Op.i64_sub).set(d); return false;
      case 11:
        if ((i.code & 8) === 0 || i.off === 0) { this.src64(i); c.set(d); return false; }
        if (i.off === 8) { c.get(R(i.src)).op(Op.i64_extend8_s).set(d); return false; }
        if (i.off === 16) { c.get(R(i.src)).op(Op.i64_extend16_s).set(d); return false; }
        if (i.off === 32) { c.get(R(i.src)).op(Op.i64_extend32_s).set(d); return false; }
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
      case 13: return this.bswap(i, pc);
      default:
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
    }
  }

  /**
   * div (op 3) and mod (op 9), 64- or 32-bit: by zero, div gives 0 and mod leaves dst;
   * signed (off != 0) by -1, div negates and mod gives 0 (Wasm would trap on both).
   */
  private divmod(i: Insn, wide: boolean): void {
    const c = this.c;
    const d = R(i.dst);
    const div = i.code >> 4 === 3;
    const T = wide ? I64 : I32;
    const op = wide
      ? (i.off === 0 ? (div ? Op.i64_div_u : Op.i64_rem_u) : (div ? Op.i64_div_s : Op.i64_rem_s))
      : (i.off === 0 ? (div ? Op.i32_div_u : Op.i32_rem_u) : (div ? Op.i32_div_s : Op.i32_rem_s));
    // TMP holds the divisor, zero-extended for the 32-bit forms.
    if (wide) this.src64(i); else { this.src32(i); c.op(Op.i64_extend_i32_u); }
    c.set(TMP);
    c.get(TMP).op(Op.i64_eqz);
    c.u8(Op.if).u8(T);
    if (div) this.zero(wide); else this.reg(d, wide);
    c.op(Op.else);
    if (i.off === 0) {
      this.reg(d, wide);
      this.reg(TMP, wide);
      c.op(op);
    } else {
      c.get(TMP).i64c(wide ? -1 : 0xffffffff).op(Op.i64_eq);
      c.u8(Op.if).u8(T);
      if (div) { this.zero(wide); this.reg(d, wide); c.op(wide ? Op.i64_sub : Op.i32_sub); } else this.zero(wide);
      c.op(Op.else);
      this.reg(d, wide);
      this.reg(TMP, wide);
      c.op(op).op(Op.end);
    }
    c.op(Op.end);
    if (!wide) c.op(Op.i64_extend_i32_u);
    c.set(d);
  }

  /** A 64-bit local, or its low 32 bits. */
  private reg(l: number, wide: boolean): void {
    this.c.get(l);
    if (!wide) this.c.op(Op.i32_wrap_i64);
  }

  private zero(wide: boolean): void {
    if (wide) this.c.i64c(0);
    else this.c.i32c(0);
  }

  private src32(i: Insn): void {
    if (i.code & 8) this.c.get(R(i.src)).op(Op.i32_wrap_i64);
    else this.c.i32c(i.imm);
  }

  private alu32(i: Insn, pc: number): boolean {
    const c = this.c;
    const d = R(i.dst);
    const op = i.code >> 4;
    const simple = ALU32[op];
    if (simple !== undefined) {
      c.get(d).op(Op.i32_wrap_i64);
      this.src32(i);
      c.op(simple);
      c.op(Op.i64_extend_i32_u).set(d);
      return false;
    }
    switch (op) {
      case 3: case 9: this.divmod(i, false); return false;
      case 8:
        if ((i.code & 8) !== 0) { this.fault(A.VM_FAULT_INSN, pc); return true; }
        c.i32c(0); c.get(d).op(Op.i32_wrap_i64); c.op(Op.i32_sub); c.op(Op.i64_extend_i32_u).set(d); return false;
      case 11:
        if ((i.code & 8) === 0 || i.off === 0) { this.src32(i); c.op(Op.i64_extend_i32_u).set(d); return false; }
        if (i.off === 8) { this.src32(i); c.op(Op.i32_extend8_s); c.op(Op.i64_extend_i32_u).set(d); return false; }
        if (i.off === 16) { this.src32(i); c.op(Op.i32_extend16_s); c.op(Op.i64_extend_i32_u).set(d); return false; }
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
      case 13:
        if ((i.code & 8) === 0) {
          if (i.imm === 16) { c.get(d).i64c(0xffff).op(Op.i64_and).set(d); return false; }
          if (i.imm === 32) { c.get(d).i64c(0xffffffff).op(Op.i64_and).set(d); return false; }
          if (i.imm === 64) return false;
          this.fault(A.VM_FAULT_INSN, pc);
          return true;
        }
        return this.bswap(i, pc);
      default:
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
    }
  }

  /** bswap16/32/64 of dst (ALU64 END, and ALU `be` on this little-endian machine). */
  private bswap(i: Insn, pc: number): boolean {
    const fn = i.imm === 16 ? F_BSWAP16 : i.imm === 32 ? F_BSWAP32 : i.imm === 64 ? F_BSWAP64 : -1;
    if (fn < 0) {
      this.fault(A.VM_FAULT_INSN, pc);
      return true;
    }
    this.c.get(R(i.dst)).op(Op.call).u32(fn).set(R(i.dst));
    return false;
  }

  private jmp(i: Insn, pc: number): boolean {
    const c = this.c;
    const cls = i.code & 7;
    const op = i.code & 0xf0;
    if (op === 0x00) {
      this.goto(pc + 1 + (cls === 5 ? i.off : i.imm), pc);
      return true;
    }
    if (op === 0x80) {
      if (cls !== 5 || (i.code & 8) !== 0) { this.fault(A.VM_FAULT_INSN, pc); return true; }
      if (i.src === 1) this.callLocal(i, pc);
      else if (i.src === 2) this.helperCall(i, pc, A.VM_KFUNC_BASE + (i.imm >>> 0));
      else if (i.src !== 0) { this.fault(A.VM_FAULT_HELPER, pc); return true; }
      else this.callHelper(i, pc);
      // The call ends the block; what follows is the next block (or a pc fault past the end).
      this.goto(pc + 1, pc, true);
      return true;
    }
    if (op === 0x90) {
      if (cls !== 5) { this.fault(A.VM_FAULT_INSN, pc); return true; }
      if (this.batchMode) {
        // The program's exit in the batch loop: this packet's verdict.
        c.get(BUD).op(Op.global_set).u32(G_BUDGET);
        c.get(R(0)).set(B_RES).i32c(0).set(B_FLT);
        c.u8(Op.br).u32(this.depth('D'));
        return true;
      }
      if (this.loopMode) {
        // A callback's exit in its loop function: this iteration's r0.
        c.u8(Op.br).u32(this.depth('X'));
        return true;
      }
      c.get(BUD).op(Op.global_set).u32(G_BUDGET);
      for (let r = 0; r <= 5; r++) c.get(R(r));
      c.get(R(10)).op(Op.return);
      return true;
    }
    const wide = cls === 5;
    const k = op >> 4;
    if (k !== 4 && (wide ? CMP64 : CMP32)[k] === undefined) { this.fault(A.VM_FAULT_INSN, pc); return true; }
    if (wide) {
      c.get(R(i.dst));
      this.src64(i);
      if (k === 4) c.op(Op.i64_and).i64c(0).op(Op.i64_ne);
      else c.op(CMP64[k]!);
    } else {
      c.get(R(i.dst)).op(Op.i32_wrap_i64);
      this.src32(i);
      if (k === 4) c.op(Op.i32_and).i32c(0).op(Op.i32_ne);
      else c.op(CMP32[k]!);
    }
    if (pc === this.unrollLatch) {
      // An unrolled copy's latch: the loop ends when it is not taken, else the next copy runs.
      c.op(Op.i32_eqz).u8(Op.br_if).u32(this.depth('O'));
      return true;
    }
    this.branchIf(pc + 1 + i.off, pc);
    this.goto(pc + 1, pc, true);
    return true;
  }

  private spill(): void {
    const c = this.c;
    for (let r = 0; r <= 10; r++) c.get(REC).get(R(r)).mem(Op.i64_store, 3, A.VM_REGS + r * 8);
  }

  private callHelper(i: Insn, pc: number): void {
    if (i.imm === Fn.MapLookup && (this.inlineArrayLookup(pc) || this.inlineHashLookup(pc) || this.directLookup(pc))) return;
    if ((i.imm === Fn.MapUpdate || i.imm === Fn.MapDelete) && this.directChange(i.imm, pc)) return;
    if (i.imm === Fn.XdpAdjustHead || i.imm === Fn.XdpAdjustTail || i.imm === Fn.XdpAdjustMeta) {
      this.inlineXdpAdjust(i.imm);
      return;
    }
    if (i.imm === Fn.RedirectMap && this.inlineRedirectMap()) return;
    if (i.imm === Fn.KtimeGetNs || i.imm === Fn.GetPrandomU32 || i.imm === Fn.GetSmpProcessorId) {
      this.inlineSmall(i.imm);
      return;
    }
    if ((i.imm === Fn.SkbLoadBytes || i.imm === Fn.SkbStoreBytes) && this.inlineSkbBytes(i.imm === Fn.SkbStoreBytes, pc)) return;
    if (i.imm === Fn.Redirect || i.imm === Fn.RedirectPeer) {
      this.inlineRedirect(i.imm === Fn.RedirectPeer);
      return;
    }
    if (i.imm === Fn.Loop && this.callbacks.size > 0) {
      // bpf_loop on one of the program's own callbacks runs compiled; other pointers take the helper.
      const c = this.c;
      c.u8(Op.block).u8(EMPTY);
      this.pushLabel('-');
      for (const [ptr, k] of this.callbacks) {
        c.get(R(2)).i64c(ptr).op(Op.i64_eq);
        c.u8(Op.if).u8(EMPTY);
        this.pushLabel('-');
        this.inlineLoop(k, pc);
        c.u8(Op.br).u32(1);
        this.popLabel();
        c.op(Op.end);
      }
      this.helperCall(i, pc);
      this.popLabel();
      c.op(Op.end);
      return;
    }
    this.helperCall(i, pc);
  }

  /**
   * Array and per-CPU array maps whose elements lie inside one of the program's regions
   * (every copy): accesses to a looked-up element within its value size need no check
   * (bounds.ts), writes only when that region is writable.
   */
  private valueMaps(): Map<number, BatchMap> {
    const out = new Map<number, BatchMap>();
    for (const m of this.maps) {
      if ((m.type !== A.BPF_MAP_TYPE_ARRAY && m.type !== A.BPF_MAP_TYPE_PERCPU_ARRAY) || !m.valueSize || m.valueSize > m.stride) continue;
      const end = m.values + m.maxEntries * m.stride * (m.type === A.BPF_MAP_TYPE_PERCPU_ARRAY ? Math.max(1, m.copies ?? 1) : 1);
      const g = this.regions.find((r) => r.addr <= m.values && end <= r.addr + r.len);
      if (g) out.set(m.addr, { valueSize: m.valueSize, writable: g.writable });
    }
    return out;
  }

  /** The program's map whose record r1 holds (an lddw of it earlier in the block), if any. */
  private programMap(): CodegenMap | undefined {
    const addr = this.konst.get(1);
    return addr === undefined ? undefined : this.maps.find((x) => x.addr === addr);
  }

  /**
   * bpf_map_lookup_elem(map, key) on an array or per-CPU array map the program names, r1
   * the lddw'd record: the helper's key check (a read fault at this pc) and its result,
   * r0 = the element (this thread's copy) or NULL, inline. False (nothing emitted) for
   * anything else.
   */
  private inlineArrayLookup(pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || (m.type !== A.BPF_MAP_TYPE_ARRAY && m.type !== A.BPF_MAP_TYPE_PERCPU_ARRAY)) return false;
    const perCpu = m.type === A.BPF_MAP_TYPE_PERCPU_ARRAY && (m.copies ?? 1) > 1;
    const c = this.c;
    this.addr(2, 0, 4, false, pc, true);
    c.get(ADDR).mem(Op.i32_load, 0).tee(ADDR).i32c(m.maxEntries).op(Op.i32_lt_u);
    c.u8(Op.if).u8(I64);
    c.get(ADDR).i32c(m.stride).op(Op.i32_mul).i32c(m.values).op(Op.i32_add);
    if (perCpu) {
      // + the thread's copy (copy 0 for a thread past the last), as the helper picks it.
      c.get(REC).mem(Op.i32_load, 2, A.VM_THREAD).tee(CODE).i32c(m.maxEntries * m.stride).op(Op.i32_mul).i32c(0);
      c.get(CODE).i32c(m.copies!).op(Op.i32_lt_u).op(Op.select).op(Op.i32_add);
    }
    c.op(Op.i64_extend_i32_u);
    c.op(Op.else).i64c(0).op(Op.end);
    c.set(R(0));
    return true;
  }

  /**
   * bpf_map_lookup_elem(map, key) on a hash map (BPF_MAP_TYPE_HASH, 4- or 8-byte keys) the
   * program names, r1 the lddw'd record: the helper's key check, then the map's own
   * lookup (assembly/ebpf/maps.ts hashFind: FNV-1a of the key's bytes, linear probing from
   * it, an empty slot ends the search, a used one with the same hash and key is the
   * element), inline; r0 = the value or NULL. False (nothing emitted) for anything else.
   */
  private inlineHashLookup(pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || m.type !== A.BPF_MAP_TYPE_HASH || (m.keySize !== 4 && m.keySize !== 8) || !m.capacity || !m.slotSize) return false;
    const c = this.c;
    const ks = m.keySize;
    const KEY = EA, H = CODE, I = LABEL, S = FPC;
    this.addr(2, 0, ks, false, pc, true);
    c.get(ADDR).mem(ks === 4 ? Op.i64_load32_u : Op.i64_load, 0).set(KEY);
    // FNV-1a over the key's bytes, never 0
    c.i32c(0x811c9dc5 | 0);
    for (let b = 0; b < ks; b++) {
      c.get(KEY);
      if (b) c.i64c(8 * b).op(Op.i64_shr_u);
      c.op(Op.i32_wrap_i64).i32c(0xff).op(Op.i32_and).op(Op.i32_xor).i32c(0x01000193).op(Op.i32_mul);
    }
    c.i32c(1).op(Op.i32_or).set(H);
    c.i64c(0).set(R(0));
    c.i32c(0).set(I);
    c.u8(Op.block).u8(EMPTY);
    c.u8(Op.loop).u8(EMPTY);
    c.get(I).i32c(m.capacity).op(Op.i32_ge_u).u8(Op.br_if).u32(1);
    c.get(H).get(I).op(Op.i32_add).i32c(m.capacity - 1).op(Op.i32_and).i32c(m.slotSize).op(Op.i32_mul).i32c(m.values).op(Op.i32_add).tee(S);
    c.u8(Op.atomic).u32(ATOMIC_LOAD32).u32(2).u32(0).tee(ADDR);
    c.op(Op.i32_eqz).u8(Op.br_if).u32(1);
    c.get(ADDR).i32c(1).op(Op.i32_eq);
    c.get(S).mem(Op.i32_load, 2, 4).get(H).op(Op.i32_eq).op(Op.i32_and);
    c.get(S).mem(ks === 4 ? Op.i64_load32_u : Op.i64_load, 0, A.MAP_SLOT_KEY).get(KEY).op(Op.i64_eq).op(Op.i32_and);
    c.u8(Op.if).u8(EMPTY);
    c.get(S).i32c(A.MAP_SLOT_KEY + ((ks + 7) & ~7)).op(Op.i32_add).op(Op.i64_extend_i32_u).set(R(0)); // the value, after the key
    c.u8(Op.br).u32(2);
    c.op(Op.end);
    c.get(I).i32c(1).op(Op.i32_add).set(I);
    c.u8(Op.br).u32(0);
    c.op(Op.end);
    c.op(Op.end);
    return true;
  }

  /**
   * bpf_map_lookup_elem(map, key) on any other map the program names, r1 the lddw'd
   * record: the helper's key check inline (a read fault at this pc), then its lookup
   * (the dataplane's mapLookup, this thread's copy) called directly, without the helper
   * dispatcher. False (nothing emitted) when r1 is not one of the program's maps.
   */
  private directLookup(pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || !m.keySize) return false;
    const c = this.c;
    this.addr(2, 0, m.keySize, false, pc, true);
    c.i32c(m.addr).get(ADDR).get(REC).mem(Op.i32_load, 2, A.VM_THREAD).op(Op.call).u32(F_LOOKUP);
    c.op(Op.i64_extend_i32_u).set(R(0));
    return true;
  }

  /**
   * bpf_map_update_elem(map, key, value, flags) and bpf_map_delete_elem(map, key) on a map
   * the program names, r1 the lddw'd record: the helper's checks of the key (then the
   * value) inline, each a read fault at this pc, then the dataplane's mapUpdate / mapDelete
   * called directly; r0 its result (0 or a negative errno). False (nothing emitted) when r1
   * is not one of the program's maps.
   */
  private directChange(id: number, pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || !m.keySize || (id === Fn.MapUpdate && !m.valueSize)) return false;
    const c = this.c;
    this.addr(2, 0, m.keySize, false, pc, true);
    if (id === Fn.MapDelete) {
      c.i32c(m.addr).get(ADDR).get(REC).mem(Op.i32_load, 2, A.VM_THREAD).op(Op.call).u32(F_DELETE);
    } else {
      c.get(ADDR).set(CODE);
      this.addr(3, 0, m.valueSize!, false, pc, true);
      c.i32c(m.addr).get(CODE).get(ADDR).get(R(4)).get(REC).mem(Op.i32_load, 2, A.VM_THREAD).i32c(0).op(Op.call).u32(F_UPDATE);
    }
    c.op(Op.i64_extend_i32_s).set(R(0));
    return true;
  }

  /**
   * bpf_xdp_adjust_head / _tail / _meta(ctx, delta) inline: the helper's checks and its
   * moves of the packet (data, data_end, data_meta in the record, the packet region and the
   * context), r0 = 0 or -EINVAL; then the packet bounds are reloaded, as after the helper.
   */
  private inlineXdpAdjust(id: number): void {
    const c = this.c;
    this.packetFields = true;
    const DATA = ADDR, LEN = CODE, CTX = FPC, META = LABEL;
    const u64 = (off: number): void => { c.get(REC).mem(Op.i32_load, 2, off).op(Op.i64_extend_i32_u); };
    c.get(R(2)).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_s).set(SPARE); // delta
    c.get(REC).mem(Op.i32_load, 2, A.VM_PKT).set(DATA);
    // data_meta (none: at data)
    c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_META).tee(META).get(DATA).get(META).op(Op.select).set(META);
    if (id === Fn.XdpAdjustHead) {
      // nd = data + delta must keep the head room and the metadata, and 14 bytes of packet.
      c.get(DATA).op(Op.i64_extend_i32_u).get(SPARE).op(Op.i64_add).set(TMP);
      c.get(TMP).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LO).i32c(XDP_MIN_HEADROOM).op(Op.i32_add).get(DATA).get(META).op(Op.i32_sub).op(Op.i32_add);
      c.op(Op.i64_extend_i32_u).op(Op.i64_lt_s);
      c.get(TMP).get(DATA).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).op(Op.i32_add).i32c(14).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_gt_s);
      c.op(Op.i32_or);
      c.u8(Op.if).u8(EMPTY);
      c.i64c(EINVAL).set(R(0));
      c.op(Op.else);
      // data_meta moves with data; len - delta
      c.get(REC).get(TMP).op(Op.i32_wrap_i64).get(DATA).get(META).op(Op.i32_sub).op(Op.i32_sub).mem(Op.i32_store, 2, A.VM_PKT_META);
      u64(A.VM_PKT_LEN);
      c.get(SPARE).op(Op.i64_sub).op(Op.i32_wrap_i64).set(LEN);
      c.get(TMP).op(Op.i32_wrap_i64).set(DATA);
    } else if (id === Fn.XdpAdjustTail) {
      // nl = len + delta: at least 14, inside the buffer; grown bytes are zeroed.
      u64(A.VM_PKT_LEN);
      c.get(SPARE).op(Op.i64_add).set(TMP);
      c.get(TMP).i64c(14).op(Op.i64_lt_s);
      c.get(DATA).op(Op.i64_extend_i32_u).get(TMP).op(Op.i64_add);
      u64(A.VM_PKT_HI);
      c.op(Op.i64_gt_s).op(Op.i32_or);
      c.u8(Op.if).u8(EMPTY);
      c.i64c(EINVAL).set(R(0));
      c.op(Op.else);
      c.get(SPARE).i64c(0).op(Op.i64_gt_s);
      c.u8(Op.if).u8(EMPTY);
      c.get(DATA).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).op(Op.i32_add).i32c(0).get(SPARE).op(Op.i32_wrap_i64).memoryFill();
      c.op(Op.end);
      c.get(TMP).op(Op.i32_wrap_i64).set(LEN);
    } else {
      // nm = meta + delta: 4-byte steps, at most 32 bytes before data, after the head room.
      c.get(META).op(Op.i64_extend_i32_u).get(SPARE).op(Op.i64_add).set(TMP);
      c.get(SPARE).i64c(3).op(Op.i64_and).op(Op.i64_eqz).op(Op.i32_eqz);
      c.get(TMP).get(DATA).op(Op.i64_extend_i32_u).op(Op.i64_gt_s).op(Op.i32_or);
      c.get(DATA).op(Op.i64_extend_i32_u).get(TMP).op(Op.i64_sub).i64c(XDP_META_MAX).op(Op.i64_gt_s).op(Op.i32_or);
      c.get(TMP).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LO).i32c(XDP_MIN_HEADROOM).op(Op.i32_add).op(Op.i64_extend_i32_u).op(Op.i64_lt_s).op(Op.i32_or);
      c.u8(Op.if).u8(EMPTY);
      c.i64c(EINVAL).set(R(0));
      c.op(Op.else);
      c.get(REC).get(TMP).op(Op.i32_wrap_i64).mem(Op.i32_store, 2, A.VM_PKT_META);
      c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).set(LEN);
    }
    // The packet at (DATA, LEN): the record, the packet region, and the xdp_md context
    // (data, data_end, data_meta: none or past data reads as data).
    c.get(REC).get(DATA).mem(Op.i32_store, 2, A.VM_PKT);
    c.get(REC).get(LEN).mem(Op.i32_store, 2, A.VM_PKT_LEN);
    c.get(REC).get(DATA).mem(Op.i32_store, 2, A.VM_REGIONS + A.VM_REGION_SIZE);
    c.get(REC).get(DATA).get(LEN).op(Op.i32_add).mem(Op.i32_store, 2, A.VM_REGIONS + A.VM_REGION_SIZE + 4);
    c.get(REC).mem(Op.i32_load, 2, A.VM_CTX).tee(CTX);
    c.u8(Op.if).u8(EMPTY);
    c.get(CTX).get(DATA).mem(Op.i32_store, 2, 0);
    c.get(CTX).get(DATA).get(LEN).op(Op.i32_add).mem(Op.i32_store, 2, 4);
    c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_META).set(META);
    c.get(CTX).get(DATA).get(META).get(META).op(Op.i32_eqz).get(META).get(DATA).op(Op.i32_gt_u).op(Op.i32_or).op(Op.select).mem(Op.i32_store, 2, 8);
    c.op(Op.end);
    c.i64c(0).set(R(0));
    c.op(Op.end);
    this.loadPacketBounds();
  }

  /**
   * bpf_skb_load_bytes(skb, off, to, len) / bpf_skb_store_bytes(skb, off, from, len, flags)
   * with len (and the store's flags) constants: the helper's checks in its order (the
   * buffer: a write / read fault at this pc; the flags: -EINVAL; the packet range: -EFAULT,
   * a failed load zeroing the buffer) and the copy, inline. False (nothing emitted) for
   * other lengths or unknown flags.
   */
  private inlineSkbBytes(store: boolean, pc: number): boolean {
    const len = this.konst.get(4);
    const flags = store ? this.konst.get(5) : 0;
    if (len === undefined || len === 0 || len > 0xffff || flags === undefined) return false;
    const c = this.c;
    this.packetFields = true;
    this.addr(3, 0, len, !store, pc, true);
    if ((flags & ~3) !== 0) {
      c.i64c(EINVAL).set(R(0));
      return true;
    }
    const plen = (): void => { c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).op(Op.i64_extend_i32_u); };
    // off > plen || len > plen - off: out of the packet
    c.get(R(2));
    plen();
    c.op(Op.i64_gt_u).i64c(len);
    plen();
    c.get(R(2)).op(Op.i64_sub).op(Op.i64_gt_u).op(Op.i32_or);
    c.u8(Op.if).u8(EMPTY);
    if (!store) c.get(ADDR).i32c(0).i32c(len).memoryFill();
    c.i64c(EFAULT).set(R(0));
    c.op(Op.else);
    const pkt = (): void => { c.get(REC).mem(Op.i32_load, 2, A.VM_PKT).get(R(2)).op(Op.i32_wrap_i64).op(Op.i32_add); };
    const to = store ? pkt : (): void => { c.get(ADDR); };
    const from = store ? (): void => { c.get(ADDR); } : pkt;
    const sized: Record<number, [number, number]> = { 1: [Op.i64_load8_u, Op.i64_store8], 2: [Op.i64_load16_u, Op.i64_store16], 4: [Op.i64_load32_u, Op.i64_store32], 8: [Op.i64_load, Op.i64_store] };
    const one = sized[len];
    if (one) {
      to();
      from();
      c.mem(one[0], 0).mem(one[1], 0);
    } else {
      // (memmove: the buffer may overlap the packet)
      to();
      from();
      c.i32c(len).memoryCopy();
    }
    c.i64c(0).set(R(0));
    c.op(Op.end);
    return true;
  }

  /**
   * bpf_ktime_get_ns (the virtual clock), bpf_get_prandom_u32 (the run context's
   * xorshift64*, as the helper steps it) and bpf_get_smp_processor_id (the thread) inline.
   */
  private inlineSmall(id: number): void {
    const c = this.c;
    if (id === Fn.KtimeGetNs) {
      c.i32c(A.GLOBALS).mem(Op.i64_load, 3, A.G_CLOCK_NS).set(R(0));
    } else if (id === Fn.GetSmpProcessorId) {
      c.get(REC).mem(Op.i32_load, 2, A.VM_THREAD).op(Op.i64_extend_i32_u).set(R(0));
    } else {
      const X = TMP;
      c.get(REC).mem(Op.i64_load, 3, A.VM_PRNG).tee(X).op(Op.i64_eqz);
      c.u8(Op.if).u8(EMPTY).i64c(0x9e3779b97f4a7c15n).set(X).op(Op.end);
      c.get(X).get(X).i64c(12).op(Op.i64_shr_u).op(Op.i64_xor).set(X);
      c.get(X).get(X).i64c(25).op(Op.i64_shl).op(Op.i64_xor).set(X);
      c.get(X).get(X).i64c(27).op(Op.i64_shr_u).op(Op.i64_xor).set(X);
      c.get(REC).get(X).mem(Op.i64_store, 3, A.VM_PRNG);
      c.get(X).i64c(0x2545f4914f6cdd1dn).op(Op.i64_mul).i64c(32).op(Op.i64_shr_u).set(R(0));
    }
  }

  /**
   * bpf_redirect(ifindex, flags) and bpf_redirect_peer(ifindex, flags) inline: TC_ACT_SHOT
   * for flags they do not take, else the target recorded and TC_ACT_REDIRECT.
   */
  private inlineRedirect(peer: boolean): void {
    const c = this.c;
    this.redirects = true;
    c.get(R(2));
    if (!peer) c.i64c(~A.VM_F_INGRESS).op(Op.i64_and);
    c.op(Op.i64_eqz);
    c.u8(Op.if).u8(EMPTY);
    c.get(REC).get(R(1)).op(Op.i32_wrap_i64).mem(Op.i32_store, 2, A.VM_REDIRECT_IFINDEX);
    c.get(REC);
    if (peer) c.i32c(A.VM_REDIRECT_SET | A.VM_REDIRECT_PEER);
    else c.get(R(2)).op(Op.i32_wrap_i64).i32c(A.VM_REDIRECT_SET).op(Op.i32_or);
    c.mem(Op.i32_store, 2, A.VM_REDIRECT_FLAGS);
    c.i64c(TC_ACT_REDIRECT).set(R(0));
    c.op(Op.else);
    c.i64c(TC_ACT_SHOT).set(R(0));
    c.op(Op.end);
  }

  /**
   * bpf_redirect_map(map, key, flags) on a devmap or XSKMAP the program names, r1 the
   * lddw'd record and r3 a constant: the helper's result inline (XDP_REDIRECT with the
   * slot's target recorded, the fallback action for an empty slot, XDP_ABORTED for
   * unknown flags). False (nothing emitted) for anything else.
   */
  private inlineRedirectMap(): boolean {
    const m = this.programMap();
    const flags = this.konst.get(3);
    if (m === undefined || flags === undefined) return false;
    if (m.type !== A.BPF_MAP_TYPE_DEVMAP && m.type !== A.BPF_MAP_TYPE_XSKMAP) return false;
    const c = this.c;
    this.redirects = true;
    // (a known constant is below 2^32: lddw with a zero high word, or a non-negative mov)
    if ((flags & ~0x1b) !== 0) {
      c.i64c(0).set(R(0));
      return true;
    }
    c.get(R(2)).i64c(m.maxEntries).op(Op.i64_lt_u);
    c.u8(Op.if).u8(I32);
    c.get(R(2)).op(Op.i32_wrap_i64).i32c(m.stride).op(Op.i32_mul).u8(Op.atomic).u32(ATOMIC_LOAD32).u32(2).u32(m.values);
    c.op(Op.else).i32c(0).op(Op.end);
    c.tee(CODE).op(Op.i32_eqz);
    c.u8(Op.if).u8(I64);
    c.i64c(flags & 3);
    c.op(Op.else);
    c.get(REC).get(CODE).mem(Op.i32_store, 2, A.VM_REDIRECT_IFINDEX);
    c.get(REC).i32c(A.VM_REDIRECT_SET | A.VM_REDIRECT_MAP | (m.type << 16)).mem(Op.i32_store, 2, A.VM_REDIRECT_FLAGS);
    c.i64c(4);
    c.op(Op.end);
    c.set(R(0));
    return true;
  }

  /**
   * bpf_loop(nr, callback, ctx, flags) with the callback compiled: the helper's checks and
   * results (spec/ebpf.md §3); the iterations run in the callback's loop function (each as
   * a call with r1 = i, r2 = ctx and its own frame), r0 = the number of iterations.
   */
  private inlineLoop(k: number, pc: number): void {
    const c = this.c;
    c.get(R(4)).op(Op.i64_eqz).op(Op.i32_eqz);
    this.enter(Op.if);
    c.i64c(-22).set(R(0));
    c.op(Op.else);
    c.get(R(1)).i64c(1 << 23).op(Op.i64_gt_u);
    this.enter(Op.if);
    c.i64c(-7).set(R(0));
    c.op(Op.else);
    c.get(R(1)).op(Op.i64_eqz);
    this.enter(Op.if);
    c.i64c(0).set(R(0));
    c.op(Op.else);
    c.get(DEPTH).i32c(1).op(Op.i32_add).i32c(A.VM_MAX_FRAMES).op(Op.i32_ge_u);
    this.enter(Op.if);
    this.fault(A.VM_FAULT_DEPTH, pc);
    this.leave();
    c.get(REC).get(DEPTH).i32c(1).op(Op.i32_add);
    c.get(R(0)).get(R(1)).get(R(3));
    for (let r = 3; r <= 9; r++) c.get(R(r));
    c.get(R(10)).i64c(A.VM_FRAME_STACK).op(Op.i64_sub);
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    c.op(Op.call).u32(this.loopIndex.get(k)!);
    c.op(Op.global_get).u32(G_BUDGET).set(BUD);
    c.set(TMP);
    for (let r = 5; r >= 0; r--) c.set(R(r));
    this.checkUnwind();
    c.get(TMP).set(R(0));
    this.leave();
    this.leave();
    this.leave();
    this.loadPacketBounds();
  }

  /** A helper call (`id`: the dispatcher's number, VM_KFUNC_BASE + the id for kernel functions). */
  private helperCall(i: Insn, pc: number, id = i.imm): void {
    const c = this.c;
    this.dispatched = true;
    if (PLAIN.has(id) || PACKET_MOVING_HELPERS.has(id)) {
      // Reads r1..r5, sets r0 and runs no eBPF (a packet helper moves the packet: its bounds are reloaded).
      for (let r = 1; r <= 5; r++) c.get(REC).get(R(r)).mem(Op.i64_store, 3, A.VM_REGS + r * 8);
      c.get(REC).i32c(id).get(DEPTH).i32c(pc).op(Op.call).u32(F_HELPER).tee(CODE);
      this.enter(Op.if);
      c.get(BUD).op(Op.global_set).u32(G_BUDGET);
      c.get(CODE).op(Op.global_set).u32(G_FAULT);
      this.unwind();
      this.leave();
      c.get(REC).mem(Op.i64_load, 3, A.VM_REGS).set(R(0));
      if (PACKET_MOVING_HELPERS.has(id)) this.loadPacketBounds();
      return;
    }
    this.spill();
    c.get(REC).get(BUD).mem(Op.i32_store, 2, A.VM_BUDGET);
    c.get(REC).i32c(id).get(DEPTH).i32c(pc).op(Op.call).u32(F_HELPER).set(CODE);
    // Callbacks (bpf_loop) ran on the same budget and counted their own instructions.
    c.get(REC).get(REC).mem(Op.i64_load, 3, A.VM_EXECUTED);
    c.get(BUD).get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_sub);
    c.mem(Op.i64_store, 3, A.VM_EXECUTED);
    c.get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).set(BUD);
    // A tail call (or a fault the helper recorded) unwinds the whole run.
    c.get(CODE);
    this.enter(Op.if);
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    c.get(CODE).op(Op.global_set).u32(G_FAULT);
    this.unwind();
    this.leave();
    for (let r = 0; r <= 10; r++) c.get(REC).mem(Op.i64_load, 3, A.VM_REGS + r * 8).set(R(r));
    this.loadPacketBounds();
  }

  private callLocal(i: Insn, pc: number): void {
    const c = this.c;
    c.get(DEPTH).i32c(1).op(Op.i32_add).i32c(A.VM_MAX_FRAMES).op(Op.i32_ge_u);
    this.enter(Op.if);
    this.fault(A.VM_FAULT_DEPTH, pc);
    this.leave();
    const t = pc + 1 + i.imm;
    const k = this.funcIndex.get(t);
    if (k === undefined) {
      this.fault(A.VM_FAULT_PC_RANGE, t >>> 0);
      return;
    }
    c.get(REC).get(DEPTH).i32c(1).op(Op.i32_add);
    for (let r = 0; r <= 9; r++) c.get(R(r));
    c.get(R(10)).i64c(A.VM_FRAME_STACK).op(Op.i64_sub);
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    c.op(Op.call).u32(F_SUB0 + k);
    c.op(Op.global_get).u32(G_BUDGET).set(BUD);
    c.set(TMP);
    for (let r = 5; r >= 0; r--) c.set(R(r));
    this.checkUnwind();
    c.get(TMP).i64c(A.VM_FRAME_STACK).op(Op.i64_add).set(R(10));
    this.loadPacketBounds();
  }

  /**
   * Leaves in ADDR the checked address of a `size`-byte access at reg + off, or faults
   * (read or write) like the interpreter's checks.
   */
  private addr(base: number, off: number, size: number, write: boolean, pc: number, stackFirst = false, fold = false): number {
    const c = this.c;
    if (this.batchMode && this.facts[pc] === FACT_DIRECT) {
      // Proven inside this packet's context or its checked range (bounds.ts). With `fold`,
      // a positive offset is left to the memory instruction's own (base + off cannot wrap:
      // the access is inside the memory).
      c.get(R(base)).op(Op.i32_wrap_i64);
      if (fold && off > 0) { c.set(ADDR); return off; }
      if (off !== 0) c.i32c(off).op(Op.i32_add);
      c.set(ADDR);
      return 0;
    }
    if (this.r10Fixed && base === 10 && off >= -A.VM_FRAME_STACK && off + size <= 0) {
      // Inside the current frame: r10 is its top and never changes.
      c.get(FP).i32c(off + A.VM_FRAME_STACK).op(Op.i32_add).set(ADDR);
      return 0;
    }
    c.get(R(base));
    if (off !== 0) c.i64c(off).op(Op.i64_add);
    c.set(EA);
    this.enter(Op.block);
    this.enter(Op.block);
    // The packet first (what programs read most), the context, then the stack (one
    // unsigned compare of ea - lo), the program's own regions, and the general check. In
    // subprograms and callbacks, which mostly get pointers into their callers' frames, and
    // for helpers' key and buffer arguments, the stack first. (The ranges do not overlap:
    // the order changes only the time taken.)
    const stack = (): void => { c.get(EA).get(ST_LO).op(Op.i64_sub).i64c(A.VM_STACK_SIZE - size).op(Op.i64_le_u).u8(Op.br_if).u32(0); };
    const sub = stackFirst || this.f !== this.funcs[0];
    if (sub) stack();
    if (write) { this.inRange(PW_LO, PW_HI, size); this.inRange(CW_LO, CW_HI, size); } else { this.inRange(P_LO, P_HI, size); this.inRange(C_LO, C_HI, size); }
    if (!sub) stack();
    for (const g of this.regions) {
      if (write && !g.writable) continue;
      if (g.len < size) continue;
      c.get(EA).i64c(g.addr).op(Op.i64_sub).i64c(g.len - size).op(Op.i64_le_u).u8(Op.br_if).u32(0);
    }
    if (this.lazyRegions) this.storeRegions();
    c.get(REC).get(EA).i32c(size).i32c(write ? 1 : 0).op(Op.call).u32(F_CHECK).tee(ADDR).op(Op.i32_eqz);
    this.enter(Op.if);
    this.fault(write ? A.VM_FAULT_WRITE : A.VM_FAULT_READ, pc);
    this.leave();
    c.u8(Op.br).u32(1);
    this.leave();
    c.get(EA).op(Op.i32_wrap_i64).set(ADDR);
    this.leave();
    return 0;
  }

  /** `br_if 0` when EA..EA+size lies in [lo, hi) (locals; an empty region is (EMPTY_LO, EMPTY_HI)). */
  private inRange(lo: number, hi: number, size: number): void {
    this.c.get(EA).get(lo).op(Op.i64_ge_u).get(EA).get(hi).i64c(size).op(Op.i64_sub).op(Op.i64_le_u).op(Op.i32_and).u8(Op.br_if).u32(0);
  }

  private ldx(i: Insn, pc: number): boolean {
    const c = this.c;
    const mode = i.code & 0xe0;
    const sz = i.code & 0x18;
    const size = sz === 0x00 ? 4 : sz === 0x08 ? 2 : sz === 0x10 ? 1 : 8;
    const fact = this.batchMode ? this.facts[pc] : 0;
    if (fact === FACT_DATA || fact === FACT_DATA_END) {
      // skb->data / data_end: this packet's bounds, as the __sk_buff holds them.
      c.get(fact === FACT_DATA ? P_LO : P_HI).set(R(i.dst));
      return false;
    }
    const moff = this.addr(i.src, i.off, size, false, pc, false, true);
    let op: number;
    if (mode === 0x60) op = size === 4 ? Op.i64_load32_u : size === 2 ? Op.i64_load16_u : size === 1 ? Op.i64_load8_u : Op.i64_load;
    else if (mode === 0x80 && size !== 8) op = size === 4 ? Op.i64_load32_s : size === 2 ? Op.i64_load16_s : Op.i64_load8_s;
    else { this.fault(A.VM_FAULT_INSN, pc); return true; }
    c.get(ADDR).mem(op, 0, moff).set(R(i.dst));
    return false;
  }

  private st(i: Insn, pc: number): boolean {
    const c = this.c;
    const cls = i.code & 7;
    const mode = i.code & 0xe0;
    const sz = i.code & 0x18;
    const size = sz === 0x00 ? 4 : sz === 0x08 ? 2 : sz === 0x10 ? 1 : 8;
    const moff = this.addr(i.dst, i.off, size, true, pc, false, mode === 0x60);
    if (mode === 0x60) {
      c.get(ADDR);
      if (cls === 2) c.i64c(i.imm); else c.get(R(i.src));
      c.mem(size === 4 ? Op.i64_store32 : size === 2 ? Op.i64_store16 : size === 1 ? Op.i64_store8 : Op.i64_store, 0, moff);
      return false;
    }
    if (mode !== 0xc0 || cls !== 3 || (size !== 4 && size !== 8)) { this.fault(A.VM_FAULT_INSN, pc); return true; }
    c.get(ADDR).i32c(size - 1).op(Op.i32_and);
    this.enter(Op.if);
    this.fault(A.VM_FAULT_ALIGN, pc);
    this.leave();
    const narrow = size === 4 ? 1 : 0;
    const align = size === 4 ? 2 : 3;
    switch (i.imm) {
      case 0x00: case 0x01: this.rmw(i, ATOMIC.add, narrow, align); break;
      case 0x40: case 0x41: this.rmw(i, ATOMIC.or, narrow, align); break;
      case 0x50: case 0x51: this.rmw(i, ATOMIC.and, narrow, align); break;
      case 0xa0: case 0xa1: this.rmw(i, ATOMIC.xor, narrow, align); break;
      case 0xe1: this.rmw(i, ATOMIC.xchg, narrow, align); break;
      case 0xf1:
        c.get(ADDR).get(R(0)).get(R(i.src)).u8(Op.atomic).u32(ATOMIC.cmpxchg[narrow]).u32(align).u32(0);
        c.set(R(0));
        return false;
      default:
        this.fault(A.VM_FAULT_INSN, pc);
        return true;
    }
    if (i.imm === 0xe1 || (i.imm & 1) !== 0) c.set(R(i.src));
    else c.op(Op.drop);
    return false;
  }

  /** An atomic read-modify-write of src at ADDR (the old value stays on the stack). */
  private rmw(i: Insn, pair: readonly [number, number], narrow: number, align: number): void {
    this.c.get(ADDR).get(R(i.src)).u8(Op.atomic).u32(pair[narrow]!).u32(align).u32(0);
  }

  private ld(i: Insn, pc: number): boolean {
    const c = this.c;
    if (i.code === 0x18) {
      if (pc + 1 >= this.n || (i.src !== 0 && i.src !== PSEUDO_FUNC)) { this.fault(A.VM_FAULT_INSN, pc); return true; }
      const hi = this.ins[pc + 1]!.imm;
      // (a function pointer: as the interpreter makes it, the pc's low 32 bits)
      const v = i.src === 0 ? (BigInt(hi >>> 0) << 32n) | BigInt(i.imm >>> 0) : (FUNC_TAG << 32n) | BigInt((pc + 1 + i.imm) >>> 0);
      c.i64c(v).set(R(i.dst));
      return false;
    }
    if (i.code === 0x20 || i.code === 0x28 || i.code === 0x30 || i.code === 0x40 || i.code === 0x48 || i.code === 0x50) {
      const size = (i.code & 0x18) === 0 ? 4 : (i.code & 0x18) === 0x08 ? 2 : 1;
      c.get(REC);
      if (i.code & 0x40) c.get(R(i.src)).i64c(0xffffffff).op(Op.i64_and).i64c(i.imm >>> 0).op(Op.i64_add);
      else c.i64c(i.imm >>> 0);
      c.i32c(size).op(Op.call).u32(F_LDABS).set(R(0));
      this.checkUnwind();
      return false;
    }
    this.fault(A.VM_FAULT_INSN, pc);
    return true;
  }
}
