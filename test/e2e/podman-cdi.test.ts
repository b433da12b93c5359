import t from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBuildDir } from '../../agent/package-root.js';
import {
  buildRootfs,
  e2eSkip,
  missingContainerTools,
  simhostMissing,
  simulatedGpuHost,
  type SimulatedGpuHost,
} from '../helpers/e2e-containers.js';
import { buildRuntime, type RuntimeBuild } from '../helpers/runtime-build.js';

/**
 * Podman, a real CDI consumer, reads the spec the agent generates for a
 * simulated vgn5i host; and podman started with accel-runtime as its OCI
 * runtime gets the same devices from a CDI annotation.
 *
 * Podman 4.3 only reads /etc/cdi and /var/run/cdi, so each podman runs in a
 * private mount namespace with the test's spec directory bound over
 * /var/run/cdi: the host's own CDI directory is neither read nor changed.
 */

const skip = e2eSkip();
const IMAGE = 'localhost/accel-e2e-busybox:latest';
const SHOW = 'stat -c "%n %F %t:%T" /dev/nvidia0 2>&1; ls /usr/lib/x86_64-linux-gnu; ldso-probe nvml; ldso-probe cuda; true';

// Containers, a TypeScript build and a C build: generous for slow, shared machines.
t.setTimeout(900_000);

let work: string;
let sim: SimulatedGpuHost;
let runtime: RuntimeBuild;
let runtimeShim: string;

function podman(args: string[], cdiDir: string): SpawnSyncReturns<string> {
  const base = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'), '--storage-driver', 'vfs'];
  return spawnSync(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" /var/run/cdi && shift && exec "$@"', 'sh', cdiDir, 'podman', ...base, ...args],
    { encoding: 'utf8', timeout: 180_000 },
  );
}

const RUN_FLAGS = ['run', '--rm', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none'];

t.before(async () => {
  if (skip) return;
  const missing = missingContainerTools();
  const stubs = simhostMissing();
  if (missing.length > 0 || stubs) throw new Error(`cannot run: ${[...missing.map((m) => `${m} not installed`), stubs].filter(Boolean).join('; ')}`);
  work = mkdtempSync(path.join(os.tmpdir(), 'accel-e2e-podman-'));
  sim = await simulatedGpuHost(work);
  mkdirSync('/var/run/cdi', { recursive: true });
  const rootfs = buildRootfs(path.join(work, 'rootfs'), {
    glibc: true,
    files: { '/usr/local/bin/ldso-probe': path.join(nativeBuildDir(), 'ldso-probe') },
  });
  const tar = path.join(work, 'rootfs.tar');
  const tarred = spawnSync('tar', ['-C', rootfs, '-cf', tar, '.'], { encoding: 'utf8' });
  if (tarred.status !== 0) throw new Error(`tar failed: ${tarred.stderr}`);
  const imported = podman(['import', '-q', tar, IMAGE], sim.cdiDir);
  if (imported.status !== 0) throw new Error(`podman import failed: ${imported.stderr}`);

  runtime = buildRuntime();
  runtimeShim = path.join(work, 'accel-runtime-shim');
  writeFileSync(
    runtimeShim,
    [
      '#!/bin/sh',
      `export ACCEL_RUNTIME_CDI_DIRS='${sim.cdiDir}'`,
      `export ACCEL_RUNTIME_CONFIG='${path.join(work, 'settings.json')}'`,
      "export ACCEL_RUNTIME_LAUNCHER_CACHE=''",
      `exec '${runtime.entry}' "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(runtimeShim, 0o755);
  writeFileSync(path.join(work, 'settings.json'), '{}');
});

/** runc containers (in runc's default state root, where podman keeps them) whose bundle is in this test's tree. */
function leftoverContainers(): string[] {
  const list = spawnSync('runc', ['list'], { encoding: 'utf8' });
  return list.stdout.split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[3]?.startsWith(work + '/')).map((f) => f[0]!);
}

t.teardown(() => {
  if (skip || !work) return;
  podman(['rm', '--all', '--force'], sim.cdiDir);
  for (const id of leftoverContainers()) spawnSync('runc', ['delete', '--force', id]);
  runtime?.remove();
  rmSync(work, { recursive: true, force: true });
});

/** The NVML stub's state file sits next to the library it serves; mounting it is test scaffolding. */
const nvmlState = () => ['-v', `${path.join(sim.root, 'usr/lib/x86_64-linux-gnu/nvml-stub.conf')}:/usr/lib/x86_64-linux-gnu/nvml-stub.conf:ro`];

t.test('podman --device nvidia.com/gpu=0 gives the container the node, the libraries, and working NVML/CUDA', { skip }, async (t) => {
  const r = podman([...RUN_FLAGS, '--device', 'nvidia.com/gpu=0', ...nvmlState(), IMAGE, 'sh', '-c', SHOW], sim.cdiDir);
  t.equal(r.status, 0, `podman exit 0 ${r.stderr}`);
  t.match(r.stdout, /\/dev\/nvidia0 character special file c3:0\n/, 'major 195, minor 0');
  t.match(r.stdout, /^libcuda\.so\.1$/m);
  t.match(r.stdout, /^libnvidia-ml\.so\.1$/m);
  t.match(r.stdout, /^nvml ok driver=470\.82\.01$/m, 'NVML loads by soname from the injected driver');
  t.match(r.stdout, /^cuda ok version=\d+$/m);
});

t.test('the same device by its UUID name and through "all"', { skip }, async (t) => {
  const uuid = sim.spec.devices.find((d) => d.name.startsWith('GPU-'))?.name;
  t.ok(uuid, 'the spec names the vGPU by UUID');
  for (const name of [`nvidia.com/gpu=${uuid}`, 'nvidia.com/gpu=all']) {
    const r = podman([...RUN_FLAGS, '--device', name, IMAGE, 'stat', '-c', '%t:%T', '/dev/nvidia0'], sim.cdiDir);
    t.equal(r.status, 0, `${name}: podman exit 0 ${r.stderr}`);
    t.equal(r.stdout.trim(), 'c3:0', name);
  }
});

t.test('a podman container that asks for no device gets none', { skip }, async (t) => {
  const r = podman([...RUN_FLAGS, ...nvmlState(), IMAGE, 'sh', '-c', SHOW], sim.cdiDir);
  t.equal(r.status, 0, `podman exit 0 ${r.stderr}`);
  t.match(r.stdout, /can't stat '\/dev\/nvidia0'/);
  t.notMatch(r.stdout, /libcuda|nvml ok|cuda ok/);
});

t.test('podman refuses a device the spec does not define', { skip }, async (t) => {
  const r = podman([...RUN_FLAGS, '--device', 'nvidia.com/gpu=3', IMAGE, 'true'], sim.cdiDir);
  t.not(r.status, 0);
  t.match(r.stderr, /nvidia\.com\/gpu=3/);
});

t.test('podman with accel-runtime as its OCI runtime injects from a CDI annotation', { skip }, async (t) => {
  const empty = path.join(work, 'no-cdi');
  mkdirSync(empty, { recursive: true });
  // Podman itself sees no spec here: only the wrapper (reading the test's spec dir) can inject the GPU.
  const r = podman(
    ['--runtime', runtimeShim, ...RUN_FLAGS, '--annotation', 'cdi.k8s.io/accel-e2e=nvidia.com/gpu=0', ...nvmlState(), IMAGE, 'sh', '-c', SHOW],
    empty,
  );
  t.equal(r.status, 0, `podman exit 0 ${r.stderr}`);
  t.match(r.stdout, /\/dev\/nvidia0 character special file c3:0\n/);
  t.match(r.stdout, /^nvml ok driver=470\.82\.01$/m);
  const plain = podman(['--runtime', runtimeShim, ...RUN_FLAGS, IMAGE, 'sh', '-c', SHOW], empty);
  t.equal(plain.status, 0, `podman exit 0 ${plain.stderr}`);
  t.match(plain.stdout, /can't stat '\/dev\/nvidia0'/, 'without the annotation the wrapper injects nothing');
  // podman deletes with a bare environment (no PATH): the wrapper must still find runc.
  t.same(leftoverContainers(), [], '--rm removed both containers through the wrapper');
});
