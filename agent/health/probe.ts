/**
 * The check a device must pass before it is trusted again: its nodes are
 * there, its PCI function answers in sysfs, and for NVIDIA devices NVML
 * lists it. Run only at the end of a quiet period, never on a schedule.
 */
import { describeError } from '../errors.js';
import type { HostRoot } from '../host/host-root.js';
import type { HealthTarget, Probe, ProbeResult } from './signals.js';

/** What NVML says of one device; a device NVML cannot query carries `error`. */
export interface NvmlListedDevice {
  uuid: string | null;
  error?: { name?: string; message?: string };
}

/** The part of an NVML session a probe needs (the binding's `NvmlSession` fits). */
export interface NvmlDeviceLister {
  devices(): Promise<readonly NvmlListedDevice[]> | readonly NvmlListedDevice[];
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
    const entry = (await opts.nvml.devices()).find((d) => d.uuid?.toLowerCase() === uuid);
    if (entry === undefined) return { ok: false, detail: `NVML does not list ${target.uuid}` };
    if (entry.error) return { ok: false, detail: `NVML cannot query ${target.uuid}: ${entry.error.name ?? entry.error.message ?? 'error'}` };
    checked.push('NVML lists the device');
  }
  return { ok: true, detail: checked.join(', ') };
}
