import t from 'tap';
import { CoalescingRunner } from '../../agent/daemon/coalescing-runner.js';

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

t.test('requests during a run fold into one run after it', async (t) => {
  const first = gate();
  const seen: number[] = [];
  let state = 0;
  let runs = 0;
  const runner = new CoalescingRunner(async () => {
    runs++;
    seen.push(state);
    if (runs === 1) await first.wait;
  }, (err) => t.fail(String(err)));
  void runner.request();
  await new Promise((r) => setImmediate(r));
  for (let i = 1; i <= 5; i++) {
    state = i;
    void runner.request();
  }
  first.open();
  await runner.settled();
  t.equal(runs, 2, 'one run for the burst, not five');
  t.same(seen, [0, 5], 'the folded run sees the latest state');
});

t.test('runs never overlap', async (t) => {
  let active = 0;
  let maxActive = 0;
  const runner = new CoalescingRunner(async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise((r) => setTimeout(r, 5));
    active--;
  }, (err) => t.fail(String(err)));
  const all: Promise<void>[] = [];
  for (let i = 0; i < 10; i++) {
    all.push(runner.request());
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(all);
  t.equal(maxActive, 1);
});

t.test('a failing run is reported and later requests still run', async (t) => {
  const errors: unknown[] = [];
  let calls = 0;
  const runner = new CoalescingRunner(async () => {
    calls++;
    if (calls === 1) throw new Error('disk full');
  }, (err) => errors.push(err));
  await runner.request();
  await runner.request();
  t.equal(calls, 2);
  t.equal(errors.length, 1);
  t.match((errors[0] as Error).message, 'disk full');
});

t.test('request resolves after the run that serves it', async (t) => {
  let done = false;
  const runner = new CoalescingRunner(async () => {
    await new Promise((r) => setTimeout(r, 5));
    done = true;
  }, (err) => t.fail(String(err)));
  await runner.request();
  t.equal(done, true);
});
