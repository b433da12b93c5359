import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode, describeError } from '../errors.js';
import { isAtomicTemp, syncDirectory, writeFileAtomic } from '../fs/atomic-file.js';
import { silentLogger, type Logger } from '../log.js';
import { decodeGap, encodeGap } from './payloads.js';
import { MAX_RECORD_PAYLOAD, decodeRecordAt, encodeRecord, scanRecords, type DecodedRecord } from './record-codec.js';
import {
  SEGMENT_HEADER_BYTES,
  STATE_FILE,
  encodeSegmentHeader,
  encodeState,
  findLostRanges,
  parseSegmentFileName,
  parseSegmentHeader,
  parseState,
  segmentFileName,
  type SegmentContents,
  type SeqRange,
} from './spool-layout.js';
import { RecordType, isPriorityType, type GapInfo, type GapReason, type SeqRecord } from './types.js';

export const DEFAULT_SPOOL_DIR = '/var/lib/accel-agent/spool';

/**
 * When appended records reach the disk. `always` flushes before `append`
 * resolves (appends queued meanwhile share one flush); `{ intervalMs }`
 * flushes on a timer; `never` leaves it to the kernel. Records are offered to
 * the collector only once flushed, so the collector can never hold a sequence
 * number that a power cut could take back from the spool.
 */
export type FsyncPolicy = 'always' | 'never' | { intervalMs: number };

export interface SpoolOptions {
  dir?: string;
  /** A segment is closed and a new one started once it would grow past this. */
  segmentBytes?: number;
  /** Total size of all segments; beyond it the oldest segments are evicted and a gap recorded. */
  budgetBytes?: number;
  fsync?: FsyncPolicy;
  logger?: Logger;
  now?: () => number;
}

export interface SpoolStats {
  epoch: string;
  oldestSeq: number;
  newestSeq: number;
  durableSeq: number;
  ackedSeq: number;
  segments: number;
  bytes: number;
  budgetBytes: number;
  evictedRecords: number;
  corruptRecords: number;
}

interface Segment {
  firstSeq: number;
  file: string;
  seqs: number[];
  offsets: number[];
  size: number;
}

interface PendingAppend {
  type: RecordType;
  payload: Uint8Array;
  resolve: (seq: number) => void;
  reject: (err: unknown) => void;
}

const MIB = 1024 * 1024;

function lastSeqOf(seg: Segment): number {
  return seg.seqs[seg.seqs.length - 1] ?? seg.firstSeq - 1;
}

/** Index of the first element >= value in an ascending array. */
function lowerBound(a: readonly number[], value: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

function ioError(message: string, err: unknown, details?: Record<string, unknown>): AccelError {
  return err instanceof AccelError ? err : new AccelError(ErrorCode.SPOOL_IO, message, { cause: err, details });
}

/**
 * A write-ahead spool of telemetry records in a host directory. Records get
 * consecutive sequence numbers, survive restarts and crashes, and are deleted
 * only once the collector has acknowledged them (or evicted, with a gap record
 * saying so, when the byte budget runs out). All mutations run one at a time
 * on an internal chain; reads run beside them on their own file handles.
 */
export class Spool {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly budgetBytes: number;
  private readonly policy: FsyncPolicy;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly events = new EventEmitter();

  private epochId = '';
  private segments: Segment[] = [];
  private fh: FileHandle | null = null;
  private nextSeq = 1;
  private acked = 0;
  private persistedAck = 0;
  private durable = 0;
  /**
   * First sequence number handed to a write that is still under way (its
   * records are numbered but not yet in a segment's index), or null.
   */
  private unindexedFrom: number | null = null;
  private totalBytes = 0;
  /** Unacknowledged records of priority types, ascending. */
  private priority: number[] = [];
  private queue: PendingAppend[] = [];
  private ops: Promise<void> = Promise.resolve();
  private ackOp: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private evicted = 0;
  private corrupt = 0;
  private readonly reportedCorrupt = new Set<number>();

  private constructor(options: SpoolOptions) {
    this.dir = path.resolve(options.dir ?? DEFAULT_SPOOL_DIR);
    this.segmentBytes = options.segmentBytes ?? 4 * MIB;
    this.budgetBytes = options.budgetBytes ?? 256 * MIB;
    this.policy = options.fsync ?? 'always';
    this.log = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    if (!Number.isSafeInteger(this.segmentBytes) || this.segmentBytes < 4096) {
      throw new AccelError(ErrorCode.CONFIG_INVALID, `spool segment size must be at least 4096 bytes, got ${this.segmentBytes}`);
    }
    if (!Number.isSafeInteger(this.budgetBytes) || this.budgetBytes < 2 * this.segmentBytes) {
      throw new AccelError(ErrorCode.CONFIG_INVALID, `spool budget must be at least two segments (${2 * this.segmentBytes} bytes), got ${this.budgetBytes}`);
    }
    if (typeof this.policy === 'object' && !(this.policy.intervalMs >= 1)) {
      throw new AccelError(ErrorCode.CONFIG_INVALID, 'spool fsync interval must be at least 1 ms');
    }
  }

  static async open(options: SpoolOptions = {}): Promise<Spool> {
    const spool = new Spool(options);
    await spool.recover();
    return spool;
  }

  /** A random id for this spool's sequence space; a new spool directory gets a new one. */
  get epoch(): string {
    return this.epochId;
  }

  get newestSeq(): number {
    return this.nextSeq - 1;
  }

  /** The newest record known to be on disk; nothing newer is offered for sending. */
  get durableSeq(): number {
    return this.durable;
  }

  get ackedSeq(): number {
    return this.acked;
  }

  /**
   * The oldest record still waiting for an acknowledgement (newestSeq + 1 when
   * none is). The collector takes every number below it as settled, so records
   * being written right now count as waiting: they are numbered before they
   * reach a segment's index, and a hello composed in between must not let the
   * collector acknowledge them unsent (or, should the write fail, before the
   * numbers are handed out again).
   */
  get oldestSeq(): number {
    for (const seg of this.segments) {
      const i = lowerBound(seg.seqs, this.acked + 1);
      if (i < seg.seqs.length) return seg.seqs[i]!;
    }
    return this.unindexedFrom ?? this.nextSeq;
  }

  stats(): SpoolStats {
    return {
      epoch: this.epochId,
      oldestSeq: this.oldestSeq,
      newestSeq: this.newestSeq,
      durableSeq: this.durable,
      ackedSeq: this.acked,
      segments: this.segments.length,
      bytes: this.totalBytes,
      budgetBytes: this.budgetBytes,
      evictedRecords: this.evicted,
      corruptRecords: this.corrupt,
    };
  }

  /** Called with the new durable sequence number whenever it advances. Returns an unsubscribe function. */
  onDurable(listener: (seq: number) => void): () => void {
    this.events.on('durable', listener);
    return () => this.events.off('durable', listener);
  }

  /** Unacknowledged, durable records that should be sent ahead of the sample backlog. */
  prioritySeqs(): number[] {
    return this.priority.filter((s) => s <= this.durable);
  }

  append(type: RecordType, payload: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new AccelError(ErrorCode.SPOOL_IO, 'spool is closed'));
    if (payload.length > MAX_RECORD_PAYLOAD) {
      return Promise.reject(new AccelError(ErrorCode.SPOOL_IO, `record of ${payload.length} bytes exceeds the ${MAX_RECORD_PAYLOAD} byte limit`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ type, payload, resolve, reject });
      if (this.queue.length === 1) void this.serial(() => this.drain());
    });
  }

  /**
   * Cumulative acknowledgement: every record up to `seq` is safe at the
   * collector. The watermark is persisted before any segment is deleted, so a
   * restart never reuses a sequence number the collector already holds.
   */
  ack(seq: number): Promise<void> {
    if (!Number.isSafeInteger(seq) || seq <= this.acked) return this.ackOp ?? Promise.resolve();
    if (seq > this.newestSeq) {
      this.log.warn({ seq, newestSeq: this.newestSeq }, 'acknowledgement beyond the newest record; clamped');
      seq = this.newestSeq;
      if (seq <= this.acked) return Promise.resolve();
    }
    this.acked = seq;
    this.priority = this.priority.filter((s) => s > seq);
    if (!this.ackOp) {
      this.ackOp = this.serial(async () => {
        this.ackOp = null;
        await this.persistAckAndTrim();
      });
    }
    return this.ackOp;
  }

  /**
   * Durable records with sequence numbers >= `fromSeq`, in order, up to
   * `maxBytes` of payload (always at least one record when one is available).
   * A record that fails its checksum now (bit rot since it was written) is
   * skipped and reported in a gap record.
   */
  async readFrom(fromSeq: number, maxBytes = MIB): Promise<SeqRecord[]> {
    const limit = this.durable;
    const out: SeqRecord[] = [];
    let bytes = 0;
    for (const seg of [...this.segments]) {
      if (lastSeqOf(seg) < fromSeq) continue;
      const i = lowerBound(seg.seqs, fromSeq);
      let j = i;
      let full = false;
      while (j < seg.seqs.length && seg.seqs[j]! <= limit) {
        const size = (seg.offsets[j + 1] ?? seg.size) - seg.offsets[j]!;
        if (out.length + (j - i) > 0 && bytes + size > maxBytes) {
          full = true;
          break;
        }
        bytes += size;
        j++;
      }
      if (j > i) out.push(...(await this.readRange(seg, i, j)));
      if (full || j < seg.seqs.length) break;
    }
    return out;
  }

  /**
   * The collector acknowledges numbers up to `seq` although this spool never
   * wrote that far: a crash took records that had been sent before they were
   * flushed (the `never` policy). Reusing those numbers would have the
   * collector drop new records as duplicates, so the spool takes the
   * acknowledgement as it is and continues after it.
   */
  advancePast(seq: number): Promise<void> {
    return this.serial(async () => {
      if (seq < this.nextSeq) return;
      this.log.error({ from: this.nextSeq, to: seq }, 'collector holds sequence numbers this spool lost; continuing after them');
      this.nextSeq = seq + 1;
      if (this.fh && this.active().seqs.length > 0) await this.roll();
      this.setDurable(this.newestSeq);
      this.acked = seq;
      this.priority = [];
      await this.persistAckAndTrim();
    });
  }

  /** Flushes appended records to disk now, whatever the policy. */
  flush(): Promise<void> {
    return this.serial(() => this.syncActive());
  }

  async close(): Promise<void> {
    if (this.closed) return this.ops;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.serial(async () => {
      await this.syncActive();
      if (this.acked > this.persistedAck) await this.writeState(this.acked);
      await this.fh?.close();
      this.fh = null;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.ops.then(fn);
    this.ops = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private setDurable(seq: number): void {
    if (seq > this.durable) {
      this.durable = seq;
      this.events.emit('durable', seq);
    }
  }

  private async syncActive(): Promise<void> {
    if (!this.fh || this.durable >= this.newestSeq) return;
    await this.fh.datasync();
    this.setDurable(this.newestSeq);
  }

  private async drain(): Promise<void> {
    const batch = this.queue.splice(0);
    if (batch.length === 0) return;
    const firstSeq = this.nextSeq;
    const progress = { written: 0 };
    let failure: unknown = null;
    try {
      await this.writeRecords(batch, progress);
      if (this.policy === 'always') await this.syncActive();
      else if (this.policy === 'never') this.setDurable(this.newestSeq);
    } catch (err) {
      failure = ioError('cannot append to the spool', err, { dir: this.dir });
      this.log.error({ err: describeError(err), dir: this.dir }, 'spool append failed');
    }
    batch.forEach((item, i) => {
      if (failure === null || i < progress.written) item.resolve(firstSeq + i);
      else item.reject(failure);
    });
    await this.enforceBudget().catch((err) => this.log.error({ err: describeError(err) }, 'spool eviction failed'));
  }

  /** Appends records to the active segment, rolling to new segments as they fill. */
  private async writeRecords(items: ReadonlyArray<{ type: RecordType; payload: Uint8Array }>, progress: { written: number }): Promise<void> {
    this.unindexedFrom = this.nextSeq;
    try {
      await this.writeRecordsNow(items, progress);
    } finally {
      this.unindexedFrom = null;
    }
  }

  private async writeRecordsNow(items: ReadonlyArray<{ type: RecordType; payload: Uint8Array }>, progress: { written: number }): Promise<void> {
    if (!this.fh) await this.createSegment(this.nextSeq);
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    let placed: Array<{ seq: number; offset: number; type: RecordType }> = [];
    const flushChunk = async () => {
      if (chunk.length === 0) return;
      const seg = this.active();
      const buf = chunk.length === 1 ? chunk[0]! : Buffer.concat(chunk);
      try {
        await this.fh!.write(buf, 0, buf.length, seg.size);
      } catch (err) {
        this.nextSeq = placed[0]!.seq;
        throw err;
      }
      for (const p of placed) {
        seg.seqs.push(p.seq);
        seg.offsets.push(p.offset);
        if (isPriorityType(p.type)) this.priority.push(p.seq);
      }
      seg.size += buf.length;
      this.totalBytes += buf.length;
      // Indexed now; what is still unwritten starts after them.
      this.unindexedFrom = this.nextSeq;
      progress.written += placed.length;
      chunk = [];
      chunkBytes = 0;
      placed = [];
    };
    for (const item of items) {
      const rec = encodeRecord(this.nextSeq, item.type, item.payload);
      const seg = this.active();
      if (seg.size + chunkBytes + rec.length > this.segmentBytes && seg.seqs.length + placed.length > 0) {
        await flushChunk();
        await this.roll();
      }
      placed.push({ seq: this.nextSeq, offset: this.active().size + chunkBytes, type: item.type });
      chunk.push(rec);
      chunkBytes += rec.length;
      this.nextSeq++;
    }
    await flushChunk();
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private async roll(): Promise<void> {
    if (this.policy !== 'never') await this.syncActive();
    await this.fh?.close();
    this.fh = null;
    await this.createSegment(this.nextSeq);
  }

  private async createSegment(firstSeq: number): Promise<void> {
    const file = path.join(this.dir, segmentFileName(firstSeq));
    // Truncating is safe: a file with this name can only be one a failed roll left empty.
    const fh = await open(file, 'w', 0o600);
    try {
      await fh.write(encodeSegmentHeader(this.epochId), 0, SEGMENT_HEADER_BYTES, 0);
      if (this.policy !== 'never') {
        await fh.datasync();
        await syncDirectory(this.dir);
      }
    } catch (err) {
      await fh.close();
      throw err;
    }
    this.fh = fh;
    this.segments.push({ firstSeq, file, seqs: [], offsets: [], size: SEGMENT_HEADER_BYTES });
    this.totalBytes += SEGMENT_HEADER_BYTES;
  }

  private async writeState(ackedSeq: number): Promise<void> {
    await writeFileAtomic(path.join(this.dir, STATE_FILE), encodeState({ epoch: this.epochId, ackedSeq }), { mode: 0o600 });
    this.persistedAck = ackedSeq;
  }

  private async persistAckAndTrim(): Promise<void> {
    const target = this.acked;
    if (target > this.persistedAck) await this.writeState(target);
    while (this.segments.length > 1 && lastSeqOf(this.segments[0]!) <= this.persistedAck) {
      await this.dropOldest();
    }
  }

  private async dropOldest(): Promise<void> {
    const seg = this.segments[0]!;
    await unlink(seg.file).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    this.segments.shift();
    this.totalBytes -= seg.size;
  }

  /**
   * Over budget: evict whole segments from the oldest end (never the one being
   * written), after durably appending a gap record naming the unacknowledged
   * sequence numbers they held, so the loss is reported rather than silent.
   */
  private async enforceBudget(): Promise<void> {
    if (this.totalBytes <= this.budgetBytes) return;
    const victims: Segment[] = [];
    let bytes = this.totalBytes;
    while (bytes > this.budgetBytes && this.segments.length - victims.length > 1) {
      const seg = this.segments[victims.length]!;
      victims.push(seg);
      bytes -= seg.size;
    }
    if (victims.length === 0) return;
    let from = 0;
    let to = 0;
    let count = 0;
    for (const seg of victims) {
      for (const s of seg.seqs) {
        if (s <= this.acked) continue;
        if (from === 0) from = s;
        to = s;
        count++;
      }
    }
    // An undelivered gap record being evicted must not take its range with it:
    // the new gap record takes over the ranges of the ones it replaces.
    for (const earlier of await this.unackedGaps(victims)) from = Math.max(this.acked + 1, Math.min(from, earlier.from));
    if (count > 0) {
      await this.appendGapNow({ from, to }, 'budget');
      this.evicted += count;
      this.log.warn({ from, to, records: count, budgetBytes: this.budgetBytes }, 'spool over budget: evicted unacknowledged records');
    }
    for (let i = 0; i < victims.length; i++) await this.dropOldest();
    this.priority = this.priority.filter((s) => s > to);
  }

  private async unackedGaps(segments: readonly Segment[]): Promise<GapInfo[]> {
    const gaps: GapInfo[] = [];
    for (const seg of segments) {
      const wanted = this.priority.filter((p) => p >= seg.firstSeq && p <= lastSeqOf(seg));
      for (const seq of wanted) {
        const i = lowerBound(seg.seqs, seq);
        for (const rec of await this.readRange(seg, i, i + 1)) {
          if (rec.type !== RecordType.GAP) continue;
          try {
            gaps.push(decodeGap(rec.payload, ErrorCode.SPOOL_CORRUPT));
          } catch (err) {
            this.log.error({ seq, err: describeError(err) }, 'unreadable gap record in the spool');
          }
        }
      }
    }
    return gaps;
  }

  /** Writes and flushes a gap record from inside a serialised operation. */
  private async appendGapNow(range: SeqRange, reason: GapReason): Promise<void> {
    const payload = encodeGap({ ts: this.now(), from: range.from, to: range.to, reason });
    await this.writeRecords([{ type: RecordType.GAP, payload }], { written: 0 });
    await this.syncActive();
  }

  private async readRange(seg: Segment, i: number, j: number): Promise<SeqRecord[]> {
    const start = seg.offsets[i]!;
    const end = seg.offsets[j] ?? seg.size;
    const buf = Buffer.allocUnsafe(end - start);
    let fh: FileHandle;
    try {
      fh = await open(seg.file, 'r');
    } catch (err) {
      // Acknowledged or evicted while we were reading: those records are gone by design.
      if (isNotFound(err)) return [];
      throw ioError(`cannot read spool segment ${seg.file}`, err);
    }
    try {
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      if (bytesRead < buf.length) throw new AccelError(ErrorCode.SPOOL_CORRUPT, `spool segment ${seg.file} is shorter than its index`);
    } finally {
      await fh.close();
    }
    const out: SeqRecord[] = [];
    for (let k = i; k < j; k++) {
      const seq = seg.seqs[k]!;
      if (this.reportedCorrupt.has(seq)) continue;
      const res = decodeRecordAt(buf, seg.offsets[k]! - start);
      if (res.ok && res.record.seq === seq) out.push({ seq, type: res.record.type, payload: res.record.payload });
      else this.reportDamaged(seq, res.ok ? 'sequence number mismatch' : res.reason);
    }
    return out;
  }

  /**
   * Declares a record unusable (its checksum failed, or its payload cannot be
   * decoded): it will not be offered again and a gap record reports it.
   */
  reportDamaged(seq: number, reason: string): void {
    if (this.reportedCorrupt.has(seq) || seq <= this.acked) return;
    this.reportedCorrupt.add(seq);
    this.corrupt++;
    this.log.error({ seq, reason, dir: this.dir }, 'spool record damaged on disk; reporting it as a gap');
    this.append(RecordType.GAP, encodeGap({ ts: this.now(), from: seq, to: seq, reason: 'corrupt' })).catch(() => undefined);
  }

  /**
   * Opening: read every segment, keep every record that passes its checksum,
   * cut torn tails, rewrite segments with damage in the middle, and continue
   * the sequence after the highest number ever used (records, acknowledgement
   * watermark, or segment names), never reusing one.
   */
  private async recover(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const names = await readdir(this.dir);
    for (const name of names) if (isAtomicTemp(name)) await unlink(path.join(this.dir, name)).catch(() => undefined);

    let stateText: string | null = null;
    try {
      stateText = await readFile(path.join(this.dir, STATE_FILE), 'utf8');
    } catch (err) {
      if (!isNotFound(err)) throw ioError('cannot read the spool state', err, { dir: this.dir });
    }
    const state = stateText === null ? null : parseState(stateText);
    if (stateText !== null && state === null) {
      this.log.warn({ dir: this.dir }, 'spool state file unreadable; the collector will re-acknowledge what it holds');
    }

    const files: Array<{ firstSeq: number; file: string; buf: Buffer; headerEpoch: string | null }> = [];
    for (const name of names.sort()) {
      const firstSeq = parseSegmentFileName(name);
      if (firstSeq === null) continue;
      const file = path.join(this.dir, name);
      const buf = await readFile(file).catch((err) => {
        throw ioError(`cannot read spool segment ${file}`, err);
      });
      files.push({ firstSeq, file, buf, headerEpoch: parseSegmentHeader(buf) });
    }
    this.epochId = state?.epoch ?? files.find((f) => f.headerEpoch !== null)?.headerEpoch ?? randomBytes(16).toString('hex');
    const ackedSeq = state && state.epoch === this.epochId ? state.ackedSeq : 0;

    const contents: SegmentContents[] = [];
    let highest = ackedSeq;
    const own = files.filter((f) => f.headerEpoch === null || f.headerEpoch === this.epochId);
    for (const f of files) {
      if (own.includes(f)) continue;
      this.log.error({ file: f.file, epoch: f.headerEpoch }, 'spool segment belongs to another epoch; set aside');
      await rename(f.file, `${f.file}.foreign`);
    }
    for (let k = 0; k < own.length; k++) {
      const f = own[k]!;
      const nextFirst = own[k + 1]?.firstSeq ?? Number.MAX_SAFE_INTEGER;
      highest = Math.max(highest, f.firstSeq - 1);
      const scan = f.buf.length >= SEGMENT_HEADER_BYTES ? scanRecords(f.buf, SEGMENT_HEADER_BYTES) : null;
      const kept = (scan?.records ?? []).filter((r) => r.seq >= f.firstSeq && r.seq < nextFirst);
      contents.push({ firstSeq: f.firstSeq, seqs: kept.map((r) => r.seq) });
      if (kept.length > 0) highest = Math.max(highest, kept[kept.length - 1]!.seq);
      const clean = scan !== null && f.headerEpoch !== null && scan.tail === 'clean' && scan.damage.length === 0 && kept.length === scan.records.length;
      if (!clean) {
        this.log.warn(
          { file: f.file, tail: scan?.tail ?? 'header', damage: scan?.damage.length ?? 0, kept: kept.length, reason: scan?.tailReason },
          'spool segment damaged or torn; repaired',
        );
      }
      if (kept.length === 0) {
        await unlink(f.file);
        continue;
      }
      const seg = clean ? this.indexSegment(f.firstSeq, f.file, kept, f.buf.length) : await this.rewriteSegment(f.firstSeq, f.file, kept, f.buf, scan);
      this.segments.push(seg);
      this.totalBytes += seg.size;
      for (const r of kept) if (isPriorityType(r.type) && r.seq > ackedSeq) this.priority.push(r.seq);
    }

    this.acked = ackedSeq;
    this.nextSeq = highest + 1;
    if (state === null || state.epoch !== this.epochId || (state.ackedSeq !== ackedSeq)) await this.writeState(ackedSeq);
    else this.persistedAck = ackedSeq;
    while (this.segments.length > 1 && lastSeqOf(this.segments[0]!) <= this.acked) await this.dropOldest();

    const last = this.segments[this.segments.length - 1];
    if (last && last.seqs.length > 0 && lastSeqOf(last) + 1 === this.nextSeq) {
      this.fh = await open(last.file, 'r+');
    } else {
      await this.createSegment(this.nextSeq);
    }
    this.durable = this.newestSeq;

    for (const range of findLostRanges(contents, this.acked)) {
      this.log.error({ ...range, dir: this.dir }, 'spool records lost to disk damage; reporting a gap');
      this.corrupt += range.to - range.from + 1;
      await this.appendGapNow(range, 'corrupt');
    }
    if (typeof this.policy === 'object') {
      this.timer = setInterval(() => void this.serial(() => this.syncActive()).catch(() => undefined), this.policy.intervalMs);
      this.timer.unref();
    }
  }

  private indexSegment(firstSeq: number, file: string, records: readonly DecodedRecord[], size: number): Segment {
    return { firstSeq, file, seqs: records.map((r) => r.seq), offsets: records.map((r) => r.offset), size };
  }

  /** A torn tail is cut off in place; anything else is rewritten with only the good records. */
  private async rewriteSegment(
    firstSeq: number,
    file: string,
    kept: readonly DecodedRecord[],
    buf: Buffer,
    scan: ReturnType<typeof scanRecords> | null,
  ): Promise<Segment> {
    const tailOnly = scan !== null && scan.damage.length === 0 && kept.length === scan.records.length && parseSegmentHeader(buf) !== null;
    if (tailOnly) {
      const fh = await open(file, 'r+');
      try {
        await fh.truncate(scan.validEnd);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      return this.indexSegment(firstSeq, file, kept, scan.validEnd);
    }
    const parts: Buffer[] = [encodeSegmentHeader(this.epochId)];
    const offsets: number[] = [];
    let at = SEGMENT_HEADER_BYTES;
    for (const r of kept) {
      offsets.push(at);
      parts.push(buf.subarray(r.offset, r.offset + r.size));
      at += r.size;
    }
    await writeFileAtomic(file, Buffer.concat(parts), { mode: 0o600 });
    return { firstSeq, file, seqs: kept.map((r) => r.seq), offsets, size: at };
  }
}
