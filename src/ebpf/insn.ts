/**
 * eBPF instruction encoding (spec/ebpf.md §1.1): 8 bytes little-endian,
 * `opcode | dst:4 src:4 | off:s16 | imm:s32`; `lddw` takes two slots.
 * Programs travel as raw bytes (`Uint8Array`, a multiple of 8); this module decodes and
 * encodes single slots and names the opcode fields. Shared by the assembler, the ELF
 * loader, the load-time checks and the code generator.
 */

/** Instruction classes (low 3 bits of the opcode). */
export const enum Cls { LD = 0, LDX = 1, ST = 2, STX = 3, ALU = 4, JMP = 5, JMP32 = 6, ALU64 = 7 }

/** ALU operation codes (high 4 bits). */
export const enum Alu { ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50, LSH = 0x60, RSH = 0x70, NEG = 0x80, MOD = 0x90, XOR = 0xa0, MOV = 0xb0, ARSH = 0xc0, END = 0xd0 }

/** Jump operation codes (high 4 bits). */
export const enum Jmp { JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40, JNE = 0x50, JSGT = 0x60, JSGE = 0x70, CALL = 0x80, EXIT = 0x90, JLT = 0xa0, JLE = 0xb0, JSLT = 0xc0, JSLE = 0xd0, MAY_GOTO = 0xe0 }

/** Source bit for ALU/JMP: K = imm, X = src register. */
export const SRC_X = 0x08;

/** Load/store size field. */
export const enum Size { W = 0x00, H = 0x08, B = 0x10, DW = 0x18 }

/** Load/store mode field. */
export const enum Mode { IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, MEMSX = 0x80, ATOMIC = 0xc0 }

/** Atomic operations (imm of STX ATOMIC); FETCH may be or-ed into ADD/OR/AND/XOR. */
export const enum Atomic { ADD = 0x00, OR = 0x40, AND = 0x50, XOR = 0xa0, FETCH = 0x01, XCHG = 0xe1, CMPXCHG = 0xf1, LOAD_ACQ = 0x100, STORE_REL = 0x110 }

/** `lddw` pseudo sources (src_reg of opcode 0x18). */
export const enum Pseudo { IMM = 0, MAP_FD = 1, MAP_VALUE = 2, BTF_ID = 3, FUNC = 4, MAP_IDX = 5, MAP_IDX_VALUE = 6 }

/** `call` src_reg: helper id, bpf-to-bpf (pc-relative), kfunc. */
export const enum CallKind { HELPER = 0, LOCAL = 1, KFUNC = 2 }

export const LDDW = 0x18;
export const INSN_SIZE = 8;

export interface Insn {
  /** Full opcode byte. */
  code: number;
  dst: number;
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
}

export const cls = (code: number): Cls => (code & 7) as Cls;
export const size = (code: number): Size => (code & 0x18) as Size;
export const mode = (code: number): Mode => (code & 0xe0) as Mode;
export const op = (code: number): number => code & 0xf0;
export const bytesOf = (s: Size): number => (s === Size.W ? 4 : s === Size.H ? 2 : s === Size.B ? 1 : 8);

/** Number of 8-byte slots in a program image. */
export function slots(prog: Uint8Array): number {
  return prog.length >>> 3;
}

/** Decodes slot `pc` of a program image. */
export function decode(prog: Uint8Array, pc: number): Insn {
  const at = pc * 8;
  const b1 = prog[at + 1]!;
  return {
    code: prog[at]!,
    dst: b1 & 0xf,
    src: b1 >>> 4,
    off: ((prog[at + 2]! | (prog[at + 3]! << 8)) << 16) >> 16,
    imm: prog[at + 4]! | (prog[at + 5]! << 8) | (prog[at + 6]! << 16) | (prog[at + 7]! << 24),
  };
}

/** Writes one slot at `pc`. */
export function encodeInto(prog: Uint8Array, pc: number, i: Insn): void {
  const at = pc * 8;
  prog[at] = i.code & 0xff;
  prog[at + 1] = (i.dst & 0xf) | ((i.src & 0xf) << 4);
  prog[at + 2] = i.off & 0xff;
  prog[at + 3] = (i.off >> 8) & 0xff;
  prog[at + 4] = i.imm & 0xff;
  prog[at + 5] = (i.imm >> 8) & 0xff;
  prog[at + 6] = (i.imm >> 16) & 0xff;
  prog[at + 7] = (i.imm >>> 24) & 0xff;
}

/** Encodes a list of slots into a program image. */
export function encode(insns: readonly Insn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  insns.forEach((i, pc) => encodeInto(out, pc, i));
  return out;
}

/** The 64-bit immediate of the `lddw` at `pc` (low word at pc, high word at pc+1). */
export function lddwImm(prog: Uint8Array, pc: number): bigint {
  const lo = BigInt(decode(prog, pc).imm >>> 0);
  const hi = BigInt(decode(prog, pc + 1).imm >>> 0);
  return (hi << 32n) | lo;
}
