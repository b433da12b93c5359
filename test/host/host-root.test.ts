import t from 'tap';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { HostRoot, isWithin, normaliseHostPath } from '../../agent/host/host-root.js';

async function tree() {
  const root = await mkdtemp(path.join(tmpdir(), 'hostroot-'));
  await mkdir(path.join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(path.join(root, 'usr/lib/x86_64-linux-gnu/libcuda.so.470.82.01'), 'ELF');
  await writeFile(path.join(root, 'etc/shadow'), 'secret');
  await symlink('libcuda.so.470.82.01', path.join(root, 'usr/lib/x86_64-linux-gnu/libcuda.so.1'));
  // Absolute link: on the host it means /etc/shadow, not the agent's own /etc/shadow.
  await symlink('/etc/shadow', path.join(root, 'usr/lib/x86_64-linux-gnu/libevil.so.1'));
  await symlink('../../../../../../../../etc/shadow', path.join(root, 'usr/lib/x86_64-linux-gnu/libdots.so.1'));
  await symlink('/usr/lib/x86_64-linux-gnu', path.join(root, 'usr/lib64'));
  await symlink('loop-b', path.join(root, 'etc/loop-a'));
  await symlink('loop-a', path.join(root, 'etc/loop-b'));
  return root;
}

t.test('path() maps host paths under the root and refuses relative ones', async (t) => {
  const h = new HostRoot('/host');
  t.equal(h.path('/dev/nvidia0'), '/host/dev/nvidia0');
  t.equal(h.path('/dev/../dev/./nvidia0'), '/host/dev/nvidia0');
  t.equal(h.path('/../../etc'), '/host/etc', 'cannot climb above the root');
  t.equal(new HostRoot('/').path('/dev/nvidia0'), '/dev/nvidia0');
  t.equal(h.path('/'), '/host', 'the root itself, without a trailing slash');
  t.equal(new HostRoot('/host/').path('/dev'), '/host/dev');
  t.throws(() => h.path('dev/nvidia0'), { code: ErrorCode.HOST_PATH_ESCAPE });
  t.throws(() => h.path('/dev/nv\0idia'), { code: ErrorCode.HOST_PATH_ESCAPE });
  t.equal(h.toHostPath('/host/usr/lib'), '/usr/lib');
  t.throws(() => h.toHostPath('/usr/lib'), { code: ErrorCode.HOST_PATH_ESCAPE });
});

t.test('reads report missing files as null or as HOST_READ', async (t) => {
  const h = new HostRoot(await tree());
  t.equal(await h.readText('/etc/shadow'), 'secret');
  t.equal(await h.readTextIfExists('/etc/nothing'), null);
  await t.rejects(h.readText('/etc/nothing'), { code: ErrorCode.HOST_READ });
  t.same(await h.list('/etc'), ['loop-a', 'loop-b', 'shadow']);
  t.same(await h.list('/nope'), []);
  t.equal(await h.exists('/usr/lib/x86_64-linux-gnu/libcuda.so.1'), true);
  t.equal(await h.exists('/usr/lib/none'), false);
});

t.test('resolve follows links the way the host kernel would, inside the root', async (t) => {
  const h = new HostRoot(await tree());
  t.equal(await h.resolve('/usr/lib/x86_64-linux-gnu/libcuda.so.1'), '/usr/lib/x86_64-linux-gnu/libcuda.so.470.82.01');
  t.equal(await h.resolve('/usr/lib64/libcuda.so.1'), '/usr/lib/x86_64-linux-gnu/libcuda.so.470.82.01', 'directory links too');
  t.equal(await h.resolve('/usr/lib/x86_64-linux-gnu/libevil.so.1'), '/etc/shadow', 'absolute target starts at the host root');
  t.equal(await h.resolve('/usr/lib/x86_64-linux-gnu/libdots.so.1'), '/etc/shadow', '.. stops at the host root');
  t.equal(await h.resolve('/usr/lib/missing.so'), null);
  await t.rejects(h.resolve('/etc/loop-a'), { code: ErrorCode.SYMLINK_ESCAPE }, 'link loops end');
});

t.test('resolveWithin refuses links that leave the allowed roots', async (t) => {
  const h = new HostRoot(await tree());
  const allowed = ['/usr/lib', '/usr/lib64'];
  t.equal(await h.resolveWithin('/usr/lib64/libcuda.so.1', allowed), '/usr/lib/x86_64-linux-gnu/libcuda.so.470.82.01');
  await t.rejects(h.resolveWithin('/usr/lib/x86_64-linux-gnu/libevil.so.1', allowed), { code: ErrorCode.SYMLINK_ESCAPE });
  await t.rejects(h.resolveWithin('/usr/lib/x86_64-linux-gnu/libdots.so.1', allowed), { code: ErrorCode.SYMLINK_ESCAPE });
  t.equal(await h.resolveWithin('/usr/lib/none.so', allowed), null);
});

t.test('isWithin compares whole path components', async (t) => {
  t.ok(isWithin('/usr/lib/x', '/usr/lib'));
  t.ok(isWithin('/usr/lib', '/usr/lib'));
  t.notOk(isWithin('/usr/lib64/x', '/usr/lib'));
  t.ok(isWithin('/anything', '/'));
  t.equal(normaliseHostPath('/a//b/../c'), '/a/c');
});

t.test('readLinkSync gives a link its text, and null for a plain file or nothing', async (t) => {
  const h = new HostRoot(await tree());
  t.equal(h.readLinkSync('/usr/lib/x86_64-linux-gnu/libcuda.so.1'), 'libcuda.so.470.82.01');
  t.equal(h.readLinkSync('/usr/lib/x86_64-linux-gnu/libevil.so.1'), '/etc/shadow', 'the text, not followed');
  t.equal(h.readLinkSync('/etc/shadow'), null);
  t.equal(h.readLinkSync('/etc/missing'), null);
  t.equal(h.readLinkSync('/etc/shadow/below'), null, 'a path through a file is no link either');
});

t.test('existsSync answers as exists does, dangling links included', async (t) => {
  const root = await tree();
  const h = new HostRoot(root);
  await symlink('nowhere', path.join(root, 'etc/dangling'));
  for (const p of ['/etc/shadow', '/usr/lib64', '/etc/dangling', '/etc/loop-a', '/etc/missing', '/etc/shadow/below']) {
    t.equal(h.existsSync(p), await h.exists(p), p);
  }
  t.equal(h.existsSync('/etc/dangling'), true, 'the link itself is there');
  t.equal(h.existsSync('/etc/missing'), false);
});

t.test('listSync lists a directory as list does, unsorted, and nothing for a missing one', async (t) => {
  const root = await tree();
  const h = new HostRoot(root);
  t.same(h.listSync('/etc').sort(), await h.list('/etc'));
  t.same(h.listSync('/etc/missing'), []);
  t.same(h.listSync('/etc/shadow'), await h.list('/etc/shadow'), 'a file, as list has it');
  t.throws(() => h.listSync('/etc/loop-a'), { code: ErrorCode.HOST_READ }, 'other failures are errors');
});
