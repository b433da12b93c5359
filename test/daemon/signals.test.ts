import t from 'tap';
import { EventEmitter } from 'node:events';
import { stopOnSignals } from '../../agent/daemon/signals.js';

// The process's own signals belong to the test runner; an emitter stands in for them here,
// and the daemon's end-to-end test sends real SIGTERMs.
const fakeProcess = () => new EventEmitter();

t.test('SIGTERM runs the graceful stop once and exits 0', async (t) => {
  let stops = 0;
  const source = fakeProcess();
  const exited = new Promise<number>((resolve) => {
    stopOnSignals(async () => void stops++, { source, exit: resolve });
  });
  source.emit('SIGTERM', 'SIGTERM');
  t.equal(await exited, 0);
  t.equal(stops, 1);
});

t.test('a second signal during a slow stop exits at once with the signal status', async (t) => {
  const codes: number[] = [];
  let release!: () => void;
  const source = fakeProcess();
  const remove = stopOnSignals(() => new Promise<void>((r) => (release = r)), { source, exit: (c) => void codes.push(c) });
  source.emit('SIGINT', 'SIGINT');
  await new Promise((r) => setTimeout(r, 50));
  source.emit('SIGINT', 'SIGINT');
  await new Promise((r) => setTimeout(r, 50));
  t.same(codes, [130]);
  release();
  await new Promise((r) => setTimeout(r, 20));
  t.same(codes, [130, 0], 'the graceful stop still reports when it finishes');
  remove();
  t.equal(source.listenerCount('SIGINT'), 0, 'handlers are removed');
});

t.test('a stop that overruns the grace period exits 1', async (t) => {
  const source = fakeProcess();
  const exited = new Promise<number>((resolve) => {
    stopOnSignals(() => new Promise<void>(() => {}), { source, graceMs: 30, exit: resolve });
  });
  // The grace timer is unref'd so it never holds a daemon open; hold the loop open here instead.
  const keepAlive = setTimeout(() => {}, 5000);
  source.emit('SIGTERM', 'SIGTERM');
  t.equal(await exited, 1);
  clearTimeout(keepAlive);
});
