import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of the new file, set exactly: neither the umask nor the old file's bits apply. */
  mode: number;
  /**
   * Base name of the temporary, for a caller that recognises its own crash
   * leftovers by name; the default is one `isAtomicTemp` recognises. It
   * must be unique to this write, since a name that exists makes it fail.
   */
  tempName?: string;
}

const TEMP_SUFFIX = '.tmp';

// O_EXCL with O_NOFOLLOW: a file or link someone planted at the temporary's name is never written through.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Replaces a file so that a reader, or the disk after a power cut, holds
 * either the old content or the new, never a mix: the new content goes to a
 * temporary sibling (a rename is only atomic within one file system), which
 * is flushed and renamed over the target, and the directory is flushed so
 * the rename itself survives. A failure leaves the target as it was and no
 * temporary behind.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, options: AtomicWriteOptions): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(dir, options.tempName ?? `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
  // Outside the clean-up below: when the open fails, whatever holds the name is not ours to remove.
  const fh = await open(temp, CREATE_NEW, options.mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.chmod(options.mode);
      // fsync, not fdatasync: the mode just set is metadata that fdatasync may leave unflushed.
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

/** Makes a directory's entries (creations, renames, removals) survive a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** True for a name `writeFileAtomic` gives its temporaries by default, as a crash mid-write leaves them. */
export function isAtomicTemp(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}
