/**
 * The kernel's rewrite of a verified program's context accesses (verifier.c
 * convert_ctx_accesses with net/core/filter.c bpf_convert_ctx_access), where nkemu's
 * plain-memory __sk_buff would otherwise answer differently. The dataplane keeps every
 * __sk_buff field as its uapi u32, zero-extended; the kernel reads and writes the
 * sk_buff's own, narrower fields (`width` in ctx.ts):
 *
 * - a narrow load at least as wide as the kernel's field reads the whole value, wherever
 *   inside the u32 it is (no shift, no mask: `size >= target_size`): it becomes a load of
 *   the same size at the field's start (`*(u16 *)(skb + 18)` of protocol is protocol);
 *   narrower ones shift and mask, which a load of those bytes of the u32 already is;
 * - a store to tc_index or tc_classid keeps 16 bits: a 2-byte store;
 * - a store to queue_mapping keeps 16 bits, and none at all of a value of 0xffff
 *   (NO_QUEUE_MAPPING) or more: a store of an immediate becomes a 2-byte store or `ja +0`,
 *   a store of a register `if rS >= 0xffff goto +1` and a 2-byte store.
 *
 * The last one adds an instruction; jumps, bpf-to-bpf calls and callback references across
 * it are moved as the kernel's bpf_patch_insn_data moves them. The image the dataplane
 * runs is the converted one (the kernel's "xlated" program); the tag stays the original's.
 */

import { ctxLayout, type ProgType } from './ctx.js';
import { CallKind, Cls, Jmp, LDDW, Pseudo, Size, cls, decode, encodeInto, op, slots, type Insn } from './insn.js';
import type { CtxAccess } from './verifier/base.js';

/** NO_QUEUE_MAPPING: a queue_mapping store of this or more is dropped. */
const NO_QUEUE_MAPPING = 0xffff;

const halfword = (i: Insn): Insn => ({ ...i, code: (i.code & ~0x18) | Size.H });

/**
 * `insns` with the verified context accesses `accesses` converted as the kernel converts
 * them for a program of `type`; `insns` itself when nothing changes.
 */
export function convertCtxAccesses(insns: Uint8Array, type: ProgType, accesses: readonly CtxAccess[]): Uint8Array {
  const layout = ctxLayout(type);
  if (layout?.struct !== '__sk_buff') return insns;
  const patches = new Map<number, Insn[]>();
  for (const a of accesses) {
    const f = layout.fields.find((x) => x.name === a.field);
    if (f?.width === undefined) continue;
    const i = decode(insns, a.pc);
    if (!a.write) {
      if (a.size < f.size && a.size >= f.width && a.off !== f.off) patches.set(a.pc, [{ ...i, off: i.off - (a.off - f.off) }]);
      continue;
    }
    if (f.name !== 'queue_mapping') {
      patches.set(a.pc, [halfword(i)]);
    } else if (cls(i.code) === Cls.ST) {
      patches.set(a.pc, [i.imm >= NO_QUEUE_MAPPING ? { code: Cls.JMP | Jmp.JA, dst: 0, src: 0, off: 0, imm: 0 } : halfword(i)]);
    } else {
      patches.set(a.pc, [{ code: Cls.JMP | Jmp.JGE, dst: i.src, src: 0, off: 1, imm: NO_QUEUE_MAPPING }, halfword(i)]);
    }
  }
  return patches.size === 0 ? insns : patchInsns(insns, patches) ?? insns;
}

/**
 * `insns` with slot `pc` replaced by `patches.get(pc)` (one or more slots); the pc-relative
 * references of the other instructions (jump offsets, `gotol`'s immediate, bpf-to-bpf
 * calls, `lddw` of a function) follow the slots they name. A jump to a replaced slot lands
 * on the first slot of its replacement. Undefined when a jump no longer reaches (an offset
 * past 16 bits: the kernel's -ERANGE).
 */
export function patchInsns(insns: Uint8Array, patches: ReadonlyMap<number, readonly Insn[]>): Uint8Array | undefined {
  const n = slots(insns);
  const at = new Int32Array(n + 1);
  let k = 0;
  for (let pc = 0; pc < n; pc++) {
    at[pc] = k;
    k += patches.get(pc)?.length ?? 1;
  }
  at[n] = k;
  const out = new Uint8Array(k * 8);
  for (let pc = 0; pc < n; pc++) {
    const p = patches.get(pc);
    if (p) {
      p.forEach((x, j) => encodeInto(out, at[pc]! + j, x));
      continue;
    }
    const i = decode(insns, pc);
    const rel = (off: number): number => at[Math.min(Math.max(pc + 1 + off, 0), n)]! - (at[pc]! + 1);
    const c = cls(i.code);
    const o = op(i.code);
    if ((c === Cls.JMP || c === Cls.JMP32) && o !== Jmp.CALL && o !== Jmp.EXIT) {
      if (c === Cls.JMP32 && o === Jmp.JA) i.imm = rel(i.imm);
      else {
        i.off = rel(i.off);
        if (i.off !== (i.off << 16) >> 16) return undefined;
      }
    } else if (c === Cls.JMP && o === Jmp.CALL && i.src === CallKind.LOCAL) {
      i.imm = rel(i.imm);
    } else if (i.code === LDDW && i.src === Pseudo.FUNC) {
      i.imm = rel(i.imm);
    }
    encodeInto(out, at[pc]!, i);
    // (the second slot of an lddw is data, copied as it is)
    if (i.code === LDDW && pc + 1 < n) {
      out.set(insns.subarray((pc + 1) * 8, (pc + 2) * 8), (at[pc]! + 1) * 8);
      pc++;
    }
  }
  return out;
}
