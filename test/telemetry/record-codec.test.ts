import t from 'tap';
import {
  MAX_RECORD_PAYLOAD,
  RECORD_HEADER_BYTES,
  decodeRecordAt,
  encodeRecord,
  scanRecords,
} from '../../agent/telemetry/record-codec.js';
import { RecordType } from '../../agent/telemetry/types.js';
import { randomBytes, seededRandom } from '../helpers/seeded-random.js';

const enc = new TextEncoder();

function sampleLog(): { buf: Buffer; starts: number[] } {
  const parts = [
    encodeRecord(1, RecordType.SAMPLES, enc.encode('first batch')),
    encodeRecord(2, RecordType.EVENT, enc.encode('{"kind":"xid"}')),
    encodeRecord(3, RecordType.GAP, new Uint8Array(0)),
    encodeRecord(7, RecordType.DEVICES, enc.encode('last record payload')),
  ];
  const starts: number[] = [];
  let at = 0;
  for (const p of parts) {
    starts.push(at);
    at += p.length;
  }
  return { buf: Buffer.concat(parts), starts };
}

t.test('records round-trip with their sequence, type and payload', async (t) => {
  const { buf, starts } = sampleLog();
  const res = scanRecords(buf);
  t.equal(res.tail, 'clean');
  t.equal(res.validEnd, buf.length);
  t.same(res.damage, []);
  t.same(
    res.records.map((r) => [r.seq, r.type, Buffer.from(r.payload).toString(), r.offset]),
    [
      [1, RecordType.SAMPLES, 'first batch', starts[0]],
      [2, RecordType.EVENT, '{"kind":"xid"}', starts[1]],
      [3, RecordType.GAP, '', starts[2]],
      [7, RecordType.DEVICES, 'last record payload', starts[3]],
    ],
  );
});

t.test('a sequence number near 2^53 survives the u64 field', async (t) => {
  const seq = Number.MAX_SAFE_INTEGER;
  const res = decodeRecordAt(encodeRecord(seq, RecordType.EVENT, enc.encode('x')), 0);
  t.ok(res.ok);
  if (res.ok) t.equal(res.record.seq, seq);
});

t.test('encoding refuses sequence numbers and payloads out of range', async (t) => {
  t.throws(() => encodeRecord(0, RecordType.EVENT, new Uint8Array(1)));
  t.throws(() => encodeRecord(1.5, RecordType.EVENT, new Uint8Array(1)));
  t.throws(() => encodeRecord(2 ** 53, RecordType.EVENT, new Uint8Array(1)));
  t.throws(() => encodeRecord(1, RecordType.EVENT, new Uint8Array(MAX_RECORD_PAYLOAD + 1)));
});

t.test('a write torn at every byte offset of the last record leaves exactly the earlier records', async (t) => {
  const { buf, starts } = sampleLog();
  const lastStart = starts[3]!;
  for (let cut = lastStart; cut < buf.length; cut++) {
    const res = scanRecords(buf.subarray(0, cut));
    if (res.records.length !== 3 || res.validEnd !== lastStart) {
      t.fail(`cut at ${cut}: ${res.records.length} records, validEnd ${res.validEnd}`);
      continue;
    }
    const expectTail = cut === lastStart ? 'clean' : 'torn';
    if (res.tail !== expectTail) t.fail(`cut at ${cut}: tail ${res.tail} (${res.tailReason})`);
  }
  t.pass(`checked ${buf.length - lastStart} cut points`);
});

t.test('a flipped bit anywhere in the last record is reported as a corrupt tail', async (t) => {
  const { buf, starts } = sampleLog();
  const lastStart = starts[3]!;
  for (let i = lastStart; i < buf.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const copy = Buffer.from(buf);
      copy[i]! ^= bit;
      const res = scanRecords(copy);
      const lengthField = i >= lastStart + 4 && i < lastStart + 8;
      // A flipped length bit that makes the record look longer is indistinguishable from a torn write.
      const ok =
        res.records.length === 3 && res.validEnd === lastStart && (res.tail === 'corrupt' || (lengthField && res.tail === 'torn'));
      if (!ok) t.fail(`byte ${i - lastStart} bit ${bit}: ${res.records.length} records, tail ${res.tail}`);
    }
  }
  t.pass('every flip detected');
});

t.test('a damaged record in the middle is skipped and the records after it are kept', async (t) => {
  const { buf, starts } = sampleLog();
  const copy = Buffer.from(buf);
  copy[starts[1]! + RECORD_HEADER_BYTES + 3]! ^= 0x10;
  const res = scanRecords(copy);
  t.same(res.records.map((r) => r.seq), [1, 3, 7]);
  t.equal(res.damage.length, 1);
  t.equal(res.damage[0]!.offset, starts[1]);
  t.equal(res.damage[0]!.length, starts[2]! - starts[1]!);
  t.match(res.damage[0]!.reason, /checksum/);
  t.equal(res.tail, 'clean');
});

t.test('zero-filled space after the records is a corrupt tail, not records', async (t) => {
  const { buf } = sampleLog();
  const res = scanRecords(Buffer.concat([buf, Buffer.alloc(4096)]));
  t.equal(res.records.length, 4);
  t.equal(res.validEnd, buf.length);
  t.equal(res.tail, 'corrupt');
});

t.test('header fields that cannot be valid are corrupt, not torn', async (t) => {
  const good = encodeRecord(5, RecordType.EVENT, enc.encode('abc'));
  const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
    ['magic', (b) => (b[1] = 0), /magic/],
    ['version', (b) => (b[2] = 9), /version/],
    ['type', (b) => (b[3] = 99), /type/],
    ['length', (b) => b.writeUInt32BE(MAX_RECORD_PAYLOAD + 1, 4), /length/],
    ['zero seq', (b) => b.writeBigUInt64BE(0n, 8), /sequence/],
    ['huge seq', (b) => b.writeBigUInt64BE(2n ** 60n, 8), /sequence/],
  ];
  for (const [name, mutate, reason] of cases) {
    const b = Buffer.from(good);
    mutate(b);
    const res = decodeRecordAt(b, 0);
    t.notOk(res.ok, name);
    if (!res.ok) {
      t.equal(res.kind, 'corrupt', name);
      t.match(res.reason, reason, name);
    }
  }
});

t.test('a record whose sequence number does not increase is damage', async (t) => {
  const buf = Buffer.concat([
    encodeRecord(4, RecordType.EVENT, enc.encode('a')),
    encodeRecord(4, RecordType.EVENT, enc.encode('b')),
    encodeRecord(5, RecordType.EVENT, enc.encode('c')),
  ]);
  const res = scanRecords(buf);
  t.same(res.records.map((r) => Buffer.from(r.payload).toString()), ['a', 'c']);
  t.equal(res.damage.length, 1);
  t.match(res.damage[0]!.reason, /increase/);
});

t.test('random garbage never throws and never yields a record', async (t) => {
  const rand = seededRandom(0xc0ffee);
  for (let i = 0; i < 300; i++) {
    const junk = randomBytes(rand, 1 + Math.floor(rand() * 200));
    if (i % 3 === 0) {
      junk[0] = 0xac;
      if (junk.length > 1) junk[1] = 0xe1;
    }
    const res = scanRecords(junk);
    if (res.records.length !== 0) t.fail(`case ${i} produced a record`);
    if (res.validEnd !== 0) t.fail(`case ${i} validEnd ${res.validEnd}`);
  }
  t.pass('300 garbage buffers rejected');
});

t.test('scanning can start at an offset, as after a segment file header', async (t) => {
  const { buf } = sampleLog();
  const withHeader = Buffer.concat([Buffer.from('SEGHEADER'), buf]);
  const res = scanRecords(withHeader, 9);
  t.equal(res.records.length, 4);
  t.equal(res.records[0]!.offset, 9);
  t.equal(res.validEnd, withHeader.length);
});

t.test('arrival-order scanning accepts sequence numbers in any order', async (t) => {
  const buf = Buffer.concat([
    encodeRecord(9, RecordType.EVENT, enc.encode('early event')),
    encodeRecord(1, RecordType.SAMPLES, enc.encode('a')),
    encodeRecord(2, RecordType.SAMPLES, enc.encode('b')),
  ]);
  t.same(scanRecords(buf, 0, { increasing: false }).records.map((r) => r.seq), [9, 1, 2]);
  t.same(scanRecords(buf).records.map((r) => r.seq), [9], 'the default (spool) order check still applies');
});
