import t from 'tap';
import { RECENT_SAMPLES_CAPACITY, RecentSamples } from '../../agent/telemetry/recent-samples.js';
import type { Sample } from '../../agent/telemetry/types.js';

const tick = (ts: number): Sample[] => [{ ts, deviceId: 'gpu0', metrics: { util: ts } }];

t.test('an outage never grows it past its capacity; the oldest go first', async (t) => {
  const recent = new RecentSamples();
  for (let seq = 1; seq <= 10_000; seq++) recent.remember(seq, tick(seq));
  t.equal(recent.size, RECENT_SAMPLES_CAPACITY);
  t.equal(recent.get(10_000 - RECENT_SAMPLES_CAPACITY), undefined, 'the oldest were dropped');
  t.same(recent.get(10_000 - RECENT_SAMPLES_CAPACITY + 1), tick(10_000 - RECENT_SAMPLES_CAPACITY + 1), 'the newest are kept');
  t.same(recent.get(10_000), tick(10_000));
});

t.test('entries stay until acknowledged, whether or not they were used', async (t) => {
  const recent = new RecentSamples(8);
  for (let seq = 1; seq <= 5; seq++) recent.remember(seq, tick(seq));
  t.ok(recent.get(2), 'using an entry keeps it for a resend');
  recent.forgetThrough(3);
  t.equal(recent.size, 2);
  t.equal(recent.get(3), undefined);
  t.ok(recent.get(4));
  recent.forgetThrough(10);
  t.equal(recent.size, 0);
});

t.test('remembering a sequence number again replaces the entry and makes it the newest', async (t) => {
  const recent = new RecentSamples(2);
  recent.remember(1, tick(1));
  recent.remember(2, tick(2));
  recent.remember(1, tick(100));
  recent.remember(3, tick(3));
  t.same(recent.get(1), tick(100));
  t.equal(recent.get(2), undefined, 'the oldest entry went, not the one renewed');
});
