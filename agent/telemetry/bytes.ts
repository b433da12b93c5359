import { AccelError, type ErrorCode } from '../errors.js';

/**
 * Varints here carry JavaScript safe integers (up to 2^53 - 1) without BigInt:
 * sequence numbers, timestamps and scaled sample values all fit, and staying in
 * plain numbers keeps the hot encode path allocation-free.
 */
const MAX_VARINT_BYTES = 8;

/** Zigzag maps signed to unsigned so small negative deltas stay one byte. Valid for |n| <= 2^52. */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.len;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(n: number): void {
    this.ensure(1);
    this.buf[this.len++] = n & 0xff;
  }

  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint out of range: ${n}`);
    this.ensure(MAX_VARINT_BYTES);
    while (n >= 0x80) {
      this.buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.len++] = n;
  }

  svarint(n: number): void {
    this.varint(zigzag(n));
  }

  f64(n: number): void {
    this.ensure(8);
    this.view.setFloat64(this.len, n, true);
    this.len += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Length-prefixed bytes. */
  blob(b: Uint8Array): void {
    this.varint(b.length);
    this.bytes(b);
  }

  string(s: string): void {
    if (!isAscii(s)) return this.blob(utf8.encode(s));
    // Names are nearly always ASCII, whose UTF-8 is its code units: no encoder call, no array per name.
    this.varint(s.length);
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/**
 * A bounds-checked cursor. Every read of hostile input goes through here, so a
 * truncated or lying buffer becomes an AccelError with the caller's code rather
 * than a RangeError or a silently wrong value.
 */
export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly code: ErrorCode,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(message: string): never {
    throw new AccelError(this.code, message, { details: { offset: this.pos } });
  }

  private need(n: number): void {
    if (n > this.remaining) this.fail(`truncated input: need ${n} bytes, have ${this.remaining}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) this.fail('varint exceeds the safe integer range');
        return result;
      }
      mul *= 0x80;
    }
    return this.fail('varint longer than 8 bytes');
  }

  /** A varint that must not exceed `max` (counts and lengths from untrusted input). */
  count(max: number, what: string): number {
    const n = this.varint();
    if (n > max) this.fail(`${what} ${n} exceeds the limit ${max}`);
    return n;
  }

  svarint(): number {
    const z = this.varint();
    if (z > 2 ** 53 - 2) this.fail('signed varint out of range');
    return unzigzag(z);
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  blob(maxLen: number, what: string): Uint8Array {
    return this.bytes(this.count(maxLen, `${what} length`));
  }

  string(maxLen: number, what: string): string {
    const raw = this.blob(maxLen, what);
    try {
      return utf8Strict.decode(raw);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  expectEnd(what: string): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes after ${what}`);
  }
}
