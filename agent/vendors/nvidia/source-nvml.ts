import { describeError } from '../../errors.js';
import { canonicalPciBusId } from '../../model/device.js';
import type { DiscoveryContext } from '../vendor.js';
import type { NvmlDeviceInfo } from './nvml-binding.js';
import { openHostNvml, type NvmlAccess } from './nvml-session.js';
import { countGpus, type NvidiaGpu, type SourceAnswer } from './source.js';
import { virtualizationModeOf } from './virtualization.js';

export { defaultNvmlAccess, type NvmlAccess } from './nvml-session.js';

const MIB = 1024 * 1024;
const GPU_UUID = /^GPU-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/;

/**
 * Lists GPUs through NVML loaded from the host's own driver library, the
 * source of truth. The session is opened and shut within the call, so a
 * discovery leaves nothing loaded; every NVML call runs off the event loop
 * in the addon.
 */
export async function queryNvml(ctx: DiscoveryContext, libraryPath: string | null, access: NvmlAccess): Promise<SourceAnswer> {
  const { session, hostPath, refusals } = await openHostNvml(ctx.host, libraryPath, access);
  let records: NvmlDeviceInfo[];
  try {
    records = await session.devices();
  } finally {
    await session.shutdown().catch((err: unknown) => ctx.log.warn({ reason: describeError(err) }, 'NVML shutdown failed'));
  }
  const warnings = [...refusals];
  const gpus: NvidiaGpu[] = [];
  for (const r of records) {
    const gpu = gpuOf(r);
    if (typeof gpu === 'string') warnings.push(gpu);
    else gpus.push(gpu);
  }
  if (session.deviceCount !== records.length) warnings.push(`NVML counts ${session.deviceCount} devices but listed ${records.length}`);
  return {
    driverVersion: session.driverVersion,
    gpus,
    detail: `NVML ${session.nvmlVersion ?? '(version unknown)'} via ${hostPath}: ${countGpus(gpus.length)}`,
    warnings,
  };
}

/** A GPU from one NVML record, or why the record is unusable. */
function gpuOf(r: NvmlDeviceInfo): NvidiaGpu | string {
  let pciBusId: string;
  try {
    pciBusId = canonicalPciBusId(r.pciBusId ?? '');
  } catch {
    const why = r.error ? `: ${r.error.name} in ${r.error.function}` : '';
    return `NVML device ${r.index}: no valid PCI bus id (${JSON.stringify(r.pciBusId)})${why}; skipped`;
  }
  return {
    pciBusId,
    uuid: r.uuid !== null && GPU_UUID.test(r.uuid) ? r.uuid : null,
    name: r.name?.trim() || 'NVIDIA GPU',
    memoryMiB: r.memoryTotalBytes === null ? null : Math.floor(r.memoryTotalBytes / MIB),
    minor: r.minor,
    virtualizationMode: virtualizationModeOf(r.virtualizationMode),
    source: 'nvml',
    problem: r.error ? `NVML ${r.error.function}: ${r.error.name}` : null,
  };
}
