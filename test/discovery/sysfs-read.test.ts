import t from 'tap';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { HostRoot } from '../../agent/host/host-root.js';
import { linkBasename, readAttribute } from '../../agent/discovery/sysfs-read.js';
import { link, put, tempRoot } from '../helpers/sysfs-tree.js';

t.test('an attribute is read whole; a missing one is null', async (t) => {
  const root = await tempRoot();
  await put(root, '/sys/x/vendor', '0x10de\n');
  const host = new HostRoot(root);
  t.equal(await readAttribute(host, '/sys/x/vendor'), '0x10de\n');
  t.equal(await readAttribute(host, '/sys/x/absent'), null);
  t.equal(await readAttribute(host, '/sys/absent/vendor'), null);
});

t.test('the size limit is exact: at the limit read, one byte over refused', async (t) => {
  const root = await tempRoot();
  await put(root, '/a', 'x'.repeat(16));
  await put(root, '/b', 'x'.repeat(17));
  const host = new HostRoot(root);
  t.equal((await readAttribute(host, '/a', 16))?.length, 16);
  await t.rejects(readAttribute(host, '/b', 16), { code: ErrorCode.HOST_PARSE, message: '/b is larger than 16 bytes' });
});

t.test('symlinks and directories are refused as attributes', async (t) => {
  const root = await tempRoot();
  await put(root, '/real', 'x');
  await link(root, '/sys/x/vendor', '../../real');
  await mkdir(path.join(root, '/sys/x/dir'), { recursive: true });
  const host = new HostRoot(root);
  await t.rejects(readAttribute(host, '/sys/x/vendor'), { code: ErrorCode.HOST_READ, message: /is a symlink, refused/ });
  await t.rejects(readAttribute(host, '/sys/x/dir'), { code: ErrorCode.HOST_READ, message: /not a regular file/ });
});

t.test('a link\'s last component is read without following it', async (t) => {
  const root = await tempRoot();
  await link(root, '/sys/x/driver', '../../../bus/pci/drivers/nvidia');
  await link(root, '/sys/x/odd', '..');
  await put(root, '/sys/x/plain', 'x');
  const host = new HostRoot(root);
  t.equal(await linkBasename(host, '/sys/x/driver'), 'nvidia', 'the target need not exist');
  t.equal(await linkBasename(host, '/sys/x/odd'), null);
  t.equal(await linkBasename(host, '/sys/x/none'), null);
  await t.rejects(linkBasename(host, '/sys/x/plain'), { message: /is not a symlink/ });
});
