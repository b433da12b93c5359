import { AccelError, ErrorCode } from '../../errors.js';
import { plainReason } from '../../discovery/reason.js';
import { pciAddressOf } from '../../discovery/pci-parse.js';
import { readAttribute } from '../../discovery/sysfs-read.js';
import type { DiscoveryContext } from '../vendor.js';
import { parseGpuInformation } from './information-parse.js';
import { countGpus, type NvidiaGpu, type SourceAnswer } from './source.js';
import { parseNvidiaVersionFile } from './version-parse.js';

export const NVIDIA_PROC_DIR = '/proc/driver/nvidia';
const INFORMATION_MAX_BYTES = 16 * 1024;

/**
 * Reads the driver version and per-GPU information files the kernel module
 * publishes. Fails only when the module is not loaded (no /proc/driver/nvidia);
 * a garbled file costs that file a warning, not the whole answer.
 */
export async function queryProcfs(ctx: DiscoveryContext): Promise<SourceAnswer> {
  if (!(await ctx.host.exists(NVIDIA_PROC_DIR))) {
    throw new AccelError(ErrorCode.DRIVER_NOT_FOUND, `${NVIDIA_PROC_DIR} absent: the NVIDIA kernel module is not loaded`);
  }
  const warnings: string[] = [];
  const driverVersion = await readProcDriverVersion(ctx, warnings);
  const gpus: NvidiaGpu[] = [];
  const entries = await ctx.host.list(`${NVIDIA_PROC_DIR}/gpus`);
  for (const entry of entries) {
    if (pciAddressOf(entry) === null) {
      warnings.push(`${NVIDIA_PROC_DIR}/gpus/${entry}: not a PCI address, ignored`);
      continue;
    }
    let file = `${NVIDIA_PROC_DIR}/gpus/${entry}/information`;
    try {
      const dir = await ctx.host.resolveWithin(`${NVIDIA_PROC_DIR}/gpus/${entry}`, [`${NVIDIA_PROC_DIR}/gpus`]);
      if (dir === null) throw new AccelError(ErrorCode.HOST_READ, `${NVIDIA_PROC_DIR}/gpus/${entry} is a dangling link`);
      file = `${dir}/information`;
      const text = await readAttribute(ctx.host, file, INFORMATION_MAX_BYTES);
      if (text === null) throw new AccelError(ErrorCode.HOST_READ, `${file} is missing`);
      const info = parseGpuInformation(text, file);
      gpus.push({
        pciBusId: info.pciBusId,
        uuid: info.uuid,
        name: info.model,
        memoryMiB: null,
        minor: info.minor,
        virtualizationMode: null,
        source: 'procfs',
        problem: null,
      });
    } catch (err) {
      warnings.push(`${plainReason(err)}; GPU ${entry} skipped by procfs`);
    }
  }
  return {
    driverVersion,
    gpus,
    detail: `${NVIDIA_PROC_DIR}: driver ${driverVersion ?? 'version unknown'}, ${countGpus(gpus.length)}`,
    warnings,
  };
}

/** The driver version from /proc/driver/nvidia/version, or null (with a warning when the file is garbled). */
export async function readProcDriverVersion(ctx: DiscoveryContext, warnings: string[]): Promise<string | null> {
  const file = `${NVIDIA_PROC_DIR}/version`;
  try {
    const text = await readAttribute(ctx.host, file, INFORMATION_MAX_BYTES);
    return text === null ? null : parseNvidiaVersionFile(text).version;
  } catch (err) {
    warnings.push(plainReason(err));
    return null;
  }
}
