import { AccelError, ErrorCode } from '../errors.js';
import type { Sample } from './types.js';

/** Matches the wire codec's name limit, so a sample accepted here can always be sent. */
export const MAX_NAME_BYTES = 256;

function fail(message: string): never {
  throw new AccelError(ErrorCode.TELEMETRY_INPUT, message);
}

function checkName(name: unknown, what: string): void {
  if (typeof name !== 'string') fail(`${what} must be a string`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes > MAX_NAME_BYTES) fail(`${what} must be 1-${MAX_NAME_BYTES} bytes, got ${bytes}`);
}

/**
 * Refuses a sample the spool must not take: once a record is in the spool it
 * will be sent until acknowledged, so a sample the collector would refuse has
 * to be stopped here, at the door.
 */
export function checkSample(s: Sample): void {
  if (typeof s !== 'object' || s === null) fail('a sample must be an object');
  if (!Number.isSafeInteger(s.ts) || s.ts < 0) fail(`sample timestamp must be whole milliseconds since the epoch, got ${String(s.ts)}`);
  checkName(s.deviceId, 'deviceId');
  if (typeof s.metrics !== 'object' || s.metrics === null) fail('sample metrics must be an object');
  for (const [name, value] of Object.entries(s.metrics)) {
    checkName(name, 'metric name');
    // Decoded names become properties again, and assigning `__proto__` sets none: it would be lost.
    if (name === '__proto__') fail('metric name __proto__ is reserved');
    if (typeof value !== 'number') fail(`metric ${name} must be a number`);
  }
}

/** Splits samples into groups of at most `maxValues` metric values (a sample is never split). */
export function chunkSamples(samples: readonly Sample[], maxValues: number): Sample[][] {
  const out: Sample[][] = [];
  let cur: Sample[] = [];
  let values = 0;
  for (const s of samples) {
    const n = Object.keys(s.metrics).length;
    if (cur.length > 0 && values + n > maxValues) {
      out.push(cur);
      cur = [];
      values = 0;
    }
    cur.push(s);
    values += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
