import t from 'tap';
import type { PciFunction } from '../../../agent/discovery/pci.js';
import { gpuFromPci, isNvidiaGpuFunction, querySysfs } from '../../../agent/vendors/nvidia/source-sysfs.js';

const fn = (address: string, extra: Partial<PciFunction> = {}): PciFunction => ({
  address,
  sysfsPath: `/sys/devices/pci0000:00/${address}`,
  vendorId: 0x10de,
  deviceId: 0x1bb3,
  classCode: 0x030200,
  subsystemVendorId: 0x10de,
  subsystemDeviceId: 0x1204,
  numaNode: null,
  driver: 'nvidia',
  uevent: {},
  ...extra,
});

t.test('only NVIDIA display-class functions are GPUs', async (t) => {
  t.ok(isNvidiaGpuFunction(fn('0000:00:07.0')));
  t.ok(isNvidiaGpuFunction(fn('0000:00:07.0', { classCode: 0x030000 })), 'VGA class');
  t.notOk(isNvidiaGpuFunction(fn('0000:00:07.1', { classCode: 0x040300 })), 'HDMI audio on the same card');
  t.notOk(isNvidiaGpuFunction(fn('0000:00:07.2', { classCode: 0x0c0330 })), 'USB controller on the same card');
  t.notOk(isNvidiaGpuFunction(fn('0000:00:02.0', { vendorId: 0x1234, classCode: 0x030000 })), 'emulated VGA');
});

t.test('a GPU known only from PCI is unhealthy unless the nvidia driver is bound', async (t) => {
  t.same(gpuFromPci(fn('0000:00:07.0')), {
    pciBusId: '0000:00:07.0',
    uuid: null,
    name: 'NVIDIA PCI device 0x1bb3',
    memoryMiB: null,
    minor: null,
    virtualizationMode: null,
    source: 'sysfs',
    problem: null,
  });
  t.equal(gpuFromPci(fn('0000:00:07.0', { driver: null })).problem, 'no kernel driver bound');
  t.equal(gpuFromPci(fn('0000:00:07.0', { driver: 'vfio-pci' })).problem, 'bound to kernel driver vfio-pci, not nvidia');
});

t.test('the sysfs source lists every GPU function and always answers', async (t) => {
  const answer = querySysfs([fn('0000:00:07.0'), fn('0000:00:07.1', { classCode: 0x040300 }), fn('0000:00:08.0')]);
  t.same(answer.gpus.map((g) => g.pciBusId), ['0000:00:07.0', '0000:00:08.0']);
  t.equal(answer.detail, 'PCI scan: 2 GPUs');
  t.equal(querySysfs([]).detail, 'PCI scan: 0 GPUs');
});
