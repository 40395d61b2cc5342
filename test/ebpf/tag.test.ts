import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../../src/ebpf/assembler.js';
import { loadObject } from '../../src/ebpf/elf.js';
import { Emulator } from '../../src/emulator.js';
import { kernelRefusal, kernelUnavailableReason } from '../helpers/kernel.js';

// A program's tag (bpftool prog show's `tag`) is the kernel's bpf_prog_calc_tag: the first
// 8 bytes of SHA-256 over the instructions with map-fd immediates zeroed. Held to this
// machine's kernel: every fixture program loaded in both (root, bpftool), and tags the
// kernel gave, kept here for machines without it.

const DIR = new URL('../fixtures/bpf/', import.meta.url).pathname;
const TYPES: Record<string, string> = { 'old_sections.o': 'xdp' };
const BPFTOOL_TYPE: Record<string, string> = { sched_cls: 'classifier', sched_act: 'action', xdp: 'xdp' };
/** Programs whose instructions libbpf fixes up against the running kernel (CO-RE into kernel structs, kfunc BTF ids): their tags are that kernel's. */
const KERNEL_SPECIFIC = new Set(['tc_netkit_scrub.o', 'kfunc_dynptr_tc.o', 'kfunc_dynptr_xdp.o']);
const reason = kernelUnavailableReason();

let emu: Emulator;
beforeAll(async () => {
  emu = await Emulator.create({});
});
afterAll(async () => {
  await emu.close();
});

describe('program tags', () => {
  it('as this kernel (6.18) gave them: a raw program, and object programs with maps, global data and subprograms', () => {
    // w0 = 2; exit
    expect(emu.loadProgram({ name: 'p', type: 'xdp', insns: assemble('mov32 %r0, 2\nexit') }).tag).toBe('d4f8542f2b42fac5');
    const tags = (f: string): Record<string, string> => Object.fromEntries([...emu.loadObject(readFileSync(DIR + f), { type: TYPES[f] }).programs].map(([n, p]) => [n, p.tag]));
    expect(tags('tc_counters.o')).toEqual({ count: 'e4ae2ae0f61ac99d' });
    expect(tags('globals.o')).toEqual({ mark_long: 'df96a53c33d9c426', egress_count: 'c67f8137cdd29084' });
    expect(tags('subprog.o')).toMatchObject({ cls_main: '6aa304f33cd1fc19', loop_sum: '6c6e3362efa0f13d' });
  });

  it.skipIf(reason !== undefined)(`every fixture program's tag is the kernel's (${reason ?? 'root, bpftool'})`, () => {
    let compared = 0;
    for (const f of readdirSync(DIR).filter((x) => /^[a-z_]+\.o$/.test(x) && !KERNEL_SPECIFIC.has(x))) {
      const parsed = loadObject(readFileSync(DIR + f), { type: TYPES[f] });
      if (kernelRefusal(DIR + f, parsed.programs[0]!.name, TYPES[f]) !== undefined) continue;
      const obj = emu.loadObject(readFileSync(DIR + f), { type: TYPES[f] });
      const pin = `/sys/fs/bpf/nkemu-tag-${process.pid}`;
      try {
        execFileSync('bpftool', ['prog', 'loadall', DIR + f, pin, 'type', BPFTOOL_TYPE[parsed.programs[0]!.type]!], { stdio: 'ignore' });
        for (const [name, p] of obj.programs) {
          const k = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', `${pin}/${name}`], { encoding: 'utf8' })) as { tag: string };
          expect(`${f} ${name} ${p.tag}`).toBe(`${f} ${name} ${k.tag}`);
          compared++;
        }
      } finally {
        spawnSync('rm', ['-rf', pin]);
      }
    }
    expect(compared).toBeGreaterThan(30);
  });
});
