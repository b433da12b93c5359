import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { validateOciConfig, type OciConfig } from '../inject/oci-edit.js';
import { readSmallFile } from './cdi-load.js';

/** Real configs are tens of KiB; a huge one is refused rather than parsed. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export interface BundleConfig {
  file: string;
  config: OciConfig;
  /** Permission bits of the file, kept when it is rewritten. */
  mode: number;
}

/** Reads and checks `<bundle>/config.json`, which must be a regular file. */
export async function readBundleConfig(bundleDir: string): Promise<BundleConfig> {
  const file = path.join(bundleDir, 'config.json');
  let raw: Buffer;
  let mode: number;
  try {
    const st = await lstat(file);
    if (!st.isFile()) throw new Error('not a regular file');
    mode = st.mode & 0o7777;
    raw = await readSmallFile(file, MAX_CONFIG_BYTES);
  } catch (err) {
    throw new AccelError(ErrorCode.OCI_CONFIG_INVALID, `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { file },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new AccelError(ErrorCode.OCI_CONFIG_INVALID, `${file} is not valid JSON: ${(err as Error).message}`, {
      details: { file },
    });
  }
  return { file, config: validateOciConfig(parsed), mode };
}

/**
 * Replaces a file so a reader sees either the old or the new content, never
 * a mix: a temporary in the same directory, fsync, rename, fsync of the
 * directory. On any failure the original is untouched and the temporary gone.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
