import type { DiscoverySource } from '../../model/device.js';
import type { VirtualizationMode } from './virtualization.js';

/** One GPU as a single source described it, before merging with sysfs facts. */
export interface NvidiaGpu {
  pciBusId: string;
  uuid: string | null;
  name: string;
  memoryMiB: number | null;
  minor: number | null;
  virtualizationMode: VirtualizationMode | null;
  source: DiscoverySource;
  /** Why the GPU cannot be used as reported (NVML error on the device, no driver bound). */
  problem: string | null;
}

/** What a source that answered found; a source that cannot answer throws with the reason. */
export interface SourceAnswer {
  driverVersion: string | null;
  gpus: NvidiaGpu[];
  /** One line for DriverInfo.sources, e.g. "NVML 12.470.82 via /usr/lib64/libnvidia-ml.so.1, 1 GPU". */
  detail: string;
  warnings: string[];
}

export function countGpus(n: number): string {
  return `${n} GPU${n === 1 ? '' : 's'}`;
}
