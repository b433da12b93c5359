import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { main } from '../../agent/runtime/main.js';
import {
  baseOciConfig,
  fixtureEnv,
  makeRuntimeFixture,
  recordedArgv,
  recordedConfig,
  type RuntimeFixture,
} from '../helpers/runtime-fixtures.js';

const GPU0 = { 'cdi.k8s.io/accel': 'nvidia.com/gpu=0' };

function withGpu(annotations: Record<string, string> = GPU0, env?: string[]) {
  const cfg = baseOciConfig({ annotations });
  if (env) cfg.process!.env = env;
  return cfg;
}

function logText(fx: RuntimeFixture): string {
  const file = path.join(fx.dir, 'runc.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Runs main with a `--log` file in the fixture, as containerd would. */
function run(fx: RuntimeFixture, argv: string[], env: Record<string, string> = {}): Promise<number> {
  return main(['--log', path.join(fx.dir, 'runc.log'), '--log-format', 'json', ...argv], {
    env: fixtureEnv(fx, env),
    cwd: fx.dir,
  });
}

/** The file's bytes; for something that is not a regular file (a FIFO must not be read), its identity. */
function snapshot(file: string): string {
  const st = lstatSync(file);
  return st.isFile() ? readFileSync(file, 'base64') : `${st.mode}:${st.ino}`;
}

/** Asserts the failure contract: exit 1, runc never started, config.json byte-identical, reason logged. */
async function assertRefused(t: Test, fx: RuntimeFixture, argv: string[], reason: RegExp, env: Record<string, string> = {}) {
  const before = snapshot(fx.configFile);
  const code = await run(fx, argv, env);
  t.equal(code, 1, 'exit status 1');
  t.equal(recordedArgv(fx), null, 'runc was not started');
  t.equal(snapshot(fx.configFile), before, 'config.json is byte-identical');
  t.match(logText(fx), reason, 'the reason is in runc\'s log');
}

t.test('create injects the requested device before runc runs, with the original argv', async (t) => {
  const fx = makeRuntimeFixture(withGpu());
  const argv = ['create', '--bundle', fx.bundle, '--pid-file', path.join(fx.dir, 'pid'), 'ctr1'];
  t.equal(await run(fx, argv), 0);
  t.same(recordedArgv(fx), ['--log', path.join(fx.dir, 'runc.log'), '--log-format', 'json', ...argv]);
  const seen = recordedConfig(fx);
  t.same(seen.linux?.devices?.map((d) => [d.path, d.major, d.minor]), [
    ['/dev/nvidiactl', 195, 255],
    ['/dev/nvidia0', 195, 0],
  ]);
  t.same(seen.mounts?.at(-1), {
    destination: '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
    type: 'bind',
    source: path.join(fx.libDir, 'libcuda.so.535.54.03'),
    options: ['ro', 'nosuid', 'nodev', 'rbind'],
  }, 'the mount source is the resolved host file');
  t.ok(seen.process?.env?.includes('ACCEL_INJECTED=1'));
  t.match(logText(fx), /"level":"info","msg":"accel-runtime: injected nvidia.com\/gpu=0"/);
});

t.test('run finds the bundle in the working directory when --bundle is absent', async (t) => {
  const fx = makeRuntimeFixture(withGpu());
  const code = await main(['run', 'ctr2'], { env: fixtureEnv(fx), cwd: fx.bundle });
  t.equal(code, 0);
  t.same(recordedArgv(fx), ['run', 'ctr2']);
  t.equal(recordedConfig(fx).linux?.devices?.length, 2);
});

t.test('every other command passes through untouched', async (t) => {
  for (const argv of [['start', 'c'], ['delete', '--force', 'c'], ['kill', 'c', 'KILL'], ['state', 'c'], ['exec', 'c', 'sh'], ['--version']]) {
    const fx = makeRuntimeFixture(withGpu());
    const before = readFileSync(fx.configFile);
    const code = await main(argv, { env: fixtureEnv(fx), cwd: fx.bundle });
    t.equal(code, 0, argv.join(' '));
    t.same(recordedArgv(fx), argv, `${argv.join(' ')}: argv unchanged`);
    t.ok(readFileSync(fx.configFile).equals(before), `${argv.join(' ')}: config.json untouched`);
  }
});

t.test("runc's exit status is propagated", async (t) => {
  const fx = makeRuntimeFixture();
  t.equal(await run(fx, ['delete', 'c'], { FAKE_RUNC_EXIT: '3' }), 3);
});

t.test('a container that asks for nothing gets nothing and its config is not rewritten', async (t) => {
  const fx = makeRuntimeFixture();
  const before = readFileSync(fx.configFile);
  t.equal(await run(fx, ['create', '-b', fx.bundle, 'c']), 0);
  t.ok(readFileSync(fx.configFile).equals(before));
  t.same(recordedArgv(fx)?.slice(-4), ['create', '-b', fx.bundle, 'c']);
});

t.test('env selection is ignored unless opted in, and honoured when it is', async (t) => {
  const fx = makeRuntimeFixture(withGpu({}, ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=all']));
  const before = readFileSync(fx.configFile);
  t.equal(await run(fx, ['create', '-b', fx.bundle, 'c']), 0, 'not an error: runc still runs');
  t.ok(readFileSync(fx.configFile).equals(before), 'nothing injected');
  t.match(logText(fx), /ignored NVIDIA_VISIBLE_DEVICES \(env selection is off\)/);

  const opted = makeRuntimeFixture(withGpu({}, ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=all']));
  t.equal(await run(opted, ['create', '-b', opted.bundle, 'c'], { ACCEL_RUNTIME_ALLOW_ENV_SELECTION: 'true' }), 0);
  t.same(recordedConfig(opted).linux?.devices?.map((d) => d.path), ['/dev/nvidiactl', '/dev/nvidia0', '/dev/nvidia1']);
});

t.test('LD_PRELOAD in the container env reaches neither the wrapper nor runc, and adds no hook', async (t) => {
  const fx = makeRuntimeFixture(withGpu(GPU0, ['PATH=/bin', 'LD_PRELOAD=/tmp/evil.so', 'LD_LIBRARY_PATH=/tmp']));
  t.equal(await run(fx, ['create', '-b', fx.bundle, 'c']), 0);
  const runcEnv = readFileSync(fx.recordEnv, 'utf8');
  t.notMatch(runcEnv, /LD_PRELOAD|LD_LIBRARY_PATH/);
  t.match(runcEnv, /ACCEL_RUNTIME_ACTIVE=1/, 'runc knows it was started by the wrapper');
  const seen = recordedConfig(fx);
  t.equal(seen.hooks, undefined, 'no hook that could inherit the variable');
  t.ok(seen.process?.env?.includes('LD_PRELOAD=/tmp/evil.so'), "the container's own env is its business");
});

t.test('image symlinks pointing into the host never become mount sources', async (t) => {
  const fx = makeRuntimeFixture(withGpu());
  const libInImage = path.join(fx.rootfs, 'usr/lib/x86_64-linux-gnu');
  mkdirSync(libInImage, { recursive: true });
  symlinkSync('/etc/shadow', path.join(libInImage, 'libcuda.so.1'));
  mkdirSync(path.join(fx.rootfs, 'dev'));
  symlinkSync('/dev/sda', path.join(fx.rootfs, 'dev/nvidia0'));
  t.equal(await run(fx, ['create', '-b', fx.bundle, 'c']), 0);
  const sources = (recordedConfig(fx).mounts ?? []).filter((m) => m.type === 'bind').map((m) => m.source);
  t.same(sources, [path.join(fx.libDir, 'libcuda.so.535.54.03')]);
});

t.test('a spec whose host path leads into the container rootfs is refused', async (t) => {
  const fx = makeRuntimeFixture(withGpu());
  writeFileSync(path.join(fx.rootfs, 'payload.so'), 'image content');
  // The host "driver" link now points into the image: an image must never become a mount source.
  const link = path.join(fx.libDir, 'libcuda.so.1');
  unlinkSync(link);
  symlinkSync(path.join(fx.rootfs, 'payload.so'), link);
  await assertRefused(t, fx, ['create', '-b', fx.bundle, 'c'], /resolves into the container's root filesystem/);
});

t.test('bad config.json: malformed, truncated, wrong shape, missing, not a regular file', async (t) => {
  const cases: Array<[string, (fx: RuntimeFixture) => void, RegExp]> = [
    ['malformed', (fx) => writeFileSync(fx.configFile, '{"ociVersion": "1.0.2",,}'), /not valid JSON/],
    ['truncated', (fx) => writeFileSync(fx.configFile, readFileSync(fx.configFile, 'utf8').slice(0, 90)), /not valid JSON/],
    ['not an object', (fx) => writeFileSync(fx.configFile, '[1,2]'), /top level/],
    ['bad field', (fx) => writeFileSync(fx.configFile, JSON.stringify({ ...withGpu(), mounts: 'x' })), /mounts must be an array/],
    ['bad annotation', (fx) => writeFileSync(fx.configFile, JSON.stringify({ ...withGpu(), annotations: { 'cdi.k8s.io/a': 7 } })), /annotations/],
    ['empty', (fx) => writeFileSync(fx.configFile, ''), /not valid JSON/],
    ['a FIFO', (fx) => { unlinkSync(fx.configFile); execFileSync('mkfifo', [fx.configFile]); }, /not a regular file/],
    ['a symlink', (fx) => { renameSync(fx.configFile, fx.configFile + '.real'); symlinkSync(fx.configFile + '.real', fx.configFile); }, /not a regular file/],
  ];
  for (const [name, spoil, reason] of cases) {
    const fx = makeRuntimeFixture(withGpu());
    spoil(fx);
    await t.test(name, (t) => assertRefused(t, fx, ['create', '-b', fx.bundle, 'c'], reason));
  }
  const fx = makeRuntimeFixture(withGpu());
  unlinkSync(fx.configFile);
  const code = await run(fx, ['create', '-b', fx.bundle, 'c']);
  t.equal(code, 1, 'missing config.json');
  t.equal(recordedArgv(fx), null);
  t.match(logText(fx), /cannot read .*config\.json/);
});

t.test('bad device requests: unknown, malformed, path-like names, doubly defined', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['unknown device', { 'cdi.k8s.io/a': 'nvidia.com/gpu=7' }, /unresolvable CDI device nvidia.com\/gpu=7/],
    ['unknown kind', { 'cdi.k8s.io/a': 'example.com/fpga=0' }, /unresolvable CDI device example.com\/fpga=0/],
    ['no kind', { 'cdi.k8s.io/a': 'gpu0' }, /invalid CDI device name/],
    ['dot-dot name', { 'cdi.k8s.io/a': 'nvidia.com/gpu=../../etc/shadow' }, /invalid CDI device name/],
    ['absolute path', { 'cdi.k8s.io/a': '/dev/sda' }, /invalid CDI device name/],
    ['bad key', { 'cdi.k8s.io/../../x': 'nvidia.com/gpu=0' }, /invalid CDI annotation key/],
  ];
  for (const [name, annotations, reason] of cases) {
    const fx = makeRuntimeFixture(withGpu(annotations));
    await t.test(name, (t) => assertRefused(t, fx, ['create', '-b', fx.bundle, 'c'], reason));
  }
  const fx = makeRuntimeFixture(withGpu());
  writeFileSync(path.join(fx.cdiDir, 'copy.json'), readFileSync(path.join(fx.cdiDir, 'nvidia.json')));
  await t.test('a device defined by two specs of one directory', (t) =>
    assertRefused(t, fx, ['create', '-b', fx.bundle, 'c'], /defined by more than one spec/));
});

t.test('a device requested twice is injected once', async (t) => {
  const fx = makeRuntimeFixture(withGpu({ 'cdi.k8s.io/a': 'nvidia.com/gpu=0,nvidia.com/gpu=0', 'cdi.k8s.io/b': 'nvidia.com/gpu=0' }));
  t.equal(await run(fx, ['create', '-b', fx.bundle, 'c']), 0);
  t.same(recordedConfig(fx).linux?.devices?.map((d) => d.path), ['/dev/nvidiactl', '/dev/nvidia0']);
});

t.test('settings that cannot work stop the wrapper before runc', async (t) => {
  const fx = makeRuntimeFixture(withGpu());
  await t.test('runc is missing', (t) =>
    assertRefused(t, fx, ['create', '-b', fx.bundle, 'c'], /not an executable file/, { ACCEL_RUNTIME_RUNC: path.join(fx.dir, 'nope') }));
  await t.test('the wrapper would start itself', (t) =>
    assertRefused(t, fx, ['create', '-b', fx.bundle, 'c'], /started by itself/, { ACCEL_RUNTIME_ACTIVE: '1' }));
  writeFileSync(path.join(fx.dir, 'bad.yaml'), 'runc: [\n');
  await t.test('the settings file is broken', (t) =>
    assertRefused(t, fx, ['create', '-b', fx.bundle, 'c'], /settings/, { ACCEL_RUNTIME_CONFIG: path.join(fx.dir, 'bad.yaml') }));
  await t.test('even pass-through commands need a runc', async (t) => {
    const code = await run(fx, ['delete', 'c'], { ACCEL_RUNTIME_RUNC: path.join(fx.dir, 'nope') });
    t.equal(code, 1);
  });
});

t.test("errors are written in runc's text log format when no format is given", async (t) => {
  const fx = makeRuntimeFixture(withGpu({ 'cdi.k8s.io/a': 'nvidia.com/gpu=9' }));
  const logFile = path.join(fx.dir, 'text.log');
  const code = await main(['--log', logFile, 'create', '-b', fx.bundle, 'c'], { env: fixtureEnv(fx) });
  t.equal(code, 1);
  t.match(readFileSync(logFile, 'utf8'), /^time="[^"]+" level=error msg="accel-runtime: unresolvable CDI device nvidia.com\/gpu=9 \(ACCEL_ERR_UNKNOWN_DEVICE\)"\n$/);
});
