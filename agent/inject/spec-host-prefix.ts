import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';

/**
 * Paths in a CDI spec are read by the container runtime on the host, not by
 * the agent. The agent may see the host somewhere else (a DaemonSet mounts
 * it at /host; a simulated host is a directory tree), so every host path it
 * writes into a spec gets this prefix:
 *
 *   unset, '' or 'strip'  ''          the runtime's view is the host itself:
 *                                     the agent on the node (host root /) or
 *                                     in a DaemonSet reading the host at /host
 *   'root'                host root   the runtime sees the same tree the agent
 *                                     reads: simulated hosts, chroot-style tests
 *   an absolute path      that path   anything else, spelled out
 */
export type SpecHostPrefixSetting = string | undefined;

export function resolveSpecHostPrefix(hostRoot: string, setting: SpecHostPrefixSetting): string {
  if (setting === undefined || setting === '' || setting === 'strip') return '';
  if (setting === 'root') return trimRoot(hostRoot);
  if (setting.startsWith('/') && !setting.includes('\0') && !setting.split('/').includes('..')) return trimRoot(setting);
  throw new AccelError(
    ErrorCode.CONFIG_INVALID,
    `CDI host prefix ${JSON.stringify(setting)}: expected "strip", "root" or an absolute path without ".."`,
    { details: { key: 'cdiHostPrefix' } },
  );
}

function trimRoot(p: string): string {
  const normal = path.posix.normalize(p);
  return normal === '/' ? '' : normal.replace(/\/+$/, '');
}

