/**
 * Per-program run statistics (the kernel's bpf_prog_stats): run_cnt and run_time_ns in each
 * program record (abi PR_RUN_CNT, PR_RUN_TIME_NS), counted while kernel.bpf_stats_enabled
 * is on (abi G_BPF_STATS). The dataplane adds a hook's runs itself (assembly/ebpf/stats.ts);
 * the host adds a test run's here. Every thread adds atomically; reads are atomic too.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';

/** What bpf_prog_info says of a program's runs (bpftool prog show's run_time_ns, run_cnt). */
export interface ProgStats {
  /** Runs counted while stats were on (a hook's, a test run's repetitions; not a tail call's target). */
  runCnt: number;
  /** Their time in nanoseconds, by the host's clock (performance.now(); at least 1 ns a run). */
  runTimeNs: number;
  /** Runs skipped for recursion: none in nkemu (no tracing programs), always 0. */
  recursionMisses: number;
}

function u64(dp: Dataplane): BigUint64Array {
  return new BigUint64Array(dp.memory.buffer);
}

/** Whether runs are counted now (the dataplane's flag). */
export function statsOn(dp: Dataplane): boolean {
  return Atomics.load(dp.words(), (A.GLOBALS + A.G_BPF_STATS) >>> 2) !== 0;
}

/** Turns counting on or off for every thread (the next run or batch sees it). */
export function setStatsOn(dp: Dataplane, on: boolean): void {
  Atomics.store(dp.words(), (A.GLOBALS + A.G_BPF_STATS) >>> 2, on ? 1 : 0);
}

/** Reads program record `rec`'s statistics. */
export function readStats(dp: Dataplane, rec: number): ProgStats {
  const w = u64(dp);
  return {
    runCnt: Number(Atomics.load(w, (rec + A.PR_RUN_CNT) / 8)),
    runTimeNs: Number(Atomics.load(w, (rec + A.PR_RUN_TIME_NS) / 8)),
    recursionMisses: 0,
  };
}

/** Adds `runs` runs that took `ns` nanoseconds to record `rec` (at least 1 ns each, as the dataplane does). */
export function addStats(dp: Dataplane, rec: number, runs: number, ns: number): void {
  if (runs <= 0) return;
  const w = u64(dp);
  Atomics.add(w, (rec + A.PR_RUN_CNT) / 8, BigInt(runs));
  Atomics.add(w, (rec + A.PR_RUN_TIME_NS) / 8, BigInt(Math.max(runs, Math.floor(ns))));
}
