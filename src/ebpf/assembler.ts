/**
 * Assembler and disassembler for the uBPF text syntax used by the bpf_conformance
 * suite (`mov32 %r0, 0`, `ldxw %r0, [%r1+4]`, `jeq %r1, 0x10, +2`, `lddw %r0, 0x1122…`,
 * `lock fetch add32 [%r10-4], %r1`, `call local f`, labels `name:`), so conformance
 * files run as they are and small policies can be written without clang.
 */

import { type Insn, decode, encode } from './insn.js';

export class AsmError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'AsmError';
    this.line = line;
  }
}

const ALU: Record<string, number> = {
  add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70,
  neg: 0x80, mod: 0x90, xor: 0xa0, mov: 0xb0, arsh: 0xc0, sdiv: 0x30, smod: 0x90,
};
const JMP: Record<string, number> = {
  jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70,
  jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
};
const SIZE: Record<string, number> = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 };
const ATOMIC: Record<string, number> = { add: 0x00, or: 0x40, and: 0x50, xor: 0xa0, xchg: 0xe1, cmpxchg: 0xf1 };

interface Pending { insn: Insn; label?: string; labelField?: 'off' | 'imm'; line: number }

function parseReg(s: string, line: number): number {
  const m = /^%?r(\d+)$/.exec(s.trim());
  if (!m || Number(m[1]) > 10) throw new AsmError(line, `Invalid register '${s.trim()}'`);
  return Number(m[1]);
}

/** An integer literal: decimal in [-2^31, 2^31-1] or hex up to 0xffffffff (as its two's complement). */
function parseImm(s: string, line: number, wide = false): bigint {
  const t = s.trim();
  const m = /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(t);
  if (!m) throw new AsmError(line, `Invalid immediate '${t}'`);
  const neg = m[1] === '-';
  const hex = m[2]!.toLowerCase().startsWith('0x');
  let v = BigInt(m[2]!);
  if (neg) v = -v;
  if (wide) {
    if (v < -(1n << 63n) || v >= 1n << 64n) throw new AsmError(line, `Immediate out of range '${t}'`);
    return BigInt.asUintN(64, v);
  }
  const ok = hex ? v >= -(1n << 31n) && v <= 0xffffffffn : v >= -(1n << 31n) && v < 1n << 31n;
  if (!ok) throw new AsmError(line, `Immediate out of range '${t}'`);
  return v;
}

function imm32(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

function parseOffset(s: string, line: number): number {
  const v = parseImm(s, line);
  if (v < -32768n || v > 32767n) throw new AsmError(line, `Offset out of range '${s.trim()}'`);
  return Number(v);
}

/** `[%rN+off]` / `[%rN-off]` / `[%rN]`. */
function parseMem(s: string, line: number): { reg: number; off: number } {
  const m = /^\[\s*(%?r\d+)\s*(?:([+-])\s*(0x[0-9a-f]+|\d+))?\s*\]$/i.exec(s.trim());
  if (!m) throw new AsmError(line, `Invalid memory operand '${s.trim()}'`);
  const off = m[3] === undefined ? 0 : parseOffset(`${m[2]}${m[3]}`, line);
  return { reg: parseReg(m[1]!, line), off };
}

function operands(rest: string): string[] {
  const t = rest.trim();
  return t === '' ? [] : t.split(',').map((x) => x.trim());
}

function want(ops: string[], n: number, mnemonic: string, line: number): void {
  if (ops.length !== n) throw new AsmError(line, `Invalid number of operands for ${mnemonic}`);
}

/** Assembles a program; labels resolve to pc-relative offsets. */
export function assemble(text: string): Uint8Array {
  const out: Pending[] = [];
  const labels = new Map<string, number>();
  let pc = 0;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const src = raw.replace(/#.*$/, '').trim();
    if (src === '') return;
    if (src.startsWith('--')) throw new AsmError(line, `Unknown directive '${src}'`);
    const lab = /^([A-Za-z_.][\w.]*):$/.exec(src);
    if (lab) {
      if (labels.has(lab[1]!)) throw new AsmError(line, `Duplicate label '${lab[1]}'`);
      labels.set(lab[1]!, pc);
      return;
    }
    const sp = src.search(/\s/);
    let mn = (sp < 0 ? src : src.slice(0, sp)).toLowerCase();
    let rest = sp < 0 ? '' : src.slice(sp + 1);
    const emit = (insn: Partial<Insn> & { code: number }, extra: Omit<Pending, 'insn' | 'line'> = {}): void => {
      out.push({ insn: { dst: 0, src: 0, off: 0, imm: 0, ...insn }, line, ...extra });
      pc++;
    };

    if (mn === 'lock') {
      const m = /^(fetch\s+)?([a-z]+?)(32)?\s+(.*)$/i.exec(rest.trim());
      if (!m) throw new AsmError(line, 'Invalid number of operands for lock');
      const ops = operands(m[4]!);
      want(ops, 2, 'lock', line);
      const opName = m[2]!.toLowerCase();
      let op = ATOMIC[opName];
      if (op === undefined) throw new AsmError(line, `Invalid atomic operation '${opName}'`);
      if (m[1] && op !== 0xe1 && op !== 0xf1) op |= 1;
      const mem = parseMem(ops[0]!, line);
      emit({ code: m[3] ? 0xc3 : 0xdb, dst: mem.reg, off: mem.off, src: parseReg(ops[1]!, line), imm: op });
      return;
    }

    const ops = operands(rest);
    if (mn === 'exit') {
      want(ops, 0, mn, line);
      emit({ code: 0x95 });
      return;
    }
    if (mn === 'call') {
      const m = /^local\s+(\S+)$/.exec(rest.trim());
      if (m && /^[+-]?(0x[0-9a-f]+|\d+)$/i.test(m[1]!)) { emit({ code: 0x85, src: 1, imm: imm32(parseImm(m[1]!, line)) }); return; }
      if (m) { emit({ code: 0x85, src: 1 }, { label: m[1], labelField: 'imm' }); return; }
      want(ops, 1, mn, line);
      if (/^%?r\d+$/.test(ops[0]!)) { emit({ code: 0x8d, dst: parseReg(ops[0]!, line) }); return; }
      emit({ code: 0x85, imm: imm32(parseImm(ops[0]!, line)) });
      return;
    }
    if (mn === 'lddw') {
      want(ops, 2, mn, line);
      const v = parseImm(ops[1]!, line, true);
      out.push({ insn: { code: 0x18, dst: parseReg(ops[0]!, line), src: 0, off: 0, imm: Number(BigInt.asIntN(32, v & 0xffffffffn)) }, line });
      out.push({ insn: { code: 0, dst: 0, src: 0, off: 0, imm: Number(BigInt.asIntN(32, v >> 32n)) }, line });
      pc += 2;
      return;
    }
    if (mn === 'ja' || mn === 'ja32') {
      want(ops, 1, mn, line);
      const field = mn === 'ja' ? 'off' : 'imm';
      const code = mn === 'ja' ? 0x05 : 0x06;
      if (/^[+-]?(0x[0-9a-f]+|\d+)$/i.test(ops[0]!)) emit({ code, [field]: field === 'off' ? parseOffset(ops[0]!, line) : imm32(parseImm(ops[0]!, line)) });
      else emit({ code }, { label: ops[0], labelField: field });
      return;
    }
    const jm = /^(j[a-z]+?)(32)?$/.exec(mn);
    if (jm && JMP[jm[1]!] !== undefined) {
      want(ops, 3, mn, line);
      const cls = jm[2] ? 0x06 : 0x05;
      const dst = parseReg(ops[0]!, line);
      const isReg = /^%?r\d+$/.test(ops[1]!);
      const insn = isReg ? { code: cls | JMP[jm[1]!]! | 0x08, dst, src: parseReg(ops[1]!, line) } : { code: cls | JMP[jm[1]!]!, dst, imm: imm32(parseImm(ops[1]!, line)) };
      if (/^[+-]?(0x[0-9a-f]+|\d+)$/i.test(ops[2]!)) emit({ ...insn, off: parseOffset(ops[2]!, line) });
      else emit(insn, { label: ops[2], labelField: 'off' });
      return;
    }
    const bs = /^(be|le|bswap|swap)(16|32|64)$/.exec(mn);
    if (bs) {
      want(ops, 1, mn, line);
      const code = bs[1] === 'be' ? 0xdc : bs[1] === 'le' ? 0xd4 : 0xd7;
      emit({ code, dst: parseReg(ops[0]!, line), imm: Number(bs[2]) });
      return;
    }
    const ms = /^movsx(8|16|32)(32|64)$/.exec(mn);
    if (ms) {
      want(ops, 2, mn, line);
      emit({ code: ms[2] === '64' ? 0xbf : 0xbc, dst: parseReg(ops[0]!, line), src: parseReg(ops[1]!, line), off: Number(ms[1]) });
      return;
    }
    const ldx = /^ldx(s?)(b|h|w|dw)$/.exec(mn);
    if (ldx) {
      want(ops, 2, mn, line);
      const mem = parseMem(ops[1]!, line);
      if (ldx[1] && ldx[2] === 'dw') throw new AsmError(line, `Invalid mnemonic '${mn}'`);
      emit({ code: (ldx[1] ? 0x80 : 0x60) | SIZE[ldx[2]!]! | 0x01, dst: parseReg(ops[0]!, line), src: mem.reg, off: mem.off });
      return;
    }
    const st = /^st(x?)(b|h|w|dw)$/.exec(mn);
    if (st) {
      want(ops, 2, mn, line);
      const mem = parseMem(ops[0]!, line);
      if (st[1]) emit({ code: 0x60 | SIZE[st[2]!]! | 0x03, dst: mem.reg, off: mem.off, src: parseReg(ops[1]!, line) });
      else emit({ code: 0x60 | SIZE[st[2]!]! | 0x02, dst: mem.reg, off: mem.off, imm: imm32(parseImm(ops[1]!, line)) });
      return;
    }
    const ldabs = /^ld(abs|ind)(b|h|w)$/.exec(mn);
    if (ldabs) {
      const abs = ldabs[1] === 'abs';
      want(ops, abs ? 1 : 2, mn, line);
      emit({ code: (abs ? 0x20 : 0x40) | SIZE[ldabs[2]!]!, src: abs ? 0 : parseReg(ops[0]!, line), imm: imm32(parseImm(ops[abs ? 0 : 1]!, line)) });
      return;
    }
    let cls = 0x07;
    if (mn.endsWith('32')) { cls = 0x04; mn = mn.slice(0, -2); }
    else if (mn.endsWith('64')) mn = mn.slice(0, -2);
    const op = ALU[mn];
    if (op === undefined) throw new AsmError(line, `Invalid mnemonic '${src.split(/\s/)[0]}'`);
    const signed = mn === 'sdiv' || mn === 'smod';
    if (mn === 'neg') {
      want(ops, 1, mn, line);
      emit({ code: cls | op, dst: parseReg(ops[0]!, line) });
      return;
    }
    want(ops, 2, mn, line);
    const dst = parseReg(ops[0]!, line);
    if (/^%?r\d+$/.test(ops[1]!)) emit({ code: cls | op | 0x08, dst, src: parseReg(ops[1]!, line), off: signed ? 1 : 0 });
    else emit({ code: cls | op, dst, imm: imm32(parseImm(ops[1]!, line)), off: signed ? 1 : 0 });
  });
  if (out.length === 0) throw new AsmError(0, 'Empty program');
  // Resolve labels: the target minus the next instruction's pc.
  let at = 0;
  const insns: Insn[] = [];
  for (const p of out) {
    if (p.label !== undefined) {
      // `exit` as a target, without a label of that name, is the program's last instruction.
      const target = labels.get(p.label) ?? (p.label === 'exit' ? out.length - 1 : undefined);
      if (target === undefined) throw new AsmError(p.line, `Invalid label '${p.label}'`);
      const rel = target - (at + 1);
      if (p.labelField === 'off' && (rel < -32768 || rel > 32767)) throw new AsmError(p.line, `Jump to '${p.label}' out of range`);
      p.insn[p.labelField!] = rel;
    }
    insns.push(p.insn);
    at++;
  }
  return encode(insns);
}

const ALU_NAME = Object.fromEntries(Object.entries(ALU).filter(([k]) => k !== 'sdiv' && k !== 'smod').map(([k, v]) => [v, k]));
const JMP_NAME = Object.fromEntries(Object.entries(JMP).map(([k, v]) => [v, k]));
const SIZE_NAME: Record<number, string> = { 0x00: 'w', 0x08: 'h', 0x10: 'b', 0x18: 'dw' };
const ATOMIC_NAME: Record<number, string> = { 0x00: 'add', 0x40: 'or', 0x50: 'and', 0xa0: 'xor' };

// Negative immediates in decimal: what bpf_conformance's assembler (and ours) reads.
const hex = (v: number): string => (v < 0 ? `${v}` : `0x${v.toString(16)}`);
const mem = (r: number, off: number): string => `[%r${r}${off === 0 ? '' : off > 0 ? `+${off}` : off}]`;
const rel = (off: number): string => (off >= 0 ? `+${off}` : `${off}`);

/** One line per instruction (a `lddw` is one line for its two slots). */
export function disassemble(prog: Uint8Array): string[] {
  const lines: string[] = [];
  const n = prog.length >> 3;
  for (let pc = 0; pc < n; pc++) {
    const i = decode(prog, pc);
    const c = i.code;
    const cls = c & 7;
    const x = (c & 8) !== 0;
    const opnd = x ? `%r${i.src}` : hex(i.imm);
    if (c === 0x18 && pc + 1 < n) {
      const v = (BigInt(decode(prog, pc + 1).imm >>> 0) << 32n) | BigInt(i.imm >>> 0);
      lines.push(`lddw %r${i.dst}, 0x${v.toString(16)}`);
      pc++;
    } else if (cls === 7 || cls === 4) {
      const sfx = cls === 4 ? '32' : '';
      const op = c & 0xf0;
      if (op === 0xd0) lines.push(`${cls === 7 ? 'bswap' : x ? 'be' : 'le'}${i.imm} %r${i.dst}`);
      else if (op === 0x80) lines.push(`neg${sfx} %r${i.dst}`);
      else if (op === 0xb0 && x && i.off) lines.push(`movsx${i.off}${cls === 7 ? '64' : '32'} %r${i.dst}, %r${i.src}`);
      else lines.push(`${i.off === 1 && (op === 0x30 || op === 0x90) ? (op === 0x30 ? 'sdiv' : 'smod') : ALU_NAME[op] ?? `alu${hex(op)}`}${sfx} %r${i.dst}, ${opnd}`);
    } else if (cls === 5 || cls === 6) {
      const op = c & 0xf0;
      if (c === 0x05) lines.push(`ja ${rel(i.off)}`);
      else if (c === 0x06) lines.push(`ja32 ${rel(i.imm)}`);
      else if (c === 0x85) lines.push(i.src === 1 ? `call local ${rel(i.imm)}` : `call ${i.imm}`);
      else if (c === 0x8d) lines.push(`call %r${i.dst}`);
      else if (c === 0x95) lines.push('exit');
      else lines.push(`${JMP_NAME[op] ?? `jmp${hex(op)}`}${cls === 6 ? '32' : ''} %r${i.dst}, ${opnd}, ${rel(i.off)}`);
    } else if (cls === 1) {
      lines.push(`ldx${(c & 0xe0) === 0x80 ? 's' : ''}${SIZE_NAME[c & 0x18]} %r${i.dst}, ${mem(i.src, i.off)}`);
    } else if (cls === 2) {
      lines.push(`st${SIZE_NAME[c & 0x18]} ${mem(i.dst, i.off)}, ${hex(i.imm)}`);
    } else if (cls === 3 && (c & 0xe0) === 0xc0) {
      const name = i.imm === 0xe1 ? 'xchg' : i.imm === 0xf1 ? 'cmpxchg' : `${i.imm & 1 ? 'fetch ' : ''}${ATOMIC_NAME[i.imm & ~1] ?? hex(i.imm)}`;
      lines.push(`lock ${name}${c === 0xc3 ? '32' : ''} ${mem(i.dst, i.off)}, %r${i.src}`);
    } else if (cls === 3) {
      lines.push(`stx${SIZE_NAME[c & 0x18]} ${mem(i.dst, i.off)}, %r${i.src}`);
    } else if (cls === 0 && (c & 0xe0) === 0x20) {
      lines.push(`ldabs${SIZE_NAME[c & 0x18]} ${hex(i.imm)}`);
    } else if (cls === 0 && (c & 0xe0) === 0x40) {
      lines.push(`ldind${SIZE_NAME[c & 0x18]} %r${i.src}, ${hex(i.imm)}`);
    } else {
      lines.push(`.insn ${hex(c)}`);
    }
  }
  return lines;
}
