import t from 'tap';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { HostRoot } from '../../agent/host/host-root.js';
import { scanPci } from '../../agent/discovery/pci.js';
import { link, pciFunction, put, tempRoot } from '../helpers/sysfs-tree.js';

t.test('a GPU function is read completely: ids, class, NUMA node, driver, uevent', async (t) => {
  const root = await tempRoot();
  await pciFunction(root, {
    address: '0000:81:00.0',
    under: 'pci0000:80/0000:80:01.0',
    device: '0x15f8\n',
    numa: '1\n',
    driver: 'nvidia',
    uevent: 'DRIVER=nvidia\nPCI_CLASS=30200\nPCI_ID=10DE:15F8\nPCI_SLOT_NAME=0000:81:00.0\n',
  });
  const scan = await scanPci(new HostRoot(root));
  t.same(scan.warnings, []);
  t.equal(scan.functions.length, 1);
  const fn = scan.functions[0]!;
  t.same(
    { ...fn, uevent: { ...fn.uevent } },
    {
      address: '0000:81:00.0',
      sysfsPath: '/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0',
      vendorId: 0x10de,
      deviceId: 0x15f8,
      classCode: 0x030200,
      subsystemVendorId: 0x10de,
      subsystemDeviceId: 0x1204,
      numaNode: 1,
      driver: 'nvidia',
      uevent: { DRIVER: 'nvidia', PCI_CLASS: '30200', PCI_ID: '10DE:15F8', PCI_SLOT_NAME: '0000:81:00.0' },
    },
  );
});

t.test('functions come back sorted by address; numa -1 and no driver are null', async (t) => {
  const root = await tempRoot();
  await pciFunction(root, { address: '0000:00:08.0', driver: null });
  await pciFunction(root, { address: '0000:00:07.0', driver: 'nvidia' });
  const scan = await scanPci(new HostRoot(root));
  t.same(scan.functions.map((f) => f.address), ['0000:00:07.0', '0000:00:08.0']);
  t.equal(scan.functions[1]!.driver, null);
  t.equal(scan.functions[1]!.numaNode, null);
});

t.test('a host without PCI sysfs gives nothing and no warning', async (t) => {
  const scan = await scanPci(new HostRoot(await tempRoot()));
  t.same(scan, { functions: [], warnings: [] });
});

t.test('truncated or garbage identity files skip the function with a warning; others survive', async (t) => {
  const root = await tempRoot();
  await pciFunction(root, { address: '0000:00:07.0', vendor: '0x10' });
  await pciFunction(root, { address: '0000:00:08.0', class: 'garbage\n' });
  await pciFunction(root, { address: '0000:00:09.0', device: '' });
  await pciFunction(root, { address: '0000:00:0a.0' });
  await put(root, '/sys/devices/pci0000:00/0000:00:0b.0/device', '0x1234\n');
  await link(root, '/sys/bus/pci/devices/0000:00:0b.0', '../../../devices/pci0000:00/0000:00:0b.0');
  const scan = await scanPci(new HostRoot(root));
  t.same(scan.functions.map((f) => f.address), ['0000:00:0a.0']);
  const w = scan.warnings.join('\n');
  t.match(w, /0000:00:07\.0: vendor: expected 0x and 4 hex digits, got "0x10".*, skipped/);
  t.match(w, /0000:00:08\.0: class: expected 0x and 6 hex digits/);
  t.match(w, /0000:00:09\.0: device: expected/);
  t.match(w, /0000:00:0b\.0: vendor is missing, skipped/);
});

t.test('garbage in optional files costs that field, not the function', async (t) => {
  const root = await tempRoot();
  await pciFunction(root, { address: '0000:00:07.0', numa: 'zero\n', subsystemVendor: '0x\n', uevent: 'DRIVER=nvidia\nnot a line\n\xff\n' });
  const scan = await scanPci(new HostRoot(root));
  const fn = scan.functions[0]!;
  t.equal(fn.numaNode, null);
  t.equal(fn.subsystemVendorId, null);
  t.equal(fn.subsystemDeviceId, 0x1204);
  t.equal(fn.uevent['DRIVER'], 'nvidia');
  t.match(scan.warnings.join('\n'), /numa_node: numa_node: expected an integer/);
  t.match(scan.warnings.join('\n'), /subsystem_vendor/);
  t.match(scan.warnings.join('\n'), /uevent: ignored 2 malformed line/);
});

t.test('entries that leave sysfs, dangle or are not addresses are skipped with a warning', async (t) => {
  const root = await tempRoot();
  await put(root, '/etc/evil/vendor', '0x10de\n');
  await put(root, '/etc/evil/device', '0x1bb3\n');
  await put(root, '/etc/evil/class', '0x030200\n');
  await link(root, '/sys/bus/pci/devices/0000:00:07.0', '/etc/evil');
  await link(root, '/sys/bus/pci/devices/0000:00:08.0', '../../../../../../../../etc/evil');
  await link(root, '/sys/bus/pci/devices/0000:00:09.0', '../../../devices/pci0000:00/gone');
  await put(root, '/sys/bus/pci/devices/README', 'hello');
  const scan = await scanPci(new HostRoot(root));
  t.same(scan.functions, []);
  const w = scan.warnings.join('\n');
  t.match(w, /0000:00:07\.0: .*outside the allowed roots/);
  t.match(w, /0000:00:08\.0: .*outside the allowed roots/);
  t.match(w, /0000:00:09\.0: dangling entry/);
  t.match(w, /README: not a PCI address/);
});

t.test('an attribute that is a symlink is refused, even to a file inside the root', async (t) => {
  const root = await tempRoot();
  const dir = await pciFunction(root, { address: '0000:00:07.0' });
  await put(root, '/etc/secret', '0x10de\n');
  execFileSync('rm', [path.join(root, dir, 'vendor')]);
  await link(root, `${dir}/vendor`, '../../../../etc/secret');
  const scan = await scanPci(new HostRoot(root));
  t.same(scan.functions, []);
  t.match(scan.warnings.join('\n'), /vendor is a symlink, refused/);
});

t.test('an oversized attribute and a FIFO attribute are refused without hanging', async (t) => {
  const root = await tempRoot();
  await pciFunction(root, { address: '0000:00:07.0', uevent: 'A=' + 'x'.repeat(100_000) });
  const dir = await pciFunction(root, { address: '0000:00:08.0' });
  execFileSync('rm', [path.join(root, dir, 'numa_node')]);
  execFileSync('mkfifo', [path.join(root, dir, 'numa_node')]);
  const scan = await scanPci(new HostRoot(root));
  t.equal(scan.functions.length, 2);
  t.match(scan.warnings.join('\n'), /uevent: .*larger than 4096 bytes/);
  t.match(scan.warnings.join('\n'), /0000:00:08\.0: numa_node: .*not a regular file/);
});

t.test('the number of functions read is bounded', async (t) => {
  const root = await tempRoot();
  for (let i = 0; i < 5; i++) await pciFunction(root, { address: `0000:00:0${i}.0` });
  const scan = await scanPci(new HostRoot(root), { maxFunctions: 3, concurrency: 2 });
  t.equal(scan.functions.length, 3);
  t.match(scan.warnings.join('\n'), /5 entries .* only the first 3 read/);
});
