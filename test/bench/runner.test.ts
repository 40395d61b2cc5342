import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  formatJson,
  formatRatio,
  formatTable,
  formatValue,
  median,
  pairRatios,
  parseCli,
  runChild,
  validateSuite,
  type BenchCase,
  type CaseResult,
  type Sample,
} from '../../bench/runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

function sample(c: string, proc: number, round: number, value: number, extra: Partial<Sample> = {}): Sample {
  return { bench: 'b', case: c, index: c === 'base' ? 0 : 1, metric: 'Mpps', unit: 'Mpps', higherIsBetter: true, proc, round, value, ...extra };
}

describe('median', () => {
  it('takes the middle of an odd count and the mean of the middle two of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });
  it('does not reorder its input', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
  it('rejects no values', () => {
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('pairRatios', () => {
  it('divides by the baseline measured in the same process and round', () => {
    const base = [sample('base', 0, 0, 10), sample('base', 0, 1, 20), sample('base', 1, 0, 40)];
    const c = [sample('c', 1, 0, 80), sample('c', 0, 1, 30), sample('c', 0, 0, 10)];
    expect(pairRatios(c, base)).toEqual([2, 1.5, 1]);
  });
  it('skips rounds the baseline has no sample for', () => {
    expect(pairRatios([sample('c', 2, 0, 5)], [sample('base', 0, 0, 1)])).toEqual([]);
  });
});

describe('aggregate', () => {
  it('reports the median value and the median of paired ratios, not the ratio of medians', () => {
    const samples = [
      sample('c', 0, 0, 30, { baseline: 'base', rme: 2 }),
      sample('base', 0, 0, 10, { rme: 1 }),
      sample('base', 0, 1, 100, { rme: 3 }),
      sample('c', 0, 1, 110, { baseline: 'base', rme: 4 }),
      sample('base', 1, 0, 20, { rme: 5 }),
      sample('c', 1, 0, 50, { baseline: 'base', rme: 6 }),
    ];
    const [base, c] = aggregate(samples);
    expect(base).toMatchObject({ case: 'base', value: 20, samples: 3, rme: 3 });
    expect(base!.ratio).toBeUndefined();
    // Ratios 3, 1.1, 2.5; ratio of medians would be 50 / 20 = 2.5.
    expect(c).toMatchObject({ case: 'c', value: 50, baseline: 'base', ratio: 2.5, ratioRange: [1.1, 3], samples: 3, rme: 4 });
  });
  it('adds a row per group after its bench\'s cases: the median of the group\'s ratios and their range', () => {
    const g = { group: 'g' };
    const r = aggregate([
      sample('base', 0, 0, 10),
      { ...sample('c', 0, 0, 5, { baseline: 'base', ...g }), index: 1 },
      { ...sample('d', 0, 0, 20, { baseline: 'base', ...g }), index: 2 },
      { ...sample('e', 0, 0, 40, { baseline: 'base', ...g }), index: 3 },
      { ...sample('f', 0, 0, 80, { baseline: 'base' }), index: 4 },
      sample('base', 0, 0, 1, { bench: 'a' }),
    ]);
    expect(r.map((x) => `${x.bench}/${x.case}`)).toEqual(['b/base', 'b/c', 'b/d', 'b/e', 'b/f', 'b/median: g', 'a/base']);
    // ratios 0.5, 2, 4 (f is in no group)
    expect(r[5]).toMatchObject({ metric: 'ratio', value: 2, unit: 'x', ratio: 2, ratioRange: [0.5, 4], samples: 3 });
  });
  it('keeps benches in the order seen and cases in suite order', () => {
    const r = aggregate([
      sample('c', 0, 0, 1, { bench: 'x' }),
      sample('base', 0, 0, 1, { bench: 'x' }),
      sample('base', 0, 0, 1, { bench: 'a' }),
    ]);
    expect(r.map((x) => `${x.bench}/${x.case}`)).toEqual(['x/base', 'x/c', 'a/base']);
  });
});

describe('parseCli', () => {
  it('has the documented defaults', () => {
    expect(parseCli(['xmit'])).toEqual({ mode: 'parent', names: ['xmit'], json: false, procs: 3, rounds: 3, time: 0.5, help: false });
  });
  it('reads every flag', () => {
    expect(parseCli(['a', '--json', 'b', '--procs', '5', '--rounds=2', '--time', '0.25'])).toEqual({
      mode: 'parent',
      names: ['a', 'b'],
      json: true,
      procs: 5,
      rounds: 2,
      time: 0.25,
      help: false,
    });
  });
  it('reads the child mode', () => {
    expect(parseCli(['--child', '--proc', '2', '--rounds', '4', '--time', '1', '/x/y.ts'])).toEqual({
      mode: 'child',
      file: '/x/y.ts',
      proc: 2,
      rounds: 4,
      time: 1,
    });
  });
  it('reads --only, for parent and child, and refuses a pattern that is no regular expression', () => {
    expect(parseCli(['a', '--only', 'tail_root'])).toMatchObject({ mode: 'parent', only: 'tail_root' });
    expect(parseCli(['--child', '--only', 'x$', '/x/y.ts'])).toMatchObject({ mode: 'child', only: 'x$' });
    expect(() => parseCli(['a', '--only', '('])).toThrow("--only must be a regular expression, got '('");
  });
  it('names the flag and the rule when a value is bad', () => {
    expect(() => parseCli(['a', '--procs', '0'])).toThrow("--procs must be a positive integer, got '0'");
    expect(() => parseCli(['a', '--rounds', '1.5'])).toThrow('--rounds must be a positive integer');
    expect(() => parseCli(['a', '--time', '0'])).toThrow('--time must be a positive number');
    expect(() => parseCli(['a', '--speed'])).toThrow(/--speed/);
  });
});

describe('validateSuite', () => {
  const ok = { name: 'a', metric: 'm', unit: 'u', higherIsBetter: true, run: () => 1, value: (w: number) => w };
  it('accepts timed and external cases', () => {
    expect(() => validateSuite({ name: 's', cases: [ok, { ...ok, name: 'e', run: undefined, value: undefined, external: () => 1 }] }, 'f')).not.toThrow();
  });
  it('rejects an unknown baseline, a duplicate name and a case that is neither kind', () => {
    expect(() => validateSuite({ name: 's', cases: [{ ...ok, baseline: 'z' }] }, 'f.ts')).toThrow(
      "f.ts: case 'a': baseline 'z' is not a case of this suite",
    );
    expect(() => validateSuite({ name: 's', cases: [ok, ok] }, 'f')).toThrow("case 'a': duplicate name");
    expect(() => validateSuite({ name: 's', cases: [{ ...ok, external: () => 1 }] }, 'f')).toThrow('either run() and value(), or external()');
    expect(() => validateSuite({ name: 's' }, 'f')).toThrow('cases must be a non-empty array');
  });
});

describe('runChild --only', () => {
  it('runs the matching cases and the baselines they name, nothing else', async () => {
    const ran: string[] = [];
    const mk = (name: string, baseline?: string): BenchCase => ({
      name, metric: 'm', unit: 'u', higherIsBetter: false, ...(baseline ? { baseline } : {}), external: () => { ran.push(name); return 1; },
    });
    const suite = { name: 's', cases: [mk('k'), mk('a', 'k'), mk('b', 'k'), mk('z')] };
    const seen: string[] = [];
    await runChild(suite, { proc: 0, rounds: 1, time: 0.01, only: '^a$' }, (x) => seen.push(x.case));
    expect(seen).toEqual(['k', 'a']);
    expect(ran).toEqual(['k', 'a']);
  });
});

describe('formatting', () => {
  const results: CaseResult[] = [
    { bench: 'xmit', case: 'ts 64B', metric: 'Mpps', value: 15.7845, unit: 'Mpps', higherIsBetter: true, samples: 9, rme: 1.234 },
    {
      bench: 'xmit',
      case: 'wasm 64B',
      metric: 'Mpps',
      value: 41.2345,
      unit: 'Mpps',
      higherIsBetter: true,
      baseline: 'ts 64B',
      ratio: 2.6123456,
      ratioRange: [2.5, 2.7],
      samples: 9,
    },
  ];
  it('rounds values to 3 significant digits and ratios to 2 decimals', () => {
    expect(formatValue(41.2345)).toBe('41.2');
    expect(formatValue(0.012345)).toBe('0.0123');
    expect(formatValue(232456.7)).toBe('232457');
    expect(formatRatio(2.6123)).toBe('2.61x');
    expect(formatRatio(0.001234)).toBe('0.0012x');
  });
  it('prints aligned columns with right-aligned numbers', () => {
    expect(formatTable(results)).toBe(
      [
        'bench  case      metric  value  unit  baseline  ratio         range',
        'xmit   ts 64B    Mpps     15.8  Mpps',
        'xmit   wasm 64B  Mpps     41.2  Mpps  ts 64B    2.61x  2.50x..2.70x',
      ].join('\n'),
    );
  });
  it('prints one JSON object per line, baseline and ratio only where one applies', () => {
    const lines = formatJson(results).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ bench: 'xmit', case: 'ts 64B', metric: 'Mpps', value: 15.7845, unit: 'Mpps', samples: 9, higherIsBetter: true, rme: 1.23 });
    expect(lines[1]).toEqual({
      bench: 'xmit',
      case: 'wasm 64B',
      metric: 'Mpps',
      value: 41.2345,
      unit: 'Mpps',
      baseline: 'ts 64B',
      ratio: 2.612,
      ratioRange: [2.5, 2.7],
      samples: 9,
      higherIsBetter: true,
    });
  });
});

// End to end through `npm run bench`, on the real suite in fixture-suite.ts.
describe('npm run bench', () => {
  const bench = (...args: string[]) =>
    spawnSync('npm', ['run', '--silent', 'bench', '--', ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NKEMU_BENCH_DIR: here },
    });
  const jsonLines = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('reports a ratio equal to value / baseline value when each case has one sample', () => {
    const r = bench('fixture-suite', '--json', '--procs', '1', '--rounds', '1', '--time', '0.05');
    expect(r.stderr).not.toMatch(/bench:/);
    expect(r.status).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines.map((l) => l.case)).toEqual(['f64 sum', 'u32 sum', 'f64 hand-timed']);
    for (const l of lines) {
      expect(l).toMatchObject({ bench: 'fixture', metric: 'Melem/s', unit: 'M/s', samples: 1, higherIsBetter: true });
      expect(typeof l.value).toBe('number');
      expect(l.value as number).toBeGreaterThan(0);
    }
    const [base, u32, ext] = lines;
    expect(base!.baseline).toBeUndefined();
    expect(base!.ratio).toBeUndefined();
    expect(typeof base!.rme).toBe('number');
    expect(ext!.rme).toBeUndefined();
    for (const l of [u32!, ext!]) {
      expect(l.baseline).toBe('f64 sum');
      // value and ratio are printed rounded: agree to within the rounding, relatively
      const want = (l.value as number) / (base!.value as number);
      expect(Math.abs((l.ratio as number) - want) / want).toBeLessThan(0.01);
    }
  });

  it('collects every process and round, and prints the table by default', () => {
    const j = bench('fixture-suite', '--json', '--procs', '2', '--rounds', '2', '--time', '0.02');
    expect(j.status).toBe(0);
    for (const l of jsonLines(j.stdout)) {
      expect(l.samples).toBe(4);
      if (l.ratio === undefined) continue;
      const [lo, hi] = l.ratioRange as [number, number];
      expect(l.ratio as number).toBeGreaterThanOrEqual(lo);
      expect(l.ratio as number).toBeLessThanOrEqual(hi);
    }
    const t = bench('fixture-suite', '--procs', '1', '--rounds', '1', '--time', '0.02');
    expect(t.status).toBe(0);
    const rows = t.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^bench\s+case\s+metric\s+value\s+unit\s+baseline\s+ratio\s+range$/);
    expect(rows.slice(1).map((row) => row.split(/\s{2,}/).slice(0, 2))).toEqual([
      ['fixture', 'f64 sum'],
      ['fixture', 'u32 sum'],
      ['fixture', 'f64 hand-timed'],
    ]);
    // (two decimals, or two significant digits below 0.01x: a loaded machine gets there)
    expect(rows[2]).toMatch(/  f64 sum\s+(\d+\.\d\d|0\.0*[1-9]\d?)x  +\S+x\.\.\S+x$/);
  });

  it('fails on an unknown bench and lists the available ones', () => {
    const r = bench('no-such-bench');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown bench 'no-such-bench'.*available: fixture-suite/);
    expect(r.stdout).toBe('');
  });
});
