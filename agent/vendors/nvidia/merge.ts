import type { PciFunction } from '../../discovery/pci.js';
import type { DiscoverySource } from '../../model/device.js';
import type { DiscoveredDevice } from '../vendor.js';
import { gpuFromPci, isNvidiaGpuFunction } from './source-sysfs.js';
import type { NvidiaGpu, SourceAnswer } from './source.js';
import { nvidiaDeviceKind } from './virtualization.js';

/** Minor 255 is /dev/nvidiactl and 254 /dev/nvidia-modeset; GPUs use the ones below. */
const MAX_GPU_MINOR = 253;

/** Nodes every NVIDIA container needs besides its GPUs' own, when the host has them. */
export const NVIDIA_CONTROL_NODES = ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset'] as const;

/** The char-device major the NVIDIA driver registers for its GPU nodes and /dev/nvidiactl. */
export const NVIDIA_MAJOR = 195;

export function gpuDeviceNode(minor: number | null): string | null {
  return minor !== null && Number.isInteger(minor) && minor >= 0 && minor <= MAX_GPU_MINOR ? `/dev/nvidia${minor}` : null;
}

export interface MergeInput {
  /** The answer of the best source that answered, and that source's name. */
  answer: SourceAnswer;
  source: DiscoverySource;
  pci: readonly PciFunction[];
  driverVersion: string | null;
  /** For each GPU's device node, why it cannot be used (null: usable), as `deviceNodeProblem` says. */
  nodeProblems: ReadonlyMap<string, string | null>;
  /**
   * Whether GPUs on the PCI bus that the answer left out are added from sysfs.
   * NVML and nvidia-smi are authoritative (a GPU they do not list cannot be
   * used); procfs is not (its file for that GPU may just be unreadable).
   */
  fillFromPci: boolean;
}

export interface MergeResult {
  devices: DiscoveredDevice[];
  warnings: string[];
}

/**
 * Turns the winning source's GPUs into devices: sysfs supplies the NUMA node,
 * the minor number gives the device node, the name and virtualization mode
 * decide between gpu and vgpu.
 */
export function mergeNvidia(input: MergeInput): MergeResult {
  const warnings: string[] = [];
  const byAddress = new Map(input.pci.map((fn) => [fn.address, fn]));
  const gpus: NvidiaGpu[] = [];
  const seen = new Set<string>();
  for (const gpu of input.answer.gpus) {
    if (seen.has(gpu.pciBusId)) {
      warnings.push(`${gpu.source} reports GPU ${gpu.pciBusId} twice; the first kept`);
      continue;
    }
    seen.add(gpu.pciBusId);
    gpus.push(gpu);
  }
  for (const fn of input.pci) {
    if (!isNvidiaGpuFunction(fn) || seen.has(fn.address)) continue;
    if (input.fillFromPci) {
      warnings.push(`GPU ${fn.address} is on the PCI bus but not in procfs; described from sysfs only`);
      gpus.push(gpuFromPci(fn));
    } else {
      warnings.push(`GPU ${fn.address} is on the PCI bus but ${input.source} does not list it; not usable`);
    }
  }

  const devices = gpus.map((gpu): DiscoveredDevice => {
    const fn = byAddress.get(gpu.pciBusId);
    if (!fn && gpu.source !== 'sysfs') warnings.push(`GPU ${gpu.pciBusId} (${gpu.source}) not found in PCI sysfs; NUMA node unknown`);
    const node = gpuDeviceNode(gpu.minor);
    const deviceNodes: string[] = [];
    if (node !== null) {
      const problem = input.nodeProblems.get(node);
      if (problem === null) deviceNodes.push(node);
      else warnings.push(`GPU ${gpu.pciBusId}: device node ${node} ${problem ?? 'was not examined'}`);
    } else if (gpu.minor !== null) {
      warnings.push(`GPU ${gpu.pciBusId}: minor number ${gpu.minor} is out of range`);
    }
    return {
      id: gpu.uuid ?? `nvidia-${gpu.pciBusId}`,
      vendor: 'nvidia',
      kind: nvidiaDeviceKind(gpu.name, gpu.virtualizationMode),
      model: gpu.name,
      uuid: gpu.uuid,
      pciBusId: gpu.pciBusId,
      numaNode: fn?.numaNode ?? null,
      memoryMiB: gpu.memoryMiB,
      deviceNodes,
      driverVersion: input.driverVersion,
      health: gpu.problem === null ? 'Healthy' : 'Unhealthy',
      healthReason: gpu.problem ?? '',
      source: gpu.source,
    };
  });
  devices.sort((a, b) => (a.pciBusId < b.pciBusId ? -1 : a.pciBusId > b.pciBusId ? 1 : 0));
  return { devices, warnings };
}
