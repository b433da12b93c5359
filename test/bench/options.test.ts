import t from 'tap';
import { numberOptions } from '../../bench/lib/options.js';

const spec = { runs: { default: 20, integer: true }, seconds: { default: 60 } } as const;

t.test('defaults apply to options not given, given ones are read as numbers', async (t) => {
  t.same(numberOptions([], spec), { runs: 20, seconds: 60 });
  t.same(numberOptions(['--seconds', '2.5'], spec), { runs: 20, seconds: 2.5 });
  t.same(numberOptions(['--runs=3', '--seconds', '10'], spec), { runs: 3, seconds: 10 });
});

t.test('values that are not positive numbers, or not whole where required, are refused', async (t) => {
  for (const bad of ['0', '-1', 'abc', '', ' ', 'Infinity', '1e999']) {
    t.throws(() => numberOptions([`--seconds=${bad}`], spec), /--seconds must be a positive number/, JSON.stringify(bad));
  }
  t.throws(() => numberOptions(['--runs', '2.5'], spec), /--runs must be a positive whole number/);
});

t.test('unknown flags and stray arguments fail and name the options there are', async (t) => {
  t.throws(() => numberOptions(['--sconds', '5'], spec), /--runs N, --seconds N/);
  t.throws(() => numberOptions(['5'], spec), /--runs N, --seconds N/);
  t.throws(() => numberOptions(['--runs'], spec), /argument missing|--runs/);
  t.throws(() => numberOptions(['--x', '1'], {}), /options: none/);
});
