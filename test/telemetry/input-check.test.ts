import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { checkSample, chunkSamples } from '../../agent/telemetry/input-check.js';
import type { Sample } from '../../agent/telemetry/types.js';

const good: Sample = { ts: 1_700_000_000_000, deviceId: 'GPU-1', metrics: { DCGM_FI_DEV_GPU_UTIL: 5, odd: NaN } };

t.test('well-formed samples pass, NaN values included (the codec carries them)', async (t) => {
  t.doesNotThrow(() => checkSample(good));
});

t.test('samples the collector would refuse are stopped at the door', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['fractional ts', { ...good, ts: 1.5 }],
    ['negative ts', { ...good, ts: -1 }],
    ['string ts', { ...good, ts: '1' }],
    ['empty device', { ...good, deviceId: '' }],
    ['long device', { ...good, deviceId: 'x'.repeat(257) }],
    ['no metrics', { ...good, metrics: null }],
    ['empty metric name', { ...good, metrics: { '': 1 } }],
    ['string value', { ...good, metrics: { a: '1' } }],
    ['metric named like the prototype, which decoding would drop', { ...good, metrics: JSON.parse('{"__proto__": 1}') as Record<string, number> }],
    ['null sample', null],
  ];
  for (const [name, s] of bad) t.throws(() => checkSample(s as Sample), { code: ErrorCode.TELEMETRY_INPUT }, name);
});

t.test('chunks hold at most the given number of values and never split a sample', async (t) => {
  const s = (n: number): Sample => ({ ts: 1, deviceId: 'd', metrics: Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i])) });
  const chunks = chunkSamples([s(3), s(3), s(3), s(5), s(1)], 6);
  t.same(chunks.map((c) => c.map((x) => Object.keys(x.metrics).length)), [[3, 3], [3], [5, 1]]);
  t.same(chunkSamples([s(10)], 4).length, 1, 'an oversized sample still travels, alone');
  t.same(chunkSamples([], 4), []);
});
