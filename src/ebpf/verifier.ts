/**
 * Load-time checks for eBPF programs (spec/ebpf.md §1.13, §6): the structural rules of the
 * kernel verifier plus a register dataflow, without the kernel's value tracking. What is
 * refused here is refused by the kernel too, with the kernel's errno and log text; what
 * passes may still be refused by the kernel (packet bounds, map values, references), and
 * the interpreter enforces those at run time.
 *
 * Passes, in the kernel's order:
 * 1. each slot: register numbers, known opcode, `lddw` shape, reserved fields, constant
 *    shifts (check_and_resolve_insns, check_insn_fields, check_alu_op);
 * 2. functions: bpf-to-bpf call and callback targets split the image into functions;
 *    every jump stays inside its function and off the second slot of a `lddw`; every
 *    function ends in `exit` or `ja` (add_subprog, check_subprogs);
 * 3. dataflow over the CFG (a forward fixpoint, joined at merge points): registers read
 *    before written on some path, writes to r10, context accesses through a known ctx
 *    pointer, r10-relative stack bounds, helper ids and their availability (do_check);
 * 4. call chains: depth ≤ 8 frames, combined stack ≤ 512 bytes (check_max_stack_depth).
 */

import { NetError, type Errno } from '../errors.js';
import { ctxAccess, ctxLayout, type CtxField, type ProgType } from './ctx.js';
import { CTX_ARG_NOT_READ, HELPERS, HELPER_MAX_ID, KFUNCS, helperAllowed, helperName, kfuncName } from './helpers.js';
import { Alu, Atomic, CallKind, Cls, Jmp, LDDW, Mode, Pseudo, SRC_X, Size, bytesOf, cls, decode, mode, op, size, slots, type Insn } from './insn.js';

export type { ProgType } from './ctx.js';

/** Kernel limits (include/linux/bpf.h, bpf_verifier.h). */
export const MAX_BPF_STACK = 512;
export const MAX_CALL_FRAMES = 8;
/** BPF_COMPLEXITY_LIMIT_INSNS: privileged loads. */
export const BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000;
/** BPF_MAXINSNS: unprivileged loads. */
export const BPF_MAXINSNS = 4096;

export interface VerifyOptions {
  /** Program type; decides the context layout and the helpers it may call. `generic`: r1 is plain memory. */
  type: ProgType;
  /** Instruction limit (slots and processed instructions). Default 1,000,000 (privileged). */
  maxInsns?: number;
  /** Extra function start pcs (e.g. callbacks known from ELF symbols); calls and `lddw` func refs are found anyway. */
  subprogs?: readonly number[];
  /** The object's maps by index (`lddw` map references): value sizes bound map value accesses; an array's lookup with a constant key is never NULL. */
  maps?: readonly { kind: 'array' | 'of_maps' | 'other'; keySize: number; valueSize: number; maxEntries: number }[];
  /** License is GPL-compatible (GPL-only helpers allowed). Default true. */
  gplCompatible?: boolean;
}

export interface CtxAccess {
  pc: number;
  /** Field name in the context struct (`mark`, `data`, `cb`, …). */
  field: string;
  /** Byte offset of the access inside the context. */
  off: number;
  size: number;
  write: boolean;
}

export interface VerifyResult {
  ok: true;
  /** Deepest r10-relative stack use per function, in bytes (not rounded). */
  stackDepth: number[];
  /** Deepest chain of bpf-to-bpf calls, in frames (1 = no calls). */
  maxCallDepth: number;
  /** Start pc of each function; funcs[0] = 0 is the main program. */
  funcs: number[];
  /** Context loads/stores through a known ctx pointer, in pc order. */
  ctxAccesses: CtxAccess[];
  /**
   * Whether the ctx pointer may reach anything `ctxAccesses` does not list: a register or
   * stack slot the dataflow stops tracking it in, memory other than an 8-byte stack
   * spill, or a helper that reads the context itself. When false, `ctxAccesses` is every
   * way the program (and the helpers it calls) reads or writes its context.
   */
  ctxEscapes: boolean;
}

/** A refused program: errno, the instruction index and the kernel verifier's log line. */
export class VerifierError extends NetError {
  /** Instruction index the kernel names (or -1 for whole-program rules). */
  readonly pc: number;
  /** The verifier log line, as the kernel prints it. */
  readonly log: string;
  /**
   * For refusals found by the dataflow: the verifier log in the kernel's shape, the block
   * that leads to the refused instruction (`N: (op) insn ; R… state`), then `log` and the
   * instruction count (`processed N insns`). Register states are nkemu's view of them.
   */
  verifierLog?: string;

  constructor(errno: Errno, pc: number, log: string) {
    super(errno, log);
    this.name = 'VerifierError';
    this.pc = pc;
    this.log = log;
    this.message = pc >= 0 ? `${pc}: ${log}` : log;
  }
}

function fail(errno: Errno, pc: number, log: string): never {
  throw new VerifierError(errno, pc, log);
}

// ---------------------------------------------------------------------------------------
// Pass 1: every slot on its own.

/** Every valid first byte (spec §1.12 opcode map; kernel bpf_opcode_in_insntable). */
const OPCODES: ReadonlySet<number> = new Set([
  // ALU64 K/X, ALU K/X
  0x07, 0x0f, 0x04, 0x0c, 0x17, 0x1f, 0x14, 0x1c, 0x27, 0x2f, 0x24, 0x2c, 0x37, 0x3f, 0x34, 0x3c,
  0x47, 0x4f, 0x44, 0x4c, 0x57, 0x5f, 0x54, 0x5c, 0x67, 0x6f, 0x64, 0x6c, 0x77, 0x7f, 0x74, 0x7c,
  0x87, 0x84, 0x97, 0x9f, 0x94, 0x9c, 0xa7, 0xaf, 0xa4, 0xac, 0xb7, 0xbf, 0xb4, 0xbc,
  0xc7, 0xcf, 0xc4, 0xcc, 0xd7, 0xd4, 0xdc,
  // JMP K/X, JMP32 K/X
  0x05, 0x06, 0x15, 0x1d, 0x16, 0x1e, 0x25, 0x2d, 0x26, 0x2e, 0x35, 0x3d, 0x36, 0x3e,
  0x45, 0x4d, 0x46, 0x4e, 0x55, 0x5d, 0x56, 0x5e, 0x65, 0x6d, 0x66, 0x6e, 0x75, 0x7d, 0x76, 0x7e,
  0x85, 0x95, 0xa5, 0xad, 0xa6, 0xae, 0xb5, 0xbd, 0xb6, 0xbe, 0xc5, 0xcd, 0xc6, 0xce,
  0xd5, 0xdd, 0xd6, 0xde, 0xe5,
  // memory
  0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b,
  0xc3, 0xcb, 0xd3, 0xdb, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x18,
]);

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const isAlu = (c: Cls): boolean => c === Cls.ALU || c === Cls.ALU64;
const isJmp = (c: Cls): boolean => c === Cls.JMP || c === Cls.JMP32;

const ATOMIC_RMW: ReadonlySet<number> = new Set([
  Atomic.ADD, Atomic.OR, Atomic.AND, Atomic.XOR,
  Atomic.ADD | Atomic.FETCH, Atomic.OR | Atomic.FETCH, Atomic.AND | Atomic.FETCH, Atomic.XOR | Atomic.FETCH,
  Atomic.XCHG, Atomic.CMPXCHG,
]);

/** check_alu_fields: reserved fields of ALU/ALU64 (EINVAL). */
function checkAluFields(pc: number, i: Insn, typed: boolean): void {
  const c = cls(i.code);
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0;
  switch (o) {
    case Alu.NEG:
      if (x || i.src !== 0 || i.off !== 0 || i.imm !== 0) fail('EINVAL', pc, 'BPF_NEG uses reserved fields');
      return;
    case Alu.END:
      if (i.src !== 0 || i.off !== 0 || (i.imm !== 16 && i.imm !== 32 && i.imm !== 64) || (c === Cls.ALU64 && x)) {
        fail('EINVAL', pc, 'BPF_END uses reserved fields');
      }
      return;
    case Alu.MOV:
      if (x) {
        const offs = c === Cls.ALU ? [0, 8, 16] : [0, 8, 16, 32];
        if (!offs.includes(i.off) || i.imm !== 0) fail('EINVAL', pc, 'BPF_MOV uses reserved fields');
      } else if (i.src !== 0 || i.off !== 0) {
        fail('EINVAL', pc, 'BPF_MOV uses reserved fields');
      }
      return;
    default: {
      const signedOk = o === Alu.DIV || o === Alu.MOD;
      const badOff = (i.off !== 0 && i.off !== 1) || (i.off === 1 && !signedOk);
      if (x ? i.imm !== 0 || badOff : i.src !== 0 || badOff) fail('EINVAL', pc, 'BPF_ALU uses reserved fields');
      if (!x && (o === Alu.DIV || o === Alu.MOD) && i.imm === 0 && typed) fail('EINVAL', pc, 'div by zero');
      if (!x && (o === Alu.LSH || o === Alu.RSH || o === Alu.ARSH)) {
        const width = c === Cls.ALU64 ? 64 : 32;
        if (i.imm < 0 || i.imm >= width) fail('EINVAL', pc, `invalid shift ${i.imm}`);
      }
    }
  }
}

/** check_jmp_fields: reserved fields of JMP/JMP32 (EINVAL). */
function checkJmpFields(pc: number, i: Insn): void {
  const c = cls(i.code);
  const x = (i.code & SRC_X) !== 0;
  switch (op(i.code)) {
    case Jmp.CALL:
      if (x || (i.src !== CallKind.KFUNC && i.off !== 0) || i.src > CallKind.KFUNC || i.dst !== 0) {
        fail('EINVAL', pc, 'BPF_CALL uses reserved fields');
      }
      return;
    case Jmp.JA:
      if (i.src !== 0 || i.dst !== 0 || (c === Cls.JMP && i.imm !== 0) || (c === Cls.JMP32 && i.off !== 0)) {
        fail('EINVAL', pc, 'BPF_JA uses reserved fields');
      }
      return;
    case Jmp.EXIT:
      if (i.imm !== 0 || i.src !== 0 || i.dst !== 0) fail('EINVAL', pc, 'BPF_EXIT uses reserved fields');
      return;
    case Jmp.MAY_GOTO:
      if (i.src !== 0 || i.dst !== 0 || i.imm !== 0) fail('EINVAL', pc, `invalid may_goto imm ${i.imm}`);
      return;
    default:
      if (x ? i.imm !== 0 : i.src !== 0) fail('EINVAL', pc, 'BPF_JMP/JMP32 uses reserved fields');
  }
}

/** check_insn_fields for the memory classes (EINVAL). */
function checkMemFields(pc: number, i: Insn): void {
  const m = mode(i.code);
  switch (cls(i.code)) {
    case Cls.LDX:
      if (i.imm !== 0) fail('EINVAL', pc, 'BPF_LDX uses reserved fields');
      return;
    case Cls.STX:
      if (m === Mode.ATOMIC) {
        const s = size(i.code);
        if (i.imm === Atomic.LOAD_ACQ || i.imm === Atomic.STORE_REL) return;
        if (!ATOMIC_RMW.has(i.imm)) fail('EINVAL', pc, `BPF_ATOMIC uses invalid atomic opcode ${hex2(i.imm & 0xff)}`);
        if (s !== Size.W && s !== Size.DW) fail('EINVAL', pc, 'invalid atomic operand size');
        return;
      }
      if (i.imm !== 0) fail('EINVAL', pc, 'BPF_STX uses reserved fields');
      return;
    case Cls.ST:
      if (i.src !== 0) fail('EINVAL', pc, 'BPF_ST uses reserved fields');
      return;
    case Cls.LD:
      if (m === Mode.ABS || m === Mode.IND) {
        if (i.dst !== 0 || i.off !== 0 || (m === Mode.ABS && i.src !== 0)) {
          fail('EINVAL', pc, 'BPF_LD_[ABS|IND] uses reserved fields');
        }
      }
      return;
    default:
  }
}

/** Pass 1. Returns the set of pcs that are second slots of a `lddw`. */
function checkSlots(prog: Uint8Array, n: number, o: VerifyOptions): Uint8Array {
  const second = new Uint8Array(n);
  for (let pc = 0; pc < n; pc++) {
    const i = decode(prog, pc);
    if (i.dst > 10) fail('EINVAL', pc, `R${i.dst} is invalid`);
    if (i.src > 10) fail('EINVAL', pc, `R${i.src} is invalid`);
    if (i.code === LDDW) {
      const next = pc + 1 < n ? decode(prog, pc + 1) : undefined;
      if (next === undefined || next.code !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
        fail('EINVAL', pc, 'invalid bpf_ld_imm64 insn');
      }
      if (i.off !== 0) fail('EINVAL', pc, 'BPF_LD_IMM64 uses reserved fields');
      switch (i.src) {
        case Pseudo.IMM:
        case Pseudo.MAP_VALUE:
        case Pseudo.MAP_IDX_VALUE:
          break;
        case Pseudo.MAP_FD:
        case Pseudo.MAP_IDX:
          if (next.imm !== 0) fail('EINVAL', pc, 'unrecognized bpf_ld_imm64 insn');
          break;
        case Pseudo.FUNC: {
          const target = pc + i.imm + 1;
          if (target < 0 || target >= n) fail('EINVAL', pc, 'call to invalid destination');
          break;
        }
        case Pseudo.BTF_ID:
          return fail('EOPNOTSUPP', pc, 'ldimm64 of a kernel variable (BPF_PSEUDO_BTF_ID) is not supported by the emulator');
        default:
          fail('EINVAL', pc, 'unrecognized bpf_ld_imm64 insn');
      }
      second[pc + 1] = 1;
      pc++;
      continue;
    }
    if (!OPCODES.has(i.code)) fail('EINVAL', pc, `unknown opcode ${hex2(i.code)}`);
    const c = cls(i.code);
    if (isAlu(c)) checkAluFields(pc, i, o.type !== 'generic');
    else if (isJmp(c)) checkJmpFields(pc, i);
    else checkMemFields(pc, i);
    if (c === Cls.LD && (o.type === 'xdp')) {
      fail('EINVAL', pc, 'BPF_LD_[ABS|IND] instructions not allowed for this program type');
    }
  }
  return second;
}

// ---------------------------------------------------------------------------------------
// Pass 2: functions and jump targets.

/** Jump target of a jump at `pc`, or undefined for call/exit/non-jumps. */
function jumpTarget(i: Insn, pc: number): number | undefined {
  const c = cls(i.code);
  if (!isJmp(c)) return undefined;
  const o = op(i.code);
  if (o === Jmp.CALL || o === Jmp.EXIT) return undefined;
  if (o === Jmp.JA && c === Cls.JMP32) return pc + i.imm + 1;
  return pc + i.off + 1;
}

const isCallLocal = (i: Insn): boolean => i.code === (Cls.JMP | Jmp.CALL) && i.src === CallKind.LOCAL;

function findFuncs(prog: Uint8Array, n: number, second: Uint8Array, extra: readonly number[]): number[] {
  const starts = new Set<number>([0]);
  for (const s of extra) {
    if (!Number.isInteger(s) || s < 0 || s >= n || second[s]) fail('EINVAL', s, 'call to invalid destination');
    starts.add(s);
  }
  for (let pc = 0; pc < n; pc++) {
    if (second[pc]) continue;
    const i = decode(prog, pc);
    let target: number | undefined;
    if (isCallLocal(i)) target = pc + i.imm + 1;
    else if (i.code === LDDW && i.src === Pseudo.FUNC) target = pc + i.imm + 1;
    if (target === undefined) continue;
    if (target < 0 || target >= n || second[target]) fail('EINVAL', pc, 'call to invalid destination');
    starts.add(target);
  }
  return [...starts].sort((a, b) => a - b);
}

function checkSubprogs(prog: Uint8Array, n: number, second: Uint8Array, funcs: readonly number[]): void {
  for (let f = 0; f < funcs.length; f++) {
    const start = funcs[f]!;
    const end = f + 1 < funcs.length ? funcs[f + 1]! : n;
    for (let pc = start; pc < end; pc++) {
      if (second[pc]) continue;
      const i = decode(prog, pc);
      const t = jumpTarget(i, pc);
      if (t === undefined) continue;
      if (t < start || t >= end) fail('EINVAL', pc, `jump out of range from insn ${pc} to ${t}`);
      if (second[t]) fail('EINVAL', pc, `jump into the middle of ldimm64 insn ${t - 1}`);
    }
    const last = decode(prog, end - 1);
    const ok = !second[end - 1] &&
      (last.code === (Cls.JMP | Jmp.EXIT) || last.code === (Cls.JMP | Jmp.JA) || last.code === (Cls.JMP32 | Jmp.JA));
    if (!ok) fail('EINVAL', end - 1, 'last insn is not an exit or jmp');
  }
}

/** check_cfg: every instruction is reached from a function start (else `unreachable insn N`). */
function checkReachable(prog: Uint8Array, n: number, second: Uint8Array, funcs: readonly number[]): void {
  const seen = new Uint8Array(n);
  const work = [...funcs];
  while (work.length > 0) {
    const pc = work.pop()!;
    if (pc < 0 || pc >= n || seen[pc]) continue;
    seen[pc] = 1;
    const i = decode(prog, pc);
    const c = cls(i.code);
    if (i.code === LDDW) { work.push(pc + 2); continue; }
    if (!isJmp(c)) { work.push(pc + 1); continue; }
    const o = op(i.code);
    if (o === Jmp.EXIT) continue;
    if (o === Jmp.CALL) { work.push(pc + 1); continue; }
    work.push(jumpTarget(i, pc)!);
    if (o !== Jmp.JA) work.push(pc + 1);
  }
  for (let pc = 0; pc < n; pc++) if (!seen[pc] && !second[pc]) fail('EINVAL', pc, `unreachable insn ${pc}`);
}

// ---------------------------------------------------------------------------------------
// Pass 3: dataflow. Abstract register kinds; the join of two different kinds is INIT
// (written, nothing known) unless either side is UNINIT (then UNINIT: a register is only
// initialised if it is written on every path).

// Register types the kernel tracks (enum bpf_reg_type), as far as nkemu follows them. INIT
// is "written, type unknown to these checks": nothing is refused on it (a join of two
// different types, a pointer with a variable offset, a value reloaded from the stack).
// SCALAR is known not to be a pointer (with its value when constant); PKT and PKT_META
// have a constant offset and the range a data_end (data) comparison proved; MAP_VALUE a
// constant offset into a value of known size; MAP_OR_NULL the id of its lookup.
const enum K { UNINIT = 0, INIT = 1, CTX = 2, FP = 3, SCALAR = 4, PKT = 5, PKT_END = 6, PKT_META = 7, MAP_PTR = 8, MAP_VALUE = 9, MAP_OR_NULL = 10 }

/** The kernel's names of register types (reg_type_str), for its messages. */
const KIND_NAME: Record<number, string> = {
  [K.SCALAR]: 'scalar', [K.CTX]: 'ctx', [K.FP]: 'fp', [K.PKT]: 'pkt', [K.PKT_END]: 'pkt_end', [K.PKT_META]: 'pkt_meta',
  [K.MAP_PTR]: 'map_ptr', [K.MAP_VALUE]: 'map_value', [K.MAP_OR_NULL]: 'map_value_or_null',
};

/** Register state at one pc: kind and constant offset per register, plus ctx spills. */
interface State {
  k: number[]; // 11
  o: number[]; // 11; CTX/FP/PKT/MAP_VALUE offset
  /** SCALAR: its value when known (64-bit, unsigned). */
  c: (bigint | null)[];
  /**
   * SCALAR: an upper bound (umax) the kernel knows exactly too (loads, masks, constant
   * adds and shifts, unsigned comparisons with a constant); null when nkemu stops
   * following it (copies, joins, other comparisons: the kernel may know more).
   * MAP_VALUE: the umax of its variable offset (null: none).
   */
  u: (bigint | null)[];
  /** PKT/PKT_META: bytes proved readable from the packet start; MAP_*: value size (-1 unknown); MAP_OR_NULL id in `o`. */
  r: number[];
  /** Stack slot (byte offset from r10, multiple of 8) → ctx offset of a spilled ctx pointer. */
  spill: Map<number, number> | null;
  /** Stack byte offset → `size:value:imm` of a constant stored there (a map key the kernel can read), or `p`: a spilled pointer. */
  kst: Map<number, string> | null;
}

const zeros = (): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const nulls = (): (bigint | null)[] => [null, null, null, null, null, null, null, null, null, null, null];

function cloneState(s: State): State {
  return {
    k: s.k.slice(), o: s.o.slice(), c: s.c.slice(), r: s.r.slice(), u: s.u.slice(),
    spill: s.spill && s.spill.size > 0 ? new Map(s.spill) : null, kst: s.kst && s.kst.size > 0 ? new Map(s.kst) : null,
  };
}

const newState = (): State => ({ k: zeros(), o: zeros(), c: nulls(), r: zeros(), u: nulls(), spill: null, kst: null });

/** Set when a join turned a ctx pointer into an untracked value (read by `dataflow`). */
let joinLostCtx = false;

/** Joins `b` into `a`; returns whether `a` changed. */
function joinInto(a: State, b: State): boolean {
  let changed = false;
  for (let r = 0; r < 11; r++) {
    const ka = a.k[r]!;
    const kb = b.k[r]!;
    if (ka === kb && (ka < K.CTX || ka === K.PKT_END || ka === K.MAP_PTR) && (ka !== K.MAP_PTR || a.o[r] === b.o[r])) continue;
    if (ka === kb && ka === K.SCALAR) {
      if (a.c[r] !== null && a.c[r] !== b.c[r]) { a.c[r] = null; changed = true; }
      if (a.u[r] !== null && a.u[r] !== b.u[r]) { a.u[r] = null; changed = true; }
      continue;
    }
    if (ka === kb && (ka === K.CTX || ka === K.FP) && a.o[r] === b.o[r]) continue;
    if (ka === kb && (ka === K.PKT || ka === K.PKT_META) && a.o[r] === b.o[r]) {
      if (b.r[r]! < a.r[r]!) { a.r[r] = b.r[r]!; changed = true; }
      continue;
    }
    if (ka === kb && (ka === K.MAP_VALUE || ka === K.MAP_OR_NULL) && a.o[r] === b.o[r] && a.r[r] === b.r[r] && a.u[r] === b.u[r]) continue;
    const nk = ka === K.UNINIT || kb === K.UNINIT ? K.UNINIT : K.INIT;
    if (nk === K.INIT && (ka === K.CTX || kb === K.CTX)) joinLostCtx = true;
    if (nk !== ka) {
      a.k[r] = nk;
      a.o[r] = 0;
      a.c[r] = null;
      a.u[r] = null;
      a.r[r] = 0;
      changed = true;
    }
  }
  if (a.spill) {
    for (const [slot, off] of a.spill) {
      if (b.spill?.get(slot) !== off) {
        joinLostCtx = true;
        a.spill.delete(slot);
        changed = true;
      }
    }
  }
  if (b.spill) for (const [slot, off] of b.spill) if (a.spill?.get(slot) !== off) joinLostCtx = true;
  if (a.kst) {
    for (const [at, x] of a.kst) if (b.kst?.get(at) !== x) { a.kst.delete(at); changed = true; }
  }
  return changed;
}

interface Ctx {
  prog: Uint8Array;
  n: number;
  o: VerifyOptions;
  second: Uint8Array;
  funcs: readonly number[];
  funcOf: Int32Array;
  states: (State | undefined)[];
  depth: number[];
  accesses: Map<number, CtxAccess>;
  /** Calls per function: callee function indexes with the pc of the call. */
  calls: { pc: number; callee: number }[][];
  /** The ctx pointer reached something untracked (see VerifyResult.ctxEscapes). */
  escapes: boolean;
}


/** Program entry: r1 = ctx (generic: r1 = memory, r2 = its length, the uBPF convention), r10 = frame. */
function entryState(type: ProgType): State {
  const s = newState();
  s.k[1] = type === 'generic' ? K.INIT : K.CTX;
  if (type === 'generic') s.k[2] = K.INIT;
  s.k[10] = K.FP;
  return s;
}

/** Entry of a function reached only as a callback (`lddw` func ref): r1-r5 are arguments. */
function callbackEntry(): State {
  const s = newState();
  for (let r = 1; r <= 5; r++) s.k[r] = K.INIT;
  s.k[10] = K.FP;
  return s;
}

function readReg(s: State, r: number, pc: number, check: boolean): void {
  if (check && s.k[r] === K.UNINIT) fail('EACCES', pc, `R${r} !read_ok`);
}

function writeReg(s: State, r: number, pc: number, k: K = K.INIT, off = 0, c: bigint | null = null, range = 0, u?: bigint | null): void {
  if (r === 10) fail('EACCES', pc, 'frame pointer is read only');
  s.k[r] = k;
  s.o[r] = off;
  s.c[r] = c;
  s.r[r] = range;
  s.u[r] = u !== undefined ? u : k === K.SCALAR ? c : null;
}

const U64 = (1n << 64n) - 1n;
const U32 = (1n << 32n) - 1n;
/** BPF_MAX_VAR_OFF: the largest constant a pointer may be moved by. */
const MAX_VAR_OFF = 1 << 29;

/** The 64-bit result of a constant ALU op (undefined: not constant or division by zero). */
function aluConst(o: number, c64: boolean, a: bigint, b: bigint, signedOff: number): bigint | undefined {
  const w = c64 ? 64 : 32;
  const mask = c64 ? U64 : U32;
  a &= mask;
  b &= mask;
  const sgn = (x: bigint): bigint => BigInt.asIntN(w, x);
  let r: bigint;
  switch (o) {
    case Alu.ADD: r = a + b; break;
    case Alu.SUB: r = a - b; break;
    case Alu.MUL: r = a * b; break;
    case Alu.DIV: if (b === 0n) r = 0n; else r = signedOff === 1 ? sgn(a) / sgn(b) : a / b; break;
    case Alu.MOD: if (b === 0n) r = a; else r = signedOff === 1 ? sgn(a) % sgn(b) : a % b; break;
    case Alu.OR: r = a | b; break;
    case Alu.AND: r = a & b; break;
    case Alu.XOR: r = a ^ b; break;
    case Alu.LSH: r = a << (b & BigInt(w - 1)); break;
    case Alu.RSH: r = a >> (b & BigInt(w - 1)); break;
    case Alu.ARSH: r = sgn(a) >> (b & BigInt(w - 1)); break;
    case Alu.NEG: r = -a; break;
    default: return undefined;
  }
  return r & mask;
}

/** The kernel's operator strings (bpf_alu_string) for pointer arithmetic refusals. */
const ALU_STR: Record<number, string> = {
  [Alu.ADD]: '+=', [Alu.SUB]: '-=', [Alu.MUL]: '*=', [Alu.OR]: '|=', [Alu.AND]: '&=', [Alu.DIV]: '/=', [Alu.MOD]: '%=',
  [Alu.LSH]: '<<=', [Alu.RSH]: '>>=', [Alu.XOR]: '^=', [Alu.ARSH]: 's>>=', [Alu.NEG]: 'neg', [Alu.END]: 'endian',
};

const isPtr = (k: number): boolean => k >= K.CTX && k !== K.SCALAR;


/**
 * One instruction: checks it against the in-state `s` when `check` is set, and returns
 * the out-state for each successor. `s` is consumed.
 */
function step(v: Ctx, pc: number, s: State, check: boolean): { to: number; s: State }[] {
  const i = decode(v.prog, pc);
  const c = cls(i.code);
  const fn = v.funcOf[pc]!;

  if (isAlu(c)) {
    const o = op(i.code);
    const x = (i.code & SRC_X) !== 0;
    if (o === Alu.MOV) {
      if (x) readReg(s, i.src, pc, check);
      if (x && s.k[i.src] === K.CTX && !(c === Cls.ALU64 && i.off === 0)) v.escapes = true;
      if (x && c === Cls.ALU64 && i.off === 0) {
        // (the kernel links a scalar and its copy: a bound learnt on one holds for both;
        // nkemu stops following the bound of either)
        if (s.k[i.src] === K.SCALAR && s.c[i.src] === null) s.u[i.src] = null;
        writeReg(s, i.dst, pc, s.k[i.src] as K, s.o[i.src]!, s.c[i.src]!, s.r[i.src]!, s.u[i.src]!);
      } else if (v.o.type === 'generic') {
        // uBPF-style programs: r1 is memory and constants may be addresses; no types.
        writeReg(s, i.dst, pc, x && s.k[i.src] === K.UNINIT ? K.UNINIT : K.INIT);
      } else if (!x) {
        writeReg(s, i.dst, pc, K.SCALAR, 0, c === Cls.ALU64 ? BigInt.asUintN(64, BigInt(i.imm)) : BigInt(i.imm >>> 0));
      } else if (s.k[i.src] === K.SCALAR) {
        // mov32 truncates; movsx sign-extends the low `off` bits.
        const v0 = s.c[i.src]!;
        let cv: bigint | null = null;
        if (v0 !== null) {
          cv = i.off === 0 ? v0 & U32 : BigInt.asUintN(64, BigInt.asIntN(i.off, v0));
          if (c === Cls.ALU) cv &= U32;
        }
        writeReg(s, i.dst, pc, K.SCALAR, 0, cv);
      } else {
        writeReg(s, i.dst, pc);
      }
      return [{ to: pc + 1, s }];
    }
    // END's source bit picks the byte order (to big-endian), not a register.
    if (x && o !== Alu.END) readReg(s, i.src, pc, check);
    readReg(s, i.dst, pc, check);
    const kd = s.k[i.dst] as K;
    if (x && o !== Alu.END && s.k[i.src] === K.CTX) v.escapes = true;
    if (kd === K.CTX && !(c === Cls.ALU64 && !x && (o === Alu.ADD || o === Alu.SUB))) v.escapes = true;
    aluTyped(v, pc, i, s, check);
    return [{ to: pc + 1, s }];
  }

  if (isJmp(c)) {
    const o = op(i.code);
    if (o === Jmp.EXIT) {
      readReg(s, 0, pc, check);
      // A subprogram handing the ctx back: its caller's r0 is untracked.
      if (fn !== 0 && s.k[0] === K.CTX) v.escapes = true;
      return [];
    }
    if (o === Jmp.CALL) return stepCall(v, pc, i, s, check);
    if (o === Jmp.JA) return [{ to: jumpTarget(i, pc)!, s }];
    if (o !== Jmp.MAY_GOTO) {
      readReg(s, i.dst, pc, check);
      if (i.code & SRC_X) readReg(s, i.src, pc, check);
    }
    const fall = cloneState(s);
    if (c === Cls.JMP) refineBranch(i, fall, s);
    refineBounds(i, c, fall, s);
    return [{ to: pc + 1, s: fall }, { to: jumpTarget(i, pc)!, s }];
  }

  if (i.code === LDDW) {
    // A map reference is a map pointer (its value size known from the object's maps);
    // a 64-bit immediate stays untyped: nkemu's raw-address programs use it as a pointer.
    if (i.src === Pseudo.MAP_FD || i.src === Pseudo.MAP_IDX) writeReg(s, i.dst, pc, K.MAP_PTR, i.imm);
    else writeReg(s, i.dst, pc);
    return [{ to: pc + 2, s }];
  }

  if (c === Cls.LD) {
    // Legacy packet loads: implicit skb in r6, result in r0, r1-r5 clobbered (check_ld_abs).
    readReg(s, 6, pc, check);
    if (check && v.o.type !== 'generic' && s.k[6] !== K.CTX) {
      fail('EINVAL', pc, 'at the time of BPF_LD_ABS|IND R6 != pointer to skb');
    }
    if (mode(i.code) === Mode.IND) readReg(s, i.src, pc, check);
    for (let r = 1; r <= 5; r++) s.k[r] = K.UNINIT;
    s.k[0] = K.INIT;
    return [{ to: pc + 1, s }];
  }

  const bytes = bytesOf(size(i.code));
  if (c === Cls.LDX) {
    readReg(s, i.src, pc, check);
    const got = memAccess(v, pc, fn, s, i.src, i.off, bytes, false, check);
    if (got === undefined) writeReg(s, i.dst, pc);
    // A scalar loaded in fewer than 8 bytes is at most their maximum (coerce_reg_to_size).
    else writeReg(s, i.dst, pc, got.k, got.o ?? 0, null, 0, got.k === K.SCALAR && bytes < 8 ? (1n << BigInt(bytes * 8)) - 1n : null);
    return [{ to: pc + 1, s }];
  }
  if (c === Cls.ST) {
    readReg(s, i.dst, pc, check);
    memAccess(v, pc, fn, s, i.dst, i.off, bytes, true, check, -1, BigInt(i.imm));
    return [{ to: pc + 1, s }];
  }
  // STX
  if (mode(i.code) === Mode.ATOMIC) {
    if (i.imm === Atomic.LOAD_ACQ) {
      readReg(s, i.src, pc, check);
      memAccess(v, pc, fn, s, i.src, i.off, bytes, false, check);
      writeReg(s, i.dst, pc);
      return [{ to: pc + 1, s }];
    }
    readReg(s, i.src, pc, check);
    readReg(s, i.dst, pc, check);
    if (i.imm === Atomic.CMPXCHG) readReg(s, 0, pc, check);
    if (s.k[i.src] === K.CTX || (i.imm === Atomic.CMPXCHG && s.k[0] === K.CTX)) v.escapes = true;
    if (check && s.k[i.dst] === K.CTX) fail('EACCES', pc, `BPF_ATOMIC stores into R${i.dst} ctx is not allowed`);
    if (i.imm !== Atomic.STORE_REL) memAccess(v, pc, fn, s, i.dst, i.off, bytes, false, check);
    memAccess(v, pc, fn, s, i.dst, i.off, bytes, true, check);
    if (i.imm & Atomic.FETCH && i.imm !== Atomic.STORE_REL) writeReg(s, i.imm === Atomic.CMPXCHG ? 0 : i.src, pc);
    return [{ to: pc + 1, s }];
  }
  readReg(s, i.src, pc, check);
  readReg(s, i.dst, pc, check);
  // The ctx pointer stored anywhere but a whole stack slot is lost to the dataflow.
  if (s.k[i.src] === K.CTX && (s.k[i.dst] !== K.FP || bytes !== 8)) v.escapes = true;
  memAccess(v, pc, fn, s, i.dst, i.off, bytes, true, check, i.src);
  return [{ to: pc + 1, s }];
}

/**
 * An ALU op other than MOV on typed registers (adjust_reg_min_max_vals and
 * adjust_ptr_min_max_vals): constants folded, pointers moved by constants, the kernel's
 * refusals of pointer arithmetic. Untyped operands give an untyped result.
 */
function aluTyped(v: Ctx, pc: number, i: Insn, s: State, check: boolean): void {
  const c = cls(i.code);
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0 && o !== Alu.END;
  const d = i.dst;
  const kd = s.k[d] as K;
  const ks = x ? s.k[i.src] as K : K.SCALAR;
  const cs: bigint | null = x ? s.c[i.src]! : c === Cls.ALU64 ? BigInt.asUintN(64, BigInt(i.imm)) : BigInt(i.imm >>> 0);
  if (o === Alu.END || o === Alu.NEG) {
    // Byte swaps and negation: a scalar stays one (root may turn a pointer into a scalar).
    writeReg(s, d, pc, kd === K.SCALAR || isPtr(kd) ? K.SCALAR : K.INIT);
    return;
  }
  if (kd === K.INIT || ks === K.INIT) { writeReg(s, d, pc); return; }
  if (kd === K.SCALAR && ks === K.SCALAR) {
    const a = s.c[d]!;
    const r = a !== null && cs !== null ? aluConst(o, c === Cls.ALU64, a, cs, i.off) : undefined;
    if (r !== undefined) { writeReg(s, d, pc, K.SCALAR, 0, r); return; }
    // Bounds the kernel derives the same way (scalar_min_max_and/add/rsh).
    const ua = s.u[d]!;
    const ub = x ? s.u[i.src]! : cs;
    const lim = c === Cls.ALU64 ? U64 : U32;
    let u: bigint | null = null;
    if (o === Alu.AND) u = ua !== null && ub !== null ? (ua < ub ? ua : ub) : ua ?? ub;
    else if (o === Alu.ADD && ua !== null && ub !== null) u = ua + ub;
    else if (o === Alu.RSH && ua !== null && cs !== null && (!x || s.c[i.src] !== null)) u = ua >> (cs & BigInt(c === Cls.ALU64 ? 63 : 31));
    if (u !== null && (u > lim || (ua !== null && ua > lim) || (o !== Alu.AND && ub !== null && ub > lim))) u = null;
    writeReg(s, d, pc, K.SCALAR, 0, null, 0, u);
    return;
  }
  // Pointer arithmetic.
  if (isPtr(kd) && isPtr(ks)) {
    if (o === Alu.SUB) { writeReg(s, d, pc, K.SCALAR); return; }
    if (check) fail('EACCES', pc, `R${d} pointer ${ALU_STR[o]} pointer prohibited`);
    writeReg(s, d, pc);
    return;
  }
  const ptrIsDst = isPtr(kd);
  const pk = ptrIsDst ? kd : ks;
  const pr = ptrIsDst ? d : i.src;
  if (c !== Cls.ALU64) {
    if (o === Alu.SUB) { writeReg(s, d, pc, K.SCALAR); return; }
    if (check) fail('EACCES', pc, `R${d} 32-bit pointer arithmetic prohibited`);
    writeReg(s, d, pc);
    return;
  }
  if (pk === K.MAP_OR_NULL) {
    if (check) fail('EACCES', pc, `R${d} pointer arithmetic on ${KIND_NAME[pk]} prohibited, null-check it first`);
    writeReg(s, d, pc);
    return;
  }
  if (pk === K.PKT_END || (pk === K.MAP_PTR && !(o === Alu.ADD && cs === 0n))) {
    if (check) fail('EACCES', pc, `R${d} pointer arithmetic on ${KIND_NAME[pk]} prohibited`);
    writeReg(s, d, pc);
    return;
  }
  const known = ptrIsDst ? cs : s.c[d]!;
  if (known !== null) {
    const val = BigInt.asIntN(64, known);
    if (val >= BigInt(MAX_VAR_OFF) || val <= -BigInt(MAX_VAR_OFF)) {
      if (check) fail('EINVAL', pc, `math between ${KIND_NAME[pk]} pointer and ${val} is not allowed`);
      writeReg(s, d, pc);
      return;
    }
  }
  if (o === Alu.SUB && !ptrIsDst) {
    if (check) fail('EACCES', pc, `R${d} tried to subtract pointer from scalar`);
    writeReg(s, d, pc);
    return;
  }
  if (o === Alu.AND || o === Alu.OR || o === Alu.XOR) {
    if (check) fail('EACCES', pc, `R${d} bitwise operator ${ALU_STR[o]} on pointer prohibited`);
    writeReg(s, d, pc);
    return;
  }
  if (o !== Alu.ADD && o !== Alu.SUB) {
    if (check) fail('EACCES', pc, `R${d} pointer arithmetic with ${ALU_STR[o]} operator prohibited`);
    writeReg(s, d, pc);
    return;
  }
  if (known === null) {
    // A map value moved by a bounded scalar: its variable part's umax adds up.
    const su = ptrIsDst ? (x ? s.u[i.src]! : null) : s.u[d]!;
    if (pk === K.MAP_VALUE && o === Alu.ADD && su !== null) {
      writeReg(s, d, pc, K.MAP_VALUE, s.o[pr]!, null, s.r[pr]!, (s.u[pr] ?? 0n) + su);
      return;
    }
    writeReg(s, d, pc);
    return;
  }
  const delta = Number(BigInt.asIntN(64, known)) * (o === Alu.SUB ? -1 : 1);
  writeReg(s, d, pc, pk, s.o[pr]! + delta, null, s.r[pr]!, pk === K.MAP_VALUE ? s.u[pr]! : null);
}

/**
 * Unsigned comparisons of a followed scalar with a constant bound it on each branch; any
 * other comparison involving a followed bound stops it being followed (the kernel learns
 * from those too, in ways nkemu does not copy).
 */
function refineBounds(i: Insn, c: Cls, fall: State, taken: State): void {
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0;
  const d = i.dst;
  const tracked = (st: State, r: number): boolean => st.k[r] === K.SCALAR && st.c[r] === null && st.u[r] !== null;
  const k = !x ? BigInt.asUintN(64, BigInt(i.imm)) : null;
  if (c === Cls.JMP && !x && tracked(fall, d) && (o === Jmp.JGT || o === Jmp.JGE || o === Jmp.JLT || o === Jmp.JLE)) {
    const cap = (st: State, b: bigint): void => { if (b < st.u[d]!) st.u[d] = b < 0n ? 0n : b; };
    if (o === Jmp.JGT) cap(fall, k!);
    else if (o === Jmp.JGE) { if (k! > 0n) cap(fall, k! - 1n); }
    else if (o === Jmp.JLT) { if (k! > 0n) cap(taken, k! - 1n); }
    else cap(taken, k!);
    return;
  }
  for (const st of [fall, taken]) {
    if (tracked(st, d)) st.u[d] = null;
    if (x && tracked(st, i.src)) st.u[i.src] = null;
  }
}

/** `pkt <op> pkt_end` (or `pkt_meta <op> pkt`) proves bytes readable on one branch (try_match_pkt_pointers). */
function refineBranch(i: Insn, fall: State, taken: State): void {
  const o = op(i.code);
  const x = (i.code & SRC_X) !== 0;
  if (!x && i.imm === 0 && (o === Jmp.JEQ || o === Jmp.JNE) && fall.k[i.dst] === K.MAP_OR_NULL) {
    // mark_ptr_or_null_regs: every copy of the lookup's result.
    const id = fall.o[i.dst]!;
    const isNull = o === Jmp.JEQ ? taken : fall;
    const notNull = o === Jmp.JEQ ? fall : taken;
    for (let r = 0; r < 10; r++) {
      if (isNull.k[r] === K.MAP_OR_NULL && isNull.o[r] === id) { isNull.k[r] = K.SCALAR; isNull.o[r] = 0; isNull.c[r] = 0n; isNull.r[r] = 0; }
      if (notNull.k[r] === K.MAP_OR_NULL && notNull.o[r] === id) { notNull.k[r] = K.MAP_VALUE; notNull.o[r] = 0; }
    }
    return;
  }
  if (!x || (o !== Jmp.JGT && o !== Jmp.JLT && o !== Jmp.JGE && o !== Jmp.JLE)) return;
  const kd = fall.k[i.dst]!;
  const ks = fall.k[i.src]!;
  const lesser = (a: number, b: number): boolean => (a === K.PKT && b === K.PKT_END) || (a === K.PKT_META && b === K.PKT);
  let reg: number;
  let kind: number;
  // Which branch proves `reg <= end` (strict: `reg < end`).
  let proves: State;
  let strict: boolean;
  if (lesser(kd, ks)) {
    reg = i.dst; kind = kd;
    if (o === Jmp.JGT) { proves = fall; strict = false; } else if (o === Jmp.JLT) { proves = taken; strict = true; } else if (o === Jmp.JGE) { proves = fall; strict = true; } else { proves = taken; strict = false; }
  } else if (lesser(ks, kd)) {
    reg = i.src; kind = ks;
    if (o === Jmp.JGT) { proves = taken; strict = true; } else if (o === Jmp.JLT) { proves = fall; strict = false; } else if (o === Jmp.JGE) { proves = taken; strict = false; } else { proves = fall; strict = true; }
  } else {
    return;
  }
  const off = fall.o[reg]!;
  if (off < 0 || (off === 0 && strict)) return;
  const range = off + (strict ? 1 : 0);
  for (let r = 0; r < 10; r++) if (proves.k[r] === kind && proves.r[r]! < range) proves.r[r] = range;
}

/**
 * A load or store through register `r` at `off`. Checks ctx and stack accesses, tracks
 * ctx spills; returns the ctx offset when a load reads back a spilled ctx pointer.
 */
function memAccess(
  v: Ctx, pc: number, fn: number, s: State, r: number, off: number, size: number, write: boolean, check: boolean,
  valueReg = -1, imm?: bigint,
): { k: K; o?: number } | undefined {
  const k = s.k[r] as K;
  if (k === K.CTX) {
    const layout = ctxLayout(v.o.type);
    if (layout === undefined) return undefined;
    const f: CtxField | undefined = s.o[r] === 0 ? ctxAccess(layout, off, size, write) : undefined;
    if (check) {
      if (s.o[r] !== 0) fail('EACCES', pc, `dereference of modified ctx ptr R${r} off=${s.o[r]} disallowed`);
      if (f === undefined) fail('EACCES', pc, `invalid bpf_context access off=${off} size=${size}`);
      v.accesses.set(pc * 2 + (write ? 1 : 0), { pc, field: f.name, off, size, write });
    }
    if (write || f === undefined) return undefined;
    if (f.pointer === 'pkt') return { k: K.PKT };
    if (f.pointer === 'pkt_end') return { k: K.PKT_END };
    if (f.pointer === 'pkt_meta') return { k: K.PKT_META };
    return f.pointer === undefined ? { k: K.SCALAR } : undefined;
  }
  if (k === K.SCALAR || k === K.PKT_END || k === K.MAP_OR_NULL) {
    if (check) fail('EACCES', pc, `R${r} invalid mem access '${KIND_NAME[k]}'`);
    return undefined;
  }
  if (k === K.PKT || k === K.PKT_META) {
    const at = s.o[r]! + off;
    if (check && (at < 0 || at + size > s.r[r]!)) fail('EACCES', pc, `R${r} offset is outside of the packet`);
    return { k: K.SCALAR };
  }
  if (k === K.MAP_VALUE) {
    const at = s.o[r]! + off;
    const vs = s.r[r]!;
    const vu = s.u[r]!;
    if (check && vs >= 0) {
      if (vu !== null && vu > (1n << 63n) - 1n) fail('EACCES', pc, `R${r} min value is negative, either use unsigned index or do a if (index >=0) check.`);
      if (at < 0 || at + size > vs) fail('EACCES', pc, `R${r} min value is outside of the allowed memory range`);
      if (vu !== null && vu >= BigInt(MAX_VAR_OFF)) fail('EACCES', pc, `R${r} unbounded memory access, make sure to bounds check any such access`);
      if (vu !== null && BigInt(at + size) + vu > BigInt(vs)) fail('EACCES', pc, `R${r} max value is outside of the allowed memory range`);
    }
    return { k: K.SCALAR };
  }
  if (k !== K.FP) return undefined;
  const at = s.o[r]! + off;
  if (check) {
    if (at % size !== 0) {
      fail('EACCES', pc, `misaligned stack access off 0+${s.o[r]}+${off} size ${size}`);
    }
    if (at < -MAX_BPF_STACK || at + size > 0) {
      fail('EACCES', pc, `invalid ${write ? 'write to' : 'read from'} stack R${r} off=${off} size=${size}`);
    }
    v.depth[fn] = Math.max(v.depth[fn]!, -at);
  }
  if (write) {
    if (s.spill) {
      for (const slot of [...s.spill.keys()]) if (slot < at + size && at < slot + 8) s.spill.delete(slot);
    }
    if (size === 8 && valueReg >= 0 && s.k[valueReg] === K.CTX) {
      (s.spill ??= new Map()).set(at, s.o[valueReg]!);
    }
    if (s.kst) for (const slot of [...s.kst.keys()]) if (slot < at + size && at < slot + 8) s.kst.delete(slot);
    const mask = (1n << BigInt(size * 8)) - 1n;
    if (imm !== undefined) (s.kst ??= new Map()).set(at, `${size}:${imm & mask}:1`);
    // A pointer spilled whole: a narrower fill of it is refused.
    else if (size === 8 && valueReg >= 0 && isPtr(s.k[valueReg]!)) (s.kst ??= new Map()).set(at, s.k[valueReg] === K.FP ? `p:${s.o[valueReg]}` : 'p');
    else if (valueReg >= 0 && s.k[valueReg] === K.SCALAR && s.c[valueReg] !== null) (s.kst ??= new Map()).set(at, `${size}:${s.c[valueReg]! & mask}:0`);
    return undefined;
  }
  if (check && size < 8 && s.kst) {
    for (const [slot, x] of s.kst) if (x.startsWith('p') && slot < at + size && at < slot + 8) fail('EACCES', pc, 'invalid size of register fill');
  }
  // A spilled stack pointer comes back as one (other pointers but the ctx come back untyped).
  const fp = size === 8 ? s.kst?.get(at) : undefined;
  if (fp?.startsWith('p:')) return { k: K.FP, o: Number(fp.slice(2)) };
  const ctxOff = size === 8 ? s.spill?.get(at) : undefined;
  return ctxOff === undefined ? undefined : { k: K.CTX, o: ctxOff };
}

/**
 * What bpf_map_lookup_elem returns: a value or NULL; for an array whose key is a constant
 * stored on the stack (as the kernel reads it: a store of the key's size, or an immediate
 * zero at least that wide) inside max_entries, a value. Untyped when r1 is no map reference
 * (nkemu's raw-address programs), for maps of maps, and for an array whose key nkemu did
 * not follow (the kernel may know it).
 */
function lookupResult(v: Ctx, s: State): { k: K; size: number } | undefined {
  if (s.k[1] !== K.MAP_PTR) return undefined;
  const m = v.o.maps?.[s.o[1]!];
  if (m === undefined || m.kind === 'of_maps') return undefined;
  if (m.kind !== 'array') return { k: K.MAP_OR_NULL, size: m.valueSize };
  if (s.k[2] !== K.FP) return undefined;
  const x = s.kst?.get(s.o[2]!);
  if (x === undefined || x.startsWith('p')) return undefined;
  const [size, value, imm] = x.split(':');
  let key: bigint | null = null;
  if (Number(size) === m.keySize) key = BigInt(value!);
  else if (imm === '1' && value === '0' && Number(size) >= m.keySize) key = 0n;
  if (key !== null && key < BigInt(m.maxEntries)) return { k: K.MAP_VALUE, size: m.valueSize };
  return { k: K.MAP_OR_NULL, size: m.valueSize };
}

/** Helpers whose first argument is the context (ARG_PTR_TO_CTX). */
const CTX_ARG1: ReadonlySet<number> = new Set([9, 10, 11, 13, 18, 19, 26, 31, 38, 39, 43, 44, 50, 54, 65]);
const MEM_EXPECTED = 'fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_';

/** check_func_arg for the argument types nkemu follows: map pointers, memory, the context, sizes. */
function checkHelperArg(v: Ctx, pc: number, id: number, r: number, s: State): void {
  const k = s.k[r]!;
  if (k === K.INIT) return;
  // A stack buffer of a known size must lie inside the stack (check_helper_mem_access).
  if (k === K.FP) {
    const m = s.k[1] === K.MAP_PTR ? v.o.maps?.[s.o[1]!] : undefined;
    let size: number | undefined;
    let write = false;
    if ((id === 1 || id === 2 || id === 3) && r === 2) size = m?.keySize;
    else if (id === 2 && r === 3) size = m?.valueSize;
    else if (id === 26 && r === 3 && s.k[4] === K.SCALAR && s.c[4] !== null && s.c[4]! > 0n && s.c[4]! <= 512n) { size = Number(s.c[4]); write = true; }
    const at = s.o[r]!;
    if (size !== undefined && (at < -MAX_BPF_STACK || at + size > 0)) {
      fail('EINVAL', pc, `invalid ${write ? 'write to' : 'read from'} stack R${r} off=${at} size=${size}`);
    }
  }
  const name = KIND_NAME[k];
  const mapArg = ((id === 1 || id === 2 || id === 3) && r === 1) || (id === 12 && r === 2);
  if (mapArg && k !== K.MAP_PTR) fail('EACCES', pc, `R${r} type=${name} expected=map_ptr`);
  const memArg = ((id === 1 || id === 2 || id === 3) && r === 2) || (id === 2 && r === 3) || (id === 26 && r === 3);
  if (memArg && (k === K.SCALAR || k === K.CTX || k === K.PKT_END || k === K.MAP_PTR || k === K.MAP_OR_NULL)) {
    fail('EACCES', pc, `R${r} type=${name} expected=${MEM_EXPECTED}`);
  }
  if (id === 26 && r === 4 && k === K.SCALAR && s.c[r] === 0n) fail('EACCES', pc, 'R4 invalid zero-sized read: u64=[0,0]');
  if (CTX_ARG1.has(id) && r === 1 && k !== K.CTX) fail('EACCES', pc, `R1 type=${name} expected=ctx`);
}

/** Arguments the kernel's prototype declares (the rest are ARG_DONTCARE, never read): trace_printk has 2. */
function checkedArgs(h: { id: number; args: number }): number {
  return h.id === 6 ? 2 : h.args;
}

function stepCall(
  v: Ctx, pc: number, i: Insn, s: State, check: boolean,
): { to: number; s: State }[] {
  const out: { to: number; s: State }[] = [];
  if (i.src === CallKind.KFUNC) {
    const name = kfuncName(i.imm);
    const k = name === undefined ? undefined : KFUNCS.get(name);
    if (check) {
      if (!k) fail('EOPNOTSUPP', pc, `kernel function calls are not supported by the emulator (btf_id ${i.imm})`);
      if (!k.types.includes(v.o.type)) fail('EACCES', pc, `calling kernel function ${name} is not allowed`);
      readReg(s, 1, pc, check);
      if (s.k[1] !== K.CTX) fail('EINVAL', pc, `arg#0 expected pointer to ctx, but got ${s.k[1] === K.FP ? 'fp' : 'scalar'}`);
      if (s.o[1] !== 0) fail('EACCES', pc, `dereference of modified ctx ptr R1 off=${s.o[1]} disallowed`);
    }
    // The kernel's view of the context is built from all of it.
    if (s.k[1] === K.CTX) v.escapes = true;
  } else if (i.src === CallKind.LOCAL) {
    // Callee entry: r1-r5 as passed (pointers into this frame become opaque), fresh frame.
    const target = pc + i.imm + 1;
    const e = newState();
    for (let r = 1; r <= 5; r++) {
      e.k[r] = s.k[r] === K.FP ? K.INIT : s.k[r]!;
      e.o[r] = s.k[r] === K.FP ? 0 : s.o[r]!;
      e.c[r] = s.c[r]!;
      e.r[r] = s.r[r]!;
    }
    e.k[10] = K.FP;
    out.push({ to: target, s: e });
  } else {
    const id = i.imm;
    if (check) {
      if (id < 0 || id >= HELPER_MAX_ID) fail('EINVAL', pc, `invalid func ${helperName(id)}#${id}`);
      if (!helperAllowed(id, v.o.type)) {
        fail('EINVAL', pc, `program of this type cannot use helper ${helperName(id)}#${id}`);
      }
      const h = HELPERS.get(id)!;
      if (h.gpl && v.o.gplCompatible === false) {
        fail('EINVAL', pc, 'cannot call GPL-restricted function from non-GPL compatible program');
      }
      for (let r = 1; r <= checkedArgs(h); r++) {
        readReg(s, r, pc, check);
        checkHelperArg(v, pc, id, r, s);
        // A stack pointer argument makes the stack below it in use.
        if (s.k[r] === K.FP && s.o[r]! < 0) {
          const fn = v.funcOf[pc]!;
          v.depth[fn] = Math.max(v.depth[fn]!, Math.min(-s.o[r]!, MAX_BPF_STACK));
        }
      }
    }
    // A helper may write through a stack pointer argument: ctx spills may be overwritten.
    for (let r = 1; r <= (HELPERS.get(id)?.args ?? 5); r++) {
      if (s.k[r] === K.FP && !(id === 1 && r === 2)) s.kst = null;
      if (s.k[r] === K.FP) {
        if (s.spill && s.spill.size > 0) v.escapes = true;
        s.spill = null;
      }
    }
    // The ctx handed to a helper that may read it (or run programs on it, or pass it on).
    for (let r = 1; r <= 5; r++) if (s.k[r] === K.CTX && !(r === 1 && CTX_ARG_NOT_READ.has(id))) v.escapes = true;
  }
  const ret = i.src === CallKind.HELPER ? i.imm : -1;
  const lookup = ret === 1 ? lookupResult(v, s) : undefined;
  if (i.src === CallKind.LOCAL) s.kst = null;
  for (let r = 1; r <= 5; r++) s.k[r] = K.UNINIT;
  writeReg(s, 0, pc);
  // bpf_map_lookup_elem: a map value or NULL, told apart by a comparison with 0.
  if (lookup) writeReg(s, 0, pc, lookup.k, lookup.k === K.MAP_OR_NULL ? pc : 0, null, lookup.size);
  // A packet-moving helper kills every packet pointer (clear_all_pkt_pointers: they become unknown scalars).
  if (ret >= 0 && HELPERS.get(ret)?.pktChanging) {
    for (let r = 0; r < 10; r++) if (s.k[r] === K.PKT || s.k[r] === K.PKT_END || s.k[r] === K.PKT_META) writeReg(s, r, pc, K.SCALAR);
  }
  out.push({ to: pc + 1, s });
  return out;
}

/**
 * Block leaders: function starts, jump targets and the instruction after any jump,
 * call or exit. States are kept only at leaders; a block is walked straight through.
 */
function leaders(v: Ctx): Uint8Array {
  const lead = new Uint8Array(v.n + 1);
  for (const f of v.funcs) lead[f] = 1;
  for (let pc = 0; pc < v.n; pc++) {
    if (v.second[pc]) continue;
    const i = decode(v.prog, pc);
    if (!isJmp(cls(i.code))) continue;
    lead[pc + 1] = 1;
    const t = jumpTarget(i, pc);
    if (t !== undefined) lead[t] = 1;
  }
  return lead;
}

function dataflow(v: Ctx, maxInsns: number): void {
  const lead = leaders(v);
  const work: number[] = [];
  const queued = new Uint8Array(v.n);
  const push = (pc: number, s: State): void => {
    const cur = v.states[pc];
    if (cur === undefined) v.states[pc] = cloneState(s);
    else if (!joinInto(cur, s)) return;
    if (!queued[pc]) {
      queued[pc] = 1;
      work.push(pc);
    }
  };
  /** Walks the block at `start` from state `s`; returns the edges leaving it. */
  const runBlock = (start: number, s: State, check: boolean): { to: number; s: State }[] => {
    let pc = start;
    for (;;) {
      if (++processed > maxInsns) fail('E2BIG', pc, `BPF program is too large. Processed ${processed} insn`);
      const out = step(v, pc, s, check);
      if (out.length !== 1 || lead[out[0]!.to]) return out;
      pc = out[0]!.to;
      s = out[0]!.s;
    }
  };
  let processed = 0;

  push(0, entryState(v.o.type));
  // Functions reached only through a callback reference, or listed by the caller.
  const called = new Set<number>();
  for (const cs of v.calls) for (const c of cs) called.add(v.funcs[c.callee]!);
  for (const f of v.funcs) if (f !== 0 && !called.has(f)) push(f, callbackEntry());

  while (work.length > 0) {
    const pc = work.pop()!;
    queued[pc] = 0;
    for (const e of runBlock(pc, cloneState(v.states[pc]!), false)) push(e.to, e.s);
  }
  // Checks on the fixpoint, block by block in pc order.
  processed = 0;
  for (let pc = 0; pc < v.n; pc++) {
    const s = v.states[pc];
    if (s === undefined) continue;
    try {
      runBlock(pc, cloneState(s), true);
    } catch (e) {
      if (e instanceof VerifierError && e.pc >= pc) e.verifierLog = traceBlock(v, pc, s, e, processed);
      throw e;
    }
  }
}

// ---------------------------------------------------------------------------------------
// The log, in the kernel's shape (print_bpf_insn, print_verifier_state).

const SZ = ['u32', 'u16', 'u8', 'u64'];
const ALU_OP: Record<number, string> = {
  [Alu.ADD]: '+=', [Alu.SUB]: '-=', [Alu.MUL]: '*=', [Alu.DIV]: '/=', [Alu.OR]: '|=', [Alu.AND]: '&=', [Alu.LSH]: '<<=',
  [Alu.RSH]: '>>=', [Alu.MOD]: '%=', [Alu.XOR]: '^=', [Alu.MOV]: '=', [Alu.ARSH]: 's>>=',
};
const JMP_OP: Record<number, string> = {
  [Jmp.JEQ]: '==', [Jmp.JGT]: '>', [Jmp.JGE]: '>=', [Jmp.JSET]: '&', [Jmp.JNE]: '!=', [Jmp.JSGT]: 's>', [Jmp.JSGE]: 's>=',
  [Jmp.JLT]: '<', [Jmp.JLE]: '<=', [Jmp.JSLT]: 's<', [Jmp.JSLE]: 's<=',
};
const offStr = (off: number): string => (off >= 0 ? `+${off}` : `${off}`);

/** One instruction as the kernel's log prints it (`(61) r2 = *(u32 *)(r1 +76)`). */
export function kernelInsn(prog: Uint8Array, pc: number): string {
  const i = decode(prog, pc);
  const c = cls(i.code);
  const code = `(${hex2(i.code)})`;
  const x = (i.code & SRC_X) !== 0;
  if (isAlu(c)) {
    const w = c === Cls.ALU64 ? 'r' : 'w';
    const o = op(i.code);
    if (o === Alu.NEG) return `${code} ${w}${i.dst} = -${w}${i.dst}`;
    if (o === Alu.END) return `${code} r${i.dst} = ${c === Cls.ALU64 ? 'bswap' : x ? 'be' : 'le'}${i.imm} r${i.dst}`;
    const src = x ? `${o === Alu.MOV && i.off ? `(s${i.off})` : ''}${w}${i.src}` : `${i.imm}`;
    const sop = (o === Alu.DIV || o === Alu.MOD) && i.off === 1 ? `s${ALU_OP[o]}` : ALU_OP[o] ?? '?';
    return `${code} ${w}${i.dst} ${sop} ${src}`;
  }
  if (isJmp(c)) {
    const o = op(i.code);
    if (o === Jmp.EXIT) return `${code} exit`;
    if (o === Jmp.CALL) {
      if (i.src === CallKind.LOCAL) return `${code} call pc${offStr(i.imm)}`;
      if (i.src === CallKind.KFUNC) return `${code} call kernel-function`;
      return `${code} call ${helperName(i.imm)}#${i.imm}`;
    }
    if (o === Jmp.JA) return `${code} goto pc${offStr(c === Cls.JMP32 ? i.imm : i.off)}`;
    const w = c === Cls.JMP ? 'r' : 'w';
    return `${code} if ${w}${i.dst} ${JMP_OP[o] ?? '?'} ${x ? `${w}${i.src}` : `0x${(i.imm >>> 0).toString(16)}`} goto pc${offStr(i.off)}`;
  }
  if (i.code === LDDW) {
    const hi = decode(prog, pc + 1).imm;
    if (i.src === Pseudo.MAP_FD || i.src === Pseudo.MAP_IDX) return `${code} r${i.dst} = map[idx:${i.imm}]`;
    return `${code} r${i.dst} = 0x${((BigInt(hi >>> 0) << 32n) | BigInt(i.imm >>> 0)).toString(16)}`;
  }
  const sz = SZ[size(i.code) >> 3]!;
  if (c === Cls.LDX) return `${code} r${i.dst} = *(${sz} *)(r${i.src} ${offStr(i.off)})`;
  if (c === Cls.ST) return `${code} *(${sz} *)(r${i.dst} ${offStr(i.off)}) = ${i.imm}`;
  if (c === Cls.STX && mode(i.code) === Mode.ATOMIC) return `${code} lock *(${sz} *)(r${i.dst} ${offStr(i.off)}) op ${i.imm} r${i.src}`;
  if (c === Cls.STX) return `${code} *(${sz} *)(r${i.dst} ${offStr(i.off)}) = r${i.src}`;
  return `${code} ld_${mode(i.code) === Mode.ABS ? 'abs' : 'ind'}`;
}

/** Register states as the kernel prints them (`R1=ctx() R2=pkt(r=14) R10=fp0`). */
function kernelState(s: State): string {
  const out: string[] = [];
  for (let r = 0; r <= 10; r++) {
    const k = s.k[r]!;
    if (k === K.UNINIT) continue;
    const o = s.o[r]!;
    let t: string;
    switch (k) {
      case K.SCALAR: t = s.c[r] !== null ? `${BigInt.asIntN(64, s.c[r]!)}` : s.u[r] !== null ? `scalar(umax=${s.u[r]})` : 'scalar()'; break;
      case K.CTX: t = o ? `ctx(off=${o})` : 'ctx()'; break;
      case K.FP: t = `fp${o}`; break;
      case K.PKT: case K.PKT_META: t = `${KIND_NAME[k]}(${o ? `off=${o},` : ''}r=${s.r[r]})`; break;
      case K.MAP_VALUE: t = `map_value(${o ? `off=${o},` : ''}${s.u[r] !== null ? `umax=${s.u[r]},` : ''}vs=${s.r[r]})`; break;
      case K.MAP_OR_NULL: t = `map_value_or_null(id=${o},vs=${s.r[r]})`; break;
      case K.MAP_PTR: t = `map_ptr(idx=${o})`; break;
      case K.PKT_END: t = 'pkt_end()'; break;
      default: t = 'untracked';
    }
    out.push(`R${r}=${t}`);
  }
  return out.join(' ');
}

/** The refused block, from its start, in the kernel's log shape. */
function traceBlock(v: Ctx, start: number, s0: State, e: VerifierError, processed: number): string {
  const lines = [`${start}: ${kernelState(s0)}`];
  let s = cloneState(s0);
  let pc = start;
  for (let n = 0; n < 4096 && pc !== e.pc; n++) {
    const text = `${pc}: ${kernelInsn(v.prog, pc)}`;
    let out: { to: number; s: State }[];
    try {
      out = step(v, pc, s, false);
    } catch {
      break;
    }
    if (out.length !== 1) break;
    lines.push(`${text.padEnd(40)}; ${kernelState(out[0]!.s)}`);
    pc = out[0]!.to;
    s = out[0]!.s;
  }
  if (e.pc >= 0 && e.pc < v.n) lines.push(`${e.pc}: ${kernelInsn(v.prog, e.pc)}`);
  lines.push(e.log, `processed ${processed} insns (limit ${v.o.maxInsns ?? BPF_COMPLEXITY_LIMIT_INSNS})`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------
// Pass 4: call chains.

/** round_up_stack_depth for a JIT-requested program: 16-byte frames. */
const roundStack = (d: number): number => Math.ceil(d / 16) * 16;

function checkCallChains(v: Ctx): number {
  let maxFrames = 1;
  const walk = (f: number, frames: number, depth: number, pc: number): void => {
    if (frames > MAX_CALL_FRAMES) fail('E2BIG', pc, `the call stack of ${frames} frames is too deep !`);
    const total = depth + roundStack(v.depth[f]!);
    if (total > MAX_BPF_STACK) fail('EACCES', pc, `combined stack size of ${frames} calls is ${total}. Too large`);
    maxFrames = Math.max(maxFrames, frames);
    for (const c of v.calls[f]!) walk(c.callee, frames + 1, total, c.pc);
  };
  walk(0, 1, 0, 0);
  // Callbacks run on their own frame chains (kernel: async callbacks and bpf_loop bodies).
  for (let f = 1; f < v.funcs.length; f++) {
    if (!v.calls.some((cs) => cs.some((c) => c.callee === f))) walk(f, 1, 0, v.funcs[f]!);
  }
  return maxFrames;
}

// ---------------------------------------------------------------------------------------

/**
 * Checks a program image (raw 8-byte slots) for a program type. Throws VerifierError
 * with the kernel's errno and log text; returns per-function stack use, the deepest call
 * chain, function starts and the context accesses it found.
 */
export function verify(prog: Uint8Array, o: VerifyOptions): VerifyResult {
  const maxInsns = o.maxInsns ?? BPF_COMPLEXITY_LIMIT_INSNS;
  if (prog.length === 0) fail('EINVAL', -1, 'empty program');
  if (prog.length % 8 !== 0) fail('EINVAL', -1, `program size ${prog.length} is not a multiple of 8`);
  const n = slots(prog);
  if (n > maxInsns) fail('E2BIG', -1, `BPF program is too large. Processed ${n} insn`);

  const second = checkSlots(prog, n, o);
  const funcs = findFuncs(prog, n, second, o.subprogs ?? []);
  checkSubprogs(prog, n, second, funcs);
  checkReachable(prog, n, second, funcs);

  const funcOf = new Int32Array(n);
  for (let f = 0; f < funcs.length; f++) funcOf.fill(f, funcs[f]!, f + 1 < funcs.length ? funcs[f + 1]! : n);
  const calls: { pc: number; callee: number }[][] = funcs.map(() => []);
  for (let pc = 0; pc < n; pc++) {
    if (second[pc]) continue;
    const i = decode(prog, pc);
    if (isCallLocal(i)) calls[funcOf[pc]!]!.push({ pc, callee: funcs.indexOf(pc + i.imm + 1) });
  }

  const v: Ctx = {
    prog, n, o, second, funcs, funcOf,
    states: new Array<State | undefined>(n),
    depth: funcs.map(() => 0),
    accesses: new Map(),
    calls,
    escapes: false,
  };
  joinLostCtx = false;
  dataflow(v, maxInsns);
  if (joinLostCtx) v.escapes = true;
  const maxCallDepth = checkCallChains(v);

  return {
    ok: true,
    stackDepth: v.depth,
    maxCallDepth,
    funcs: [...funcs],
    ctxAccesses: [...v.accesses.values()].sort((a, b) => a.pc - b.pc || Number(a.write) - Number(b.write)),
    ctxEscapes: v.escapes,
  };
}

/** __sk_buff words (8 bytes each) the dataplane copies back to the frame after a program wrote its context. */
const SKB_WRITEBACK_WORDS = [1, 4, 5, 6, 7, 8, 19];
const SKB_WORDS = 24;
/** PR_CTX_USE flags (abi): the program writes context fields; it verified (reads no register before writing it). */
const CTX_WRITES = 0x80000000;
const CTX_VERIFIED = 0x40000000;
/** Every __sk_buff word, and writes: what a program whose context use is unknown gets. */
export const CTX_USE_ALL = (((1 << SKB_WORDS) - 1) | CTX_WRITES) >>> 0;

/**
 * The program record's context use (abi PR_CTX_USE): whether the program verified, and for
 * a `sched_cls` program which __sk_buff words the dataplane must fill before it runs and
 * whether fields go back to the frame after it. Only the words its verified context loads
 * read (plus, when it writes any field, those the write-back copies); every word when the
 * ctx pointer escapes the dataflow, the program does not verify, or it is of another type
 * (an `xdp` program that verifies gets CTX_USE_ALL with the verified flag).
 */
export function ctxUse(insns: Uint8Array, type: ProgType): number {
  if (type !== 'sched_cls' && type !== 'xdp') return CTX_USE_ALL;
  let r: VerifyResult;
  try {
    r = verify(insns, { type });
  } catch {
    return CTX_USE_ALL;
  }
  if (type === 'xdp') return (CTX_USE_ALL | CTX_VERIFIED) >>> 0;
  if (r.ctxEscapes) return (CTX_USE_ALL | CTX_VERIFIED) >>> 0;
  let use = CTX_VERIFIED;
  for (const a of r.ctxAccesses) {
    if (a.write) use |= CTX_WRITES;
    else for (let w = a.off >> 3; w <= (a.off + a.size - 1) >> 3; w++) use |= 1 << w;
  }
  if (use & CTX_WRITES) for (const w of SKB_WRITEBACK_WORDS) use |= 1 << w;
  return use >>> 0;
}
