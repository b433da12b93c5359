import { lstat } from 'node:fs/promises';
import { describeError } from '../../errors.js';
import type { HostRoot } from '../../host/host-root.js';

export const NVML_SONAME = 'libnvidia-ml.so.1';

/** Where distributions and the NVIDIA installer put the library, most common first. */
export const DEFAULT_NVML_LIBRARY_DIRS: readonly string[] = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib/x86_64-linux-gnu',
  '/lib64',
];

/**
 * Host directories a candidate may finally resolve into. Loading a library
 * runs its code inside this privileged agent, so a link pointing anywhere
 * else (a container's rootfs, /tmp, a home directory) is refused.
 * /usr/local/nvidia is where Kubernetes driver installers commonly place it.
 */
export const DEFAULT_NVML_ALLOWED_ROOTS: readonly string[] = [
  '/usr/lib',
  '/usr/lib64',
  '/lib',
  '/lib64',
  '/usr/local/lib',
  '/usr/local/nvidia',
];

export interface NvmlLibraryLookupOptions {
  /** Host paths of the library to try first, in order (e.g. from the host's ld.so.cache or configuration). */
  candidates?: readonly string[];
  /** Directories searched for NVML_SONAME after the candidates; [] searches none. */
  libraryDirs?: readonly string[];
  allowedRoots?: readonly string[];
}

export interface NvmlLibraryLocation {
  /** The candidate that led to the library, as a host path. */
  hostPath: string;
  /** The file it resolves to, every symlink followed inside the host root. */
  resolvedHostPath: string;
  /** The same file on the agent's own filesystem: what to hand to dlopen. */
  agentPath: string;
}

export interface NvmlLibraryLookup {
  found: NvmlLibraryLocation | null;
  /** Candidates that exist but were not trusted, with the reason, for the operator's log. */
  refused: { candidate: string; reason: string }[];
}

/**
 * Finds the host's libnvidia-ml.so.1. A candidate that does not exist is
 * skipped quietly; one that exists but escapes the allowed roots, is not a
 * regular file, or is writable by anyone is refused and reported, and the
 * search goes on.
 */
export async function findNvmlLibrary(host: HostRoot, options: NvmlLibraryLookupOptions = {}): Promise<NvmlLibraryLookup> {
  const dirs = options.libraryDirs ?? DEFAULT_NVML_LIBRARY_DIRS;
  const allowed = options.allowedRoots ?? DEFAULT_NVML_ALLOWED_ROOTS;
  const candidates = [...(options.candidates ?? []), ...dirs.map((d) => `${d.replace(/\/+$/, '')}/${NVML_SONAME}`)];
  const refused: NvmlLibraryLookup['refused'] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (seen.has(candidate)) continue;
    seen.add(candidate);
    let resolved: string | null;
    try {
      resolved = await host.resolveWithin(candidate, allowed);
    } catch (err) {
      refused.push({ candidate, reason: describeError(err) });
      continue;
    }
    if (resolved === null) continue;
    const agentPath = host.path(resolved);
    let st;
    try {
      st = await lstat(agentPath);
    } catch (err) {
      refused.push({ candidate, reason: `cannot stat ${resolved}: ${describeError(err)}` });
      continue;
    }
    if (!st.isFile()) {
      refused.push({ candidate, reason: `${resolved} is not a regular file` });
      continue;
    }
    if ((st.mode & 0o002) !== 0) {
      refused.push({ candidate, reason: `${resolved} is writable by every user` });
      continue;
    }
    return { found: { hostPath: candidate, resolvedHostPath: resolved, agentPath }, refused };
  }
  return { found: null, refused };
}
