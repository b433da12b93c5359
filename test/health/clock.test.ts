import t from 'tap';
import { sleep, systemClock } from '../../agent/health/clock.js';
import { FakeClock } from './fake-clock.js';

t.test('the system clock tells epoch milliseconds and runs timers, which can be cancelled', async (t) => {
  // Its timers are unref'd (they never keep the agent alive on their own), so the test holds the process open.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const before = Date.now();
  t.ok(systemClock.now() >= before);
  const fired = await new Promise<boolean>((resolve) => {
    systemClock.setTimer(() => resolve(true), 5);
  });
  t.equal(fired, true);
  let cancelledFired = false;
  const h = systemClock.setTimer(() => (cancelledFired = true), 5);
  systemClock.clearTimer(h);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(cancelledFired, false);
});

t.test('sleep ends after its time on the given clock, or at once on abort', async (t) => {
  const clock = new FakeClock();
  const ac = new AbortController();
  let done = false;
  const p = sleep(clock, 1000, ac.signal).then(() => (done = true));
  clock.advance(999);
  await Promise.resolve();
  t.equal(done, false);
  clock.advance(1);
  await p;
  t.equal(done, true);

  const early = sleep(clock, 60_000, ac.signal);
  ac.abort();
  await early;
  t.equal(clock.pendingTimers, 0, 'the abandoned timer is cleared');
  await sleep(clock, 60_000, ac.signal);
  t.pass('an already aborted signal returns at once');
});
