/**
 * Kernel functions (kfuncs): bpf_cast_to_kern_ctx, loaded from clang's extern call, checked
 * at load, run on both engines. The netkit scenario (skb->dev after xmit) is in
 * test/net/tc-netkit-selftests.test.ts (tc_netkit_scrub).
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { encode, type Insn } from '../../src/ebpf/insn.js';
import { verify, VerifierError } from '../../src/ebpf/verifier.js';
import { loadObject, LoadError } from '../../src/ebpf/elf.js';
import * as A from '../../src/abi.generated.js';

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ code, dst, src, off, imm });
const KFUNC = I(0x85, 0, 2, 0, A.KFUNC_CAST_TO_KERN_CTX);
const exit = I(0x95);
const OBJ = new URL('../fixtures/bpf/tc_netkit_scrub.o', import.meta.url);

let emu: Emulator;
beforeEach(async () => { emu = await Emulator.create({}); });
afterEach(async () => { await emu.close(); });

function skb(mark: number, priority: number): Uint8Array {
  const c = new Uint8Array(192);
  const d = new DataView(c.buffer);
  d.setUint32(8, mark, true);
  d.setUint32(32, priority, true);
  return c;
}

describe('bpf_cast_to_kern_ctx', () => {
  it('the ELF extern call becomes a kfunc call (src_reg 2, nkemu id); CO-RE fields land on the kernel view', () => {
    const p = loadObject(readFileSync(OBJ)).programs.find((x) => x.name === 'tc8')!;
    const call = p.insns.subarray(0, 8);
    expect([call[0], call[1]! >> 4, new DataView(call.buffer, call.byteOffset).getInt32(4, true)]).toEqual([0x85, 2, A.KFUNC_CAST_TO_KERN_CTX]);
    // r2 = *(u32 *)(r0 + mark): the view's offset, not the local struct's (4).
    const ld = p.insns.subarray(16, 24);
    expect([ld[0], new DataView(ld.buffer, ld.byteOffset).getInt16(2, true)]).toEqual([0x61, A.KV_SKB_MARK]);
  });

  it('an unknown kfunc name is refused at load', () => {
    const b = new Uint8Array(readFileSync(OBJ));
    // Every copy of the name (the symbol table's and BTF's).
    for (let at = Buffer.from(b).indexOf('bpf_cast_to_kern_ctx\0'); at >= 0; at = Buffer.from(b).indexOf('bpf_cast_to_kern_ctx\0', at + 1)) {
      b.set(Buffer.from('bpf_cast_to_kern_cty'), at);
    }
    expect(() => loadObject(b)).toThrow(LoadError);
    expect(() => loadObject(b)).toThrow(/extern \(func ksym\) 'bpf_cast_to_kern_cty': not found in kernel or module BTFs \(the emulator has: bpf_cast_to_kern_ctx, /);
  });

  it('load-time checks: tc only, r1 the context, known ids', () => {
    const refuse = (insns: Insn[], type: 'sched_cls' | 'xdp', errno: string, log: string): void => {
      try {
        verify(encode(insns), { type });
      } catch (e) {
        expect(e).toBeInstanceOf(VerifierError);
        expect([(e as VerifierError).errno, (e as VerifierError).log]).toEqual([errno, log]);
        return;
      }
      throw new Error('accepted');
    };
    expect(verify(encode([KFUNC, I(0xb7, 0, 0, 0, 0), exit]), { type: 'sched_cls' }).ctxEscapes).toBe(true);
    refuse([KFUNC, I(0xb7, 0, 0, 0, 2), exit], 'xdp', 'EACCES', 'calling kernel function bpf_cast_to_kern_ctx is not allowed');
    refuse([I(0xb7, 1, 0, 0, 0), KFUNC, I(0xb7, 0, 0, 0, 0), exit], 'sched_cls', 'EINVAL', 'arg#0 expected pointer to ctx, but got scalar');
    refuse([I(0x07, 1, 0, 0, 8), KFUNC, I(0xb7, 0, 0, 0, 0), exit], 'sched_cls', 'EACCES', 'dereference of modified ctx ptr R1 off=8 disallowed');
    refuse([I(0x85, 0, 2, 0, 99), I(0xb7, 0, 0, 0, 0), exit], 'sched_cls', 'EOPNOTSUPP', 'kernel function calls are not supported by the emulator (btf_id 99)');
  });

  it('the dynptr kfuncs: the kernel\'s argument checks, slice_rdwr refused as this kernel refuses it', () => {
    const K = (id: number): Insn => I(0x85, 0, 2, 0, id);
    const fp = (r: number, off: number): Insn[] => [I(0xbf, r, 10), I(0x07, r, 0, 0, off)];
    const ok = [...fp(3, -16), I(0xb7, 2, 0, 0, 0), K(A.KFUNC_DYNPTR_FROM_XDP), ...fp(1, -16), I(0xb7, 2), I(0xb7, 3), I(0xb7, 4, 0, 0, 4), K(A.KFUNC_DYNPTR_SLICE), I(0xb7, 0, 0, 0, 2), exit];
    expect(() => verify(encode(ok), { type: 'xdp' })).not.toThrow();
    const refuse = (insns: Insn[], type: 'xdp' | 'sched_cls', errno: string, log: string): void => {
      try { verify(encode(insns), { type }); } catch (e) {
        expect([(e as VerifierError).errno, (e as VerifierError).log]).toEqual([errno, log]);
        return;
      }
      throw new Error('accepted');
    };
    refuse(ok, 'sched_cls', 'EACCES', 'calling kernel function bpf_dynptr_from_xdp is not allowed');
    refuse([I(0xb7, 3), I(0xb7, 2), K(A.KFUNC_DYNPTR_FROM_XDP), I(0xb7, 0), exit], 'xdp', 'EINVAL', 'arg#2 expected pointer to stack or dynptr_ptr');
    refuse([...fp(3, -12), I(0xb7, 2), K(A.KFUNC_DYNPTR_FROM_XDP), I(0xb7, 0), exit], 'xdp', 'EINVAL', 'cannot pass in dynptr at an offset=-12');
    refuse([...fp(1, -16), I(0xb7, 2), I(0xb7, 3), I(0xbf, 4, 1), K(A.KFUNC_DYNPTR_SLICE), I(0xb7, 0), exit], 'xdp', 'EINVAL', 'R4 must be a known constant');
    refuse([...fp(1, -16), I(0xb7, 2), I(0xb7, 3), I(0xb7, 4, 0, 0, 4), K(A.KFUNC_DYNPTR_SLICE_RDWR), I(0xb7, 0), exit], 'xdp', 'EPERM', 'bpf_dynptr_slice_rdwr() is not allowed');
  });

  it('the XDP RX metadata kfuncs: refused as the kernel refuses them outside a device-bound program', () => {
    for (const id of [A.KFUNC_XDP_METADATA_RX_TIMESTAMP, A.KFUNC_XDP_METADATA_RX_HASH, A.KFUNC_XDP_METADATA_RX_VLAN_TAG]) {
      // (before the walk, as add_kfunc_call: even unreachable code and a bad r1 give this line)
      const insns = encode([I(0xb7, 0, 0, 0, 2), exit, I(0xb7, 1, 0, 0, 0), I(0x85, 0, 2, 0, id), exit]);
      expect(() => verify(insns, { type: 'xdp' })).toThrow('metadata kfuncs require device-bound program');
    }
    const obj = readFileSync(new URL('../fixtures/bpf/kfunc_xdp_meta.o', import.meta.url));
    expect(() => emu.loadObject(obj)).toThrow(/metadata kfuncs require device-bound program/);
  });

  for (const interpreter of [false, true]) {
    it(`the view: this packet's fields, readable, not writable, not past its end, only after the call (${interpreter ? 'interpreter' : 'compiled'})`, () => {
      const load = (insns: Insn[]) => emu.loadProgram({ name: 'k', type: 'sched_cls', insns: encode(insns) });
      const data = new Uint8Array(64);
      // r0 = view->mark + view->priority; skb->dev is NULL in a test run (no device).
      const read = load([KFUNC, I(0x61, 2, 0, A.KV_SKB_MARK), I(0x61, 3, 0, A.KV_SKB_PRIORITY), I(0x0f, 2, 3), I(0x79, 4, 0, A.KV_SKB_DEV), I(0x0f, 2, 4), I(0xbf, 0, 2), exit]);
      expect(read.jit.slot).not.toBe(0);
      for (const [m, p] of [[5, 7], [100, 1]] as const) {
        expect(emu.testRun(read, { data, ctx: skb(m, p), interpreter })).toMatchObject({ retval: m + p, fault: null });
      }
      // The program's own writes to the __sk_buff are what the view shows.
      const written = load([I(0xb7, 2, 0, 0, 9), I(0x63, 1, 2, 8), KFUNC, I(0x61, 0, 0, A.KV_SKB_MARK), exit]);
      expect(emu.testRun(written, { data, ctx: skb(1, 1), interpreter }).retval).toBe(9);
      const write = load([KFUNC, I(0xb7, 2, 0, 0, 1), I(0x63, 0, 2, A.KV_SKB_MARK), I(0xb7, 0, 0, 0, 0), exit]);
      expect(emu.testRun(write, { data, ctx: skb(1, 1), interpreter }).fault).toBe('write');
      const past = load([KFUNC, I(0x61, 0, 0, A.VM_KVIEW_SIZE - 2), exit]);
      expect(emu.testRun(past, { data, ctx: skb(1, 1), interpreter }).fault).toBe('read');
      // Without the call in this run, the same address is not readable (r1 + the view's offset from the context is not it: read it absolutely).
      const view = emu.testRun(load([KFUNC, exit]), { data, ctx: skb(1, 1), interpreter }).retval;
      const blind = load([I(0x18, 1, 0, 0, view), I(0, 0, 0, 0, 0), I(0x61, 0, 1, A.KV_SKB_MARK), exit]);
      expect(emu.testRun(blind, { data, ctx: skb(1, 1), interpreter }).fault).toBe('read');
    });
  }
});
