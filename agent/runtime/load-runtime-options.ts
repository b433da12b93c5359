import { AccelError, ErrorCode } from '../errors.js';
import { isNotFound } from '../host/host-root.js';
import { readSmallFile } from './cdi-load.js';
import { DEFAULT_RUNTIME_CONFIG_FILE, parseRuntimeOptions, RUNTIME_ENV, type RuntimeOptions } from './runtime-options.js';

const MAX_SETTINGS_BYTES = 256 * 1024;

/**
 * Reads the settings file named by ACCEL_RUNTIME_CONFIG (which must exist),
 * or the default one when present, and overlays the environment.
 */
export async function loadRuntimeOptions(env: Readonly<Record<string, string | undefined>>): Promise<RuntimeOptions> {
  const named = env[RUNTIME_ENV.config];
  const file = named !== undefined && named !== '' ? named : DEFAULT_RUNTIME_CONFIG_FILE;
  let parsed: unknown = null;
  try {
    const text = (await readSmallFile(file, MAX_SETTINGS_BYTES)).toString('utf8');
    if (file.endsWith('.json')) parsed = JSON.parse(text) as unknown;
    else parsed = (await import('yaml')).parse(text) as unknown;
  } catch (err) {
    if (!(isNotFound(err) && file === DEFAULT_RUNTIME_CONFIG_FILE)) {
      throw new AccelError(ErrorCode.CONFIG_UNREADABLE, `accel-runtime settings ${file}: ${(err as Error).message}`, {
        cause: err,
        details: { file },
      });
    }
  }
  return parseRuntimeOptions(parsed, env);
}
