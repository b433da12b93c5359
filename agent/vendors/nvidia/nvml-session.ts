import { AccelError, ErrorCode } from '../../errors.js';
import type { HostRoot } from '../../host/host-root.js';
import { loadNvmlBinding, type NvmlBindingLoad, type NvmlSession } from './nvml-binding.js';
import { findNvmlLibrary, NVML_SONAME } from './nvml-library-path.js';

/** How callers reach the native NVML addon; tests stand in for it. */
export interface NvmlAccess {
  load(): NvmlBindingLoad;
}

export const defaultNvmlAccess: NvmlAccess = { load: () => loadNvmlBinding() };

export interface OpenedNvml {
  session: NvmlSession;
  /** The host path the library was loaded from. */
  hostPath: string;
  /** Candidates passed over on the way, with why (for logs and source reports). */
  refusals: string[];
}

/**
 * Opens an NVML session on the host's own driver library, found under the
 * host root (or at the configured host path). Discovery, health and
 * telemetry each open their own, so a long event wait never delays a sample.
 */
export async function openHostNvml(host: HostRoot, libraryPath: string | null, access: NvmlAccess = defaultNvmlAccess): Promise<OpenedNvml> {
  const lookup = await findNvmlLibrary(host, libraryPath === null ? {} : { candidates: [libraryPath], libraryDirs: [] });
  const refusals = lookup.refused.map((r) => `${r.candidate} refused: ${r.reason}`);
  if (lookup.found === null) {
    throw new AccelError(ErrorCode.NVML_UNAVAILABLE, [`${libraryPath ?? NVML_SONAME} not found on the host`, ...refusals].join('; '));
  }
  const load = access.load();
  if (!load.available) throw load.error;
  const session = await load.binding.open(lookup.found.agentPath);
  return { session, hostPath: lookup.found.hostPath, refusals };
}
