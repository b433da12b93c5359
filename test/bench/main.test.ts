import t from 'tap';
import { benchMain, printFigures } from '../../bench/lib/main.js';
import { BENCH_JSON_PREFIX } from '../../bench/lib/report.js';

t.test('a failing benchmark prints one line naming itself and sets exit status 1', async (t) => {
  const written = t.capture(process.stderr, 'write', () => true);
  const before = process.exitCode;
  t.teardown(() => void (process.exitCode = before));
  await benchMain('sample-cost', async () => {
    throw new Error('no NVML library on the simulated host');
  });
  t.equal(process.exitCode, 1);
  process.exitCode = before;
  t.same(written().map((c) => c.args[0]), ['sample-cost: no NVML library on the simulated host\n']);
});

t.test('a benchmark that succeeds gets the command-line arguments and leaves the exit status alone', async (t) => {
  const before = process.exitCode;
  let seen: string[] = [];
  await benchMain('x', async (argv) => {
    seen = argv;
  });
  t.same(seen, process.argv.slice(2));
  t.equal(process.exitCode, before);
});

t.test('printFigures names the machine, then writes the figures with the machine facts as one BENCH_JSON line', async (t) => {
  const logged = t.capture(console, 'log', () => {});
  printFigures('discover', { unit: 'ms', median: 12.5 });
  const lines = logged().map((c) => String(c.args[0]));
  t.equal(lines.length, 2);
  t.match(lines[0], new RegExp(`Measured on Node ${process.version.replace(/\./g, '\\.')}, \\d+ CPUs`));
  t.ok(lines[1]!.startsWith(BENCH_JSON_PREFIX));
  const json = JSON.parse(lines[1]!.slice(BENCH_JSON_PREFIX.length)) as Record<string, unknown>;
  t.match(json, { bench: 'discover', unit: 'ms', median: 12.5, machine: { node: process.version } });
});

t.test('printFigures refuses a broken figure rather than printing it', async (t) => {
  t.capture(console, 'log', () => {});
  t.throws(() => printFigures('x', { median: NaN }), /median is not a finite number/);
});
