/**
 * The code generator's numbering: Wasm locals of every generated function, imported
 * functions, types and globals, the opcode tables, and the facts the emitters share
 * (compile.ts explains the generated shape).
 */

import * as A from '../../abi.generated.js';
import type { Insn } from './cfg.js';
import { PLAIN_HELPERS } from '../helpers.js';
import type { BatchContext } from './bounds.js';
import { Op } from './wasm.js';

export interface CountedLoop {
  reg: number;
  step: number;
  limit: number;
  /** A 64-bit compare (else 32-bit: the register's low half counts). */
  wide: boolean;
  /** `jne` (else `jlt`, unsigned). */
  ne: boolean;
  /**
   * Not the back edge: the header block's last instruction leaves the loop once the register
   * is above `limit` (`jgt`), or at `limit` or above (`jge`) — limit + 1 or limit here, the
   * first value that leaves; the back edge tests something else (a data_end bound).
   */
  leaveAt?: number;
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
export const UNROLL = 4, UNROLL_MAX_COST = 24;

// Internal, never stored in the record: a legacy packet load out of range ends the whole
// run with r0 = 0 (the interpreter's `depth = depth0; break`).
export const LD_ABS_EXIT = 0x200;
// Internal too: the batch code's tail call ran its target to the end (the target's fault, or 0, in the low bits).
export const TAIL_DONE = 0x400;
/** Callback pointers (bpf_loop): (FUNC_TAG << 32) | pc, as `lddw rX, <func>` loads them (assembly/ebpf/helpers.ts). */
export const FUNC_TAG = 0xbf0cn;
export const PSEUDO_FUNC = 4;

/** The pc of the function an `lddw` at pc points to (src BPF_PSEUDO_FUNC), if it is one inside the program. */
export function funcPointer(ins: readonly Insn[], pc: number): number | undefined {
  const i = ins[pc]!;
  if (i.code !== 0x18 || i.src !== PSEUDO_FUNC || pc + 1 >= ins.length) return undefined;
  const t = pc + 1 + i.imm;
  return t >= 0 && t < ins.length ? t : undefined;
}
/** Helper numbers (include/uapi/linux/bpf.h) the generator may handle itself. */
export const enum Fn {
  MapLookup = 1, MapUpdate = 2, MapDelete = 3, KtimeGetNs = 5, GetPrandomU32 = 7, GetSmpProcessorId = 8,
  SkbStoreBytes = 9, Redirect = 23, SkbLoadBytes = 26,
  XdpAdjustHead = 44, RedirectMap = 51, XdpAdjustMeta = 54, XdpAdjustTail = 65, RedirectPeer = 155, Loop = 181,
}
/** What those helpers return besides 0: errnos and tc actions. */
export const EINVAL = -22, EFAULT = -14, TC_ACT_SHOT = 2, TC_ACT_REDIRECT = 7, XDP_ABORTED = 0, XDP_REDIRECT = 4;
/** The XDP buffer's reserved head (struct xdp_frame) and the metadata limit (assembly/ebpf/helpers.ts). */
export const XDP_MIN_HEADROOM = 40, XDP_META_MAX = 32;
/** i32.atomic.load (after the 0xfe prefix). */
export const ATOMIC_LOAD32 = 0x10;
export const EMPTY_LO = -1n;
export const EMPTY_HI = 8;

// Locals of every subprogram function: params first.
export const REC = 0;
export const DEPTH = 1;
// r11..r15 are not valid eBPF registers, but the interpreter keeps them in the run record
// (helpers use r11 as scratch): they stay there, as virtual locals the writer turns into
// loads and stores.
export const VIRTUAL = 1000;
export const R = (i: number): number => (i <= 10 ? 2 + i : VIRTUAL + i); // r0..r10 → 2..12
export const EA = 13; // i64
export const TMP = 14; // i64
export const SPARE = 15; // i64
export const ADDR = 16; // i32
export const LABEL = 17; // i32
export const CODE = 18; // i32
export const ST_LO = 19; // i64: stack
export const C_LO = 20, C_HI = 21, CW_LO = 22, CW_HI = 23; // i64: context (read, write)
export const P_LO = 24, P_HI = 25, PW_LO = 26, PW_HI = 27; // i64: packet (read, write)
export const FP = 28; // i32: r10 - 512 when r10 is never written
export const BUD = 29; // i32: the budget (the global only at calls, exits and faults)
export const SCR = 30; // i64: a value on its way to a virtual register
export const FPC = 31; // i32: the pc of the fault being raised
// The batch loop's own (after a subprogram's locals): entry index, entry, budget, count,
// entries, the packet's r0 and fault.
export const B_I = 32, B_E = 33, B_B0 = 34, B_N = 35, B_W = 36; // i32
export const B_RES = 37; // i64
export const B_FLT = 38; // i32
export const B_S = 39; // i32: stop at the first fault (VM_BATCH_STOP)
export const B_C = 40; // i32: chain the runs' packets (VM_BATCH_CHAIN)
export const B_EXEC = 41; // i64: instructions the batch's runs executed (added to the record's count at the end)
export const B_K = 42; // i32: skip the entries an earlier program finished (VM_BATCH_SKIP)
// The root program's part of the record (VM_PROG, VM_SLOTS, VM_NPROG_REGIONS, VM_PROG_REGIONS,
// VM_NMAPS, VM_MAPS), put back after a packet's run went on in a tail call's target.
export const B_SAVE = 43; // i32 (B_SAVE..B_SAVE + 5)
// A loop function's own (after a subprogram's locals): nr, ctx, i, and the caller's r6..r9.
export const L_NR = 32, L_CTX = 33, L_I = 34, L_R6 = 35; // i64 (L_R6..L_R6 + 3)
export const N_I64_LOCALS = 3; // EA, TMP, SPARE
export const N_I32_LOCALS = 3; // ADDR, LABEL, CODE

// Function indices: imports first.
export const F_HELPER = 0;
export const F_CHECK = 1;
export const F_LOOKUP = 2;
export const F_UPDATE = 3;
export const F_DELETE = 4;
export const F_SHORT = 5;
export const F_TAIL = 6;
export const F_FAULT = 7;
export const F_LDABS = 8;
export const F_BSWAP16 = 9;
export const F_BSWAP32 = 10;
export const F_BSWAP64 = 11;
export const F_RUN = 12;
export const F_SUB0 = 13;

// Types.
export const T_HELPER = 0; // (i32 rec, i32 id, i32 depth, i32 pc) -> i32
export const T_CHECK = 1; // (i32 rec, i64 ea, i32 size, i32 write) -> i32
export const T_FAULT = 2; // (i32 rec, i32 code, i32 pc) -> ()
export const T_LDABS = 3; // (i32 rec, i64 off, i32 size) -> i64
export const T_UNARY64 = 4; // (i64) -> i64
export const T_RUN = 5; // (i32) -> i32
export const T_SUB = 6; // (i32, i32, i64 x 11) -> (i64 x 7)
export const T_BATCH = 7; // (i32 rec, i32 entries, i32 n) -> i32; also the map lookup's and delete's (i32 map, i32 key, i32 cpu) -> i32
export const T_UPDATE = 8; // (i32 map, i32 key, i32 value, i64 flags, i32 cpu, i32 all) -> i32
export const T_TAIL = 9; // (i32 rec, i32 prog) -> i32
/**
 * A verified program's subprogram other than pc 0 (Gen.slim): (i32 rec, i32 depth, i64 r10,
 * i64 r1..r5) -> i64 r0. The verifier has the callee read no r0 or r6..r9 before writing
 * them and the caller no r1..r5 after the call before writing them, and r10 is never
 * written: only the arguments go in (r10 in r0's parameter, moved on entry) and r0 comes back.
 */
export const T_SLIM = 10;

export const ALU64: Partial<Record<number, number>> = { 0: Op.i64_add, 1: Op.i64_sub, 2: Op.i64_mul, 4: Op.i64_or, 5: Op.i64_and, 6: Op.i64_shl, 7: Op.i64_shr_u, 10: Op.i64_xor, 12: Op.i64_shr_s };
export const ALU32: Partial<Record<number, number>> = { 0: Op.i32_add, 1: Op.i32_sub, 2: Op.i32_mul, 4: Op.i32_or, 5: Op.i32_and, 6: Op.i32_shl, 7: Op.i32_shr_u, 10: Op.i32_xor, 12: Op.i32_shr_s };
export const CMP64: Partial<Record<number, number>> = { 1: Op.i64_eq, 2: Op.i64_gt_u, 3: Op.i64_ge_u, 5: Op.i64_ne, 6: Op.i64_gt_s, 7: Op.i64_ge_s, 10: Op.i64_lt_u, 11: Op.i64_le_u, 12: Op.i64_lt_s, 13: Op.i64_le_s };
export const CMP32: Partial<Record<number, number>> = { 1: Op.i32_eq, 2: Op.i32_gt_u, 3: Op.i32_ge_u, 5: Op.i32_ne, 6: Op.i32_gt_s, 7: Op.i32_ge_s, 10: Op.i32_lt_u, 11: Op.i32_le_u, 12: Op.i32_lt_s, 13: Op.i32_le_s };

/**
 * The dispatcher's numbers (kfuncs at VM_KFUNC_BASE + id) of the helpers calls hand just
 * r1..r5 to (helpers.ts PLAIN_HELPERS; bpf_cast_to_kern_ctx is one too); every other
 * helper gets the whole register file and fresh packet bounds.
 */
export const PLAIN = new Set([...PLAIN_HELPERS, A.VM_KFUNC_BASE + A.KFUNC_CAST_TO_KERN_CTX]);

/** The context the batch loop hands its program, by kind. */
export const BATCH_CTX: Record<'skb' | 'xdp', BatchContext> = {
  skb: { size: A.SKB_CTX_SIZE, writable: true, writableEnd: A.SKB_DATA, data: A.SKB_DATA, dataEnd: A.SKB_DATA_END },
  xdp: { size: 24, writable: false, writableEnd: 0, data: 0, dataEnd: 4 },
};

// Globals.
export const G_FAULT = 0;
export const G_BUDGET = 1;
// batch(rec, entries, n) hands its arguments to the batch loop through these.
export const G_WORK = 2;
export const G_N = 3;
