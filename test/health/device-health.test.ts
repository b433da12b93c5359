import t from 'tap';
import { DeviceHealth, formatDuration, quietPeriodFor, type HealthChange, type HealthInput } from '../../agent/health/device-health.js';
import { CONDITIONS, type Condition } from '../../agent/health/signals.js';

const policy = { quietPeriodMs: 1000, maxQuietPeriodMs: 8000, flapWindowMs: 10_000 };
const T0 = 1_000_000;

const xid79 = (at: number): HealthInput => ({ type: 'critical', at, reason: 'Xid 79 (GPU has fallen off the bus)' });
const probe = (at: number, ok = true, startedAt = at): HealthInput => ({ type: 'probe', at, startedAt, ok, detail: ok ? 'fine' : 'no answer' });
const raise = (at: number, condition: Condition, detail = `${condition} detail`): HealthInput => ({ type: 'raise', at, condition, detail });
const clear = (at: number, condition: Condition): HealthInput => ({ type: 'clear', at, condition });

interface Step {
  input: HealthInput;
  /** Expected change (subset match), or null for none. */
  change: Partial<HealthChange> | null;
}

const table: { name: string; steps: Step[] }[] = [
  {
    name: 'a critical event makes a healthy device unhealthy at once',
    steps: [{ input: xid79(T0 + 5), change: { id: 'gpu0', from: 'Healthy', to: 'Unhealthy', reason: 'Xid 79 (GPU has fallen off the bus)', at: T0 + 5 } }],
  },
  {
    name: 'no recovery before the quiet period even when the probe passes',
    steps: [
      { input: xid79(T0), change: { to: 'Unhealthy' } },
      { input: probe(T0 + 999), change: null },
    ],
  },
  {
    name: 'recovery after the quiet period and a passing probe',
    steps: [
      { input: xid79(T0), change: { to: 'Unhealthy' } },
      { input: probe(T0 + 1000), change: { from: 'Unhealthy', to: 'Healthy', at: T0 + 1000, reason: 'recovered: quiet for 1s and probe passed (fine)' } },
    ],
  },
  {
    name: 'a failing probe keeps the device unhealthy',
    steps: [
      { input: xid79(T0), change: { to: 'Unhealthy' } },
      { input: probe(T0 + 2000, false), change: null },
      { input: probe(T0 + 3000, true), change: { to: 'Healthy' } },
    ],
  },
  {
    name: 'a probe started before the quiet period ended does not count',
    steps: [
      { input: xid79(T0), change: { to: 'Unhealthy' } },
      { input: probe(T0 + 1500, true, T0 + 900), change: null },
    ],
  },
  {
    name: 'a new critical event restarts the quiet period',
    steps: [
      { input: xid79(T0), change: { to: 'Unhealthy' } },
      { input: xid79(T0 + 800), change: null },
      { input: probe(T0 + 1200), change: null },
      { input: probe(T0 + 1800), change: { to: 'Healthy' } },
    ],
  },
  {
    name: 'a different critical event while unhealthy updates the reason',
    steps: [
      { input: xid79(T0), change: { to: 'Unhealthy' } },
      { input: { type: 'critical', at: T0 + 10, reason: 'double-bit ECC error' }, change: { from: 'Unhealthy', to: 'Unhealthy', reason: 'double-bit ECC error' } },
    ],
  },
  {
    name: 'a raised condition blocks recovery until it clears, then the quiet period runs from the clearing',
    steps: [
      { input: raise(T0, 'node-missing', 'device node missing: /dev/nvidia0'), change: { to: 'Unhealthy', reason: 'device node missing: /dev/nvidia0' } },
      { input: probe(T0 + 5000), change: null },
      { input: clear(T0 + 6000, 'node-missing'), change: { from: 'Unhealthy', to: 'Unhealthy', reason: 'device node missing: /dev/nvidia0 (resolved)' } },
      { input: probe(T0 + 6500), change: null },
      { input: probe(T0 + 7000), change: { to: 'Healthy' } },
    ],
  },
  {
    name: 'every condition must clear; the reason lists what still holds, root cause first',
    steps: [
      { input: raise(T0, 'node-missing', 'nodes gone'), change: { to: 'Unhealthy', reason: 'nodes gone' } },
      { input: raise(T0 + 1, 'pci-missing', 'pci gone'), change: { to: 'Unhealthy', reason: 'pci gone; nodes gone' } },
      { input: clear(T0 + 2, 'pci-missing'), change: { reason: 'nodes gone' } },
      { input: probe(T0 + 5000), change: null },
      { input: clear(T0 + 5001, 'node-missing'), change: { reason: 'nodes gone (resolved)' } },
      { input: probe(T0 + 6001), change: { to: 'Healthy' } },
    ],
  },
  {
    name: 'clearing a condition that was never raised is no news and delays nothing',
    steps: [
      { input: clear(T0, 'driver-unbound'), change: null },
      { input: xid79(T0 + 10), change: { to: 'Unhealthy' } },
      { input: clear(T0 + 900, 'node-missing'), change: null },
      { input: probe(T0 + 1010), change: { to: 'Healthy' } },
    ],
  },
  {
    name: 're-raising a held condition with a new detail only updates the reason',
    steps: [
      { input: raise(T0, 'over-temperature', 'temperature 91°C'), change: { to: 'Unhealthy' } },
      { input: raise(T0 + 100, 'over-temperature', 'temperature 95°C'), change: { from: 'Unhealthy', to: 'Unhealthy', reason: 'temperature 95°C' } },
      { input: raise(T0 + 200, 'over-temperature', 'temperature 95°C'), change: null },
    ],
  },
  {
    name: 'a critical event during a held condition still counts once the condition clears',
    steps: [
      { input: raise(T0, 'driver-unloaded', 'driver gone'), change: { to: 'Unhealthy' } },
      { input: clear(T0 + 100, 'driver-unloaded'), change: { reason: 'driver gone (resolved)' } },
      { input: xid79(T0 + 600), change: { reason: 'Xid 79 (GPU has fallen off the bus)' } },
      { input: probe(T0 + 1100), change: null },
      { input: probe(T0 + 1600), change: { to: 'Healthy' } },
    ],
  },
  {
    name: 'a probe on a healthy device changes nothing',
    steps: [{ input: probe(T0 + 10, false), change: null }],
  },
  {
    name: 'time running backwards is clamped to the latest time seen',
    steps: [
      { input: probe(T0 + 500), change: null },
      { input: xid79(T0 + 100), change: { to: 'Unhealthy', at: T0 + 500 } },
      { input: probe(T0 + 1400), change: null },
      { input: probe(T0 + 1500), change: { to: 'Healthy' } },
    ],
  },
  {
    name: 'a non-finite time is treated as the latest time seen',
    steps: [{ input: xid79(Number.NaN), change: { to: 'Unhealthy', at: T0 } }],
  },
];

for (const { name, steps } of table) {
  t.test(name, async (t) => {
    const m = new DeviceHealth('gpu0', policy, T0);
    steps.forEach(({ input, change }, i) => {
      const got = m.apply(input);
      if (change === null) t.equal(got, null, `step ${i}: no change`);
      else t.match(got, change, `step ${i}: change`);
      if (got !== null) t.equal(m.current, got.to, `step ${i}: current health follows the change`);
    });
  });
}

t.test('flapping doubles the quiet period up to the cap; a long healthy spell resets it', async (t) => {
  const m = new DeviceHealth('gpu0', policy, T0);
  let now = T0;
  const cycle = (expectedQuiet: number) => {
    m.apply(xid79(now));
    t.equal(m.status().quietPeriodMs, expectedQuiet, `quiet period ${expectedQuiet}`);
    t.equal(m.apply(probe(now + expectedQuiet - 1)), null, 'not a moment early');
    t.match(m.apply(probe(now + expectedQuiet)), { to: 'Healthy' });
    now += expectedQuiet;
  };
  cycle(1000);
  now += 100; // fails again soon after recovering
  cycle(2000);
  now += 100;
  cycle(4000);
  now += 100;
  cycle(8000);
  now += 100;
  cycle(8000);
  t.equal(m.status().flaps, 4);
  now += policy.flapWindowMs; // a full window of health
  cycle(1000);
  t.equal(m.status().flaps, 0);
});

t.test('a condition-caused failure counts towards flapping like an event', async (t) => {
  const m = new DeviceHealth('gpu0', policy, T0);
  m.apply(raise(T0, 'pci-missing'));
  m.apply(clear(T0 + 10, 'pci-missing'));
  t.match(m.apply(probe(T0 + 1010)), { to: 'Healthy' });
  m.apply(raise(T0 + 2000, 'pci-missing'));
  t.equal(m.status().quietPeriodMs, 2000);
  m.apply(clear(T0 + 2010, 'pci-missing'));
  t.equal(m.apply(probe(T0 + 3010)), null);
  t.match(m.apply(probe(T0 + 4010)), { to: 'Healthy' });
});

t.test('status reports conditions, quiet time and the last probe', async (t) => {
  const m = new DeviceHealth('npu0', policy, T0);
  t.same(m.status(), {
    id: 'npu0',
    health: 'Healthy',
    reason: '',
    since: T0,
    conditions: [],
    lastCritical: null,
    quietPeriodMs: 1000,
    quietUntil: null,
    flaps: 0,
    lastProbe: null,
  });
  m.apply(raise(T0 + 1, 'node-missing', 'gone'));
  m.apply(xid79(T0 + 2));
  t.match(m.status(), {
    health: 'Unhealthy',
    since: T0 + 1,
    quietUntil: null,
    lastCritical: { at: T0 + 2 },
  });
  t.same(m.status().conditions, [{ condition: 'node-missing', detail: 'gone', since: T0 + 1 }]);
  t.equal(m.wakeAt(), null, 'no wake-up while a condition holds');
  m.apply(clear(T0 + 3, 'node-missing'));
  t.equal(m.wakeAt(), T0 + 1003);
  t.equal(m.wantsProbe(T0 + 1002), false);
  t.equal(m.wantsProbe(T0 + 1003), true);
  m.apply(probe(T0 + 1003, false));
  t.match(m.status().lastProbe, { at: T0 + 1003, ok: false, detail: 'no answer' });
});

t.test('quietPeriodFor and formatDuration', async (t) => {
  t.equal(quietPeriodFor(0, policy), 1000);
  t.equal(quietPeriodFor(2, policy), 4000);
  t.equal(quietPeriodFor(30, policy), 8000);
  t.equal(quietPeriodFor(5, { quietPeriodMs: 0, maxQuietPeriodMs: 0 }), 0);
  t.equal(formatDuration(300_000), '5m');
  t.equal(formatDuration(3_690_000), '1h1m30s');
  t.equal(formatDuration(1000), '1s');
  t.equal(formatDuration(250), '250ms');
});

/** Small, seedable PRNG so a failing sequence can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('random input sequences never break the recovery rules', async (t) => {
  let checks = 0;
  let recoveries = 0;
  let flapped = 0;
  const fail = (seed: number, step: number, what: string) => t.fail(`seed ${seed}, step ${step}: ${what}`);
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = mulberry32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const m = new DeviceHealth('gpu0', policy, T0);
    let now = T0;
    // The test's own book-keeping of the rules, kept independently of the machine.
    const raised = new Set<Condition>();
    let lastTrouble = -Infinity;
    let lastCritical = -Infinity;
    let lastRecovered: number | null = null;
    let flaps = 0;
    let quiet = policy.quietPeriodMs;
    let health = 'Healthy';
    let reason = '';
    for (let step = 0; step < 200; step++) {
      now += Math.floor(rnd() * 1500);
      const r = rnd();
      let input: HealthInput;
      if (r < 0.1) input = { type: 'critical', at: now, reason: pick(['Xid 79', 'Xid 48', 'double-bit ECC error']) };
      else if (r < 0.18) input = raise(now, pick(CONDITIONS), pick(['a', 'b']));
      // Mostly clear what is held, sometimes what is not (which must change nothing).
      else if (r < 0.4) input = clear(now, raised.size > 0 && rnd() < 0.8 ? pick([...raised]) : pick(CONDITIONS));
      else input = probe(now, rnd() < 0.7, now - Math.floor(rnd() * 600));

      const before = health;
      const change = m.apply(input);
      checks++;

      if (input.type === 'critical') {
        lastTrouble = lastCritical = now;
      } else if (input.type === 'raise') {
        raised.add(input.condition);
      } else if (input.type === 'clear' && raised.delete(input.condition)) {
        lastTrouble = now;
      }
      const fails = before === 'Healthy' && (input.type === 'critical' || input.type === 'raise');
      if (fails) {
        flaps = lastRecovered !== null && now - lastRecovered < policy.flapWindowMs ? flaps + 1 : 0;
        quiet = Math.min(policy.quietPeriodMs * 2 ** Math.min(flaps, 10), policy.maxQuietPeriodMs);
        if (change?.to !== 'Unhealthy' || change.at !== now) fail(seed, step, 'failure was not reported at once');
      }
      const mayRecover =
        before === 'Unhealthy' && input.type === 'probe' && input.ok && raised.size === 0 && input.startedAt >= lastTrouble + quiet;
      if (mayRecover !== (change?.to === 'Healthy' && before === 'Unhealthy')) {
        fail(seed, step, mayRecover ? 'eligible device did not recover' : 'device recovered without meeting the rules');
      }
      if (change !== null) {
        if (change.from !== before) fail(seed, step, 'change does not start from the previous health');
        if (change.from === change.to && (change.to !== 'Unhealthy' || m.currentReason === reason)) fail(seed, step, 'empty change');
        if (change.from === change.to && change.reason !== m.currentReason) fail(seed, step, 'reason change without the new reason');
      } else if (m.current !== before || (m.current === 'Unhealthy' && m.currentReason !== reason)) {
        fail(seed, step, 'health or reason changed silently');
      }
      health = m.current;
      reason = m.currentReason;
      if (health === 'Healthy') {
        if (raised.size > 0) fail(seed, step, 'healthy while a condition is raised');
        if (now < lastCritical + policy.quietPeriodMs && change?.to === 'Healthy') fail(seed, step, 'healthy within the quiet period of a critical event');
        if (reason !== '') fail(seed, step, 'healthy with a reason');
      } else if (reason === '') {
        fail(seed, step, 'unhealthy without a reason');
      }
      if (change?.to === 'Healthy') {
        lastRecovered = now;
        recoveries++;
      }
      if (fails && flaps > 0) flapped++;
      const s = m.status();
      if (s.quietPeriodMs !== quiet || s.quietPeriodMs < policy.quietPeriodMs || s.quietPeriodMs > policy.maxQuietPeriodMs) {
        fail(seed, step, `quiet period ${s.quietPeriodMs}, expected ${quiet}`);
      }
      if (s.conditions.length !== raised.size) fail(seed, step, 'condition set differs');
    }
    // Liveness: once everything clears and stays quiet long enough, a passing probe brings it back.
    for (const c of CONDITIONS) m.apply(clear(now, c));
    now += policy.maxQuietPeriodMs;
    m.apply(probe(now));
    if (m.current !== 'Healthy') fail(seed, -1, 'device never came back after everything cleared');
  }
  // The sequences must reach the interesting states, or the invariants prove little.
  t.ok(recoveries > 1000, `${recoveries} recoveries in ${checks} random inputs`);
  t.ok(flapped > 300, `${flapped} failures while flapping`);
});
