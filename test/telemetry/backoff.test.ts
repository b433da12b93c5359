import t from 'tap';
import { backoffDelay } from '../../agent/telemetry/backoff.js';
import { seededRandom } from '../helpers/seeded-random.js';

const opts = { baseMs: 100, capMs: 5000 };

t.test('the bound doubles per attempt up to the cap', async (t) => {
  const top = () => 0.999999;
  t.equal(backoffDelay(0, opts, top), 99);
  t.equal(backoffDelay(1, opts, top), 199);
  t.equal(backoffDelay(3, opts, top), 799);
  t.equal(backoffDelay(10, opts, top), 4999);
  t.equal(backoffDelay(1_000_000, opts, top), 4999, 'huge attempt counts stay capped, no overflow');
});

t.test('delays are spread over the whole range (full jitter), never negative', async (t) => {
  const rand = seededRandom(3);
  const delays = Array.from({ length: 1000 }, () => backoffDelay(6, opts, rand));
  t.ok(delays.every((d) => d >= 0 && d < 5000));
  t.ok(Math.min(...delays) < 500, 'some retries come early');
  t.ok(Math.max(...delays) > 4500, 'some come late');
});
