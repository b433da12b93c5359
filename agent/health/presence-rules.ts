/**
 * Turns what the presence checks saw on the host into raised or cleared
 * conditions. Pure, so every rule is tested without a filesystem.
 */
import type { Condition } from './signals.js';

export interface PresenceObservation {
  /** null when the PCI function is on the bus, otherwise why it is not. */
  pciProblem: string | null;
  /** Name of the bound driver, null when none is bound. */
  driver: string | null;
  missingNodes: readonly string[];
  /** For vendors whose driver announces itself by a path (e.g. /proc/driver/nvidia); null when not checked. */
  driverPath: { path: string; present: boolean } | null;
  /** Degrees Celsius, null when unknown. */
  temperatureC: number | null;
}

export interface PresenceRules {
  /** Acceptable driver names; null accepts any bound driver. */
  expectedDrivers: readonly string[] | null;
  temperatureLimitC: number | null;
  temperatureHysteresisC: number;
}

/** Per condition: the detail when raised, null when clear. A missing key means "no opinion, keep as is". */
export type ConditionVerdicts = Partial<Record<Condition, string | null>>;

export function judgePresence(
  target: { vendor: string; pciBusId: string },
  obs: PresenceObservation,
  wasHot: boolean,
  rules: PresenceRules,
): ConditionVerdicts {
  const v: ConditionVerdicts = {};
  v['pci-missing'] = obs.pciProblem === null ? null : `PCI function ${target.pciBusId} ${obs.pciProblem}`;
  const unloaded = obs.driverPath !== null && !obs.driverPath.present;
  // Without the function there is nothing to bind, and without the driver nothing to bind to:
  // pci-missing or driver-unloaded already says everything.
  v['driver-unbound'] = obs.pciProblem === null && !unloaded ? driverProblem(target.pciBusId, obs.driver, rules.expectedDrivers) : null;
  if (obs.driverPath !== null) {
    v['driver-unloaded'] = unloaded ? `${target.vendor} driver is not loaded (${obs.driverPath.path} is missing)` : null;
  }
  v['node-missing'] = obs.missingNodes.length === 0 ? null : `device node${obs.missingNodes.length > 1 ? 's' : ''} missing: ${obs.missingNodes.join(', ')}`;
  if (rules.temperatureLimitC === null) {
    v['over-temperature'] = null;
  } else if (obs.temperatureC !== null) {
    v['over-temperature'] = isHot(obs.temperatureC, wasHot, rules.temperatureLimitC, rules.temperatureHysteresisC)
      ? `temperature ${formatCelsius(obs.temperatureC)} above the limit of ${formatCelsius(rules.temperatureLimitC)}`
      : null;
  }
  return v;
}

/** Hysteresis: once hot, a device must cool clearly below the limit before it counts as cool. */
export function isHot(tempC: number, wasHot: boolean, limitC: number, hysteresisC: number): boolean {
  return wasHot ? tempC > limitC - hysteresisC : tempC > limitC;
}

/** hwmon `temp*_input` files hold millidegrees Celsius as a decimal integer. */
export function parseMillidegrees(text: string): number | null {
  const s = text.trim();
  if (!/^-?\d{1,9}$/.test(s)) return null;
  return Number(s) / 1000;
}

function driverProblem(bdf: string, driver: string | null, expected: readonly string[] | null): string | null {
  if (driver === null) return `no driver bound to ${bdf}`;
  if (expected !== null && !expected.includes(driver)) return `${bdf} is bound to ${driver}, expected ${expected.join(' or ')}`;
  return null;
}

function formatCelsius(c: number): string {
  return `${Math.round(c * 10) / 10}°C`;
}
