import t from 'tap';
import type { PciFunction } from '../../../agent/discovery/pci.js';
import { npuMatcher } from '../../../agent/vendors/hanguang/match.js';
import { DEFAULT_NPU_PROFILE } from '../../../agent/vendors/hanguang/profile.js';

const fn = (vendorId: number, deviceId: number, classCode: number): PciFunction => ({
  address: '0000:00:08.0',
  sysfsPath: '/sys/devices/pci0000:00/0000:00:08.0',
  vendorId,
  deviceId,
  classCode,
  subsystemVendorId: null,
  subsystemDeviceId: null,
  numaNode: null,
  driver: null,
  uevent: {},
});

t.test('the default profile takes Alibaba processing accelerators only', async (t) => {
  const isNpu = npuMatcher(DEFAULT_NPU_PROFILE);
  t.ok(isNpu(fn(0x1ded, 0x8000, 0x120000)), 'processing accelerator');
  t.notOk(isNpu(fn(0x1ded, 0x107f, 0x020000)), 'eRDMA Ethernet function of the same vendor');
  t.notOk(isNpu(fn(0x1ded, 0x8001, 0x060400)), 'PCI bridge of the same vendor');
  t.notOk(isNpu(fn(0x10de, 0x8000, 0x120000)), 'another vendor\'s accelerator');
});

t.test('listed device ids narrow the match', async (t) => {
  const isNpu = npuMatcher({ ...DEFAULT_NPU_PROFILE, pciDeviceIds: ['0x8000'] });
  t.ok(isNpu(fn(0x1ded, 0x8000, 0x120000)));
  t.notOk(isNpu(fn(0x1ded, 0x8001, 0x120000)));
});

t.test('several vendors and classes may be listed', async (t) => {
  const isNpu = npuMatcher({ pciVendorIds: ['0x1ded', '0x19e5'], pciClasses: ['0x1200', '0x0b40'], pciDeviceIds: [] });
  t.ok(isNpu(fn(0x19e5, 0xd801, 0x120000)));
  t.ok(isNpu(fn(0x1ded, 1, 0x0b4000)));
  t.notOk(isNpu(fn(0x19e5, 1, 0x020000)));
});
