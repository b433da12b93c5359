import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runBenches, runBenchFile } from '../../bench/lib/runner.js';
import { tempDir } from '../helpers/temp-dir.js';

// Fake benchmarks are plain scripts; what they print is kept to TAP comments.
function fakeBench(dir: string, name: string, body: string): string {
  const file = path.join(dir, `${name}.bench.js`);
  writeFileSync(file, body);
  return file;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` is gone within ten seconds (a killed process still needs reaping). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  return !alive(pid);
}

t.test('runs the selected benchmarks in order and reports each one’s exit', async (t) => {
  const dir = await tempDir(t, 'bench-runner-');
  const order = path.join(dir, 'order');
  const append = (name: string) => `require('node:fs').appendFileSync(${JSON.stringify(order)}, '${name}\\n');`;
  fakeBench(dir, 'a-ok', `${append('a')} console.log('# a ran');`);
  fakeBench(dir, 'b-fails', `${append('b')} process.exit(3);`);
  fakeBench(dir, 'c-ok', `${append('c')}`);
  writeFileSync(path.join(dir, 'run.js'), 'throw new Error("the runner itself is not a benchmark")');
  const printed: string[] = [];
  const outcomes = await runBenches({ dir, names: [], timeoutSeconds: 60, print: (l) => void printed.push(l) });
  t.same(
    outcomes.map((o) => [o.name, o.exitCode, o.timedOut]),
    [['a-ok', 0, false], ['b-fails', 3, false], ['c-ok', 0, false]],
  );
  t.equal(readFileSync(order, 'utf8'), 'a\nb\nc\n', 'one after another, a failure does not stop the rest');
  t.same(printed.map((l) => l.trim()), ['## a-ok', '## b-fails', '## c-ok'], 'a header before each benchmark');
  for (const o of outcomes) t.ok(o.seconds >= 0);
});

t.test('passes arguments through and runs only the named benchmarks', async (t) => {
  const dir = await tempDir(t, 'bench-runner-');
  const seen = path.join(dir, 'seen');
  fakeBench(dir, 'wanted', `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.argv.slice(2)));`);
  fakeBench(dir, 'other', `process.exit(9);`);
  const outcomes = await runBenches({ dir, names: ['wanted'], timeoutSeconds: 60, print: () => {} });
  t.same(outcomes.map((o) => o.name), ['wanted']);
  const direct = await runBenchFile(path.join(dir, 'wanted.bench.js'), { timeoutMs: 60_000, args: ['--seconds', '5'] });
  t.equal(direct.exitCode, 0);
  t.same(JSON.parse(readFileSync(seen, 'utf8')), ['--seconds', '5']);
});

t.test('a benchmark over its time gets SIGTERM first, so it can clean up, and counts as failed', async (t) => {
  const dir = await tempDir(t, 'bench-runner-');
  const marker = path.join(dir, 'cleaned');
  const file = fakeBench(
    dir,
    'slow',
    `process.on('SIGTERM', () => { require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'yes'); process.exit(143); });
     setInterval(() => {}, 1000); console.log('# started');`,
  );
  // Long enough for Node to start and install the handler on a loaded machine.
  const outcome = await runBenchFile(file, { timeoutMs: 6000, graceMs: 20_000 });
  t.equal(outcome.timedOut, true);
  t.equal(outcome.exitCode, 143);
  t.ok(existsSync(marker), 'its SIGTERM handler ran');
});

t.test('a benchmark that ignores SIGTERM is killed with its whole process group after the grace period', async (t) => {
  const dir = await tempDir(t, 'bench-runner-');
  const pidFile = path.join(dir, 'child.pid');
  const stop = new AbortController();
  const file = fakeBench(
    dir,
    'stubborn',
    `process.on('SIGTERM', () => {});
     const c = require('node:child_process').spawn('sleep', ['300'], { stdio: 'ignore' });
     require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));
     setInterval(() => {}, 1000);`,
  );
  const running = runBenchFile(file, { timeoutMs: 60_000, graceMs: 500, signal: stop.signal });
  // Stopped only once it has its handler and child, whatever the machine's speed.
  for (let i = 0; i < 300 && !existsSync(pidFile); i++) await sleep(100);
  stop.abort();
  const outcome = await running;
  t.equal(outcome.signal, 'SIGKILL');
  t.ok(await gone(Number(readFileSync(pidFile, 'utf8'))), 'the benchmark’s own child went with it');
});

t.test('children a benchmark leaves behind when it exits are stopped', async (t) => {
  const dir = await tempDir(t, 'bench-runner-');
  const pidFile = path.join(dir, 'child.pid');
  const file = fakeBench(
    dir,
    'leaky',
    `const c = require('node:child_process').spawn('sleep', ['300'], { stdio: 'ignore' });
     c.unref();
     require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));`,
  );
  const outcome = await runBenchFile(file, { timeoutMs: 60_000 });
  t.equal(outcome.exitCode, 0);
  t.equal(outcome.timedOut, false);
  t.ok(await gone(Number(readFileSync(pidFile, 'utf8'))));
});

t.test('an abort stops the running benchmark, is not a timeout, and starts no further one', async (t) => {
  const dir = await tempDir(t, 'bench-runner-');
  const ready = path.join(dir, 'ready');
  fakeBench(dir, 'a-waits', `require('node:fs').writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000);`);
  fakeBench(dir, 'b-never', `require('node:fs').writeFileSync(${JSON.stringify(path.join(dir, 'b-ran'))}, '');`);
  const interrupt = new AbortController();
  const running = runBenches({ dir, names: [], timeoutSeconds: 60, signal: interrupt.signal, print: () => {} });
  for (let i = 0; i < 300 && !existsSync(ready); i++) await sleep(100);
  interrupt.abort();
  const outcomes = await running;
  t.same(outcomes.map((o) => [o.name, o.signal, o.timedOut]), [['a-waits', 'SIGTERM', false]]);
  t.notOk(existsSync(path.join(dir, 'b-ran')));
});

t.test('an unknown benchmark name fails before anything runs', async (t) => {
  const dir = await tempDir(t, 'bench-runner-');
  const ran = path.join(dir, 'ran');
  fakeBench(dir, 'real', `require('node:fs').writeFileSync(${JSON.stringify(ran)}, '');`);
  await t.rejects(runBenches({ dir, names: ['real', 'typo'], timeoutSeconds: 60, print: () => {} }), /no benchmark named typo; there are: real/);
  t.notOk(existsSync(ran));
});
