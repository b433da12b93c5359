import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { lstat, readFile, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';

/** How many symlinks one resolution may follow, as the kernel's ELOOP limit. */
const MAX_LINKS = 40;

/**
 * Every host path the agent reads goes through one HostRoot, so the same code
 * runs on a node (`/`), in a DaemonSet (`/host`) and on a simulated host tree.
 * Paths handed in and out are host paths ("/dev/nvidia0"); only `path()`
 * produces a path on the agent's own filesystem.
 */
export class HostRoot {
  readonly root: string;

  constructor(root = '/') {
    this.root = path.resolve(root);
  }

  /** The agent-side path of a host path. The host path must be absolute and is normalised first. */
  path(hostPath: string): string {
    const clean = normaliseHostPath(hostPath);
    // Both halves are normalised already: plain concatenation is what path.join would give, at a fraction of its cost.
    if (this.root === '/') return clean;
    return clean === '/' ? this.root : this.root + clean;
  }

  /** The host path of an agent-side path under the root (inverse of `path`). */
  toHostPath(agentPath: string): string {
    const rel = path.relative(this.root, path.resolve(agentPath));
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new AccelError(ErrorCode.HOST_PATH_ESCAPE, `${agentPath} is outside host root ${this.root}`);
    }
    return '/' + rel.split(path.sep).join('/');
  }

  async readText(hostPath: string): Promise<string> {
    try {
      return await readFile(this.path(hostPath), 'utf8');
    } catch (err) {
      throw new AccelError(ErrorCode.HOST_READ, `cannot read ${hostPath}`, { cause: err, details: { hostPath } });
    }
  }

  /** Reads a file, or returns null when it does not exist (other errors still throw). */
  async readTextIfExists(hostPath: string): Promise<string | null> {
    try {
      return await readFile(this.path(hostPath), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new AccelError(ErrorCode.HOST_READ, `cannot read ${hostPath}`, { cause: err, details: { hostPath } });
    }
  }

  async list(hostPath: string): Promise<string[]> {
    try {
      return (await readdir(this.path(hostPath))).sort();
    } catch (err) {
      if (isNotFound(err)) return [];
      throw new AccelError(ErrorCode.HOST_READ, `cannot list ${hostPath}`, { cause: err, details: { hostPath } });
    }
  }

  /** `list` without the thread pool and unsorted; see `readLinkSync` for where that is fitting. */
  listSync(hostPath: string): string[] {
    try {
      return readdirSync(this.path(hostPath));
    } catch (err) {
      if (isNotFound(err)) return [];
      throw new AccelError(ErrorCode.HOST_READ, `cannot list ${hostPath}`, { cause: err, details: { hostPath } });
    }
  }

  async exists(hostPath: string): Promise<boolean> {
    try {
      await lstat(this.path(hostPath));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The text of a symlink, or null when the path is missing or not a
   * symlink. Synchronous, like `existsSync`, and for the same paths only:
   * sysfs and devtmpfs, which the kernel answers from memory without ever
   * blocking. Checks that run for every device twice a second would
   * otherwise spend far more on the round trip through libuv's thread pool
   * than on the system call itself.
   */
  readLinkSync(hostPath: string): string | null {
    try {
      return readlinkSync(this.path(hostPath));
    } catch (err) {
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return null;
      throw new AccelError(ErrorCode.HOST_READ, `cannot read the link ${hostPath}`, { cause: err, details: { hostPath } });
    }
  }

  /** `exists` without the thread pool; see `readLinkSync` for where that is fitting. */
  existsSync(hostPath: string): boolean {
    const p = this.path(hostPath);
    // access(2) follows links, so it can only say yes where lstat would too, and it
    // builds no Stats object nor throws; lstat decides the rest (a dangling link).
    if (existsSync(p)) return true;
    try {
      lstatSync(p);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Resolves a host path to the host path it finally names, following every
   * symlink as the host kernel would (absolute targets start at the host root,
   * never at the agent's `/`), one component at a time so no link can step out
   * of the root. Returns null when some component does not exist.
   */
  async resolve(hostPath: string): Promise<string | null> {
    const pending = normaliseHostPath(hostPath).split('/').filter(Boolean);
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      const candidate = '/' + [...done, part].join('/');
      let st;
      try {
        st = await lstat(this.path(candidate));
      } catch (err) {
        if (isNotFound(err)) return null;
        throw new AccelError(ErrorCode.HOST_READ, `cannot stat ${candidate}`, { cause: err });
      }
      if (!st.isSymbolicLink()) {
        done.push(part);
        continue;
      }
      if (++links > MAX_LINKS) {
        throw new AccelError(ErrorCode.SYMLINK_ESCAPE, `too many symlinks resolving ${hostPath}`);
      }
      const target = await readlink(this.path(candidate));
      if (path.posix.isAbsolute(target)) done.length = 0;
      pending.unshift(...target.split('/').filter(Boolean));
    }
    return '/' + done.join('/');
  }

  /**
   * Resolves like `resolve` and insists the result lies under one of the
   * allowed host directories; a link that leaves them is refused, so a
   * crafted symlink can never turn into a mount of an arbitrary host file.
   */
  async resolveWithin(hostPath: string, allowedRoots: readonly string[]): Promise<string | null> {
    const resolved = await this.resolve(hostPath);
    if (resolved === null) return null;
    if (!allowedRoots.some((r) => isWithin(resolved, normaliseHostPath(r)))) {
      throw new AccelError(
        ErrorCode.SYMLINK_ESCAPE,
        `${hostPath} resolves to ${resolved}, outside the allowed roots ${allowedRoots.join(', ')}`,
        { details: { hostPath, resolved } },
      );
    }
    return resolved;
  }

  /** The real agent-side path of the root itself, for messages and sanity checks. */
  async realRoot(): Promise<string> {
    return realpath(this.root);
  }
}

export function normaliseHostPath(hostPath: string): string {
  if (typeof hostPath !== 'string' || !hostPath.startsWith('/') || hostPath.includes('\0')) {
    throw new AccelError(ErrorCode.HOST_PATH_ESCAPE, `not an absolute host path: ${JSON.stringify(hostPath)}`);
  }
  return path.posix.normalize(hostPath);
}

/** True when `p` is `dir` or lies below it (both normalised absolute POSIX paths). */
export function isWithin(p: string, dir: string): boolean {
  if (dir === '/') return true;
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
