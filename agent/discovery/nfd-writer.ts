/**
 * Publishes node labels through Node Feature Discovery's local feature
 * source: a file in nfd-worker's `features.d` directory. The file is replaced
 * atomically through a dot-named temporary file (nfd-worker skips dot-files,
 * so it never reads a half-written one), and left alone when its bytes would
 * not change, so nfd-worker sees no churn.
 */
import { constants } from 'node:fs';
import { lstat, readFile, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { isAtomicTemp, syncDirectory, writeFileAtomic } from '../fs/atomic-file.js';
import { isNotFound } from '../host/host-root.js';
import { silentLogger, type Logger } from '../log.js';
import { NFD_MAX_FILE_BYTES, renderFeatureFile } from './nfd-features.js';

/** The file's name in the features.d directory. */
export const NFD_FEATURE_FILE_NAME = 'accel-agent';

export interface NfdWriterOptions {
  /** nfd-worker's local feature directory. It must exist: it belongs to NFD, not to this agent. */
  dir: string;
  logger?: Logger;
  /** nfd-worker may run as a non-root user, so the file is world-readable by default. */
  fileMode?: number;
}

export interface NfdWriteResult {
  file: string;
  /** False when the file already held exactly these labels. */
  written: boolean;
  /** Keys in the file, sorted. */
  keys: string[];
  /** Why each left-out label was left out. */
  dropped: string[];
}

/** Writes the labels as the agent's feature file, replacing what it held before. */
export async function writeNodeFeatureFile(labels: Readonly<Record<string, string>>, options: NfdWriterOptions): Promise<NfdWriteResult> {
  const log = options.logger ?? silentLogger;
  const mode = options.fileMode ?? 0o644;
  await requireDirectory(options.dir);
  const file = path.join(options.dir, NFD_FEATURE_FILE_NAME);
  const { text, keys, dropped } = renderFeatureFile(labels);
  for (const reason of dropped) log.warn({ file, reason }, 'node label left out of the NFD feature file');

  if ((await currentText(file)) === text) return { file, written: false, keys, dropped };
  try {
    await removeLeftoverTemps(options.dir);
    await writeFileAtomic(file, text, { mode });
  } catch (err) {
    throw new AccelError(ErrorCode.NFD_WRITE, `cannot write the NFD feature file ${file}`, { cause: err, details: { file } });
  }
  log.info({ file, labels: keys.length }, 'NFD feature file written');
  return { file, written: true, keys, dropped };
}

/**
 * Removes the agent's feature file (and temporary files a crash left), so
 * nfd-worker drops the labels on its next pass. Returns whether a feature
 * file was there. A missing directory means there is nothing to remove.
 */
export async function removeNodeFeatureFile(options: Pick<NfdWriterOptions, 'dir' | 'logger'>): Promise<boolean> {
  const file = path.join(options.dir, NFD_FEATURE_FILE_NAME);
  try {
    await removeLeftoverTemps(options.dir);
    await unlink(file);
    await syncDirectory(options.dir);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw new AccelError(ErrorCode.NFD_WRITE, `cannot remove the NFD feature file ${file}`, { cause: err, details: { file } });
  }
  (options.logger ?? silentLogger).info({ file }, 'NFD feature file removed');
  return true;
}

async function requireDirectory(dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    const missing = isNotFound(err);
    throw new AccelError(
      ErrorCode.NFD_WRITE,
      missing
        ? `NFD feature directory ${dir} does not exist: is node-feature-discovery installed, and the directory mounted into the agent?`
        : `cannot reach the NFD feature directory ${dir}`,
      { cause: err, details: { dir } },
    );
  }
  if (!isDir) throw new AccelError(ErrorCode.NFD_WRITE, `NFD feature path ${dir} is not a directory`, { details: { dir } });
}

/** The feature file's text, or null when it is absent or not a regular file (a link is replaced, never followed). */
async function currentText(file: string): Promise<string | null> {
  try {
    const st = await lstat(file);
    if (!st.isFile() || st.size > NFD_MAX_FILE_BYTES) return null;
    return await readFile(file, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK });
  } catch (err) {
    if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'ELOOP') return null;
    throw err;
  }
}

/** Only this agent writes its file, one write at a time, so any temporary file of its name is a crash's leftover. */
async function removeLeftoverTemps(dir: string): Promise<void> {
  const prefix = `.${NFD_FEATURE_FILE_NAME}.`;
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix) || !isAtomicTemp(name)) continue;
    try {
      await unlink(path.join(dir, name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
