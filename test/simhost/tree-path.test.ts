import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { checkedTreePath, mkdirIn, treePath } from '../../agent/simhost/tree-path.js';
import { tempDir } from './simhost-fixture.js';

t.test('treePath maps clean host paths into the root and refuses the rest', async (t) => {
  t.equal(treePath('/r', '/sys/bus'), '/r/sys/bus');
  t.equal(treePath('/r', '//sys/./bus/'), '/r/sys/bus');
  t.equal(treePath('/r', '/'), '/r');
  for (const bad of ['sys', '', '/sys/../../etc', '/..', '/a/\0b']) {
    t.throws(() => treePath('/r', bad), { code: ErrorCode.SIMHOST }, JSON.stringify(bad));
  }
  t.throws(() => treePath('/r', 42 as unknown as string), /not an absolute host path/);
});

t.test('mkdirIn creates missing directories but never passes through a link or a file', async (t) => {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  await mkdirIn(root, '/a/b/c');
  await mkdirIn(root, '/a/b/c');
  t.same(await readdir(path.join(root, 'a/b')), ['c']);
  await symlink(outside, path.join(root, 'link'));
  await t.rejects(mkdirIn(root, '/link/inside'), /symlinks are not followed/);
  t.same(await readdir(outside), [], 'nothing made outside');
  await writeFile(path.join(root, 'file'), '');
  await t.rejects(mkdirIn(root, '/file/sub'), /is not a directory/);
});

t.test('checkedTreePath allows anything as the last component but only real directories above it', async (t) => {
  const root = await tempDir(t);
  await mkdir(path.join(root, 'dir'));
  await symlink('dir', path.join(root, 'alias'));
  t.equal(await checkedTreePath(root, '/alias'), path.join(root, 'alias'), 'the link itself may be named');
  t.equal(await checkedTreePath(root, '/dir/x/y'), path.join(root, 'dir/x/y'), 'missing parents are fine');
  await t.rejects(checkedTreePath(root, '/alias/x'), /symlinks are not followed/);
});
