import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../agent/package-root.js';
import type { OciConfig } from '../../agent/inject/oci-edit.js';
import { RUNC_ARGV_CASES } from '../helpers/runc-argv-cases.js';
import { buildRuntime, type RuntimeBuild } from '../helpers/runtime-build.js';
import {
  baseOciConfig,
  fixtureEnv,
  makeRuntimeFixture,
  recordedArgv,
  recordedConfig,
  scratchDir,
  type RuntimeFixture,
} from '../helpers/runtime-fixtures.js';

/**
 * The native launcher: runc directly for everything it can handle from a
 * fresh cache, the same result as the Node wrapper when it injects, and the
 * Node wrapper (with the original arguments) for everything else.
 */

// Containers, a TypeScript build and a C build: generous for slow, shared machines.
t.setTimeout(900_000);

let launcher: string;
let runtime: RuntimeBuild;

t.before(() => {
  const out = scratchDir('launcher-build-');
  execFileSync('bash', [path.join(packageRoot(), 'native-bindings/accel-runtime-launcher/build.sh'), out], { stdio: 'pipe' });
  launcher = path.join(out, 'accel-runtime');
  runtime = buildRuntime();
});
t.teardown(() => runtime?.remove());

const GPU0 = { 'cdi.k8s.io/accel': 'nvidia.com/gpu=0' };

interface Harness {
  fx: RuntimeFixture;
  env: NodeJS.ProcessEnv;
  cacheDir: string;
  delegations: string;
  original: Buffer;
}

/** A fixture, the launcher's environment, and a wrapper shim that notes every hand-over. */
function harness(config: OciConfig = baseOciConfig({ annotations: GPU0 }), extra: Record<string, string> = {}): Harness {
  const fx = makeRuntimeFixture(config);
  const cacheDir = path.join(fx.dir, 'cache');
  const delegations = path.join(fx.dir, 'delegated');
  const shim = path.join(fx.dir, 'node-wrapper');
  writeFileSync(shim, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${delegations}'\nexec '${runtime.entry}' "$@"\n`);
  chmodSync(shim, 0o755);
  const env = fixtureEnv(fx, { ACCEL_RUNTIME_LAUNCHER_CACHE: cacheDir, ACCEL_RUNTIME_NODE_WRAPPER: shim, ...extra });
  return { fx, env, cacheDir, delegations, original: readFileSync(fx.configFile) };
}

function launch(h: Harness, argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  rmSync(h.fx.record, { force: true });
  return spawnSync(launcher, argv, { env: options.env ?? h.env, cwd: options.cwd ?? h.fx.dir, encoding: 'utf8', timeout: 60_000 });
}

function delegated(h: Harness): string[] {
  return existsSync(h.delegations) ? readFileSync(h.delegations, 'utf8').trim().split('\n') : [];
}

/** One create through the wrapper (on a scratch bundle) so it writes the cache; then a clean slate. */
function warm(h: Harness): void {
  const scratch = path.join(h.fx.dir, 'warm-bundle');
  mkdirSync(scratch, { recursive: true });
  writeFileSync(path.join(scratch, 'config.json'), JSON.stringify(baseOciConfig()));
  const r = launch(h, ['create', '--bundle', scratch, 'warm-up']);
  if (r.status !== 0) throw new Error(`warm-up failed: ${r.stderr}`);
  if (!existsSync(path.join(h.cacheDir, 'launcher.cache'))) throw new Error('the wrapper wrote no cache');
  rmSync(h.delegations, { force: true });
}

function resetConfig(h: Harness): void {
  writeFileSync(h.fx.configFile, h.original);
}

t.test('without a cache every command goes to the wrapper; its first create writes the cache', async (t) => {
  const h = harness();
  const r = launch(h, ['--root', '/r', 'state', 'c1']);
  t.equal(r.status, 0, r.stderr);
  t.same(delegated(h), ['--root /r state c1'], 'handed over with the original arguments');
  t.same(recordedArgv(h.fx), ['--root', '/r', 'state', 'c1']);
  t.notOk(existsSync(path.join(h.cacheDir, 'launcher.cache')), 'other commands leave the cache alone');
  const created = launch(h, ['create', '--bundle', h.fx.bundle, 'c1']);
  t.equal(created.status, 0, created.stderr);
  t.equal(delegated(h).length, 2);
  t.ok(existsSync(path.join(h.cacheDir, 'launcher.cache')));
  const again = launch(h, ['state', 'c2']);
  t.equal(again.status, 0);
  t.equal(delegated(h).length, 2, 'the next command no longer needs the wrapper');
  t.same(recordedArgv(h.fx), ['state', 'c2']);
});

t.test('a command run with another environment goes to the wrapper without spoiling the cache for create', async (t) => {
  const h = harness();
  warm(h);
  const bare = launch(h, ['delete', '--force', 'c'], { env: { ...h.env, ACCEL_RUNTIME_CDI_DIRS: undefined, PATH: undefined } });
  t.equal(bare.status, 0, bare.stderr);
  t.equal(delegated(h).length, 1, 'the cache does not match that environment');
  const r = launch(h, ['create', '--bundle', h.fx.bundle, 'c']);
  t.equal(r.status, 0, r.stderr);
  t.equal(delegated(h).length, 1, 'create is still served from the cache');
});

t.test('with the cache turned off everything goes to the wrapper', async (t) => {
  const h = harness(undefined, { ACCEL_RUNTIME_LAUNCHER_CACHE: '' });
  launch(h, ['state', 'c']);
  launch(h, ['state', 'c']);
  t.equal(delegated(h).length, 2);
});

t.test('create injects what the Node wrapper would, without the wrapper', async (t) => {
  const configs: Array<[string, OciConfig]> = [
    ['runc spec shape', baseOciConfig({ annotations: GPU0 })],
    ['two devices, one spec', baseOciConfig({ annotations: { 'cdi.k8s.io/a': 'nvidia.com/gpu=1,nvidia.com/gpu=0' } })],
    ['all', baseOciConfig({ annotations: { 'cdi.k8s.io/a': 'nvidia.com/gpu=all' } })],
    ['several annotation keys', baseOciConfig({ annotations: { 'cdi.k8s.io/z': 'nvidia.com/gpu=1', 'cdi.k8s.io/a': 'nvidia.com/gpu=0', other: 'x' } })],
    ['no resources, no mounts, no env', { ociVersion: '1.0.2', process: { cwd: '/' }, root: { path: 'rootfs' }, linux: { namespaces: [] }, annotations: GPU0 }],
    ['empty lists', { ...baseOciConfig({ annotations: GPU0 }), mounts: [], linux: { devices: [], resources: { devices: [] } } }],
    ['existing devices and rules', {
      ...baseOciConfig({ annotations: GPU0 }),
      linux: { devices: [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }], resources: { memory: {}, devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }] } },
    }],
  ];
  for (const [name, config] of configs) {
    const h = harness(config);
    warm(h);
    const r = launch(h, ['create', '--bundle', h.fx.bundle, 'c']);
    t.equal(r.status, 0, `${name}: ${r.stderr}`);
    t.same(delegated(h), [], `${name}: no hand-over`);
    const fromLauncher = recordedConfig(h.fx);
    resetConfig(h);
    const viaNode = spawnSync(runtime.entry, ['create', '--bundle', h.fx.bundle, 'c'], { env: h.env, encoding: 'utf8' });
    t.equal(viaNode.status, 0, viaNode.stderr);
    t.same(fromLauncher, recordedConfig(h.fx), `${name}: same config as the Node wrapper`);
  }
});

t.test('a container that asks for nothing: runc runs and config.json is untouched', async (t) => {
  const h = harness(baseOciConfig());
  warm(h);
  const r = launch(h, ['run', '-b', h.fx.bundle, 'c']);
  t.equal(r.status, 0);
  t.same(delegated(h), []);
  t.ok(readFileSync(h.fx.configFile).equals(h.original));
  t.same(recordedArgv(h.fx), ['run', '-b', h.fx.bundle, 'c']);
});

t.test('every runc command line is read as the wrapper reads it', async (t) => {
  const h = harness();
  warm(h);
  for (const c of RUNC_ARGV_CASES) {
    resetConfig(h);
    // The table's bundle paths stand for the fixture's bundle.
    const argv = c.argv.map((a) => (c.bundle !== null && (a === c.bundle || a.endsWith(`=${c.bundle}`)) ? a.replace(c.bundle, h.fx.bundle) : a));
    const r = launch(h, argv, { cwd: h.fx.bundle });
    const label = c.argv.join(' ') || '(none)';
    t.equal(r.status, 0, `${label}: ${r.stderr}`);
    t.same(recordedArgv(h.fx), argv, `${label}: runc got the arguments untouched`);
    t.equal(!readFileSync(h.fx.configFile).equals(h.original), c.edits, `${label}: edited ${c.edits}`);
  }
  t.same(delegated(h), [], 'none needed the wrapper');
});

t.test('a change to a spec, the settings or the settings variables sends the next run to the wrapper', async (t) => {
  const h = harness();
  warm(h);
  const later = new Date(Date.now() + 5000);
  utimesSync(path.join(h.fx.cdiDir, 'nvidia.json'), later, later);
  const create = () => {
    resetConfig(h);
    launch(h, ['create', '--bundle', h.fx.bundle, 'c']);
  };
  create();
  t.equal(delegated(h).length, 1, 'spec touched');
  create();
  t.equal(delegated(h).length, 1, 'the wrapper refreshed the cache');
  writeFileSync(path.join(h.fx.dir, 'settings.json'), '{ }');
  create();
  t.equal(delegated(h).length, 2, 'settings file changed');
  launch(h, ['state', 'd'], { env: { ...h.env, ACCEL_RUNTIME_ALLOW_ENV_SELECTION: '0' } });
  t.equal(delegated(h).length, 3, 'a settings variable appeared');
});

t.test('cases the launcher leaves to the wrapper end exactly as the wrapper decides', async (t) => {
  const cases: Array<[string, OciConfig | ((fx: RuntimeFixture) => void), number]> = [
    ['unknown device', baseOciConfig({ annotations: { 'cdi.k8s.io/a': 'nvidia.com/gpu=9' } }), 1],
    ['malformed name', baseOciConfig({ annotations: { 'cdi.k8s.io/a': 'nvidia.com/gpu=../x' } }), 1],
    ['env key already set', { ...baseOciConfig({ annotations: GPU0 }), process: { env: ['ACCEL_INJECTED=0'], cwd: '/' } }, 0],
    ['mount destination already taken', { ...baseOciConfig({ annotations: GPU0 }), mounts: [{ destination: '/usr/lib/x86_64-linux-gnu/libcuda.so.1', source: '/tmp/x', type: 'bind' }] }, 1],
    ['device path already there', { ...baseOciConfig({ annotations: GPU0 }), linux: { devices: [{ type: 'c', path: '/dev/nvidia0', major: 195, minor: 0 }] } }, 0],
    ['no linux section', { ociVersion: '1.0.2', process: { cwd: '/' }, annotations: GPU0 }, 0],
    ['bad shape', { ...baseOciConfig({ annotations: GPU0 }), mounts: [{ source: '/x' }] } as unknown as OciConfig, 1],
    ['escaped annotation', (fx) => writeFileSync(fx.configFile, readFileSync(fx.configFile, 'utf8').replace('nvidia.com/gpu=0', 'nvidia.com\\/gpu=0')), 0],
    ['truncated config', (fx) => writeFileSync(fx.configFile, readFileSync(fx.configFile).subarray(0, 100)), 1],
    ['mount source inside the rootfs', (fx) => {
      unlinkSync(path.join(fx.libDir, 'libcuda.so.1'));
      writeFileSync(path.join(fx.rootfs, 'evil.so'), 'x');
      symlinkSync(path.join(fx.rootfs, 'evil.so'), path.join(fx.libDir, 'libcuda.so.1'));
    }, 1],
  ];
  for (const [name, setup, status] of cases) {
    const h = harness(typeof setup === 'function' ? undefined : setup);
    warm(h);
    if (typeof setup === 'function') {
      setup(h.fx);
      h.original = readFileSync(h.fx.configFile);
    }
    const r = launch(h, ['create', '--bundle', h.fx.bundle, 'c']);
    t.equal(delegated(h).length, 1, `${name}: handed to the wrapper`);
    t.equal(r.status, status, `${name}: exit ${status} ${r.stderr.trim()}`);
    if (status === 1) {
      t.equal(recordedArgv(h.fx), null, `${name}: runc not started`);
      t.ok(readFileSync(h.fx.configFile).equals(h.original), `${name}: config.json unchanged`);
    }
  }
});

t.test('env selection on: create and run always go to the wrapper', async (t) => {
  const h = harness(baseOciConfig({ process: { env: ['NVIDIA_VISIBLE_DEVICES=1'], cwd: '/' } }), { ACCEL_RUNTIME_ALLOW_ENV_SELECTION: 'true' });
  warm(h);
  const r = launch(h, ['create', '--bundle', h.fx.bundle, 'c']);
  t.equal(r.status, 0);
  t.equal(delegated(h).length, 1);
  t.same(recordedConfig(h.fx).linux?.devices?.map((d) => d.path), ['/dev/nvidiactl', '/dev/nvidia1']);
});

t.test('a cache anyone else could have written is ignored', async (t) => {
  const spoil: Array<[string, (h: Harness) => void]> = [
    ['directory writable by others', (h) => chmodSync(h.cacheDir, 0o777)],
    ['file writable by group', (h) => chmodSync(path.join(h.cacheDir, 'launcher.cache'), 0o620)],
    ['file owned by another user', (h) => chownSync(path.join(h.cacheDir, 'launcher.cache'), 4242, 4242)],
    ['file is a symlink', (h) => {
      const f = path.join(h.cacheDir, 'launcher.cache');
      writeFileSync(path.join(h.fx.dir, 'elsewhere'), readFileSync(f));
      unlinkSync(f);
      symlinkSync(path.join(h.fx.dir, 'elsewhere'), f);
    }],
    ['file cut short', (h) => {
      const f = path.join(h.cacheDir, 'launcher.cache');
      writeFileSync(f, readFileSync(f, 'utf8').slice(0, -5));
    }],
    ['file with a forged line', (h) => {
      const f = path.join(h.cacheDir, 'launcher.cache');
      writeFileSync(f, readFileSync(f, 'utf8').replace('end\n', 'hook /bin/sh\nend\n'));
    }],
  ];
  for (const [name, damage] of spoil) {
    const h = harness();
    warm(h);
    if (name.includes('another user') && process.getuid?.() !== 0) continue;
    damage(h);
    launch(h, ['create', '--bundle', h.fx.bundle, 'c']);
    t.equal(delegated(h).length, 1, `${name}: not trusted`);
  }
});

t.test('a launcher that finds itself as runc stops, and a missing wrapper is reported', async (t) => {
  const h = harness();
  const loop = launch(h, ['--log', path.join(h.fx.dir, 'log'), '--log-format', 'json', 'state', 'c'], { env: { ...h.env, ACCEL_RUNTIME_ACTIVE: '1' } });
  t.equal(loop.status, 1);
  t.equal(recordedArgv(h.fx), null);
  t.match(JSON.parse(readFileSync(path.join(h.fx.dir, 'log'), 'utf8')), { level: 'error', msg: /started by itself/ });
  const lost = launch(h, ['state', 'c'], { env: { ...h.env, ACCEL_RUNTIME_NODE_WRAPPER: path.join(h.fx.dir, 'nowhere') } });
  t.equal(lost.status, 1);
  t.match(lost.stderr, /level=error msg="accel-runtime: cannot start the Node wrapper .*nowhere: No such file or directory"/);
});
