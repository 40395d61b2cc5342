/**
 * `bench()`: checks the options, sets every variant up once here (so a broken script or
 * object fails fast, with its line), then runs `procs` measuring processes one after
 * another (child.ts, each `rounds` rounds of every variant interleaved) and reduces their
 * samples to a `BenchReport`: per variant medians with confidence intervals, and paired
 * ratios against the first variant measured in the same (process, round).
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BenchError, resolveConfig, type BenchConfig, type BenchOptions } from './config.js';
import { KernelProgram, kernelUnavailable } from './kernel.js';
import type { RoundSample } from './measure.js';
import { Scenario } from './scenario.js';
import { estimate, pairRatios, type Estimate } from './stats.js';

/** A metric over the rounds: median, interval, and the per-round values it came from. */
export interface Metric extends Estimate {
  unit: string;
  /** One value per (process, round), in process then round order. */
  values: number[];
}

export interface VariantResult {
  name: string;
  /** The object and its measured program (absent for a bench of the setup alone). */
  object?: string;
  program?: string;
  section?: string;
  type?: string;
  /** Packets per second through the path. */
  pps: Metric;
  nsPerPacket: Metric;
  /** BPF_PROG_TEST_RUN in nkemu on the test frames. */
  nsPerRun?: Metric;
  nsPerInsn?: Metric;
  /** The kernel's BPF_PROG_TEST_RUN on the same frames. */
  kernelNsPerRun?: Metric;
  /** nkemu ns/run ÷ kernel ns/run, paired per round. */
  vsKernel?: Metric;
  /** Why there is no kernel column for this variant (when --kernel was asked for). */
  kernelAbsent?: string;
  /** Drops by reason: the fraction of all packets sent over the rounds, 0..1. */
  drops: Record<string, number>;
  packets: number;
}

export type RatioMetric = 'ns/packet' | 'ns/run' | 'ns/insn' | 'kernel ns/run';

/** variant ÷ baseline for one metric, paired per (process, round); below 1: the variant is faster. */
export interface RatioResult {
  variant: string;
  baseline: string;
  metric: RatioMetric;
  ratio: Metric;
}

export interface BenchReport {
  /** Schema version of this object and of the `--json` output. */
  version: 1;
  scriptName: string;
  traffic: string[];
  pcap?: string;
  procs: number;
  rounds: number;
  /** Benchmark.js seconds per variant per round. */
  time: number;
  packetsPerOp: number;
  repeat: number;
  testFrames: number;
  kernel: { asked: boolean; absent?: string };
  variants: VariantResult[];
  ratios: RatioResult[];
  /** Where it ran: Node version, platform, CPU count, date (ISO). */
  env: { node: string; platform: string; cpus: number; date: string };
}

const here = fileURLToPath(import.meta.url);

/** The child script beside this one; under TypeScript sources (tests), run through tsx. */
function childCommand(): { file: string; execArgv: string[] } {
  if (here.endsWith('.ts')) {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return { file: here.replace(/run\.ts$/, 'child.ts'), execArgv: ['--import', pathToFileURL(tsx).href] };
  }
  return { file: here.replace(/run\.js$/, 'child.js'), execArgv: [] };
}

function runProc(cfgFile: string, proc: number): Promise<RoundSample[]> {
  const { file, execArgv } = childCommand();
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [...execArgv, file, cfgFile, String(proc)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const samples: RoundSample[] = [];
    let rest = '';
    let err = '';
    const take = (line: string): void => {
      if (line.startsWith('{"sample":')) samples.push((JSON.parse(line) as { sample: RoundSample }).sample);
      else if (line !== '') process.stderr.write(`${line}\n`);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      lines.forEach(take);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => { err += chunk; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      take(rest);
      if (code === 0) resolveRun(samples);
      else reject(new BenchError(`measuring process ${proc + 1} ${signal ? `was killed by ${signal}` : `failed`}: ${err.trim() || `exit status ${code}`}`));
    });
  });
}

/** Sets each variant up once and runs one operation; fills in why the kernel column is absent. */
async function dryRun(cfg: BenchConfig): Promise<number> {
  if (cfg.kernel) cfg.kernelAbsent = kernelUnavailable();
  let perOp = 0;
  for (const v of cfg.variants.length ? cfg.variants : [undefined]) {
    const sc = await Scenario.create(cfg, v);
    try {
      perOp = sc.packetsPerOp;
      if ((await sc.run()) === 0) throw new BenchError(`${v ? `${v.name}: ` : ''}the traffic sent no packets (is the device up?)`);
      if (sc.prog) sc.testRun(1);
      if (v && cfg.kernel && cfg.kernelAbsent === undefined) {
        try {
          new KernelProgram(v.object, v.program, v.type, sc.testFrames.slice(0, 1), 'probe').close();
        } catch (e) {
          v.kernelAbsent = (e as Error).message;
        }
      }
    } finally {
      await sc.close();
    }
  }
  return perOp;
}

function metric(values: number[], unit: string): Metric {
  return { ...estimate(values), unit, values };
}

/** Reduces the processes' samples to the report. */
export function aggregate(cfg: BenchConfig, samples: readonly RoundSample[], packetsPerOp: number): BenchReport {
  const names = cfg.variants.length ? cfg.variants.map((v) => v.name) : ['setup'];
  const byVariant = names.map((_, i) => samples.filter((s) => s.variant === i).sort((a, b) => a.proc - b.proc || a.round - b.round));
  const variants = names.map((name, i): VariantResult => {
    const ss = byVariant[i]!;
    const v = cfg.variants[i];
    const packets = ss.reduce((a, s) => a + s.packets, 0);
    const drops: Record<string, number> = {};
    for (const s of ss) for (const [k, n] of Object.entries(s.drops)) drops[k] = (drops[k] ?? 0) + n;
    for (const k of Object.keys(drops)) drops[k] = drops[k]! / Math.max(1, packets);
    const r: VariantResult = {
      name,
      pps: metric(ss.map((s) => 1e9 / s.nsPerPacket), 'packets/s'),
      nsPerPacket: metric(ss.map((s) => s.nsPerPacket), 'ns/packet'),
      drops,
      packets,
    };
    if (v) Object.assign(r, { object: v.object, program: v.program, section: v.section, type: v.type });
    const opt = (pick: (s: RoundSample) => number | undefined, unit: string): Metric | undefined => {
      const xs = ss.flatMap((s) => { const x = pick(s); return x === undefined ? [] : [x]; });
      return xs.length ? metric(xs, unit) : undefined;
    };
    const nsPerRun = opt((s) => s.nsPerRun, 'ns/run');
    const nsPerInsn = opt((s) => s.nsPerInsn, 'ns/insn');
    const kernel = opt((s) => s.kernelNsPerRun, 'ns/run');
    if (nsPerRun) r.nsPerRun = nsPerRun;
    if (nsPerInsn) r.nsPerInsn = nsPerInsn;
    if (kernel) {
      r.kernelNsPerRun = kernel;
      const vs = ss.flatMap((s) => (s.nsPerRun !== undefined && s.kernelNsPerRun ? [s.nsPerRun / s.kernelNsPerRun] : []));
      if (vs.length) r.vsKernel = metric(vs, 'x');
    }
    const absent = v?.kernelAbsent ?? cfg.kernelAbsent;
    if (cfg.kernel && absent !== undefined) r.kernelAbsent = absent;
    return r;
  });
  const ratios: RatioResult[] = [];
  const fields: [RatioMetric, (s: RoundSample) => number | undefined][] = [
    ['ns/packet', (s) => s.nsPerPacket], ['ns/run', (s) => s.nsPerRun], ['ns/insn', (s) => s.nsPerInsn], ['kernel ns/run', (s) => s.kernelNsPerRun],
  ];
  for (let i = 1; i < names.length; i++) {
    for (const [m, pick] of fields) {
      const as = (ss: RoundSample[]): { proc: number; round: number; value: number }[] =>
        ss.flatMap((s) => { const x = pick(s); return x === undefined ? [] : [{ proc: s.proc, round: s.round, value: x }]; });
      const rs = pairRatios(as(byVariant[i]!), as(byVariant[0]!));
      if (rs.length) ratios.push({ variant: names[i]!, baseline: names[0]!, metric: m, ratio: metric(rs, 'x') });
    }
  }
  return {
    version: 1, scriptName: cfg.scriptName, traffic: cfg.traffic, ...(cfg.pcap !== undefined ? { pcap: cfg.pcap } : {}),
    procs: cfg.procs, rounds: cfg.rounds, time: cfg.time, packetsPerOp, repeat: cfg.repeat, testFrames: cfg.testFrames,
    kernel: { asked: cfg.kernel, ...(cfg.kernelAbsent !== undefined ? { absent: cfg.kernelAbsent } : {}) },
    variants, ratios,
    env: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, date: new Date().toISOString() },
  };
}

/**
 * Benchmarks a setup with its program variants: see `BenchOptions` for the defaults.
 * Rejects with a BenchError (bad options, unreadable files, a failing setup line, no
 * packets), or an error from a measuring process.
 */
export async function bench(o: BenchOptions): Promise<BenchReport> {
  const cfg = resolveConfig(o);
  const perOp = await dryRun(cfg);
  const dir = mkdtempSync(join(tmpdir(), 'nkemu-bench-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(cfg));
    const samples: RoundSample[] = [];
    for (let p = 0; p < cfg.procs; p++) {
      o.onProgress?.(`bench: process ${p + 1}/${cfg.procs}`);
      samples.push(...(await runProc(file, p)));
    }
    return aggregate(cfg, samples, perOp);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
