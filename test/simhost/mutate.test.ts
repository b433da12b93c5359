import { execFile } from 'node:child_process';
import { lstat, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import {
  appendKmsg,
  appendXid,
  loadNvidiaDriver,
  removeDeviceNode,
  replugPciFunction,
  restoreDeviceNode,
  setHwmonAttribute,
  unloadNvidiaDriver,
  unplugPciFunction,
  withoutDriverLine,
  withoutNvidiaMajors,
  writeSysfsAttribute,
} from '../../agent/simhost/mutate.js';
import { buildHostSpec } from '../../agent/simhost/profiles.js';
import { writeHost } from '../../agent/simhost/writer.js';
import { deviceNumbers, isRoot, listTree, nativeMissing, tempDir } from './simhost-fixture.js';

const run = promisify(execFile);
const missing = await nativeMissing();
const needsNative = { skip: missing ?? false };

async function host(t: Parameters<typeof tempDir>[0], profile: string): Promise<string> {
  const root = await realpath(await tempDir(t, `mutate-${profile}-`));
  await writeHost(buildHostSpec(profile), root);
  return root;
}

async function exists(root: string, hostPath: string): Promise<boolean> {
  return lstat(path.join(root, hostPath)).then(
    () => true,
    () => false,
  );
}

/** The tree without the stash, for before/after comparisons. */
async function visibleTree(root: string): Promise<Map<string, unknown>> {
  const tree = await listTree(root);
  for (const key of [...tree.keys()]) if (key.startsWith('/.simhost-stash')) tree.delete(key);
  return tree;
}

/** Symlinks under /sys that point at nothing. */
async function danglingLinks(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const [p, e] of await listTree(root)) {
    if (e.type === 'link' && p.startsWith('/sys/') && !(await realpath(path.join(root, p)).then(() => true, () => false))) out.push(p);
  }
  return out;
}

t.test('unplugging a GPU removes its sysfs directory, every link into it and its /proc entry; replug restores all', needsNative, async (t) => {
  const root = await host(t, 'gn5');
  const before = await visibleTree(root);
  await unplugPciFunction(root, '0000:84:00.0');
  t.notOk(await exists(root, '/sys/bus/pci/devices/0000:84:00.0'));
  t.notOk(await exists(root, '/sys/devices/pci0000:80/0000:80:13.0/0000:84:00.0'));
  t.notOk(await exists(root, '/sys/bus/pci/drivers/nvidia/0000:84:00.0'));
  t.notOk(await exists(root, '/proc/driver/nvidia/gpus/0000:84:00.0'));
  t.ok(await exists(root, '/sys/bus/pci/devices/0000:80:13.0'), 'its root port stays');
  t.ok(await exists(root, '/sys/bus/pci/devices/0000:83:00.0'), 'other GPUs stay');
  t.ok(await exists(root, '/dev/nvidia7'), 'the node stays, as nvidia-modprobe made it');
  t.same(await danglingLinks(root), [], 'no link left pointing at the removed function');
  await t.rejects(unplugPciFunction(root, '0000:84:00.0'), /not present/);
  await replugPciFunction(root, '84:00.0');
  t.same(await visibleTree(root), before, 'the tree is as it was');
  await t.rejects(replugPciFunction(root, '0000:84:00.0'), /no change unplug-0000:84:00.0 to restore/);
  await t.rejects(unplugPciFunction(root, 'zz:00.0'), /not a PCI bus id/);
});

t.test('unplugging an NPU takes its class, dev/char and hwmon links with it', needsNative, async (t) => {
  const root = await host(t, 'ebman1');
  await unplugPciFunction(root, '0000:02:00.0');
  t.notOk(await exists(root, '/sys/class/hanguang/hanguang1'));
  t.notOk(await exists(root, '/sys/dev/char/240:1'));
  t.notOk(await exists(root, '/sys/class/hwmon/hwmon1'));
  t.ok(await exists(root, '/sys/class/hanguang/hanguang0'));
  t.same(await danglingLinks(root), []);
  await replugPciFunction(root, '0000:02:00.0');
  t.equal(await readFile(path.join(root, '/sys/class/hanguang/hanguang1/uevent'), 'utf8'), 'MAJOR=240\nMINOR=1\nDEVNAME=hanguang1\n');
});

t.test('unplugging a bridge removes the functions behind it', needsNative, async (t) => {
  const root = await host(t, 'gn5');
  await unplugPciFunction(root, '0000:00:10.0');
  t.notOk(await exists(root, '/sys/bus/pci/devices/0000:01:00.0'), 'the GPU behind the port is gone too');
  t.same(await danglingLinks(root), []);
  await replugPciFunction(root, '0000:00:10.0');
  t.ok(await exists(root, '/sys/bus/pci/devices/0000:01:00.0/vendor'));
});

t.test('a device node can be removed and comes back as the same char device', needsNative, async (t) => {
  const root = await host(t, 'vgn5i');
  const numbers = isRoot ? await deviceNumbers(path.join(root, 'dev/nvidia0')) : null;
  await removeDeviceNode(root, '/dev/nvidia0');
  t.notOk(await exists(root, '/dev/nvidia0'));
  await t.rejects(removeDeviceNode(root, '/dev/nvidia0'), /does not exist/);
  await restoreDeviceNode(root, '/dev/nvidia0');
  if (isRoot) {
    t.ok((await lstat(path.join(root, 'dev/nvidia0'))).isCharacterDevice());
    t.same(await deviceNumbers(path.join(root, 'dev/nvidia0')), numbers);
  } else t.ok(await exists(root, '/dev/nvidia0'));
  await t.rejects(removeDeviceNode(root, '/etc/hostname'), /is not under \/dev/);
  await t.rejects(removeDeviceNode(root, '/dev/../etc/hostname'), /is not under \/dev/);
  t.ok(await exists(root, '/etc/hostname'));
});

t.test('unloading the NVIDIA driver unbinds, removes its entries and makes NVML and nvidia-smi fail; loading undoes it', needsNative, async (t) => {
  const root = await host(t, 'vgn5i');
  const smi = path.join(root, 'usr/bin/nvidia-smi');
  const before = await visibleTree(root);
  await unloadNvidiaDriver(root);
  const gpu = '/sys/devices/pci0000:00/0000:00:07.0';
  t.notOk(await exists(root, `${gpu}/driver`));
  t.notMatch(await readFile(path.join(root, gpu, 'uevent'), 'utf8'), /DRIVER=/);
  t.match(await readFile(path.join(root, gpu, 'uevent'), 'utf8'), /^PCI_CLASS=30200$/m);
  t.notOk(await exists(root, '/proc/driver/nvidia'));
  t.notOk(await exists(root, '/sys/module/nvidia'));
  t.notOk(await exists(root, '/sys/bus/pci/drivers/nvidia'));
  t.notMatch(await readFile(path.join(root, 'proc/devices'), 'utf8'), /nvidia/);
  t.match(await readFile(path.join(root, 'proc/devices'), 'utf8'), /^ 10 misc$/m);
  t.ok(await exists(root, '/dev/nvidia0'), 'nodes outlive the module');
  const failed = await run(smi, ['-L'], { timeout: 30_000 }).then(
    () => null,
    (err: { code?: number; stdout?: string }) => err,
  );
  t.equal(failed?.code, 9, 'nvidia-smi exits 9 without a driver');
  t.match(failed?.stdout ?? '', /couldn't communicate with the NVIDIA driver/);
  await t.rejects(unloadNvidiaDriver(root), /no NVIDIA driver is loaded/, 'unloading twice is refused');

  await loadNvidiaDriver(root);
  t.same(await visibleTree(root), before, 'everything is back');
  const { stdout } = await run(smi, ['-L'], { timeout: 30_000 });
  t.match(stdout, /^GPU 0: GRID P4-2Q \(UUID: GPU-/);
});

t.test('kernel log records continue the sequence and carry the kernel facility', async (t) => {
  const root = await host(t, 'empty');
  await appendKmsg(root, 'first message');
  await appendXid(root, '0000:00:07.0', 79);
  await appendKmsg(root, 'from a process', { facility: 1, level: 6 });
  const lines = (await readFile(path.join(root, 'dev/kmsg'), 'utf8')).split('\n');
  t.equal(lines.length, 4);
  t.equal(lines[3], '');
  const parsed = lines.slice(0, 3).map((l) => /^(\d+),(\d+),(\d+),-;(.*)$/.exec(l));
  t.ok(parsed.every((m) => m !== null), 'prio,seq,usec,flags;message');
  t.same(parsed.map((m) => Number(m![2])), [0, 1, 2]);
  t.ok(Number(parsed[1]![3]) > Number(parsed[0]![3]) && Number(parsed[2]![3]) > Number(parsed[1]![3]), 'timestamps increase');
  t.equal(parsed[1]![1], '3');
  t.equal(parsed[1]![4], 'NVRM: Xid (PCI:0000:00:07): 79, pid=0, GPU has fallen off the bus.');
  t.equal(parsed[2]![1], String((1 << 3) | 6));
  await t.rejects(appendKmsg(root, 'two\nlines'), /one line/);
  await t.rejects(appendKmsg(root, 'x', { level: 8 }), /bad kmsg level/);
  await t.rejects(appendXid(root, 'not-an-address', 79), /not a PCI bus id/);
  await t.rejects(unloadNvidiaDriver(root), /no NVIDIA driver is loaded/);
  await t.rejects(loadNvidiaDriver(root), /no change driver-nvidia to restore/);
});

t.test('hwmon and sysfs attributes are rewritten in place, never outside /sys', needsNative, async (t) => {
  const root = await host(t, 'ebman1');
  await setHwmonAttribute(root, '0000:81:00.0', 'temp1_input', 97000);
  t.equal(await readFile(path.join(root, 'sys/bus/pci/devices/0000:81:00.0/hwmon/hwmon2/temp1_input'), 'utf8'), '97000\n');
  await t.rejects(setHwmonAttribute(root, '0000:00:03.0', 'temp1_input', 1), /has no hwmon/);
  await t.rejects(setHwmonAttribute(root, '0000:81:00.0', '../../x', 1), /bad hwmon attribute/);
  await writeSysfsAttribute(root, '/sys/bus/pci/devices/0000:00:03.0/numa_node', '1');
  t.equal(await readFile(path.join(root, 'sys/devices/pci0000:00/0000:00:03.0/numa_node'), 'utf8'), '1\n');
  t.ok((await lstat(path.join(root, 'sys/bus/pci/devices/0000:00:03.0'))).isSymbolicLink(), 'the link itself is untouched');
  await t.rejects(writeSysfsAttribute(root, '/etc/hostname', 'x'), { code: ErrorCode.SYMLINK_ESCAPE });
  await t.rejects(writeSysfsAttribute(root, '/sys/bus/pci/devices/0000:00:03.0/nope', 'x'), /does not exist/);
  await t.rejects(writeSysfsAttribute(root, '/sys/bus/pci/devices/0000:00:03.0', 'x'), /is not an attribute file/);
  await symlink('../../../etc/hostname', path.join(root, 'sys/bus/pci/evil'));
  await t.rejects(writeSysfsAttribute(root, '/sys/bus/pci/evil', 'x'), { code: ErrorCode.SYMLINK_ESCAPE });
  t.equal(await readFile(path.join(root, 'etc/hostname'), 'utf8'), 'simhost-ebman1\n');
});

t.test('a corrupt stash journal is refused rather than acted on', needsNative, async (t) => {
  const root = await host(t, 'vgn5i');
  await removeDeviceNode(root, '/dev/nvidia0');
  await writeFile(path.join(root, '.simhost-stash/node_dev_nvidia0/journal.json'), '[{"path":"../../etc","replaced":false}]');
  await t.rejects(restoreDeviceNode(root, '/dev/nvidia0'), /stash journal is malformed/);
});

t.test('the pure text edits used by a driver unload', async (t) => {
  t.equal(withoutDriverLine('DRIVER=nvidia\nPCI_CLASS=30200\n'), 'PCI_CLASS=30200\n');
  t.equal(withoutNvidiaMajors('Character devices:\n  1 mem\n195 nvidia-frontend\n511 nvidia-uvm\n'), 'Character devices:\n  1 mem\n');
  t.equal(withoutNvidiaMajors('Character devices:\n240 hanguang\n'), 'Character devices:\n240 hanguang\n');
});
