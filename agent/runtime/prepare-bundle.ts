import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic-file.js';
import { isNotFound, isWithin } from '../host/host-root.js';
import type { ContainerEdits, DeviceNodeEdit, MountEdit } from '../inject/container-edits.js';
import { requestedDevices, type EnvSelector } from '../inject/device-request.js';
import { applyContainerEdits } from '../inject/oci-edit.js';
import { readBundleConfig } from './bundle-config.js';
import { loadCdiSpecs } from './cdi-load.js';
import { indexSpecs, resolveEdits } from './cdi-resolve.js';

export interface PrepareBundleOptions {
  cdiSpecDirs: readonly string[];
  allowEnvSelection: boolean;
  envSelectors: readonly EnvSelector[];
}

export interface PrepareResult {
  /** Devices injected (after `all` was expanded); empty when the container asked for none. */
  devices: string[];
  /** Selector variables present in the container env but ignored (env selection off). */
  ignoredEnv: string[];
  /** Whether config.json was rewritten. */
  written: boolean;
}

/** A device node's kind and numbers, read from the host when the spec left them out. */
async function completeDeviceNode(node: DeviceNodeEdit, rootfs: string | null): Promise<DeviceNodeEdit> {
  const hostPath = node.hostPath ?? node.path;
  const real = await realHostPath(hostPath, `device node ${node.path}`, rootfs);
  if (node.type !== undefined && node.major !== undefined && node.minor !== undefined) return node;
  const st = await stat(real, { bigint: true });
  if (!st.isCharacterDevice() && !st.isBlockDevice()) {
    throw new AccelError(ErrorCode.CDI_INVALID, `device node ${node.path}: ${hostPath} is not a device`, {
      details: { hostPath },
    });
  }
  // Linux's dev_t layout: major in bits 8-19 and 44-63, minor in bits 0-7 and 20-43.
  const rdev = st.rdev;
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
  return {
    ...node,
    type: node.type ?? (st.isCharacterDevice() ? 'c' : 'b'),
    major: node.major ?? major,
    minor: node.minor ?? minor,
  };
}

/**
 * The real path of a host path named by a spec. It must exist and must not
 * lie inside the container's own root filesystem: nothing from the image is
 * ever a mount source, however a spec or a symlink points at it.
 */
async function realHostPath(hostPath: string, what: string, rootfs: string | null): Promise<string> {
  let real: string;
  try {
    real = await realpath(hostPath);
  } catch (err) {
    const why = isNotFound(err) ? 'does not exist' : (err as Error).message;
    throw new AccelError(ErrorCode.CDI_INVALID, `${what}: host path ${hostPath} ${why}`, { cause: err, details: { hostPath } });
  }
  if (rootfs !== null && isWithin(real, rootfs)) {
    throw new AccelError(ErrorCode.SYMLINK_ESCAPE, `${what}: host path ${hostPath} resolves into the container's root filesystem`, {
      details: { hostPath, real },
    });
  }
  return real;
}

async function pinMount(mount: MountEdit, rootfs: string | null): Promise<MountEdit> {
  const source = await realHostPath(mount.hostPath, `mount ${mount.containerPath}`, rootfs);
  return { ...mount, hostPath: source };
}

/** The real path of the bundle's rootfs, or null when it does not exist (runc will refuse the bundle then). */
async function realRootfs(bundleDir: string, rootPath: string | undefined): Promise<string | null> {
  if (rootPath === undefined) return null;
  try {
    return await realpath(path.resolve(bundleDir, rootPath));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Host-side checks and completions, done before the pure OCI edit. */
export async function pinEdits(edits: ContainerEdits, rootfs: string | null): Promise<ContainerEdits> {
  return {
    ...edits,
    deviceNodes: await Promise.all((edits.deviceNodes ?? []).map((n) => completeDeviceNode(n, rootfs))),
    mounts: await Promise.all((edits.mounts ?? []).map((m) => pinMount(m, rootfs))),
  };
}

/**
 * Injects the devices a bundle's config.json asks for. When it asks for none
 * the file is not touched; otherwise it is replaced atomically, and on any
 * error it is left exactly as it was.
 */
export async function prepareBundle(bundleDir: string, options: PrepareBundleOptions): Promise<PrepareResult> {
  const { file, config, mode } = await readBundleConfig(bundleDir);
  const request = requestedDevices(
    { annotations: config.annotations, env: config.process?.env },
    { allowEnvSelection: options.allowEnvSelection, envSelectors: options.envSelectors },
  );
  if (request.devices.length === 0) return { devices: [], ignoredEnv: request.ignoredEnv, written: false };

  const { specs, problems } = await loadCdiSpecs(options.cdiSpecDirs);
  const resolved = resolveEdits(indexSpecs(specs, problems), request.devices);
  const rootfs = await realRootfs(bundleDir, config.root?.path);
  const edited = applyContainerEdits(config, await pinEdits(resolved.edits, rootfs));
  await writeFileAtomic(file, JSON.stringify(edited), { mode });
  return { devices: resolved.devices, ignoredEnv: request.ignoredEnv, written: true };
}
