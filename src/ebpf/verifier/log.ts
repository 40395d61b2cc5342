/** The kernel's log shapes: an instruction as the verifier prints it, a register state. */

import { helperName } from '../helpers.js';
import { Alu, CallKind, Cls, Jmp, LDDW, Mode, Pseudo, SRC_X, cls, decode, mode, op, size } from '../insn.js';
import { hex2, isAlu, isJmp } from './slots.js';
import { K, KIND_NAME, type State } from './state.js';
import { scalarStr } from './scalar.js';

// ---------------------------------------------------------------------------------------
// The log, in the kernel's shape (print_bpf_insn, print_verifier_state).

export const SZ = ['u32', 'u16', 'u8', 'u64'];
export const ALU_OP: Record<number, string> = {
  [Alu.ADD]: '+=', [Alu.SUB]: '-=', [Alu.MUL]: '*=', [Alu.DIV]: '/=', [Alu.OR]: '|=', [Alu.AND]: '&=', [Alu.LSH]: '<<=',
  [Alu.RSH]: '>>=', [Alu.MOD]: '%=', [Alu.XOR]: '^=', [Alu.MOV]: '=', [Alu.ARSH]: 's>>=',
};
export const JMP_OP: Record<number, string> = {
  [Jmp.JEQ]: '==', [Jmp.JGT]: '>', [Jmp.JGE]: '>=', [Jmp.JSET]: '&', [Jmp.JNE]: '!=', [Jmp.JSGT]: 's>', [Jmp.JSGE]: 's>=',
  [Jmp.JLT]: '<', [Jmp.JLE]: '<=', [Jmp.JSLT]: 's<', [Jmp.JSLE]: 's<=',
};
export const offStr = (off: number): string => (off >= 0 ? `+${off}` : `${off}`);

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
export function kernelState(s: State): string {
  const out: string[] = [];
  for (let r = 0; r <= 10; r++) {
    const k = s.k[r]!;
    if (k === K.UNINIT) continue;
    const o = s.o[r]!;
    let t: string;
    // (a pointer's variable offset as the kernel prints it after its other fields)
    const vo = k !== K.SCALAR && s.v[r] ? `,${scalarStr(s.v[r]!).replace(/^scalar\((.*)\)$/, '$1').replace(/^-?(0x)?[0-9a-f]+$/, (c) => `var=${c}`)}` : '';
    switch (k) {
      case K.SCALAR: t = scalarStr(s.v[r]!); break;
      case K.CTX: t = o || vo ? `ctx(${o ? `off=${o}` : ''}${o ? vo : vo.slice(1)})` : 'ctx()'; break;
      case K.FP: t = vo ? `fp(off=${o}${vo})` : `fp${o}`; break;
      case K.PKT: case K.PKT_META: t = `${KIND_NAME[k]}(${s.id[r] ? `id=${s.id[r]},` : ''}${o ? `off=${o},` : ''}r=${s.r[r]}${vo})`; break;
      case K.MAP_VALUE: t = `map_value(${o ? `off=${o},` : ''}vs=${s.r[r]}${vo})`; break;
      case K.MAP_OR_NULL: t = `map_value_or_null(id=${o},vs=${s.r[r]})`; break;
      case K.MAP_PTR: t = `map_ptr(idx=${o})`; break;
      case K.PKT_END: t = 'pkt_end()'; break;
      default: t = 'untracked';
    }
    out.push(`R${r}=${t}`);
  }
  return out.join(' ');
}
