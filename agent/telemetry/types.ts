/**
 * What flows through the telemetry pipeline. A spool record and a wire record
 * carry exactly one of these payload kinds under one sequence number.
 */

/** One device's readings at one instant. `ts` is milliseconds since the Unix epoch. */
export interface Sample {
  ts: number;
  deviceId: string;
  metrics: Record<string, number>;
}

export type EventSeverity = 'info' | 'warning' | 'critical';

/** A discrete happening (health transition, Xid, device hot-plug) delivered ahead of bulk samples. */
export interface TelemetryEvent {
  ts: number;
  kind: string;
  severity: EventSeverity;
  message: string;
  deviceId?: string;
  details?: Record<string, string | number | boolean>;
}

/** Why sequence numbers were lost: evicted for the byte budget, or unreadable on disk. */
export type GapReason = 'budget' | 'corrupt';

/** An explicit statement that sequence numbers `from..to` (inclusive) will never be delivered. */
export interface GapInfo {
  ts: number;
  from: number;
  to: number;
  reason: GapReason;
}

/** Labels describing a device (gpu index, UUID, model, PCI bus id, pod...), sent once per change. */
export interface DeviceDescription {
  deviceId: string;
  labels: Record<string, string>;
}

export interface DevicesInfo {
  ts: number;
  devices: DeviceDescription[];
}

export const RecordType = {
  SAMPLES: 1,
  EVENT: 2,
  GAP: 3,
  DEVICES: 4,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export function isRecordType(n: number): n is RecordType {
  return n === RecordType.SAMPLES || n === RecordType.EVENT || n === RecordType.GAP || n === RecordType.DEVICES;
}

/** Everything except sample batches jumps the queue: it is small and operators act on it. */
export function isPriorityType(type: RecordType): boolean {
  return type !== RecordType.SAMPLES;
}

/** A record as stored and sent: the payload is opaque at this level. */
export interface SeqRecord {
  seq: number;
  type: RecordType;
  payload: Uint8Array;
}
