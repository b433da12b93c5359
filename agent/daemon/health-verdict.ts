/**
 * How discovery's view of a device's health and the health monitor's verdict
 * combine. Pure, so the rule is stated and tested in one place.
 *
 * Both sources are independent witnesses: a device is healthy only when
 * neither says otherwise. Letting the latest writer win would let a periodic
 * rescan (which usually reports Healthy) silently undo the monitor's verdict.
 */
import type { Device, Health } from '../model/device.js';

export interface HealthVerdict {
  health: Health;
  reason: string;
}

export function applyVerdict(discovered: Device, verdict: HealthVerdict | undefined): Device {
  if (verdict === undefined || verdict.health === 'Healthy') {
    return discovered.health === 'Healthy' ? { ...discovered, healthReason: '' } : discovered;
  }
  const reasons = [discovered.health === 'Unhealthy' ? discovered.healthReason : '', verdict.reason]
    .map((r) => r.trim())
    .filter((r, i, all) => r !== '' && all.indexOf(r) === i);
  return { ...discovered, health: 'Unhealthy', healthReason: reasons.join('; ') };
}
