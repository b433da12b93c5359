import t from 'tap';
import { benchName, DEFAULT_TIMEOUT_SECONDS, parseRunArgs, selectBenches, summarizeRun, type BenchOutcome } from '../../bench/lib/run-plan.js';

const BUILT = ['run.js', 'lib', 'sample-cost.bench.js', 'discover.bench.js', 'idle-rss.bench.js', 'notes.bench.js.map'];

t.test('command line: names as given, a default timeout, and --timeout in seconds', async (t) => {
  t.same(parseRunArgs([]), { names: [], timeoutSeconds: DEFAULT_TIMEOUT_SECONDS });
  t.same(parseRunArgs(['discover', '--timeout', '90', 'idle-rss']), { names: ['discover', 'idle-rss'], timeoutSeconds: 90 });
  for (const bad of ['0', '-3', 'soon', '']) t.throws(() => parseRunArgs([`--timeout=${bad}`]), /--timeout must be a positive number/);
  t.throws(() => parseRunArgs(['--runs', '5']), /Unknown option/);
});

t.test('a benchmark may be named bare, by its built file or by its source path', async (t) => {
  for (const n of ['discover', 'discover.bench.js', 'discover.bench.ts', 'bench/discover.bench.ts', 'dist/bench/discover.bench.js']) {
    t.equal(benchName(n), 'discover', n);
  }
});

t.test('with no names every built benchmark runs, sorted, and nothing else', async (t) => {
  t.same(selectBenches(BUILT, []), ['discover.bench.js', 'idle-rss.bench.js', 'sample-cost.bench.js']);
});

t.test('named benchmarks run in the order asked, each once', async (t) => {
  t.same(selectBenches(BUILT, ['sample-cost', 'bench/discover.bench.ts', 'sample-cost.bench.js']), ['sample-cost.bench.js', 'discover.bench.js']);
});

t.test('an unknown name fails the run and lists what exists', async (t) => {
  t.throws(() => selectBenches(BUILT, ['discover', 'nope', 'run']), /no benchmark named nope, run; there are: discover, idle-rss, sample-cost/);
  t.throws(() => selectBenches([], ['discover']), /none \(is the build missing\?\)/);
});

t.test('the summary says what failed, how, and only those count as failed', async (t) => {
  const outcomes: BenchOutcome[] = [
    { name: 'ok-one', exitCode: 0, signal: null, timedOut: false, seconds: 1.25 },
    { name: 'exits', exitCode: 3, signal: null, timedOut: false, seconds: 2 },
    { name: 'killed', exitCode: null, signal: 'SIGSEGV', timedOut: false, seconds: 0.5 },
    { name: 'slow', exitCode: 143, signal: null, timedOut: true, seconds: 30 },
    { name: 'no-start', exitCode: null, signal: null, timedOut: false, seconds: 0 },
  ];
  const { table, failed } = summarizeRun(outcomes, 30);
  t.same(failed, ['exits', 'killed', 'slow', 'no-start']);
  t.match(table, /\| ok-one +\| ok +\| +1\.3 \|/);
  t.match(table, /exits +\| FAILED: exit 3/);
  t.match(table, /killed +\| FAILED: killed by SIGSEGV/);
  t.match(table, /slow +\| FAILED: timed out after 30 s/);
  t.match(table, /no-start +\| FAILED: did not start/);
});
