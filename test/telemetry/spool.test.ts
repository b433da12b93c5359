import t from 'tap';
import { cp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { decodeGap } from '../../agent/telemetry/payloads.js';
import { Spool, type SpoolOptions } from '../../agent/telemetry/spool.js';
import { SEGMENT_HEADER_BYTES, STATE_FILE, encodeSegmentHeader } from '../../agent/telemetry/spool-layout.js';
import { RECORD_HEADER_BYTES, encodeRecord } from '../../agent/telemetry/record-codec.js';
import { RecordType, type SeqRecord } from '../../agent/telemetry/types.js';
import { tempDir } from '../helpers/temp-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
const text = (r: SeqRecord) => Buffer.from(r.payload).toString();

async function openSpool(t: Tap, dir: string, opts: SpoolOptions = {}): Promise<Spool> {
  const spool = await Spool.open({ dir, segmentBytes: 4096, budgetBytes: 1024 * 1024, fsync: 'never', ...opts });
  t.teardown(() => spool.close());
  return spool;
}
type Tap = { teardown: (fn: () => unknown) => void };

async function appendMany(spool: Spool, n: number, prefix = 'r', size = 0): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push(await spool.append(RecordType.SAMPLES, enc(`${prefix}${i}`.padEnd(size, '.'))));
  return seqs;
}

async function readAll(spool: Spool, from = 1): Promise<SeqRecord[]> {
  return spool.readFrom(from, 1 << 30);
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
}

t.test('appends get consecutive sequence numbers and read back in order across segments', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir);
  const seqs = await appendMany(spool, 100, 'rec', 100);
  t.same(seqs, Array.from({ length: 100 }, (_, i) => i + 1));
  t.ok((await segmentFiles(dir)).length > 2, 'rolled to several segments');
  const all = await readAll(spool);
  t.same(all.map((r) => r.seq), seqs);
  t.equal(text(all[42]!), 'rec42'.padEnd(100, '.'));
  const page = await spool.readFrom(30, 500);
  t.equal(page[0]!.seq, 30);
  t.ok(page.length >= 1 && page.length < 10, 'maxBytes bounds a page');
  t.same((await spool.readFrom(1, 1)).map((r) => r.seq), [1], 'at least one record even when it alone exceeds maxBytes');
  t.same(await spool.readFrom(101), [], 'nothing beyond the newest');
});

t.test('concurrent appends share flushes and still number every record once', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir, { fsync: 'always' });
  const seqs = await Promise.all(Array.from({ length: 200 }, (_, i) => spool.append(RecordType.EVENT, enc(`e${i}`))));
  t.same([...seqs].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
  const all = await readAll(spool);
  t.same(all.map((r) => text(r)), seqs.map((_, i) => `e${i}`), 'stored in call order');
  t.equal(spool.durableSeq, 200);
});

t.test('reopening keeps the epoch, the records and the sequence', async (t) => {
  const dir = await tempDir(t);
  const first = await Spool.open({ dir, segmentBytes: 4096, budgetBytes: 1 << 20 });
  await appendMany(first, 30, 'x', 200);
  await first.ack(10);
  const epoch = first.epoch;
  await first.close();
  await t.rejects(first.append(RecordType.EVENT, enc('late')), { code: ErrorCode.SPOOL_IO }, 'closed spools refuse appends');

  const again = await openSpool(t, dir);
  t.equal(again.epoch, epoch);
  t.match(again.epoch, /^[0-9a-f]{32}$/);
  t.equal(again.ackedSeq, 10);
  t.equal(again.newestSeq, 30);
  t.equal(again.oldestSeq, 11);
  t.equal(await again.append(RecordType.EVENT, enc('next')), 31);
  t.same((await readAll(again, 11)).map((r) => r.seq), Array.from({ length: 21 }, (_, i) => i + 11));
});

t.test('a lost spool directory starts a new epoch', async (t) => {
  const dir = await tempDir(t);
  const a = await Spool.open({ dir: path.join(dir, 's') });
  await a.append(RecordType.EVENT, enc('x'));
  await a.close();
  await rm(path.join(dir, 's'), { recursive: true });
  const b = await openSpool(t, path.join(dir, 's'));
  t.not(b.epoch, a.epoch);
  t.equal(b.newestSeq, 0);
});

t.test('cumulative acks delete only fully acknowledged segments, after persisting the watermark', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir);
  await appendMany(spool, 60, 'r', 200);
  const before = await segmentFiles(dir);
  t.ok(before.length >= 3);
  const firstSegmentRecords = (await readAll(spool)).filter((r) => r.seq < 100).length;
  await spool.ack(5);
  t.same(await segmentFiles(dir), before, 'a partly acknowledged segment stays');
  t.same(JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8')).ackedSeq, 5);
  await spool.ack(59);
  t.same(await segmentFiles(dir), [before[before.length - 1]], 'only the active segment is left');
  t.equal(JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8')).ackedSeq, 59);
  t.same((await readAll(spool)).map((r) => r.seq).slice(-1), [60]);
  t.equal(spool.oldestSeq, 60);
  await spool.ack(3);
  t.equal(spool.ackedSeq, 59, 'acks never go backwards');
  await spool.ack(1000);
  t.equal(spool.ackedSeq, 60, 'an ack beyond the newest record is clamped');
  t.equal(spool.oldestSeq, 61);
  t.ok(firstSegmentRecords > 0);
});

t.test('after everything is acknowledged and deleted, a restart still never reuses a number', async (t) => {
  const dir = await tempDir(t);
  const a = await Spool.open({ dir, segmentBytes: 4096, budgetBytes: 1 << 20 });
  await appendMany(a, 40, 'r', 300);
  await a.ack(40);
  await a.close();
  const b = await openSpool(t, dir);
  t.equal(b.newestSeq, 40);
  t.equal(await b.append(RecordType.EVENT, enc('after')), 41);
});

t.test('a write torn at every byte offset of the last record recovers the records before it', async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'src');
  const a = await Spool.open({ dir: src, fsync: 'never' });
  await appendMany(a, 5, 'keep');
  const lastSeq = await a.append(RecordType.EVENT, enc('the record that gets torn'));
  await a.close();
  const [seg] = await segmentFiles(src);
  const full = (await stat(path.join(src, seg!))).size;
  const lastLen = RECORD_HEADER_BYTES + 'the record that gets torn'.length;
  let checked = 0;
  for (let cut = full - lastLen; cut < full; cut++) {
    const work = path.join(dir, `cut-${cut}`);
    await cp(src, work, { recursive: true });
    await truncate(path.join(work, seg!), cut);
    const s = await Spool.open({ dir: work, fsync: 'never' });
    const recs = await readAll(s);
    const ok = recs.length === 5 && recs[4]!.seq === 5 && text(recs[4]!) === 'keep4' && s.newestSeq === 5;
    const next = await s.append(RecordType.EVENT, enc('after'));
    await s.close();
    const reopened = await Spool.open({ dir: work, fsync: 'never' });
    const after = await readAll(reopened);
    await reopened.close();
    await rm(work, { recursive: true });
    if (!ok || next !== lastSeq || after.length !== 6 || text(after[5]!) !== 'after') t.fail(`cut at ${cut}: ${recs.length} records, next ${next}`);
    checked++;
  }
  t.equal(checked, lastLen, 'every offset of the last record tried');
});

t.test('a record damaged in a closed segment is dropped and reported as a corrupt gap', async (t) => {
  const dir = await tempDir(t);
  const a = await Spool.open({ dir, segmentBytes: 4096, budgetBytes: 1 << 20, fsync: 'never' });
  await appendMany(a, 40, 'r', 200);
  await a.close();
  const files = await segmentFiles(dir);
  const victim = path.join(dir, files[0]!);
  const buf = await readFile(victim);
  const secondRecord = SEGMENT_HEADER_BYTES + (RECORD_HEADER_BYTES + 200);
  buf[secondRecord + RECORD_HEADER_BYTES + 50]! ^= 0xff;
  await writeFile(victim, buf);

  const s = await openSpool(t, dir);
  const recs = await readAll(s);
  t.notOk(recs.some((r) => r.seq === 2), 'the damaged record is gone');
  t.ok(recs.some((r) => r.seq === 1) && recs.some((r) => r.seq === 3), 'its neighbours survive');
  const gaps = recs.filter((r) => r.type === RecordType.GAP).map((r) => decodeGap(r.payload));
  t.same(gaps.map((g) => [g.from, g.to, g.reason]), [[2, 2, 'corrupt']]);
  t.equal(s.stats().corruptRecords, 1);
  t.ok(s.prioritySeqs().includes(recs[recs.length - 1]!.seq), 'the gap record is sent ahead of the backlog');
});

t.test('a damaged final record is cut off as a torn tail, without a gap', async (t) => {
  const dir = await tempDir(t);
  const a = await Spool.open({ dir, fsync: 'never' });
  await appendMany(a, 3, 'r');
  await a.close();
  const [seg] = await segmentFiles(dir);
  const file = path.join(dir, seg!);
  const buf = await readFile(file);
  buf[buf.length - 1]! ^= 0x01;
  await writeFile(file, buf);
  const s = await openSpool(t, dir);
  t.same((await readAll(s)).map((r) => r.seq), [1, 2]);
  t.equal(s.newestSeq, 2);
  t.equal((await stat(file)).size, buf.length - (RECORD_HEADER_BYTES + 2), 'truncated in place');
});

t.test('over budget, the oldest unacknowledged segments are evicted behind a gap record', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir, { segmentBytes: 4096, budgetBytes: 3 * 4096 });
  await appendMany(spool, 200, 'r', 300);
  const stats = spool.stats();
  t.ok(stats.bytes <= 3 * 4096, `stays within budget (${stats.bytes} bytes)`);
  t.ok(stats.evictedRecords > 0);
  const recs = await readAll(spool);
  const gaps = recs.filter((r) => r.type === RecordType.GAP).map((r) => decodeGap(r.payload));
  t.ok(gaps.length > 0);
  t.ok(gaps.every((g) => g.reason === 'budget'));
  const samples = recs.filter((r) => r.type === RecordType.SAMPLES).map((r) => r.seq);
  const covered = new Set<number>();
  for (const g of gaps) for (let s = g.from; s <= g.to; s++) covered.add(s);
  for (let s = 1; s <= spool.newestSeq; s++) {
    const isGapRecord = recs.some((r) => r.seq === s && r.type === RecordType.GAP);
    if (!samples.includes(s) && !covered.has(s) && !isGapRecord) t.fail(`sequence ${s} neither held nor reported lost`);
  }
  t.equal(covered.size, stats.evictedRecords, 'the gap records name exactly the evicted records');
  t.equal(spool.oldestSeq, samples[0], 'the oldest held record follows the evicted range');
});

t.test('acknowledged records are deleted, not counted as evicted', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir, { segmentBytes: 4096, budgetBytes: 3 * 4096 });
  for (let i = 0; i < 100; i++) {
    const seq = await spool.append(RecordType.SAMPLES, enc('x'.repeat(300)));
    await spool.ack(seq);
  }
  t.equal(spool.stats().evictedRecords, 0);
  t.equal((await readAll(spool)).filter((r) => r.type === RecordType.GAP).length, 0);
});

t.test('a record that rots after it was written is skipped on read and reported', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir);
  await appendMany(spool, 5, 'r', 50);
  const [seg] = await segmentFiles(dir);
  const file = path.join(dir, seg!);
  const buf = await readFile(file);
  buf[SEGMENT_HEADER_BYTES + 2 * (RECORD_HEADER_BYTES + 50) + RECORD_HEADER_BYTES + 5]! ^= 0x20;
  await writeFile(file, buf);
  const recs = await readAll(spool);
  t.same(recs.map((r) => r.seq), [1, 2, 4, 5]);
  await spool.flush();
  await new Promise((r) => setTimeout(r, 50));
  const after = await readAll(spool, 6);
  const gap = after.find((r) => r.type === RecordType.GAP);
  t.ok(gap, 'a gap record was appended');
  if (gap) t.same(decodeGap(gap.payload), { ts: decodeGap(gap.payload).ts, from: 3, to: 3, reason: 'corrupt' });
});

t.test('losing spool.json keeps the epoch (from segment headers) and forgets only acknowledgements', async (t) => {
  const dir = await tempDir(t);
  const a = await Spool.open({ dir, fsync: 'never' });
  await appendMany(a, 8, 'r');
  await a.ack(4);
  await a.close();
  await rm(path.join(dir, STATE_FILE));
  const b = await openSpool(t, dir);
  t.equal(b.epoch, a.epoch);
  t.equal(b.ackedSeq, 0, 'records are offered again; the collector drops duplicates');
  t.equal(b.newestSeq, 8);
});

t.test('a garbled spool.json is treated like a missing one', async (t) => {
  const dir = await tempDir(t);
  const a = await Spool.open({ dir, fsync: 'never' });
  await appendMany(a, 3, 'r');
  await a.close();
  await writeFile(path.join(dir, STATE_FILE), '{"version":1,"epo');
  const b = await openSpool(t, dir);
  t.equal(b.epoch, a.epoch);
  t.equal(b.newestSeq, 3);
});

t.test('a segment from another epoch is set aside, not mixed in', async (t) => {
  const dir = await tempDir(t);
  const a = await Spool.open({ dir, fsync: 'never' });
  await appendMany(a, 3, 'r');
  await a.close();
  const other = Buffer.concat([encodeSegmentHeader('f'.repeat(32)), encodeRecord(100, RecordType.EVENT, enc('alien'))]);
  await writeFile(path.join(dir, '00000000000000000100.seg'), other);
  const b = await openSpool(t, dir);
  t.equal(b.newestSeq, 3);
  t.ok((await readdir(dir)).includes('00000000000000000100.seg.foreign'));
  t.notOk((await readAll(b)).some((r) => text(r) === 'alien'));
});

t.test('leftover temporary files from an interrupted state write are removed', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '.spool.json.1234.tmp'), 'partial');
  await openSpool(t, dir);
  t.notOk((await readdir(dir)).some((n) => n.endsWith('.tmp')));
});

t.test('with an interval policy, records are offered for sending only once flushed', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir, { fsync: { intervalMs: 60_000 } });
  await appendMany(spool, 3, 'r');
  t.equal(spool.durableSeq, 0);
  t.same(await readAll(spool), [], 'nothing readable before the flush');
  const seen: number[] = [];
  spool.onDurable((s) => seen.push(s));
  await spool.flush();
  t.equal(spool.durableSeq, 3);
  t.same(seen, [3]);
  t.equal((await readAll(spool)).length, 3);

  const quick = await openSpool(t, path.join(dir, 'quick'), { fsync: { intervalMs: 20 } });
  await quick.append(RecordType.EVENT, enc('x'));
  // The spool's timer does not keep a process alive, so this wait polls on its own timer.
  for (let i = 0; i < 500 && quick.durableSeq < 1; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(quick.durableSeq, 1, 'the timer flushes');
});

t.test('priority records are listed until acknowledged', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir);
  await spool.append(RecordType.SAMPLES, enc('s1'));
  const ev = await spool.append(RecordType.EVENT, enc('e'));
  await spool.append(RecordType.SAMPLES, enc('s2'));
  const dev = await spool.append(RecordType.DEVICES, enc('d'));
  t.same(spool.prioritySeqs(), [ev, dev]);
  await spool.ack(ev);
  t.same(spool.prioritySeqs(), [dev]);
});

t.test('options that cannot work are refused up front', async (t) => {
  const dir = await tempDir(t);
  await t.rejects(Spool.open({ dir, segmentBytes: 100 }), { code: ErrorCode.CONFIG_INVALID });
  await t.rejects(Spool.open({ dir, segmentBytes: 8192, budgetBytes: 8192 }), { code: ErrorCode.CONFIG_INVALID });
  await t.rejects(Spool.open({ dir, fsync: { intervalMs: 0 } }), { code: ErrorCode.CONFIG_INVALID });
  const spool = await openSpool(t, dir);
  await t.rejects(spool.append(RecordType.EVENT, new Uint8Array(17 * 1024 * 1024)), { code: ErrorCode.SPOOL_IO });
});

t.test('advancing past numbers the collector holds keeps later appends out of their way', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir);
  await appendMany(spool, 3, 'r');
  await spool.advancePast(10);
  t.equal(spool.ackedSeq, 10, 'the collector acknowledged them');
  t.equal(await spool.append(RecordType.EVENT, enc('x')), 11);
  await spool.advancePast(5);
  t.equal(await spool.append(RecordType.EVENT, enc('y')), 12, 'advancing backwards does nothing');
  await spool.close();
  const again = await Spool.open({ dir, fsync: 'never' });
  t.equal(again.newestSeq, 12, 'the jump survives a restart');
  t.same((await readAll(again)).map((r) => r.seq), [11, 12], 'no gap is invented for the skipped numbers');
  await again.close();
});

t.test('a record declared damaged is not offered again', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir);
  await appendMany(spool, 3, 'r');
  spool.reportDamaged(2, 'payload cannot be decoded');
  await spool.flush();
  const recs = await readAll(spool);
  t.notOk(recs.some((r) => r.seq === 2));
  t.ok(recs.some((r) => r.type === RecordType.GAP && decodeGap(r.payload).from === 2));
});

t.test('while a write is under way, oldestSeq does not claim its numbers are settled', async (t) => {
  // The client's hello sends oldestSeq and the collector treats everything below
  // it as settled; a hello composed mid-write must not include the records being written.
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir, { fsync: 'always' });
  await appendMany(spool, 3, 'r');
  await spool.ack(3);
  t.equal(spool.oldestSeq, 4, 'nothing held: the next number');
  const fh = (spool as unknown as { fh: { write: (...args: unknown[]) => Promise<unknown> } }).fh;
  const realWrite = fh.write.bind(fh);
  const seen: number[] = [];
  fh.write = (...args: unknown[]) => {
    seen.push(spool.oldestSeq);
    return realWrite(...args).finally(() => seen.push(spool.oldestSeq));
  };
  const [a, b] = await Promise.all([spool.append(RecordType.SAMPLES, enc('x')), spool.append(RecordType.SAMPLES, enc('y'))]);
  t.same([a, b], [4, 5]);
  t.same(seen, [4, 4], 'records 4 and 5 are not reported settled before or after their bytes land');
  t.equal(spool.oldestSeq, 4, 'once written they are held and unacknowledged');
});

t.test('a failed write does not leave its numbers looking settled', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir, { fsync: 'always' });
  await appendMany(spool, 2, 'r');
  await spool.ack(2);
  const fh = (spool as unknown as { fh: { write: (...args: unknown[]) => Promise<unknown> } }).fh;
  const realWrite = fh.write.bind(fh);
  let during = 0;
  fh.write = () => {
    during = spool.oldestSeq;
    return Promise.reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
  };
  await t.rejects(spool.append(RecordType.SAMPLES, enc('lost')));
  t.equal(during, 3, 'not reported settled while the write was under way');
  fh.write = realWrite;
  t.equal(await spool.append(RecordType.SAMPLES, enc('kept')), 3, 'the number is reused, so it must never have been settled');
  t.equal(spool.oldestSeq, 3);
});
