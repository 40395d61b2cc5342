/**
 * `nkemu/bench`: benchmark a netkit / XDP / tc setup and its program variants from code,
 * as `nkemu bench` does from the command line.
 *
 *   import { bench, formatTable } from 'nkemu/bench';
 *   const report = await bench({ script, variants: ['v1.o', 'v2.o'], pcap: 'traffic.pcap' });
 *   console.log(formatTable(report));
 *
 * `prepare()` gives one variant's scenario in this thread, for timing loops of your own
 * (vitest's `bench`, tinybench): `await s.run()` sends one operation's packets.
 */

import { resolveConfig, type BenchOptions, type ResolvedVariant } from './config.js';
import { Scenario } from './scenario.js';

export { bench, type BenchReport, type Metric, type RatioMetric, type RatioResult, type VariantResult } from './run.js';
export { BenchError, type BenchOptions, type VariantOptions } from './config.js';
export { formatTable, toJson, type BenchMetricJson } from './format.js';
export { toHtml } from './html.js';
export { estimate, median, pairRatios, type Estimate } from './stats.js';
export { CaptureError, readCapture, type ReplayCapture } from '../trace/replay.js';
export { kernelUnavailable } from './kernel.js';

/** One variant's scenario, set up in this thread (inline dataplane). */
export interface PreparedScenario {
  /** The variant's name (`setup` without variants). */
  readonly name: string;
  /** Packets one `run()` sends (every traffic line's count). */
  readonly packetsPerOp: number;
  /** Sends one operation's packets through the path and lets the dataplane settle; resolves to the packets sent. */
  run(): Promise<number>;
  /** BPF_PROG_TEST_RUN of the variant's program on the traffic's first frames: mean ns per run and per instruction. */
  testRun(repeat?: number): { nsPerRun: number; nsPerInsn: number };
  /** Drops by reason so far, summed over every device. */
  drops(): Record<string, number>;
  close(): Promise<void>;
}

/**
 * Sets up the scenario of each variant of `o` (or of the setup alone) in this thread;
 * same options as `bench()` (the measuring ones — procs, rounds, time, kernel — unused).
 */
export async function prepare(o: BenchOptions): Promise<PreparedScenario[]> {
  const cfg = resolveConfig(o);
  const out: PreparedScenario[] = [];
  try {
    for (const v of cfg.variants.length ? cfg.variants : [undefined]) out.push(wrap(await Scenario.create(cfg, v), v, cfg.repeat));
  } catch (e) {
    for (const s of out) await s.close();
    throw e;
  }
  return out;
}

function wrap(sc: Scenario, v: ResolvedVariant | undefined, repeat: number): PreparedScenario {
  return {
    name: v?.name ?? 'setup',
    packetsPerOp: sc.packetsPerOp,
    run: () => sc.run(),
    testRun: (n = repeat) => sc.testRun(n),
    drops: () => Object.fromEntries([...sc.drops()].map(([k, n]) => [k, Number(n)])),
    close: () => sc.close(),
  };
}
