import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import type { Device } from '../model/device.js';
import { minimumCdiVersion } from './cdi-version.js';
import type { CdiDevice, CdiSpec, ContainerEdits, DeviceNodeEdit, MountEdit } from './container-edits.js';
import type { DeviceNodeInfo } from './device-nodes.js';
import type { DriverFiles } from './driver-files.js';

/**
 * Builds CDI specs (pure). One spec per kind: a device per name (index and
 * stable id) plus `all`, each carrying only its own device nodes; the
 * driver's control nodes and files go in the spec-level edits, which a
 * runtime applies once whenever any device of the kind is requested.
 *
 * Libraries are made loadable without hooks: each is bind-mounted read-only
 * at its own path and again at its soname in the same directory, which is
 * the link the loader and `dlopen("libcuda.so.1")` look for. No hook runs
 * ldconfig inside the container (hooks that did were the NVIDIA toolkit's
 * CVE-2024-0132 / CVE-2025-23267 class of bugs), and LD_LIBRARY_PATH is not
 * set: a CDI env edit replaces a variable rather than appending to it, so it
 * would erase the search path an image sets for itself (CUDA images set one).
 * The loader therefore finds the libraries when their directory is one it
 * searches: the host's own directory serves images of the same distribution
 * family; `containerLibraryDir` moves them into the directory the images use.
 */

/**
 * Marks a spec as this agent's, so stale-spec removal never touches a file
 * another tool wrote. An env entry rather than an annotation because
 * annotations need cdiVersion 0.6.0, which podman 4.3 and early containerd 1.7
 * refuse; the variable is inert inside the container.
 */
export const OWNER_ENV = 'ACCEL_AGENT_CDI_GENERATOR=accel-agent';

/** Read-only, and no setuid binaries or device files through the mount. */
export const FILE_MOUNT_OPTIONS: readonly string[] = ['ro', 'nosuid', 'nodev', 'rbind'];
/** Sockets and firmware are never executed. */
const NOEXEC_MOUNT_OPTIONS: readonly string[] = ['ro', 'nosuid', 'nodev', 'noexec', 'rbind'];

const DEVICE_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?$/;
const DEVICE_NAME_MAX = 256;
const VENDOR_RE = /^[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const CLASS_RE = /^[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

export function deviceNameProblem(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'is empty';
  if (name.length > DEVICE_NAME_MAX) return `is longer than ${DEVICE_NAME_MAX} characters`;
  if (name.includes('..')) return 'contains ".."';
  if (!DEVICE_NAME_RE.test(name)) return 'must use only A-Z a-z 0-9 _ . : - and start and end with a letter or digit';
  return null;
}

export function checkDeviceName(name: string): void {
  const problem = deviceNameProblem(name);
  if (problem !== null) throw new AccelError(ErrorCode.CDI_INVALID, `CDI device name ${JSON.stringify(name)} ${problem}`);
}

export function checkKind(kind: string): void {
  const parts = typeof kind === 'string' ? kind.split('/') : [];
  if (parts.length !== 2 || kind.includes('..') || !VENDOR_RE.test(parts[0]!) || !CLASS_RE.test(parts[1]!)) {
    throw new AccelError(ErrorCode.CDI_INVALID, `CDI kind ${JSON.stringify(kind)} is not vendor/class (e.g. example.com/npu)`);
  }
}

export interface SpecDeviceInput {
  /** Every name the device answers to; the first is its primary name. */
  names: string[];
  deviceNodes: DeviceNodeEdit[];
}

export interface SpecInput {
  kind: string;
  devices: SpecDeviceInput[];
  /** Name of the device holding every device's nodes; null for none. */
  allName: string | null;
  containerEdits: ContainerEdits;
}

export function buildCdiSpec(input: SpecInput): CdiSpec {
  checkKind(input.kind);
  const seen = new Set<string>();
  const devices: CdiDevice[] = [];
  const add = (name: string, deviceNodes: DeviceNodeEdit[]) => {
    checkDeviceName(name);
    if (seen.has(name)) throw new AccelError(ErrorCode.CDI_INVALID, `CDI device name ${JSON.stringify(name)} is used twice in ${input.kind}`);
    seen.add(name);
    devices.push({ name, containerEdits: { deviceNodes: deviceNodes.map((n) => ({ ...n })) } });
  };
  for (const d of input.devices) for (const name of d.names) add(name, d.deviceNodes);
  if (input.allName !== null && input.devices.length > 0) add(input.allName, uniqueBy(input.devices.flatMap((d) => d.deviceNodes), (n) => n.path));

  const shared = compactEdits({ ...input.containerEdits, env: [OWNER_ENV, ...(input.containerEdits.env ?? [])] });
  const body = { kind: input.kind, devices, containerEdits: shared };
  return { cdiVersion: minimumCdiVersion(body), ...body };
}

/** The spec entry for one inspected node; `hostPath` only when the runtime must look elsewhere. */
export function deviceNodeEdit(info: DeviceNodeInfo, prefix: string): DeviceNodeEdit {
  const edit: DeviceNodeEdit = { path: info.path };
  const hostPath = prefix + info.source;
  if (hostPath !== info.path) edit.hostPath = hostPath;
  if (info.type !== null && info.major !== null && info.minor !== null) {
    edit.type = info.type;
    edit.major = info.major;
    edit.minor = info.minor;
  }
  return edit;
}

export interface DriverMountOptions {
  /** Prepended to every host path (see spec-host-prefix.ts). */
  prefix: string;
  /** Container directory for libraries and their soname links; null keeps each library's host directory. */
  containerLibraryDir: string | null;
}

/** The mounts for a driver's files, one per container path, in path order. */
export function driverMounts(files: DriverFiles, opts: DriverMountOptions): MountEdit[] {
  const mounts: MountEdit[] = [];
  const mount = (source: string, containerPath: string, options: readonly string[]) =>
    mounts.push({ hostPath: opts.prefix + source, containerPath, options: [...options] });
  for (const lib of files.libraries) {
    const dir = opts.containerLibraryDir ?? path.posix.dirname(lib.path);
    const name = path.posix.basename(lib.path);
    mount(lib.source, path.posix.join(dir, name), FILE_MOUNT_OPTIONS);
    if (lib.soname !== null && lib.soname !== name && !lib.soname.includes('/')) {
      mount(lib.source, path.posix.join(dir, lib.soname), FILE_MOUNT_OPTIONS);
    }
  }
  for (const f of [...files.binaries, ...files.otherFiles]) mount(f.source, f.path, FILE_MOUNT_OPTIONS);
  for (const f of [...files.firmware, ...files.sockets]) mount(f.source, f.path, NOEXEC_MOUNT_OPTIONS);
  return uniqueBy(mounts, (m) => m.containerPath).sort((a, b) => (a.containerPath < b.containerPath ? -1 : a.containerPath > b.containerPath ? 1 : 0));
}

export interface VendorSpecInput {
  kind: string;
  /** This vendor's devices. */
  devices: readonly Device[];
  controlNodes: readonly string[];
  files: DriverFiles;
  /** Inspected nodes by host path; a node absent here was missing or refused and is left out. */
  nodes: ReadonlyMap<string, DeviceNodeInfo>;
  mountOptions: DriverMountOptions;
}

/**
 * The spec for one vendor's devices, named by index and by stable id (the
 * UUID for NVIDIA), or null when no device is usable. Ids that are not valid
 * CDI names and devices without any usable node are left out and reported.
 */
export function vendorSpec(input: VendorSpecInput): { spec: CdiSpec | null; warnings: string[] } {
  const warnings: string[] = [];
  const prefix = input.mountOptions.prefix;
  const edits = (paths: readonly string[]) =>
    paths.flatMap((p) => {
      const info = input.nodes.get(p);
      return info === undefined ? [] : [deviceNodeEdit(info, prefix)];
    });
  const devices: SpecDeviceInput[] = [];
  for (const d of [...input.devices].sort((a, b) => a.index - b.index)) {
    const deviceNodes = edits(d.deviceNodes);
    if (deviceNodes.length === 0) {
      warnings.push(`device ${d.id} has no usable device node; left out of ${input.kind}`);
      continue;
    }
    const names = [String(d.index)];
    for (const alias of [d.uuid, d.id]) {
      if (alias === null || names.includes(alias)) continue;
      const problem = deviceNameProblem(alias);
      if (problem === null) names.push(alias);
      else warnings.push(`device ${d.id}: ${JSON.stringify(alias)} ${problem}; not offered as a CDI name`);
    }
    devices.push({ names, deviceNodes });
  }
  if (devices.length === 0) return { spec: null, warnings };
  const spec = buildCdiSpec({
    kind: input.kind,
    devices,
    allName: 'all',
    containerEdits: { deviceNodes: edits(input.controlNodes), mounts: driverMounts(input.files, input.mountOptions) },
  });
  return { spec, warnings };
}

/** Drops empty lists so the spec carries only fields it uses. */
export function compactEdits(e: ContainerEdits): ContainerEdits {
  const out: ContainerEdits = {};
  if (e.env?.length) out.env = [...e.env];
  if (e.deviceNodes?.length) out.deviceNodes = e.deviceNodes.map((n) => ({ ...n }));
  if (e.mounts?.length) out.mounts = e.mounts.map((m) => ({ ...m, ...(m.options ? { options: [...m.options] } : {}) }));
  if (e.hooks?.length) out.hooks = e.hooks.map((h) => ({ ...h }));
  if (e.additionalGids?.length) out.additionalGids = [...e.additionalGids];
  return out;
}

export function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
