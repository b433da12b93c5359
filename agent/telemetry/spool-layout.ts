/**
 * The on-disk shape of a spool directory, as pure functions:
 *
 *   spool.json                 {"version":1,"epoch":"<32 hex>","ackedSeq":N}  (atomic replace)
 *   00000000000000000001.seg   segment: header, then records (record-codec.ts)
 *
 * A segment's name is the sequence number of its first record, zero-padded so
 * that name order is sequence order. Its header repeats the epoch, so losing
 * spool.json loses only the acknowledgement watermark (records are re-sent and
 * the collector drops the duplicates), never the identity of the data.
 */

export const STATE_FILE = 'spool.json';
export const SEGMENT_SUFFIX = '.seg';
const SEGMENT_MAGIC = Buffer.from('ACSPOOL1', 'latin1');
export const SEGMENT_HEADER_BYTES = SEGMENT_MAGIC.length + 16;
const SEQ_DIGITS = 20;
const EPOCH_RE = /^[0-9a-f]{32}$/;
const SEGMENT_RE = /^(\d{20})\.seg$/;

export function isEpoch(s: unknown): s is string {
  return typeof s === 'string' && EPOCH_RE.test(s);
}

export function segmentFileName(firstSeq: number): string {
  return String(firstSeq).padStart(SEQ_DIGITS, '0') + SEGMENT_SUFFIX;
}

export function parseSegmentFileName(name: string): number | null {
  const m = SEGMENT_RE.exec(name);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n >= 1 ? n : null;
}

export function encodeSegmentHeader(epoch: string): Buffer {
  return Buffer.concat([SEGMENT_MAGIC, Buffer.from(epoch, 'hex')]);
}

/** The epoch a segment belongs to, or null when the header is missing or damaged. */
export function parseSegmentHeader(buf: Uint8Array): string | null {
  if (buf.length < SEGMENT_HEADER_BYTES) return null;
  if (!Buffer.from(buf.subarray(0, SEGMENT_MAGIC.length)).equals(SEGMENT_MAGIC)) return null;
  return Buffer.from(buf.subarray(SEGMENT_MAGIC.length, SEGMENT_HEADER_BYTES)).toString('hex');
}

export interface SpoolState {
  epoch: string;
  ackedSeq: number;
}

export function encodeState(state: SpoolState): string {
  return JSON.stringify({ version: 1, epoch: state.epoch, ackedSeq: state.ackedSeq }) + '\n';
}

/** The persisted state, or null when the text is not a state file this version wrote. */
export function parseState(text: string): SpoolState | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.version !== 1 || !isEpoch(o.epoch)) return null;
  if (typeof o.ackedSeq !== 'number' || !Number.isSafeInteger(o.ackedSeq) || o.ackedSeq < 0) return null;
  return { epoch: o.epoch, ackedSeq: o.ackedSeq };
}

export interface SeqRange {
  from: number;
  to: number;
}

export interface SegmentContents {
  /** From the file name: the first sequence number the segment was created for. */
  firstSeq: number;
  /** Sequence numbers of the records that survived recovery, ascending. */
  seqs: readonly number[];
}

/**
 * Sequence numbers that were written but are no longer readable. Segments are
 * created at `nextSeq` and fill contiguously, so segment i owned every number
 * from its name up to the next segment's name; the last one owned up to its
 * last surviving record. Anything missing above the acknowledged watermark was
 * lost to damage. Numbers before the first segment were acknowledged or
 * evicted, and an eviction has already written its own gap record.
 */
export function findLostRanges(segments: readonly SegmentContents[], ackedSeq: number): SeqRange[] {
  const lost: SeqRange[] = [];
  const add = (from: number, to: number) => {
    const lo = Math.max(from, ackedSeq + 1);
    if (to < lo) return;
    const last = lost[lost.length - 1];
    if (last && last.to + 1 >= lo) last.to = Math.max(last.to, to);
    else lost.push({ from: lo, to });
  };
  segments.forEach((seg, i) => {
    const next = segments[i + 1];
    const owns = next ? next.firstSeq - 1 : (seg.seqs[seg.seqs.length - 1] ?? seg.firstSeq - 1);
    let expect = seg.firstSeq;
    for (const s of seg.seqs) {
      if (s > expect) add(expect, s - 1);
      expect = Math.max(expect, s + 1);
    }
    if (owns >= expect) add(expect, owns);
  });
  return lost;
}
