import t from 'tap';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HostRoot } from '../../../agent/host/host-root.js';
import { scanPci } from '../../../agent/discovery/pci.js';
import { findUeventNodes } from '../../../agent/vendors/hanguang/device-nodes.js';
import { charDevice, link, mknodUnavailable, pciFunction, put, tempRoot } from '../../helpers/sysfs-tree.js';

const NPU = { address: '0000:01:00.0', under: 'pci0000:00/0000:00:03.0', vendor: '0x1ded\n', device: '0x1000\n', class: '0x120000\n', driver: 'hanguang' };

async function npuHost(): Promise<{ root: string; dir: string }> {
  const root = await tempRoot('npu-');
  const dir = await pciFunction(root, NPU);
  await put(root, `${dir}/hanguang/hanguang0/uevent`, 'MAJOR=240\nMINOR=0\nDEVNAME=hanguang0\n');
  await link(root, `${dir}/hanguang/hanguang0/subsystem`, '../../../../../../class/hanguang');
  await link(root, `${dir}/hanguang/hanguang0/device`, '../..');
  await put(root, '/sys/class/hanguang/uevent', 'DEVNAME=wrong\n');
  await charDevice(root, '/dev/hanguang0', 240, 0);
  return { root, dir };
}

async function search(root: string, depth = 3, pattern: RegExp | null = null) {
  const host = new HostRoot(root);
  const fn = (await scanPci(host)).functions.find((f) => f.address === NPU.address)!;
  return findUeventNodes(host, fn, depth, pattern);
}

t.test('the node a driver registered under the function is found and checked against /dev', { skip: mknodUnavailable() }, async (t) => {
  const { root } = await npuHost();
  t.same(await search(root), { nodes: ['/dev/hanguang0'], warnings: [] });
});

t.test('links inside the function directory are never followed', { skip: mknodUnavailable() }, async (t) => {
  const { root, dir } = await npuHost();
  await put(root, '/sys/devices/virtual/misc/elsewhere/uevent', 'DEVNAME=elsewhere\n');
  await charDevice(root, '/dev/elsewhere', 10, 99);
  await link(root, `${dir}/sneaky`, '../../../virtual/misc/elsewhere');
  t.same((await search(root)).nodes, ['/dev/hanguang0']);
});

t.test('the search stops at the given depth', { skip: mknodUnavailable() }, async (t) => {
  const { root, dir } = await npuHost();
  await put(root, `${dir}/a/b/c/d/uevent`, 'DEVNAME=deep0\n');
  await charDevice(root, '/dev/deep0', 241, 0);
  t.same((await search(root, 3)).nodes, ['/dev/hanguang0']);
  t.same((await search(root, 4)).nodes, ['/dev/deep0', '/dev/hanguang0']);
});

t.test('a pattern keeps only the names it matches', { skip: mknodUnavailable() }, async (t) => {
  const { root, dir } = await npuHost();
  await put(root, `${dir}/misc/hanguang_mgmt/uevent`, 'MAJOR=10\nMINOR=61\nDEVNAME=hanguang_mgmt\n');
  await charDevice(root, '/dev/hanguang_mgmt', 10, 61);
  t.same((await search(root, 3, null)).nodes, ['/dev/hanguang0', '/dev/hanguang_mgmt']);
  t.same((await search(root, 3, /^hanguang\d+$/)).nodes, ['/dev/hanguang0']);
});

t.test('hostile or inconsistent uevents are refused with warnings', { skip: mknodUnavailable() }, async (t) => {
  const { root, dir } = await npuHost();
  await put(root, `${dir}/x/evil/uevent`, 'DEVNAME=../etc/shadow\n');
  await put(root, `${dir}/x/wrongnum/uevent`, 'MAJOR=240\nMINOR=7\nDEVNAME=hanguang7\n');
  await charDevice(root, '/dev/hanguang7', 240, 8);
  await put(root, `${dir}/x/missing/uevent`, 'DEVNAME=hanguang9\n');
  await put(root, `${dir}/x/linked/uevent`, 'DEVNAME=hanguang5\n');
  await link(root, '/dev/hanguang5', '/etc/passwd');
  await put(root, `${dir}/x/huge/uevent`, 'DEVNAME=x\n'.repeat(1000));
  const result = await search(root);
  t.same(result.nodes, ['/dev/hanguang0']);
  const w = result.warnings.join('\n');
  t.match(w, /DEVNAME "\.\.\/etc\/shadow" is not a safe \/dev name; ignored/);
  t.match(w, /\/dev\/hanguang7 is 240:8, not 240:7; not used/);
  t.match(w, /\/dev\/hanguang9 does not exist on the host; not used/);
  t.match(w, /\/dev\/hanguang5 is a symlink; not used/);
  t.match(w, /huge\/uevent is larger than 4096 bytes/);
});

t.test('a crafted tree with very many directories is searched only so far', { skip: mknodUnavailable() }, async (t) => {
  const { root, dir } = await npuHost();
  for (let i = 0; i < 300; i++) await mkdir(path.join(root, dir, 'wide', `d${i}`), { recursive: true });
  const result = await search(root);
  t.match(result.warnings.join('\n'), /more than 256 directories .* search stopped/);
});
