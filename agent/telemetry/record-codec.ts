import { crc32 } from 'node:zlib';
import { isRecordType, type RecordType, type SeqRecord } from './types.js';

/**
 * Spool record framing, shared by the agent's spool and the collector's store.
 *
 *   offset size field
 *   0      2    magic 0xAC 0xE1
 *   2      1    version (1)
 *   3      1    record type
 *   4      4    payload length, u32 big-endian
 *   8      8    sequence number, u64 big-endian (must be a safe integer)
 *   16     4    CRC-32 of bytes 2..15 and the payload
 *   20     n    payload
 *
 * The checksum covers the header fields too, so a flipped length or sequence
 * number is caught, not only payload damage.
 */
export const RECORD_MAGIC_0 = 0xac;
export const RECORD_MAGIC_1 = 0xe1;
export const RECORD_VERSION = 1;
export const RECORD_HEADER_BYTES = 20;
/** Far above any real batch; a larger length field is damage, not data. */
export const MAX_RECORD_PAYLOAD = 16 * 1024 * 1024;

export function encodeRecord(seq: number, type: RecordType, payload: Uint8Array): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`sequence number out of range: ${seq}`);
  if (payload.length > MAX_RECORD_PAYLOAD) throw new RangeError(`record payload of ${payload.length} bytes exceeds ${MAX_RECORD_PAYLOAD}`);
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out[0] = RECORD_MAGIC_0;
  out[1] = RECORD_MAGIC_1;
  out[2] = RECORD_VERSION;
  out[3] = type;
  out.writeUInt32BE(payload.length, 4);
  out.writeBigUInt64BE(BigInt(seq), 8);
  out.set(payload, RECORD_HEADER_BYTES);
  out.writeUInt32BE(recordCrc(out.subarray(2, 16), payload), 16);
  return out;
}

function recordCrc(headerFields: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(headerFields));
}

export interface DecodedRecord extends SeqRecord {
  /** Where the record starts in the scanned buffer, and its full framed size. */
  offset: number;
  size: number;
}

/** `torn`: the bytes are a consistent prefix of a record (an interrupted write). `corrupt`: they cannot be one. */
export type DecodeFailure = { ok: false; kind: 'torn' | 'corrupt'; reason: string };
export type DecodeResult = { ok: true; record: DecodedRecord } | DecodeFailure;

export function decodeRecordAt(buf: Uint8Array, offset: number): DecodeResult {
  const avail = buf.length - offset;
  const torn = (reason: string): DecodeFailure => ({ ok: false, kind: 'torn', reason });
  const corrupt = (reason: string): DecodeFailure => ({ ok: false, kind: 'corrupt', reason });
  if (avail <= 0) return torn('no bytes');
  if (buf[offset] !== RECORD_MAGIC_0) return corrupt('bad magic');
  if (avail < 2) return torn('header cut after 1 byte');
  if (buf[offset + 1] !== RECORD_MAGIC_1) return corrupt('bad magic');
  if (avail < 3) return torn('header cut after 2 bytes');
  if (buf[offset + 2] !== RECORD_VERSION) return corrupt(`unknown record version ${buf[offset + 2]}`);
  if (avail < 4) return torn('header cut after 3 bytes');
  const type = buf[offset + 3]!;
  if (!isRecordType(type)) return corrupt(`unknown record type ${type}`);
  if (avail < 8) return torn(`header cut after ${avail} bytes`);
  const view = new DataView(buf.buffer, buf.byteOffset + offset, avail);
  const length = view.getUint32(4);
  if (length > MAX_RECORD_PAYLOAD) return corrupt(`payload length ${length} exceeds the limit`);
  if (avail < RECORD_HEADER_BYTES) return torn(`header cut after ${avail} bytes`);
  const seqBig = view.getBigUint64(8);
  if (seqBig < 1n || seqBig > BigInt(Number.MAX_SAFE_INTEGER)) return corrupt(`sequence number ${seqBig} out of range`);
  if (avail < RECORD_HEADER_BYTES + length) return torn(`payload cut: ${avail - RECORD_HEADER_BYTES} of ${length} bytes`);
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length);
  const stored = view.getUint32(16);
  if (recordCrc(buf.subarray(offset + 2, offset + 16), payload) !== stored) return corrupt('checksum mismatch');
  return {
    ok: true,
    record: { seq: Number(seqBig), type: type as RecordType, payload, offset, size: RECORD_HEADER_BYTES + length },
  };
}

export interface Damage {
  offset: number;
  length: number;
  reason: string;
}

export interface ScanResult {
  records: DecodedRecord[];
  /** Damaged byte ranges that were skipped because a valid record follows them. */
  damage: Damage[];
  /** End of the last valid record: everything after it is the tail. */
  validEnd: number;
  /** State of the bytes after `validEnd`: none, an interrupted write, or garbage. */
  tail: 'clean' | 'torn' | 'corrupt';
  tailReason?: string;
}

export interface ScanOptions {
  /**
   * Spool segments hold strictly increasing sequence numbers, so a record that
   * breaks the order is damage. A collector's store holds records in arrival
   * order (priority records arrive early) and turns this off.
   */
  increasing?: boolean;
}

/**
 * Decodes every record in a buffer. A bad record is not the end: the scan looks
 * for the next offset where a valid record starts (a bit flip in the middle of
 * a segment must not take the records after it), and only bytes with no valid
 * record after them count as the tail.
 */
export function scanRecords(buf: Uint8Array, start = 0, options: ScanOptions = {}): ScanResult {
  const floorOf = (seq: number) => (options.increasing === false ? 0 : seq);
  const records: DecodedRecord[] = [];
  const damage: Damage[] = [];
  let pos = start;
  let lastSeq = 0;
  while (pos < buf.length) {
    const res = decodeRecordAt(buf, pos);
    if (res.ok && res.record.seq > lastSeq) {
      records.push(res.record);
      lastSeq = floorOf(res.record.seq);
      pos += res.record.size;
      continue;
    }
    const failure: DecodeFailure = res.ok ? { ok: false, kind: 'corrupt', reason: 'sequence number does not increase' } : res;
    const next = resync(buf, pos + 1, lastSeq);
    if (next === -1) {
      return { records, damage, validEnd: pos, tail: failure.kind, tailReason: failure.reason };
    }
    damage.push({ offset: pos, length: next - pos, reason: failure.reason });
    pos = next;
  }
  return { records, damage, validEnd: pos, tail: 'clean' };
}

function resync(buf: Uint8Array, from: number, lastSeq: number): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = from;
  for (;;) {
    at = b.indexOf(RECORD_MAGIC_0, at);
    if (at === -1 || at + 1 >= b.length) return -1;
    if (b[at + 1] === RECORD_MAGIC_1) {
      const res = decodeRecordAt(buf, at);
      if (res.ok && res.record.seq > lastSeq) return at;
    }
    at += 1;
  }
}
