import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { syncDirectory, writeFileAtomic } from '../fs/atomic-file.js';
import { isNotFound } from '../host/host-root.js';
import { OWNER_ENV, checkKind } from './cdi-spec.js';
import type { CdiSpec } from './container-edits.js';

/**
 * Writes CDI specs so a runtime never reads a half-written one: each goes to
 * a temp file in the same directory (a dot-name runtimes ignore), is synced,
 * renamed over the spec, and the directory is synced. A spec whose bytes
 * have not changed is not rewritten, so runtimes watching the directory see
 * no churn. Specs of kinds no longer present are removed, but only files
 * that carry both this agent's name prefix and its marker: a file another
 * tool wrote is never touched, even when its name looks like ours.
 */

export const SPEC_FILE_PREFIX = 'accel-agent_';
const SPEC_FILE_SUFFIX = '.json';
const TEMP_PREFIX = `.${SPEC_FILE_PREFIX}`;
const TEMP_SUFFIX = '.tmp';
/** Temp files older than this are leftovers of a crashed write; younger ones may be another writer's. */
const STALE_TEMP_MS = 60_000;
/** A spec file larger than this is not one of ours; it is not read. */
const MAX_OWN_SPEC_BYTES = 16 * 1024 * 1024;

export interface WriteSpecsResult {
  /** File names (in the directory) written because they were new or changed. */
  written: string[];
  unchanged: string[];
  /** Stale specs of this agent that were removed. */
  removed: string[];
  /** Files with this agent's prefix left alone because they lack its marker. */
  foreign: string[];
}

export interface WriteSpecsOptions {
  /** Mode of new spec files; runtimes read them as root, others may read them too. */
  fileMode?: number;
  /**
   * Kinds whose existing spec must survive although no spec is given for
   * them: a vendor whose inventory failed this time keeps its last good spec
   * rather than losing it to a transient error.
   */
  keepKinds?: readonly string[];
}

/** `accel-agent_nvidia.com_gpu.json` for kind `nvidia.com/gpu`. */
export function specFileName(kind: string): string {
  checkKind(kind);
  return `${SPEC_FILE_PREFIX}${kind.replace('/', '_')}${SPEC_FILE_SUFFIX}`;
}

export function serialiseSpec(spec: CdiSpec): string {
  return JSON.stringify(spec, null, 2) + '\n';
}

/** True for a spec this agent generated (by content; the caller checks the name). */
export function isOwnSpec(parsed: unknown): boolean {
  const env = (parsed as { containerEdits?: { env?: unknown } } | null)?.containerEdits?.env;
  return Array.isArray(env) && env.includes(OWNER_ENV);
}

export async function writeCdiSpecs(dir: string, specs: readonly CdiSpec[], options: WriteSpecsOptions = {}): Promise<WriteSpecsResult> {
  const files = new Map<string, string>();
  for (const spec of specs) {
    const name = specFileName(spec.kind);
    if (files.has(name)) throw new AccelError(ErrorCode.CDI_INVALID, `two specs would both be written to ${name}`, { details: { kind: spec.kind } });
    files.set(name, serialiseSpec(spec));
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new AccelError(ErrorCode.CDI_WRITE, `cannot create the CDI spec directory ${dir}`, { cause: err, details: { dir } });
  }

  const kept = new Set((options.keepKinds ?? []).map(specFileName));
  const result: WriteSpecsResult = { written: [], unchanged: [], removed: [], foreign: [] };
  for (const [name, content] of files) {
    const target = path.join(dir, name);
    if ((await readRegularFile(target, MAX_OWN_SPEC_BYTES)) === content) {
      result.unchanged.push(name);
      continue;
    }
    await writeSpec(target, content, options.fileMode ?? 0o644);
    result.written.push(name);
  }

  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX)) {
      await removeStaleTemp(path.join(dir, name));
      continue;
    }
    if (!name.startsWith(SPEC_FILE_PREFIX) || !name.endsWith(SPEC_FILE_SUFFIX) || files.has(name) || kept.has(name)) continue;
    const text = await readRegularFile(path.join(dir, name), MAX_OWN_SPEC_BYTES);
    if (text !== null && isOwnSpec(parseOrNull(text))) {
      await unlinkIfPresent(path.join(dir, name));
      result.removed.push(name);
    } else {
      result.foreign.push(name);
    }
  }
  if (result.removed.length > 0) await syncDirectory(dir);
  return result;
}

async function writeSpec(target: string, content: string, mode: number): Promise<void> {
  // The temporary carries the prefix and suffix the clean-up above knows as ours.
  const tempName = `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
  try {
    await writeFileAtomic(target, content, { mode, tempName });
  } catch (err) {
    throw new AccelError(ErrorCode.CDI_WRITE, `cannot write ${target}`, { cause: err, details: { target } });
  }
}

/** The file's text, or null when it is missing, not a regular file, a symlink or too large. */
async function readRegularFile(file: string, maxBytes: number): Promise<string | null> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'ELOOP') return null;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > maxBytes) return null;
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

async function removeStaleTemp(file: string): Promise<void> {
  try {
    const st = await lstat(file);
    if (Date.now() - st.mtimeMs > STALE_TEMP_MS) await unlink(file);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
