/**
 * Order statistics for benchmark samples. Percentiles use the nearest-rank
 * rule, so every figure reported is a time that was actually measured.
 */

export interface Summary {
  n: number;
  min: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
}

function sortedCopy(values: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError('no samples');
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`sample is not a finite number: ${v}`);
  return [...values].sort((a, b) => a - b);
}

function rank(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** The smallest sample with at least `q` (0 < q <= 1) of the samples at or below it. */
export function percentile(values: readonly number[], q: number): number {
  if (!(q > 0 && q <= 1)) throw new RangeError(`percentile must be in (0, 1], got ${q}`);
  return rank(sortedCopy(values), q);
}

/** The middle sample, or the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  const s = sortedCopy(values);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const s = sortedCopy(values);
  return { n: s.length, min: s[0]!, median: median(s), p90: rank(s, 0.9), p99: rank(s, 0.99), max: s[s.length - 1]! };
}
