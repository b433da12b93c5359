import t from 'tap';
import {
  SEGMENT_HEADER_BYTES,
  encodeSegmentHeader,
  encodeState,
  findLostRanges,
  parseSegmentFileName,
  parseSegmentHeader,
  parseState,
  segmentFileName,
} from '../../agent/telemetry/spool-layout.js';

const EPOCH = '0123456789abcdef0123456789abcdef';

t.test('segment names sort in sequence order and parse back', async (t) => {
  const names = [1, 9, 10, 123456789012].map(segmentFileName);
  t.same([...names].sort(), names);
  t.equal(parseSegmentFileName(segmentFileName(42)), 42);
  for (const bad of ['42.seg', '00000000000000000000.seg', '0000000000000000001x.seg', '00000000000000000001.seg.foreign', 'spool.json']) {
    t.equal(parseSegmentFileName(bad), null, bad);
  }
});

t.test('segment headers carry the epoch and reject anything else', async (t) => {
  const h = encodeSegmentHeader(EPOCH);
  t.equal(h.length, SEGMENT_HEADER_BYTES);
  t.equal(parseSegmentHeader(h), EPOCH);
  t.equal(parseSegmentHeader(h.subarray(0, 10)), null);
  const bad = Buffer.from(h);
  bad[0] = 0;
  t.equal(parseSegmentHeader(bad), null);
});

t.test('state files round-trip and garbage is refused', async (t) => {
  t.same(parseState(encodeState({ epoch: EPOCH, ackedSeq: 17 })), { epoch: EPOCH, ackedSeq: 17 });
  for (const bad of ['', '{', 'null', '[]', '{"version":2,"epoch":"' + EPOCH + '","ackedSeq":1}', '{"version":1,"epoch":"xyz","ackedSeq":1}', '{"version":1,"epoch":"' + EPOCH + '","ackedSeq":-1}', '{"version":1,"epoch":"' + EPOCH + '","ackedSeq":1.5}']) {
    t.equal(parseState(bad), null, bad);
  }
});

t.test('findLostRanges reports what segment names promise but records do not deliver', async (t) => {
  t.same(findLostRanges([{ firstSeq: 1, seqs: [1, 2, 3] }, { firstSeq: 4, seqs: [4, 5] }], 0), [], 'intact');
  t.same(findLostRanges([{ firstSeq: 1, seqs: [1, 3] }, { firstSeq: 4, seqs: [4] }], 0), [{ from: 2, to: 2 }], 'hole in the middle');
  t.same(findLostRanges([{ firstSeq: 1, seqs: [1, 2] }, { firstSeq: 6, seqs: [6] }], 0), [{ from: 3, to: 5 }], 'damaged end of a closed segment');
  t.same(findLostRanges([{ firstSeq: 10, seqs: [] }, { firstSeq: 20, seqs: [20, 21] }], 0), [{ from: 10, to: 19 }], 'a whole segment unreadable');
  t.same(findLostRanges([{ firstSeq: 1, seqs: [1, 5] }, { firstSeq: 6, seqs: [8] }], 3), [{ from: 4, to: 4 }, { from: 6, to: 7 }], 'acknowledged numbers are not lost');
  t.same(findLostRanges([{ firstSeq: 1, seqs: [1, 2] }, { firstSeq: 3, seqs: [] }], 0), [], 'an empty last segment lost nothing known');
  t.same(findLostRanges([{ firstSeq: 1, seqs: [] }, { firstSeq: 3, seqs: [] }, { firstSeq: 5, seqs: [5] }], 0), [{ from: 1, to: 4 }], 'adjacent losses merge');
});
