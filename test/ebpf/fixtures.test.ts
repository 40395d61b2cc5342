import { readFileSync } from 'node:fs';
import { comparable, mapRows, putElem } from '../helpers/recorded.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { CASES, CPUS, objectFile, type Recorded } from '../fixtures/bpf/cases.js';
import { kernelRefusal, kernelRun, kernelUnavailableReason } from '../helpers/kernel.js';

const DIR = new URL('../fixtures/bpf/', import.meta.url).pathname;
const recorded = JSON.parse(readFileSync(DIR + 'expected.json', 'utf8')) as { kernel: string; recorded: Record<string, Recorded> };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let emu: Emulator;
beforeAll(async () => {
  emu = await Emulator.create({});
});
afterAll(async () => {
  await emu.close();
});

type Engine = 'compiled' | 'interpreter';

/** nkemu's run of a case on one engine: the same shape as the recording. */
function nkemu(c: (typeof CASES)[number], cpu: (typeof CPUS)[number], engine: Engine = 'compiled', repeat = 1): Recorded & { executed?: number } {
  let loaded;
  try {
    loaded = emu.loadObject(readFileSync(DIR + objectFile(c.object, cpu)), { programs: [c.program, ...(c.with ?? [])], type: c.type });
  } catch (e) {
    return { retval: 0, dataOut: '', error: `load: ${(e as Error).message}` };
  }
  try {
    return runLoaded(c, loaded, engine, repeat);
  } finally {
    // (a case's maps may be large: the LB's ring takes 268 MB)
    emu.closeObject(loaded);
  }
}

function runLoaded(c: (typeof CASES)[number], loaded: ReturnType<Emulator['loadObject']>, engine: Engine, repeat: number): Recorded & { executed?: number } {
  const prog = loaded.programs.get(c.program)!;
  for (const e of c.mapsIn ?? []) putElem(loaded.maps, e);
  if (engine === 'compiled' && prog.jit.slot === 0) return { retval: 0, dataOut: '', error: `not compiled: ${prog.jit.reason}` };
  let r;
  try {
    r = emu.testRun(prog, { data: c.packet, ctx: c.ctx, interpreter: engine === 'interpreter', repeat });
  } catch (e) {
    return { retval: 0, dataOut: '', error: `run: ${(e as Error).message}` };
  }
  if (r.fault) return { retval: 0, dataOut: '', error: `fault: ${r.fault}` };
  const out: Recorded & { executed?: number } = { retval: r.retval, dataOut: hex(r.dataOut) };
  if (repeat > 1) out.executed = r.executed;
  if (c.ctx) out.ctxOut = hex(r.ctxOut);
  if (c.maps) out.maps = mapRows(loaded.maps, Array.isArray(c.maps) ? c.maps : undefined);
  return out;
}


/** Cases nkemu cannot run yet, with the reason; the test checks it refuses them plainly at load. */
const UNSUPPORTED: Record<string, RegExp> = {};
/** Objects the recording tool (bpftool with libbpf ≥ 1.0) refuses to open but nkemu loads: legacy `maps` sections. */
const LIBBPF_REFUSES = new Set(['legacy_cls']);

describe.each(['compiled', 'interpreter'] as const)(`fixture corpus against the kernel's recording (${recorded.kernel}), %s`, (engine) => {
  const runs = CASES.flatMap((c) => CPUS.map((cpu) => ({ c, cpu, key: `${c.name}@${cpu}` }))).filter((x) => recorded.recorded[x.key]);
  it('covers every case at every CPU version', () => {
    expect(runs.length).toBe(CASES.length * CPUS.length);
  });
  it.each(runs.map((r) => [r.key, r]))('%s', (_key, { c, cpu, key }) => {
    const want = recorded.recorded[key]!;
    const got = nkemu(c, cpu, engine);
    if (UNSUPPORTED[c.program]) {
      expect(got.error, key).toMatch(UNSUPPORTED[c.program]!);
      return;
    }
    if (LIBBPF_REFUSES.has(c.program)) {
      expect(want.error, key).toMatch(/failed to open object file/);
      expect(got.error, key).toBeUndefined();
      return;
    }
    if (want.error) {
      // The kernel refused it; nkemu must refuse too (the reasons are named differently).
      expect(got.error ?? 'accepted', key).not.toBe('accepted');
      return;
    }
    expect(got.error, key).toBeUndefined();
    expect(got.retval, `${key} retval`).toBe(want.retval);
    expect(got.dataOut, `${key} packet`).toBe(want.dataOut);
    if (want.ctxOut !== undefined) expect(got.ctxOut, `${key} ctx`).toBe(want.ctxOut);
    if (want.maps) {
      const mine = comparable(got.maps)!;
      for (const [name, rows] of Object.entries(comparable(want.maps)!)) {
        if (name === 'xsks') continue; // user space cannot read xskmap values (the recording has none)
        if (name === 'chain') continue; // a prog array's values are the kernel's program ids
        expect(mine[name] ?? [], `${key} map ${name}`).toEqual(rows);
      }
    }
  });
});

describe('repeated test runs (tc programs run them on their batch code)', () => {
  it('every case, 37 repetitions: the same result, packet, context, maps and instruction count on both engines', () => {
    let batched = 0;
    for (const c of CASES) {
      const compiled = nkemu(c, 'v3', 'compiled', 37);
      const interpreted = nkemu(c, 'v3', 'interpreter', 37);
      expect({ case: c.name, ...compiled }).toEqual({ case: c.name, ...interpreted });
      if (!c.object.startsWith('xdp')) batched++;
    }
    expect(batched).toBeGreaterThan(10);
  });
});

describe.skipIf(kernelUnavailableReason() !== undefined)('live: kernel and nkemu side by side', () => {
  it('the same programs on new packets agree (return value and packet)', () => {
    const refused: string[] = [];
    let ran = 0;
    for (const c of CASES.filter((x) => !x.maps && !x.mapsIn && !x.ctx && !UNSUPPORTED[x.program] && !LIBBPF_REFUSES.has(x.program) && x.name !== 'drop_port/short')) {
      // Kernel builds differ (one refuses bpf_xdp_adjust_meta in XDP): note it and go on.
      const why = kernelRefusal(DIR + objectFile(c.object, 'v3'), c.program, c.type);
      if (why !== undefined) { refused.push(`${c.name}: refused by this kernel: ${why}`); continue; }
      ran++;
      const p = c.packet.slice();
      p[p.length - 1] ^= 0xff;
      const k = kernelRun(DIR + objectFile(c.object, 'v3'), c.program, p, 1, { type: c.type });
      const loaded = emu.loadObject(readFileSync(DIR + objectFile(c.object, 'v3')), { programs: [c.program, ...(c.with ?? [])], type: c.type });
      const r = emu.testRun(loaded.programs.get(c.program)!, { data: p });
      expect([r.retval, hex(r.dataOut)], c.name).toEqual([k.retval, hex(k.dataOut)]);
    }
    if (refused.length) console.warn(`skipped on this kernel:\n  ${refused.join('\n  ')}`);
    expect(ran).toBeGreaterThan(0);
  });

  // Repeated runs are where nkemu's tc programs take their batch code (tail calls finished
  // inside the batch loop, loops run in rounds, inline lookups and packet helpers): the
  // kernel's BPF_PROG_TEST_RUN with the same repeat, on the same skb, is the reference.
  it('repeated runs (nkemu\'s batch code) of the tc shapes the ebpf bench measures, tail calls included, agree: return value, packet, context and maps', () => {
    const names = /^(tail_root|nat|rewrite|csum_words_tc|flow_hash|count|fix_csum|drop_port|sum_payload)\//;
    const refused: string[] = [];
    let ran = 0;
    // (a case the recording's kernel refused to run, as drop_port/short, has no reference)
    for (const c of CASES.filter((x) => names.test(x.name) && !recorded.recorded[`${x.name}@v3`]?.error)) {
      const obj = DIR + objectFile(c.object, 'v3');
      const why = kernelRefusal(obj, c.program, c.type);
      if (why !== undefined) { refused.push(`${c.name}: refused by this kernel: ${why}`); continue; }
      ran++;
      const k = kernelRun(obj, c.program, c.packet, 37, { ctxIn: c.ctx, maps: c.maps, mapsIn: c.mapsIn, type: c.type });
      const got = nkemu(c, 'v3', 'compiled', 37);
      expect(got.error, c.name).toBeUndefined();
      expect([got.retval, got.dataOut], c.name).toEqual([k.retval, hex(k.dataOut)]);
      if (k.ctxOut) expect(got.ctxOut, `${c.name} ctx`).toBe(hex(k.ctxOut));
      for (const [name, rows] of Object.entries(comparable(k.maps) ?? {})) {
        if (name === 'chain') continue; // a prog array's values are the kernel's program ids
        expect(comparable(got.maps)![name] ?? [], `${c.name} map ${name}`).toEqual(rows);
      }
    }
    if (refused.length) console.warn(`skipped on this kernel:\n  ${refused.join('\n  ')}`);
    expect(ran).toBeGreaterThan(10);
  });
});
