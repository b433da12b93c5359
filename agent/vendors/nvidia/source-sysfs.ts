import type { PciFunction } from '../../discovery/pci.js';
import { formatPciId, pciClassMatches } from '../../discovery/pci-parse.js';
import { countGpus, type NvidiaGpu, type SourceAnswer } from './source.js';

export const NVIDIA_PCI_VENDOR = 0x10de;
/** Base class 0x03, display controller: NVIDIA's audio and USB functions on the same card are not GPUs. */
export const GPU_PCI_CLASS = '0x03';
export const NVIDIA_KERNEL_DRIVER = 'nvidia';

export function isNvidiaGpuFunction(fn: PciFunction): boolean {
  return fn.vendorId === NVIDIA_PCI_VENDOR && pciClassMatches(fn.classCode, GPU_PCI_CLASS);
}

/** A GPU known only from PCI: present on the bus, but no driver answered for it. */
export function gpuFromPci(fn: PciFunction): NvidiaGpu {
  return {
    pciBusId: fn.address,
    uuid: null,
    name: `NVIDIA PCI device ${formatPciId(fn.deviceId)}`,
    memoryMiB: null,
    minor: null,
    virtualizationMode: null,
    source: 'sysfs',
    problem:
      fn.driver === NVIDIA_KERNEL_DRIVER
        ? null
        : fn.driver === null
          ? 'no kernel driver bound'
          : `bound to kernel driver ${fn.driver}, not ${NVIDIA_KERNEL_DRIVER}`,
  };
}

/** The last resort: every NVIDIA display function on the PCI bus (pure over a scan). */
export function querySysfs(functions: readonly PciFunction[]): SourceAnswer {
  const gpus = functions.filter(isNvidiaGpuFunction).map(gpuFromPci);
  return { driverVersion: null, gpus, detail: `PCI scan: ${countGpus(gpus.length)}`, warnings: [] };
}
