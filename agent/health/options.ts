import { AccelError, ErrorCode } from '../errors.js';

export type KmsgMode = 'auto' | 'on' | 'off';

/** Every tunable of health monitoring; `docs/health.md` explains each rule. */
export interface HealthOptions {
  /** How long a device must stay quiet after its last trouble before it may recover. */
  quietPeriodMs: number;
  /** Cap of the quiet period once flapping has doubled it. */
  maxQuietPeriodMs: number;
  /** A failure this soon after a recovery counts as flapping and doubles the quiet period. */
  flapWindowMs: number;
  /** How long to wait before probing again when a recovery probe failed. */
  probeRetryMs: number;
  /** A probe that has not answered by then counts as failed. */
  probeTimeoutMs: number;
  /** Xids that are the application's fault, not the device's. Replaces the default list. */
  ignoredXids: readonly number[];
  /** Xids always treated as critical, even when also listed as ignored. */
  fatalXids: readonly number[];
  /** Degrees Celsius above which a device is unhealthy; null turns the check off. */
  temperatureLimitC: number | null;
  /** A hot device counts as cool again only this many degrees below the limit. */
  temperatureHysteresisC: number;
  /** Interval of the sysfs presence checks (and of kernel log polling). */
  pollIntervalMs: number;
  /** Kernel log watching: always, never, or only when NVML events are unavailable. */
  kmsg: KmsgMode;
}

/** Applications cause these (faults, exceptions, timeouts in user work); the device is fine. */
export const DEFAULT_IGNORED_XIDS: readonly number[] = Object.freeze([13, 31, 43, 45, 68, 109]);

export const DEFAULT_HEALTH_OPTIONS: Readonly<HealthOptions> = Object.freeze({
  quietPeriodMs: 5 * 60_000,
  maxQuietPeriodMs: 60 * 60_000,
  flapWindowMs: 60 * 60_000,
  probeRetryMs: 30_000,
  probeTimeoutMs: 10_000,
  ignoredXids: DEFAULT_IGNORED_XIDS,
  fatalXids: Object.freeze([]) as readonly number[],
  temperatureLimitC: null,
  temperatureHysteresisC: 5,
  // Half a second keeps "lost device stops receiving pods within a second" true for polled evidence.
  pollIntervalMs: 500,
  kmsg: 'auto' as KmsgMode,
});

const MAX_XID = 0xffff;
const DAY_MS = 24 * 3600_000;

/** Fills in defaults and refuses values that would make the rules meaningless. */
export function resolveHealthOptions(partial: Partial<HealthOptions> = {}): HealthOptions {
  const o: HealthOptions = { ...DEFAULT_HEALTH_OPTIONS, ...stripUndefined(partial) };
  const problems: string[] = [];
  const duration = (key: keyof HealthOptions, min: number) => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 7 * DAY_MS) {
      problems.push(`${key} must be a whole number of milliseconds between ${min} and ${7 * DAY_MS}, got ${String(v)}`);
    }
  };
  duration('quietPeriodMs', 0);
  duration('maxQuietPeriodMs', 0);
  duration('flapWindowMs', 0);
  duration('probeRetryMs', 1);
  duration('probeTimeoutMs', 1);
  duration('pollIntervalMs', 10);
  if (o.maxQuietPeriodMs < o.quietPeriodMs) {
    problems.push(`maxQuietPeriodMs (${o.maxQuietPeriodMs}) must not be below quietPeriodMs (${o.quietPeriodMs})`);
  }
  for (const key of ['ignoredXids', 'fatalXids'] as const) {
    const list = o[key];
    if (!Array.isArray(list) || !list.every((x) => Number.isInteger(x) && x >= 0 && x <= MAX_XID)) {
      problems.push(`${key} must be a list of Xid numbers between 0 and ${MAX_XID}`);
    }
  }
  if (o.temperatureLimitC !== null && !(typeof o.temperatureLimitC === 'number' && o.temperatureLimitC > 0 && o.temperatureLimitC <= 200)) {
    problems.push(`temperatureLimitC must be null or between 0 and 200 degrees, got ${String(o.temperatureLimitC)}`);
  }
  if (!(typeof o.temperatureHysteresisC === 'number' && o.temperatureHysteresisC >= 0 && o.temperatureHysteresisC <= 50)) {
    problems.push(`temperatureHysteresisC must be between 0 and 50 degrees, got ${String(o.temperatureHysteresisC)}`);
  }
  if (!['auto', 'on', 'off'].includes(o.kmsg)) {
    problems.push(`kmsg must be one of auto, on, off, got ${JSON.stringify(o.kmsg)}`);
  }
  if (problems.length > 0) {
    throw new AccelError(ErrorCode.CONFIG_INVALID, `invalid health options: ${problems.join('; ')}`, { details: { problems } });
  }
  return o;
}

/**
 * Whether to watch the kernel log. In `auto` mode it is the fallback for
 * hosts where NVML events cannot be had (no library, no event support).
 */
export function shouldWatchKmsg(mode: KmsgMode, nvmlEventsAvailable: boolean): boolean {
  return mode === 'on' || (mode === 'auto' && !nvmlEventsAvailable);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
