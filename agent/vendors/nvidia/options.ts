import { AccelError, ErrorCode } from '../../errors.js';

/** The sources the NVIDIA vendor can ask, best first. */
export type NvidiaSourceName = 'nvml' | 'nvidia-smi' | 'procfs' | 'sysfs';
export const NVIDIA_SOURCES: readonly NvidiaSourceName[] = ['nvml', 'nvidia-smi', 'procfs', 'sysfs'];

export interface NvidiaOptions {
  /** False skips NVIDIA discovery entirely (no driver report, no devices). */
  enabled: boolean;
  /** Host path of libnvidia-ml.so.1; null searches the host's usual library directories. */
  nvmlLibraryPath: string | null;
  /** Host path of nvidia-smi, run from inside the host root. */
  smiPath: string;
  /** nvidia-smi is killed after this long; a hung GPU makes it hang too. */
  smiTimeoutMs: number;
  /**
   * Sources to try, in order; discovery stops at the first that answers.
   * Leaving one out disables it (e.g. ['procfs', 'sysfs'] never loads NVML).
   */
  sources: NvidiaSourceName[];
}

export const DEFAULT_NVIDIA_OPTIONS: Readonly<NvidiaOptions> = Object.freeze({
  enabled: true,
  nvmlLibraryPath: null,
  smiPath: '/usr/bin/nvidia-smi',
  smiTimeoutMs: 5000,
  sources: [...NVIDIA_SOURCES],
});

/** Fills in defaults and refuses values that would make discovery misbehave. */
export function resolveNvidiaOptions(partial: Partial<NvidiaOptions> = {}): NvidiaOptions {
  const opts: NvidiaOptions = { ...DEFAULT_NVIDIA_OPTIONS, sources: [...DEFAULT_NVIDIA_OPTIONS.sources], ...partial };
  const fail = (key: string, why: string) =>
    new AccelError(ErrorCode.CONFIG_INVALID, `nvidia.${key}: ${why}`, { details: { key } });
  if (typeof opts.enabled !== 'boolean') throw fail('enabled', 'expected true or false');
  if (opts.nvmlLibraryPath !== null && !isAbsolute(opts.nvmlLibraryPath)) throw fail('nvmlLibraryPath', 'expected an absolute host path or null');
  if (!isAbsolute(opts.smiPath)) throw fail('smiPath', 'expected an absolute host path');
  if (!Number.isInteger(opts.smiTimeoutMs) || opts.smiTimeoutMs < 1 || opts.smiTimeoutMs > 600_000) {
    throw fail('smiTimeoutMs', 'expected an integer between 1 and 600000');
  }
  if (!Array.isArray(opts.sources)) throw fail('sources', `expected a list of ${NVIDIA_SOURCES.join(', ')}`);
  const seen = new Set<string>();
  for (const s of opts.sources) {
    if (!NVIDIA_SOURCES.includes(s)) throw fail('sources', `unknown source ${JSON.stringify(s)}; expected ${NVIDIA_SOURCES.join(', ')}`);
    if (seen.has(s)) throw fail('sources', `${s} listed twice`);
    seen.add(s);
  }
  return opts;
}

function isAbsolute(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && !p.includes('\0');
}
