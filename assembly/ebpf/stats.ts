// Per-program run statistics (the kernel's bpf_prog_stats: run_cnt, run_time_ns), kept
// while kernel.bpf_stats_enabled is on (G_BPF_STATS). As in __bpf_prog_run: a run is
// timed and counted where a hook (or a test run) runs the program; a tail call jumps
// inside the run and is not counted for its target. Off, a run costs one load of the flag.
//
// The clock is the host's, imported (`env.now`, performance.now() in milliseconds): a call
// out of Wasm, made only while stats are on, once before and once after a run or a batch
// (a batch's time is the sum of its runs'). Browsers coarsen performance.now() to 5 µs or
// more, where a short run may read 0 ns: each run adds at least 1 ns, so that a count is
// never left at run_time_ns 0 (where bpftool prints no count at all).

import { GLOBALS, G_BPF_STATS, PR_RUN_CNT, PR_RUN_TIME_NS } from "../abi/layout";

/** The host's monotonic clock, in milliseconds (performance.now()). */
@external("env", "now")
declare function hostNow(): f64;

/** Whether runs are counted now (one load: the hot paths' whole cost while stats are off). */
@inline export function statsOn(): bool {
  return load<u32>(GLOBALS, G_BPF_STATS) != 0;
}

/** The clock at a run's start (only while `statsOn`). */
@inline export function statsStart(): f64 {
  return hostNow();
}

/** Adds `runs` runs started at `t0` (statsStart) to program record `prog`. */
export function statsAdd(prog: usize, runs: u32, t0: f64): void {
  if (runs == 0) return;
  const d = (hostNow() - t0) * 1e6;
  let ns: u64 = d > 0 ? <u64>d : 0;
  if (ns < <u64>runs) ns = <u64>runs;
  atomic.add<u64>(prog + PR_RUN_CNT, <u64>runs);
  atomic.add<u64>(prog + PR_RUN_TIME_NS, ns);
}
