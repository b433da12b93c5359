/**
 * The vocabulary health sources and the monitor share. Sources observe the
 * host and emit signals addressed by device id; they never decide health.
 */
import type { Device } from '../model/device.js';

/** What a source needs to know about a device to watch it; an inventory `Device` fits. */
export type HealthTarget = Pick<Device, 'id' | 'vendor' | 'index' | 'uuid' | 'pciBusId' | 'deviceNodes'>;

/**
 * A lasting problem a source can see begin and end. Each condition has exactly
 * one source raising and clearing it, so two sources never contradict each
 * other about the same condition. The order is the order reasons are listed
 * in, root causes first.
 */
export const CONDITIONS = [
  'pci-missing',
  'driver-unloaded',
  'nvml-unavailable',
  'driver-unbound',
  'node-missing',
  'over-temperature',
] as const;
export type Condition = (typeof CONDITIONS)[number];

/** A one-off event reported by the driver, classified later by the monitor's policy. */
export type DeviceEvent =
  | { kind: 'xid'; xid: number }
  | { kind: 'ecc_double' }
  | { kind: 'ecc_single' };

export type HealthSignal =
  | { type: 'event'; deviceId: string; event: DeviceEvent; source: string }
  | { type: 'condition'; deviceId: string; condition: Condition; raised: true; detail: string }
  | { type: 'condition'; deviceId: string; condition: Condition; raised: false };

export type SignalSink = (signal: HealthSignal) => void;

/**
 * A watcher of one kind of evidence. `start` begins emitting (it may reject
 * when the evidence cannot be read at all); `stop` ends every timer, file and
 * loop the source owns and is safe to call twice.
 */
export interface HealthSource {
  readonly name: string;
  start(emit: SignalSink): Promise<void>;
  stop(): Promise<void>;
}

export interface ProbeResult {
  ok: boolean;
  /** Why the probe failed, or what it checked when it passed. */
  detail: string;
}

/** Checks that a device answers again; run only before a device is declared recovered. */
export type Probe = (deviceId: string) => Promise<ProbeResult>;
