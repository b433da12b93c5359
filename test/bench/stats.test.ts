import t from 'tap';
import { median, percentile, summarize } from '../../bench/lib/stats.js';

t.test('median is the middle sample, or the mean of the two middle ones', async (t) => {
  t.equal(median([5, 1, 3]), 3);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([7]), 7);
});

t.test('percentiles follow the nearest-rank rule and so are always a measured value', async (t) => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
  t.equal(percentile(hundred, 0.9), 90);
  t.equal(percentile(hundred, 0.99), 99);
  t.equal(percentile(hundred, 1), 100);
  t.equal(percentile([10, 20, 30], 0.5), 20);
  t.equal(percentile([10, 20, 30], 0.01), 10, 'a tiny percentile is the smallest sample');
  t.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], 0.99), 1000, 'p99 of ten samples is the worst one');
});

t.test('summarize reports count, extremes and the usual percentiles without reordering the input', async (t) => {
  const input = [3, 9, 1, 7, 5];
  t.same(summarize(input), { n: 5, min: 1, median: 5, p90: 9, p99: 9, max: 9 });
  t.same(input, [3, 9, 1, 7, 5], 'the caller’s array is left as it was');
});

t.test('no samples, non-finite samples and impossible percentiles are refused', async (t) => {
  t.throws(() => median([]), RangeError);
  t.throws(() => summarize([]), /no samples/);
  t.throws(() => summarize([1, NaN]), /not a finite number/);
  t.throws(() => percentile([1, Infinity], 0.5), /not a finite number/);
  t.throws(() => percentile([1], 0), /in \(0, 1\]/);
  t.throws(() => percentile([1], 1.5), /in \(0, 1\]/);
  t.throws(() => percentile([1], NaN), /in \(0, 1\]/);
});
