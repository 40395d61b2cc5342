/** Pass 1: each slot on its own (register numbers, known opcodes, lddw shape, reserved fields). */

import { Alu, Atomic, CallKind, Cls, Jmp, LDDW, Mode, Pseudo, SRC_X, Size, cls, decode, mode, op, size, type Insn } from '../insn.js';
import { type VerifyOptions, fail } from './base.js';

// ---------------------------------------------------------------------------------------
// Pass 1: every slot on its own.

/** Every valid first byte (spec §1.12 opcode map; kernel bpf_opcode_in_insntable). */
export const OPCODES: ReadonlySet<number> = new Set([
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

export const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
export const isAlu = (c: Cls): boolean => c === Cls.ALU || c === Cls.ALU64;
export const isJmp = (c: Cls): boolean => c === Cls.JMP || c === Cls.JMP32;

export const ATOMIC_RMW: ReadonlySet<number> = new Set([
  Atomic.ADD, Atomic.OR, Atomic.AND, Atomic.XOR,
  Atomic.ADD | Atomic.FETCH, Atomic.OR | Atomic.FETCH, Atomic.AND | Atomic.FETCH, Atomic.XOR | Atomic.FETCH,
  Atomic.XCHG, Atomic.CMPXCHG,
]);

/** check_alu_fields: reserved fields of ALU/ALU64 (EINVAL). */
export function checkAluFields(pc: number, i: Insn, typed: boolean): void {
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
export function checkJmpFields(pc: number, i: Insn): void {
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
export function checkMemFields(pc: number, i: Insn): void {
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
export function checkSlots(prog: Uint8Array, n: number, o: VerifyOptions): Uint8Array {
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
