/**
 * The device model every capability shares: discovery fills it in, the API,
 * the device plugin, injection, health and telemetry read it.
 */
export type VendorName = 'nvidia' | 'hanguang';
export type DeviceKind = 'gpu' | 'vgpu' | 'npu';
export type Health = 'Healthy' | 'Unhealthy';
/** Which source found the device, best first. */
export type DiscoverySource = 'nvml' | 'nvidia-smi' | 'procfs' | 'sysfs';

export interface Device {
  /** Stable across restarts: the UUID where the vendor has one, else `<vendor>-<pciBusId>`. */
  id: string;
  vendor: VendorName;
  kind: DeviceKind;
  /** Position among devices of the same vendor, ordered by PCI bus id. */
  index: number;
  model: string;
  uuid: string | null;
  /** Canonical `dddd:bb:dd.f`, lower case. */
  pciBusId: string;
  numaNode: number | null;
  memoryMiB: number | null;
  /** Host paths (without the host-root prefix) of the nodes this device needs of its own. */
  deviceNodes: string[];
  driverVersion: string | null;
  health: Health;
  /** Why the device is unhealthy; empty when healthy. */
  healthReason: string;
  source: DiscoverySource;
}

/** One driver stack present on the host, whether or not it has devices. */
export interface DriverInfo {
  vendor: VendorName;
  /** null when the driver is absent or its version unreadable. */
  version: string | null;
  /** Nodes every container using this vendor needs (e.g. /dev/nvidiactl). */
  controlNodes: string[];
  /** The sources that answered, in the order tried, and why the others did not. */
  sources: SourceReport[];
}

export interface SourceReport {
  source: DiscoverySource;
  ok: boolean;
  detail: string;
}

export interface HostFacts {
  hostname: string;
  os: string;
  kernel: string;
  arch: string;
  cpuModel: string;
  cpuCores: number;
  memoryMiB: number;
}

export interface Inventory {
  host: HostFacts;
  drivers: DriverInfo[];
  devices: Device[];
  labels: Record<string, string>;
  /** Things the agent could not trust and skipped, for operators. */
  warnings: string[];
}

/** Normalise NVML's `00000000:00:07.0` and sysfs's `0000:00:07.0` to one form. */
export function canonicalPciBusId(raw: string): string {
  const m = /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/.exec(raw.trim());
  if (!m) throw new RangeError(`not a PCI bus id: ${JSON.stringify(raw)}`);
  const domain = parseInt(m[1] ?? '0', 16).toString(16).padStart(4, '0');
  const pad2 = (s: string) => s.toLowerCase().padStart(2, '0');
  return `${domain}:${pad2(m[2]!)}:${pad2(m[3]!)}.${m[4]}`;
}
