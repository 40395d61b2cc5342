/**
 * A real, cheap suite for the runner's end-to-end test: summing 4096 elements of a
 * Uint32Array against a Float64Array, plus the f64 sum timed by hand as an external case.
 */

import { defineSuite, rate } from '../../bench/runner.js';

const N = 4096;
const u32 = new Uint32Array(N).map((_, i) => i);
const f64 = new Float64Array(N).map((_, i) => i);
// Kept in a module variable so V8 cannot drop the loops as dead code.
export let sink = 0;

function sumU32(): number {
  let s = 0;
  for (let i = 0; i < N; i++) s = (s + u32[i]!) | 0;
  sink ^= s;
  return N;
}

function sumF64(): number {
  let s = 0;
  for (let i = 0; i < N; i++) s += f64[i]!;
  sink += s;
  return N;
}

export default defineSuite({
  name: 'fixture',
  cases: [
    { name: 'f64 sum', metric: 'Melem/s', unit: 'M/s', higherIsBetter: true, run: sumF64, value: rate(1e6) },
    { name: 'u32 sum', metric: 'Melem/s', unit: 'M/s', higherIsBetter: true, baseline: 'f64 sum', run: sumU32, value: rate(1e6) },
    {
      name: 'f64 hand-timed',
      metric: 'Melem/s',
      unit: 'M/s',
      higherIsBetter: true,
      baseline: 'f64 sum',
      external: () => {
        let work = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < 10) for (let k = 0; k < 16; k++) work += sumF64();
        return work / ((performance.now() - t0) / 1e3) / 1e6;
      },
    },
  ],
});
