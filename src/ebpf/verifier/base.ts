/** The verifier's limits, options, results and its error (VerifierError, fail). */

import { NetError, type Errno } from '../../errors.js';
import type { ProgType } from '../ctx.js';

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
  /** The program's expected attach type where it changes the checks: `xdp_devmap` may read `xdp_md.egress_ifindex`. */
  expectedAttachType?: string;
  /** Instruction limit (slots and processed instructions). Default 1,000,000 (privileged). */
  maxInsns?: number;
  /** Extra function start pcs (e.g. callbacks known from ELF symbols); calls and `lddw` func refs are found anyway. */
  subprogs?: readonly number[];
  /** The object's maps by index (`lddw` map references): value sizes bound map value accesses; an array's lookup with a constant key is never NULL. */
  maps?: readonly {
    kind: 'array' | 'of_maps' | 'other'; keySize: number; valueSize: number; maxEntries: number;
    /** BPF_MAP_TYPE_*: which helpers may take it. */ type?: number;
    /** Read-only for programs (BPF_F_RDONLY_PROG, `.rodata`): the kernel may know what its values hold. */ rdonly?: boolean;
  }[];
  /** License is GPL-compatible (GPL-only helpers allowed). Default true. */
  gplCompatible?: boolean;
  /**
   * Walk the program's loops as the kernel does (verifier/loops.ts). Default true; false
   * when only the dataflow's facts are wanted (ctxUse), as the walk only refuses.
   */
  loops?: boolean;
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
  /**
   * Per pc: 1 where the checks proved the memory access inside the context, the packet's
   * checked range, a map value (reads) or the stack, at a constant offset, on every path
   * (the code generator then emits it without a run-time check, as the kernel's JIT does);
   * at a helper call, the map key and value its arguments point to.
   */
  provenAccesses: Uint8Array;
}

/** A refused program: errno, the instruction index and the kernel verifier's log line. */
export class VerifierError extends NetError {
  /** Instruction index the kernel names (or -1 for whole-program rules). */
  readonly pc: number;
  /** The verifier log line, as the kernel prints it. */
  declare readonly log: string;
  /**
   * For refusals found by the dataflow: the verifier log in the kernel's shape, the block
   * that leads to the refused instruction (`N: (op) insn ; R… state`), then `log` and the
   * instruction count (`processed N insns`). Register states are nkemu's view of them.
   */
  verifierLog?: string;

  constructor(errno: Errno, pc: number, log: string) {
    super(errno, log, log);
    this.name = 'VerifierError';
    this.pc = pc;
    this.message = pc >= 0 ? `${pc}: ${log}` : log;
  }
}

export function fail(errno: Errno, pc: number, log: string): never {
  throw new VerifierError(errno, pc, log);
}
