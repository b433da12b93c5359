import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { resolveSpecHostPrefix } from '../../agent/inject/spec-host-prefix.js';

t.test('by default host paths are written as the host sees them (prefix stripped)', async (t) => {
  t.equal(resolveSpecHostPrefix('/', undefined), '', 'agent on the node');
  t.equal(resolveSpecHostPrefix('/host', undefined), '', 'agent in a DaemonSet reading the host at /host');
  t.equal(resolveSpecHostPrefix('/host', ''), '');
  t.equal(resolveSpecHostPrefix('/host', 'strip'), '');
});

t.test('"root" keeps the host root, for runtimes that see the same tree as the agent', async (t) => {
  t.equal(resolveSpecHostPrefix('/var/sim/gn5', 'root'), '/var/sim/gn5');
  t.equal(resolveSpecHostPrefix('/var/sim/gn5/', 'root'), '/var/sim/gn5', 'no trailing slash, so prefix + /dev/x is one path');
  t.equal(resolveSpecHostPrefix('/', 'root'), '', 'the root of / adds nothing');
});

t.test('an explicit absolute prefix is used as given, normalised', async (t) => {
  t.equal(resolveSpecHostPrefix('/host', '/mnt/host/'), '/mnt/host');
  t.equal(resolveSpecHostPrefix('/host', '/mnt//host'), '/mnt/host');
  t.equal(resolveSpecHostPrefix('/host', '/'), '');
});

t.test('anything else is a configuration error', async (t) => {
  for (const bad of ['relative/dir', '/a/../b', 'yes', 'ROOT', '/x\0']) {
    t.throws(() => resolveSpecHostPrefix('/', bad), { code: ErrorCode.CONFIG_INVALID }, JSON.stringify(bad));
  }
});
