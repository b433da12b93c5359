import t from 'tap';
import { chmodSync, existsSync, fstatSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { runRunc } from '../../agent/runtime/spawn-runc.js';
import { scratchDir } from '../helpers/runtime-fixtures.js';

const dir = scratchDir('spawn-runc-');
function script(name: string, body: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

t.test('argv and env reach runc; its exit status comes back', async (t) => {
  const out = path.join(dir, 'args');
  const s = script('args', `printf '%s|' "$@" "$MARK" > ${out}; exit 7`);
  t.equal(await runRunc(s, ['--root', '/r', 'state', 'c 1'], { env: { MARK: 'm' }, extraFds: 0 }), 7);
  t.equal(readFileSync(out, 'utf8'), '--root|/r|state|c 1|m|');
});

t.test('a runc killed by a signal reports 128 + the signal number', async (t) => {
  const s = script('killed', 'kill -KILL $$');
  t.equal(await runRunc(s, [], { env: {}, extraFds: 0 }), 128 + 9);
});

t.test('SIGTERM and SIGHUP sent to the wrapper are forwarded to runc', async (t) => {
  const ready = path.join(dir, 'ready');
  const got = path.join(dir, 'got');
  const s = script(
    'trap',
    `trap 'echo TERM >> ${got}; exit 42' TERM\ntrap 'echo HUP >> ${got}' HUP\ntouch ${ready}\nwhile :; do sleep 0.05; done`,
  );
  const done = runRunc(s, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, extraFds: 0 });
  for (let i = 0; i < 400 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 25));
  process.kill(process.pid, 'SIGHUP');
  for (let i = 0; i < 400 && !existsSync(got); i++) await new Promise((r) => setTimeout(r, 25));
  process.kill(process.pid, 'SIGTERM');
  t.equal(await done, 42);
  t.same(readFileSync(got, 'utf8').split('\n').filter(Boolean), ['HUP', 'TERM']);
  t.equal(process.listenerCount('SIGTERM') > 0 && process.listeners('SIGTERM').some((l) => l.name === 'forward'), false, 'handlers are removed');
});

t.test('extra descriptors are passed at the same numbers only when asked for', async (t) => {
  const s = script('fds', 'test -e /proc/self/fd/3 && exit 3; exit 0');
  let fd3Open = true;
  try {
    fstatSync(3);
  } catch {
    fd3Open = false;
  }
  t.equal(await runRunc(s, [], { env: {}, extraFds: 0 }), 0, 'fd 3 is not leaked by default');
  t.equal(await runRunc(s, [], { env: {}, extraFds: 1 }), fd3Open ? 3 : 0, 'fd 3 is passed when runc will hand it on');
});

t.test('a runc that cannot start is a RUNTIME_EXEC error', async (t) => {
  const notExec = path.join(dir, 'plain');
  writeFileSync(notExec, 'x');
  await t.rejects(runRunc(notExec, [], { env: {}, extraFds: 0 }), { code: ErrorCode.RUNTIME_EXEC, message: /cannot start/ });
});
