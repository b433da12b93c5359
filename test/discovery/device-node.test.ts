import t from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { deviceNodeProblem, NO_NODE, splitDev } from '../../agent/discovery/device-node.js';
import { charDevice, link, mknodUnavailable, put, tempRoot } from '../helpers/sysfs-tree.js';

/** glibc's makedev, to check splitDev against the real encoding. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

t.test('dev_t numbers split as glibc does, small and large', async (t) => {
  for (const [major, minor] of [[195, 0], [195, 255], [240, 3], [511, 1], [4095, 1_048_575], [70_000, 300_000]] as const) {
    t.same(splitDev(makedev(major, minor)), { major, minor }, `${major}:${minor}`);
  }
});

t.test('a char device with the announced numbers is usable', { skip: mknodUnavailable() }, async (t) => {
  const root = await tempRoot('devnode-');
  await charDevice(root, '/dev/nvidia0', 195, 0);
  const host = new HostRoot(root);
  t.equal(await deviceNodeProblem(host, '/dev/nvidia0'), null);
  t.equal(await deviceNodeProblem(host, '/dev/nvidia0', { major: 195, minor: 0 }), null);
  t.equal(await deviceNodeProblem(host, '/dev/nvidia0', { major: 195, minor: null }), null);
});

t.test('wrong numbers, symlinks, regular files and absence are each refused with the reason', { skip: mknodUnavailable() }, async (t) => {
  const root = await tempRoot('devnode-');
  await charDevice(root, '/dev/nvidia0', 195, 0);
  await charDevice(root, '/dev/null-ish', 1, 3);
  await link(root, '/dev/nvidia1', 'null-ish');
  await put(root, '/dev/nvidia2', '');
  const host = new HostRoot(root);
  t.equal(await deviceNodeProblem(host, '/dev/nvidia0', { major: 195, minor: 1 }), 'is 195:0, not 195:1');
  t.equal(await deviceNodeProblem(host, '/dev/nvidia0', { major: 10, minor: null }), 'is 195:0, not 10:*');
  t.equal(await deviceNodeProblem(host, '/dev/nvidia1'), 'is a symlink');
  t.equal(await deviceNodeProblem(host, '/dev/nvidia2'), 'is not a character device');
  t.equal(await deviceNodeProblem(host, '/dev/nvidia3'), NO_NODE);
});
