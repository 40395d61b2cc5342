/**
 * Programs for devmap and cpumap entries (sections `xdp/devmap`, `xdp/cpumap`): they load
 * with their expected attach type, a devmap one may read `xdp_md.egress_ifindex` (a plain
 * XDP or a cpumap program may not: `invalid bpf_context access off=20 size=4`), and they
 * are neither test-run (EINVAL, as bpf_prog_test_run_xdp refuses them) nor attached to a
 * device (dev_xdp_attach's EINVAL and extack). The verdicts are the kernel's, checked live
 * as root with bpftool (the section's own attach type: no `type` argument).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { NetError } from '../../src/errors.js';
import { kernelUnavailableReason, refusalReason } from '../helpers/kernel.js';

const DIR = new URL('../fixtures/attach/', import.meta.url).pathname;
const reason = kernelUnavailableReason();

/** Object → the kernel's verdict: the programs it loads, or the refusal line. */
const KERNEL: Record<string, string[] | string> = {
  devmap_prog: ['on_cpu', 'on_egress'],
  egress_plain: 'invalid bpf_context access off=20 size=4',
  egress_cpumap: 'invalid bpf_context access off=20 size=4',
};

let emu: Emulator;
beforeAll(async () => { emu = await Emulator.create({ seed: 1 }); });
afterAll(async () => { await emu?.close(); });

function nkemu(name: string): string[] | string {
  try {
    return [...emu.loadObject(readFileSync(`${DIR}${name}.o`)).programs.keys()].sort();
  } catch (e) {
    return (e as NetError).log ?? String(e);
  }
}

describe('programs for devmap and cpumap entries', () => {
  it.each(Object.keys(KERNEL))('%s: the kernel\'s verdict', (name) => {
    expect(nkemu(name)).toEqual(KERNEL[name]);
  });

  it('their expected attach types; no test run and no device for them (EINVAL, the kernel\'s extack)', () => {
    const obj = emu.loadObject(readFileSync(`${DIR}devmap_prog.o`));
    const dm = obj.programs.get('on_egress')!;
    const cpu = obj.programs.get('on_cpu')!;
    expect([dm.type, dm.expectedAttachType, cpu.expectedAttachType]).toEqual(['xdp', 'xdp_devmap', 'xdp_cpumap']);
    const err = (f: () => unknown): [string, string | undefined] => {
      try { f(); } catch (e) { return [(e as NetError).errno, (e as NetError).extack]; }
      return ['none', undefined];
    };
    expect(err(() => emu.testRun(dm, { data: new Uint8Array(64) }))).toEqual(['EINVAL', undefined]);
    expect(err(() => emu.testRun(cpu, { data: new Uint8Array(64) }))).toEqual(['EINVAL', undefined]);
    emu.addNic({ name: 'eth0' });
    expect(err(() => emu.setXdp('init', 'eth0', dm))).toEqual(['EINVAL', 'BPF_XDP_DEVMAP programs can not be attached to a device']);
    expect(err(() => emu.setXdp('init', 'eth0', cpu))).toEqual(['EINVAL', 'BPF_XDP_CPUMAP programs can not be attached to a device']);
    // (raw instructions with the attach type: BPF_PROG_LOAD's expected_attach_type)
    const insns = obj.programs.get('on_egress')!.insns;
    expect(err(() => emu.loadProgram({ name: 'x', type: 'xdp', insns }))[0]).toBe('EACCES');
    expect(emu.loadProgram({ name: 'x', type: 'xdp', insns, expectedAttachType: 'xdp_devmap' }).expectedAttachType).toBe('xdp_devmap');
  });
});

describe.skipIf(reason !== undefined)(`the same objects in this machine's kernel (${reason ?? 'root, bpftool'})`, () => {
  it.each(Object.keys(KERNEL))('%s', (name) => {
    const pin = `/sys/fs/bpf/nkemu-devmap-${process.pid}-${name}`;
    const r = spawnSync('bpftool', ['prog', 'loadall', `${DIR}${name}.o`, pin], { encoding: 'utf8' });
    try {
      const got = r.status === 0 ? execFileSync('ls', [pin], { encoding: 'utf8' }).trim().split('\n').sort() : refusalReason(`${r.stdout}\n${r.stderr}`);
      expect(got).toEqual(KERNEL[name]);
      if (r.status === 0) {
        // (no test run for them in the kernel either)
        const pkt = join(mkdtempSync(join(tmpdir(), 'nkemu-devmap-')), 'pkt');
        writeFileSync(pkt, new Uint8Array(64));
        const run = spawnSync('bpftool', ['prog', 'run', 'pinned', `${pin}/on_egress`, 'data_in', pkt, 'repeat', '1'], { encoding: 'utf8' });
        rmSync(pkt, { force: true });
        expect(run.stderr).toMatch(/Invalid argument/);
      }
    } finally {
      rmSync(pin, { recursive: true, force: true });
    }
  });
});
