import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic-file.js';
import { isNotFound } from '../host/host-root.js';
import { isSpecFileName, loadCdiSpecs } from './cdi-load.js';
import { indexSpecs, resolveEdits } from './cdi-resolve.js';
import {
  CACHE_FILE,
  cacheDeviceFor,
  renderDevice,
  renderHeader,
  type CacheHeader,
  type FileStamp,
  type SettingValue,
} from './launcher-cache-format.js';
import { DEFAULT_RUNTIME_CONFIG_FILE, RUNTIME_ENV, type RuntimeOptions } from './runtime-options.js';

/**
 * Keeps the native launcher's cache in step with the settings and CDI specs.
 * The wrapper calls this on every create and run, and the agent may call it after it
 * writes specs; it rewrites the file only when what it was derived from
 * changed. The directory must be private to the runtime's user: a cache
 * anyone else could write would decide what gets mounted into containers.
 */

export interface RefreshLauncherCacheOptions {
  options: RuntimeOptions;
  /** The resolved runc the wrapper runs. */
  runc: string;
  env: Readonly<Record<string, string | undefined>>;
}

export type RefreshOutcome = 'disabled' | 'fresh' | 'written' | 'unsafe';

const MAX_CACHE_BYTES = 1024 * 1024;

async function stampOf(p: string): Promise<FileStamp> {
  try {
    const st = await stat(p, { bigint: true });
    const ns = st.mtimeNs;
    return { path: p, stamp: `${st.dev} ${st.ino} ${st.size} ${ns / 1_000_000_000n} ${ns % 1_000_000_000n}` };
  } catch (err) {
    if (isNotFound(err)) return { path: p, stamp: null };
    throw err;
  }
}

/** What the cache content depends on, stamped before the specs are read so a change during the read makes it stale. */
export async function currentHeader(o: RefreshLauncherCacheOptions): Promise<CacheHeader> {
  const names: string[] = [RUNTIME_ENV.runc, RUNTIME_ENV.cdiDirs, RUNTIME_ENV.allowEnvSelection, RUNTIME_ENV.config];
  // A bare runc name was found on PATH, so PATH is part of the answer.
  if (!o.options.runc.startsWith('/')) names.push('PATH');
  const settings: SettingValue[] = names.map((name) => ({ name, value: o.env[name] }));
  const named = o.env[RUNTIME_ENV.config];
  const settingsFile = named !== undefined && named !== '' ? named : DEFAULT_RUNTIME_CONFIG_FILE;
  const files: FileStamp[] = [await stampOf(settingsFile)];
  for (const dir of o.options.cdiSpecDirs) {
    files.push(await stampOf(dir));
    let entries: string[] = [];
    try {
      entries = (await readdir(dir)).filter(isSpecFileName).sort();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    for (const name of entries) files.push(await stampOf(path.join(dir, name)));
  }
  return { runc: o.runc, envSelection: o.options.allowEnvSelection, settings, files };
}

/** A directory only the current user can write, created if needed; false when it is anything else. */
async function privateDir(dir: string): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  return st.isDirectory() && st.uid === process.geteuid?.() && (st.mode & 0o022) === 0;
}

async function readExisting(file: string): Promise<string | null> {
  try {
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > MAX_CACHE_BYTES) return null;
      return await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

export async function refreshLauncherCache(o: RefreshLauncherCacheOptions): Promise<RefreshOutcome> {
  const dir = o.options.launcherCacheDir;
  if (dir === null) return 'disabled';
  const header = renderHeader(await currentHeader(o));
  if (header === null) return 'unsafe';
  if (!(await privateDir(dir))) return 'unsafe';
  const file = path.join(dir, CACHE_FILE);
  const existing = await readExisting(file);
  if (existing !== null && existing.startsWith(header) && /^device |^(?![\s\S])/.test(existing.slice(header.length))) {
    return 'fresh';
  }

  const { specs, problems } = await loadCdiSpecs(o.options.cdiSpecDirs);
  const index = indexSpecs(specs, problems);
  const names = new Set(index.devices.keys());
  for (const name of index.devices.keys()) names.add(`${name.slice(0, name.indexOf('='))}=all`);
  let body = '';
  for (const name of [...names].sort()) {
    let entry;
    try {
      entry = cacheDeviceFor(name, resolveEdits(index, [name]).edits);
    } catch {
      continue;
    }
    if (entry !== null) body += renderDevice(entry);
  }
  await writeFileAtomic(file, header + body, { mode: 0o600 });
  return 'written';
}
