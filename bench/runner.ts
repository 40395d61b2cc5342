/**
 * The shared bench runner: what a bench file declares (`BenchSuite`, `BenchCase`), the
 * measurement each child process does (`runChild`), and the pure parts the parent uses
 * (argument parsing, median, paired ratios, table and JSON output). The CLI is run.ts.
 *
 * Ratios are computed per (process, round) pair and then reduced to a median: two cases
 * measured next to each other share the machine's state at that moment, so their ratio
 * is far less noisy on this 2-core machine than a ratio of two medians.
 */

import Benchmark from 'benchmark';
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { num, ratio, sig } from '../src/bench/format.js';
import { median, pairRatios } from '../src/bench/stats.js';

// (one implementation of both, shared with `nkemu bench`)
export { median, pairRatios };

/** Fields every case declares. */
export interface CaseCommon {
  /** Unique within the suite; the `case` column. */
  name: string;
  /** What is reported, e.g. 'Mpps' or 'ns/pkt'. */
  metric: string;
  unit: string;
  /** Kept in the JSON output so readers know which way a ratio is good. */
  higherIsBetter: boolean;
  /** Name of another case of the same suite; this case's ratio is value / baseline's value. */
  baseline?: string;
  /**
   * With `baseline`: the report adds a row `median: GROUP` after the suite's cases, the
   * median of the ratios of the cases in the group (its range: their smallest and largest).
   */
  group?: string;
  /** Awaited once per process, before the first round (all cases' setups run first). */
  setup?(): Promise<void> | void;
  /** Awaited once per process after the last round, in reverse case order. */
  teardown?(): Promise<void> | void;
}

/** A case timed by Benchmark.js. */
export interface TimedCase extends CaseCommon {
  /** One measured operation; returns the work it did (e.g. packets), > 0. */
  run(): number;
  /** Converts `work` done in `seconds` into the metric, e.g. `rate(1e6)` for Mpps. */
  value(work: number, seconds: number): number;
}

/**
 * A case measured by other means in the same run (e.g. the kernel's BPF_PROG_TEST_RUN
 * time printed by bpftool): called once per round at its place in the interleaving.
 */
export interface ExternalCase extends CaseCommon {
  /** Returns the metric's value, > 0. */
  external(): Promise<number> | number;
}

export type BenchCase = TimedCase | ExternalCase;

/** What `export default` of bench/<name>.ts must be. */
export interface BenchSuite {
  name: string;
  cases: BenchCase[];
}

/** Identity, for type inference in bench files: `export default defineSuite({...})`. */
export function defineSuite(suite: BenchSuite): BenchSuite {
  return suite;
}

/** `value` for a rate: work per second divided by `scale` (1e6 for Mpps). */
export function rate(scale: number): (work: number, seconds: number) => number {
  return (work, seconds) => work / seconds / scale;
}

/**
 * `external` for a case measured by a command: runs `file args` (no shell) and returns
 * `parse(stdout)`. Rejects with the command's stderr when it fails.
 */
export function externalCommand(
  file: string,
  args: readonly string[],
  parse: (stdout: string) => number,
): () => Promise<number> {
  return () =>
    new Promise((resolve, reject) => {
      execFile(file, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || err.message}`));
        else resolve(parse(stdout));
      });
    });
}

/** One (case, round) result of one process; a child prints each as `{"sample": ...}`. */
export interface Sample {
  bench: string;
  case: string;
  /** Position in the suite, so the parent reports cases in declaration order. */
  index: number;
  metric: string;
  unit: string;
  higherIsBetter: boolean;
  baseline?: string;
  group?: string;
  proc: number;
  round: number;
  value: number;
  /** Benchmark.js's relative margin of error, percent; timed cases only. */
  rme?: number;
}

/** One line of the report. */
export interface CaseResult {
  bench: string;
  case: string;
  metric: string;
  /** Median over all processes and rounds. */
  value: number;
  unit: string;
  higherIsBetter: boolean;
  baseline?: string;
  /** Median of the per-(process, round) ratios value / baseline value. */
  ratio?: number;
  /** Smallest and largest of those ratios. */
  ratioRange?: [number, number];
  samples: number;
  /** Median rme, percent; timed cases only. */
  rme?: number;
}

/** Reduces the samples of any number of benches to one result per case. */
export function aggregate(samples: readonly Sample[]): CaseResult[] {
  const groups = new Map<string, Sample[]>();
  const key = (bench: string, name: string): string => `${bench}\0${name}`;
  for (const s of samples) {
    const k = key(s.bench, s.case);
    const g = groups.get(k);
    if (g) g.push(s);
    else groups.set(k, [s]);
  }
  const benchOrder = [...new Set(samples.map((s) => s.bench))];
  const ordered = [...groups.values()].sort(
    (a, b) => benchOrder.indexOf(a[0]!.bench) - benchOrder.indexOf(b[0]!.bench) || a[0]!.index - b[0]!.index,
  );
  const results = ordered.map((g) => {
    const first = g[0]!;
    const r: CaseResult = {
      bench: first.bench,
      case: first.case,
      metric: first.metric,
      value: median(g.map((s) => s.value)),
      unit: first.unit,
      higherIsBetter: first.higherIsBetter,
      samples: g.length,
    };
    if (first.baseline !== undefined) {
      r.baseline = first.baseline;
      const ratios = pairRatios(g, groups.get(key(first.bench, first.baseline)) ?? []);
      if (ratios.length > 0) {
        r.ratio = median(ratios);
        r.ratioRange = [Math.min(...ratios), Math.max(...ratios)];
      }
    }
    const rmes = g.flatMap((s) => (s.rme === undefined ? [] : [s.rme]));
    if (rmes.length > 0) r.rme = median(rmes);
    return r;
  });
  // Each group's row after its bench's last case.
  const out: CaseResult[] = [];
  for (const [i, r] of results.entries()) {
    out.push(r);
    if (results[i + 1]?.bench === r.bench) continue;
    const groups = new Map<string, number[]>();
    for (const g of ordered) {
      const first = g[0]!;
      const ratio = results.find((x) => x.bench === first.bench && x.case === first.case)?.ratio;
      if (first.bench !== r.bench || first.group === undefined || ratio === undefined) continue;
      const list = groups.get(first.group) ?? [];
      list.push(ratio);
      groups.set(first.group, list);
    }
    for (const [name, ratios] of groups) {
      out.push({
        bench: r.bench, case: `median: ${name}`, metric: 'ratio', value: median(ratios), unit: 'x', higherIsBetter: false,
        ratio: median(ratios), ratioRange: [Math.min(...ratios), Math.max(...ratios)], samples: ratios.length,
      });
    }
  }
  return out;
}

/** Three significant digits, without exponents for large values (as `nkemu bench` prints them). */
export const formatValue = num;

export function formatRatio(x: number): string {
  return `${ratio(x)}x`;
}

/** Aligned columns `bench case metric value unit baseline ratio`; numbers right-aligned. */
export function formatTable(results: readonly CaseResult[]): string {
  const header = ['bench', 'case', 'metric', 'value', 'unit', 'baseline', 'ratio', 'range'];
  const right = new Set([3, 6, 7]);
  const rows = results.map((r) => [
    r.bench,
    r.case,
    r.metric,
    formatValue(r.value),
    r.unit,
    r.baseline ?? '',
    r.ratio === undefined ? '' : formatRatio(r.ratio),
    r.ratioRange ? `${formatRatio(r.ratioRange[0])}..${formatRatio(r.ratioRange[1])}` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One JSON object per line; values rounded to 6 significant digits, ratios to 4. */
export function formatJson(results: readonly CaseResult[]): string {
  return results
    .map((r) => {
      const o: Record<string, unknown> = {
        bench: r.bench,
        case: r.case,
        metric: r.metric,
        value: sig(r.value, 6),
        unit: r.unit,
      };
      if (r.baseline !== undefined) o.baseline = r.baseline;
      if (r.ratio !== undefined) o.ratio = sig(r.ratio, 4);
      if (r.ratioRange) o.ratioRange = r.ratioRange.map((x) => sig(x, 4));
      o.samples = r.samples;
      o.higherIsBetter = r.higherIsBetter;
      if (r.rme !== undefined) o.rme = sig(r.rme, 3);
      return JSON.stringify(o);
    })
    .join('\n');
}

export interface ParentArgs {
  mode: 'parent';
  names: string[];
  json: boolean;
  procs: number;
  rounds: number;
  /** Benchmark.js maxTime per case per round, seconds. */
  time: number;
  help: boolean;
  /** Only the cases whose name matches (and the baselines they name). */
  only?: string;
}

export interface ChildArgs {
  mode: 'child';
  /** Absolute path of the bench file. */
  file: string;
  proc: number;
  rounds: number;
  time: number;
  only?: string;
}

export const USAGE =
  'usage: npm run bench -- NAME [NAME...] [--json] [--procs N (3)] [--rounds R (3)] [--time S (0.5)] [--only REGEX]';

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${text}'`);
  return n;
}

function positiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number of seconds, got '${text}'`);
  return n;
}

/** Parses run.ts's arguments (after the script path); throws with the offending flag. */
export function parseCli(argv: readonly string[]): ParentArgs | ChildArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      procs: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      time: { type: 'string', default: '0.5' },
      help: { type: 'boolean', short: 'h', default: false },
      child: { type: 'boolean', default: false },
      proc: { type: 'string', default: '0' },
      only: { type: 'string' },
    },
  });
  const rounds = positiveInt('rounds', values.rounds);
  if (values.only !== undefined) {
    try {
      new RegExp(values.only);
    } catch {
      throw new Error(`--only must be a regular expression, got '${values.only}'`);
    }
  }
  const only = values.only === undefined ? {} : { only: values.only };
  const time = positiveNumber('time', values.time);
  if (values.child) {
    if (positionals.length !== 1) throw new Error('--child takes exactly one bench file');
    const proc = Number(values.proc);
    if (!Number.isInteger(proc) || proc < 0) throw new Error(`--proc must be a non-negative integer, got '${values.proc}'`);
    return { mode: 'child', file: positionals[0]!, proc, rounds, time, ...only };
  }
  return {
    mode: 'parent',
    names: positionals,
    json: values.json,
    procs: positiveInt('procs', values.procs),
    rounds,
    time,
    help: values.help,
    ...only,
  };
}

function isTimed(c: BenchCase): c is TimedCase {
  return !('external' in c);
}

/** Checks a bench file's default export; the message names the suite, case and field. */
export function validateSuite(x: unknown, where: string): BenchSuite {
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (typeof x !== 'object' || x === null) fail('default export is not a BenchSuite object');
  const s = x as Partial<BenchSuite>;
  if (typeof s.name !== 'string' || s.name === '') fail('suite name must be a non-empty string');
  if (!Array.isArray(s.cases) || s.cases.length === 0) fail('cases must be a non-empty array');
  const names = new Set<string>();
  for (const c of s.cases!) {
    if (typeof c !== 'object' || c === null || typeof c.name !== 'string' || c.name === '')
      fail('every case needs a non-empty name');
    const at = `case '${c.name}'`;
    if (names.has(c.name)) fail(`${at}: duplicate name`);
    names.add(c.name);
    if (typeof c.metric !== 'string' || typeof c.unit !== 'string') fail(`${at}: metric and unit must be strings`);
    if (typeof c.higherIsBetter !== 'boolean') fail(`${at}: higherIsBetter must be a boolean`);
    const external = 'external' in c && typeof c.external === 'function';
    const timed = 'run' in c && typeof c.run === 'function' && 'value' in c && typeof c.value === 'function';
    if (external === timed) fail(`${at}: needs either run() and value(), or external()`);
  }
  for (const c of s.cases!) {
    if (c.baseline === undefined) continue;
    if (c.baseline === c.name) fail(`case '${c.name}': baseline is the case itself`);
    if (!names.has(c.baseline)) fail(`case '${c.name}': baseline '${c.baseline}' is not a case of this suite`);
  }
  return s as BenchSuite;
}

function checkPositive(what: string, x: number): number {
  if (!Number.isFinite(x) || x <= 0) throw new Error(`${what} gave ${x}, expected a finite number > 0`);
  return x;
}

/** Times one case for one round through Benchmark.js. */
function measureTimed(c: TimedCase, time: number): { value: number; rme: number } {
  let work = 0;
  let calls = 0;
  // Work is summed over every call Benchmark.js makes (calibration included) so that a
  // run() whose work varies is averaged over the same calls the timing covers.
  const fn = (): void => {
    work += c.run();
    calls++;
  };
  const b = new Benchmark(c.name, fn, { maxTime: time, minTime: time / 10, minSamples: 5, initCount: 1 });
  b.run();
  if (b.error) throw b.error;
  if (b.aborted || calls === 0) throw new Error(`case '${c.name}': Benchmark.js aborted`);
  const perOp = checkPositive(`case '${c.name}': run()`, work / calls);
  const value = checkPositive(`case '${c.name}': value()`, c.value(perOp, b.stats.mean));
  return { value, rme: b.stats.rme };
}

/** The cases whose name matches `re`, and the baselines they are measured against. */
function pick(cases: BenchCase[], re: RegExp): BenchCase[] {
  const want = new Set(cases.filter((c) => re.test(c.name)).flatMap((c) => [c.name, ...(c.baseline === undefined ? [] : [c.baseline])]));
  return cases.filter((c) => want.has(c.name));
}

/**
 * One child process: setup, `rounds` rounds of every case interleaved, teardown. The
 * case order is reversed on every other (process + round), so that no case always runs
 * first (cold caches, turbo) or right after the same neighbour.
 */
export async function runChild(
  all: BenchSuite,
  opts: { proc: number; rounds: number; time: number; only?: string },
  emit: (s: Sample) => void,
): Promise<void> {
  const suite = opts.only === undefined ? all : { ...all, cases: pick(all.cases, new RegExp(opts.only)) };
  const done: BenchCase[] = [];
  try {
    for (const c of suite.cases) {
      await c.setup?.();
      done.push(c);
    }
    for (let round = 0; round < opts.rounds; round++) {
      const order = suite.cases.map((c, index) => ({ c, index }));
      if ((opts.proc + round) % 2 === 1) order.reverse();
      for (const { c, index } of order) {
        const m = isTimed(c)
          ? measureTimed(c, opts.time)
          : { value: checkPositive(`case '${c.name}': external()`, await c.external()), rme: undefined };
        const s: Sample = {
          bench: suite.name,
          case: c.name,
          index,
          metric: c.metric,
          unit: c.unit,
          higherIsBetter: c.higherIsBetter,
          proc: opts.proc,
          round,
          value: m.value,
        };
        if (c.baseline !== undefined) s.baseline = c.baseline;
        if (c.group !== undefined) s.group = c.group;
        if (m.rme !== undefined) s.rme = m.rme;
        emit(s);
      }
    }
  } finally {
    for (const c of done.reverse()) await c.teardown?.();
  }
}
