import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { timeRuns } from '../../bench/lib/timing.js';

t.test('timeRuns counts only the runs after the warm-up and numbers every call', async (t) => {
  const calls: number[] = [];
  const times = await timeRuns({ runs: 3, warmup: 2 }, (call) => void calls.push(call));
  t.same(calls, [0, 1, 2, 3, 4]);
  t.equal(times.length, 3);
  for (const ms of times) t.ok(ms >= 0 && Number.isFinite(ms));
});

t.test('timeRuns awaits each call before timing the next and measures its duration', async (t) => {
  let running = 0;
  const times = await timeRuns({ runs: 2 }, async () => {
    running++;
    t.equal(running, 1, 'calls never overlap');
    await sleep(30);
    running--;
  });
  // Timers never fire early; a slow machine only makes this larger.
  for (const ms of times) t.ok(ms >= 25, `${ms} ms covers the 30 ms wait`);
});

t.test('a failing call fails the measurement', async (t) => {
  await t.rejects(timeRuns({ runs: 2 }, () => Promise.reject(new Error('broken'))), /broken/);
});

t.test('impossible run counts are refused', async (t) => {
  await t.rejects(timeRuns({ runs: 0 }, () => {}), /runs must be a whole number >= 1/);
  await t.rejects(timeRuns({ runs: 1.5 }, () => {}), /runs/);
  await t.rejects(timeRuns({ runs: 1, warmup: -1 }, () => {}), /warmup must be a whole number >= 0/);
});
