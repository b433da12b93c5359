/**
 * What changed between two device lists. Pure: the registry turns the result
 * into events, tests drive it directly.
 */
import { AccelError, ErrorCode } from '../errors.js';
import type { Device } from '../model/device.js';

export type DeviceField = keyof Device;

/** Fields that say how a device is doing rather than what it is. */
export const HEALTH_FIELDS: readonly DeviceField[] = ['health', 'healthReason'];

export interface DeviceChange {
  previous: Device;
  current: Device;
  /** The fields that differ, in the current device's key order. */
  fields: DeviceField[];
}

export interface DeviceDiff {
  /** In the order of the new list. */
  added: Device[];
  /** In the order of the old list. */
  removed: Device[];
  /** Devices present in both lists whose fields differ, in the order of the new list. */
  changed: DeviceChange[];
}

export function diffDevices(previous: readonly Device[], next: readonly Device[]): DeviceDiff {
  const before = indexById(previous, 'previous');
  const after = indexById(next, 'new');
  const diff: DeviceDiff = { added: [], removed: [], changed: [] };
  for (const device of previous) {
    if (!after.has(device.id)) diff.removed.push(device);
  }
  for (const device of next) {
    const old = before.get(device.id);
    if (old === undefined) {
      diff.added.push(device);
      continue;
    }
    const fields = changedFields(old, device);
    if (fields.length > 0) diff.changed.push({ previous: old, current: device, fields });
  }
  return diff;
}

/** Every field whose value differs, comparing arrays element by element. */
export function changedFields(previous: Device, current: Device): DeviceField[] {
  const keys = new Set([...Object.keys(current), ...Object.keys(previous)] as DeviceField[]);
  return [...keys].filter((key) => !sameValue(previous[key], current[key]));
}

export function isHealthOnly(fields: readonly DeviceField[]): boolean {
  return fields.every((f) => HEALTH_FIELDS.includes(f));
}

function indexById(devices: readonly Device[], which: string): Map<string, Device> {
  const byId = new Map<string, Device>();
  for (const device of devices) {
    if (typeof device.id !== 'string' || device.id === '') {
      throw new AccelError(ErrorCode.INVENTORY_INVALID, `a device in the ${which} inventory has no id`, {
        details: { pciBusId: device.pciBusId },
      });
    }
    if (byId.has(device.id)) {
      // Two devices under one id would make every later lookup and event ambiguous.
      throw new AccelError(ErrorCode.INVENTORY_INVALID, `device id ${JSON.stringify(device.id)} appears twice in the ${which} inventory`, {
        details: { id: device.id },
      });
    }
    byId.set(device.id, device);
  }
  return byId;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => sameValue(a[k], b[k]));
  }
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
