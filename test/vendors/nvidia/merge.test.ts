import t from 'tap';
import type { PciFunction } from '../../../agent/discovery/pci.js';
import { gpuDeviceNode, mergeNvidia, type MergeInput } from '../../../agent/vendors/nvidia/merge.js';
import type { NvidiaGpu } from '../../../agent/vendors/nvidia/source.js';

const pci = (address: string, numaNode: number | null, extra: Partial<PciFunction> = {}): PciFunction => ({
  address,
  sysfsPath: `/sys/devices/pci0000:00/${address}`,
  vendorId: 0x10de,
  deviceId: 0x15f8,
  classCode: 0x030200,
  subsystemVendorId: null,
  subsystemDeviceId: null,
  numaNode,
  driver: 'nvidia',
  uevent: {},
  ...extra,
});

const gpu = (pciBusId: string, minor: number | null, extra: Partial<NvidiaGpu> = {}): NvidiaGpu => ({
  pciBusId,
  uuid: `GPU-0000000${minor ?? 9}-1111-2222-3333-444455556666`,
  name: 'Tesla P100-PCIE-16GB',
  memoryMiB: 16280,
  minor,
  virtualizationMode: 'passthrough',
  source: 'nvml',
  problem: null,
  ...extra,
});

const input = (gpus: NvidiaGpu[], functions: PciFunction[], extra: Partial<MergeInput> = {}): MergeInput => ({
  answer: { driverVersion: '470.82.01', gpus, detail: '', warnings: [] },
  source: 'nvml',
  pci: functions,
  driverVersion: '470.82.01',
  nodeProblems: new Map(gpus.map((g) => [`/dev/nvidia${g.minor}`, null])),
  fillFromPci: false,
  ...extra,
});

t.test('GPUs become devices with NUMA from sysfs, node from minor, id from UUID', async (t) => {
  const { devices, warnings } = mergeNvidia(input([gpu('0000:88:00.0', 1), gpu('0000:81:00.0', 0)], [pci('0000:81:00.0', 1), pci('0000:88:00.0', 1)]));
  t.same(warnings, []);
  t.same(devices.map((d) => d.pciBusId), ['0000:81:00.0', '0000:88:00.0'], 'sorted by bus id');
  t.same(devices[0], {
    id: 'GPU-00000000-1111-2222-3333-444455556666',
    vendor: 'nvidia',
    kind: 'gpu',
    model: 'Tesla P100-PCIE-16GB',
    uuid: 'GPU-00000000-1111-2222-3333-444455556666',
    pciBusId: '0000:81:00.0',
    numaNode: 1,
    memoryMiB: 16280,
    deviceNodes: ['/dev/nvidia0'],
    driverVersion: '470.82.01',
    health: 'Healthy',
    healthReason: '',
    source: 'nvml',
  });
});

t.test('a vGPU profile name makes a vgpu even without a mode', async (t) => {
  const { devices } = mergeNvidia(input([gpu('0000:00:07.0', 0, { name: 'GRID P4-2Q', virtualizationMode: null, source: 'procfs' })], [pci('0000:00:07.0', null)]));
  t.equal(devices[0]!.kind, 'vgpu');
  t.equal(devices[0]!.numaNode, null);
  t.equal(devices[0]!.source, 'procfs');
});

t.test('a node that is missing or not a char device is left out with a warning', async (t) => {
  const { devices, warnings } = mergeNvidia(
    input([gpu('0000:00:07.0', 0), gpu('0000:00:08.0', 1)], [pci('0000:00:07.0', null), pci('0000:00:08.0', null)], {
      nodeProblems: new Map([
        ['/dev/nvidia0', 'does not exist on the host'],
        ['/dev/nvidia1', 'is a symlink'],
      ]),
    }),
  );
  t.same(devices.map((d) => d.deviceNodes), [[], []]);
  t.match(warnings.join('\n'), /\/dev\/nvidia0 does not exist/);
  t.match(warnings.join('\n'), /\/dev\/nvidia1 is a symlink/);
});

t.test('minors that are control nodes or garbage never become GPU nodes', async (t) => {
  t.equal(gpuDeviceNode(255), null, '/dev/nvidiactl');
  t.equal(gpuDeviceNode(254), null, '/dev/nvidia-modeset');
  t.equal(gpuDeviceNode(-1), null);
  t.equal(gpuDeviceNode(1.5), null);
  t.equal(gpuDeviceNode(null), null);
  t.equal(gpuDeviceNode(253), '/dev/nvidia253');
  const { devices, warnings } = mergeNvidia(input([gpu('0000:00:07.0', 255)], [pci('0000:00:07.0', null)]));
  t.same(devices[0]!.deviceNodes, []);
  t.match(warnings.join('\n'), /minor number 255 is out of range/);
});

t.test('a GPU the authoritative source leaves out is reported, not invented', async (t) => {
  const { devices, warnings } = mergeNvidia(input([gpu('0000:81:00.0', 0)], [pci('0000:81:00.0', 0), pci('0000:82:00.0', 0)]));
  t.equal(devices.length, 1);
  t.match(warnings.join('\n'), /0000:82:00\.0 is on the PCI bus but nvml does not list it/);
});

t.test('after procfs, GPUs it could not describe are filled in from sysfs', async (t) => {
  const { devices, warnings } = mergeNvidia(
    input([gpu('0000:81:00.0', 0, { source: 'procfs' })], [pci('0000:81:00.0', 0), pci('0000:82:00.0', 1, { driver: null })], { fillFromPci: true, source: 'procfs' }),
  );
  t.equal(devices.length, 2);
  t.match(devices[1], { id: 'nvidia-0000:82:00.0', uuid: null, source: 'sysfs', numaNode: 1, health: 'Unhealthy', healthReason: 'no kernel driver bound', model: 'NVIDIA PCI device 0x15f8' });
  t.match(warnings.join('\n'), /0000:82:00\.0 .* described from sysfs only/);
});

t.test('non-GPU NVIDIA functions (audio) and other vendors are not GPUs', async (t) => {
  const { devices, warnings } = mergeNvidia(
    input([], [pci('0000:81:00.1', 0, { classCode: 0x040300 }), pci('0000:00:02.0', null, { vendorId: 0x1af4 })], { fillFromPci: true }),
  );
  t.same(devices, []);
  t.same(warnings, []);
});

t.test('a GPU listed twice is kept once; a GPU missing from sysfs has unknown NUMA', async (t) => {
  const { devices, warnings } = mergeNvidia(input([gpu('0000:81:00.0', 0), gpu('0000:81:00.0', 0)], []));
  t.equal(devices.length, 1);
  t.equal(devices[0]!.numaNode, null);
  t.match(warnings.join('\n'), /twice/);
  t.match(warnings.join('\n'), /not found in PCI sysfs/);
});

t.test('a device NVML cannot talk to is unhealthy with the reason', async (t) => {
  const { devices } = mergeNvidia(input([gpu('0000:81:00.0', 0, { problem: 'NVML: GPU is lost' })], [pci('0000:81:00.0', 0)]));
  t.equal(devices[0]!.health, 'Unhealthy');
  t.equal(devices[0]!.healthReason, 'NVML: GPU is lost');
});
