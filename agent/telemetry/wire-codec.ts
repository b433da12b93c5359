import { deflateRawSync, inflateRawSync, type ZlibOptions } from 'node:zlib';
import { AccelError, ErrorCode } from '../errors.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { RecordType, isRecordType, type Sample } from './types.js';

/**
 * Batch encoding of samples, on the wire and inside spool records.
 *
 * A series is one (device, metric) pair. Its name is sent once per connection
 * in a dictionary; after that a series costs one index. Values are columnar:
 * each series carries a decimal scale (so 71.25 W travels as the integer 7125)
 * and zigzag varint deltas from the previous value of the same series earlier
 * in the same frame. Timestamps are delta-of-delta, so a regular sampling tick
 * costs one byte per batch. Values that no decimal scale represents exactly
 * (1/3, NaN, huge numbers) travel as raw float64: the codec is lossless.
 *
 * Deltas never cross frames: any frame can be re-sent on a new connection, or
 * dropped as a duplicate, without breaking the frames after it.
 */

export const DATA_FRAME_TAG = 0x01;
const FLAG_DEFLATED = 0x01;
const SAMPLES_PAYLOAD_VERSION = 1;

const SCALE_FLOAT = 15;
const MAX_SCALE = 9;
const SPARSE = 0x10;
const SERIES_HEADER_FLAGS = 32;
/** Scaled integers stay below 2^50 so a delta between two of them is still a safe integer. */
const MAX_SCALED = 2 ** 50;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

export interface WireLimits {
  maxNameBytes: number;
  maxDictionaryEntries: number;
  maxTimestamps: number;
  maxRecords: number;
  maxOpaqueBytes: number;
  maxInflatedBytes: number;
}

export const DEFAULT_WIRE_LIMITS: WireLimits = {
  maxNameBytes: 256,
  maxDictionaryEntries: 65_536,
  maxTimestamps: 100_000,
  maxRecords: 10_000,
  maxOpaqueBytes: 1024 * 1024,
  maxInflatedBytes: 8 * 1024 * 1024,
};

export type WireRecord =
  | { seq: number; type: typeof RecordType.SAMPLES; samples: readonly Sample[] }
  | { seq: number; type: Exclude<RecordType, typeof RecordType.SAMPLES>; payload: Uint8Array };

/** Names of devices, metrics and series, each with an index; one per connection direction. */
export class SeriesDictionary {
  readonly devices: string[] = [];
  readonly metrics: string[] = [];
  readonly series: Array<{ device: number; metric: number }> = [];
  private readonly deviceIndex = new Map<string, number>();
  private readonly metricIndex = new Map<string, number>();
  /** Series ids by device id, then metric name: the encoder looks up a device once per sample, a series once per value. */
  private readonly seriesByDevice = new Map<string, Map<string, number>>();
  private sent = { devices: 0, metrics: 0, series: 0 };

  constructor(private readonly limits: WireLimits = DEFAULT_WIRE_LIMITS) {}

  get size(): number {
    return this.devices.length + this.metrics.length + this.series.length;
  }

  /** The series known for a device, by metric name; the device itself is only defined with its first series. */
  seriesOf(deviceId: string): Map<string, number> {
    let known = this.seriesByDevice.get(deviceId);
    if (!known) {
      known = new Map();
      this.seriesByDevice.set(deviceId, known);
    }
    return known;
  }

  /** Defines a series; `known` is what seriesOf returned for its device. */
  addSeries(known: Map<string, number>, deviceId: string, metric: string): number {
    const device = intern(this.deviceIndex, this.devices, deviceId, this.limits.maxNameBytes);
    const m = intern(this.metricIndex, this.metrics, metric, this.limits.maxNameBytes);
    const id = this.series.length;
    this.series.push({ device, metric: m });
    known.set(metric, id);
    return id;
  }

  /**
   * Remembers what the peer has been sent; calling the result forgets any
   * definitions written since, for a frame that was encoded but never sent.
   */
  checkpoint(): () => void {
    const saved = { ...this.sent };
    return () => {
      this.sent = saved;
    };
  }

  /** Writes the entries created since the last call; the peer's dictionary applies them in order. */
  writeNew(w: ByteWriter): void {
    const devs = this.devices.slice(this.sent.devices);
    const mets = this.metrics.slice(this.sent.metrics);
    const sers = this.series.slice(this.sent.series);
    w.varint(devs.length);
    for (const s of devs) w.string(s);
    w.varint(mets.length);
    for (const s of mets) w.string(s);
    w.varint(sers.length);
    for (const s of sers) {
      w.varint(s.device);
      w.varint(s.metric);
    }
    this.sent = { devices: this.devices.length, metrics: this.metrics.length, series: this.series.length };
  }

  readNew(r: ByteReader): void {
    const room = () => this.limits.maxDictionaryEntries - this.size;
    const nDev = r.count(room(), 'new device names');
    for (let i = 0; i < nDev; i++) this.devices.push(r.string(this.limits.maxNameBytes, 'device name'));
    const nMet = r.count(room(), 'new metric names');
    for (let i = 0; i < nMet; i++) this.metrics.push(r.string(this.limits.maxNameBytes, 'metric name'));
    const nSer = r.count(room(), 'new series');
    for (let i = 0; i < nSer; i++) {
      const device = r.varint();
      const metric = r.varint();
      if (device >= this.devices.length || metric >= this.metrics.length) r.fail('series refers to an undefined name');
      this.series.push({ device, metric });
    }
  }
}

/** New names are checked against the limit the peer's decoder enforces, so a frame is never refused over a name. */
function intern(index: Map<string, number>, list: string[], name: string, maxBytes: number): number {
  let i = index.get(name);
  if (i === undefined) {
    const bytes = Buffer.byteLength(name, 'utf8');
    if (bytes === 0 || bytes > maxBytes) throw new AccelError(ErrorCode.PROTOCOL, `device and metric names must be 1-${maxBytes} bytes, got ${bytes}`);
    i = list.length;
    list.push(name);
    index.set(name, i);
  }
  return i;
}

/** Per-frame delta state: previous timestamp, previous tick and previous value of each series. */
interface DeltaContext {
  prevTs: number;
  prevDelta: number;
  prev: Map<number, number>;
}

function freshContext(): DeltaContext {
  return { prevTs: 0, prevDelta: 0, prev: new Map() };
}

/** The encoder's, with previous values by series index: a frame's series are numbered densely, and a Map grown anew for every payload costs more. */
interface EncodeContext extends Omit<DeltaContext, 'prev'> {
  prev: Array<number | undefined>;
}

function encodeContext(): EncodeContext {
  return { prevTs: 0, prevDelta: 0, prev: [] };
}

function baseFor(prev: number | undefined, scale: number): number {
  if (prev === undefined || !Number.isFinite(prev)) return 0;
  const b = Math.round(prev * POW10[scale]!);
  return Math.abs(b) <= MAX_SCALED ? b : 0;
}

function representable(v: number, scale: number): boolean {
  // Integers have no negative zero, so -0 must travel as a float to keep its sign.
  if (Object.is(v, -0)) return false;
  const s = Math.round(v * POW10[scale]!);
  return Math.abs(s) <= MAX_SCALED && Object.is(s / POW10[scale]!, v);
}

/** The smallest scale from `from` up that carries `v` exactly, or SCALE_FLOAT. */
function scaleFrom(v: number, from: number): number {
  if (!Number.isFinite(v)) return SCALE_FLOAT;
  // Most readings are whole numbers; this is representable(v, 0) without the arithmetic.
  if (from === 0 && Number.isInteger(v) && Math.abs(v) <= MAX_SCALED && !Object.is(v, -0)) return 0;
  for (let scale = from; scale <= MAX_SCALE; scale++) if (representable(v, scale)) return scale;
  return SCALE_FLOAT;
}

/** The smallest decimal scale that carries every value exactly, or SCALE_FLOAT. */
export function chooseScale(values: readonly number[]): number {
  let scale = 0;
  let fitFrom = 0;
  for (let i = 0; i < values.length; i++) {
    const s = scaleFrom(values[i]!, scale);
    if (s === SCALE_FLOAT) return SCALE_FLOAT;
    if (s !== scale) {
      scale = s;
      fitFrom = i;
    }
  }
  // A value that fits a smaller scale need not fit a larger one (rounding, the 2^50 bound): those before the last rise are tried again.
  for (let i = 0; i < fitFrom; i++) if (!representable(values[i]!, scale)) return SCALE_FLOAT;
  return scale;
}

function checkTimestamp(ts: number): void {
  if (!Number.isSafeInteger(ts) || ts < 0) {
    throw new AccelError(ErrorCode.PROTOCOL, `sample timestamp must be a non-negative integer of milliseconds, got ${ts}`);
  }
}

/** The distinct instants of a batch, ascending. */
function instantsOf(samples: readonly Sample[]): number[] {
  const seen = new Set<number>();
  for (const s of samples) seen.add(s.ts);
  const timestamps = [...seen].sort((a, b) => a - b);
  timestamps.forEach(checkTimestamp);
  return timestamps;
}

/**
 * A batch's values as a table: one row per series, in the order series first
 * appear, one column per instant; `undefined` where a series has no value.
 */
class ValueTable {
  readonly ids: number[] = [];
  readonly cells: Array<number | undefined> = [];
  /** Row of each series; built only once a device comes back, since until then every series is new to the table. */
  private rows: Map<number, number> | null = null;

  constructor(readonly width: number) {}

  put(id: number, col: number, value: number | undefined, deviceSeen: boolean): void {
    let row = deviceSeen ? this.rowOf(id) : undefined;
    if (row === undefined) {
      row = this.ids.length;
      this.ids.push(id);
      this.rows?.set(id, row);
      for (let c = 0; c < this.width; c++) this.cells.push(undefined);
    }
    this.cells[row * this.width + col] = value;
  }

  /** Rows in ascending series order: already so when the dictionary numbered the series in this batch's order. */
  sortedRows(): number[] {
    const order = this.ids.map((_, row) => row);
    if (!isAscending(this.ids)) order.sort((a, b) => this.ids[a]! - this.ids[b]!);
    return order;
  }

  private rowOf(id: number): number | undefined {
    this.rows ??= new Map(this.ids.map((seriesId, row) => [seriesId, row]));
    return this.rows.get(id);
  }
}

function isAscending(a: readonly number[]): boolean {
  for (let i = 1; i < a.length; i++) if (a[i]! < a[i - 1]!) return false;
  return true;
}

function tabulate(samples: readonly Sample[], timestamps: readonly number[], dict: SeriesDictionary): ValueTable {
  const table = new ValueTable(timestamps.length);
  const tsIndex = timestamps.length > 1 ? new Map(timestamps.map((ts, i) => [ts, i])) : null;
  const devices = new Set<string>();
  for (const s of samples) {
    const col = tsIndex ? tsIndex.get(s.ts)! : 0;
    const seen = devices.has(s.deviceId);
    devices.add(s.deviceId);
    const known = dict.seriesOf(s.deviceId);
    const metrics = s.metrics;
    for (const metric of Object.keys(metrics)) {
      const id = known.get(metric) ?? dict.addSeries(known, s.deviceId, metric);
      table.put(id, col, metrics[metric], seen);
    }
  }
  return table;
}

function writeTimestamps(w: ByteWriter, timestamps: readonly number[], ctx: EncodeContext): void {
  w.varint(timestamps.length);
  for (const ts of timestamps) {
    const d = ts - ctx.prevTs;
    w.svarint(d - ctx.prevDelta);
    ctx.prevDelta = d;
    ctx.prevTs = ts;
  }
}

/** The values present in one row of the table, in column order. */
function presentIn(table: ValueTable, row: number): number[] {
  const present: number[] = [];
  const start = row * table.width;
  for (let c = start; c < start + table.width; c++) {
    const v = table.cells[c];
    if (v !== undefined) present.push(v);
  }
  return present;
}

function presenceBitmap(table: ValueTable, row: number): Uint8Array {
  const bitmap = new Uint8Array(Math.ceil(table.width / 8));
  const start = row * table.width;
  for (let c = 0; c < table.width; c++) if (table.cells[start + c] !== undefined) bitmap[c >> 3]! |= 1 << (c & 7);
  return bitmap;
}

function writeValues(w: ByteWriter, id: number, present: readonly number[], scale: number, ctx: EncodeContext): void {
  if (present.length === 0) return;
  let prev = ctx.prev[id];
  for (const v of present) {
    if (scale === SCALE_FLOAT) w.f64(v);
    else w.svarint(Math.round(v * POW10[scale]!) - baseFor(prev, scale));
    prev = v;
  }
  ctx.prev[id] = prev;
}

function writeBlock(w: ByteWriter, samples: readonly Sample[], dict: SeriesDictionary, ctx: EncodeContext): void {
  const timestamps = instantsOf(samples);
  const table = tabulate(samples, timestamps, dict);
  writeTimestamps(w, timestamps, ctx);
  w.varint(table.ids.length);
  let prevId = -1;
  for (const row of table.sortedRows()) {
    const id = table.ids[row]!;
    const present = presentIn(table, row);
    const sparse = present.length < table.width;
    const scale = chooseScale(present);
    w.varint((id - prevId) * SERIES_HEADER_FLAGS + (sparse ? SPARSE : 0) + scale);
    prevId = id;
    if (sparse) w.bytes(presenceBitmap(table, row));
    writeValues(w, id, present, scale, ctx);
  }
}

function readBlock(r: ByteReader, dict: SeriesDictionary, ctx: DeltaContext, limits: WireLimits): Sample[] {
  const nTs = r.count(limits.maxTimestamps, 'timestamps in a batch');
  const timestamps: number[] = [];
  for (let i = 0; i < nTs; i++) {
    const d = ctx.prevDelta + r.svarint();
    const ts = ctx.prevTs + d;
    if (!Number.isSafeInteger(ts) || ts < 0 || (i > 0 && d <= 0)) r.fail('timestamps out of order or out of range');
    timestamps.push(ts);
    ctx.prevDelta = d;
    ctx.prevTs = ts;
  }
  const byKey = new Map<string, Sample>();
  const nSeries = r.count(dict.series.length, 'series in a batch');
  if (nSeries > 0 && nTs === 0) r.fail('series without timestamps');
  let prevId = -1;
  for (let i = 0; i < nSeries; i++) {
    const header = r.varint();
    const flags = header % SERIES_HEADER_FLAGS;
    const id = prevId + Math.floor(header / SERIES_HEADER_FLAGS);
    if (id === prevId || id >= dict.series.length) r.fail('series index out of order or undefined');
    prevId = id;
    const scale = flags & 0x0f;
    if (scale > MAX_SCALE && scale !== SCALE_FLOAT) r.fail(`unknown value scale ${scale}`);
    let cols: number[];
    if (flags & SPARSE) {
      const bitmap = r.bytes(Math.ceil(nTs / 8));
      cols = [];
      for (let c = 0; c < bitmap.length * 8; c++) {
        if ((bitmap[c >> 3]! >> (c & 7)) & 1) {
          if (c >= nTs) r.fail('presence bit beyond the last timestamp');
          cols.push(c);
        }
      }
      if (cols.length === 0 || cols.length === nTs) r.fail('sparse series with an empty or full presence map');
    } else {
      cols = timestamps.map((_, c) => c);
    }
    const { device, metric } = dict.series[id]!;
    const deviceId = dict.devices[device]!;
    const metricName = dict.metrics[metric]!;
    for (const c of cols) {
      let v: number;
      if (scale === SCALE_FLOAT) {
        v = r.f64();
      } else {
        const s = baseFor(ctx.prev.get(id), scale) + r.svarint();
        if (Math.abs(s) > MAX_SCALED) r.fail('scaled value out of range');
        v = s / POW10[scale]!;
      }
      ctx.prev.set(id, v);
      const key = `${c}\u0000${deviceId}`;
      let sample = byKey.get(key);
      if (!sample) {
        sample = { ts: timestamps[c]!, deviceId, metrics: {} };
        byKey.set(key, sample);
      }
      sample.metrics[metricName] = v;
    }
  }
  return [...byKey.values()].sort((a, b) => a.ts - b.ts);
}

export type Compression = 'auto' | 'always' | 'never';

/**
 * Deflate's window sized to the body rather than 32 KiB: no match reaches
 * further back than the body is long, so nothing is lost, and a one-tick
 * payload does not set up memory for 32 KiB on every call. Inflate with the
 * default window reads a stream made with any smaller one.
 */
function deflateOptions(length: number): ZlibOptions {
  let windowBits = 9;
  while (windowBits < 15 && 2 ** windowBits < length) windowBits++;
  // A block holds 2^(memLevel + 6) symbols: room for fewer than the body's bytes cuts it into more blocks, larger and slower. 8 is zlib's default.
  return { windowBits, memLevel: Math.min(8, windowBits - 6) };
}

function maybeDeflate(plain: Uint8Array, compression: Compression): { body: Uint8Array; deflated: boolean } {
  if (compression === 'never') return { body: plain, deflated: false };
  const deflated = deflateRawSync(plain, deflateOptions(plain.length));
  if (compression === 'always' || deflated.length < plain.length) return { body: deflated, deflated: true };
  return { body: plain, deflated: false };
}

function inflate(body: Uint8Array, limits: WireLimits, code: ErrorCode, what: string): Uint8Array {
  try {
    return inflateRawSync(body, { maxOutputLength: limits.maxInflatedBytes });
  } catch (err) {
    throw new AccelError(code, `${what} does not inflate within the size limit`, { cause: err });
  }
}

function withHeader(first: number, flags: number, body: Uint8Array): Uint8Array {
  const msg = new Uint8Array(body.length + 2);
  msg[0] = first;
  msg[1] = flags;
  msg.set(body, 2);
  return msg;
}

/**
 * A self-contained sample batch (its own dictionary), as stored in a spool or
 * collector record. Names dominate a one-tick batch, and they deflate to half.
 */
export function encodeSamplesPayload(samples: readonly Sample[], compression: Compression = 'auto'): Uint8Array {
  const dict = new SeriesDictionary();
  const body = new ByteWriter(1024);
  writeBlock(body, samples, dict, encodeContext());
  const w = new ByteWriter(body.length + 256);
  dict.writeNew(w);
  w.bytes(body.finish());
  const packed = maybeDeflate(w.finish(), compression);
  return withHeader(SAMPLES_PAYLOAD_VERSION, packed.deflated ? FLAG_DEFLATED : 0, packed.body);
}

export function decodeSamplesPayload(
  payload: Uint8Array,
  code: ErrorCode = ErrorCode.SPOOL_CORRUPT,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): Sample[] {
  const head = new ByteReader(payload, code);
  const version = head.u8();
  if (version !== SAMPLES_PAYLOAD_VERSION) head.fail(`unknown samples payload version ${version}`);
  const flags = head.u8();
  if (flags & ~FLAG_DEFLATED) head.fail(`unknown samples payload flags ${flags}`);
  let body = head.bytes(head.remaining);
  if (flags & FLAG_DEFLATED) body = inflate(body, limits, code, 'samples payload');
  const r = new ByteReader(body, code);
  const dict = new SeriesDictionary(limits);
  dict.readNew(r);
  const samples = readBlock(r, dict, freshContext(), limits);
  r.expectEnd('samples payload');
  return samples;
}

/**
 * Whether decodeSamplesPayload gives these (checked) samples back exactly as
 * they are, in the same order with each sample's metrics in the same order,
 * so that a data frame made from either is the same bytes. The decoder
 * rebuilds samples series by series and sorts them by instant, which puts
 * back a sampler's tick (one instant, each device once, each with a value)
 * but regroups anything else.
 */
export function decodesAsGiven(samples: readonly Sample[]): boolean {
  const ts = samples[0]?.ts;
  const devices = new Set<string>();
  for (const s of samples) {
    if (s.ts !== ts || devices.has(s.deviceId) || !hasOwnKey(s.metrics)) return false;
    // The decoder assigns names as properties, and assigning `__proto__` sets no property.
    if (Object.hasOwn(s.metrics, '__proto__')) return false;
    devices.add(s.deviceId);
  }
  return true;
}

function hasOwnKey(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/**
 * One binary WebSocket message carrying records. With `auto` the body is
 * deflated only when that makes it smaller: small frames (one event) grow
 * under deflate, ten seconds of samples shrink by more than half (docs/protocol.md).
 */
export function encodeDataFrame(records: readonly WireRecord[], dict: SeriesDictionary, compression: Compression = 'auto'): Uint8Array {
  const body = new ByteWriter(4096);
  const ctx = encodeContext();
  body.varint(records.length);
  let prevSeq = 0;
  for (const rec of records) {
    if (!Number.isSafeInteger(rec.seq) || rec.seq < 1) throw new RangeError(`sequence number out of range: ${rec.seq}`);
    body.svarint(rec.seq - prevSeq);
    prevSeq = rec.seq;
    body.u8(rec.type);
    if (rec.type === RecordType.SAMPLES) writeBlock(body, rec.samples, dict, ctx);
    else body.blob(rec.payload);
  }
  const full = new ByteWriter(body.length + 256);
  dict.writeNew(full);
  full.bytes(body.finish());
  const packed = maybeDeflate(full.finish(), compression);
  return withHeader(DATA_FRAME_TAG, packed.deflated ? FLAG_DEFLATED : 0, packed.body);
}

export function decodeDataFrame(msg: Uint8Array, dict: SeriesDictionary, limits: WireLimits = DEFAULT_WIRE_LIMITS): WireRecord[] {
  const head = new ByteReader(msg, ErrorCode.PROTOCOL);
  if (head.u8() !== DATA_FRAME_TAG) head.fail('not a data frame');
  const flags = head.u8();
  if (flags & ~FLAG_DEFLATED) head.fail(`unknown data frame flags ${flags}`);
  let body = head.bytes(head.remaining);
  if (flags & FLAG_DEFLATED) body = inflate(body, limits, ErrorCode.PROTOCOL, 'data frame');
  const r: ByteReader = new ByteReader(body, ErrorCode.PROTOCOL);
  dict.readNew(r);
  const ctx = freshContext();
  const n = r.count(limits.maxRecords, 'records in a frame');
  const out: WireRecord[] = [];
  let prevSeq = 0;
  for (let i = 0; i < n; i++) {
    const seq = prevSeq + r.svarint();
    if (!Number.isSafeInteger(seq) || seq < 1) r.fail('sequence number out of range');
    prevSeq = seq;
    const type = r.u8();
    if (!isRecordType(type)) r.fail(`unknown record type ${type}`);
    if (type === RecordType.SAMPLES) out.push({ seq, type, samples: readBlock(r, dict, ctx, limits) });
    else out.push({ seq, type, payload: r.blob(limits.maxOpaqueBytes, 'record payload') });
  }
  r.expectEnd('data frame');
  return out;
}

/** Total number of metric values in a list of samples (the unit of bytes-per-sample figures). */
export function countValues(samples: readonly Sample[]): number {
  let n = 0;
  for (const s of samples) n += Object.keys(s.metrics).length;
  return n;
}
