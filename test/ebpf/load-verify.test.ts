/**
 * BPF_PROG_LOAD of raw instructions verifies as the kernel does (issue 18): the refusals
 * the issue names, the error's errno and log, and the documented `verify: false` opt-out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { NetError } from '../../src/errors.js';
import { VerifierError } from '../../src/ebpf/verifier.js';

let emu: Emulator;
beforeAll(async () => { emu = await Emulator.create({ jit: false }); });
afterAll(async () => { await emu?.close(); });

const refused = (text: string | Uint8Array, errno: string, log: string | RegExp, type: 'sched_cls' | 'xdp' = 'sched_cls'): void => {
  const insns = typeof text === 'string' ? assemble(text) : text;
  let err: unknown;
  try { emu.loadProgram({ name: 'p', type, insns }); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(NetError);
  expect(err).toBeInstanceOf(VerifierError);
  expect((err as NetError).errno).toBe(errno);
  if (typeof log === 'string') expect((err as VerifierError).log).toBe(log);
  else expect((err as VerifierError).log).toMatch(log);
  // The opt-out loads it.
  const p = emu.loadProgram({ name: 'p', type, insns, verify: false });
  emu.closeProgram(p);
};

describe('loadProgram verifies raw instructions', () => {
  it('opcode 0xff, a missing exit, an uninitialised register and helper 9999 are refused; verify: false loads them', () => {
    const bad = new Uint8Array(16);
    bad[0] = 0xff;
    bad.set([0x95], 8);
    refused(bad, 'EINVAL', 'unknown opcode ff');
    refused('mov %r0, 0', 'EINVAL', 'last insn is not an exit or jmp');
    refused('mov %r0, %r4\nexit', 'EACCES', 'R4 !read_ok');
    refused('call 9999\nmov %r0, 0\nexit', 'EINVAL', 'invalid func unknown#9999');
  });

  it('the tutorial mistake (no data_end check): the kernel\'s line, and a log in the kernel\'s shape', () => {
    const insns = assemble('ldxw %r2, [%r1+0]\nldxb %r0, [%r2+12]\nmov %r0, 2\nexit');
    let err: VerifierError | undefined;
    try { emu.loadProgram({ name: 'x', type: 'xdp', insns }); } catch (e) { err = e as VerifierError; }
    expect(err?.errno).toBe('EACCES');
    expect(err?.log).toBe('R2 offset is outside of the packet');
    expect(err?.verifierLog?.split('\n')).toEqual([
      '0: R1=ctx() R10=fp0',
      '0: (61) r2 = *(u32 *)(r1 +0)            ; R1=ctx() R2=pkt(r=0) R10=fp0',
      '1: (71) r0 = *(u8 *)(r2 +12)',
      'R2 offset is outside of the packet',
      'processed 2 insns (limit 1000000)',
    ]);
  });

  it('a program the kernel accepts loads', () => {
    const p = emu.loadProgram({ name: 'ok', type: 'xdp', insns: assemble('mov %r0, 2\nexit') });
    expect(p.id).toBeGreaterThan(0);
    emu.closeProgram(p);
  });
});

describe('a refused program of an object names itself as libbpf does', () => {
  it('program, section and libbpf\'s lines (errno text, the load log between its markers, the negative errno); an ELF refusal names its section', async () => {
    const { readFileSync } = await import('node:fs');
    const dir = new URL('../fixtures/', import.meta.url).pathname;
    let err: NetError | undefined;
    try { emu.loadObject(readFileSync(`${dir}verifier/obj/pkt_nocheck-tc-u16-0.o`)); } catch (e) { err = e as NetError; }
    expect(err).toBeInstanceOf(VerifierError);
    expect([err!.program, err!.section, err!.errno]).toEqual(['prog', 'tc', 'EACCES']);
    const lines = err!.libbpfLog!.split('\n');
    expect(lines.slice(0, 2)).toEqual(["libbpf: prog 'prog': BPF program load failed: Permission denied", "libbpf: prog 'prog': -- BEGIN PROG LOAD LOG --"]);
    expect(lines.slice(-4)).toEqual(['R2 offset is outside of the packet', 'processed 3 insns (limit 1000000)', '-- END PROG LOAD LOG --', "libbpf: prog 'prog': failed to load: -13"]);
    // (a malformed object: the loader's section, no program)
    const bytes = new Uint8Array(readFileSync(`${dir}bpf/xdp_xsk.o`));
    let bad: NetError | undefined;
    try { emu.loadObject(bytes.slice(0, 200)); } catch (e) { bad = e as NetError; }
    expect(bad).toBeInstanceOf(NetError);
    expect(bad!.program).toBeUndefined();
    expect(bad!.libbpfLog).toBeUndefined();
  });
});
