import type { HealthOptions, KmsgMode } from '../health/options.js';
import type { DevicePluginSettingsInput } from '../kubelet/options.js';
import type { NpuProfile } from '../vendors/hanguang/profile.js';
import type { NvidiaOptions, NvidiaSourceName } from '../vendors/nvidia/options.js';
import type { FsyncPolicy } from '../telemetry/spool.js';
import { parseDuration, Problem } from './fields.js';
import type { AgentConfig } from './schema.js';

/** The NVIDIA vendor's options, as the configuration sets them. */
export function nvidiaOptions(c: AgentConfig): NvidiaOptions {
  return {
    enabled: c.nvidia.enabled,
    nvmlLibraryPath: c.nvidia.nvmlLibrary,
    smiPath: c.nvidia.smiPath,
    smiTimeoutMs: c.nvidia.smiTimeout,
    // The schema has already checked every item against the known sources.
    sources: c.nvidia.sources as NvidiaSourceName[],
  };
}

/** The NPU profile, or false when NPU discovery is off. */
export function npuProfile(c: AgentConfig): NpuProfile | false {
  return c.npu.enabled ? c.npu.profile : false;
}

/** Health monitoring options; a temperature limit of 0 means no limit. */
export function healthOptions(c: AgentConfig): Partial<HealthOptions> {
  return {
    quietPeriodMs: c.health.quietPeriod,
    maxQuietPeriodMs: Math.max(c.health.maxQuietPeriod, c.health.quietPeriod),
    ignoredXids: c.health.ignoredXids,
    fatalXids: c.health.fatalXids,
    temperatureLimitC: c.health.temperatureLimit === 0 ? null : c.health.temperatureLimit,
    pollIntervalMs: c.health.pollInterval,
    kmsg: c.health.kmsg as KmsgMode,
  };
}

/** Device plugin settings: one resource per vendor unless its name is empty. */
export function devicePluginSettings(c: AgentConfig): DevicePluginSettingsInput {
  const resources = [];
  const replicas = c.devicePlugin.replicas;
  if (c.nvidia.enabled && c.devicePlugin.nvidiaResource !== '') {
    resources.push({ resourceName: c.devicePlugin.nvidiaResource, vendor: 'nvidia' as const, cdiKind: 'nvidia.com/gpu', replicas });
  }
  const npuName = c.devicePlugin.npuResource ?? c.npu.profile.resourceName;
  if (c.npu.enabled && npuName !== '') {
    resources.push({ resourceName: npuName, vendor: 'hanguang' as const, cdiKind: c.npu.profile.cdiKind, replicas });
  }
  return { kubeletDir: c.kubeletDir, strategies: c.devicePlugin.strategies, resources };
}

/** The spool's fsync policy from `always`, `never` or an interval. */
export function fsyncPolicy(c: AgentConfig): FsyncPolicy {
  const v = c.telemetry.fsync;
  if (v === 'always' || v === 'never') return v;
  const ms = parseDuration(v);
  // The schema's pattern admits only durations here.
  return { intervalMs: ms instanceof Problem ? 1000 : ms };
}
