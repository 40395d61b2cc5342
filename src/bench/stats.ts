/**
 * The statistics of `nkemu bench`: medians with distribution-free confidence intervals
 * (order statistics of the binomial, so no assumption about the shape of the noise on a
 * shared machine), and paired ratios: variant / baseline taken per (process, round), i.e.
 * between runs measured next to each other, then reduced the same way.
 */

/** A median and the interval that holds the true median with probability ≥ `level`. */
export interface Estimate {
  median: number;
  low: number;
  high: number;
  /** Coverage actually achieved (order statistics give discrete levels), e.g. 0.961. */
  level: number;
  samples: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** P(X ≤ k) for X ~ Binomial(n, 1/2). */
function binomCdf(n: number, k: number): number {
  let term = Math.pow(0.5, n);
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += term;
    term = (term * (n - i)) / (i + 1);
  }
  return sum;
}

/**
 * The median of `xs` with the widest-needed order-statistic interval [x(k), x(n−k+1)]
 * (1-based) whose coverage is at least `level` (default 0.95): k is the largest with
 * 1 − 2·P(X ≤ k−1) ≥ level. With fewer than 6 samples no such k exists at 0.95; the
 * interval is then the whole range and `level` says what it covers.
 */
export function estimate(xs: readonly number[], level = 0.95): Estimate {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) throw new RangeError('estimate of no values');
  let k = 1;
  while (k + 1 <= n - k && 1 - 2 * binomCdf(n, k) >= level) k++;
  const cover = 1 - 2 * binomCdf(n, k - 1);
  return { median: median(s), low: s[k - 1]!, high: s[n - k]!, level: cover, samples: n };
}

/** One measured value: which process and round it came from, so values can be paired. */
export interface Sample {
  proc: number;
  round: number;
  value: number;
}

/** value / baseline value for every (process, round) both were measured in. */
export function pairRatios(values: readonly Sample[], baseline: readonly Sample[]): number[] {
  const base = new Map<string, number>();
  for (const s of baseline) base.set(`${s.proc}/${s.round}`, s.value);
  const out: number[] = [];
  for (const s of values) {
    const b = base.get(`${s.proc}/${s.round}`);
    if (b !== undefined && b > 0) out.push(s.value / b);
  }
  return out;
}
