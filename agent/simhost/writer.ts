/**
 * Writes a HostSpec to a directory, producing a tree that reads like a real
 * host's /sys, /proc, /dev, /etc and driver install. The target must be
 * empty, or (with `force`) an earlier simulated host, which is cleared
 * first: the writer never merges into, or writes through, anything it did
 * not create itself.
 */
import { chmod, copyFile, constants, lstat, mkdir, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { isNotFound } from '../host/host-root.js';
import { silentLogger, type Logger } from '../log.js';
import { nativeBuildDir, packageVersion } from '../package-root.js';
import type { HostSpec } from './host-spec.js';
import { pciClassAttribute, pciIdAttribute } from './kernel-text.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, type ManifestDeviceNode, type SimhostManifest } from './manifest.js';
import { artifactPath, checkArtifacts } from './native-artifacts.js';
import { NVML_CONF_FILE, NVML_EVENTS_FILE, serialiseNvmlState } from './nvml-state.js';
import { buildLdCache, makeCharDevice, makeStaleSocket } from './special-files.js';
import { TreeWriter, writeSysfs } from './sysfs-writer.js';
import { mkdirIn, treePath } from './tree-path.js';

export interface WriteHostOptions {
  /** Replace an existing simulated host at the target (only a tree with a manifest is ever cleared). */
  force?: boolean;
  /** Fail when a device node cannot be made as a real char device, instead of leaving a placeholder. */
  strictDevices?: boolean;
  /** Where the native build left the NVML stub, nvidia-smi and fake libraries; `build/native` by default. */
  nativeDir?: string;
  /** The ldconfig to run; found in /usr/sbin, /sbin or PATH by default. */
  ldconfig?: string;
  /** The count the profile was asked for, recorded in the manifest. */
  requestedCount?: number | null;
  log?: Logger;
}

export interface WriteHostResult {
  /** The real path of the tree's root. */
  root: string;
  manifest: SimhostManifest;
}

const PLACEHOLDER_TOOL = (name: string) =>
  `#!/bin/sh\n# ${name} is not simulated; this stands in for the driver's binary so it can be found and mounted.\necho "${name}: simulated host placeholder" >&2\nexit 0\n`;

export async function writeHost(spec: HostSpec, dir: string, options: WriteHostOptions = {}): Promise<WriteHostResult> {
  const log = options.log ?? silentLogger;
  const nativeDir = options.nativeDir ?? nativeBuildDir();
  await checkArtifacts(spec, nativeDir);
  const root = await prepareTarget(dir, options.force === true);
  log.info({ profile: spec.profile, root }, 'writing simulated host');

  const w = new TreeWriter(root);
  const placeholders: string[] = [];
  const warnings: string[] = [];

  for (const d of spec.directories) await w.dir(d);
  await writeSysfs(root, spec);
  for (const f of spec.files) {
    await w.file(f.path, f.content, f.mode);
    if (f.path.startsWith('/lib/firmware/')) placeholders.push(f.path);
  }

  const deviceNodes: ManifestDeviceNode[] = [];
  for (const node of spec.deviceNodes) {
    await mkdirIn(root, path.posix.dirname(node.path));
    const made = await makeCharDevice(treePath(root, node.path), node.major, node.minor, node.mode);
    deviceNodes.push({ path: node.path, major: node.major, minor: node.minor, real: made.real });
    if (!made.real) {
      if (options.strictDevices === true) {
        throw new AccelError(ErrorCode.SIMHOST, `cannot make ${node.path} a char device (strictDevices): ${made.reason}`, { details: { root } });
      }
      placeholders.push(node.path);
      warnings.push(`${node.path}: ${made.reason}; a regular file stands in for it`);
    }
  }

  for (const lib of spec.libraries) {
    const dirPath = path.posix.dirname(lib.path);
    await mkdirIn(root, dirPath);
    const dest = treePath(root, lib.path);
    await copyFile(artifactPath(nativeDir, lib.artifact), dest, constants.COPYFILE_EXCL);
    await chmod(dest, 0o755);
    // The soname link names the real file; development links (`libcuda.so`) name the soname link.
    for (const link of lib.links) await w.link(`${dirPath}/${link}`, link === lib.soname ? lib.path : `${dirPath}/${lib.soname}`);
  }
  if (spec.nvml !== null) {
    await w.file(`${spec.nvml.dir}/${NVML_CONF_FILE}`, serialiseNvmlState(spec.nvml.state), 0o644);
    await w.file(`${spec.nvml.dir}/${NVML_EVENTS_FILE}`, '', 0o644);
  }

  for (const bin of spec.binaries) {
    await mkdirIn(root, path.posix.dirname(bin.path));
    const dest = treePath(root, bin.path);
    if (bin.artifact === null) {
      await writeFile(dest, PLACEHOLDER_TOOL(path.posix.basename(bin.path)), { mode: 0o755, flag: 'wx' });
      placeholders.push(bin.path);
    } else {
      await copyFile(artifactPath(nativeDir, bin.artifact), dest, constants.COPYFILE_EXCL);
      await chmod(dest, 0o755);
    }
  }

  const sockets: { path: string; real: boolean }[] = [];
  for (const socketPath of spec.sockets) {
    await mkdirIn(root, path.posix.dirname(socketPath));
    const made = await makeStaleSocket(treePath(root, socketPath));
    sockets.push({ path: socketPath, real: made.real });
    if (!made.real) {
      placeholders.push(socketPath);
      warnings.push(`${socketPath}: ${made.reason}; a regular file stands in for it`);
    }
  }

  const cache = await buildLdCache(root, options.ldconfig);
  if (!cache.real) warnings.push(cache.reason);

  const manifest: SimhostManifest = {
    format: MANIFEST_FORMAT,
    profile: spec.profile,
    description: spec.description,
    agentVersion: packageVersion(),
    createdAt: new Date().toISOString(),
    options: { count: options.requestedCount ?? null, strictDevices: options.strictDevices === true },
    pciFunctions: spec.pci.map((fn) => ({
      address: fn.address,
      vendorId: pciIdAttribute(fn.vendorId).trim(),
      deviceId: pciIdAttribute(fn.deviceId).trim(),
      classCode: pciClassAttribute(fn.classCode).trim(),
      driver: fn.driver,
    })),
    deviceNodes,
    libraries: spec.libraries.map((l) => ({ path: l.path, soname: l.soname, links: [...l.links] })),
    binaries: spec.binaries.map((b) => ({ path: b.path, copyOf: b.artifact === null ? null : path.basename(artifactPath(nativeDir, b.artifact)) })),
    sockets,
    nvml:
      spec.nvml === null ? null : { conf: `${spec.nvml.dir}/${NVML_CONF_FILE}`, events: `${spec.nvml.dir}/${NVML_EVENTS_FILE}` },
    kmsg: spec.kmsg,
    ldCache: { built: cache.real, detail: cache.reason },
    placeholders,
    warnings,
  };
  // Written last: a tree with a manifest is a complete one.
  await writeFile(path.join(root, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o644, flag: 'wx' });
  for (const warning of warnings) log.warn({ root }, warning);
  return { root, manifest };
}

/**
 * Makes `dir` an empty directory to write into and returns its real path.
 * A non-empty directory is cleared only with `force` and only when it holds
 * a manifest, so a mistyped path can never wipe someone's real directory.
 */
export async function prepareTarget(dir: string, force: boolean): Promise<string> {
  const wanted = path.resolve(dir);
  let st;
  try {
    st = await lstat(wanted);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await mkdir(wanted, { recursive: true });
    return realpath(wanted);
  }
  if (st.isSymbolicLink()) throw new AccelError(ErrorCode.SIMHOST, `target ${wanted} is a symlink; give the real directory`);
  if (!st.isDirectory()) throw new AccelError(ErrorCode.SIMHOST, `target ${wanted} exists and is not a directory`);
  const root = await realpath(wanted);
  const entries = await readdir(root);
  if (entries.length === 0) return root;
  if (!force) throw new AccelError(ErrorCode.SIMHOST, `target ${root} is not empty (force replaces an earlier simulated host)`);
  const manifest = await lstat(path.join(root, MANIFEST_FILE)).catch(() => null);
  if (manifest === null || !manifest.isFile()) {
    throw new AccelError(ErrorCode.SIMHOST, `target ${root} is not empty and is not a simulated host (no ${MANIFEST_FILE}); refusing to clear it`);
  }
  // rm does not follow symlinks, so links inside the old tree cannot lead it elsewhere.
  for (const entry of entries) await rm(path.join(root, entry), { recursive: true, force: true });
  return root;
}
