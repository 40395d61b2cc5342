/**
 * The program corpus (issue 17, test/fixtures/corpus): ≥ 40 programs in the shapes real
 * projects use, each run on the shared packet set (≥ 20 packets) with every map read back
 * after every run, compared with the kernel's recording (expected.json there) on both
 * engines: return value, packet out, and every map's contents.
 */
import { existsSync, readFileSync } from 'node:fs';
import { comparable, mapRows, putElem } from '../helpers/recorded.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import type { FixtureCase, Recorded } from '../fixtures/bpf/cases.js';
import { CORPUS_CASES, PACKETS, PROGRAMS } from '../fixtures/corpus/cases.js';

const DIR = new URL('../fixtures/corpus/', import.meta.url).pathname;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const missing = !existsSync(DIR + 'expected.json')
  ? 'test/fixtures/corpus/expected.json is absent (npm run fixtures:record)'
  : PROGRAMS.map((p) => `${p.object}.o`).find((o) => !existsSync(DIR + o));
if (missing) console.log(`corpus: skipped, ${missing.endsWith('.o') ? `${missing} is not built (npm run fixtures:build)` : missing}`);

const recorded = missing ? { kernel: '', recorded: {} as Record<string, Recorded> } : JSON.parse(readFileSync(DIR + 'expected.json', 'utf8')) as { kernel: string; recorded: Record<string, Recorded> };

/**
 * Runs where nkemu is known to differ from the kernel, with the reason. Each is still run
 * and must still differ (so a fix shows up here).
 */
const KNOWN_DIFFERENCES: Record<string, string> = {};

let emu: Emulator;
beforeAll(async () => {
  if (!missing) emu = await Emulator.create({});
});
afterAll(async () => {
  await emu?.close();
});

type Engine = 'compiled' | 'interpreter';
const objects = new Map<string, Uint8Array>();
const object = (name: string): Uint8Array => {
  if (!objects.has(name)) objects.set(name, new Uint8Array(readFileSync(DIR + `${name}.o`)));
  return objects.get(name)!;
};

/** nkemu's run of a case, in the recording's shape (maps: non-zero entries, keys sorted). */
function nkemu(c: FixtureCase, engine: Engine, repeat = 1): Recorded & { executed?: number } {
  let loaded;
  try {
    loaded = emu.loadObject(object(c.object), { programs: [c.program] });
  } catch (e) {
    return { retval: 0, dataOut: '', error: `load: ${(e as Error).message}` };
  }
  const prog = loaded.programs.get(c.program)!;
  for (const e of c.mapsIn ?? []) putElem(loaded.maps, e);
  if (engine === 'compiled' && prog.jit.slot === 0) return { retval: 0, dataOut: '', error: `not compiled: ${prog.jit.reason}` };
  let r;
  try {
    r = emu.testRun(prog, { data: c.packet, interpreter: engine === 'interpreter', repeat });
  } catch (e) {
    return { retval: 0, dataOut: '', error: `run: ${(e as Error).message}` };
  }
  if (r.fault) return { retval: 0, dataOut: '', error: `fault: ${r.fault}` };
  const out: Recorded & { executed?: number } = { retval: r.retval, dataOut: hex(r.dataOut), maps: mapRows(loaded.maps) };
  if (repeat > 1) out.executed = r.executed;
  return out;
}


/** The differences between nkemu's run and the recording, as messages (none: they agree). */
function differences(c: FixtureCase, want: Recorded, got: Recorded): string[] {
  if (want.error) return got.error ? [] : [`the kernel refused it (${want.error}); nkemu ran it`];
  if (got.error) return [got.error];
  const out: string[] = [];
  if (got.retval !== want.retval) out.push(`retval ${got.retval}, kernel ${want.retval}`);
  if (got.dataOut !== want.dataOut) out.push(`packet ${got.dataOut}, kernel ${want.dataOut}`);
  const mine = comparable(got.maps)!;
  for (const [name, rows] of Object.entries(comparable(want.maps)!)) {
    if (name === 'xsks_map' || name.startsWith('jmp_') || name.startsWith('ringbuf')) continue; // user space cannot read these maps' values
    const a = JSON.stringify(mine[name] ?? []);
    if (a !== JSON.stringify(rows)) out.push(`map ${name} ${a}, kernel ${JSON.stringify(rows)}`);
  }
  return out;
}

describe.skipIf(!!missing)(`program corpus against the kernel's recording (${recorded.kernel})`, () => {
  it('has ≥ 40 programs, each on the whole packet set (≥ 20 packets), maps read back, every case recorded', () => {
    expect(PROGRAMS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(PROGRAMS.map((p) => p.program)).size).toBe(PROGRAMS.length);
    expect(Object.keys(PACKETS).length).toBeGreaterThanOrEqual(20);
    for (const p of PROGRAMS) {
      const cases = CORPUS_CASES.filter((c) => c.program === p.program);
      expect(cases.length, p.program).toBe(Object.keys(PACKETS).length);
      // at least 20 packets the kernel runs it on (it refuses frames shorter than ETH_HLEN)
      expect(cases.filter((c) => recorded.recorded[`${c.name}@v3`] && !recorded.recorded[`${c.name}@v3`]!.error).length, p.program).toBeGreaterThanOrEqual(20);
    }
    for (const c of CORPUS_CASES) {
      expect(c.maps, c.name).toBe(true);
      expect(recorded.recorded[`${c.name}@v3`], `${c.name} recorded`).toBeDefined();
    }
    for (const k of Object.keys(KNOWN_DIFFERENCES)) expect(CORPUS_CASES.some((c) => c.name === k), k).toBe(true);
  });

  describe.each(['compiled', 'interpreter'] as const)('%s', (engine) => {
    it.each(PROGRAMS.map((p) => [p.program, p] as const))('%s on every packet', (program) => {
      const failures: string[] = [];
      for (const c of CORPUS_CASES.filter((x) => x.program === program)) {
        const want = recorded.recorded[`${c.name}@v3`]!;
        const diff = differences(c, want, nkemu(c, engine));
        if (KNOWN_DIFFERENCES[c.name]) {
          if (!diff.length) failures.push(`${c.name}: listed as a known difference (${KNOWN_DIFFERENCES[c.name]}) but now agrees`);
          continue;
        }
        if (diff.length) failures.push(`${c.name}: ${diff.join('; ')}`);
      }
      expect(failures).toEqual([]);
    });
  });

  it('repeated runs (11 repetitions: tc programs run them on their batch code): the same result, packet, maps and instruction count on both engines', () => {
    const failures: string[] = [];
    for (const c of CORPUS_CASES) {
      const a = JSON.stringify(nkemu(c, 'compiled', 11));
      const b = JSON.stringify(nkemu(c, 'interpreter', 11));
      if (a !== b) failures.push(`${c.name}: compiled ${a.slice(0, 300)} interpreter ${b.slice(0, 300)}`);
    }
    expect(failures).toEqual([]);
    // (every case twice, 11 runs each: tens of seconds on a busy 2-core machine)
  }, 300_000);
});
