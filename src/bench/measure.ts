/**
 * What one measuring process does (child.ts runs it): set every variant up, then
 * `rounds` rounds of every variant interleaved. Per (variant, round): the path's time per
 * packet (Benchmark.js timing the scenario's operation), the drops by reason over that
 * round's packets, and, with a program, BPF_PROG_TEST_RUN on the test frames (ns per run,
 * per executed instruction) and the kernel's time for the same frames.
 */

import Benchmark from 'benchmark';
import type { BenchConfig } from './config.js';
import { KernelProgram } from './kernel.js';
import { Scenario } from './scenario.js';
import { median } from './stats.js';

/** One (variant, round) measurement of one process. */
export interface RoundSample {
  proc: number;
  round: number;
  /** Index into `BenchConfig.variants` (0 when there are none: the setup alone). */
  variant: number;
  /** Time of one packet through the path: the median of the round's Benchmark.js samples. */
  nsPerPacket: number;
  /** Benchmark.js's relative margin of error, percent. */
  rme: number;
  /** Packets sent in the round (calibration included). */
  packets: number;
  /** Drops by reason that grew during the round (counts). */
  drops: Record<string, number>;
  nsPerRun?: number;
  nsPerInsn?: number;
  kernelNsPerRun?: number;
}

/**
 * Times the scenario's operation for about `time` seconds with Benchmark.js: synchronously
 * when it can run so (the default drop sink; the dataplane settled after the round), else
 * as a deferred benchmark (`sink stack`: settling is part of the operation; coarser).
 * Returns ns per packet, Benchmark.js's rme and the packets sent.
 */
async function timePath(sc: Scenario, time: number): Promise<{ nsPerPacket: number; rme: number; packets: number }> {
  let packets = 0;
  let calls = 0;
  let failed: unknown;
  const opts = { maxTime: time, minTime: time / 10, minSamples: 5, initCount: 1 };
  let b: Benchmark;
  if (sc.synchronous) {
    // (work summed over every call Benchmark.js makes, calibration included, as the time is)
    b = new Benchmark('path', () => { packets += sc.runSync(); calls++; }, opts);
    b.run();
    await sc.emu.settle();
  } else {
    b = await new Promise<Benchmark>((resolve) => {
      const d: Benchmark = new Benchmark('path', {
        ...opts,
        defer: true,
        fn(deferred: { resolve(): void }) {
          sc.run().then(
            (n) => { packets += n; calls++; deferred.resolve(); },
            (e: unknown) => { failed = e; deferred.resolve(); },
          );
        },
        onComplete: () => resolve(d),
      });
      d.run({ async: true });
    });
  }
  if (failed !== undefined) throw failed instanceof Error ? failed : new Error(String(failed));
  if (b.error) throw b.error instanceof Error ? b.error : new Error(String(b.error));
  if (calls === 0 || packets === 0) throw new Error('the traffic sent no packets (is the device up?)');
  // (the median of Benchmark.js's samples: on a shared machine a preempted sample is an
  // outlier a mean would carry)
  const period = b.stats.sample.length ? median(b.stats.sample) : b.stats.mean;
  return { nsPerPacket: (period * 1e9) / (packets / calls), rme: b.stats.rme, packets };
}

/** Runs one process's rounds; `emit` gets each (variant, round) as it is measured. */
export async function measure(cfg: BenchConfig, proc: number, emit: (s: RoundSample) => void): Promise<void> {
  const variants = cfg.variants.length ? cfg.variants : [undefined];
  const scenarios: Scenario[] = [];
  const kernels: (KernelProgram | undefined)[] = [];
  try {
    for (const v of variants) scenarios.push(await Scenario.create(cfg, v));
    if (cfg.kernel && cfg.kernelAbsent === undefined) {
      cfg.variants.forEach((v, i) => {
        kernels.push(v.kernelAbsent === undefined ? new KernelProgram(v.object, v.program, v.type, scenarios[i]!.testFrames, `${proc}-${i}`) : undefined);
      });
    }
    // Warm-up: the compiled code and the JavaScript around it tier up before round 0.
    for (const sc of scenarios) {
      const t0 = performance.now();
      for (let k = 0; k < 3; k++) await sc.run();
      for (let k = 0; k < 20 && sc.synchronous && performance.now() - t0 < 50; k++) sc.runSync();
      await sc.emu.settle();
      if (sc.prog) sc.testRun(Math.max(1, cfg.repeat >> 2));
    }
    for (let round = 0; round < cfg.rounds; round++) {
      const order = scenarios.map((sc, i) => ({ sc, i }));
      if ((proc + round) % 2 === 1) order.reverse();
      for (const { sc, i } of order) {
        const before = sc.drops();
        const t = await timePath(sc, sc.duration ?? cfg.time);
        const after = sc.drops();
        const drops: Record<string, number> = {};
        for (const [k, v] of after) if (v > (before.get(k) ?? 0n)) drops[k] = Number(v - (before.get(k) ?? 0n));
        const s: RoundSample = { proc, round, variant: i, ...t, drops };
        if (sc.prog) Object.assign(s, sc.testRun(cfg.repeat));
        const k = kernels[i];
        if (k) s.kernelNsPerRun = k.run(cfg.repeat);
        emit(s);
      }
    }
  } finally {
    for (const k of kernels) k?.close();
    for (const sc of scenarios) await sc.close();
  }
}
