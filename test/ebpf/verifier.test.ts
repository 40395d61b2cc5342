import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encode, type Insn } from '../../src/ebpf/insn.js';
import { verify, VerifierError, ctxUse, CTX_USE_ALL, type ProgType, type VerifyResult } from '../../src/ebpf/verifier.js';
import { CTX_ARG_NOT_READ, HELPERS, HELPER_NAMES, HELPER_PROTOS, PACKET_MOVING_HELPERS, PLAIN_HELPERS, TAIL_CALL, THREAD_STATE_HELPERS, helperAllowed, helperName } from '../../src/ebpf/helpers.js';
import { SKB_TC, SKB_SOCKET_FILTER, XDP_MD, ctxAccess } from '../../src/ebpf/ctx.js';
import { MEM_EXPECTED } from '../../src/ebpf/verifier/dataflow.js';
import { sharedDir } from '../helpers/shared.js';

// ---- tiny instruction builders (raw encodings, independent of the assembler) ----
const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ code, dst, src, off, imm });
const mov = (dst: number, imm: number): Insn => I(0xb7, dst, 0, 0, imm);
const movr = (dst: number, src: number): Insn => I(0xbf, dst, src);
const add = (dst: number, imm: number): Insn => I(0x07, dst, 0, 0, imm);
const exit = (): Insn => I(0x95);
const ja = (off: number): Insn => I(0x05, 0, 0, off);
const jeq = (dst: number, imm: number, off: number): Insn => I(0x15, dst, 0, off, imm);
const call = (id: number): Insn => I(0x85, 0, 0, 0, id);
const callLocal = (rel: number): Insn => I(0x85, 0, 1, 0, rel);
const ldxw = (dst: number, src: number, off: number): Insn => I(0x61, dst, src, off);
const ldxh = (dst: number, src: number, off: number): Insn => I(0x69, dst, src, off);
const ldxb = (dst: number, src: number, off: number): Insn => I(0x71, dst, src, off);
const ldxdw = (dst: number, src: number, off: number): Insn => I(0x79, dst, src, off);
const stxw = (dst: number, off: number, src: number): Insn => I(0x63, dst, src, off);
const stxdw = (dst: number, off: number, src: number): Insn => I(0x7b, dst, src, off);
const stdw = (dst: number, off: number, imm: number): Insn => I(0x7a, dst, 0, off, imm);
const stw = (dst: number, off: number, imm: number): Insn => I(0x62, dst, 0, off, imm);
const lddw = (dst: number, lo: number, hi = 0, src = 0): Insn[] => [I(0x18, dst, src, 0, lo), I(0, 0, 0, 0, hi)];

const ok = (insns: Insn[], type: ProgType = 'sched_cls', extra: object = {}): VerifyResult =>
  verify(encode(insns), { type, ...extra });

function rejects(insns: Insn[] | Uint8Array, errno: string, log: string | RegExp, type: ProgType = 'sched_cls', extra: object = {}): VerifierError {
  const prog = insns instanceof Uint8Array ? insns : encode(insns);
  try {
    verify(prog, { type, ...extra });
  } catch (e) {
    expect(e).toBeInstanceOf(VerifierError);
    const ve = e as VerifierError;
    expect(ve.errno).toBe(errno);
    if (typeof log === 'string') expect(ve.log).toBe(log);
    else expect(ve.log).toMatch(log);
    return ve;
  }
  throw new Error('program was accepted');
}

const RET0 = [mov(0, 0), exit()];

describe('verify: program size', () => {
  it('accepts a minimal program and reports its shape', () => {
    const r = ok(RET0);
    expect(r).toEqual({ ok: true, ctxEscapes: false, stackDepth: [0], maxCallDepth: 1, funcs: [0], ctxAccesses: [], provenAccesses: new Uint8Array(2) });
  });
  it('refuses an empty image or one that is not whole slots', () => {
    rejects(new Uint8Array(0), 'EINVAL', 'empty program');
    rejects(new Uint8Array(12), 'EINVAL', /not a multiple of 8/);
  });
  it('refuses more slots than maxInsns (E2BIG)', () => {
    expect(ok([mov(0, 0), mov(0, 1), exit()], 'sched_cls', { maxInsns: 3 }).ok).toBe(true);
    rejects([mov(0, 0), mov(0, 1), exit()], 'E2BIG', 'BPF program is too large. Processed 3 insn', 'sched_cls', { maxInsns: 2 });
  });
  it('privileged default is 1,000,000 instructions', () => {
    const big = new Uint8Array(1_000_001 * 8);
    const e = rejects(big, 'E2BIG', 'BPF program is too large. Processed 1000001 insn');
    expect(e.pc).toBe(-1);
  });
  it('walks loops to a fixpoint', () => {
    const loop = [mov(0, 0), mov(2, 0), add(2, 1), jeq(2, 10, 1), ja(-3), exit()];
    // (constants joined at the loop head: a few more walks than the body's 6 instructions;
    // the kernel, and nkemu's loop walk, go through its 10 iterations: about 40)
    expect(ok(loop, 'sched_cls', { maxInsns: 64 }).ok).toBe(true);
    rejects(loop, 'E2BIG', /^BPF program is too large/, 'sched_cls', { maxInsns: 24 });
  });
});

describe('verify: opcodes and reserved fields', () => {
  it('refuses unknown opcodes, naming them in hex', () => {
    const e = rejects([mov(0, 0), I(0x8e), exit()], 'EINVAL', 'unknown opcode 8e');
    expect(e.pc).toBe(1);
    expect(e.message).toBe('1: unknown opcode 8e');
    rejects([I(0x8d, 2), exit()], 'EINVAL', 'unknown opcode 8d'); // callx
    rejects([I(0x86), exit()], 'EINVAL', 'unknown opcode 86'); // call in JMP32
    rejects([I(0x99, 0, 1), exit()], 'EINVAL', 'unknown opcode 99'); // ldxsdw
  });
  it('refuses register numbers above 10', () => {
    rejects([mov(11, 0), exit()], 'EINVAL', 'R11 is invalid');
    rejects([mov(0, 0), movr(0, 12), exit()], 'EINVAL', 'R12 is invalid');
  });
  it('refuses non-zero reserved fields of ALU', () => {
    rejects([I(0xb7, 0, 1, 0, 0), exit()], 'EINVAL', 'BPF_MOV uses reserved fields');
    rejects([mov(0, 0), I(0xbf, 0, 1, 0, 1), exit()], 'EINVAL', 'BPF_MOV uses reserved fields');
    rejects([mov(0, 0), I(0xbc, 0, 1, 32), exit()], 'EINVAL', 'BPF_MOV uses reserved fields'); // movsx32 from 32
    rejects([mov(0, 0), I(0x0f, 0, 1, 0, 5), exit()], 'EINVAL', 'BPF_ALU uses reserved fields');
    rejects([mov(0, 0), I(0x07, 0, 1, 0, 5), exit()], 'EINVAL', 'BPF_ALU uses reserved fields');
    rejects([mov(0, 0), I(0x37, 0, 0, 2, 5), exit()], 'EINVAL', 'BPF_ALU uses reserved fields'); // sdiv off 2
    rejects([mov(0, 0), I(0x07, 0, 0, 1, 5), exit()], 'EINVAL', 'BPF_ALU uses reserved fields'); // off 1 on add
    rejects([mov(0, 0), I(0x87, 0, 0, 0, 1), exit()], 'EINVAL', 'BPF_NEG uses reserved fields');
    rejects([mov(0, 0), I(0xdc, 0, 0, 0, 8), exit()], 'EINVAL', 'BPF_END uses reserved fields');
    expect(ok([mov(0, 0), I(0x37, 0, 0, 1, 3), I(0xbf, 0, 1, 16), I(0xd7, 0, 0, 0, 64), exit()]).ok).toBe(true);
  });
  it('refuses non-zero reserved fields of JMP', () => {
    rejects([mov(0, 0), I(0x05, 0, 0, 0, 1), exit()], 'EINVAL', 'BPF_JA uses reserved fields');
    rejects([mov(0, 0), I(0x06, 0, 0, 1, 0), exit()], 'EINVAL', 'BPF_JA uses reserved fields'); // gotol with off
    rejects([mov(0, 0), I(0x95, 1)], 'EINVAL', 'BPF_EXIT uses reserved fields');
    rejects([mov(0, 0), I(0x85, 1, 0, 0, 5), exit()], 'EINVAL', 'BPF_CALL uses reserved fields');
    rejects([mov(0, 0), I(0x85, 0, 3, 0, 5), exit()], 'EINVAL', 'BPF_CALL uses reserved fields');
    rejects([mov(0, 0), I(0x15, 0, 1, 0, 0), exit()], 'EINVAL', 'BPF_JMP/JMP32 uses reserved fields');
    rejects([mov(0, 0), I(0x1d, 0, 0, 0, 1), exit()], 'EINVAL', 'BPF_JMP/JMP32 uses reserved fields');
    rejects([mov(0, 0), I(0xe5, 0, 0, 0, 3), exit()], 'EINVAL', 'invalid may_goto imm 3');
  });
  it('refuses non-zero reserved fields of loads and stores', () => {
    rejects([mov(0, 0), I(0x61, 0, 10, -4, 1), exit()], 'EINVAL', 'BPF_LDX uses reserved fields');
    rejects([mov(0, 0), I(0x63, 10, 0, -4, 1), exit()], 'EINVAL', 'BPF_STX uses reserved fields');
    rejects([mov(0, 0), I(0x62, 10, 1, -4, 1), exit()], 'EINVAL', 'BPF_ST uses reserved fields');
    rejects([mov(0, 0), I(0x20, 1, 0, 0, 1), exit()], 'EINVAL', 'BPF_LD_[ABS|IND] uses reserved fields');
  });
  it('refuses unknown atomic operations and sizes', () => {
    rejects([mov(0, 0), stdw(10, -8, 0), I(0xdb, 10, 0, -8, 0xe0), exit()], 'EINVAL', 'BPF_ATOMIC uses invalid atomic opcode e0');
    rejects([mov(0, 0), stdw(10, -8, 0), I(0xcb, 10, 0, -8, 0x00), exit()], 'EINVAL', 'invalid atomic operand size');
    expect(ok([mov(0, 0), stdw(10, -8, 0), I(0xdb, 10, 0, -8, 0xf1), exit()]).ok).toBe(true); // cmpxchg
  });
  it('refuses out-of-range constant shifts and division by constant zero (not in generic programs); register shifts pass', () => {
    rejects([mov(0, 1), I(0x67, 0, 0, 0, 64), exit()], 'EINVAL', 'invalid shift 64');
    rejects([mov(0, 1), I(0x64, 0, 0, 0, 32), exit()], 'EINVAL', 'invalid shift 32');
    rejects([mov(0, 1), I(0xc7, 0, 0, 0, -1), exit()], 'EINVAL', 'invalid shift -1');
    expect(ok([mov(0, 1), I(0x67, 0, 0, 0, 63), I(0x74, 0, 0, 0, 31), exit()]).ok).toBe(true);
    expect(ok([mov(0, 1), mov(1, 99), I(0x6f, 0, 1), exit()]).ok).toBe(true);
    rejects([mov(0, 1), I(0x37, 0, 0, 0, 0), exit()], 'EINVAL', 'div by zero');
    rejects([mov(0, 1), I(0x94, 0, 0, 0, 0), exit()], 'EINVAL', 'div by zero');
    expect(ok([mov(0, 1), I(0x37, 0, 0, 0, 0), I(0x94, 0, 0, 0, 0), exit()], 'generic').ok).toBe(true);
  });
});

describe('verify: r10 and lddw', () => {
  it('refuses writes to r10, allows stores through it', () => {
    rejects([mov(10, 0), mov(0, 0), exit()], 'EACCES', 'frame pointer is read only');
    rejects([add(10, -8), mov(0, 0), exit()], 'EACCES', 'frame pointer is read only');
    rejects([ldxdw(10, 1, 0), mov(0, 0), exit()], 'EACCES', 'frame pointer is read only', 'generic');
    rejects([...lddw(10, 1), mov(0, 0), exit()], 'EACCES', 'frame pointer is read only');
    expect(ok([stdw(10, -8, 1), ldxdw(0, 10, -8), exit()]).ok).toBe(true);
  });
  it('refuses a truncated or malformed lddw', () => {
    rejects([mov(0, 0), I(0x18, 0, 0, 0, 1)], 'EINVAL', 'invalid bpf_ld_imm64 insn');
    rejects([I(0x18, 0, 0, 0, 1), I(0x95), exit()], 'EINVAL', 'invalid bpf_ld_imm64 insn');
    rejects([I(0x18, 0, 0, 0, 1), I(0, 1), exit()], 'EINVAL', 'invalid bpf_ld_imm64 insn');
    rejects([I(0x18, 0, 0, 1, 1), I(0), exit()], 'EINVAL', 'BPF_LD_IMM64 uses reserved fields');
  });
  it('knows the pseudo sources', () => {
    rejects([...lddw(0, 1, 0, 7), exit()], 'EINVAL', 'unrecognized bpf_ld_imm64 insn');
    rejects([...lddw(0, 3, 1, 1), exit()], 'EINVAL', 'unrecognized bpf_ld_imm64 insn'); // map fd with next imm
    rejects([...lddw(0, 3, 0, 3), exit()], 'EOPNOTSUPP', /BPF_PSEUDO_BTF_ID/);
    for (const src of [1, 2, 5, 6]) expect(ok([...lddw(0, 3, 0, src), exit()]).ok).toBe(true);
    expect(ok([...lddw(0, 0x55667788, 0x11223344), exit()]).ok).toBe(true);
  });
});

describe('verify: control flow', () => {
  it('refuses jumps outside the program', () => {
    const e = rejects([mov(0, 0), mov(1, 0), mov(2, 0), ja(5), exit()], 'EINVAL', 'jump out of range from insn 3 to 9');
    expect(e.pc).toBe(3);
    rejects([mov(0, 0), jeq(0, 0, -3), exit()], 'EINVAL', 'jump out of range from insn 1 to -1');
    rejects([mov(0, 0), I(0x06, 0, 0, 0, 7), exit()], 'EINVAL', 'jump out of range from insn 1 to 9'); // gotol
  });
  it('refuses a jump onto the second slot of a lddw', () => {
    rejects([jeq(1, 0, 1), ...lddw(0, 0), ...lddw(0, 1), exit()], 'EINVAL', 'jump into the middle of ldimm64 insn 1');
  });
  it('accepts backward jumps (bounded by the runtime budget)', () => {
    expect(ok([mov(0, 0), add(0, 1), jeq(0, 5, 1), ja(-3), exit()]).ok).toBe(true);
  });
  it('refuses falling off the end', () => {
    rejects([mov(0, 0)], 'EINVAL', 'last insn is not an exit or jmp');
    rejects([mov(0, 0), jeq(0, 0, -2), mov(0, 1)], 'EINVAL', 'last insn is not an exit or jmp');
    rejects([...lddw(0, 1)], 'EINVAL', 'last insn is not an exit or jmp');
    expect(ok([mov(0, 0), jeq(0, 0, 1), ja(1), exit(), ja(-2)]).ok).toBe(true);
  });
});

describe('verify: branches decided by constants (is_branch_taken)', () => {
  // Behind each jump: an instruction the kernel would refuse (helper 9999) if it walked there.
  const bad = call(9999);
  it('walks only the edge a comparison of known constants takes, 64- and 32-bit, signed and unsigned', () => {
    ok([mov(2, 0), jeq(2, 0, 1), bad, mov(0, 0), exit()]);
    ok([mov(2, 5), I(0x55, 2, 0, 1, 5), ja(1), bad, mov(0, 0), exit()]); // jne 5, 5: falls through
    ok([mov(2, -1), I(0xc5, 2, 0, 1, 0), bad, mov(0, 0), exit()]); // jslt -1, 0: taken
    ok([mov(2, -1), I(0xa5, 2, 0, 2, 0), mov(0, 0), exit(), bad, exit()]); // jlt 0xffff…, 0: not taken
    ok([...lddw(2, 1, 1), I(0x16, 2, 0, 1, 1), bad, mov(0, 0), exit()]); // jeq32 (low word 1): taken
    ok([mov(2, 6), mov(3, 4), I(0x4d, 2, 3, 1), bad, mov(0, 0), exit()]); // jset 6 & 4: taken
  });
  it('walks both edges when either side is not a known constant', () => {
    rejects([ldxw(2, 1, 0), jeq(2, 0, 1), bad, mov(0, 0), exit()], 'EINVAL', 'invalid func unknown#9999');
    rejects([...lddw(2, 1, 1), jeq(2, 1, 1), bad, mov(0, 0), exit()], 'EINVAL', 'invalid func unknown#9999'); // 64-bit: 0x100000001 != 1
  });
});

describe('verify: a size that may be zero (check_mem_size_reg)', () => {
  // bpf_skb_load_bytes(skb, 0, r10 - 16, r4): r4 is ARG_CONST_SIZE (0 not allowed)
  const call = (len: Insn[]): Insn[] => [...len, mov(2, 0), movr(3, 10), add(3, -16), I(0x85, 0, 0, 0, 26), mov(0, 0), exit()];
  it('a loaded length, masked or shifted, has a lower bound of 0: refused on a path the kernel surely walks', () => {
    rejects(call([ldxw(4, 1, 8)]), 'EACCES', 'R4 invalid zero-sized read: u64=[0,4294967295]');
    rejects(call([ldxw(4, 1, 8), I(0x57, 4, 0, 0, 15)]), 'EACCES', 'R4 invalid zero-sized read: u64=[0,15]');
    rejects(call([ldxh(4, 1, 0)]), 'EACCES', 'R4 invalid zero-sized read: u64=[0,65535]');
  });
  it('refuses nothing the kernel does not: after an add (the lower bound is 1)', () => {
    ok(call([ldxw(4, 1, 8), I(0x57, 4, 0, 0, 15), add(4, 1)]));
  });
  it('a copy and a branch on a value nkemu knows as the kernel does change nothing: still refused', () => {
    rejects(call([ldxw(5, 1, 8), I(0x57, 5, 0, 0, 15), movr(4, 5)]), 'EACCES', 'R4 invalid zero-sized read: u64=[0,15]');
    rejects(call([ldxw(4, 1, 8), I(0x57, 4, 0, 0, 15), ldxw(5, 1, 0), jeq(5, 0, 0)]), 'EACCES', 'R4 invalid zero-sized read: u64=[0,15]');
  });
  it('refuses nothing nkemu cannot be sure of: after a branch on a value it does not know (the kernel might decide it)', () => {
    ok(call([ldxw(4, 1, 8), I(0x57, 4, 0, 0, 15), ldxdw(5, 10, -8), jeq(5, 0, 0)]));
  });
});

describe('verify: loops walked as the kernel walks them', () => {
  it('a loop whose branches constants decide and that comes back to the same state never ends (EINVAL)', () => {
    rejects([mov(0, 0), jeq(0, 0, -1), exit()], 'EINVAL', 'infinite loop detected at insn 1');
    // (through a block in between, and after a split the dataflow follows)
    rejects([mov(0, 0), ldxw(2, 1, 0), jeq(2, 0, 3), mov(3, 0), ja(0), jeq(3, 0, -2), exit()], 'EINVAL', 'infinite loop detected at insn 5');
  });
  it('a counted loop longer than the limit is too large (E2BIG); within it, it loads', () => {
    const count = (n: number): Insn[] => [mov(0, 0), add(0, 1), I(0xa5, 0, 0, -2, n), exit()];
    rejects(count(600), 'E2BIG', 'BPF program is too large. Processed 1001 insn', 'sched_cls', { maxInsns: 1000 });
    ok(count(400), 'sched_cls', { maxInsns: 1000 });
  });
  it('a loop whose exit a loaded value decides, where the kernel knows that value as nkemu does: past the limit (E2BIG)', () => {
    // r2 = skb->len, any u32: `r0 != r2` is never decided, each round the kernel walks is one more
    rejects([ldxw(2, 1, 0), mov(0, 0), add(0, 1), I(0x5d, 0, 2, -2), exit()], 'E2BIG', 'BPF program is too large. Processed 1001 insn', 'sched_cls', { maxInsns: 1000 });
  });
  it('refuses nothing where a branch on a value nkemu does not know decides the loop', () => {
    // r2 = bpf_get_smp_processor_id(): the kernel bounds it (do_refine_retval_range), nkemu does
    // not, so the kernel ends the loop where nkemu cannot tell.
    ok([call(8), movr(2, 0), mov(0, 0), add(0, 1), I(0xad, 0, 2, -2), exit()], 'sched_cls', { maxInsns: 1000 });
    // ... nor behind a branch it may decide: `r2 > 100` is never true to the kernel, which
    // never walks the loop behind it
    ok([call(8), movr(2, 0), mov(0, 0), I(0x25, 2, 0, 1, 100), exit(), mov(0, 0), jeq(0, 0, -1), exit()]);
    // r0 = (x & 7), counted up to 100: the states repeat in nkemu's view (no lower bound), not in the kernel's.
    ok([ldxw(0, 1, 0), I(0x57, 0, 0, 0, 7), add(0, 1), I(0xa5, 0, 0, -2, 100), exit()]);
  });
});

describe('verify: registers read before written', () => {
  it('r0 must be set before exit', () => {
    const e = rejects([exit()], 'EACCES', 'R0 !read_ok');
    expect(e.pc).toBe(0);
  });
  it('only r1 and r10 are set at entry', () => {
    rejects([movr(0, 2), exit()], 'EACCES', 'R2 !read_ok');
    rejects([mov(0, 0), add(6, 1), exit()], 'EACCES', 'R6 !read_ok');
    expect(ok([movr(0, 10), movr(0, 1), exit()]).ok).toBe(true);
  });
  it('a register must be written on every path', () => {
    const onePath = [mov(0, 0), jeq(1, 0, 1), mov(3, 1), movr(0, 3), exit()];
    const e = rejects(onePath, 'EACCES', 'R3 !read_ok');
    expect(e.pc).toBe(3);
    expect(ok([mov(0, 0), jeq(1, 0, 2), mov(3, 1), ja(1), mov(3, 2), movr(0, 3), exit()]).ok).toBe(true);
  });
  it('jump operands and store sources are reads', () => {
    rejects([mov(0, 0), I(0x1d, 0, 4, 0, 0), exit()], 'EACCES', 'R4 !read_ok');
    rejects([mov(0, 0), stxdw(10, -8, 7), exit()], 'EACCES', 'R7 !read_ok');
  });
  it('calls clobber r1-r5 and set r0; r6-r9 survive', () => {
    rejects([call(5), movr(0, 1), exit()], 'EACCES', 'R1 !read_ok');
    expect(ok([mov(6, 1), call(5), movr(0, 6), exit()]).ok).toBe(true);
    expect(ok([call(5), exit()]).ok).toBe(true);
  });
  it('helper arguments must be set', () => {
    rejects([...lddw(1, 4096), call(1), exit()], 'EACCES', 'R2 !read_ok'); // map_lookup_elem(map, key)
    expect(ok([...lddw(1, 4096), movr(2, 10), add(2, -8), stdw(10, -8, 0), call(1), exit()]).ok).toBe(true);
    // Argument types, in argument order.
    rejects([mov(1, 0), call(1), exit()], 'EACCES', 'R1 type=scalar expected=map_ptr');
  });
});

describe('verify: stack', () => {
  it('r10-relative accesses stay within [-512, 0)', () => {
    rejects([stdw(10, -520, 1), mov(0, 0), exit()], 'EACCES', 'invalid write to stack R10 off=-520 size=8');
    rejects([mov(0, 0), ldxdw(0, 10, 0), exit()], 'EACCES', 'invalid read from stack R10 off=0 size=8');
    rejects([mov(0, 0), stxw(10, -2, 0), exit()], 'EACCES', 'misaligned stack access off 0+0+-2 size 4');
    rejects([mov(0, 0), stxw(10, 8, 0), exit()], 'EACCES', 'invalid write to stack R10 off=8 size=4');
    expect(ok([stdw(10, -512, 1), ldxdw(0, 10, -512), exit()]).stackDepth).toEqual([512]);
  });
  it('follows copies of r10 with constant offsets', () => {
    const r = ok([movr(2, 10), add(2, -16), stdw(2, 0, 1), ldxdw(0, 2, 8), exit()]);
    expect(r.stackDepth).toEqual([16]);
    rejects([movr(2, 10), add(2, -504), stdw(2, -16, 1), mov(0, 0), exit()], 'EACCES', 'invalid write to stack R2 off=-16 size=8');
    // Alignment is checked first (check_ptr_alignment before the bounds).
    rejects([movr(2, 10), add(2, -508), stdw(2, -8, 1), mov(0, 0), exit()], 'EACCES', 'misaligned stack access off 0+-508+-8 size 8');
  });
  it('refuses misaligned stack accesses', () => {
    rejects([stw(10, -6, 1), mov(0, 0), exit()], 'EACCES', 'misaligned stack access off 0+0+-6 size 4');
  });
  it('the tunnel key helpers and bpf_fib_lookup take the context and memory of a constant, non-zero size in the stack', () => {
    // (the kernel's words for each: check_helper_mem_access, check_mem_size_reg, check_func_arg)
    rejects([movr(2, 10), add(2, -56), mov(3, 64), mov(4, 0), call(69), mov(0, 0), exit()], 'EINVAL', 'invalid write to stack R2 off=-56 size=64');
    rejects([movr(2, 10), add(2, -48), mov(3, 0), mov(4, 0), call(21), mov(0, 0), exit()], 'EACCES', 'R3 invalid zero-sized read: u64=[0,0]');
    rejects([mov(1, 0), movr(2, 10), add(2, -48), mov(3, 44), mov(4, 0), call(20), mov(0, 0), exit()], 'EACCES', 'R1 type=scalar expected=ctx');
    rejects([mov(2, 0), mov(3, 44), mov(4, 0), call(20), mov(0, 0), exit()], 'EACCES', `R2 type=scalar expected=${MEM_EXPECTED}`);
    expect(ok([movr(2, 10), add(2, -64), mov(3, 64), mov(4, 0), call(69), mov(0, 0), exit()]).stackDepth).toEqual([64]);
    expect(ok([movr(2, 10), add(2, -64), mov(3, 64), mov(4, 0), call(69), mov(0, 0), exit()], 'xdp').ok).toBe(true);
  });
  it('a stack pointer passed to a helper counts as stack use', () => {
    const r = ok([...lddw(1, 4096), movr(2, 10), add(2, -40), call(1), exit()]);
    expect(r.stackDepth).toEqual([40]);
  });
});

describe('verify: bpf-to-bpf calls', () => {
  // main: call f; exit.  f: body; exit.
  it('finds functions and reports per-function stack depth', () => {
    const r = ok([stdw(10, -8, 0), callLocal(1), exit(), stdw(10, -24, 0), mov(0, 0), exit()]);
    expect(r.funcs).toEqual([0, 3]);
    expect(r.stackDepth).toEqual([8, 24]);
    expect(r.maxCallDepth).toBe(2);
  });
  it('passes r1-r5 to the callee, uninitialised otherwise', () => {
    expect(ok([mov(2, 7), callLocal(1), exit(), movr(0, 2), exit()]).ok).toBe(true);
    rejects([callLocal(1), exit(), movr(0, 3), exit()], 'EACCES', 'R3 !read_ok');
    rejects([mov(6, 1), callLocal(1), exit(), movr(0, 6), exit()], 'EACCES', 'R6 !read_ok');
  });
  it('refuses calls outside the program', () => {
    rejects([callLocal(5), mov(0, 0), exit()], 'EINVAL', 'call to invalid destination');
    rejects([...lddw(2, 9, 0, 4), mov(0, 0), exit()], 'EINVAL', 'call to invalid destination');
  });
  it('refuses jumps from one function into another', () => {
    rejects([callLocal(2), ja(2), exit(), mov(0, 0), exit()], 'EINVAL', 'jump out of range from insn 1 to 4');
  });
  it('each function must end in exit or ja', () => {
    rejects([callLocal(1), mov(0, 0), mov(0, 1), exit()], 'EINVAL', 'last insn is not an exit or jmp');
  });
  it('limits call chains to 8 frames', () => {
    // main calls f1, f1 calls f2, ... each fi is [call +1? ; exit]. Layout: slot 2k = call next, 2k+1 = exit.
    const chain = (frames: number): Insn[] => {
      const out: Insn[] = [];
      for (let f = 0; f < frames - 1; f++) out.push(callLocal(1), exit());
      out.push(mov(0, 0), exit());
      return out;
    };
    expect(ok(chain(8)).maxCallDepth).toBe(8);
    rejects(chain(9), 'E2BIG', 'the call stack of 9 frames is too deep !');
  });
  it('refuses recursion through the frame limit', () => {
    rejects([mov(0, 0), callLocal(-2), exit()], 'E2BIG', 'the call stack of 9 frames is too deep !');
    rejects([callLocal(1), exit(), mov(0, 0), callLocal(-2), exit()], 'E2BIG', 'the call stack of 9 frames is too deep !');
  });
  it('limits the combined stack of a call chain to 512 bytes', () => {
    expect(ok([stdw(10, -256, 0), callLocal(1), exit(), stdw(10, -256, 0), mov(0, 0), exit()]).ok).toBe(true);
    rejects([stdw(10, -256, 0), callLocal(1), exit(), stdw(10, -296, 0), mov(0, 0), exit()], 'EACCES',
      'combined stack size of 2 calls is 560. Too large');
  });
  it('callbacks referenced by lddw are functions with r1-r5 as arguments', () => {
    const r = ok([...lddw(2, 3, 0, 4), mov(0, 0), exit(), movr(0, 1), exit()]);
    expect(r.funcs).toEqual([0, 4]);
  });
  it('refuses kfunc calls', () => {
    rejects([I(0x85, 0, 2, 0, 1234), exit()], 'EOPNOTSUPP', /kernel function calls/);
  });
});

describe('verify: helpers', () => {
  it('the implementation facts name known helpers; the ones that move the packet are packet-changing, and none is both plain and moving', () => {
    for (const id of [...PLAIN_HELPERS, ...PACKET_MOVING_HELPERS, ...CTX_ARG_NOT_READ, ...THREAD_STATE_HELPERS, TAIL_CALL]) expect(HELPERS.has(id), `helper ${id}`).toBe(true);
    expect(HELPER_NAMES[TAIL_CALL]).toBe('tail_call');
    for (const id of PACKET_MOVING_HELPERS) expect(HELPERS.get(id)!.pktChanging, `helper ${id}`).toBe(true);
    for (const id of PACKET_MOVING_HELPERS) expect(PLAIN_HELPERS.has(id), `helper ${id}`).toBe(false);
  });
  it('refuses ids outside the enum', () => {
    const e = rejects([call(999), exit()], 'EINVAL', 'invalid func unknown#999');
    expect(e.pc).toBe(0);
    rejects([call(-1), exit()], 'EINVAL', 'invalid func unknown#-1');
  });
  it('refuses helpers the program type may not call', () => {
    rejects([mov(2, 4), call(44), exit()], 'EINVAL', 'program of this type cannot use helper bpf_xdp_adjust_head#44');
    expect(ok([mov(2, 4), call(44), exit()], 'xdp').ok).toBe(true);
    rejects([mov(2, 0), mov(3, 0), mov(4, 0), mov(5, 0), call(9), exit()], 'EINVAL',
      'program of this type cannot use helper bpf_skb_store_bytes#9', 'socket_filter');
    rejects([mov(2, 0), call(23), exit()], 'EINVAL', 'program of this type cannot use helper bpf_redirect#23', 'socket_filter');
    rejects([mov(1, 0), mov(2, 0), mov(3, 0), call(4), exit()], 'EINVAL', 'program of this type cannot use helper bpf_probe_read#4');
    rejects([call(0), exit()], 'EINVAL', 'program of this type cannot use helper bpf_unspec#0');
  });
  it('refuses GPL-only helpers without a GPL licence', () => {
    // (its prototype declares the format and its size; r3..r5 are not read)
    const printk = [mov(1, 0), stxdw(10, -8, 1), movr(1, 10), add(1, -8), mov(2, 8), call(6), exit()];
    expect(ok(printk).ok).toBe(true);
    rejects(printk, 'EINVAL', 'cannot call GPL-restricted function from non-GPL compatible program', 'sched_cls', { gplCompatible: false });
  });
  it('the table is the uapi enum', () => {
    expect(HELPER_NAMES.length).toBe(212);
    expect(helperName(1)).toBe('bpf_map_lookup_elem');
    expect(helperName(211)).toBe('bpf_cgrp_storage_delete');
    expect(helperName(212)).toBe('unknown');
    expect(HELPERS.get(155)).toMatchObject({ name: 'redirect_peer', args: 2 });
    expect(helperAllowed(51, 'xdp')).toBe(true);
    expect(helperAllowed(51, 'sched_cls')).toBe(false);
    expect(helperAllowed(26, 'socket_filter')).toBe(true);
    expect(helperAllowed(26, 'xdp')).toBe(false);
    for (const h of HELPERS.values()) expect(h.name).toBe(HELPER_NAMES[h.id]);
  });
  it('every helper nkemu implements has its kernel prototype, declaring no more registers than the implementation reads', () => {
    expect([...HELPER_PROTOS.keys()].sort((a, b) => a - b)).toEqual([...HELPERS.keys()].sort((a, b) => a - b));
    for (const [id, p] of HELPER_PROTOS) expect(p.args.length, helperName(id)).toBeLessThanOrEqual(HELPERS.get(id)!.args);
    expect(HELPER_PROTOS.get(6)!.args).toEqual(['mem', 'size']);
  });
  it("reads only the registers a helper's prototype declares (bpf_printk(\"len %d\", x): r4, r5 unset)", () => {
    const fmt = [mov(1, 0), stxdw(10, -8, 1), movr(1, 10), add(1, -8), mov(2, 8)];
    ok([...fmt, mov(3, 42), call(6), exit()]);
    // A declared one must be set: the format's size.
    rejects([mov(1, 0), stxdw(10, -8, 1), movr(1, 10), add(1, -8), call(6), exit()], 'EACCES', 'R2 !read_ok');
    rejects([...fmt.slice(0, 4), mov(2, 0), call(6), exit()], 'EACCES', 'R2 invalid zero-sized read: u64=[0,0]');
    rejects([...fmt.slice(0, 4), mov(2, -1), call(6), exit()], 'EACCES', "R2 min value is negative, either use unsigned or 'var &= const'");
    rejects([...fmt.slice(0, 4), mov(2, 16), call(6), exit()], 'EINVAL', 'invalid read from stack R1 off=-8 size=16');
    rejects([...fmt.slice(0, 4), movr(2, 10), call(6), exit()], 'EACCES', 'R2 type=fp expected=scalar');
    // A packet pointer goes only to helpers with .pkt_access (trace_printk has none; csum_diff has).
    rejects([ldxw(1, 1, 76), mov(2, 8), call(6), exit()], 'EACCES', 'helper access to the packet is not allowed');
    rejects([ldxw(1, 1, 76), mov(2, 8), mov(3, 0), mov(4, 0), mov(5, 0), call(28), exit()], 'EACCES', 'R1 offset is outside of the packet');
    // ARG_CONST_SIZE_OR_ZERO with a NULL buffer.
    ok([mov(1, 0), mov(2, 0), mov(3, 0), mov(4, 0), mov(5, 0), call(28), exit()]);
    rejects([mov(1, 0), mov(2, 4), mov(3, 0), mov(4, 0), mov(5, 0), call(28), exit()], 'EACCES', 'R1 type=scalar expected=fp');
  });
  it('marks r0 as the prototype returns it: RET_VOID unreadable, RET_INTEGER a scalar', () => {
    // bpf_tail_call returns nothing when it fails.
    rejects([...lddw(2, 0), mov(3, 0), call(12), exit()], 'EACCES', 'R0 !read_ok');
    rejects([call(7), ldxw(0, 0, 0), exit()], 'EACCES', "R0 invalid mem access 'scalar'");
  });
});

describe('verify: context access', () => {
  it('records tc reads and writes of allowed fields', () => {
    const r = ok([ldxw(2, 1, 8), stxw(1, 8, 2), ldxw(3, 1, 76), ldxw(4, 1, 80), ldxb(5, 1, 1), mov(0, 0), exit()]);
    expect(r.ctxAccesses).toEqual([
      { pc: 0, field: 'mark', off: 8, size: 4, write: false },
      { pc: 1, field: 'mark', off: 8, size: 4, write: true },
      { pc: 2, field: 'data', off: 76, size: 4, write: false },
      { pc: 3, field: 'data_end', off: 80, size: 4, write: false },
      { pc: 4, field: 'len', off: 1, size: 1, write: false },
    ]);
  });
  it('refuses tc accesses the kernel refuses', () => {
    const bad = (i: Insn, off: number, size: number): void => {
      const e = rejects([mov(2, 0), i, mov(0, 0), exit()], 'EACCES', `invalid bpf_context access off=${off} size=${size}`);
      expect(e.pc).toBe(1);
    };
    bad(stxw(1, 0, 2), 0, 4); // len is read-only
    bad(ldxh(2, 1, 76), 76, 2); // data: 4-byte loads only
    bad(ldxw(2, 1, 88), 88, 4); // family: sk_skb only
    bad(ldxw(2, 1, 2), 2, 4); // misaligned
    bad(ldxdw(2, 1, 64), 64, 8); // crosses the end of cb
    bad(ldxw(2, 1, 152), 152, 4); // tstamp: 8 bytes only
    bad(I(0x6b, 1, 2, 8), 8, 2); // narrow write of mark
    bad(ldxw(2, 1, 192), 192, 4); // past the end
    bad(ldxw(2, 1, 144), 144, 4); // flow_keys
    expect(ok([ldxdw(2, 1, 48), stxdw(1, 56, 2), I(0x73, 1, 2, 67), ldxdw(3, 1, 152), stxdw(1, 152, 3), ldxb(4, 1, 180), mov(0, 0), exit()]).ok).toBe(true);
  });
  it('takes immediate stores into the context as the kernel (6.18) does; refuses atomics there', () => {
    expect(ok([stw(1, 8, 1), mov(0, 0), exit()]).ctxAccesses).toEqual([{ pc: 0, field: 'mark', off: 8, size: 4, write: true }]);
    rejects([stw(1, 76, 1), mov(0, 0), exit()], 'EACCES', 'invalid bpf_context access off=76 size=4');
    rejects([mov(2, 1), I(0xc3, 1, 2, 8, 0), mov(0, 0), exit()], 'EACCES', 'BPF_ATOMIC stores into R1 ctx is not allowed');
  });
  it('follows the ctx pointer through mov and stack spills', () => {
    rejects([movr(6, 1), mov(2, 0), stxw(6, 0, 2), mov(0, 0), exit()], 'EACCES', 'invalid bpf_context access off=0 size=4');
    const spill = [stxdw(10, -8, 1), call(5), ldxdw(2, 10, -8), ldxw(0, 2, 8), exit()];
    expect(ok(spill).ctxAccesses).toEqual([{ pc: 3, field: 'mark', off: 8, size: 4, write: false }]);
    rejects([stxdw(10, -8, 1), ldxdw(2, 10, -8), ldxw(0, 2, 4 * 22), exit()], 'EACCES', 'invalid bpf_context access off=88 size=4');
    // A spill slot overwritten by a scalar no longer holds the ctx pointer.
    expect(ok([stxdw(10, -8, 1), stdw(10, -8, 0), ldxdw(2, 10, -8), mov(0, 0), exit()]).ctxAccesses).toEqual([]);
  });
  it('refuses dereferencing a modified ctx pointer', () => {
    rejects([add(1, 8), ldxw(0, 1, 0), exit()], 'EACCES', 'dereference of modified ctx ptr R1 off=8 disallowed');
  });
  it('xdp_md: 4-byte read-only fields', () => {
    const r = ok([ldxw(2, 1, 0), ldxw(3, 1, 4), ldxw(4, 1, 16), mov(0, 2), exit()], 'xdp');
    expect(r.ctxAccesses.map((a) => a.field)).toEqual(['data', 'data_end', 'rx_queue_index']);
    rejects([mov(2, 0), stxw(1, 12, 2), mov(0, 2), exit()], 'EACCES', 'invalid bpf_context access off=12 size=4', 'xdp');
    rejects([ldxh(2, 1, 12), mov(0, 2), exit()], 'EACCES', 'invalid bpf_context access off=12 size=2', 'xdp');
    rejects([ldxw(2, 1, 20), mov(0, 2), exit()], 'EACCES', 'invalid bpf_context access off=20 size=4', 'xdp');
    rejects([ldxw(2, 1, 24), mov(0, 2), exit()], 'EACCES', 'invalid bpf_context access off=24 size=4', 'xdp');
  });
  it('socket filters: no packet pointers, only cb writable', () => {
    rejects([ldxw(2, 1, 76), mov(0, 0), exit()], 'EACCES', 'invalid bpf_context access off=76 size=4', 'socket_filter');
    rejects([mov(2, 0), stxw(1, 8, 2), mov(0, 0), exit()], 'EACCES', 'invalid bpf_context access off=8 size=4', 'socket_filter');
    expect(ok([ldxw(2, 1, 0), stxw(1, 48, 2), mov(0, 0), exit()], 'socket_filter').ctxAccesses.length).toBe(2);
  });
  it('generic: r1 is plain memory and r2 its length', () => {
    const r = ok([ldxdw(0, 1, 1000), stxw(1, 3, 2), add(0, 0), exit()], 'generic');
    expect(r.ctxAccesses).toEqual([]);
  });
  it('the tables agree with the uapi layout', () => {
    expect(SKB_TC.fields.find((f) => f.name === 'hwtstamp')).toMatchObject({ off: 184, size: 8 });
    expect(ctxAccess(SKB_TC, 16, 2, false)?.name).toBe('protocol');
    expect(ctxAccess(SKB_TC, 18, 2, false)?.name).toBe('protocol');
    expect(ctxAccess(SKB_TC, 72, 4, true)?.name).toBe('tc_classid');
    expect(ctxAccess(SKB_SOCKET_FILTER, 72, 4, false)).toBeUndefined();
    expect(ctxAccess(XDP_MD, 8, 4, false)?.name).toBe('data_meta');
  });
});

describe('verify: where the ctx pointer goes (ctxEscapes, ctxUse)', () => {
  // Without the "verified" flag (0x40000000), which every program here but the last two has.
  const use = (insns: Insn[], type: ProgType = 'sched_cls'): number => (ctxUse(encode(insns), type) & ~0x40000000) >>> 0;
  const escapes = (insns: Insn[]): boolean => ok(insns).ctxEscapes;
  const W = 0x80000000;
  it('names the words the program reads', () => {
    // data (76) is word 9, data_end (80) word 10; mark (8) word 1; len (0) word 0.
    expect(use([ldxw(2, 1, 76), ldxw(3, 1, 80), mov(0, 0), exit()])).toBe((1 << 9) | (1 << 10));
    expect(use([ldxw(2, 1, 8), ldxb(3, 1, 1), mov(0, 0), exit()])).toBe((1 << 1) | 1);
    expect(use(RET0)).toBe(0);
    // Through a mov and an 8-byte spill it is still tracked.
    expect(use([movr(6, 1), stxdw(10, -8, 6), ldxdw(2, 10, -8), ldxw(0, 2, 32), exit()])).toBe(1 << 4);
  });
  it('a write adds the flag and every word the dataplane copies back', () => {
    const u = use([mov(2, 7), stxw(1, 8, 2), mov(0, 0), exit()]);
    expect(u & W).not.toBe(0);
    for (const w of [1, 4, 5, 6, 7, 8, 19]) expect(u & (1 << w)).not.toBe(0);
    expect(u & (1 << 9)).toBe(0);
  });
  it('everything when the pointer escapes the dataflow', () => {
    expect(escapes([ldxw(2, 1, 8), mov(0, 0), exit()])).toBe(false);
    // mov32 of the pointer: the same address in our 32-bit memory, untracked.
    expect(escapes([I(0xbc, 2, 1), mov(0, 0), exit()])).toBe(true);
    // ALU on it other than adding a constant, or used as a value.
    expect(escapes([movr(2, 1), add(2, 8), add(2, -8), ldxw(0, 2, 8), exit()])).toBe(false);
    expect(escapes([movr(2, 1), I(0x87, 2), mov(0, 0), exit()])).toBe(true); // r2 = -r2
    expect(escapes([mov(2, 0), I(0x0f, 2, 1), mov(0, 0), exit()])).toBe(true); // r2 += r1
    // Stored anywhere but a whole stack slot.
    expect(escapes([I(0x63, 10, 1, -8), mov(0, 0), exit()])).toBe(true);
    expect(escapes([stxdw(10, -8, 1), ldxdw(6, 10, -8), ldxw(0, 6, 8), exit()])).toBe(false);
    // Paths that disagree (ctx on one, a scalar on the other).
    expect(escapes([jeq(1, 0, 1), movr(2, 1), mov(0, 0), exit()])).toBe(false);
    expect(escapes([mov(2, 0), jeq(1, 0, 1), movr(2, 1), ldxw(0, 2, 8), exit()])).toBe(true);
    // A helper writing through a stack pointer while the stack holds a spilled ctx.
    expect(escapes([stxdw(10, -8, 1), mov(2, 0), movr(3, 10), add(3, -16), mov(4, 8), call(26), mov(0, 0), exit()])).toBe(true);
    // Handed to a helper that reads it or runs programs on it; not to one that only uses the packet.
    expect(escapes([...lddw(2, 0), mov(3, 0), call(12), mov(0, 0), exit()])).toBe(true);
    expect(escapes([mov(2, 0), movr(3, 10), add(3, -8), mov(4, 4), call(26), mov(0, 0), exit()])).toBe(false);
    // ... or in another argument than the context one (here as l3_csum_replace's ARG_ANYTHING `from`).
    expect(escapes([movr(3, 1), mov(2, 0), mov(4, 0), mov(5, 0), call(10), mov(0, 0), exit()])).toBe(true);
    // A subprogram returning it.
    expect(escapes([callLocal(1), exit(), movr(0, 1), exit()])).toBe(true);
    expect(use([I(0xbc, 2, 1), mov(0, 0), exit()])).toBe(CTX_USE_ALL);
  });
  it('xdp: the xdp_md words its loads read and PR_CTX_XDP_PLAIN; every word after a call that may read the context or the record', () => {
    const V = 0x40000000, PLAIN = 0x10000000;
    expect(ctxUse(encode([ldxw(2, 1, 0), mov(0, 2), exit()]), 'xdp')).toBe((V | PLAIN | 1) >>> 0);
    expect(ctxUse(encode([ldxw(2, 1, 12), ldxw(3, 1, 16), mov(0, 2), exit()]), 'xdp')).toBe((V | PLAIN | 2 | 4) >>> 0);
    expect(ctxUse(encode([ldxw(2, 1, 8), mov(0, 2), exit()]), 'xdp')).toBe((V | PLAIN | 2) >>> 0);
    expect(ctxUse(encode(RET0), 'xdp')).toBe((V | PLAIN) >>> 0);
    // ktime_get_ns keeps it plain; adjust_head (44) moves the packet (check_mtu reads ingress_ifindex)
    expect(ctxUse(assemble('ldxw %r6, [%r1+16]\nmov %r1, 0\ncall 5\nmov %r0, 2\nexit'), 'xdp')).toBe((V | PLAIN | 4) >>> 0);
    expect(ctxUse(assemble('mov %r2, 0\ncall 44\nmov %r0, 2\nexit'), 'xdp')).toBe((CTX_USE_ALL | V) >>> 0);
  });

  it('everything, and not verified, for programs that do not verify or are not tc or xdp', () => {
    expect(ctxUse(encode(RET0), 'sched_cls') & 0x40000000).not.toBe(0);
    expect(ctxUse(encode([ldxw(2, 1, 8), exit()]), 'sched_cls')).toBe(CTX_USE_ALL); // r0 never written
    expect(ctxUse(encode([ldxw(2, 1, 0), exit()]), 'xdp')).toBe(CTX_USE_ALL);
    expect(ctxUse(encode(RET0), 'socket_filter')).toBe(CTX_USE_ALL);
  });
});

describe('verify: legacy packet loads', () => {
  it('need the skb in r6 and a program type with an skb', () => {
    expect(ok([movr(6, 1), I(0x30, 0, 0, 0, 12), exit()]).ok).toBe(true);
    rejects([mov(6, 0), I(0x30, 0, 0, 0, 12), exit()], 'EINVAL', 'at the time of BPF_LD_ABS|IND R6 != pointer to skb');
    rejects([movr(6, 1), I(0x30, 0, 0, 0, 12), exit()], 'EINVAL', 'BPF_LD_[ABS|IND] instructions not allowed for this program type', 'xdp');
    rejects([movr(6, 1), I(0x30, 0, 0, 0, 12), movr(0, 1), exit()], 'EACCES', 'R1 !read_ok');
  });
});

// ---- bpf_conformance corpus ----------------------------------------------------------
// A minimal assembler for the uBPF syntax of the corpus; independent of src/ebpf/asm.ts.

const ALU_OPS: Record<string, [number, number]> = {
  add: [0x00, 0], sub: [0x10, 0], mul: [0x20, 0], div: [0x30, 0], sdiv: [0x30, 1], or: [0x40, 0], and: [0x50, 0],
  lsh: [0x60, 0], rsh: [0x70, 0], neg: [0x80, 0], mod: [0x90, 0], smod: [0x90, 1], xor: [0xa0, 0], mov: [0xb0, 0],
  arsh: [0xc0, 0],
};
const JMP_OPS: Record<string, number> = {
  jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70, jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
};
const SIZES: Record<string, number> = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 };
const ATOMIC_OPS: Record<string, number> = { add: 0x00, or: 0x40, and: 0x50, xor: 0xa0, xchg: 0xe1, cmpxchg: 0xf1 };

function parseImm(s: string): bigint {
  const t = s.trim();
  const neg = t.startsWith('-');
  const v = BigInt(neg ? t.slice(1) : t.replace(/^\+/, ''));
  return neg ? -v : v;
}
const i32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const reg = (s: string): number => {
  const m = /^%r(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`bad register ${s}`);
  return Number(m[1]);
};
const memOp = (s: string): [number, number] => {
  const m = /^\[%r(\d+)\s*([+-]\s*(?:0x[0-9a-f]+|\d+))?\]$/i.exec(s.trim());
  if (!m) throw new Error(`bad memory operand ${s}`);
  return [Number(m[1]), m[2] ? i32(parseImm(m[2].replace(/\s/g, ''))) : 0];
};

function assemble(src: string): Uint8Array {
  const lines = src.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l.length > 0);
  // First pass: labels → pc.
  const labels = new Map<string, number>();
  const body: string[] = [];
  let pc = 0;
  for (let l of lines) {
    const lm = /^([A-Za-z_][\w]*):\s*(.*)$/.exec(l);
    if (lm) {
      labels.set(lm[1]!, pc);
      l = lm[2]!;
      if (!l) continue;
    }
    body.push(l);
    pc += /^lddw\b/.test(l) ? 2 : 1;
  }
  const out: Insn[] = [];
  const exitAfter = (at: number): number | undefined => {
    let p = 0;
    for (const b of body) {
      if (p > at && b === 'exit') return p;
      p += /^lddw\b/.test(b) ? 2 : 1;
    }
    return undefined;
  };
  const target = (s: string, at: number): number => {
    const t = s.trim();
    if (/^[+-]?\d+$/.test(t) || /^[+-]?0x/.test(t)) return i32(parseImm(t));
    // uBPF syntax: `exit` as a jump target names the next exit instruction.
    const l = labels.get(t) ?? (t === 'exit' ? exitAfter(at) : undefined);
    if (l === undefined) throw new Error(`unknown label ${t}`);
    return l - at - 1;
  };
  for (const l of body) {
    const at = out.length;
    const sp = l.indexOf(' ');
    const mn = sp < 0 ? l : l.slice(0, sp);
    const args = sp < 0 ? [] : l.slice(sp + 1).split(',').map((a) => a.trim());
    let m: RegExpExecArray | null;
    if (mn === 'exit') out.push(I(0x95));
    else if (mn === 'lddw') {
      const v = BigInt.asUintN(64, parseImm(args[1]!));
      out.push(I(0x18, reg(args[0]!), 0, 0, i32(v & 0xffffffffn)), I(0, 0, 0, 0, i32(v >> 32n)));
    } else if (mn === 'call') {
      const a = l.slice(5).trim();
      if (a.startsWith('local ')) out.push(I(0x85, 0, 1, 0, target(a.slice(6), at)));
      else if (a.startsWith('%r')) out.push(I(0x8d, reg(a), 0, 0, 0));
      else out.push(I(0x85, 0, 0, 0, i32(parseImm(a))));
    } else if (mn === 'ja') out.push(I(0x05, 0, 0, target(args[0]!, at)));
    else if (mn === 'ja32') out.push(I(0x06, 0, 0, 0, target(args[0]!, at)));
    else if ((m = /^(be|le)(16|32|64)$/.exec(mn))) out.push(I(m[1] === 'be' ? 0xdc : 0xd4, reg(args[0]!), 0, 0, Number(m[2])));
    else if ((m = /^b?swap(16|32|64)$/.exec(mn))) out.push(I(0xd7, reg(args[0]!), 0, 0, Number(m[1])));
    else if ((m = /^movsx(8|16|32)(32|64)$/.exec(mn))) out.push(I(m[2] === '64' ? 0xbf : 0xbc, reg(args[0]!), reg(args[1]!), Number(m[1])));
    else if ((m = /^ldx(s?)(dw|w|h|b)$/.exec(mn))) {
      const [r, off] = memOp(args[1]!);
      out.push(I((m[1] ? 0x80 : 0x60) | SIZES[m[2]!]! | 0x01, reg(args[0]!), r, off));
    } else if ((m = /^st(x?)(dw|w|h|b)$/.exec(mn))) {
      const [r, off] = memOp(args[0]!);
      if (m[1]) out.push(I(0x60 | SIZES[m[2]!]! | 0x03, r, reg(args[1]!), off));
      else out.push(I(0x60 | SIZES[m[2]!]! | 0x02, r, 0, off, i32(parseImm(args[1]!))));
    } else if (mn === 'lock') {
      const am = /^lock\s+(fetch\s+)?(\w+?)(32)?\s+(\[[^\]]+\])\s*,\s*(%r\d+)$/.exec(l);
      if (!am) throw new Error(`bad atomic ${l}`);
      const [r, off] = memOp(am[4]!);
      out.push(I(0xc0 | (am[3] ? 0x00 : 0x18) | 0x03, r, reg(am[5]!), off, ATOMIC_OPS[am[2]!]! | (am[1] ? 1 : 0)));
    } else if ((m = /^(j\w+?)(32)?$/.exec(mn)) && JMP_OPS[m[1]!] !== undefined) {
      const c = JMP_OPS[m[1]!]! | (m[2] ? 0x06 : 0x05);
      const off = target(args[2]!, at);
      if (args[1]!.startsWith('%')) out.push(I(c | 0x08, reg(args[0]!), reg(args[1]!), off));
      else out.push(I(c, reg(args[0]!), 0, off, i32(parseImm(args[1]!))));
    } else if ((m = /^([a-z]+?)(32)?$/.exec(mn)) && ALU_OPS[m[1]!] !== undefined) {
      const [o, off] = ALU_OPS[m[1]!]!;
      const c = o | (m[2] ? 0x04 : 0x07);
      if (m[1] === 'neg') out.push(I(c, reg(args[0]!)));
      else if (args[1]!.startsWith('%')) out.push(I(c | 0x08, reg(args[0]!), reg(args[1]!), off));
      else out.push(I(c, reg(args[0]!), 0, off, i32(parseImm(args[1]!))));
    } else throw new Error(`unknown mnemonic ${mn}`);
  }
  return encode(out);
}

function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^-- (.+)$/.exec(line);
    if (m) {
      cur = m[1]!.trim();
      out.set(cur, '');
    } else if (cur !== undefined) out.set(cur, out.get(cur)! + line + '\n');
  }
  return out;
}

function rawImage(raw: string): Uint8Array {
  const words = raw.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean).map((w) => BigInt(w));
  const out = new Uint8Array(words.length * 8);
  const dv = new DataView(out.buffer);
  words.forEach((w, k) => dv.setBigUint64(k * 8, w, true));
  return out;
}

/** Conformance files the kernel itself refuses at load, and why (see the README of the corpus). */
const EXPECTED_REFUSALS: Record<string, RegExp> = {
  // Constant shift counts outside [0, width): the kernel says "invalid shift N" (12 files).
  ...Object.fromEntries(
    ['arsh', 'lsh', 'rsh'].flatMap((o) => ['32', '64'].flatMap((w) => ['high', 'neg'].map((k) => [`${o}${w}-imm-${k}`, /invalid shift -?\d+/]))),
  ),
  // callx (0x8d) is not a Linux opcode.
  callx: /unknown opcode 8d/,
};

const CONFORMANCE = sharedDir('conformance/ebpf/tests');

describe.skipIf(!CONFORMANCE)('verify: bpf_conformance corpus (generic type)', () => {
  const dir = CONFORMANCE ?? '';
  const files = (CONFORMANCE ? readdirSync(dir) : []).filter((f) => f.endsWith('.data')).sort();

  it('every program with a result passes, except the ones the kernel refuses', () => {
    let passed = 0;
    let withRaw = 0;
    const refused: string[] = [];
    const unexpected: string[] = [];
    for (const f of files) {
      const s = sections(readFileSync(join(dir, f), 'utf8'));
      if (!s.has('result')) continue;
      let image: Uint8Array;
      if (s.has('raw')) {
        image = rawImage(s.get('raw')!);
        withRaw++;
        expect(assemble(s.get('asm')!)).toEqual(image); // the test assembler agrees with the raw words
      } else image = assemble(s.get('asm')!);
      const name = f.replace(/\.data$/, '');
      try {
        verify(image, { type: 'generic' });
        passed++;
        if (EXPECTED_REFUSALS[name]) unexpected.push(`${name}: accepted but the kernel refuses it`);
      } catch (e) {
        const msg = e instanceof VerifierError ? e.message : String(e);
        refused.push(`${name}: ${msg}`);
        const want = EXPECTED_REFUSALS[name];
        if (!want || !want.test(msg)) unexpected.push(`${name}: ${msg}`);
      }
    }
    console.log(`conformance: ${passed} pass, ${refused.length} refused (${withRaw} with a raw section)\n  ${refused.join('\n  ')}`);
    expect(unexpected).toEqual([]);
    expect(withRaw).toBeGreaterThan(0);
  });
});

describe('byte swaps', () => {
  it('be16 (0xdc) does not read the register its source bit would name', async () => {
    const { verify } = await import('../../src/ebpf/verifier.js');
    const { encode } = await import('../../src/ebpf/insn.js');
    // r1 = *(u32 *)(r1 + 16); r1 = be16 r1; r0 = 0; exit — r0 is not read before written
    const prog = encode([
      { code: 0x61, dst: 1, src: 1, off: 16, imm: 0 }, { code: 0xdc, dst: 1, src: 0, off: 0, imm: 16 },
      { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
    ]);
    expect(verify(prog, { type: 'sched_cls' }).ok).toBe(true);
  });
});
