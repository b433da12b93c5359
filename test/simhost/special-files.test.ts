import { lstat, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { buildLdCache, findLdconfig, makeCharDevice, makeStaleSocket } from '../../agent/simhost/special-files.js';
import { deviceNumbers, isRoot, tempDir } from './simhost-fixture.js';

t.test('makeCharDevice makes a real node as root', { skip: isRoot ? false : 'needs root for mknod' }, async (t) => {
  const dir = await tempDir(t);
  const made = await makeCharDevice(path.join(dir, 'nvidia9'), 195, 9, 0o660);
  t.same(made, { real: true, reason: '' });
  const st = await lstat(path.join(dir, 'nvidia9'));
  t.ok(st.isCharacterDevice());
  t.equal(st.mode & 0o777, 0o660);
  t.same(await deviceNumbers(path.join(dir, 'nvidia9')), { major: 195, minor: 9 });
});

t.test('makeCharDevice leaves a placeholder and says why when mknod fails', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'taken'), 'x');
  const made = await makeCharDevice(path.join(dir, 'taken'), 1, 3, 0o666).catch((err: Error) => err);
  t.ok(made instanceof Error, 'an existing file is never overwritten by the placeholder');
  const missingDir = await makeCharDevice(path.join(dir, 'no/such/dir/node'), 1, 3, 0o666).catch((err: Error) => err);
  t.ok(missingDir instanceof Error);
  const saved = process.env.PATH;
  process.env.PATH = dir;
  t.teardown(() => {
    process.env.PATH = saved;
  });
  const fallback = await makeCharDevice(path.join(dir, 'null'), 1, 3, 0o666);
  t.same(fallback, { real: false, reason: 'mknod 1:3 refused: mknod not found' });
  t.ok((await lstat(path.join(dir, 'null'))).isFile());
});

t.test('makeStaleSocket leaves a socket file nobody listens on, even in a deep directory', async (t) => {
  const dir = await tempDir(t);
  const deep = path.join(dir, 'x'.repeat(60), 'y'.repeat(60));
  await mkdir(deep, { recursive: true });
  const made = await makeStaleSocket(path.join(deep, 'socket'));
  t.same(made, { real: true, reason: '' });
  t.ok((await lstat(path.join(deep, 'socket'))).isSocket());
  const again = await makeStaleSocket(path.join(deep, 'socket'));
  t.equal(again.real, false, 'an occupied path is reported, not replaced');
  t.match(again.reason, /could not leave a unix socket/);
});

t.test('buildLdCache reports a missing or failing ldconfig instead of throwing', async (t) => {
  const dir = await tempDir(t);
  t.ok(await findLdconfig(), 'ldconfig (libc-bin) is installed');
  const none = await buildLdCache(dir, path.join(dir, 'absent'));
  t.equal(none.real, false);
  t.match(none.reason, /not found/);
  const failing = path.join(dir, 'fails');
  await writeFile(failing, '#!/bin/sh\necho "ldconfig: broken" >&2\nexit 1\n', { mode: 0o755 });
  t.same(await buildLdCache(dir, failing), { real: false, reason: `${failing} failed: ldconfig: broken` });
  const silent = path.join(dir, 'silent');
  await writeFile(silent, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  t.match(await buildLdCache(dir, silent), { real: false, reason: /wrote no cache/ });
});
