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
