import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { isNotFound } from '../host/host-root.js';

/**
 * Paths inside a simulated host tree. The tree holds symlinks on purpose
 * (sysfs, soname links), so every write goes through real directories only:
 * a parent that is a symlink is refused, and nothing can be written outside
 * the root however the host path is spelled.
 */

/** The agent-side path of a host path inside `root`; refuses anything that is not a clean absolute path. */
export function treePath(root: string, hostPath: string): string {
  if (typeof hostPath !== 'string' || !hostPath.startsWith('/') || hostPath.includes('\0')) {
    throw escape(`not an absolute host path: ${JSON.stringify(hostPath)}`);
  }
  const parts = hostPath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw escape(`host path ${JSON.stringify(hostPath)} contains ..`);
  return path.join(root, ...parts);
}

/** Creates `hostDir` and its parents inside `root`, refusing to pass through a symlink or a non-directory. */
export async function mkdirIn(root: string, hostDir: string): Promise<string> {
  const parts = treePath(root, hostDir).slice(root.length).split(path.sep).filter(Boolean);
  let cur = root;
  for (const part of parts) {
    cur = path.join(cur, part);
    try {
      const st = await lstat(cur);
      if (!st.isDirectory()) throw escape(`${cur} exists and is not a directory (symlinks are not followed)`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await mkdir(cur);
      } catch (mkErr) {
        if ((mkErr as NodeJS.ErrnoException).code !== 'EEXIST') throw mkErr;
      }
    }
  }
  return cur;
}

/**
 * The agent-side path of `hostPath`, after checking that every existing
 * parent directory between `root` and it is a real directory. The last
 * component itself may be anything (callers decide what they accept).
 */
export async function checkedTreePath(root: string, hostPath: string): Promise<string> {
  const full = treePath(root, hostPath);
  const parts = path.dirname(full).slice(root.length).split(path.sep).filter(Boolean);
  let cur = root;
  for (const part of parts) {
    cur = path.join(cur, part);
    let st;
    try {
      st = await lstat(cur);
    } catch (err) {
      if (isNotFound(err)) return full;
      throw err;
    }
    if (!st.isDirectory()) throw escape(`${cur} is not a directory (symlinks are not followed)`);
  }
  return full;
}

function escape(message: string): AccelError {
  return new AccelError(ErrorCode.SIMHOST, message);
}
