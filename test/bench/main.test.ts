import t from 'tap';
import { benchMain } from '../../bench/lib/main.js';

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
