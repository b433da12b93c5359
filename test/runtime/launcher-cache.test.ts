import t from 'tap';
import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CACHE_FILE } from '../../agent/runtime/launcher-cache-format.js';
import { refreshLauncherCache } from '../../agent/runtime/launcher-cache.js';
import { parseRuntimeOptions } from '../../agent/runtime/runtime-options.js';
import { fixtureEnv, makeRuntimeFixture, type RuntimeFixture } from '../helpers/runtime-fixtures.js';

function setup(fx: RuntimeFixture, extra: Record<string, string> = {}) {
  const cacheDir = path.join(fx.dir, 'cache');
  const env = fixtureEnv(fx, { ACCEL_RUNTIME_LAUNCHER_CACHE: cacheDir, ...extra });
  return { cacheDir, file: path.join(cacheDir, CACHE_FILE), refresh: () => refreshLauncherCache({ options: parseRuntimeOptions(null, env), runc: fx.fakeRunc, env }) };
}

t.test('the cache is written privately, then found fresh until something it depends on changes', async (t) => {
  const fx = makeRuntimeFixture();
  const c = setup(fx);
  t.equal(await c.refresh(), 'written');
  t.equal(statSync(c.cacheDir).mode & 0o777, 0o700);
  t.equal(statSync(c.file).mode & 0o777, 0o600);
  t.equal(await c.refresh(), 'fresh');

  const spec = path.join(fx.cdiDir, 'nvidia.json');
  const later = new Date(Date.now() + 5000);
  utimesSync(spec, later, later);
  t.equal(await c.refresh(), 'written', 'a spec file touched');
  t.equal(await c.refresh(), 'fresh');
  writeFileSync(path.join(fx.cdiDir, 'more.json'), JSON.stringify({ cdiVersion: '0.5.0', kind: 'example.com/x', devices: [] }));
  t.equal(await c.refresh(), 'written', 'a spec file added');
  writeFileSync(path.join(fx.dir, 'settings.json'), '{"allowEnvSelection": false}\n');
  t.equal(await c.refresh(), 'written', 'the settings file changed');
  t.equal(await setup(fx, { ACCEL_RUNTIME_ALLOW_ENV_SELECTION: 'false' }).refresh(), 'written', 'a settings variable appeared');
});

t.test('every device name is in the cache, `all` included', async (t) => {
  const fx = makeRuntimeFixture();
  const c = setup(fx);
  await c.refresh();
  const text = readFileSync(c.file, 'utf8');
  t.same(text.split('\n').filter((l) => l.startsWith('device ')), ['device nvidia.com/gpu=0', 'device nvidia.com/gpu=1', 'device nvidia.com/gpu=all']);
  t.match(text.split('device nvidia.com/gpu=all\n')[1], /^node \/dev\/nvidiactl\t.*\nnode \/dev\/nvidia0\t.*\nnode \/dev\/nvidia1\t/);
});

t.test('devices the launcher cannot apply exactly are left out, and so is an `all` that includes them', async (t) => {
  const fx = makeRuntimeFixture();
  const spec = JSON.parse(readFileSync(path.join(fx.cdiDir, 'nvidia.json'), 'utf8'));
  spec.devices.push({ name: 'hooked', containerEdits: { hooks: [{ hookName: 'createContainer', path: '/bin/true' }] } });
  spec.devices.push({ name: 'probed', containerEdits: { deviceNodes: [{ path: '/dev/probed', hostPath: '/dev/null' }] } });
  writeFileSync(path.join(fx.cdiDir, 'nvidia.json'), JSON.stringify(spec));
  const c = setup(fx);
  await c.refresh();
  const devices = readFileSync(c.file, 'utf8').split('\n').filter((l) => l.startsWith('device ')).map((l) => l.slice(7));
  t.same(devices, ['nvidia.com/gpu=0', 'nvidia.com/gpu=1']);
});

t.test('no cache directory configured: nothing is written', async (t) => {
  const fx = makeRuntimeFixture();
  const env = fixtureEnv(fx);
  t.equal(await refreshLauncherCache({ options: parseRuntimeOptions(null, env), runc: fx.fakeRunc, env }), 'disabled');
});

t.test('a cache directory others can write is never used', async (t) => {
  const fx = makeRuntimeFixture();
  const c = setup(fx);
  mkdirSync(c.cacheDir, { mode: 0o777 });
  chmodSync(c.cacheDir, 0o777);
  t.equal(await c.refresh(), 'unsafe');
  t.throws(() => statSync(c.file), 'nothing written there');
  const linked = setup(fx, { ACCEL_RUNTIME_LAUNCHER_CACHE: path.join(fx.dir, 'cache-link') });
  symlinkSync(c.cacheDir, path.join(fx.dir, 'cache-link'));
  t.equal(await linked.refresh(), 'unsafe', 'a symlinked directory is refused');
});

t.test('a symlink planted as the cache file is replaced, its target untouched', async (t) => {
  const fx = makeRuntimeFixture();
  const c = setup(fx);
  mkdirSync(c.cacheDir, { mode: 0o700 });
  const victim = path.join(fx.dir, 'victim');
  writeFileSync(victim, 'precious');
  symlinkSync(victim, c.file);
  t.equal(await c.refresh(), 'written');
  t.equal(readFileSync(victim, 'utf8'), 'precious');
  t.ok(lstatSync(c.file).isFile());
});

t.test('a header value that cannot be written safely turns the cache off', async (t) => {
  const fx = makeRuntimeFixture();
  const c = setup(fx, { ACCEL_RUNTIME_CDI_DIRS: `${fx.cdiDir}:/odd\tdir` });
  t.equal(await c.refresh(), 'unsafe');
});
