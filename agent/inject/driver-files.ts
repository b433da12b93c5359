import { lstat, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode, describeError, isAccelError } from '../errors.js';
import { isNotFound, type HostRoot } from '../host/host-root.js';
import type { VendorName } from '../model/device.js';
import type { NpuProfile } from '../vendors/hanguang/profile.js';
import {
  DEFAULT_BINARY_DIRS,
  DEFAULT_DRIVER_ROOTS,
  NVIDIA_ANCHOR_SONAMES,
  NVIDIA_BINARIES,
  NVIDIA_SOCKETS,
  defaultLibraryDirs,
  elfMachineFor,
  globMatcher,
  isGspFirmware,
  isPlausibleVersion,
  isVersionedLibrary,
  nvidiaFirmwareDir,
  versionFromLibraryPath,
} from './driver-paths.js';
import { readElfInfo, type ByteSource } from './elf-soname.js';
import { findSoname, ldCacheArchOf, parseLdCache, type LdCacheArch } from './ldcache.js';

/**
 * The driver files a container needs, found on the host. Every path is
 * resolved inside the host root and must land under an allowed driver root;
 * a symlink that leaves them is refused and listed, never mounted.
 */

export interface DriverFile {
  /** Host path where the file was found: the name programs use, and the path inside the container. */
  path: string;
  /** Host path of the file itself, links followed within the allowed roots: what gets mounted. */
  source: string;
}

export interface DriverLibrary extends DriverFile {
  /** DT_SONAME read from the file; null when it has none. */
  soname: string | null;
}

export interface RefusedPath {
  path: string;
  reason: string;
}

export interface DriverFiles {
  vendor: VendorName;
  version: string | null;
  /** Host directories the libraries were taken from, in search order. */
  libraryDirs: string[];
  libraries: DriverLibrary[];
  binaries: DriverFile[];
  firmware: DriverFile[];
  sockets: DriverFile[];
  /** Files a vendor profile names explicitly (configuration, data files). */
  otherFiles: DriverFile[];
  refused: RefusedPath[];
  warnings: string[];
}

export interface NvidiaDriverFilesOptions {
  /** From discovery; when null it is read from the file libcuda.so.1 resolves to. */
  version: string | null;
  allowedRoots?: readonly string[];
  /** Searched when ld.so.cache is missing, damaged or lists no driver library. */
  fallbackLibraryDirs?: readonly string[];
  binaryDirs?: readonly string[];
  binaries?: readonly string[];
  ldCachePath?: string;
  arch?: LdCacheArch;
}

/** The part of an NPU profile that names driver files (binaries may also be bare names, searched like NVIDIA's). */
export type NpuDriverProfile = Pick<NpuProfile, 'libraryDirs' | 'libraryGlobs' | 'binaries' | 'extraFiles'>;

export interface NpuDriverFilesOptions {
  allowedRoots?: readonly string[];
  binaryDirs?: readonly string[];
  arch?: LdCacheArch;
}

type FileKind = 'file' | 'socket' | 'dir';

/** Records refusals and warnings while the inventory is walked. */
class Collector {
  readonly refused: RefusedPath[] = [];
  readonly warnings: string[] = [];

  constructor(
    readonly host: HostRoot,
    readonly allowed: readonly string[],
  ) {}

  /** The resolved host path, or null (missing, refused or of the wrong kind — recorded). */
  async resolve(hostPath: string, kinds: readonly FileKind[], quietIfMissing = true): Promise<string | null> {
    let resolved: string | null;
    try {
      resolved = await this.host.resolveWithin(hostPath, this.allowed);
    } catch (err) {
      if (!isAccelError(err, ErrorCode.SYMLINK_ESCAPE) && !isAccelError(err, ErrorCode.HOST_PATH_ESCAPE)) throw err;
      this.refused.push({ path: hostPath, reason: err.message });
      return null;
    }
    if (resolved === null) {
      if (!quietIfMissing) this.warnings.push(`${hostPath} does not exist or is a dangling link`);
      return null;
    }
    let st;
    try {
      st = await lstat(this.host.path(resolved));
    } catch (err) {
      if (!isNotFound(err)) throw new AccelError(ErrorCode.HOST_READ, `cannot stat ${resolved}`, { cause: err });
      if (!quietIfMissing) this.warnings.push(`${hostPath} vanished while it was inspected`);
      return null;
    }
    const kind: FileKind | null = st.isFile() ? 'file' : st.isSocket() ? 'socket' : st.isDirectory() ? 'dir' : null;
    if (kind === null || !kinds.includes(kind)) {
      this.warnings.push(`${hostPath} is not a ${kinds.join(' or ')}; skipped`);
      return null;
    }
    return resolved;
  }

  /** A directory's resolved path and sorted entries, or null when it is missing or refused. */
  async listDir(dir: string): Promise<{ resolved: string; names: string[] } | null> {
    const resolved = await this.resolve(dir, ['dir']);
    if (resolved === null) return null;
    return { resolved, names: await this.host.list(resolved) };
  }

  async library(hostPath: string, machine: number | null): Promise<DriverLibrary | null> {
    const source = await this.resolve(hostPath, ['file'], false);
    if (source === null) return null;
    try {
      const info = await withFile(this.host.path(source), readElfInfo);
      if (machine !== null && info.machine !== machine) {
        this.warnings.push(`${hostPath} is built for ELF machine ${info.machine}, not this host's; skipped`);
        return null;
      }
      return { path: hostPath, source, soname: info.soname };
    } catch (err) {
      if (!isAccelError(err, ErrorCode.HOST_PARSE)) throw err;
      this.warnings.push(`${hostPath} is not a usable shared object (${err.message}); skipped`);
      return null;
    }
  }

  /**
   * The first of `dirs/name` that exists, as a shell's PATH search would pick
   * it; an absolute `name` is taken as it is. A refused first match is not
   * replaced by a later one, so what gets mounted is what the host would run.
   */
  async binary(name: string, dirs: readonly string[], warnIfMissing: boolean): Promise<DriverFile | null> {
    const candidates = name.startsWith('/') ? [name] : dirs.map((d) => path.posix.join(d, name));
    for (const candidate of candidates) {
      if (!(await this.host.exists(candidate))) continue;
      const source = await this.resolve(candidate, ['file'], false);
      return source === null ? null : { path: candidate, source };
    }
    if (warnIfMissing) this.warnings.push(`${name} not found in ${candidates.join(', ')}`);
    return null;
  }
}

async function withFile<T>(agentPath: string, fn: (src: ByteSource) => Promise<T>): Promise<T> {
  const fh = await open(agentPath, 'r');
  try {
    const { size } = await fh.stat();
    return await fn({
      size,
      read: async (offset, length) => {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return buf.subarray(0, bytesRead);
      },
    });
  } finally {
    await fh.close();
  }
}

/** NVIDIA's driver files for the version discovery found (or the one the libraries carry). */
export async function nvidiaDriverFiles(host: HostRoot, opts: NvidiaDriverFilesOptions): Promise<DriverFiles> {
  const arch = opts.arch ?? ldCacheArchOf(process.arch);
  const c = new Collector(host, opts.allowedRoots ?? DEFAULT_DRIVER_ROOTS);
  const { dirs, inferredVersion } = await nvidiaLibraryDirs(c, opts, arch);

  let version = opts.version;
  if (version !== null && !isPlausibleVersion(version)) {
    c.warnings.push(`driver version ${JSON.stringify(version)} is not a version number; ignored`);
    version = null;
  }
  version ??= inferredVersion;
  const files: DriverFiles = {
    vendor: 'nvidia',
    version,
    libraryDirs: [],
    libraries: [],
    binaries: [],
    firmware: [],
    sockets: [],
    otherFiles: [],
    refused: c.refused,
    warnings: c.warnings,
  };
  if (version === null) {
    c.warnings.push('NVIDIA driver version unknown: no driver libraries, binaries or firmware collected');
    return files;
  }

  const machine = elfMachineFor(arch);
  for (const dir of dirs) {
    const listing = await c.listDir(dir);
    if (listing === null) continue;
    const names = listing.names.filter((n) => isVersionedLibrary(n, version));
    if (names.length === 0) continue;
    files.libraryDirs.push(dir);
    for (const name of names) {
      const lib = await c.library(path.posix.join(dir, name), machine);
      if (lib !== null) files.libraries.push(lib);
    }
  }
  if (files.libraries.length === 0) c.warnings.push(`no *.so.${version} libraries found in ${dirs.join(', ')}`);

  for (const name of opts.binaries ?? NVIDIA_BINARIES) {
    const bin = await c.binary(name, opts.binaryDirs ?? DEFAULT_BINARY_DIRS, false);
    if (bin !== null) files.binaries.push(bin);
  }

  const fwDir = nvidiaFirmwareDir(version);
  const fw = await c.listDir(fwDir);
  for (const name of fw?.names.filter(isGspFirmware) ?? []) {
    const p = path.posix.join(fwDir, name);
    const source = await c.resolve(p, ['file'], false);
    if (source !== null) files.firmware.push({ path: p, source });
  }

  for (const socket of NVIDIA_SOCKETS) {
    const source = await c.resolve(socket, ['socket']);
    if (source !== null) files.sockets.push({ path: socket, source });
  }
  return files;
}

/**
 * The directories holding the driver's libraries, from the ld.so.cache
 * entries of the anchor sonames for this architecture (each as the cache
 * names it and as its link resolves), else the standard directories.
 */
async function nvidiaLibraryDirs(
  c: Collector,
  opts: NvidiaDriverFilesOptions,
  arch: LdCacheArch,
): Promise<{ dirs: string[]; inferredVersion: string | null }> {
  const dirs: string[] = [];
  let inferredVersion: string | null = null;
  const add = (d: string) => {
    if (!dirs.includes(d)) dirs.push(d);
  };
  const cachePath = opts.ldCachePath ?? '/etc/ld.so.cache';
  const entries = await readCache(c, cachePath);
  for (const soname of NVIDIA_ANCHOR_SONAMES) {
    for (const entry of findSoname(entries, soname, arch)) {
      const resolved = await c.resolve(entry.path, ['file'], false);
      if (resolved === null) continue;
      add(path.posix.dirname(entry.path));
      add(path.posix.dirname(resolved));
      inferredVersion ??= versionFromLibraryPath(resolved, soname);
    }
  }
  if (dirs.length > 0) return { dirs, inferredVersion };

  const fallback = opts.fallbackLibraryDirs ?? defaultLibraryDirs(arch);
  if (entries.length > 0) c.warnings.push(`${cachePath} lists no ${NVIDIA_ANCHOR_SONAMES.join(' or ')} for ${arch}; searching ${fallback.join(', ')}`);
  for (const dir of fallback) {
    add(dir);
    for (const soname of NVIDIA_ANCHOR_SONAMES) {
      if (inferredVersion !== null) break;
      const resolved = await c.resolve(path.posix.join(dir, soname), ['file']);
      if (resolved !== null) inferredVersion = versionFromLibraryPath(resolved, soname);
    }
  }
  return { dirs, inferredVersion };
}

async function readCache(c: Collector, cachePath: string) {
  const resolved = await c.host.resolve(cachePath);
  if (resolved === null) {
    c.warnings.push(`${cachePath} is missing`);
    return [];
  }
  try {
    return parseLdCache(await readFile(c.host.path(resolved)));
  } catch (err) {
    c.warnings.push(`${cachePath} unusable: ${describeError(err)}`);
    return [];
  }
}

/** An NPU driver's files as its profile describes them; the profile's own directories are allowed roots. */
export async function npuDriverFiles(
  host: HostRoot,
  profile: NpuDriverProfile,
  opts: NpuDriverFilesOptions = {},
): Promise<DriverFiles> {
  const arch = opts.arch ?? ldCacheArchOf(process.arch);
  const allowed = [
    ...(opts.allowedRoots ?? DEFAULT_DRIVER_ROOTS),
    ...profile.libraryDirs,
    ...profile.binaries.filter((b) => b.startsWith('/')).map((b) => path.posix.dirname(b)),
    ...profile.extraFiles,
  ];
  const c = new Collector(host, allowed);
  const files: DriverFiles = {
    vendor: 'hanguang',
    version: null,
    libraryDirs: [],
    libraries: [],
    binaries: [],
    firmware: [],
    sockets: [],
    otherFiles: [],
    refused: c.refused,
    warnings: c.warnings,
  };
  const matches = globMatcher(profile.libraryGlobs);
  const machine = elfMachineFor(arch);
  for (const dir of profile.libraryDirs) {
    const listing = await c.listDir(dir);
    if (listing === null) {
      c.warnings.push(`NPU library directory ${dir} is missing`);
      continue;
    }
    const names = listing.names.filter(matches);
    if (names.length > 0) files.libraryDirs.push(dir);
    for (const name of names) {
      const lib = await c.library(path.posix.join(dir, name), machine);
      if (lib !== null) files.libraries.push(lib);
    }
  }
  for (const name of profile.binaries) {
    const bin = await c.binary(name, opts.binaryDirs ?? DEFAULT_BINARY_DIRS, true);
    if (bin !== null) files.binaries.push(bin);
  }
  for (const p of profile.extraFiles) {
    const source = await c.resolve(p, ['file', 'dir', 'socket'], false);
    if (source !== null) files.otherFiles.push({ path: p, source });
  }
  return files;
}
