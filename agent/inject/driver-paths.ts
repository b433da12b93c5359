import path from 'node:path';
import { EM_AARCH64, EM_X86_64 } from './elf-soname.js';
import type { LdCacheArch } from './ldcache.js';

/**
 * Where driver files live on a host, and the rules for recognising them.
 * Pure: the inventory in driver-files.ts does the looking.
 */

/**
 * Host directories a driver file may resolve into. Anything a symlink leads
 * to outside these is refused, so a planted link can never become a mount of
 * an arbitrary host file (/etc/shadow, a kubelet credential, ...).
 */
export const DEFAULT_DRIVER_ROOTS: readonly string[] = [
  '/usr/lib',
  '/usr/lib64',
  '/lib',
  '/lib64',
  '/usr/bin',
  '/usr/sbin',
  '/bin',
  '/sbin',
  '/usr/local',
  '/run/nvidia-persistenced',
];

/** Where NVIDIA's libraries are looked for when ld.so.cache does not say. */
export function defaultLibraryDirs(arch: LdCacheArch): string[] {
  const triplet = arch === 'aarch64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  return ['/usr/lib64', `/usr/lib/${triplet}`, '/lib64', `/lib/${triplet}`, '/usr/lib'];
}

export const DEFAULT_BINARY_DIRS: readonly string[] = ['/usr/bin', '/usr/local/bin', '/usr/sbin', '/bin', '/sbin'];

export const NVIDIA_BINARIES: readonly string[] = [
  'nvidia-smi',
  'nvidia-debugdump',
  'nvidia-persistenced',
  'nvidia-cuda-mps-control',
  'nvidia-cuda-mps-server',
];

/** The libraries whose cache entries point at the driver's library directories. */
export const NVIDIA_ANCHOR_SONAMES: readonly string[] = ['libcuda.so.1', 'libnvidia-ml.so.1'];

export const NVIDIA_SOCKETS: readonly string[] = ['/run/nvidia-persistenced/socket'];

export function nvidiaFirmwareDir(version: string): string {
  return `/lib/firmware/nvidia/${version}`;
}

const FIRMWARE_RE = /^gsp.*\.bin$/;
export function isGspFirmware(name: string): boolean {
  return FIRMWARE_RE.test(name);
}

/** A driver version as it appears in file names; refuses anything that could step out of a directory. */
export function isPlausibleVersion(version: string): boolean {
  return /^[0-9]+(?:\.[0-9]+){0,3}$/.test(version);
}

/** `libnvidia-ml.so.550.54.15` → true for version `550.54.15`. */
export function isVersionedLibrary(name: string, version: string): boolean {
  return name.startsWith('lib') && name.endsWith(`.so.${version}`) && name.length > `lib.so.${version}`.length;
}

/**
 * The driver version from the file an anchor soname link resolves to
 * (`/usr/lib64/libcuda.so.550.54.15` for `libcuda.so.1`), for hosts where
 * discovery could not read the version.
 */
export function versionFromLibraryPath(resolved: string, soname: string): string | null {
  const stem = soname.replace(/\.so\..*$/, '.so.');
  const name = path.posix.basename(resolved);
  if (!name.startsWith(stem)) return null;
  const version = name.slice(stem.length);
  return isPlausibleVersion(version) && version.includes('.') ? version : null;
}

/** Matches file names against shell-style globs (`*` and `?` only; no path separators). */
export function globMatcher(globs: readonly string[]): (name: string) => boolean {
  const res = globs.map(
    (g) => new RegExp('^' + g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$'),
  );
  return (name) => res.some((re) => re.test(name));
}

/** The ELF e_machine a library must carry to load on `arch`; null when the agent does not know it. */
export function elfMachineFor(arch: LdCacheArch): number | null {
  if (arch === 'x86_64') return EM_X86_64;
  if (arch === 'aarch64') return EM_AARCH64;
  return null;
}
