import t from 'tap';
import { HostRoot } from '../../../agent/host/host-root.js';
import { silentLogger } from '../../../agent/log.js';
import { scanPci } from '../../../agent/discovery/pci.js';
import { createHanguangVendor } from '../../../agent/vendors/hanguang/vendor.js';
import { DEFAULT_NPU_PROFILE, validateNpuProfile } from '../../../agent/vendors/hanguang/profile.js';
import { simhostUnavailable, simulatedHost } from '../../helpers/simulated-hosts.js';
import { charDevice, link, mknodUnavailable, pciFunction, put, tempRoot } from '../../helpers/sysfs-tree.js';

const skip = simhostUnavailable();

t.test('ebman1: every NPU with its node from uevent, the eRDMA adapter left out', { skip }, async (t) => {
  const root = await simulatedHost('ebman1');
  const host = new HostRoot(root);
  const vendor = createHanguangVendor();
  const d = await vendor.discover({ host, log: silentLogger });
  t.same(d.warnings, []);
  t.equal(d.devices.length, 4);
  t.same(d.devices.map((x) => x.deviceNodes), [['/dev/hanguang0'], ['/dev/hanguang1'], ['/dev/hanguang2'], ['/dev/hanguang3']]);
  t.ok(d.devices.every((x) => x.kind === 'npu' && x.source === 'sysfs' && x.model === 'Hanguang 800' && x.uuid === null && x.health === 'Healthy'));
  t.ok(d.devices.every((x) => x.id === `hanguang-${x.pciBusId}`));
  t.same(d.devices.map((x) => x.numaNode), [0, 0, 1, 1]);
  t.equal(d.driver.version, '1.2.0', 'from the bound module');
  t.same(d.driver.controlNodes, [], 'the default profile assumes no control node');
  t.match(d.driver.sources, [{ source: 'sysfs', ok: true, detail: 'PCI scan with profile hanguang-800: 4 NPUs' }]);

  const erdma = (await scanPci(host)).functions.filter((f) => f.vendorId === 0x1ded && f.classCode >> 8 === 0x0200);
  t.equal(erdma.length, 1, 'the host does have an eRDMA function of the same vendor');
  t.notOk(d.devices.some((x) => x.pciBusId === erdma[0]!.address));
  t.notOk(d.devices.some((x) => x.deviceNodes.some((n) => n.includes('uverbs'))));

  t.same(vendor.labels(d), { 'aliyun.accelerator/npu_count': '4', 'aliyun.accelerator/npu_name': 'Hanguang-800' });
});

t.test('a profile naming a control node gets it when the host has it, and warns when not', { skip }, async (t) => {
  const host = new HostRoot(await simulatedHost('ebman1', 1));
  const profile = validateNpuProfile({ controlNodes: ['/dev/hanguang_ctl', '/dev/hanguang_missing'], memoryMiB: 16384 });
  const vendor = createHanguangVendor(profile);
  const d = await vendor.discover({ host, log: silentLogger });
  t.same(d.driver.controlNodes, ['/dev/hanguang_ctl']);
  t.match(d.warnings.join('\n'), /\/dev\/hanguang_missing .* does not exist/);
  t.equal(d.devices[0]!.memoryMiB, 16384);
  t.equal(vendor.labels(d)['aliyun.accelerator/npu_mem'], '16384MiB');
});

t.test('a GPU host has no NPUs and no warnings', { skip }, async (t) => {
  const d = await createHanguangVendor().discover({ host: new HostRoot(await simulatedHost('gn5', 1)), log: silentLogger });
  t.same(d.devices, []);
  t.same(d.warnings, []);
  t.equal(d.driver.version, null);
  t.match(d.driver.sources, [{ ok: true, detail: /0 NPUs/ }]);
});

t.test('an NPU without a driver or without a usable node is reported unhealthy with the reason', { skip: mknodUnavailable() }, async (t) => {
  const root = await tempRoot('npu-');
  const npu = { vendor: '0x1ded\n', device: '0x1000\n', class: '0x120000\n' };
  await pciFunction(root, { ...npu, address: '0000:01:00.0', driver: null });
  const dir = await pciFunction(root, { ...npu, address: '0000:02:00.0', driver: 'hanguang' });
  await put(root, `${dir}/hanguang/hanguang1/uevent`, 'MAJOR=240\nMINOR=1\nDEVNAME=hanguang1\n');
  await charDevice(root, '/dev/hanguang1', 240, 9);
  await put(root, '/sys/module/hanguang/version', 'not a version!\n');
  const d = await createHanguangVendor().discover({ host: new HostRoot(root), log: silentLogger });
  t.match(d.devices, [
    { pciBusId: '0000:01:00.0', health: 'Unhealthy', healthReason: 'no kernel driver bound', deviceNodes: [] },
    { pciBusId: '0000:02:00.0', health: 'Unhealthy', healthReason: 'driver registered no usable device node', deviceNodes: [] },
  ]);
  t.match(d.warnings.join('\n'), /\/dev\/hanguang1 is 240:9, not 240:1/);
  t.match(d.warnings.join('\n'), /version is not a version string/);
  t.equal(d.driver.version, null);
});

t.test('the factory refuses an invalid profile', async (t) => {
  t.throws(() => createHanguangVendor({ ...DEFAULT_NPU_PROFILE, pciClasses: ['nope'] }), { message: /^npu\.pciClasses/ });
});

t.test('a control node that is a symlink is refused even on a host without NPUs', async (t) => {
  const root = await tempRoot('npu-');
  await put(root, '/etc/shadow', '');
  await link(root, '/dev/npu_ctl', '/etc/shadow');
  const d = await createHanguangVendor(validateNpuProfile({ controlNodes: ['/dev/npu_ctl', '/dev/absent'] })).discover({ host: new HostRoot(root), log: silentLogger });
  t.same(d.driver.controlNodes, []);
  t.same(d.warnings, ['NPU control node /dev/npu_ctl (profile hanguang-800) is a symlink; not used'], 'absence is normal without NPUs');
});
