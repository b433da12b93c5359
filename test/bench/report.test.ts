import t from 'tap';
import { BENCH_JSON_PREFIX, benchJsonLine, markdownTable } from '../../bench/lib/report.js';

t.test('markdownTable pads columns and marks right-aligned ones in the rule', async (t) => {
  const table = markdownTable(['path', { title: 'ms', align: 'right' }], [
    ['addon', '0.6'],
    ['nvidia-smi', '19.1'],
  ]);
  t.equal(
    table,
    ['| path       |   ms |', '|------------|-----:|', '| addon      |  0.6 |', '| nvidia-smi | 19.1 |'].join('\n'),
  );
});

t.test('markdownTable keeps hostile cell text from breaking the table', async (t) => {
  const table = markdownTable(['a', 'b'], [['x|y', 'two\nlines']]);
  const lines = table.split('\n');
  t.equal(lines.length, 3, 'a newline inside a cell does not add a row');
  t.match(lines[2], /x\\\|y/, 'a pipe inside a cell is escaped');
  t.match(lines[2], /two lines/);
});

t.test('markdownTable refuses rows that do not fit the columns', async (t) => {
  t.throws(() => markdownTable(['a', 'b'], [['only one']]), /row 0 has 1 cells for 2 columns/);
  t.throws(() => markdownTable([], []), /at least one column/);
});

t.test('benchJsonLine writes one parseable line led by the prefix and the benchmark name', async (t) => {
  const line = benchJsonLine('sample-cost', { median: 1.5, nested: { n: 3 } });
  t.ok(line.startsWith(BENCH_JSON_PREFIX));
  t.notMatch(line, /\n/);
  t.same(JSON.parse(line.slice(BENCH_JSON_PREFIX.length)), { bench: 'sample-cost', median: 1.5, nested: { n: 3 } });
});

t.test('benchJsonLine refuses a figure that is not a finite number instead of writing null', async (t) => {
  t.throws(() => benchJsonLine('x', { median: NaN }), /median is not a finite number/);
  t.throws(() => benchJsonLine('x', { deep: { p99: Infinity } }), /p99/);
});
