/**
 * `npm run bench -- NAME [NAME...] [--json] [--procs N] [--rounds R] [--time S]`
 *
 *   NAME        a bench file bench/NAME.ts whose default export is a BenchSuite
 *               (see runner.ts); files without a default export are helpers, not benches
 *   --procs N   child processes per bench, run one after another (default 3)
 *   --only RE   only the cases whose name matches RE (and the baselines they name)
 *   --rounds R  rounds per process; each round runs every case once, interleaved,
 *               in an order reversed on every other (process + round) (default 3)
 *   --time S    Benchmark.js maxTime per case per round, seconds (default 0.5); a case
 *               takes somewhat longer (calibration, at least 5 samples of S/10)
 *   --json      one JSON object per case and line instead of the table:
 *               {"bench","case","metric","value","unit","baseline","ratio","ratioRange",
 *                "samples","higherIsBetter","rme"}; baseline/ratio/ratioRange only for
 *               cases with a baseline, rme only for cases timed by Benchmark.js
 *
 * value is the median over all processes and rounds; ratio is the median of value /
 * baseline value taken per (process, round), i.e. over cases measured side by side.
 * NKEMU_BENCH_DIR overrides the directory NAME is looked up in (tests use it).
 *
 * A bench file:
 *
 *   import { defineSuite, rate } from './runner.js';
 *   export default defineSuite({
 *     name: 'xmit',
 *     cases: [
 *       { name: 'ts 64B', metric: 'Mpps', unit: 'Mpps', higherIsBetter: true,
 *         run: () => tsPktgen(dp, 0, tmpl, 64, 4096, 64), value: rate(1e6) },
 *       { name: 'wasm 64B', metric: 'Mpps', unit: 'Mpps', higherIsBetter: true, baseline: 'ts 64B',
 *         setup: async () => { dp = await makeDataplane(); },
 *         run: () => dp.pktgen(0, tmpl, 64, 4096, 64), value: rate(1e6) },
 *     ],
 *   });
 *
 * Children are `process.execPath` with the parent's `process.execArgv` (tsx's loader
 * when started by `npm run bench` or `tsx`) running this file with `--child`; each prints
 * one `{"sample": ...}` line per (case, round) on stdout. Other stdout lines of a child
 * are passed through to stderr so a chatty bench cannot corrupt the report.
 */

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  USAGE,
  aggregate,
  formatJson,
  formatTable,
  parseCli,
  runChild,
  validateSuite,
  type ChildArgs,
  type ParentArgs,
  type Sample,
} from './runner.js';

const self = fileURLToPath(import.meta.url);
const NOT_BENCHES = new Set(['runner.ts', 'run.ts']);

function benchDir(): string {
  return resolve(process.env.NKEMU_BENCH_DIR ?? dirname(self));
}

/** Bench names in `dir`: *.ts files with a default export, minus the runner itself. */
function available(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts') && !NOT_BENCHES.has(f))
    .filter((f) => /^export default\b|\bas default\b/m.test(readFileSync(join(dir, f), 'utf8')))
    .map((f) => f.slice(0, -3))
    .sort();
}

class UsageError extends Error {}

function runProc(file: string, proc: number, args: ParentArgs): Promise<Sample[]> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, self, '--child', '--proc', String(proc), '--rounds', String(args.rounds), '--time', String(args.time), ...(args.only === undefined ? [] : ['--only', args.only]), file],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const samples: Sample[] = [];
    let rest = '';
    const take = (line: string): void => {
      if (line.startsWith('{"sample":')) samples.push((JSON.parse(line) as { sample: Sample }).sample);
      else if (line !== '') process.stderr.write(line + '\n');
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      lines.forEach(take);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      take(rest);
      if (code === 0) resolveRun(samples);
      else reject(new Error(`${file}: process ${proc} ${signal ? `killed by ${signal}` : `exited with code ${code}`}`));
    });
  });
}

async function parent(args: ParentArgs): Promise<void> {
  const dir = benchDir();
  const names = available(dir);
  if (args.help || args.names.length === 0) {
    const msg = `${USAGE}\navailable: ${names.join(' ') || '(none)'}`;
    if (args.help) {
      process.stdout.write(msg + '\n');
      return;
    }
    throw new UsageError(`no bench named\n${msg}`);
  }
  for (const n of args.names) {
    if (!names.includes(n)) throw new UsageError(`unknown bench '${n}' in ${dir}; available: ${names.join(' ') || '(none)'}`);
  }
  const progress = process.stderr.isTTY;
  const samples: Sample[] = [];
  for (const n of args.names) {
    for (let p = 0; p < args.procs; p++) {
      if (progress) process.stderr.write(`bench: ${n} process ${p + 1}/${args.procs}\n`);
      samples.push(...(await runProc(join(dir, `${n}.ts`), p, args)));
    }
  }
  const results = aggregate(samples);
  process.stdout.write((args.json ? formatJson(results) : formatTable(results)) + '\n');
}

async function child(args: ChildArgs): Promise<void> {
  const mod = (await import(pathToFileURL(args.file).href)) as { default?: unknown };
  const suite = validateSuite(mod.default, args.file);
  await runChild(suite, args, (s) => {
    process.stdout.write(JSON.stringify({ sample: s }) + '\n');
  });
}

async function main(): Promise<number> {
  let args: ParentArgs | ChildArgs;
  try {
    args = parseCli(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    if (args.mode === 'child') await child(args);
    else await parent(args);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`bench: ${e.message}\n`);
      return 2;
    }
    // A child's stack points into the bench; the parent's own errors need only the message.
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`bench: ${args.mode === 'child' ? (err.stack ?? err.message) : err.message}\n`);
    return 1;
  }
}

// Exit explicitly: a bench may leave workers or handles open, and the report is complete.
const code = await main();
process.stdout.write('', () => process.exit(code));
