/**
 * The kernel's conversion of a verified tc program's context accesses (src/ebpf/ctx-convert.ts):
 * the image nkemu runs, and what the program then reads and writes on both engines. The
 * values were checked against the kernel by the ctx_fields fixtures (test/fixtures/bpf).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { convertCtxAccesses, patchInsns } from '../../src/ebpf/ctx-convert.js';
import { decode, encode, slots, type Insn } from '../../src/ebpf/insn.js';
import { ctxFacts, type ProgType } from '../../src/ebpf/verifier.js';

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ code, dst, src, off, imm });
const mov = (dst: number, imm: number): Insn => I(0xb7, dst, 0, 0, imm);
const exit = (): Insn => I(0x95);
const ldx = (size: 1 | 2 | 4, dst: number, src: number, off: number): Insn => I(size === 1 ? 0x71 : size === 2 ? 0x69 : 0x61, dst, src, off);
const stxw = (dst: number, off: number, src: number): Insn => I(0x63, dst, src, off);
const stw = (dst: number, off: number, imm: number): Insn => I(0x62, dst, 0, off, imm);

/** The converted image of `insns`, decoded. */
function converted(insns: Insn[], type: ProgType = 'sched_cls'): Insn[] {
  const img = encode(insns);
  const facts = ctxFacts(img, type);
  expect(facts.accesses, 'the program verifies').toBeDefined();
  const out = convertCtxAccesses(img, type, facts.accesses!);
  return Array.from({ length: slots(out) }, (_, pc) => decode(out, pc));
}

describe('the converted image', () => {
  it('a narrow load as wide as the kernel field reads from the field start; narrower ones and u32 fields stay', () => {
    const prog = [
      ldx(2, 0, 1, 18), // protocol (u16), upper half: the value
      ldx(1, 0, 1, 19), // protocol, last byte: 0 either way
      ldx(1, 0, 1, 7), // pkt_type (1 byte in the kernel), last byte: the value
      ldx(2, 0, 1, 10), // mark (u32): its upper half
      ldx(2, 0, 1, 166), // gso_segs (u16)
      mov(0, 0), exit(),
    ];
    expect(converted(prog).map((i) => i.off)).toEqual([16, 19, 4, 10, 164, 0, 0]);
    // (an XDP program's and a socket filter's are not converted: nothing of theirs is narrower)
    expect(converted([ldx(4, 0, 1, 12), mov(0, 0), exit()], 'xdp').map((i) => i.off)).toEqual([12, 0, 0]);
  });

  it('stores to tc_index and tc_classid keep 16 bits; queue_mapping also none of 0xffff or more', () => {
    const prog = [
      mov(2, 0x12345),
      stxw(1, 44, 2), stw(1, 72, 0x11223344), stxw(1, 8, 2),
      stw(1, 12, 0x1234), stw(1, 12, 0xffff), stw(1, 12, -1),
      stxw(1, 12, 2),
      mov(0, 0), exit(),
    ];
    expect(converted(prog)).toEqual([
      mov(2, 0x12345),
      I(0x6b, 1, 2, 44), I(0x6a, 1, 0, 72, 0x11223344), stxw(1, 8, 2),
      I(0x6a, 1, 0, 12, 0x1234), I(0x05), I(0x6a, 1, 0, 12, -1),
      I(0x35, 2, 0, 1, 0xffff), I(0x6b, 1, 2, 12),
      mov(0, 0), exit(),
    ]);
  });

  it('an inserted instruction moves the jumps, calls and function references across it', () => {
    const img = encode([
      I(0x05, 0, 0, 2), // ja +2 → pc 3 (the store)
      I(0x18, 2, 4, 0, 4), I(0, 0, 0, 0, 0), // lddw r2, func at pc 6
      stxw(1, 12, 2),
      I(0x85, 0, 1, 0, 1), // call local pc 6
      I(0x06, 0, 0, 0, -6), // gotol -6 → pc 0
      mov(0, 0), exit(),
    ]);
    const out = patchInsns(img, new Map([[3, [I(0x35, 2, 0, 1, 0xffff), I(0x6b, 1, 2, 12)]]]))!;
    const got = Array.from({ length: slots(out) }, (_, pc) => decode(out, pc));
    expect(got).toEqual([
      I(0x05, 0, 0, 2),
      I(0x18, 2, 4, 0, 5), I(0, 0, 0, 0, 0),
      I(0x35, 2, 0, 1, 0xffff), I(0x6b, 1, 2, 12),
      I(0x85, 0, 1, 0, 1),
      I(0x06, 0, 0, 0, -7),
      mov(0, 0), exit(),
    ]);
    // A jump that no longer fits in 16 bits: no conversion.
    const far = encode([I(0x05, 0, 0, 0x7fff), stxw(1, 12, 2), ...Array.from({ length: 0x7fff }, () => mov(0, 0)), exit()]);
    expect(patchInsns(far, new Map([[1, [I(0x35, 2, 0, 1, 0xffff), I(0x6b, 1, 2, 12)]]]))).toBeUndefined();
  });
});

describe('what a converted program reads and writes, on both engines', () => {
  let emu: Emulator;
  beforeAll(async () => { emu = await Emulator.create({}); });
  afterAll(async () => { await emu.close(); });

  const pkt = new Uint8Array(60);
  pkt[12] = 0x08;
  pkt[14] = 0x45;

  it.each([false, true])('queue_mapping, tc_index and protocol as the kernel has them (interpreter: %s)', (interpreter) => {
    // r0 = (queue_mapping after storing 0x1234, then 0x12345 (dropped), upper half read)
    //      | tc_index after storing 0x99aabbcc, upper half read << 16 | protocol's upper half << 32
    const prog = emu.loadProgram({
      name: 'conv', type: 'sched_cls', insns: encode([
        mov(2, 0x1234), stxw(1, 12, 2),
        I(0x18, 2, 0, 0, 0x12345), I(0, 0, 0, 0, 0), // lddw r2, 0x12345
        I(0x15, 2, 0, 1, 0), // if r2 == 0 goto +1 (across the store's inserted test)
        stxw(1, 12, 2),
        ldx(2, 3, 1, 14),
        I(0x18, 2, 0, 0, 0x99aabbcc | 0) /* lddw r2, 0x99aabbcc */, I(0, 0, 0, 0, 0),
        stxw(1, 44, 2),
        ldx(2, 4, 1, 46),
        I(0x67, 4, 0, 0, 16), // r4 <<= 16
        ldx(2, 5, 1, 18),
        I(0x67, 5, 0, 0, 32), // r5 <<= 32
        I(0xbf, 0, 3), I(0x4f, 0, 4), I(0x4f, 0, 5), // r0 = r3 | r4 | r5
        exit(),
      ]),
    });
    expect(prog.insns.length / 8, 'an instruction inserted for each queue_mapping store').toBe(20);
    const r = emu.testRun(prog, { data: pkt, interpreter });
    expect(r.fault).toBeNull();
    // (retval: the low 32 bits, as the kernel reports it; the rest through the context)
    expect(r.retval).toBe((0xbbcc << 16 | 0x1234) >>> 0);
    emu.closeProgram(prog);
    // tc_index's store kept 16 bits in the context memory; ctx_out does not carry it (as the kernel's).
    const back = emu.loadProgram({ name: 'conv2', type: 'sched_cls', insns: encode([stw(1, 44, 0x11223344), ldx(4, 0, 1, 44), exit()]) });
    expect(emu.testRun(back, { data: pkt, interpreter }).retval).toBe(0x3344);
    emu.closeProgram(back);
  });

  it.each([false, true])('a test run\'s __sk_buff: the dummy socket, wire_len 0 without ctx_in, gso_size 16 bits (interpreter: %s)', (interpreter) => {
    const prog = emu.loadProgram({
      name: 'sk', type: 'sched_cls', insns: encode([
        I(0x79, 2, 1, 168), // r2 = skb->sk
        mov(0, 0xdead),
        I(0x15, 2, 0, 1, 0), // if !sk return 0xdead
        ldx(4, 0, 2, 4), // sk->family
        I(0xbf, 6, 0),
        ldx(4, 3, 1, 160), // wire_len
        I(0x67, 3, 0, 0, 8), I(0x4f, 6, 3),
        ldx(4, 3, 1, 176), // gso_size
        I(0x67, 3, 0, 0, 16), I(0x4f, 6, 3),
        I(0xbf, 0, 6),
        exit(),
      ]),
    });
    expect(emu.testRun(prog, { data: pkt, interpreter }).retval).toBe(2);
    const ctx = new Uint8Array(192);
    new DataView(ctx.buffer).setUint32(176, 0x50004, true);
    const r = emu.testRun(prog, { data: pkt, ctx, interpreter });
    expect(r.retval).toBe((2 | 60 << 8 | 4 << 16) >>> 0);
    expect(new DataView(r.ctxOut.buffer).getUint32(176, true)).toBe(0x50004);
    emu.closeProgram(prog);
  });
});
