import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { HostRoot } from '../../agent/host/host-root.js';
import { numberDevices } from '../../agent/discovery/inventory.js';
import { cdiGenerate, NVIDIA_CDI_KIND } from '../../agent/inject/cdi-command.js';
import type { CdiSpec } from '../../agent/inject/container-edits.js';
import type { OciConfig, OciMount } from '../../agent/inject/oci-edit.js';
import { silentLogger } from '../../agent/log.js';
import type { Device, DriverInfo } from '../../agent/model/device.js';
import { nativeBuildDir } from '../../agent/package-root.js';
import { simhostCreate } from '../../agent/simhost/command.js';
import { defaultNvmlAccess } from '../../agent/vendors/nvidia/source-nvml.js';
import { createNvidiaVendor } from '../../agent/vendors/nvidia/vendor.js';

/**
 * Real containers for end-to-end tests: a busybox root filesystem (plus the
 * host's glibc loader for dynamically linked probes), a simulated vgn5i host
 * and the CDI spec the agent's own generator writes for it.
 */

/** Why these tests cannot run here, or false. Only a missing root is a reason to skip. */
export function e2eSkip(): string | false {
  return process.getuid?.() === 0 ? false : 'end-to-end container tests need root (runc and podman create device nodes and mounts)';
}

/** Tools the tests need; missing ones are a failure on a machine that should have them, not a skip. */
export function missingContainerTools(): string[] {
  const need = ['runc', 'podman', 'busybox', 'unshare', 'mount'];
  return need.filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

function which(tool: string): string {
  return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
}

export interface RootfsOptions {
  /** Copy the host's dynamic loader and libc so dynamically linked programs run. */
  glibc?: boolean;
  /** Host files copied into the rootfs: container path → host path. */
  files?: Record<string, string>;
}

/** A busybox root filesystem: /bin/busybox, one symlink per applet, and the usual empty mount points. */
export function buildRootfs(dir: string, options: RootfsOptions = {}): string {
  for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'etc', 'usr/lib/x86_64-linux-gnu']) mkdirSync(path.join(dir, d), { recursive: true });
  const busybox = realpathSync(which('busybox'));
  copyFileSync(busybox, path.join(dir, 'bin/busybox'));
  execFileSync('chmod', ['755', path.join(dir, 'bin/busybox')]);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const applet of applets) symlinkSync('busybox', path.join(dir, 'bin', applet));
  if (options.glibc) {
    copyInto(dir, '/lib64/ld-linux-x86-64.so.2');
    copyInto(dir, '/lib/x86_64-linux-gnu/libc.so.6');
  }
  for (const [inside, host] of Object.entries(options.files ?? {})) copyInto(dir, inside, host);
  return dir;
}

function copyInto(rootfs: string, inside: string, host = inside): void {
  const target = path.join(rootfs, inside);
  mkdirSync(path.dirname(target), { recursive: true });
  copyFileSync(realpathSync(host), target);
  execFileSync('chmod', ['755', target]);
}

export interface SimulatedGpuHost {
  root: string;
  cdiDir: string;
  spec: CdiSpec;
}

/** Why the simulated host cannot be built (native stubs missing), or false. */
export function simhostMissing(): string | false {
  for (const file of ['libnvidia-ml.so.1', 'accel_nvml.node', 'ldso-probe']) {
    if (!existsSync(path.join(nativeBuildDir(), file))) return `build/native/${file} is missing: run scripts/build-native.sh`;
  }
  return false;
}

/**
 * A vgn5i host (one GRID P4-2Q vGPU) under `dir`, and the spec the agent's
 * `cdi generate` writes for it in `dir/cdi`: discovery through the NVML stub,
 * driver files from the host's ld.so.cache, device nodes as they are, host
 * paths prefixed with the simulated root because runc sees the real host.
 */
export async function simulatedGpuHost(dir: string): Promise<SimulatedGpuHost> {
  const { root } = await simhostCreate({ profile: 'vgn5i', dir: path.join(dir, 'host'), strictDevices: true });
  const cdiDir = path.join(dir, 'cdi');
  const result = await cdiGenerate({ hostRoot: root, outputDir: cdiDir, specHostPrefix: 'root', discover: discoverNvidia, npu: false });
  const spec = result.vendors.find((v) => v.kind === NVIDIA_CDI_KIND)?.spec ?? null;
  if (spec === null) throw new Error(`cdi generate wrote no NVIDIA spec for the simulated host: ${result.warnings.join('; ')}`);
  return { root, cdiDir, spec };
}

async function discoverNvidia(host: HostRoot): Promise<{ devices: Device[]; drivers: DriverInfo[] }> {
  const vendor = createNvidiaVendor({}, { nvml: defaultNvmlAccess });
  try {
    const found = await vendor.discover({ host, log: silentLogger });
    return { devices: numberDevices(found.devices), drivers: [found.driver] };
  } finally {
    await vendor.close();
  }
}

export interface BundleOptions {
  args: string[];
  annotations?: Record<string, string>;
  env?: string[];
  mounts?: OciMount[];
}

/** An OCI bundle made by `runc spec`, then given a command, annotations and extra mounts. */
export function makeBundle(dir: string, rootfs: string, options: BundleOptions): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('runc', ['spec', '--bundle', dir]);
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as OciConfig & { process: { terminal?: boolean; args?: string[] } };
  config.root = { path: rootfs, readonly: true };
  config.process.terminal = false;
  config.process.args = options.args;
  if (options.env) config.process.env = [...(config.process.env ?? []), ...options.env];
  if (options.annotations) config.annotations = options.annotations;
  if (options.mounts) config.mounts = [...(config.mounts ?? []), ...options.mounts];
  writeFileSync(file, JSON.stringify(config, null, 2));
  return dir;
}

/**
 * The simulated NVML stub finds its state file next to itself; inside a
 * container that is the directory the library was injected into. The state
 * file is test scaffolding, not driver content, so the test mounts it.
 */
export function nvmlStateMount(hostRoot: string): OciMount {
  return {
    destination: '/usr/lib/x86_64-linux-gnu/nvml-stub.conf',
    source: path.join(hostRoot, 'usr/lib/x86_64-linux-gnu/nvml-stub.conf'),
    type: 'bind',
    options: ['ro', 'rbind'],
  };
}
