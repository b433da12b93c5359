import { mkdir, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { EMPTY_SNAPSHOT, KubeletWatch, sameSnapshot, snapshotDir, socketIdentity, type DirSnapshot } from '../../agent/kubelet/kubelet-watch.js';
import { pluginDir } from '../helpers/kubelet-fixtures.js';

const PLUGIN = 'accel-test.sock';

async function listen(t: Test, socketPath: string): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

function watchDir(t: Test, dir: string, pollIntervalMs: number, onChange?: (s: DirSnapshot) => Promise<void> | void) {
  const seen: DirSnapshot[] = [];
  const waiters: Array<() => void> = [];
  const watch = new KubeletWatch({
    dir,
    pluginSocketName: PLUGIN,
    pollIntervalMs,
    onChange: async (current) => {
      seen.push(current);
      waiters.splice(0).forEach((w) => w());
      await onChange?.(current);
    },
  });
  t.teardown(() => watch.stop());
  const until = async (match: (s: DirSnapshot) => boolean, timeoutMs = 5000) => {
    const end = Date.now() + timeoutMs;
    while (!seen.some(match)) {
      if (Date.now() > end) throw new Error('no matching snapshot in time');
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return seen.find(match)!;
  };
  return { watch, seen, until };
}

t.test('snapshots see only real sockets, never through links', async (t) => {
  const dir = await pluginDir(t);
  t.same(snapshotDir(path.join(dir, 'missing'), PLUGIN), EMPTY_SNAPSHOT);
  const empty = snapshotDir(dir, PLUGIN);
  t.type(empty.dir, 'string');
  t.equal(empty.kubelet, null);
  t.equal(empty.plugin, null);

  await writeFile(path.join(dir, 'kubelet.sock'), '');
  t.equal(snapshotDir(dir, PLUGIN).kubelet, null, 'a regular file is not kubelet');
  await unlink(path.join(dir, 'kubelet.sock'));

  const elsewhere = await pluginDir(t);
  await listen(t, path.join(elsewhere, 'real.sock'));
  await symlink(path.join(elsewhere, 'real.sock'), path.join(dir, 'kubelet.sock'));
  t.equal(snapshotDir(dir, PLUGIN).kubelet, null, 'a link to a socket elsewhere is not kubelet');
  await unlink(path.join(dir, 'kubelet.sock'));

  await symlink(dir, path.join(elsewhere, 'link'));
  t.equal(snapshotDir(path.join(elsewhere, 'link'), PLUGIN).dir, empty.dir, 'a relocated kubelet directory is followed to the real one');
  await writeFile(path.join(elsewhere, 'file'), '');
  t.same(snapshotDir(path.join(elsewhere, 'file'), PLUGIN), EMPTY_SNAPSHOT, 'a file is no directory');

  await listen(t, path.join(dir, PLUGIN));
  const withPlugin = snapshotDir(dir, PLUGIN);
  t.type(withPlugin.plugin, 'string');
  t.notOk(sameSnapshot(empty, withPlugin));
  t.ok(sameSnapshot(withPlugin, snapshotDir(dir, PLUGIN)), 'stable while nothing changes');
});

t.test('a socket recreated at the same path has a new identity', async (t) => {
  const dir = await pluginDir(t);
  const p = path.join(dir, 'kubelet.sock');
  const ids = new Set<string | null>();
  for (let i = 0; i < 5; i++) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(p, resolve));
    ids.add(socketIdentity(p));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  t.equal(ids.size, 5);
  t.notOk(ids.has(null));
  t.equal(socketIdentity(p), null, 'gone after close');
  t.equal(socketIdentity(path.join(dir, 'no', 'such')), null);
});

t.test('fs.watch reports kubelet.sock being created without waiting for the poll', async (t) => {
  const dir = await pluginDir(t);
  const { watch, until } = watchDir(t, dir, 60_000);
  t.equal((await watch.start()).kubelet, null);
  const started = Date.now();
  await listen(t, path.join(dir, 'kubelet.sock'));
  await until((s) => s.kubelet !== null, 5000);
  t.ok(Date.now() - started < 5000, 'seen long before the 60 s poll');
  t.not(watch.current.kubelet, null);
});

t.test('the poll catches what fs.watch cannot: a directory replaced under the watch', async (t) => {
  const base = await pluginDir(t);
  const dir = path.join(base, 'd');
  await mkdir(dir);
  const { watch, until } = watchDir(t, dir, 100);
  await watch.start();
  await rename(dir, path.join(base, 'old'));
  await until((s) => s.dir === null);
  await mkdir(dir);
  await listen(t, path.join(dir, 'kubelet.sock'));
  const seen = await until((s) => s.kubelet !== null);
  t.type(seen.dir, 'string');
  // The new directory is watched again: the plugin socket appearing is seen too.
  await listen(t, path.join(dir, PLUGIN));
  await until((s) => s.plugin !== null);
  t.pass('both sockets seen in the new directory');
});

t.test('the plugin socket vanishing is reported', async (t) => {
  const dir = await pluginDir(t);
  const p = path.join(dir, PLUGIN);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(p, resolve));
  t.teardown(() => server.close());
  const { watch, until } = watchDir(t, dir, 60_000);
  t.not((await watch.start()).plugin, null);
  await unlink(p);
  await until((s) => s.plugin === null);
  t.pass('seen');
});

t.test('onChange never runs twice at once, and the last state is always reported', async (t) => {
  const dir = await pluginDir(t);
  let running = 0;
  let most = 0;
  const { watch, seen } = watchDir(t, dir, 50, async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 30));
    running--;
  });
  await watch.start();
  for (let i = 0; i < 10; i++) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'kubelet.sock'), resolve));
    await Promise.all([watch.check(), watch.check(), watch.check()]);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await watch.check();
  t.equal(most, 1);
  t.ok(seen.length >= 2);
  t.equal(seen[seen.length - 1]!.kubelet, null, 'ends on kubelet.sock gone');
});

t.test('after stop nothing is reported', async (t) => {
  const dir = await pluginDir(t);
  const { watch, seen } = watchDir(t, dir, 50);
  await watch.start();
  watch.stop();
  await listen(t, path.join(dir, 'kubelet.sock'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  await watch.check();
  t.equal(seen.length, 0);
});
