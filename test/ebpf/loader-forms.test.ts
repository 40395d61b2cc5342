/**
 * Objects from other toolchains and loaders (issue 25, test/fixtures/loader): each form
 * loads and runs in nkemu as the kernel-side loaders take it.
 *
 * - `.relaX` (SHT_RELA) code relocations: libbpf skips the section ("elf: skipping section"),
 *   iproute2's legacy loader relocates from SHT_REL only; both load the code unrelocated.
 * - programs named by untyped (STT_NOTYPE) symbols, or by none: libbpf 1.x finds no program;
 *   iproute2's legacy loader loads the section whole.
 * - static (STB_LOCAL) programs: libbpf 1.x refuses the object; iproute2's legacy loader loads
 *   by section.
 *
 * The kernel's verdicts (libbpf through bpftool and the installed ip/tc, the legacy loader
 * through an ip/tc built without libbpf) are recorded in expected.json there
 * (scripts/record-loader-forms.ts); as root the real loaders are run again and compared.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { loadObject } from '../../src/ebpf/elf.js';
import { LDDW, decode, slots } from '../../src/ebpf/insn.js';
import { FORM_CASES, OBJECTS, PACKETS, type FormCase, type LoaderVerdict, type Recording } from '../fixtures/loader/cases.js';
import { installedIproute2, legacyIproute2, loadWithBpftool, loadWithIproute2, loadersUnavailableReason } from '../helpers/loaders.js';

const DIR = new URL('../fixtures/loader/', import.meta.url).pathname;
const SCRIPT = new URL('../../scripts/loader-forms.mjs', import.meta.url).pathname;
const recorded = JSON.parse(readFileSync(DIR + 'expected.json', 'utf8')) as Recording;
const bytes = (name: string): Uint8Array => new Uint8Array(readFileSync(DIR + name));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let emu: Emulator;
beforeAll(async () => {
  emu = await Emulator.create({});
});
afterAll(async () => {
  await emu.close();
});

/** nkemu's verdict on a case, in the recording's shape. */
function nkemu(c: FormCase): LoaderVerdict {
  let loaded;
  try {
    loaded = emu.loadObject(bytes(c.object), { programs: [c.program] });
  } catch (e) {
    return { loaded: false, reason: (e as Error).message };
  }
  try {
    const prog = loaded.programs.get(c.program)!;
    const runs: NonNullable<LoaderVerdict['runs']> = {};
    for (const [name, data] of Object.entries(PACKETS)) {
      const r = emu.testRun(prog, { data });
      runs[name] = { retval: r.retval, dataOut: hex(r.dataOut) };
    }
    return { loaded: true, runs };
  } finally {
    emu.closeObject(loaded);
  }
}

/**
 * nkemu against the real loaders' verdicts on one case: where either loads it, nkemu loads
 * it and runs it as they do (they agree where both load it); where both refuse it, nkemu
 * refuses it with the kernel's line.
 */
function expectAsLoaders(c: FormCase, got: LoaderVerdict, k: { libbpf: LoaderVerdict; legacy?: LoaderVerdict }): void {
  const loaders = [k.libbpf, ...(k.legacy ? [k.legacy] : [])];
  const accepting = loaders.filter((v) => v.loaded);
  if (accepting.length > 0) {
    expect(got.reason, c.name).toBeUndefined();
    for (const a of accepting) expect(got.runs, c.name).toEqual(a.runs);
    return;
  }
  expect(got.loaded, c.name).toBe(false);
  for (const v of loaders) expect(got.reason, c.name).toContain(v.reason);
}

describe(`object forms against the real loaders' recording (${recorded.kernel}; ${recorded.loaders.libbpf}; legacy: ${recorded.loaders.legacy})`, () => {
  it('covers every case', () => {
    expect(Object.keys(recorded.cases).sort()).toEqual(FORM_CASES.map((c) => c.name).sort());
  });

  it.each(FORM_CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expectAsLoaders(c, nkemu(c), recorded.cases[c.name]!);
  });

  it('what each loader made of each form (the behaviour nkemu follows, as recorded)', () => {
    const r = recorded;
    // .relaX: both skip it and load the code as it is; the unrelocated map lddw is refused by the verifier.
    expect(r.bpftool['rela.o']).toEqual({ loaded: false, reason: 'R1 type=scalar expected=map_ptr' });
    expect([r.cases['rela/xdp']!.libbpf.reason, r.cases['rela/xdp']!.legacy.reason]).toEqual(['R1 type=scalar expected=map_ptr', 'R1 type=scalar expected=map_ptr']);
    expect([r.cases['rela/tc']!.libbpf.loaded, r.cases['rela/tc']!.legacy.loaded]).toEqual([true, true]);
    // No STT_FUNC program symbol: libbpf 1.x finds no program; the legacy loader loads the section.
    for (const o of ['notype.o', 'nosym.o']) expect(r.bpftool[o]!.reason).toBe("Error: object file doesn't contain any bpf program");
    for (const name of ['notype/xdp', 'notype/classifier', 'nosym/xdp', 'nosym/classifier']) {
      const c = FORM_CASES.find((x) => x.name === name)!;
      expect(r.cases[name]!.libbpf.reason).toBe(`object file doesn't contain sec ${c.section}`);
      expect(r.cases[name]!.legacy.loaded).toBe(true);
    }
    // Static programs: libbpf 1.x refuses the object at open; the legacy loader loads it.
    expect(r.bpftool['static_prog.o']!.reason).toBe("libbpf: sec 'xdp': program 'xdp_static' is static and not supported");
    for (const name of ['static/xdp', 'static/classifier']) {
      expect(r.cases[name]!.libbpf.reason).toBe("libbpf: sec 'xdp': program 'xdp_static' is static and not supported");
      expect(r.cases[name]!.legacy.loaded).toBe(true);
    }
  });
});

describe('the forms in nkemu\'s ELF loader', () => {
  it('.relaX is skipped: no relocation applied, the map lddw stays `r1 = 0`, the verifier refuses it as the kernel\'s does', () => {
    const o = loadObject(bytes('rela.o'));
    const count = o.programs.find((p) => p.name === 'count_frames')!;
    expect(count.relocations).toEqual([]);
    const lddws = [];
    for (let pc = 0; pc < slots(count.insns); pc++) {
      const i = decode(count.insns, pc);
      if (i.code === LDDW) lddws.push({ pc, src: i.src, imm: i.imm });
    }
    expect(lddws).toEqual([{ pc: 4, src: 0, imm: 0 }]);
    // The same program from the SHT_REL object the fixture was rewritten from: relocated.
    const rel = loadObject(bytes('rela.src.o')).programs.find((p) => p.name === 'count_frames')!;
    expect(rel.relocations).toEqual([{ pc: 4, kind: 'map', map: 0, offset: 0 }]);
    expect(() => emu.loadObject(bytes('rela.o'), { programs: ['count_frames'] })).toThrow(/^6: R1 type=scalar expected=map_ptr$/);
  });

  it('no STT_FUNC symbol: the whole section is the program, named by its global symbol, else by its section', () => {
    for (const [obj, names] of [['notype.o', ['xdp_old', 'cls_old']], ['nosym.o', ['xdp', 'classifier']]] as const) {
      const o = loadObject(bytes(obj));
      expect(o.programs.map((p) => [p.name, p.section, p.type]), obj).toEqual([[names[0], 'xdp', 'xdp'], [names[1], 'classifier', 'sched_cls']]);
      // (the local NOTYPE labels clang leaves in the section, LBB0_4 and such, split nothing)
      const src = loadObject(bytes('old_symbols.src.o'));
      for (const [k, p] of o.programs.entries()) expect(hex(p.insns), `${obj} ${p.name}`).toBe(hex(src.programs[k]!.insns));
    }
  });

  it('a static program loads under its function name', () => {
    const o = loadObject(bytes('static_prog.o'));
    expect(o.programs.map((p) => [p.name, p.section, p.type])).toEqual([['xdp_static', 'xdp', 'xdp'], ['cls_static', 'classifier', 'sched_cls']]);
  });

  it('the committed objects are what scripts/loader-forms.mjs makes of their sources', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'nkemu-forms-'));
    try {
      for (const [op, src, out] of [['rela', 'rela.src.o', 'rela.o'], ['notype', 'old_symbols.src.o', 'notype.o'], ['nosym', 'old_symbols.src.o', 'nosym.o']]) {
        execFileSync(process.execPath, [SCRIPT, op!, DIR + src, join(tmp, out!)]);
        expect(hex(readFileSync(join(tmp, out!))), out).toBe(hex(bytes(out!)));
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

const why = loadersUnavailableReason();
const legacy = why ? undefined : legacyIproute2();
const installed = why ? undefined : installedIproute2();
if (why) console.log(`loader-forms: kernel part skipped: ${why}`);
else if (!legacy) console.log('loader-forms: iproute2 legacy loader part skipped: no ip/tc built without libbpf ($NKEMU_IPROUTE2_LEGACY or /var/tmp/nkemu-iproute2-legacy; scripts/build-iproute2-legacy.sh builds one)');

describe.skipIf(why !== undefined)('live: the real loaders on this kernel and nkemu side by side', () => {
  it('bpftool prog load (libbpf, whole objects) refuses each as recorded', () => {
    for (const o of OBJECTS) expect(loadWithBpftool(DIR + o), o).toEqual(recorded.bpftool[o]);
  });

  it.each(FORM_CASES.map((c) => [c.name, c] as const))('%s: libbpf (installed ip/tc) and nkemu', (_name, c) => {
    const libbpf = loadWithIproute2(installed!, DIR + c.object, c.section, c.type, PACKETS);
    expect(libbpf.loaded, `${c.name}: ${installed!.version}`).toBe(recorded.cases[c.name]!.libbpf.loaded);
    const got = nkemu(c);
    if (libbpf.loaded) expect(got.runs, c.name).toEqual(libbpf.runs);
    else if (!recorded.cases[c.name]!.legacy.loaded) expectAsLoaders(c, got, { libbpf });
  });

  it.skipIf(!legacy).each(FORM_CASES.map((c) => [c.name, c] as const))('%s: iproute2\'s legacy loader and nkemu', (_name, c) => {
    const old = loadWithIproute2(legacy!, DIR + c.object, c.section, c.type, PACKETS);
    expect(old.loaded, c.name).toBe(recorded.cases[c.name]!.legacy.loaded);
    expectAsLoaders(c, nkemu(c), { libbpf: recorded.cases[c.name]!.libbpf, legacy: old });
  });
});
