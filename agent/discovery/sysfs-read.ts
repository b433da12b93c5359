import { constants } from 'node:fs';
import { open, readlink } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { plainReason } from './reason.js';
import { isNotFound, type HostRoot } from '../host/host-root.js';

/** sysfs attributes are at most one page; anything larger is not what the kernel wrote. */
export const SYSFS_ATTRIBUTE_MAX_BYTES = 4096;

/**
 * Reads one attribute file whose directory has already been resolved inside
 * the host root. The file itself must not be a symlink (O_NOFOLLOW), so a
 * crafted tree cannot make the agent read an arbitrary file through an
 * attribute name. Returns null when the file does not exist.
 */
export async function readAttribute(host: HostRoot, hostPath: string, maxBytes = SYSFS_ATTRIBUTE_MAX_BYTES): Promise<string | null> {
  let handle;
  try {
    handle = await open(host.path(hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isNotFound(err)) return null;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'is a symlink, refused' : plainReason(err);
    throw new AccelError(ErrorCode.HOST_READ, `${hostPath} ${why}`, { cause: err, details: { hostPath } });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new AccelError(ErrorCode.HOST_READ, `${hostPath} is not a regular file`, { details: { hostPath } });
    const buf = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buf.length) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) {
      throw new AccelError(ErrorCode.HOST_PARSE, `${hostPath} is larger than ${maxBytes} bytes`, { details: { hostPath } });
    }
    return buf.toString('utf8', 0, length);
  } catch (err) {
    if (err instanceof AccelError) throw err;
    throw new AccelError(ErrorCode.HOST_READ, `cannot read ${hostPath}`, { cause: err, details: { hostPath } });
  } finally {
    await handle.close();
  }
}

/**
 * The last component of a symlink's target (sysfs's `driver` link points at
 * .../drivers/<name>), without following it. Null when there is no link.
 */
export async function linkBasename(host: HostRoot, hostPath: string): Promise<string | null> {
  try {
    const target = await readlink(host.path(hostPath));
    const base = path.posix.basename(target);
    return base === '' || base === '.' || base === '..' ? null : base;
  } catch (err) {
    if (isNotFound(err)) return null;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EINVAL' ? 'is not a symlink' : plainReason(err);
    throw new AccelError(ErrorCode.HOST_READ, `${hostPath} ${why}`, { cause: err, details: { hostPath } });
  }
}
