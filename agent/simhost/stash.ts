/**
 * Reversible changes to a simulated host tree. Whatever a mutation removes
 * or rewrites is moved (renamed, so device nodes and sockets keep what
 * they are) into `/.simhost-stash/<key>/tree/...` inside the same root, and
 * a journal written after every step lets `restoreStash` put it all back,
 * even after a mutation that stopped half way.
 */
import { lstat, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { isNotFound } from '../host/host-root.js';
import { replaceFile } from './nvml-state.js';
import { checkedTreePath, mkdirIn } from './tree-path.js';

export const STASH_DIR = '/.simhost-stash';

interface JournalEntry {
  path: string;
  /** True when new content was written in place of the stashed original. */
  replaced: boolean;
}

export class Stash {
  private readonly entries: JournalEntry[] = [];

  private constructor(
    readonly root: string,
    readonly key: string,
  ) {}

  /** Starts a change under `key`; refuses when a change with that key is already in effect. */
  static async begin(root: string, key: string): Promise<Stash> {
    checkKey(key);
    const dir = await checkedTreePath(root, `${STASH_DIR}/${key}`);
    if (await present(dir)) throw new AccelError(ErrorCode.SIMHOST, `change ${key} is already in effect; restore it first`);
    await mkdirIn(root, `${STASH_DIR}/${key}/tree`);
    const stash = new Stash(root, key);
    await stash.saveJournal();
    return stash;
  }

  /** Moves `hostPath` (file, directory, link or node) out of the tree. Returns false when it was not there. */
  async move(hostPath: string): Promise<boolean> {
    const from = await checkedTreePath(this.root, hostPath);
    if (!(await present(from))) return false;
    await mkdirIn(this.root, path.posix.dirname(this.stashed(hostPath)));
    await rename(from, await checkedTreePath(this.root, this.stashed(hostPath)));
    this.entries.push({ path: hostPath, replaced: false });
    await this.saveJournal();
    return true;
  }

  /** Stashes the file at `hostPath` and writes `content` in its place. */
  async replace(hostPath: string, content: string, mode = 0o644): Promise<void> {
    if (!(await this.move(hostPath))) throw new AccelError(ErrorCode.SIMHOST, `${hostPath} does not exist`);
    this.entries[this.entries.length - 1]!.replaced = true;
    await this.saveJournal();
    await replaceFile(await checkedTreePath(this.root, hostPath), content, mode);
  }

  private stashed(hostPath: string): string {
    return `${STASH_DIR}/${this.key}/tree${hostPath}`;
  }

  private async saveJournal(): Promise<void> {
    await replaceFile(await checkedTreePath(this.root, `${STASH_DIR}/${this.key}/journal.json`), JSON.stringify(this.entries) + '\n');
  }
}

/** True when a change under `key` is in effect. */
export async function stashExists(root: string, key: string): Promise<boolean> {
  checkKey(key);
  return present(await checkedTreePath(root, `${STASH_DIR}/${key}`));
}

/** Undoes the change recorded under `key`, last step first. */
export async function restoreStash(root: string, key: string): Promise<void> {
  checkKey(key);
  const base = `${STASH_DIR}/${key}`;
  let entries: JournalEntry[];
  try {
    entries = parseJournal(await readFile(await checkedTreePath(root, `${base}/journal.json`), 'utf8'));
  } catch (err) {
    if (isNotFound(err)) throw new AccelError(ErrorCode.SIMHOST, `no change ${key} to restore`);
    throw err;
  }
  for (const entry of [...entries].reverse()) {
    const dest = await checkedTreePath(root, entry.path);
    if (entry.replaced) await rm(dest, { force: true });
    else if (await present(dest)) {
      throw new AccelError(ErrorCode.SIMHOST, `cannot restore ${entry.path}: something is there now (undo later changes first)`);
    }
    await mkdirIn(root, path.posix.dirname(entry.path));
    await rename(await checkedTreePath(root, `${base}/tree${entry.path}`), dest);
  }
  await rm(await checkedTreePath(root, base), { recursive: true, force: true });
}

function parseJournal(text: string): JournalEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AccelError(ErrorCode.SIMHOST, 'stash journal is malformed', { cause: err });
  }
  if (
    !Array.isArray(raw) ||
    !raw.every((e) => typeof e === 'object' && e !== null && typeof e.path === 'string' && e.path.startsWith('/') && typeof e.replaced === 'boolean')
  ) {
    throw new AccelError(ErrorCode.SIMHOST, 'stash journal is malformed');
  }
  return raw as JournalEntry[];
}

function checkKey(key: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,120}$/.test(key)) throw new AccelError(ErrorCode.SIMHOST, `bad stash key ${JSON.stringify(key)}`);
}

async function present(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
