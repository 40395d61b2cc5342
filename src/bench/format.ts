/**
 * A BenchReport as text: the terminal table (`formatTable`) and the JSON that CI
 * benchmark trackers read (`toJson`: github-action-benchmark's `customSmallerIsBetter`
 * format, one object per metric).
 */

import { basename } from 'node:path';
import type { BenchReport, Metric, RatioMetric, VariantResult } from './run.js';

/** `x` to `digits` significant digits. */
export function sig(x: number, digits: number): number {
  return Number(x.toPrecision(digits));
}

/** Three significant digits, no exponent; thousands as plain integers. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return String(Math.round(x));
  return String(sig(x, 3));
}

const ci = (m: Metric, f = num, unit = ''): string => `${f(m.median)}${unit} [${f(m.low)}, ${f(m.high)}]`;
/** A ratio: two decimals, or two significant digits below 0.01. */
export const ratio = (x: number): string => (x >= 0.01 ? x.toFixed(2) : String(sig(x, 2)));
const mpps = (x: number): string => num(x / 1e6);

function columns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Drops by reason as percentages of the packets sent: `XDP_DROP 31.3%`. */
export function dropsText(v: VariantResult): string {
  const e = Object.entries(v.drops);
  return e.length ? e.map(([k, f]) => `${k} ${num(f * 100)}%`).join(', ') : 'none';
}

/** What was measured, in one or two lines. */
export function describe(r: BenchReport): string {
  const traffic = r.traffic.map((t) => `'${t}'`).join(', ');
  const level = r.variants[0]?.nsPerPacket.level;
  return [
    `nkemu bench ${r.scriptName}: traffic ${traffic}${r.pcap ? ` replaying ${basename(r.pcap)}` : ''}, ${r.packetsPerOp} packets per operation`,
    `${r.procs} process${r.procs === 1 ? '' : 'es'} x ${r.rounds} round${r.rounds === 1 ? '' : 's'}; medians [${level !== undefined ? `${Math.floor(level * 1000) / 10}%` : ''} confidence interval]`,
  ].join('\n');
}

const RATIO_COLS: RatioMetric[] = ['ns/packet', 'ns/run', 'ns/insn', 'kernel ns/run'];

/** The report as the terminal shows it. */
export function formatTable(r: BenchReport): string {
  const out = [describe(r), ''];
  const kernel = r.variants.some((v) => v.kernelNsPerRun);
  const prog = r.variants.some((v) => v.nsPerRun);
  const header = ['variant', 'Mpps', 'ns/packet', ...(prog ? ['ns/run', 'ns/insn'] : []), ...(kernel ? ['kernel ns/run', 'nkemu/kernel'] : []), 'drops'];
  const rows = r.variants.map((v) => [
    v.name, ci(v.pps, mpps), ci(v.nsPerPacket),
    ...(prog ? [v.nsPerRun ? ci(v.nsPerRun) : '-', v.nsPerInsn ? ci(v.nsPerInsn) : '-'] : []),
    ...(kernel ? [v.kernelNsPerRun ? ci(v.kernelNsPerRun) : '-', v.vsKernel ? ci(v.vsKernel, ratio, 'x') : '-'] : []),
    dropsText(v),
  ]);
  out.push(columns(header, rows));
  if (r.ratios.length) {
    const base = r.ratios[0]!.baseline;
    const cols = RATIO_COLS.filter((m) => r.ratios.some((x) => x.metric === m));
    out.push('', `paired ratios against ${base}, per process and round (below 1: faster)`);
    const names = [...new Set(r.ratios.map((x) => x.variant))];
    out.push(columns(['variant', ...cols], names.map((n) => [n, ...cols.map((m) => {
      const x = r.ratios.find((y) => y.variant === n && y.metric === m);
      return x ? ci(x.ratio, ratio, 'x') : '-';
    })])));
  }
  if (r.kernel.asked) {
    const absent = r.variants.flatMap((v) => (v.kernelAbsent !== undefined && v.kernelAbsent !== r.kernel.absent ? [`${v.name}: ${v.kernelAbsent}`] : []));
    if (r.kernel.absent !== undefined) out.push('', `no kernel column: ${r.kernel.absent}`);
    for (const a of absent) out.push(`no kernel column for ${a}`);
  }
  return out.join('\n');
}

/**
 * One entry of the `--json` array (github-action-benchmark `customSmallerIsBetter`:
 * `name`, `unit`, `value`, `range`, `extra`; every metric is one where smaller is
 * better — packets per second is 1e9 / ns per packet and so is left out).
 */
export interface BenchMetricJson {
  /** `VARIANT: METRIC` (`xdp_filter_v1: ns/packet`), or `VARIANT/BASELINE: METRIC` for a paired ratio. */
  name: string;
  /** `ns/packet`, `ns/run`, `ns/insn`, `x` (a ratio) or `%` (drops). */
  unit: string;
  /** The median over every (process, round). */
  value: number;
  /** `±H`: the larger distance from the median to an end of its confidence interval. */
  range: string;
  /** The interval and the samples in words, for a tracker's tooltip. */
  extra: string;
  /** The confidence interval's ends, and the coverage it achieves (e.g. 0.961). */
  low: number;
  high: number;
  level: number;
  samples: number;
  variant: string;
  metric: string;
  /** For paired ratios: the variant divided by. */
  baseline?: string;
}

function entry(name: string, variant: string, metric: string, m: Metric, unit: string, scale = 1, baseline?: string): BenchMetricJson {
  const s = (x: number): number => sig(x * scale, 6);
  const half = Math.max(m.high - m.median, m.median - m.low) * scale;
  return {
    name, unit, value: s(m.median), range: `±${sig(half, 3)}`,
    extra: `${Math.floor(m.level * 1000) / 10}% CI [${num(m.low * scale)}, ${num(m.high * scale)}], ${m.samples} samples`,
    low: s(m.low), high: s(m.high), level: sig(m.level, 4), samples: m.samples, variant, metric,
    ...(baseline !== undefined ? { baseline } : {}),
  };
}

/** The report as the `--json` array. */
export function toJson(r: BenchReport): BenchMetricJson[] {
  const out: BenchMetricJson[] = [];
  for (const v of r.variants) {
    out.push(entry(`${v.name}: ns/packet`, v.name, 'ns/packet', v.nsPerPacket, 'ns/packet'));
    if (v.nsPerRun) out.push(entry(`${v.name}: ns/run`, v.name, 'ns/run', v.nsPerRun, 'ns/run'));
    if (v.nsPerInsn) out.push(entry(`${v.name}: ns/insn`, v.name, 'ns/insn', v.nsPerInsn, 'ns/insn'));
    if (v.kernelNsPerRun) out.push(entry(`${v.name}: kernel ns/run`, v.name, 'kernel ns/run', v.kernelNsPerRun, 'ns/run'));
    if (v.vsKernel) out.push(entry(`${v.name}: nkemu/kernel ns/run`, v.name, 'nkemu/kernel ns/run', v.vsKernel, 'x'));
    for (const [k, f] of Object.entries(v.drops)) {
      out.push({ name: `${v.name}: drops ${k}`, unit: '%', value: sig(f * 100, 6), range: '±0', extra: 'share of all packets sent, over every round', low: sig(f * 100, 6), high: sig(f * 100, 6), level: 1, samples: v.nsPerPacket.samples, variant: v.name, metric: `drops ${k}` });
    }
  }
  for (const x of r.ratios) out.push(entry(`${x.variant}/${x.baseline}: ${x.metric}`, x.variant, x.metric, x.ratio, 'x', 1, x.baseline));
  return out;
}
