import t from 'tap';
import { isAccelError, ErrorCode } from '../../agent/errors.js';
import { DEFAULT_HEALTH_OPTIONS, resolveHealthOptions, shouldWatchKmsg } from '../../agent/health/options.js';

t.test('defaults are filled in and documented values hold', async (t) => {
  const o = resolveHealthOptions();
  t.same(o, DEFAULT_HEALTH_OPTIONS);
  t.equal(o.quietPeriodMs, 300_000);
  t.equal(o.maxQuietPeriodMs, 3_600_000);
  t.equal(o.temperatureLimitC, null, 'temperature check is off unless configured');
  t.equal(o.kmsg, 'auto');
  t.ok(o.pollIntervalMs <= 1000, 'polled evidence is seen within a second');
});

t.test('given values override defaults; undefined ones do not', async (t) => {
  const o = resolveHealthOptions({ quietPeriodMs: 1000, maxQuietPeriodMs: 8000, temperatureLimitC: 85, fatalXids: [31], kmsg: undefined });
  t.equal(o.quietPeriodMs, 1000);
  t.equal(o.maxQuietPeriodMs, 8000);
  t.equal(o.temperatureLimitC, 85);
  t.same(o.fatalXids, [31]);
  t.equal(o.kmsg, 'auto');
});

t.test('nonsense is refused with a config error naming the key', async (t) => {
  const bad: [string, object][] = [
    ['quietPeriodMs', { quietPeriodMs: -1 }],
    ['quietPeriodMs', { quietPeriodMs: 1.5 }],
    ['quietPeriodMs', { quietPeriodMs: Number.NaN }],
    ['maxQuietPeriodMs', { quietPeriodMs: 10_000, maxQuietPeriodMs: 5000 }],
    ['pollIntervalMs', { pollIntervalMs: 0 }],
    ['probeTimeoutMs', { probeTimeoutMs: 0 }],
    ['ignoredXids', { ignoredXids: [13, -1] }],
    ['fatalXids', { fatalXids: ['79'] }],
    ['fatalXids', { fatalXids: 79 }],
    ['temperatureLimitC', { temperatureLimitC: 0 }],
    ['temperatureLimitC', { temperatureLimitC: 1000 }],
    ['temperatureHysteresisC', { temperatureHysteresisC: -2 }],
    ['kmsg', { kmsg: 'sometimes' }],
  ];
  for (const [key, partial] of bad) {
    let caught: unknown = null;
    try {
      resolveHealthOptions(partial as never);
    } catch (err) {
      caught = err;
    }
    t.ok(isAccelError(caught, ErrorCode.CONFIG_INVALID) && caught.message.includes(key), `${key}: ${JSON.stringify(partial)}`);
  }
});

t.test('kmsg is watched when asked, or in auto mode only without NVML events', async (t) => {
  t.equal(shouldWatchKmsg('on', true), true);
  t.equal(shouldWatchKmsg('off', false), false);
  t.equal(shouldWatchKmsg('auto', true), false);
  t.equal(shouldWatchKmsg('auto', false), true);
});
