/**
 * CO-RE relocations without a target, as libbpf handles them: an existence check answers 0,
 * any other relocation poisons its instruction (`call 0xbad2310`); the verifier refuses the
 * program only if a poisoned instruction is reached, and the refusal reads as libbpf
 * rewrites it. Checked against this machine's libbpf and kernel where they are present.
 */
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Emulator, NetError } from '../../src/index.js';
import { loadObject } from '../../src/ebpf/elf.js';
import { decode } from '../../src/ebpf/insn.js';
import { VerifierError } from '../../src/ebpf/verifier.js';
import { kernelAvailable, kernelRefusal } from '../helpers/kernel.js';

const DIR = new URL('../fixtures/bpf/', import.meta.url).pathname;
const SPEC = '<byte_off> [6] struct __sk_buff___x.no_such_field (0:1 @ offset 4)';

describe('CO-RE relocations without a target', () => {
  it('poisons the accesses behind existence checks, as libbpf does (both slots of an lddw)', () => {
    const p = loadObject(readFileSync(DIR + 'core_poison.o')).programs[0]!;
    // (the slots libbpf 1.1 reports substituting for this object: relos #1, #3, #6)
    expect([...p.corePoison!.keys()].sort((a, b) => a - b)).toEqual([4, 14, 23, 24]);
    for (const pc of p.corePoison!.keys()) expect(decode(p.insns, pc)).toMatchObject({ code: 0x85, dst: 0, src: 0, off: 0, imm: 0xbad2310 });
    expect(p.corePoison!.get(23)).toBe('<enumval_value> [21] enum nkemu_absent_enum::NKEMU_ABSENT_V = 7');
  });

  it('a program that never reaches them loads and runs (the value recorded from the kernel)', async () => {
    const emu = await Emulator.create({ workers: 0 });
    try {
      const prog = emu.loadObject(readFileSync(DIR + 'core_poison.o')).programs.get('guarded')!;
      const pkt = new Uint8Array(64);
      pkt[12] = 0x08;
      // 1 + 10 * BPF_FUNC_skb_set_tstamp (192) + field_exists(len) + sizeof(bpf_tunnel_key) << 16
      expect(emu.testRun(prog, { data: pkt }).retval).toBe(1 + 1920 + 1 + (44 << 16));
    } finally {
      await emu.close();
    }
  });

  it('a reached poisoned access is refused with libbpf\'s rewrite of the verifier line', async () => {
    const emu = await Emulator.create({ workers: 0 });
    try {
      let err: unknown;
      try {
        emu.loadObject(readFileSync(DIR + 'core_poison_reached.o'));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NetError);
      expect((err as NetError).errno).toBe('EINVAL');
      expect((err as Error).message).toContain(`0: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation ${SPEC}`);
      const v = err as VerifierError;
      expect(v.verifierLog).toBe(`0: R1=ctx() R10=fp0\n0: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation ${SPEC}\nprocessed 1 insns (limit 1000000)`);
      expect(emu.bpf.progs.size).toBe(0);
    } finally {
      await emu.close();
    }
  });

  it.skipIf(!kernelAvailable())('poisons exactly the slots libbpf poisons, with its descriptions (bpftool -d)', () => {
    const pin = `/sys/fs/bpf/nkemu-core-${process.pid}`;
    const out = spawnSync('bpftool', ['-d', 'prog', 'loadall', DIR + 'core_poison.o', pin, 'type', 'tc'], { encoding: 'utf8' });
    rmSync(pin, { recursive: true, force: true });
    const specs = new Map<string, string>();
    const libbpf = new Map<number, string>();
    for (const line of `${out.stdout}\n${out.stderr}`.split('\n')) {
      const d = /relo #(\d+): (<[a-z_0-9]+> .*)$/.exec(line);
      if (d && !specs.has(d[1]!)) specs.set(d[1]!, d[2]!);
      const p = /relo #(\d+): substituting insn #(\d+) w\/ invalid insn/.exec(line);
      if (p) libbpf.set(Number(p[2]), specs.get(p[1]!)!);
    }
    expect(libbpf.size).toBeGreaterThan(0);
    const p = loadObject(readFileSync(DIR + 'core_poison.o')).programs[0]!;
    expect(new Map([...p.corePoison!].sort((a, b) => a[0] - b[0]))).toEqual(new Map([...libbpf].sort((a, b) => a[0] - b[0])));
  });

  it.skipIf(!kernelAvailable())('the kernel refuses the same object with the same last line, and loads the guarded one', () => {
    expect(kernelRefusal(DIR + 'core_poison_reached.o')).toBe(`failed to resolve CO-RE relocation ${SPEC}`);
    expect(kernelRefusal(DIR + 'core_poison.o')).toBeUndefined();
  });
});
