import { lstat } from 'node:fs/promises';
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
