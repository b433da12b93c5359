/**
 * The check a device must pass before it is trusted again: its nodes are
 * there, its PCI function answers in sysfs, and for NVIDIA devices NVML
 * lists it. Run only at the end of a quiet period, never on a schedule.
 */
import { describeError } from '../errors.js';
import type { HostRoot } from '../host/host-root.js';
import type { HealthTarget, Probe, ProbeResult } from './signals.js';

/** The part of the NVML binding a probe needs: which devices NVML sees now. */
export interface NvmlDeviceLister {
  devices(): Promise<ReadonlyArray<{ uuid: string | null }>> | ReadonlyArray<{ uuid: string | null }>;
}

export interface ProbeOptions {
  host: HostRoot;
  devices: readonly HealthTarget[];
  /** When absent NVIDIA devices are probed like any other, through sysfs alone. */
  nvml?: NvmlDeviceLister | null;
}

export function createProbe(opts: ProbeOptions): Probe {
  const byId = new Map(opts.devices.map((d) => [d.id, d]));
  return async (deviceId) => {
    const target = byId.get(deviceId);
    if (target === undefined) return { ok: false, detail: `unknown device ${deviceId}` };
    try {
      return await probeDevice(opts, target);
    } catch (err) {
      return { ok: false, detail: describeError(err) };
    }
  };
}

async function probeDevice(opts: ProbeOptions, target: HealthTarget): Promise<ProbeResult> {
  const { host } = opts;
  for (const node of target.deviceNodes) {
    if (!(await host.exists(node))) return { ok: false, detail: `device node ${node} is missing` };
  }
  const pciDir = await host.resolveWithin(`/sys/bus/pci/devices/${target.pciBusId}`, ['/sys']);
  if (pciDir === null) return { ok: false, detail: `PCI function ${target.pciBusId} is not on the bus` };
  const vendorId = await host.readTextIfExists(`${pciDir}/vendor`);
  if (vendorId === null || !/^0x[0-9a-f]{4}$/i.test(vendorId.trim())) {
    return { ok: false, detail: `sysfs of ${target.pciBusId} does not answer (vendor id unreadable)` };
  }
  const checked = ['nodes present', 'sysfs readable'];
  if (target.vendor === 'nvidia' && opts.nvml && target.uuid !== null) {
    const uuid = target.uuid.toLowerCase();
    const listed = await opts.nvml.devices();
    if (!listed.some((d) => d.uuid?.toLowerCase() === uuid)) return { ok: false, detail: `NVML does not list ${target.uuid}` };
    checked.push('NVML lists the device');
  }
  return { ok: true, detail: checked.join(', ') };
}
