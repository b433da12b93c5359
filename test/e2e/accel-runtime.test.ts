import t from 'tap';
import { spawnSync } from 'node:child_process';
import { execFileSync, spawnSync as run } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBuildDir, packageRoot } from '../../agent/package-root.js';
import type { OciConfig } from '../../agent/inject/oci-edit.js';
import {
  buildRootfs,
  e2eSkip,
  makeBundle,
  missingContainerTools,
  nvmlStateMount,
  simhostMissing,
  simulatedGpuHost,
  type SimulatedGpuHost,
} from '../helpers/e2e-containers.js';
import { buildRuntime, type RuntimeBuild } from '../helpers/runtime-build.js';

/**
 * accel-runtime in front of the real runc: containers started from OCI
 * bundles get exactly the devices their config.json asks for, through the
 * CDI spec the agent generates for a simulated vgn5i host.
 */

const skip = e2eSkip();
const GPU0 = { 'cdi.k8s.io/accel-e2e': 'nvidia.com/gpu=0' };
const SHOW = 'stat -c "%n %F %t:%T" /dev/nvidia0 /dev/nvidiactl 2>&1; ls /usr/lib/x86_64-linux-gnu; true';

// Containers, a TypeScript build and a C build: generous for slow, shared machines.
t.setTimeout(900_000);

let work: string;
let runtime: RuntimeBuild;
let sim: SimulatedGpuHost;
let stateRoot: string;
let seq = 0;
let rootfsSeq = 0;

t.before(async () => {
  if (skip) return;
  const missing = [...missingContainerTools()];
  const stubs = simhostMissing();
  if (missing.length > 0 || stubs) throw new Error(`cannot run: ${[...missing.map((m) => `${m} not installed`), stubs].filter(Boolean).join('; ')}`);
  work = mkdtempSync(path.join(os.tmpdir(), 'accel-e2e-runtime-'));
  runtime = buildRuntime();
  sim = await simulatedGpuHost(work);
  stateRoot = path.join(work, 'runc-state');
  writeFileSync(path.join(work, 'settings.json'), '{}');
});

t.teardown(() => {
  if (skip) return;
  runtime?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  bundle: string;
  configBefore: Buffer;
}

/**
 * A fresh root filesystem per container, as an engine gives each one: runc
 * leaves mount points behind in a rootfs, which a later container must not see.
 */
function freshRootfs(): string {
  return buildRootfs(path.join(work, `rootfs-${++rootfsSeq}`), {
    glibc: true,
    files: { '/usr/local/bin/ldso-probe': path.join(nativeBuildDir(), 'ldso-probe') },
  });
}

/** `accel-runtime --root <state> run --bundle <b> <id>` with the container's output captured. */
function runContainer(
  options: { args?: string[]; annotations?: Record<string, string>; env?: string[]; nvmlState?: boolean; rootfs?: string },
  runtimeEnv: Record<string, string> = {},
  program: string = runtime.entry,
): Run {
  const bundle = path.join(work, `bundle-${++seq}`);
  makeBundle(bundle, options.rootfs ?? freshRootfs(), {
    args: options.args ?? ['sh', '-c', SHOW],
    ...(options.annotations ? { annotations: options.annotations } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.nvmlState ? { mounts: [nvmlStateMount(sim.root)] } : {}),
  });
  const configBefore = readFileSync(path.join(bundle, 'config.json'));
  const r = spawnSync(program, ['--root', stateRoot, 'run', '--bundle', bundle, `accel-e2e-${process.pid}-${seq}`], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      ACCEL_RUNTIME_CONFIG: path.join(work, 'settings.json'),
      ACCEL_RUNTIME_CDI_DIRS: sim.cdiDir,
      ACCEL_RUNTIME_LAUNCHER_CACHE: '',
      ...runtimeEnv,
    },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, bundle, configBefore };
}

t.test('a CDI annotation gives the container the GPU node (195:0), the control node and the driver libraries', { skip }, async (t) => {
  const r = runContainer({ annotations: GPU0 });
  t.equal(r.status, 0, `exit status 0 ${r.stderr}`);
  t.match(r.stdout, /\/dev\/nvidia0 character special file c3:0\n/, 'major 195 (0xc3), minor 0');
  t.match(r.stdout, /\/dev\/nvidiactl character special file c3:ff\n/);
  for (const lib of ['libcuda.so.1', 'libcuda.so.470.82.01', 'libnvidia-ml.so.1', 'libnvidia-ml.so.470.82.01']) {
    t.match(r.stdout, new RegExp(`^${lib.replace(/\./g, '\\.')}$`, 'm'), `${lib} is in the container`);
  }
  const config = JSON.parse(readFileSync(path.join(r.bundle, 'config.json'), 'utf8')) as OciConfig;
  const sources = (config.mounts ?? []).filter((m) => m.type === 'bind').map((m) => m.source ?? '');
  t.ok(sources.length > 0 && sources.every((s) => s.startsWith(sim.root + '/')), 'every injected source is a host driver file');
});

t.test('the dynamically linked probe loads NVML and CUDA by soname from the injected driver', { skip }, async (t) => {
  const r = runContainer({ annotations: GPU0, args: ['sh', '-c', 'ldso-probe nvml && ldso-probe cuda'], nvmlState: true });
  t.equal(r.status, 0, `exit status 0 ${r.stderr}`);
  t.match(r.stdout, /^nvml ok driver=470\.82\.01$/m);
  t.match(r.stdout, /^cuda ok version=\d+$/m);
});

t.test('a container that asked for nothing gets nothing, and its config.json is untouched', { skip }, async (t) => {
  const r = runContainer({ args: ['sh', '-c', `${SHOW}; ldso-probe nvml; echo probe=$?`], nvmlState: true });
  t.equal(r.status, 0, `exit status 0 ${r.stderr}`);
  t.match(r.stdout, /\/dev\/nvidia0: No such file or directory|can't stat '\/dev\/nvidia0'/);
  t.notMatch(r.stdout, /libcuda|libnvidia-ml\.so/);
  t.match(r.stdout, /probe=1/, 'the probe cannot load NVML');
  t.ok(readFileSync(path.join(r.bundle, 'config.json')).equals(r.configBefore));
});

t.test('NVIDIA_VISIBLE_DEVICES selects nothing unless the operator opted in', { skip }, async (t) => {
  const off = runContainer({ env: ['NVIDIA_VISIBLE_DEVICES=all'] });
  t.equal(off.status, 0, `exit status 0 ${off.stderr}`);
  t.notMatch(off.stdout, /character special file c3:0/);
  t.ok(readFileSync(path.join(off.bundle, 'config.json')).equals(off.configBefore));
  const on = runContainer({ env: ['NVIDIA_VISIBLE_DEVICES=all'] }, { ACCEL_RUNTIME_ALLOW_ENV_SELECTION: 'true' });
  t.equal(on.status, 0, `exit status 0 ${on.stderr}`);
  t.match(on.stdout, /\/dev\/nvidia0 character special file c3:0/);
});

t.test('image symlinks aimed at host files never expose them', { skip }, async (t) => {
  const secret = path.join(work, 'host-secret');
  writeFileSync(secret, 'HOST-SECRET-CONTENT\n');
  const evil = buildRootfs(path.join(work, 'evil-rootfs'));
  mkdirSync(path.join(evil, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  symlinkSync(secret, path.join(evil, 'usr/lib/x86_64-linux-gnu/libcuda.so.1'));
  symlinkSync(secret, path.join(evil, 'usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1'));
  const r = runContainer({
    annotations: GPU0,
    rootfs: evil,
    args: ['sh', '-c', 'cat /usr/lib/x86_64-linux-gnu/libcuda.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 | head -c 4 | od -c | head -1; cat ' + secret + ' 2>&1; true'],
  });
  t.equal(r.status, 0, `exit status 0 ${r.stderr}`);
  t.notMatch(r.stdout, /HOST-SECRET-CONTENT/, 'the host file is not readable in the container');
  t.match(r.stdout, /177\s+E\s+L\s+F/, 'the container reads the injected ELF library');
  t.equal(readFileSync(secret, 'utf8'), 'HOST-SECRET-CONTENT\n', 'the host file is unchanged');
  const config = JSON.parse(readFileSync(path.join(r.bundle, 'config.json'), 'utf8')) as OciConfig;
  t.notOk((config.mounts ?? []).some((m) => m.source === secret || (m.source ?? '').startsWith(evil)), 'no mount source is in the image or its link targets');
});

t.test('a request the runtime cannot satisfy creates no container and leaves config.json as it was', { skip }, async (t) => {
  const r = runContainer({ annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=7' } });
  t.equal(r.status, 1);
  t.match(r.stderr, /level=error msg="accel-runtime: unresolvable CDI device nvidia.com\/gpu=7/);
  t.ok(readFileSync(path.join(r.bundle, 'config.json')).equals(r.configBefore));
  const list = spawnSync('runc', ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8' });
  t.equal(list.stdout.trim(), '', 'runc has no container');
});

t.test('a spec pointing into a rootfs is refused with real runc too', { skip }, async (t) => {
  // Rewrite a copy of the spec so its libcuda mount comes from inside the image.
  const cdi = path.join(work, 'cdi-evil');
  mkdirSync(cdi);
  const spec = JSON.parse(JSON.stringify(sim.spec)) as typeof sim.spec;
  const image = freshRootfs();
  const planted = path.join(image, 'planted.so');
  writeFileSync(planted, 'image bytes');
  const mount = spec.containerEdits?.mounts?.find((m) => m.containerPath.endsWith('libcuda.so.1'));
  t.ok(mount, 'the generated spec mounts libcuda.so.1');
  mount!.hostPath = planted;
  writeFileSync(path.join(cdi, 'evil.json'), JSON.stringify(spec));
  const r = runContainer({ annotations: GPU0, rootfs: image }, { ACCEL_RUNTIME_CDI_DIRS: cdi });
  t.equal(r.status, 1);
  t.match(r.stderr, /resolves into the container's root filesystem/);
  t.ok(readFileSync(path.join(r.bundle, 'config.json')).equals(r.configBefore));
});

t.test('the native launcher, from the cache the wrapper keeps, gives a real container the same devices', { skip }, async (t) => {
  const out = path.join(work, 'launcher');
  execFileSync('bash', [path.join(packageRoot(), 'native-bindings/accel-runtime-launcher/build.sh'), out], { stdio: 'pipe' });
  const cache = path.join(work, 'launcher-cache');
  const handedOver = path.join(work, 'handed-over');
  const shim = path.join(work, 'node-wrapper');
  writeFileSync(shim, `#!/bin/sh\necho "$*" >> '${handedOver}'\nexec '${runtime.entry}' "$@"\n`);
  chmodSync(shim, 0o755);
  const env = { ACCEL_RUNTIME_LAUNCHER_CACHE: cache, ACCEL_RUNTIME_NODE_WRAPPER: shim, ACCEL_RUNTIME_RUNC: '/usr/sbin/runc' };
  const warm = runContainer({}, env, path.join(out, 'accel-runtime'));
  t.equal(warm.status, 0, `first container, through the wrapper: ${warm.stderr}`);
  t.ok(existsSync(path.join(cache, 'launcher.cache')), 'the wrapper wrote the cache');
  rmSync(handedOver, { force: true });
  const r = runContainer({ annotations: GPU0, args: ['sh', '-c', `${SHOW}; ldso-probe nvml`], nvmlState: true }, env, path.join(out, 'accel-runtime'));
  t.equal(r.status, 0, `exit status 0 ${r.stderr}`);
  t.notOk(existsSync(handedOver), 'the launcher did it alone');
  t.match(r.stdout, /\/dev\/nvidia0 character special file c3:0\n/);
  t.match(r.stdout, /^nvml ok driver=470\.82\.01$/m);
  t.equal(run('runc', ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8' }).stdout.trim(), '', 'run deleted the container');
});
