/** Small, realistic inventories for tests of the registry, the API and accelctl. */
import type { Device, Inventory } from '../../agent/model/device.js';

export function gpu(index: number, overrides: Partial<Device> = {}): Device {
  const bus = (0x41 + index).toString(16);
  const uuid = `GPU-0000000${index}-aaaa-bbbb-cccc-dddddddddddd`;
  return {
    id: uuid,
    vendor: 'nvidia',
    kind: 'gpu',
    index,
    model: 'NVIDIA A100-SXM4-40GB',
    uuid,
    pciBusId: `0000:${bus}:00.0`,
    numaNode: index < 2 ? 0 : 1,
    memoryMiB: 40960,
    deviceNodes: [`/dev/nvidia${index}`],
    driverVersion: '550.54.15',
    health: 'Healthy',
    healthReason: '',
    source: 'nvml',
    ...overrides,
  };
}

export function npu(index: number, overrides: Partial<Device> = {}): Device {
  const pciBusId = `0000:8${index}:00.0`;
  return {
    id: `hanguang-${pciBusId}`,
    vendor: 'hanguang',
    kind: 'npu',
    index,
    model: 'Hanguang 800',
    uuid: null,
    pciBusId,
    numaNode: null,
    memoryMiB: null,
    deviceNodes: [`/dev/alinpu${index}`],
    driverVersion: null,
    health: 'Healthy',
    healthReason: '',
    source: 'sysfs',
    ...overrides,
  };
}

export function inventory(devices: Device[], overrides: Partial<Omit<Inventory, 'devices'>> = {}): Inventory {
  return {
    host: {
      hostname: 'node-a',
      os: 'Debian GNU/Linux 12 (bookworm)',
      kernel: '6.1.0-18-amd64',
      arch: 'x64',
      cpuModel: 'AMD EPYC 7763 64-Core Processor',
      cpuCores: 128,
      memoryMiB: 515_000,
    },
    drivers: [
      {
        vendor: 'nvidia',
        version: '550.54.15',
        controlNodes: ['/dev/nvidiactl', '/dev/nvidia-uvm'],
        sources: [{ source: 'nvml', ok: true, detail: 'libnvidia-ml.so.1 loaded' }],
      },
      {
        vendor: 'hanguang',
        version: null,
        controlNodes: [],
        sources: [
          { source: 'procfs', ok: false, detail: '/proc/driver/alinpu missing' },
          { source: 'sysfs', ok: true, detail: 'found by PCI id' },
        ],
      },
    ],
    devices,
    labels: { 'accel.example.com/nvidia.present': 'true', 'accel.example.com/nvidia.count': String(devices.filter((d) => d.vendor === 'nvidia').length) },
    warnings: [],
    ...overrides,
  };
}
