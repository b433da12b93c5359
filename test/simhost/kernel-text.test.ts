import t from 'tap';
import type { PciFunctionSpec } from '../../agent/simhost/host-spec.js';
import {
  charDeviceDevAttribute,
  charDeviceUevent,
  gpuInformationFile,
  kmsgRecord,
  nvidiaVersionFile,
  pciClassAttribute,
  pciIdAttribute,
  pciModalias,
  pciRevisionAttribute,
  pciUevent,
  procDevices,
  xidMessage,
} from '../../agent/simhost/kernel-text.js';

const p4: PciFunctionSpec = {
  address: '0000:00:07.0',
  parent: null,
  vendorId: 0x10de,
  deviceId: 0x1bb3,
  classCode: 0x030200,
  subsystemVendorId: 0x10de,
  subsystemDeviceId: 0x11d8,
  revision: 0xa1,
  numaNode: -1,
  irq: 11,
  localCpuList: '0-3',
  driver: 'nvidia',
  charDevices: [],
  hwmon: null,
};

t.test('PCI id, class and revision attributes use the kernel\'s zero-padded lower-case hex', async (t) => {
  t.equal(pciIdAttribute(0x10de), '0x10de\n');
  t.equal(pciIdAttribute(0x1af4), '0x1af4\n');
  t.equal(pciIdAttribute(0x00b8), '0x00b8\n');
  t.equal(pciClassAttribute(0x030200), '0x030200\n');
  t.equal(pciClassAttribute(0x00ff00), '0x00ff00\n');
  t.equal(pciRevisionAttribute(1), '0x01\n');
});

t.test('a PCI uevent names the bound driver and writes ids as the kernel does', async (t) => {
  t.equal(
    pciUevent(p4),
    'DRIVER=nvidia\nPCI_CLASS=30200\nPCI_ID=10DE:1BB3\nPCI_SUBSYS_ID=10DE:11D8\nPCI_SLOT_NAME=0000:00:07.0\n' +
      'MODALIAS=pci:v000010DEd00001BB3sv000010DEsd000011D8bc03sc02i00\n',
  );
  t.notMatch(pciUevent({ ...p4, driver: null }), /DRIVER=/, 'no DRIVER line while unbound');
  t.equal(
    pciModalias({ ...p4, classCode: 0x120000, vendorId: 0x1ded, deviceId: 0x1000 }),
    'pci:v00001DEDd00001000sv000010DEsd000011D8bc12sc00i00',
  );
});

t.test('char device uevent and dev attributes', async (t) => {
  const dev = { className: 'infiniband_verbs', name: 'uverbs0', major: 231, minor: 192, devName: 'infiniband/uverbs0' };
  t.equal(charDeviceUevent(dev), 'MAJOR=231\nMINOR=192\nDEVNAME=infiniband/uverbs0\n');
  t.equal(charDeviceDevAttribute(dev), '231:192\n');
});

t.test('/proc/devices right-aligns majors, sorts them, and separates char from block', async (t) => {
  const text = procDevices(
    [
      [511, 'nvidia-uvm'],
      [1, 'mem'],
      [195, 'nvidia-frontend'],
    ],
    [[8, 'sd']],
  );
  t.equal(text, 'Character devices:\n  1 mem\n195 nvidia-frontend\n511 nvidia-uvm\n\nBlock devices:\n  8 sd\n');
});

t.test('the driver version file has the real first-line layout', async (t) => {
  const text = nvidiaVersionFile('470.82.01', 'Wed Oct 27 21:21:55 UTC 2021');
  t.equal(text.split('\n')[0], 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Wed Oct 27 21:21:55 UTC 2021');
  t.match(text.split('\n')[1], /^GCC version:  gcc version /);
});

t.test('the GPU information file uses the driver\'s tab padding and a DMA mask matching the size', async (t) => {
  const text = gpuInformationFile({ model: 'Tesla P4', irq: 35, uuid: 'GPU-1', videoBios: '86.04.8b.00.01', address: '0000:00:07.0', minor: 0, dmaBits: 47 });
  const lines = text.split('\n');
  t.equal(lines[0], 'Model: \t\t Tesla P4');
  t.equal(lines[1], 'IRQ:   \t\t 35');
  t.equal(lines[2], 'GPU UUID: \t GPU-1');
  t.ok(lines.includes('DMA Mask: \t 0x7fffffffffff'));
  t.ok(lines.includes('Bus Location: \t 0000:00:07.0'));
  t.ok(lines.includes('Device Minor: \t 0'));
  t.ok(text.endsWith('\n'));
});

t.test('Xid messages leave out the PCI function, as the driver prints them', async (t) => {
  t.equal(xidMessage('0000:00:07.0', 79), 'NVRM: Xid (PCI:0000:00:07): 79, pid=0, GPU has fallen off the bus.');
  t.equal(xidMessage('0000:3b:00.0', 31, 1234), 'NVRM: Xid (PCI:0000:3b:00): 31, pid=1234, MMU Fault');
  t.match(xidMessage('0000:3b:00.0', 999), /: 999, pid=0, /);
});

t.test('kmsg records put facility and level in the priority field', async (t) => {
  t.equal(kmsgRecord({ facility: 0, level: 3, seq: 7, usec: 1000, message: 'hi' }), '3,7,1000,-;hi\n');
  t.equal(kmsgRecord({ facility: 1, level: 4, seq: 0, usec: 1, message: 'user' }), '12,0,1,-;user\n');
});
