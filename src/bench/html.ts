/**
 * `--html FILE`: the report as one self-contained HTML page (inline CSS and SVG, no
 * script, nothing fetched), so it opens offline and can be attached to a CI run. Charts:
 * per metric, each variant's per-round values as dots with the median and its confidence
 * interval; the paired ratios the same way around a line at 1. The report's JSON is
 * embedded (`<script type="application/json" id="nkemu-bench">`) for tools.
 */

import { basename } from 'node:path';
import { describe, dropsText, formatTable, num } from './format.js';
import type { BenchReport, Metric } from './run.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

interface Row {
  label: string;
  metric: Metric;
  color: string;
}

/** A "nice" axis end and step covering [0, max] (1, 2 or 5 times a power of ten). */
function axis(lo: number, hi: number): { lo: number; hi: number; step: number } {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / 5;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  return { lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step };
}

/**
 * One dot-plot: a row per variant (or ratio), its values as dots, a bar over the
 * confidence interval, a tick at the median; `ref` draws a reference line (1 for ratios).
 */
function dotPlot(title: string, unit: string, rows: Row[], kind: string, ref?: number): string {
  const W = 760;
  const left = 190;
  const right = 30;
  const rowH = 34;
  const top = 34;
  const H = top + rows.length * rowH + 36;
  const all = rows.flatMap((r) => [...r.metric.values, r.metric.low, r.metric.high]);
  let lo = Math.min(...all, ref ?? Infinity);
  const hi = Math.max(...all, ref ?? -Infinity);
  if (ref === undefined) lo = Math.min(0, lo);
  const ax = axis(lo, hi);
  const x = (v: number): number => left + ((v - ax.lo) / (ax.hi - ax.lo || 1)) * (W - left - right);
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="18" class="title">${esc(title)} (${esc(unit)})</text>`);
  for (let t = ax.lo; t <= ax.hi + ax.step / 2; t += ax.step) {
    const tx = x(t).toFixed(1);
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${top - 6}" y2="${H - 30}" class="grid"/><text x="${tx}" y="${H - 14}" class="tick">${esc(num(Number(t.toPrecision(6))))}</text>`);
  }
  if (ref !== undefined) parts.push(`<line x1="${x(ref).toFixed(1)}" x2="${x(ref).toFixed(1)}" y1="${top - 6}" y2="${H - 30}" class="ref"/>`);
  rows.forEach((r, i) => {
    const cy = top + i * rowH + rowH / 2;
    const m = r.metric;
    parts.push(`<g class="row" data-label="${esc(r.label)}" data-median="${m.median}" data-low="${m.low}" data-high="${m.high}">`);
    parts.push(`<text x="${left - 10}" y="${cy + 4}" class="label">${esc(r.label)}</text>`);
    parts.push(`<rect class="ci" x="${x(m.low).toFixed(1)}" y="${cy - 7}" width="${Math.max(1, x(m.high) - x(m.low)).toFixed(1)}" height="14" fill="${r.color}" fill-opacity="0.18" stroke="${r.color}"><title>${esc(`${r.label}: ${Math.floor(m.level * 1000) / 10}% confidence interval ${num(m.low)} to ${num(m.high)} ${unit}`)}</title></rect>`);
    m.values.forEach((v, k) => {
      // (dots spread a little vertically so equal values stay visible)
      const dy = ((k % 5) - 2) * 2;
      parts.push(`<circle class="sample" cx="${x(v).toFixed(1)}" cy="${(cy + dy).toFixed(1)}" r="3" fill="${r.color}" fill-opacity="0.7"><title>${esc(`${r.label}: ${num(v)} ${unit}`)}</title></circle>`);
    });
    parts.push(`<line class="median" x1="${x(m.median).toFixed(1)}" x2="${x(m.median).toFixed(1)}" y1="${cy - 11}" y2="${cy + 11}" stroke="#000" stroke-width="2.5"><title>${esc(`${r.label}: median ${num(m.median)} ${unit}`)}</title></line>`);
    parts.push('</g>');
  });
  return `<figure><svg class="chart" data-kind="${esc(kind)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg></figure>`;
}

/** The report as a self-contained HTML page. */
export function toHtml(r: BenchReport): string {
  const color = new Map(r.variants.map((v, i) => [v.name, PALETTE[i % PALETTE.length]!]));
  const charts: string[] = [];
  const per = (title: string, unit: string, kind: string, pick: (v: BenchReport['variants'][number]) => Metric | undefined): void => {
    const rows = r.variants.flatMap((v) => { const m = pick(v); return m ? [{ label: v.name, metric: m, color: color.get(v.name)! }] : []; });
    if (rows.length) charts.push(dotPlot(title, unit, rows, kind));
  };
  per('Time per packet through the path', 'ns/packet', 'ns/packet', (v) => v.nsPerPacket);
  per('Packets per second through the path', 'Mpps', 'pps', (v) => ({ ...v.pps, median: v.pps.median / 1e6, low: v.pps.low / 1e6, high: v.pps.high / 1e6, values: v.pps.values.map((x) => x / 1e6) }));
  per('Time per program run (BPF_PROG_TEST_RUN in nkemu)', 'ns/run', 'ns/run', (v) => v.nsPerRun);
  per('Time per executed eBPF instruction', 'ns/insn', 'ns/insn', (v) => v.nsPerInsn);
  per("The kernel's BPF_PROG_TEST_RUN on the same frames", 'ns/run', 'kernel ns/run', (v) => v.kernelNsPerRun);
  per('nkemu ÷ kernel, per program run, paired per round', 'x', 'vs kernel', (v) => v.vsKernel);
  const ratioRows = r.ratios.map((x) => ({ label: `${x.variant} ${x.metric}`, metric: x.ratio, color: color.get(x.variant)! }));
  const ratioChart = ratioRows.length ? dotPlot(`Paired ratios against ${r.ratios[0]!.baseline} (below 1: faster)`, 'x', ratioRows, 'ratios', 1) : '';
  const dropsRows = r.variants.map((v) => `<tr><td>${esc(v.name)}</td><td>${esc(dropsText(v))}</td><td>${v.packets}</td></tr>`).join('');
  const variantsRows = r.variants.map((v) => `<tr><td><span class="swatch" style="background:${color.get(v.name)}"></span>${esc(v.name)}</td><td>${esc(v.object ? basename(v.object) : '-')}</td><td>${esc(v.program ?? '-')}</td><td>${esc(v.section ?? '-')}</td><td>${esc(v.type ?? '-')}</td></tr>`).join('');
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nkemu bench: ${esc(r.scriptName)}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 820px; color: #222; padding: 0 16px; }
h1 { font-size: 20px; margin-bottom: 4px; } h2 { font-size: 16px; margin-top: 28px; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
table { border-collapse: collapse; } td, th { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
.meta { color: #555; white-space: pre-line; }
figure { margin: 12px 0; }
svg .title { font-weight: 600; font-size: 13px; }
svg .tick { font-size: 11px; fill: #555; text-anchor: middle; }
svg .label { font-size: 12px; text-anchor: end; }
svg .grid { stroke: #e5e5e5; } svg .ref { stroke: #888; stroke-dasharray: 4 3; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
</style>
</head>
<body>
<h1>nkemu bench: ${esc(r.scriptName)}</h1>
<p class="meta">${esc(describe(r))}
${esc(`Node ${r.env.node}, ${r.env.platform}, ${r.env.cpus} CPUs, ${r.env.date}`)}</p>
<h2>Variants</h2>
<table><tr><th>variant</th><th>object</th><th>program</th><th>section</th><th>type</th></tr>${variantsRows}</table>
<h2>Distributions</h2>
<p>Each dot is one (process, round); the box is the median's confidence interval, the black tick the median.</p>
${charts.join('\n')}
${ratioChart ? `<h2>Paired ratios</h2>\n<p>Each dot is the variant's value divided by the baseline's in the same process and round.</p>\n${ratioChart}` : ''}
<h2>Drops by reason</h2>
<table><tr><th>variant</th><th>drops (share of packets sent)</th><th>packets</th></tr>${dropsRows}</table>
<h2>Table</h2>
<pre>${esc(formatTable(r))}</pre>
<script type="application/json" id="nkemu-bench">${json}</script>
</body>
</html>
`;
}
