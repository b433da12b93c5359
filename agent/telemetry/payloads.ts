import { AccelError, ErrorCode } from '../errors.js';
import type { DeviceDescription, DevicesInfo, EventSeverity, GapInfo, TelemetryEvent } from './types.js';

/**
 * JSON payloads of the small record kinds (events, gaps, device labels). They
 * are rare and read by people, so JSON's cost does not matter; what matters is
 * that a payload from the network or a damaged disk is checked field by field.
 */

const MAX_JSON_BYTES = 256 * 1024;
const MAX_TEXT = 4096;
const MAX_LABELS = 64;
const MAX_DEVICES = 4096;
const SEVERITIES: readonly EventSeverity[] = ['info', 'warning', 'critical'];

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

type Json = Record<string, unknown>;

function parse(payload: Uint8Array, what: string, code: ErrorCode): Json {
  if (payload.length > MAX_JSON_BYTES) throw new AccelError(code, `${what} payload of ${payload.length} bytes is too large`);
  let v: unknown;
  try {
    v = JSON.parse(utf8Strict.decode(payload));
  } catch (err) {
    throw new AccelError(code, `${what} payload is not valid JSON`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AccelError(code, `${what} payload is not an object`);
  return v as Json;
}

function fail(code: ErrorCode, what: string, field: string): never {
  throw new AccelError(code, `${what} payload has an invalid ${field}`);
}

function timestamp(o: Json, what: string, code: ErrorCode): number {
  const ts = o.ts;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) fail(code, what, 'ts');
  return ts;
}

function text(v: unknown, what: string, field: string, code: ErrorCode, optional = false): string | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT) fail(code, what, field);
  return v;
}

function seq(v: unknown, what: string, field: string, code: ErrorCode): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) fail(code, what, field);
  return v;
}

export function encodeEvent(e: TelemetryEvent): Uint8Array {
  return utf8.encode(JSON.stringify(checkEvent(e as unknown as Json, ErrorCode.PROTOCOL)));
}

export function decodeEvent(payload: Uint8Array, code: ErrorCode = ErrorCode.PROTOCOL): TelemetryEvent {
  return checkEvent(parse(payload, 'event', code), code);
}

function checkEvent(o: Json, code: ErrorCode): TelemetryEvent {
  const what = 'event';
  const severity = o.severity;
  if (typeof severity !== 'string' || !SEVERITIES.includes(severity as EventSeverity)) fail(code, what, 'severity');
  const event: TelemetryEvent = {
    ts: timestamp(o, what, code),
    kind: text(o.kind, what, 'kind', code)!,
    severity: severity as EventSeverity,
    message: text(o.message, what, 'message', code)!,
  };
  const deviceId = text(o.deviceId, what, 'deviceId', code, true);
  if (deviceId !== undefined) event.deviceId = deviceId;
  if (o.details !== undefined) {
    if (typeof o.details !== 'object' || o.details === null || Array.isArray(o.details)) fail(code, what, 'details');
    const entries = Object.entries(o.details);
    if (entries.length > MAX_LABELS) fail(code, what, 'details');
    const details: Record<string, string | number | boolean> = {};
    for (const [k, v] of entries) {
      if (!['string', 'number', 'boolean'].includes(typeof v) || (typeof v === 'string' && v.length > MAX_TEXT)) fail(code, what, 'details');
      details[k] = v as string | number | boolean;
    }
    event.details = details;
  }
  return event;
}

export function encodeGap(g: GapInfo): Uint8Array {
  return utf8.encode(JSON.stringify(checkGap(g as unknown as Json, ErrorCode.PROTOCOL)));
}

export function decodeGap(payload: Uint8Array, code: ErrorCode = ErrorCode.PROTOCOL): GapInfo {
  return checkGap(parse(payload, 'gap', code), code);
}

function checkGap(o: Json, code: ErrorCode): GapInfo {
  const what = 'gap';
  const from = seq(o.from, what, 'from', code);
  const to = seq(o.to, what, 'to', code);
  if (to < from) fail(code, what, 'range');
  if (o.reason !== 'budget' && o.reason !== 'corrupt') fail(code, what, 'reason');
  return { ts: timestamp(o, what, code), from, to, reason: o.reason };
}

export function encodeDevices(d: DevicesInfo): Uint8Array {
  return utf8.encode(JSON.stringify(checkDevices(d as unknown as Json, ErrorCode.PROTOCOL)));
}

export function decodeDevices(payload: Uint8Array, code: ErrorCode = ErrorCode.PROTOCOL): DevicesInfo {
  return checkDevices(parse(payload, 'devices', code), code);
}

function checkDevices(o: Json, code: ErrorCode): DevicesInfo {
  const what = 'devices';
  if (!Array.isArray(o.devices) || o.devices.length > MAX_DEVICES) fail(code, what, 'devices list');
  const devices: DeviceDescription[] = o.devices.map((d: unknown) => {
    if (typeof d !== 'object' || d === null) fail(code, what, 'device entry');
    const entry = d as Json;
    const labels = entry.labels;
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) fail(code, what, 'labels');
    const pairs = Object.entries(labels);
    if (pairs.length > MAX_LABELS) fail(code, what, 'labels');
    for (const [, v] of pairs) if (typeof v !== 'string' || v.length > MAX_TEXT) fail(code, what, 'label value');
    return { deviceId: text(entry.deviceId, what, 'deviceId', code)!, labels: Object.fromEntries(pairs) as Record<string, string> };
  });
  return { ts: timestamp(o, what, code), devices };
}
