import t from 'tap';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { findRunc } from '../../agent/runtime/find-runc.js';
import { scratchDir } from '../helpers/runtime-fixtures.js';

const dir = scratchDir('find-runc-');
function exe(p: string, mode = 0o755): string {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, mode);
  return p;
}
const wrapper = exe(path.join(dir, 'libexec/accel-runtime.js'));
const realRunc = exe(path.join(dir, 'sbin/runc'));
mkdirSync(path.join(dir, 'bin'));
symlinkSync(wrapper, path.join(dir, 'bin/runc'));
exe(path.join(dir, 'noexec/runc'), 0o644);
mkdirSync(path.join(dir, 'isdir/runc'), { recursive: true });

t.test('a bare name is looked up on PATH, skipping the wrapper installed as runc', async (t) => {
  const pathEnv = ['relative/bin', path.join(dir, 'bin'), path.join(dir, 'noexec'), path.join(dir, 'isdir'), path.join(dir, 'sbin')].join(':');
  t.equal(await findRunc('runc', { pathEnv, self: [wrapper] }), realRunc);
  t.equal(await findRunc('runc', { pathEnv, self: [] }), path.join(dir, 'bin/runc'), 'without knowing itself it takes the first match');
});

t.test('relative PATH entries are never searched', async (t) => {
  const cwd = process.cwd();
  process.chdir(path.join(dir, 'sbin'));
  try {
    await t.rejects(findRunc('runc', { pathEnv: '.:sbin', self: [] }), { code: ErrorCode.RUNTIME_EXEC, message: /cannot find runc on PATH/ });
  } finally {
    process.chdir(cwd);
  }
});

t.test('an absolute runc must be an executable file and not the wrapper', async (t) => {
  t.equal(await findRunc(realRunc, { pathEnv: '', self: [wrapper] }), realRunc);
  await t.rejects(findRunc(path.join(dir, 'noexec/runc'), { pathEnv: '', self: [] }), /not an executable file/);
  await t.rejects(findRunc(path.join(dir, 'missing'), { pathEnv: '', self: [] }), /not an executable file/);
  await t.rejects(findRunc(path.join(dir, 'bin/runc'), { pathEnv: '', self: [wrapper] }), /is accel-runtime itself/);
});

t.test('nothing on PATH is a clear error', async (t) => {
  await t.rejects(findRunc('runc', { pathEnv: path.join(dir, 'empty-dir'), self: [] }), { code: ErrorCode.RUNTIME_EXEC });
  await t.rejects(findRunc('accel-no-such-runtime', { pathEnv: undefined, self: [] }), /cannot find accel-no-such-runtime on PATH/);
});

t.test('without PATH the standard system directories are searched', async (t) => {
  // Engines call the runtime with a bare environment for some commands (podman's delete has no PATH).
  const sh = await findRunc('sh', { pathEnv: undefined, self: [] });
  t.match(sh, /^\/(usr\/)?(local\/)?s?bin\/sh$/);
  t.equal(await findRunc('sh', { pathEnv: '', self: [] }), sh);
});
