import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';

/**
 * Searched when PATH is unset or empty: engines call the runtime with a
 * bare environment for some commands (podman's `delete` gets no PATH).
 */
export const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface FindRuncOptions {
  /** The PATH to search when `runc` is a bare name; DEFAULT_SEARCH_PATH when unset or empty. */
  pathEnv: string | undefined;
  /**
   * Files that are the wrapper itself (its script, the native launcher): a
   * wrapper installed as `runc` must never find and start itself.
   */
  self: readonly string[];
}

async function realOrNull(p: string): Promise<string | null> {
  try {
    return await realpath(p);
  } catch {
    return null;
  }
}

async function isExecutableFile(p: string): Promise<boolean> {
  try {
    if (!(await stat(p)).isFile()) return false;
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of the real runc: `runc` as configured, or the first match on PATH that is not the wrapper. */
export async function findRunc(runc: string, options: FindRuncOptions): Promise<string> {
  const selves = new Set((await Promise.all(options.self.map(realOrNull))).filter((p): p is string => p !== null));
  const isSelf = async (p: string): Promise<boolean> => {
    const real = await realOrNull(p);
    return real !== null && selves.has(real);
  };
  if (runc.startsWith('/')) {
    if (!(await isExecutableFile(runc))) {
      throw new AccelError(ErrorCode.RUNTIME_EXEC, `runc ${runc} is not an executable file`, { details: { runc } });
    }
    if (await isSelf(runc)) {
      throw new AccelError(ErrorCode.RUNTIME_EXEC, `runc ${runc} is accel-runtime itself`, { details: { runc } });
    }
    return runc;
  }
  // Relative PATH entries would make the choice depend on the caller's working directory.
  const search = options.pathEnv === undefined || options.pathEnv === '' ? DEFAULT_SEARCH_PATH : options.pathEnv;
  const dirs = search.split(':').filter((d) => path.isAbsolute(d));
  for (const dir of dirs) {
    const candidate = path.join(dir, runc);
    if ((await isExecutableFile(candidate)) && !(await isSelf(candidate))) return candidate;
  }
  throw new AccelError(ErrorCode.RUNTIME_EXEC, `cannot find ${runc} on PATH (other than accel-runtime itself)`, {
    details: { runc },
  });
}
