import type { HealthOptions, KmsgMode } from '../health/options.js';
import type { NpuProfile } from '../vendors/hanguang/profile.js';
import type { NvidiaOptions, NvidiaSourceName } from '../vendors/nvidia/options.js';
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
