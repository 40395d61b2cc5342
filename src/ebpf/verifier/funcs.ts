/** Pass 2: functions (bpf-to-bpf call and callback targets), jumps inside them, reachability. */

import { CallKind, Cls, Jmp, LDDW, Pseudo, cls, decode, op, type Insn } from '../insn.js';
import { fail } from './base.js';
import { isJmp } from './slots.js';

// ---------------------------------------------------------------------------------------
// Pass 2: functions and jump targets.

/** Jump target of a jump at `pc`, or undefined for call/exit/non-jumps. */
export function jumpTarget(i: Insn, pc: number): number | undefined {
  const c = cls(i.code);
  if (!isJmp(c)) return undefined;
  const o = op(i.code);
  if (o === Jmp.CALL || o === Jmp.EXIT) return undefined;
  if (o === Jmp.JA && c === Cls.JMP32) return pc + i.imm + 1;
  return pc + i.off + 1;
}

export const isCallLocal = (i: Insn): boolean => i.code === (Cls.JMP | Jmp.CALL) && i.src === CallKind.LOCAL;

export function findFuncs(prog: Uint8Array, n: number, second: Uint8Array, extra: readonly number[]): number[] {
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

export function checkSubprogs(prog: Uint8Array, n: number, second: Uint8Array, funcs: readonly number[]): void {
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
export function checkReachable(prog: Uint8Array, n: number, second: Uint8Array, funcs: readonly number[]): void {
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
