import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane.js';
import { assemble, disassemble } from '../../src/ebpf/assembler.js';
import { verify } from '../../src/ebpf/verifier.js';
import { Vm } from '../../src/ebpf/vm.js';
import { parseCase as parse } from '../helpers/conformance.js';
import { sharedDir } from '../helpers/shared.js';

const ROOT = sharedDir('conformance/ebpf');

let dp: Dataplane;
let vm: Vm;
beforeAll(async () => {
  dp = await Dataplane.create({});
  vm = new Vm(dp);
});
afterAll(() => vm.close());

function run(prog: Uint8Array, mem?: Uint8Array): { r0: bigint; fault: string | null } {
  const at = vm.place(prog);
  const m = mem && mem.length ? dp.alloc(mem.length) : 0;
  if (m) dp.bytes().set(mem!, m);
  try {
    const r = vm.run(at, prog.length / 8, { args: [m, mem?.length ?? 0], regions: m ? [{ addr: m, len: mem!.length, writable: true }] : [] });
    return { r0: r.r0, fault: r.fault };
  } finally {
    vm.release(at, prog);
    if (m) dp.release(m, mem!.length);
  }
}

/** Cases skipped, with the reason. */
const SKIP: Record<string, string> = {
  'callx.data': 'callx (call by register) is not part of the Linux ISA; the suite skips it by default',
};

const tests = ROOT ? readdirSync(`${ROOT}tests`).filter((f) => f.endsWith('.data')).sort() : [];
const negatives = ROOT ? readdirSync(`${ROOT}negative`).filter((f) => f.endsWith('.data')).sort() : [];

describe.skipIf(!ROOT)('bpf_conformance cases on the Wasm interpreter', () => {
  it('has the corpus', () => {
    expect(tests.length).toBe(313);
    expect(negatives.length).toBe(60);
  });

  it('every case passes (skips listed with reasons)', () => {
    const failed: string[] = [];
    let passed = 0;
    for (const f of tests) {
      if (SKIP[f]) continue;
      const c = parse(readFileSync(`${ROOT}tests/${f}`, 'utf8'));
      try {
        const prog = assemble(c.asm!);
        if (c.raw) expect(Array.from(prog), `${f}: raw`).toEqual(Array.from(c.raw));
        const r = run(prog, c.mem);
        if (c.error !== undefined) {
          if (r.fault === null) failed.push(`${f}: expected an error, got r0=0x${r.r0.toString(16)}`);
          else passed++;
          continue;
        }
        const want = BigInt.asUintN(64, BigInt(c.result!));
        if (r.fault !== null) failed.push(`${f}: fault ${r.fault}`);
        else if (r.r0 !== want) failed.push(`${f}: r0=0x${r.r0.toString(16)} want 0x${want.toString(16)}`);
        else passed++;
      } catch (e) {
        failed.push(`${f}: ${(e as Error).message}`);
      }
    }
    expect(failed).toEqual([]);
    expect(passed).toBe(tests.length - Object.keys(SKIP).length);
  });

  it('disassembly assembles back to the same bytes', () => {
    for (const f of tests) {
      if (SKIP[f]) continue;
      const prog = assemble(parse(readFileSync(`${ROOT}tests/${f}`, 'utf8')).asm!);
      expect(Array.from(assemble(disassemble(prog).join('\n'))), f).toEqual(Array.from(prog));
    }
  });

  it('every negative case is refused: assembly, load-time checks, a fault, or a result that differs', () => {
    const accepted: string[] = [];
    for (const f of negatives) {
      const c = parse(readFileSync(`${ROOT}negative/${f}`, 'utf8'));
      let refused = false;
      try {
        if (c.asm === undefined && c.raw === undefined) throw new Error('no program');
        const prog = c.raw ?? assemble(c.asm!);
        verify(prog, { type: 'generic' });
        const r = run(prog, c.mem);
        if (r.fault !== null) refused = true;
        else if (c.result === undefined || !/^(0x[0-9a-f]+|-?\d+)$/i.test(c.result)) refused = true;
        else refused = r.r0 !== BigInt.asUintN(64, BigInt(c.result));
      } catch {
        refused = true;
      }
      if (!refused) accepted.push(f);
    }
    expect(accepted).toEqual([]);
  });
});

describe('the conformance assembler', () => {
  it('assembler errors name the line', () => {
    expect(() => assemble('mov %r0, 1\nor %r0, %r50\nexit')).toThrow(/^line 2: Invalid register '%r50'/);
    expect(() => assemble('ja NOPE\nexit')).toThrow(/line 1: Invalid label 'NOPE'/);
    expect(() => assemble('lock\nexit')).toThrow(/Invalid number of operands for lock/);
    expect(() => assemble('mov32 %r0, 2147483648\nexit')).toThrow(/Immediate out of range/);
  });
});
