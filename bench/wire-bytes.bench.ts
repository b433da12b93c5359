/**
 * Bytes per sample on the wire for 8 and 16 GPUs x 14 metrics, sampled every
 * second and sent in 1 s or 10 s frames, with and without per-frame deflate.
 * The dictionary is sent in the first frame of a connection; steady-state
 * figures leave that frame out, "with dictionary" spreads it over 10 minutes.
 *
 *   node --import @tapjs/typescript/import bench/wire-bytes.bench.ts
 * (with TS_NODE_TRANSPILE_ONLY=1)
 */
import { SeriesDictionary, countValues, encodeDataFrame, encodeSamplesPayload, type Compression, type WireRecord } from '../agent/telemetry/wire-codec.js';
import { RecordType } from '../agent/telemetry/types.js';
import { gpuSampler } from '../test/helpers/gpu-samples.js';
import { markdownTable } from './lib/report.js';

const MINUTES = 10;

interface Row {
  devices: number;
  frameSeconds: number;
  compression: Compression;
  steady: number;
  withDictionary: number;
  spoolPerSample: number;
}

function measure(devices: number, frameSeconds: number, compression: Compression): Row {
  const sample = gpuSampler(devices, 42);
  const dict = new SeriesDictionary();
  let ts = 1_700_000_000_000;
  let seq = 1;
  let firstFrame = 0;
  let steadyBytes = 0;
  let steadyValues = 0;
  let spoolBytes = 0;
  let allValues = 0;
  const frames = (MINUTES * 60) / frameSeconds;
  for (let f = 0; f < frames; f++) {
    const records: WireRecord[] = [];
    let values = 0;
    for (let s = 0; s < frameSeconds; s++) {
      const samples = sample(ts);
      ts += 1000;
      values += countValues(samples);
      spoolBytes += encodeSamplesPayload(samples).length;
      records.push({ seq: seq++, type: RecordType.SAMPLES, samples });
    }
    const size = encodeDataFrame(records, dict, compression).length;
    allValues += values;
    if (f === 0) firstFrame = size;
    else {
      steadyBytes += size;
      steadyValues += values;
    }
  }
  return {
    devices,
    frameSeconds,
    compression,
    steady: steadyBytes / steadyValues,
    withDictionary: (steadyBytes + firstFrame) / allValues,
    spoolPerSample: spoolBytes / allValues,
  };
}

const rows: Row[] = [];
for (const devices of [8, 16]) {
  for (const frameSeconds of [1, 10]) {
    for (const compression of ['never', 'auto'] as const) rows.push(measure(devices, frameSeconds, compression));
  }
}
console.log(
  markdownTable(
    [
      { title: 'devices', align: 'right' },
      { title: 'frame', align: 'right' },
      'compression',
      { title: 'B/sample(steady)', align: 'right' },
      { title: 'B/sample(with dictionary)', align: 'right' },
      { title: 'spool B/sample', align: 'right' },
    ],
    rows.map((r) => [String(r.devices), `${r.frameSeconds}s`, r.compression, r.steady.toFixed(2), r.withDictionary.toFixed(2), r.spoolPerSample.toFixed(2)]),
  ),
);
