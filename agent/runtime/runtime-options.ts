import { AccelError, ErrorCode } from '../errors.js';
import { DEFAULT_ENV_SELECTORS, parseKind, type EnvSelector } from '../inject/device-request.js';
import { DEFAULT_CDI_SPEC_DIRS } from './cdi-load.js';

/**
 * The wrapper's settings. A container runtime starts it with its own
 * environment, so settings come from a small file plus environment variables
 * (which win), never from the agent's main configuration:
 *
 * | file key            | environment variable                | default                          |
 * |---------------------|-------------------------------------|----------------------------------|
 * | (the file itself)   | ACCEL_RUNTIME_CONFIG                | /etc/accel-agent/runtime.yaml, if present |
 * | runc                | ACCEL_RUNTIME_RUNC                  | `runc` found on PATH (never the wrapper itself) |
 * | cdiSpecDirs         | ACCEL_RUNTIME_CDI_DIRS (`:`-separated) | /etc/cdi, /var/run/cdi        |
 * | allowEnvSelection   | ACCEL_RUNTIME_ALLOW_ENV_SELECTION   | false                            |
 * | envSelectors        | (file only)                         | NVIDIA_VISIBLE_DEVICES → nvidia.com/gpu |
 * | (environment only)  | ACCEL_RUNTIME_LAUNCHER_CACHE (empty: off) | /run/accel-agent/runtime-edits |
 *
 * The cache directory is environment-only because the native launcher reads
 * no settings file and must look where the wrapper writes.
 */

export const DEFAULT_RUNTIME_CONFIG_FILE = '/etc/accel-agent/runtime.yaml';
export const DEFAULT_LAUNCHER_CACHE_DIR = '/run/accel-agent/runtime-edits';

export const RUNTIME_ENV = {
  config: 'ACCEL_RUNTIME_CONFIG',
  runc: 'ACCEL_RUNTIME_RUNC',
  cdiDirs: 'ACCEL_RUNTIME_CDI_DIRS',
  allowEnvSelection: 'ACCEL_RUNTIME_ALLOW_ENV_SELECTION',
  launcherCache: 'ACCEL_RUNTIME_LAUNCHER_CACHE',
} as const;

export interface RuntimeOptions {
  /** Absolute path or a command name looked up on PATH. */
  runc: string;
  cdiSpecDirs: string[];
  allowEnvSelection: boolean;
  envSelectors: EnvSelector[];
  /** Where the native launcher's pre-merged edits are kept; null turns the cache off. */
  launcherCacheDir: string | null;
}

type Env = Readonly<Record<string, string | undefined>>;

const FILE_KEYS = new Set(['runc', 'cdiSpecDirs', 'allowEnvSelection', 'envSelectors']);

function bad(where: string, problem: string): AccelError {
  return new AccelError(ErrorCode.CONFIG_INVALID, `accel-runtime settings: ${where} ${problem}`, { details: { where } });
}

function absolute(value: unknown, where: string): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.includes('\0')) throw bad(where, 'must be an absolute path');
  return value;
}

function runcPath(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('\0')) throw bad(where, 'must be a path or a command name');
  if (!value.startsWith('/') && value.includes('/')) throw bad(where, 'must be absolute or a bare command name');
  return value;
}

function bool(value: unknown, where: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  }
  throw bad(where, 'must be true or false');
}

function selectors(value: unknown): EnvSelector[] {
  if (!Array.isArray(value)) throw bad('envSelectors', 'must be a list');
  return value.map((s, i) => {
    const where = `envSelectors[${i}]`;
    if (typeof s !== 'object' || s === null) throw bad(where, 'must be {variable, kind}');
    const { variable, kind } = s as Record<string, unknown>;
    if (typeof variable !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw bad(`${where}.variable`, 'must be a variable name');
    if (typeof kind !== 'string') throw bad(`${where}.kind`, 'must be vendor.com/class');
    try {
      parseKind(kind);
    } catch {
      throw bad(`${where}.kind`, 'must be vendor.com/class');
    }
    return { variable, kind };
  });
}

/** Settings from the parsed file (null when there is none) overlaid with the environment. */
export function parseRuntimeOptions(file: unknown, env: Env): RuntimeOptions {
  const opts: RuntimeOptions = {
    runc: 'runc',
    cdiSpecDirs: [...DEFAULT_CDI_SPEC_DIRS],
    allowEnvSelection: false,
    envSelectors: DEFAULT_ENV_SELECTORS.map((s) => ({ ...s })),
    launcherCacheDir: DEFAULT_LAUNCHER_CACHE_DIR,
  };
  if (file !== null && file !== undefined) {
    if (typeof file !== 'object' || Array.isArray(file)) throw bad('file', 'must be a mapping');
    const f = file as Record<string, unknown>;
    for (const key of Object.keys(f)) if (!FILE_KEYS.has(key)) throw bad(key, 'is not a known setting');
    if (f.runc !== undefined) opts.runc = runcPath(f.runc, 'runc');
    if (f.cdiSpecDirs !== undefined) {
      if (!Array.isArray(f.cdiSpecDirs)) throw bad('cdiSpecDirs', 'must be a list');
      opts.cdiSpecDirs = f.cdiSpecDirs.map((d, i) => absolute(d, `cdiSpecDirs[${i}]`));
    }
    if (f.allowEnvSelection !== undefined) opts.allowEnvSelection = bool(f.allowEnvSelection, 'allowEnvSelection');
    if (f.envSelectors !== undefined) opts.envSelectors = selectors(f.envSelectors);
  }
  const runc = env[RUNTIME_ENV.runc];
  if (runc !== undefined) opts.runc = runcPath(runc, RUNTIME_ENV.runc);
  const dirs = env[RUNTIME_ENV.cdiDirs];
  if (dirs !== undefined) {
    opts.cdiSpecDirs = dirs.split(':').filter((d) => d !== '').map((d) => absolute(d, RUNTIME_ENV.cdiDirs));
  }
  const allow = env[RUNTIME_ENV.allowEnvSelection];
  if (allow !== undefined) opts.allowEnvSelection = bool(allow, RUNTIME_ENV.allowEnvSelection);
  const cache = env[RUNTIME_ENV.launcherCache];
  if (cache !== undefined) opts.launcherCacheDir = cache === '' ? null : absolute(cache, RUNTIME_ENV.launcherCache);
  return opts;
}
