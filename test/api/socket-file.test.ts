import { existsSync, promises as fs, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { discardPlan, prepareSocket, publishSocket, removeSocket } from '../../agent/api/socket-file.js';
import { ErrorCode } from '../../agent/errors.js';
import { makeStaleSocket, socketDir } from '../helpers/unix-sockets.js';

async function bindAt(p: string): Promise<net.Server> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(p, resolve));
  return srv;
}

t.test('the socket is bound in a private 0700 directory beside the final path', async (t) => {
  const dir = socketDir(t);
  const plan = await prepareSocket(path.join(dir, 'agent.sock'));
  t.equal(path.dirname(plan.privateDir), dir);
  t.equal(((await fs.stat(plan.privateDir)).mode & 0o777).toString(8), '700');
  t.equal(path.dirname(plan.bindPath), plan.privateDir);
  await discardPlan(plan);
  await discardPlan(plan);
  t.same(await fs.readdir(dir), []);
});

t.test('publishing sets the mode before the socket becomes visible, then cleans up', async (t) => {
  const dir = socketDir(t);
  const plan = await prepareSocket(path.join(dir, 'agent.sock'));
  const srv = await bindAt(plan.bindPath);
  t.teardown(() => srv.close());
  const ino = await publishSocket(plan, 0o660);
  const st = await fs.lstat(plan.finalPath);
  t.equal(st.ino, ino);
  t.equal((st.mode & 0o777).toString(8), '660');
  t.same(await fs.readdir(dir), ['agent.sock']);
  // Still the listening socket after the move.
  await new Promise<void>((resolve, reject) => net.createConnection(plan.finalPath).once('connect', function (this: net.Socket) {
    this.destroy();
    resolve();
  }).once('error', reject));
});

t.test('publishing refuses when a file appeared at the path meanwhile', async (t) => {
  const dir = socketDir(t);
  const plan = await prepareSocket(path.join(dir, 'agent.sock'));
  const srv = await bindAt(plan.bindPath);
  t.teardown(() => srv.close());
  writeFileSync(plan.finalPath, 'raced in');
  await t.rejects(publishSocket(plan, 0o660), { code: ErrorCode.API_SOCKET });
  t.equal(await fs.readFile(plan.finalPath, 'utf8'), 'raced in');
});

t.test('a stale socket is accepted for replacement, a live one is not', async (t) => {
  const dir = socketDir(t);
  const stale = path.join(dir, 'stale.sock');
  await makeStaleSocket(stale);
  await t.resolves(prepareSocket(stale).then(discardPlan));
  const live = path.join(dir, 'live.sock');
  const srv = await bindAt(live);
  t.teardown(() => srv.close());
  await t.rejects(prepareSocket(live), { code: ErrorCode.API_SOCKET, message: /already serving/ });
});

t.test('a directory at the socket path is refused', async (t) => {
  const dir = socketDir(t);
  await fs.mkdir(path.join(dir, 'agent.sock'));
  await t.rejects(prepareSocket(path.join(dir, 'agent.sock')), { code: ErrorCode.API_SOCKET, message: /a directory/ });
});

t.test('a socket directory that is really a file is refused clearly', async (t) => {
  const dir = socketDir(t);
  writeFileSync(path.join(dir, 'run'), '');
  await t.rejects(prepareSocket(path.join(dir, 'run', 'agent.sock')), { code: ErrorCode.API_SOCKET, message: /cannot create the API socket directory/ });
});

t.test('a directory someone else owns is never made, only waited for', async (t) => {
  const dir = socketDir(t);
  const owned = path.join(dir, 'device-plugins');
  await t.rejects(prepareSocket(path.join(owned, 'plugin.sock'), { createDir: false }), { code: ErrorCode.API_SOCKET, message: /cannot create a private bind directory/ });
  t.notOk(existsSync(owned), 'the missing directory stays missing');
  await fs.mkdir(owned);
  await t.resolves(prepareSocket(path.join(owned, 'plugin.sock'), { createDir: false }).then(discardPlan), 'served once its owner made it');
});

t.test('relative paths are refused', async (t) => {
  await t.rejects(prepareSocket('run/agent.sock'), { code: ErrorCode.API_SOCKET, message: /absolute/ });
});

t.test('removeSocket removes only the socket it published', async (t) => {
  const dir = socketDir(t);
  const p = path.join(dir, 'agent.sock');
  await makeStaleSocket(p);
  const ino = (await fs.lstat(p)).ino;
  t.equal(await removeSocket(p, ino + 1), false, 'another inode is left alone');
  t.ok((await fs.lstat(p)).isSocket());
  t.equal(await removeSocket(p, ino), true);
  t.equal(await removeSocket(p, ino), false, 'already gone');
  writeFileSync(p, 'not a socket');
  t.equal(await removeSocket(p, (await fs.lstat(p)).ino), false, 'a regular file is never unlinked');
  t.ok((await fs.lstat(p)).isFile());
});
