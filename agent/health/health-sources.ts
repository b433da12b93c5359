/**
 * The standard set of health sources for an inventory, wired from one
 * options object, so the daemon does not have to know which source needs
 * which setting. Builds objects only; the monitor starts them.
 */
import type { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import type { Clock } from './clock.js';
import { KmsgSource } from './kmsg-source.js';
import { NvmlEventSource, type NvmlEventSession } from './nvml-event-source.js';
import { shouldWatchKmsg, type HealthOptions } from './options.js';
import type { HealthSource, HealthTarget } from './signals.js';
import { SysfsPresenceSource, type SysfsPresenceOptions } from './sysfs-presence-source.js';

export interface HealthSourcesOptions {
  host: HostRoot;
  devices: readonly HealthTarget[];
  options: HealthOptions;
  /** Opens an NVML session for events; null when NVML cannot be used on this host. */
  openNvmlSession: (() => Promise<NvmlEventSession>) | null;
  /** Vendor-profile settings of the presence checks. */
  presence?: Pick<SysfsPresenceOptions, 'expectedDrivers' | 'driverPaths' | 'readTemperature'>;
  /** Host path of the kernel log (default /dev/kmsg). */
  kmsgPath?: string;
  clock?: Clock;
  log?: Logger;
}

/**
 * Presence checks for every device; NVML events when NVML is usable; the
 * kernel log as configured (in `auto` mode only without NVML). Xid sources
 * are left out when there is no NVIDIA device to report on.
 */
export function createHealthSources(o: HealthSourcesOptions): HealthSource[] {
  const common = { devices: o.devices, ...(o.clock && { clock: o.clock }), ...(o.log && { log: o.log }) };
  const sources: HealthSource[] = [];
  if (o.devices.length === 0) return sources;
  sources.push(
    new SysfsPresenceSource({
      ...common,
      ...o.presence,
      host: o.host,
      pollIntervalMs: o.options.pollIntervalMs,
      temperatureLimitC: o.options.temperatureLimitC,
      temperatureHysteresisC: o.options.temperatureHysteresisC,
    }),
  );
  if (!o.devices.some((d) => d.vendor === 'nvidia')) return sources;
  if (o.openNvmlSession !== null) sources.push(new NvmlEventSource({ ...common, openSession: o.openNvmlSession }));
  if (shouldWatchKmsg(o.options.kmsg, o.openNvmlSession !== null)) {
    sources.push(new KmsgSource({ ...common, host: o.host, pollIntervalMs: o.options.pollIntervalMs, ...(o.kmsgPath && { path: o.kmsgPath }) }));
  }
  return sources;
}
