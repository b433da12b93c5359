import t from 'tap';
import type { PciFunctionSpec } from '../../agent/simhost/host-spec.js';
import { pciDevicePath, relativeTarget } from '../../agent/simhost/sysfs-writer.js';

const fn = (address: string, parent: string | null): PciFunctionSpec => ({
  address,
  parent,
  vendorId: 0x10de,
  deviceId: 1,
  classCode: 0x030200,
  subsystemVendorId: 0,
  subsystemDeviceId: 0,
  revision: 0,
  numaNode: 0,
  irq: 1,
  localCpuList: '0',
  driver: null,
  charDevices: [],
  hwmon: null,
});

t.test('a function\'s sysfs directory nests under its host bridge and every bridge above it', async (t) => {
  const port = fn('0000:80:10.0', null);
  const sw = fn('0000:81:00.0', '0000:80:10.0');
  const gpu = fn('0000:82:00.0', '0000:81:00.0');
  const map = new Map([port, sw, gpu].map((f) => [f.address, f]));
  t.equal(pciDevicePath(port, map), '/sys/devices/pci0000:80/0000:80:10.0');
  t.equal(pciDevicePath(gpu, map), '/sys/devices/pci0000:80/0000:80:10.0/0000:81:00.0/0000:82:00.0');
  t.equal(pciDevicePath(fn('0001:00:02.0', null), map), '/sys/devices/pci0001:00/0001:00:02.0');
});

t.test('missing parents and loops in the topology are refused', async (t) => {
  const orphan = fn('0000:05:00.0', '0000:04:00.0');
  t.throws(() => pciDevicePath(orphan, new Map([[orphan.address, orphan]])), /parent 0000:04:00.0 is not in the spec/);
  const a = fn('0000:01:00.0', '0000:02:00.0');
  const b = fn('0000:02:00.0', '0000:01:00.0');
  t.throws(() => pciDevicePath(a, new Map([a, b].map((f) => [f.address, f]))), /loops/);
});

t.test('link targets are relative to the link\'s directory', async (t) => {
  t.equal(relativeTarget('/sys/bus/pci/devices/0000:00:07.0', '/sys/devices/pci0000:00/0000:00:07.0'), '../../../devices/pci0000:00/0000:00:07.0');
  t.equal(relativeTarget('/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib/x86_64-linux-gnu/libcuda.so.470.82.01'), 'libcuda.so.470.82.01');
});
