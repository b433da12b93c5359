import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ErrorCode, isAccelError } from '../../agent/errors.js';
import { configFlagHelp, configFlagOptions, envName, loadConfig, resolveConfig } from '../../agent/config/load.js';

const file = (text: string) => ({ name: 'agent.yaml', text });

t.test('defaults apply when nothing is given', async (t) => {
  const c = resolveConfig({});
  t.equal(c.hostRoot, '/');
  t.equal(c.socket, '/run/accel-agent/agent.sock');
  t.equal(c.rescanInterval, 30_000);
  t.equal(c.nvidia.enabled, true);
  t.equal(c.nvidia.nvmlLibrary, null);
});

t.test('file overrides defaults, environment overrides file, flags override environment', async (t) => {
  const f = file('version: 1\nhostRoot: /from-file\nsocket: /file.sock\nkubeletDir: /k\n');
  const env = { ACCEL_AGENT_HOST_ROOT: '/from-env', ACCEL_AGENT_SOCKET: '/env.sock' };
  const c = resolveConfig({ file: f, env, flags: { 'host-root': '/from-flag' } });
  t.equal(c.hostRoot, '/from-flag');
  t.equal(c.socket, '/env.sock');
  t.equal(c.kubeletDir, '/k');
});

t.test('durations accept units and bare milliseconds', async (t) => {
  t.equal(resolveConfig({ file: file('version: 1\nrescanInterval: 2m\n') }).rescanInterval, 120_000);
  t.equal(resolveConfig({ flags: { 'rescan-interval': '1500' } }).rescanInterval, 1500);
  t.equal(resolveConfig({ file: file('version: 1\nnvidia:\n  smiTimeout: 250ms\n') }).nvidia.smiTimeout, 250);
});

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isAccelError(err, ErrorCode.CONFIG_INVALID)) return err.message;
    throw err;
  }
  throw new Error('expected CONFIG_INVALID');
}

t.test('an unknown key is rejected with its full dotted name', async (t) => {
  const msg = problemsOf(() => resolveConfig({ file: file('version: 1\nnvidia:\n  smiTimout: 5s\n') }));
  t.match(msg, /nvidia\.smiTimout: unknown key/);
  t.match(msg, /smiTimeout/, 'lists the keys that are known there');
});

t.test('every problem is reported at once, each naming its key', async (t) => {
  const msg = problemsOf(() =>
    resolveConfig({ file: file('version: 1\nhostRoot: relative/path\nrescanInterval: soon\nlogLevel: loud\nnvidia: 3\n') }),
  );
  t.match(msg, /hostRoot: expected an absolute path/);
  t.match(msg, /rescanInterval: expected a duration/);
  t.match(msg, /logLevel: expected one of/);
  t.match(msg, /nvidia: expected a mapping/);
});

t.test('the file must say which version it is', async (t) => {
  t.match(problemsOf(() => resolveConfig({ file: file('hostRoot: /x\n') })), /version: expected 1, got nothing/);
  t.match(problemsOf(() => resolveConfig({ file: file('version: 2\n') })), /version: expected 1, got 2/);
});

t.test('malformed YAML, duplicate keys and a non-mapping top level are clear errors', async (t) => {
  t.match(problemsOf(() => resolveConfig({ file: file('version: 1\nsocket: [unclosed\n') })), /agent\.yaml: not valid YAML/);
  t.match(problemsOf(() => resolveConfig({ file: file('version: 1\nsocket: /a\nsocket: /b\n') })), /not valid YAML/);
  t.match(problemsOf(() => resolveConfig({ file: file('- a\n- b\n') })), /expected a mapping at the top, got a list/);
});

t.test('an empty file means defaults', async (t) => {
  t.equal(resolveConfig({ file: file('') }).hostRoot, '/');
});

t.test('bad environment and flag values name where they came from', async (t) => {
  const msg = problemsOf(() => resolveConfig({ env: { ACCEL_AGENT_RESCAN_INTERVAL: 'often' }, flags: { 'log-level': 'chatty' } }));
  t.match(msg, /rescanInterval \(from environment variable ACCEL_AGENT_RESCAN_INTERVAL\)/);
  t.match(msg, /logLevel \(from flag --log-level\)/);
});

t.test('a minimum is enforced', async (t) => {
  t.match(problemsOf(() => resolveConfig({ flags: { 'rescan-interval': '10ms' } })), /at least 1000 ms/);
});

t.test('loadConfig reads a file and reports an unreadable one', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cfg-'));
  const p = path.join(dir, 'agent.yaml');
  await writeFile(p, 'version: 1\nstateDir: /var/lib/x\n');
  t.equal((await loadConfig({ configPath: p })).stateDir, '/var/lib/x');
  await t.rejects(loadConfig({ configPath: path.join(dir, 'missing.yaml') }), { code: ErrorCode.CONFIG_UNREADABLE });
});

t.test('flag options and help cover every flagged key', async (t) => {
  const opts = configFlagOptions();
  t.ok(opts['host-root'] && opts['kubelet-dir'] && opts['nvml-library']);
  t.equal(envName('host-root'), 'ACCEL_AGENT_HOST_ROOT');
  const help = configFlagHelp().join('\n');
  t.match(help, /--host-root/);
  t.match(help, /ACCEL_AGENT_CDI_DIR/);
});
