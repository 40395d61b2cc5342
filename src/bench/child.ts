/**
 * A measuring process of `nkemu bench`: `node child.js CONFIG.json PROC`. It builds every
 * variant's scenario, then runs the rounds: each round measures every variant once (the
 * order reversed on every other process + round, so no variant always runs first or after
 * the same neighbour), and prints one `{"sample": …}` line per (variant, round) on stdout.
 * Anything else a setup prints goes to stderr.
 */

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { measure } from './measure.js';
import type { BenchConfig } from './config.js';

async function main(): Promise<number> {
  const [file, proc] = process.argv.slice(2);
  const cfg = JSON.parse(readFileSync(file!, 'utf8')) as BenchConfig;
  await measure(cfg, Number(proc), (s) => process.stdout.write(`${JSON.stringify({ sample: s })}\n`));
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  let code = 1;
  try {
    code = await main();
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? `${e.name === 'BenchError' ? '' : `${e.name}: `}${e.message}` : String(e)}\n`);
  }
  // (exit explicitly: the report is complete even if a handle stays open)
  process.stdout.write('', () => process.exit(code));
}
