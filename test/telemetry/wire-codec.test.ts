import t from 'tap';
import { deflateRawSync } from 'node:zlib';
import { isAccelError, ErrorCode } from '../../agent/errors.js';
import { ByteWriter } from '../../agent/telemetry/bytes.js';
import {
  DATA_FRAME_TAG,
  SeriesDictionary,
  chooseScale,
  countValues,
  decodeDataFrame,
  decodeSamplesPayload,
  decodesAsGiven,
  encodeDataFrame,
  encodeSamplesPayload,
  type WireRecord,
} from '../../agent/telemetry/wire-codec.js';
import { RecordType, type Sample } from '../../agent/telemetry/types.js';
import { awkwardTick, gpuSampler } from '../helpers/gpu-samples.js';
import { randomInt, seededRandom } from '../helpers/seeded-random.js';

/** Order-independent form with exact value identity (Object.is keeps NaN and -0 distinct). */
function normalise(samples: readonly Sample[]): string[] {
  const out: string[] = [];
  for (const s of samples) {
    for (const [m, v] of Object.entries(s.metrics)) out.push(`${s.ts}|${s.deviceId}|${m}|${Object.is(v, -0) ? '-0' : String(v)}`);
  }
  return out.sort();
}

const T0 = 1_700_000_000_000;

t.test('chooseScale picks the fewest decimals that carry every value exactly', async (t) => {
  t.equal(chooseScale([5, 100, 0]), 0);
  t.equal(chooseScale([71.25, 3]), 2);
  t.equal(chooseScale([0.1, 0.001]), 3);
  t.equal(chooseScale([1 / 3]), 15, 'repeating decimal travels as float');
  t.equal(chooseScale([1e300]), 15, 'beyond the scaled-integer range');
  t.equal(chooseScale([NaN]), 15);
  t.equal(chooseScale([Infinity]), 15);
  t.equal(chooseScale([-0]), 15, 'negative zero keeps its sign');
  t.equal(chooseScale([]), 0);
  t.equal(chooseScale([7, 0.5, 0.25]), 2, 'earlier values are carried at the scale a later one needs');
  t.equal(chooseScale([2 ** 50, 0.5]), 15, 'a whole number at the limit does not fit the decimals a later value needs');
});

t.test('a spool payload round-trips a tick of GPU samples and is self-contained', async (t) => {
  const samples = gpuSampler(8, 7)(T0);
  const payload = encodeSamplesPayload(samples);
  t.same(normalise(decodeSamplesPayload(payload)), normalise(samples));
  t.same(normalise(decodeSamplesPayload(encodeSamplesPayload(samples, 'never'))), normalise(samples));
});

t.test('frames on one connection share a dictionary: names are sent once', async (t) => {
  const sample = gpuSampler(4, 3);
  const tx = new SeriesDictionary();
  const rx = new SeriesDictionary();
  const f1 = encodeDataFrame([{ seq: 1, type: RecordType.SAMPLES, samples: sample(T0) }], tx, 'never');
  const f2 = encodeDataFrame([{ seq: 2, type: RecordType.SAMPLES, samples: sample(T0 + 1000) }], tx, 'never');
  t.ok(Buffer.from(f1).includes('DCGM_FI_DEV_GPU_UTIL'), 'first frame defines names');
  t.notOk(Buffer.from(f2).includes('DCGM_FI_DEV_GPU_UTIL'), 'second frame refers by index');
  t.ok(f2.length * 3 < f1.length);
  const r1 = decodeDataFrame(f1, rx);
  const r2 = decodeDataFrame(f2, rx);
  t.equal(r1[0]!.seq, 1);
  t.equal(r2[0]!.seq, 2);
  t.equal(rx.series.length, 4 * 14);
  t.throws(() => decodeDataFrame(f2, new SeriesDictionary()), /series/, 'a fresh peer cannot read a frame that relies on earlier definitions');
});

t.test('mixed records keep their sequence numbers, types and opaque payloads', async (t) => {
  const sample = gpuSampler(2, 5);
  const records: WireRecord[] = [
    { seq: 41, type: RecordType.SAMPLES, samples: sample(T0) },
    { seq: 42, type: RecordType.SAMPLES, samples: sample(T0 + 1000) },
    { seq: 90, type: RecordType.EVENT, payload: new TextEncoder().encode('{"x":1}') },
    { seq: 43, type: RecordType.SAMPLES, samples: sample(T0 + 2000) },
    { seq: 91, type: RecordType.GAP, payload: new Uint8Array([1, 2, 3]) },
  ];
  const out = decodeDataFrame(encodeDataFrame(records, new SeriesDictionary()), new SeriesDictionary());
  t.same(out.map((r) => [r.seq, r.type]), records.map((r) => [r.seq, r.type]));
  for (let i = 0; i < records.length; i++) {
    const a = records[i]!;
    const b = out[i]!;
    if (a.type === RecordType.SAMPLES && b.type === RecordType.SAMPLES) t.same(normalise(b.samples), normalise(a.samples));
    else if (a.type !== RecordType.SAMPLES && b.type !== RecordType.SAMPLES) t.same(Buffer.from(b.payload), Buffer.from(a.payload));
    else t.fail('type changed');
  }
});

t.test('random batches round-trip exactly (seeded property test)', async (t) => {
  const special = [0, -0, NaN, Infinity, -Infinity, 1 / 3, 1e300, -1e-300, 2 ** 50, -(2 ** 50) - 1, 0.1, 123.456789, Number.MAX_SAFE_INTEGER];
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]) {
    const rand = seededRandom(seed);
    const tx = new SeriesDictionary();
    const rx = new SeriesDictionary();
    let ts = randomInt(rand, 0, 2 ** 42);
    let seq = randomInt(rand, 1, 1e6);
    for (let frame = 0; frame < 4; frame++) {
      const records: WireRecord[] = [];
      const nRecords = randomInt(rand, 1, 5);
      for (let r = 0; r < nRecords; r++) {
        const samples: Sample[] = [];
        const nTs = randomInt(rand, 1, 12);
        for (let k = 0; k < nTs; k++) {
          ts += randomInt(rand, 1, 5000);
          for (let d = 0; d < randomInt(rand, 1, 4); d++) {
            const metrics: Record<string, number> = {};
            for (let m = 0; m < randomInt(rand, 1, 6); m++) {
              const pick = rand();
              metrics[`metric_${randomInt(rand, 0, 9)}`] =
                pick < 0.15
                  ? special[randomInt(rand, 0, special.length - 1)]!
                  : pick < 0.6
                    ? randomInt(rand, -1000, 1000)
                    : pick < 0.85
                      ? randomInt(rand, -1e6, 1e6) / 1000
                      : (rand() - 0.5) * 10 ** randomInt(rand, -5, 12);
            }
            samples.push({ ts, deviceId: `dev-${d}-ü`, metrics });
          }
        }
        seq += randomInt(rand, 1, 3);
        records.push({ seq, type: RecordType.SAMPLES, samples });
      }
      const msg = encodeDataFrame(records, tx, rand() < 0.5 ? 'auto' : 'never');
      const back = decodeDataFrame(msg, rx);
      t.equal(back.length, records.length, `seed ${seed} frame ${frame}`);
      for (let i = 0; i < records.length; i++) {
        const a = records[i]!;
        const b = back[i]!;
        if (a.type !== RecordType.SAMPLES || b.type !== RecordType.SAMPLES) {
          t.fail('type changed');
          continue;
        }
        t.equal(b.seq, a.seq);
        t.same(normalise(b.samples), normalise(a.samples), `seed ${seed} frame ${frame} record ${i}`);
        t.same(normalise(decodeSamplesPayload(encodeSamplesPayload(a.samples))), normalise(a.samples));
      }
    }
  }
});

t.test('a later sample for the same series and instant wins', async (t) => {
  const samples: Sample[] = [
    { ts: T0, deviceId: 'a', metrics: { x: 1 } },
    { ts: T0, deviceId: 'a', metrics: { x: 2 } },
  ];
  t.same(decodeSamplesPayload(encodeSamplesPayload(samples)), [{ ts: T0, deviceId: 'a', metrics: { x: 2 } }]);
});

t.test('sparse series (a metric missing at some instants) keep their holes', async (t) => {
  const samples: Sample[] = [];
  for (let i = 0; i < 20; i++) {
    const metrics: Record<string, number> = { always: i };
    if (i % 3 === 0) metrics.sometimes = i * 10;
    samples.push({ ts: T0 + i * 1000, deviceId: 'gpu0', metrics });
  }
  t.same(normalise(decodeSamplesPayload(encodeSamplesPayload(samples))), normalise(samples));
});

t.test('encoding refuses timestamps that are not whole non-negative milliseconds', async (t) => {
  for (const ts of [-1, 1.5, NaN, 2 ** 53]) {
    t.throws(() => encodeSamplesPayload([{ ts, deviceId: 'a', metrics: { x: 1 } }]), { code: ErrorCode.PROTOCOL }, String(ts));
  }
});

t.test('8 and 16 GPUs x 14 metrics in 10 s frames cost at most 2 bytes per sample', async (t) => {
  for (const devices of [8, 16]) {
    const sample = gpuSampler(devices, 42);
    const dict = new SeriesDictionary();
    let bytes = 0;
    let values = 0;
    let seq = 1;
    let ts = T0;
    for (let frame = 0; frame < 30; frame++) {
      const records: WireRecord[] = [];
      for (let s = 0; s < 10; s++) {
        const samples = sample(ts);
        ts += 1000;
        values += countValues(samples);
        records.push({ seq: seq++, type: RecordType.SAMPLES, samples });
      }
      bytes += encodeDataFrame(records, dict).length;
    }
    const perSample = bytes / values;
    t.comment(`${devices} GPUs: ${perSample.toFixed(2)} B/sample including the dictionary`);
    t.ok(perSample <= 2, `${devices} GPUs: ${perSample.toFixed(2)} B/sample`);
  }
});

t.test('auto compression leaves a frame plain when deflate would not shrink it', async (t) => {
  const small = encodeDataFrame([{ seq: 1, type: RecordType.EVENT, payload: new Uint8Array([7]) }], new SeriesDictionary());
  t.equal(small[0], DATA_FRAME_TAG);
  t.equal(small[1], 0, 'not deflated');
  const big = encodeDataFrame([{ seq: 1, type: RecordType.SAMPLES, samples: gpuSampler(8, 1)(T0) }], new SeriesDictionary());
  t.equal(big[1], 1, 'deflated');
});

/** Why a decode that should fail did not fail properly, or null when it failed with a protocol error. */
function notAProtocolError(fn: () => unknown): string | null {
  try {
    fn();
    return 'decoded without error';
  } catch (err) {
    return isAccelError(err, ErrorCode.PROTOCOL) ? null : `wrong error ${String(err)}`;
  }
}

t.test('every truncation of a frame is a protocol error, never a crash or a short read', async (t) => {
  const msg = encodeDataFrame(
    [
      { seq: 5, type: RecordType.SAMPLES, samples: gpuSampler(2, 9)(T0) },
      { seq: 6, type: RecordType.EVENT, payload: new Uint8Array(10) },
    ],
    new SeriesDictionary(),
    'never',
  );
  for (let cut = 0; cut < msg.length; cut++) {
    const problem = notAProtocolError(() => decodeDataFrame(msg.subarray(0, cut), new SeriesDictionary()));
    if (problem) t.fail(`cut ${cut}: ${problem}`);
  }
  t.pass(`${msg.length} truncations rejected`);
});

t.test('randomly mutated frames either decode or fail with a protocol error', async (t) => {
  const rand = seededRandom(99);
  const msg = encodeDataFrame([{ seq: 5, type: RecordType.SAMPLES, samples: gpuSampler(3, 9)(T0) }], new SeriesDictionary(), 'never');
  let rejected = 0;
  for (let i = 0; i < 2000; i++) {
    const copy = Uint8Array.from(msg);
    for (let k = 0; k < randomInt(rand, 1, 4); k++) copy[randomInt(rand, 0, copy.length - 1)] = randomInt(rand, 0, 255);
    try {
      decodeDataFrame(copy, new SeriesDictionary());
    } catch (err) {
      if (!isAccelError(err, ErrorCode.PROTOCOL)) t.fail(`mutation ${i}: ${String(err)}`);
      rejected++;
    }
  }
  t.ok(rejected > 0);
  t.pass(`${rejected} of 2000 mutations rejected, none crashed`);
});

function rawFrame(build: (w: ByteWriter) => void, flags = 0): Uint8Array {
  const w = new ByteWriter();
  w.u8(DATA_FRAME_TAG);
  w.u8(flags);
  build(w);
  return w.finish();
}

t.test('hostile frames are refused with a reason', async (t) => {
  const emptyDefs = (w: ByteWriter) => {
    w.varint(0);
    w.varint(0);
    w.varint(0);
  };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['wrong tag', Uint8Array.from([9, 0, 0, 0, 0, 0]), /not a data frame/],
    ['unknown flags', Uint8Array.from([DATA_FRAME_TAG, 0x80, 0, 0, 0, 0]), /flags/],
    [
      'series naming undefined device',
      rawFrame((w) => {
        w.varint(0);
        w.varint(0);
        w.varint(1);
        w.varint(3);
        w.varint(0);
      }),
      /undefined name/,
    ],
    [
      'dictionary flood',
      rawFrame((w) => {
        w.varint(10_000_000);
      }),
      /exceeds the limit/,
    ],
    [
      'record count flood',
      rawFrame((w) => {
        emptyDefs(w);
        w.varint(1e9);
      }),
      /exceeds the limit/,
    ],
    [
      'unknown record type',
      rawFrame((w) => {
        emptyDefs(w);
        w.varint(1);
        w.svarint(1);
        w.u8(77);
      }),
      /record type/,
    ],
    [
      'sequence number zero',
      rawFrame((w) => {
        emptyDefs(w);
        w.varint(1);
        w.svarint(0);
        w.u8(RecordType.EVENT);
        w.varint(0);
      }),
      /sequence/,
    ],
    [
      'timestamps going backwards',
      rawFrame((w) => {
        emptyDefs(w);
        w.varint(1);
        w.svarint(1);
        w.u8(RecordType.SAMPLES);
        w.varint(2);
        w.svarint(1000);
        w.svarint(-2000);
        w.varint(0);
      }),
      /timestamps/,
    ],
    [
      'series not defined in the dictionary',
      rawFrame((w) => {
        emptyDefs(w);
        w.varint(1);
        w.svarint(1);
        w.u8(RecordType.SAMPLES);
        w.varint(1);
        w.svarint(1000);
        w.varint(1);
      }),
      /exceeds the limit|series/,
    ],
    ['trailing bytes', rawFrame((w) => {
      emptyDefs(w);
      w.varint(0);
      w.u8(0);
    }), /trailing/],
    ['deflate garbage', Uint8Array.from([DATA_FRAME_TAG, 1, 0xff, 0xff, 0xff]), /inflate/],
  ];
  for (const [name, msg, reason] of cases) t.throws(() => decodeDataFrame(msg, new SeriesDictionary()), { code: ErrorCode.PROTOCOL, message: reason }, name);
});

t.test('a deflate bomb is stopped at the inflated size limit', async (t) => {
  const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024));
  t.ok(bomb.length < 100_000, 'small on the wire');
  const msg = new Uint8Array(bomb.length + 2);
  msg[0] = DATA_FRAME_TAG;
  msg[1] = 1;
  msg.set(bomb, 2);
  t.throws(() => decodeDataFrame(msg, new SeriesDictionary()), { code: ErrorCode.PROTOCOL, message: /inflate/ });
});

t.test('a damaged spool payload is reported as spool corruption', async (t) => {
  const payload = encodeSamplesPayload(gpuSampler(1, 1)(T0), 'never');
  t.throws(() => decodeSamplesPayload(payload.subarray(0, payload.length - 3)), { code: ErrorCode.SPOOL_CORRUPT });
  t.throws(() => decodeSamplesPayload(Uint8Array.from([2, 0])), { code: ErrorCode.SPOOL_CORRUPT, message: /version/ });
});

t.test('a frame encoded but not sent can be taken back so its definitions go out again', async (t) => {
  const tx = new SeriesDictionary();
  const rx = new SeriesDictionary();
  const samples = gpuSampler(1, 2)(T0);
  const undo = tx.checkpoint();
  encodeDataFrame([{ seq: 1, type: RecordType.SAMPLES, samples }], tx);
  undo();
  const resent = encodeDataFrame([{ seq: 1, type: RecordType.SAMPLES, samples }], tx);
  const out = decodeDataFrame(resent, rx);
  t.equal(out.length, 1, 'the peer can decode the frame that was actually sent');
});

t.test('names the peer would refuse are refused when encoding', async (t) => {
  t.throws(() => encodeSamplesPayload([{ ts: T0, deviceId: 'x'.repeat(300), metrics: { m: 1 } }]), { code: ErrorCode.PROTOCOL, message: /names/ });
  t.throws(() => encodeSamplesPayload([{ ts: T0, deviceId: 'gpu', metrics: { '': 1 } }]), { code: ErrorCode.PROTOCOL });
});

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Byte-for-byte the frames one connection sends for these batches, one record each. */
function framesOf(batches: ReadonlyArray<readonly Sample[]>, compression: 'auto' | 'never' = 'auto'): string[] {
  const dict = new SeriesDictionary();
  return batches.map((samples, i) => hex(encodeDataFrame([{ seq: i + 1, type: RecordType.SAMPLES, samples }], dict, compression)));
}

t.test('a sampler tick frames to the same bytes as its decoded spool payload', async (t) => {
  const ticks = [awkwardTick(T0), awkwardTick(T0 + 1000, 3, 5), awkwardTick(T0 + 2000, 4, 11), gpuSampler(16, 3)(T0 + 3000), gpuSampler(1, 4)(T0 + 4000)];
  for (const tick of ticks) {
    t.ok(decodesAsGiven(tick));
    t.same(decodeSamplesPayload(encodeSamplesPayload(tick)), tick, 'the decoder gives the tick back as it was');
  }
  const decoded = ticks.map((tick) => decodeSamplesPayload(encodeSamplesPayload(tick)));
  for (const compression of ['auto', 'never'] as const) t.same(framesOf(ticks, compression), framesOf(decoded, compression), compression);
});

t.test('batches the decoder regroups are not taken as given', async (t) => {
  const regrouped: Array<[string, Sample[]]> = [
    ['two instants', [...awkwardTick(T0 + 1000, 1), ...awkwardTick(T0, 1)]],
    ['a device twice', [{ ts: T0, deviceId: 'a', metrics: { x: 1 } }, { ts: T0, deviceId: 'b', metrics: { x: 2 } }, { ts: T0, deviceId: 'a', metrics: { y: 3 } }]],
    ['a sample without values', [{ ts: T0, deviceId: 'a', metrics: {} }]],
    ['a metric named like the prototype', [{ ts: T0, deviceId: 'a', metrics: JSON.parse('{"__proto__": 1, "x": 2}') as Record<string, number> }]],
  ];
  for (const [name, samples] of regrouped) {
    t.notOk(decodesAsGiven(samples), name);
    t.notSame(decodeSamplesPayload(encodeSamplesPayload(samples)), samples, `${name}: the decoder does change it`);
  }
  t.ok(decodesAsGiven([]), 'nothing decodes as nothing');
  const [, twice] = regrouped[1]!;
  t.notSame(framesOf([twice]), framesOf([decodeSamplesPayload(encodeSamplesPayload(twice))]), 'framing the regrouped copy gives other bytes');
});

/** Several instants (one irregular, given out of order), sparse series, every scale and raw floats. */
const PINNED_SAMPLES: Sample[] = [
  { ts: T0 + 1000, deviceId: 'gpu1', metrics: { util: 40, power: 71.25, temp: 55 } },
  { ts: T0, deviceId: 'gpu0', metrics: { util: 12, power: 70.5, temp: 54, ratio: 1 / 3 } },
  { ts: T0, deviceId: 'gpu1', metrics: { util: 41, power: 72, temp: -0 } },
  { ts: T0 + 1000, deviceId: 'gpu0', metrics: { util: 13, power: NaN, temp: 54, clock: 1410 } },
  { ts: T0 + 2500, deviceId: 'gpu0', metrics: { util: 100, power: 1e300, temp: 0.001, clock: 1980, xid: -79 } },
  { ts: T0 + 2500, deviceId: 'npu-ü', metrics: { util: 2 ** 50, power: -Infinity, temp: 35.125 } },
];

t.test('a spool payload of a fixed batch is pinned to its bytes', async (t) => {
  t.equal(hex(encodeSamplesPayload(PINNED_SAMPLES, 'never')), [
    '01000304677075310467707530066e70752dc3bc06047574696c05706f7765720474656d7005726174696f05636c6f636b037869640c0000',
    '000100020100010101020103010401050200020102020380a0abfef962af90abfef962e8070c300352013203c07095013f03000000000000',
    '00800000000000804b40201802ae012f0000000000a05140000000000000f87f9c7500883ce4377e23e0cb0600ddcb063f01555555555555',
    'd53f30068416f40830049d01300480808080808080043f04000000000000f0ff3304eaa404',
  ].join(''));
});

t.test('data frames of fixed records are pinned to their bytes, the second using the dictionary the first began', async (t) => {
  const dict = new SeriesDictionary();
  const first = encodeDataFrame([{ seq: 7, type: RecordType.SAMPLES, samples: PINNED_SAMPLES.slice(0, 3) }], dict, 'never');
  const later: Sample[] = [
    { ts: T0 + 3500, deviceId: 'gpu2', metrics: { util: 7, fan: 30 } },
    { ts: T0 + 3500, deviceId: 'gpu0', metrics: { util: 14 } },
  ];
  const records: WireRecord[] = [
    { seq: 8, type: RecordType.SAMPLES, samples: PINNED_SAMPLES },
    { seq: 12, type: RecordType.EVENT, payload: Uint8Array.from([1, 2, 3]) },
    { seq: 9, type: RecordType.SAMPLES, samples: later },
  ];
  const second = encodeDataFrame(records, dict, 'never');
  t.equal(hex(first), [
    '0100020467707531046770753004047574696c05706f7765720474656d7005726174696f070000000100020100010101020103010e010280',
    'a0abfef962af90abfef9620720520122c07095012f00000000000000800000000000804b403001183101820b30016c3f01555555555555d5',
    '3f',
  ].join(''));
  t.equal(hex(second), [
    '010002066e70752dc3bc04677075320305636c6f636b037869640366616e0701040105020002010202030003060310010380a0abfef962af',
    '90abfef962e8070c300352013203c07095013f0300000000000000800000000000804b40201802ae012f0000000000a05140000000000000',
    'f87f9c7500883ce4377e23e0cb0600ddcb063f01555555555555d53f30068416f40830049d01300480808080808080043f04000000000000',
    'f0ff3304eaa404080203010203050101e707038001ab01a0020e203c',
  ].join(''));
});

t.test('bodies far smaller and far larger than the default deflate window round-trip, no larger than deflated with it', async (t) => {
  const sixtyGpus = gpuSampler(60, 8);
  const bodies: Array<[string, Sample[]]> = [
    ['one GPU', gpuSampler(1, 8)(T0)],
    ['one tick of 16 GPUs', gpuSampler(16, 8)(T0)],
    ['a minute of 60 GPUs', Array.from({ length: 60 }, (_, i) => sixtyGpus(T0 + i * 1000)).flat()],
  ];
  for (const [name, samples] of bodies) {
    const plain = encodeSamplesPayload(samples, 'never').subarray(2);
    const payload = encodeSamplesPayload(samples, 'always');
    t.same(normalise(decodeSamplesPayload(payload)), normalise(samples), `${name}: payload of ${plain.length} bytes`);
    t.ok(payload.length - 2 <= deflateRawSync(plain).length, `${name}: ${payload.length - 2} bytes deflated`);
    const frame = encodeDataFrame([{ seq: 1, type: RecordType.SAMPLES, samples }], new SeriesDictionary(), 'always');
    const [rec] = decodeDataFrame(frame, new SeriesDictionary());
    t.same(rec?.type === RecordType.SAMPLES && normalise(rec.samples), normalise(samples), `${name}: frame`);
  }
  t.ok(encodeSamplesPayload(bodies[2]![1], 'never').length > 2 * 32 * 1024, 'the large body is over twice the default window');
});

t.test('payloads and frames deflated with the default window still decode', async (t) => {
  const samples = gpuSampler(16, 9)(T0);
  const plain = encodeSamplesPayload(samples, 'never');
  const payload = Buffer.concat([plain.subarray(0, 1), Uint8Array.of(1), deflateRawSync(plain.subarray(2))]);
  t.same(normalise(decodeSamplesPayload(payload)), normalise(samples));
  const frame = encodeDataFrame([{ seq: 3, type: RecordType.SAMPLES, samples }], new SeriesDictionary(), 'never');
  const [rec] = decodeDataFrame(Buffer.concat([Uint8Array.of(DATA_FRAME_TAG, 1), deflateRawSync(frame.subarray(2))]), new SeriesDictionary());
  t.same(rec?.type === RecordType.SAMPLES && normalise(rec.samples), normalise(samples));
});
