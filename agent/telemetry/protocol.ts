import { AccelError, ErrorCode } from '../errors.js';
import { isEpoch } from './spool-layout.js';
import { DATA_FRAME_TAG } from './wire-codec.js';

/**
 * The agent-collector conversation over one WebSocket (docs/protocol.md).
 * Control frames are small JSON text messages; records travel in binary data
 * frames (wire-codec.ts). Anything unexpected ends the connection with a close
 * code that says why; the agent then reconnects and resumes from the
 * collector's acknowledged position, so a protocol error costs a resend, never data.
 */

export const PROTOCOL_VERSION = 1;
export const MAX_CONTROL_BYTES = 4096;
export { DATA_FRAME_TAG };

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  UNSUPPORTED_VERSION: 4001,
  HELLO_TIMEOUT: 4008,
  SUPERSEDED: 4009,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Agent → collector, first message on every connection. */
export interface Hello {
  type: 'hello';
  v: number;
  agentId: string;
  epoch: string;
  /** Oldest sequence number the agent still holds; everything below is acknowledged or reported lost. */
  oldestSeq: number;
  newestSeq: number;
}

/** Collector → agent, the answer to hello: where to resume. */
export interface Welcome {
  type: 'welcome';
  v: number;
  ackedSeq: number;
  /** The largest binary message the collector accepts. */
  maxFrameBytes: number;
}

/** Collector → agent: every record up to `seq` is durably stored (or reported lost). */
export interface Ack {
  type: 'ack';
  seq: number;
}

export type CollectorMessage = Welcome | Ack;

const AGENT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Agent ids become file names on the collector, so they are restricted to a safe alphabet. */
export function isAgentId(s: unknown): s is string {
  return typeof s === 'string' && AGENT_ID_RE.test(s);
}

export function protocolError(closeCode: CloseCode, message: string): AccelError {
  return new AccelError(ErrorCode.PROTOCOL, message, { details: { closeCode } });
}

/** The close code a failure should end the connection with. */
export function closeCodeFor(err: unknown): CloseCode {
  if (err instanceof AccelError && err.code === ErrorCode.PROTOCOL) {
    const code = err.details?.closeCode;
    return typeof code === 'number' ? (code as CloseCode) : CloseCode.PROTOCOL_ERROR;
  }
  return CloseCode.INTERNAL_ERROR;
}

export function encodeControl(msg: Hello | Welcome | Ack): string {
  return JSON.stringify(msg);
}

function parseObject(text: string): Record<string, unknown> {
  if (text.length > MAX_CONTROL_BYTES) throw protocolError(CloseCode.MESSAGE_TOO_BIG, `control frame of ${text.length} bytes exceeds ${MAX_CONTROL_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw protocolError(CloseCode.PROTOCOL_ERROR, 'control frame is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw protocolError(CloseCode.PROTOCOL_ERROR, 'control frame is not an object');
  return v as Record<string, unknown>;
}

function seqField(o: Record<string, unknown>, name: string): number {
  const v = o[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw protocolError(CloseCode.PROTOCOL_ERROR, `${name} must be a non-negative integer`);
  return v;
}

export function parseHello(text: string): Hello {
  const o = parseObject(text);
  if (o.type !== 'hello') throw protocolError(CloseCode.PROTOCOL_ERROR, `expected hello, got ${JSON.stringify(o.type)}`);
  if (o.v !== PROTOCOL_VERSION) throw protocolError(CloseCode.UNSUPPORTED_VERSION, `protocol version ${JSON.stringify(o.v)} is not supported (this side speaks ${PROTOCOL_VERSION})`);
  if (!isAgentId(o.agentId)) throw protocolError(CloseCode.PROTOCOL_ERROR, 'agentId must be 1-128 characters of [A-Za-z0-9._-]');
  if (!isEpoch(o.epoch)) throw protocolError(CloseCode.PROTOCOL_ERROR, 'epoch must be 32 lowercase hex digits');
  const oldestSeq = seqField(o, 'oldestSeq');
  const newestSeq = seqField(o, 'newestSeq');
  if (oldestSeq < 1 || oldestSeq > newestSeq + 1) throw protocolError(CloseCode.PROTOCOL_ERROR, 'oldestSeq must lie in 1..newestSeq+1');
  return { type: 'hello', v: PROTOCOL_VERSION, agentId: o.agentId, epoch: o.epoch, oldestSeq, newestSeq };
}

export function parseCollectorMessage(text: string): CollectorMessage {
  const o = parseObject(text);
  if (o.type === 'welcome') {
    if (o.v !== PROTOCOL_VERSION) throw protocolError(CloseCode.UNSUPPORTED_VERSION, `collector speaks protocol version ${JSON.stringify(o.v)}`);
    const maxFrameBytes = seqField(o, 'maxFrameBytes');
    if (maxFrameBytes < 1024) throw protocolError(CloseCode.PROTOCOL_ERROR, 'maxFrameBytes below 1024');
    return { type: 'welcome', v: PROTOCOL_VERSION, ackedSeq: seqField(o, 'ackedSeq'), maxFrameBytes };
  }
  if (o.type === 'ack') return { type: 'ack', seq: seqField(o, 'seq') };
  throw protocolError(CloseCode.PROTOCOL_ERROR, `unknown control frame type ${JSON.stringify(o.type)}`);
}

/** Binary messages must be data frames; the tag byte is checked before anything is decoded. */
export function checkDataMessage(msg: Uint8Array, maxBytes: number): void {
  if (msg.length > maxBytes) throw protocolError(CloseCode.MESSAGE_TOO_BIG, `data frame of ${msg.length} bytes exceeds ${maxBytes}`);
  if (msg.length < 2 || msg[0] !== DATA_FRAME_TAG) throw protocolError(CloseCode.PROTOCOL_ERROR, 'binary message is not a data frame');
}
