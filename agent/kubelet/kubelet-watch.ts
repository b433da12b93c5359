/**
 * Watches the device-plugin directory for the two things that oblige a
 * plugin to act: kubelet.sock appearing anew (kubelet restarted; on start it
 * deletes every socket in the directory) and the plugin's own socket
 * vanishing or being replaced. fs.watch reports these at once but can miss
 * events (overflowing inotify queues, a directory deleted and recreated), so
 * a periodic stat of both paths backs it up.
 */
import { lstatSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { KUBELET_SOCKET } from './options.js';

/** Identifies one socket file: a new file at the same path has a different identity. */
export type SocketIdentity = string;

export interface DirSnapshot {
  /** The directory's own identity (dev:ino), or null when it is missing. */
  dir: string | null;
  /** kubelet.sock, or null when absent or not a socket. */
  kubelet: SocketIdentity | null;
  /** The plugin's own socket, likewise. */
  plugin: SocketIdentity | null;
}

export const EMPTY_SNAPSHOT: DirSnapshot = Object.freeze({ dir: null, kubelet: null, plugin: null });

/**
 * The inode alone is not enough: a file system may hand a freed inode number
 * to the next file created, which is exactly what a quick restart does. The
 * change time, in nanoseconds, tells the two apart.
 *
 * Synchronous on purpose, like the snapshot below: the backstop poll runs
 * twice a second on every node, and a stat of a local directory entry costs
 * microseconds, far less than a round trip through the thread pool.
 */
export function socketIdentity(socketPath: string): SocketIdentity | null {
  try {
    const st = lstatSync(socketPath, { bigint: true, throwIfNoEntry: false });
    return st !== undefined && st.isSocket() ? `${st.dev}:${st.ino}:${st.ctimeNs}` : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

export function snapshotDir(dir: string, pluginSocketName: string): DirSnapshot {
  let st: Stats | undefined;
  try {
    // The directory itself may be a link (operators move kubelet's state to another disk);
    // the sockets in it are never followed.
    st = statSync(dir, { throwIfNoEntry: false });
  } catch {
    // Unreadable counts as absent: st stays undefined.
  }
  if (st === undefined || !st.isDirectory()) return EMPTY_SNAPSHOT;
  return {
    dir: `${st.dev}:${st.ino}`,
    kubelet: socketIdentity(dir + path.sep + KUBELET_SOCKET),
    plugin: socketIdentity(dir + path.sep + pluginSocketName),
  };
}

export function sameSnapshot(a: DirSnapshot, b: DirSnapshot): boolean {
  return a.dir === b.dir && a.kubelet === b.kubelet && a.plugin === b.plugin;
}

export interface KubeletWatchOptions {
  dir: string;
  pluginSocketName: string;
  /** Called with each snapshot that differs from the previous one, never concurrently. */
  onChange: (current: DirSnapshot, previous: DirSnapshot) => void | Promise<void>;
  /** How often the fallback stat runs; default DEFAULT_POLL_INTERVAL_MS. */
  pollIntervalMs?: number;
  logger?: Logger;
}

// Only a backstop for events fs.watch missed, so a missed restart is still served again well inside a second.
export const DEFAULT_POLL_INTERVAL_MS = 500;

export class KubeletWatch {
  readonly #options: KubeletWatchOptions;
  readonly #logger: Logger;
  readonly #names: Set<string>;
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #last: DirSnapshot = EMPTY_SNAPSHOT;
  /** The directory the fs.watch handle watches; a recreated directory needs a new handle. */
  #watchedDir: string | null = null;
  #checking: Promise<void> | null = null;
  #again = false;
  #stopped = true;

  constructor(options: KubeletWatchOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#names = new Set([KUBELET_SOCKET, options.pluginSocketName]);
  }

  /** Starts watching; returns the first snapshot (also the baseline later ones are compared to). */
  async start(): Promise<DirSnapshot> {
    if (!this.#stopped) return this.#last;
    this.#stopped = false;
    this.#last = snapshotDir(this.#options.dir, this.#options.pluginSocketName);
    this.#ensureWatcher(this.#last.dir);
    this.#timer = setInterval(() => this.check(), this.#options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
    this.#timer.unref();
    return this.#last;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#watcher?.close();
    this.#watcher = null;
  }

  /** The last snapshot handed to onChange (or taken at start). */
  get current(): DirSnapshot {
    return this.#last;
  }

  /**
   * Takes a snapshot now and reports it if it changed. Calls made while one
   * runs are folded into one more run after it, so no change is lost and
   * onChange never overlaps itself.
   */
  check(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#checking !== null) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = this.#run().finally(() => {
      this.#checking = null;
    });
    return this.#checking;
  }

  async #run(): Promise<void> {
    do {
      this.#again = false;
      try {
        const current = snapshotDir(this.#options.dir, this.#options.pluginSocketName);
        this.#ensureWatcher(current.dir);
        if (this.#stopped || sameSnapshot(current, this.#last)) continue;
        const previous = this.#last;
        this.#last = current;
        await this.#options.onChange(current, previous);
      } catch (err) {
        this.#logger.warn({ dir: this.#options.dir, err: describeError(err) }, 'kubelet directory check failed');
      }
    } while (this.#again && !this.#stopped);
  }

  /** (Re)creates the fs.watch handle; it dies with the directory and comes back with it. */
  #ensureWatcher(dirId: string | null): void {
    if (this.#stopped || (this.#watcher !== null && this.#watchedDir === dirId)) return;
    this.#watcher?.close();
    this.#watcher = null;
    this.#watchedDir = dirId;
    if (dirId === null) return;
    try {
      const watcher = watch(this.#options.dir, { persistent: false }, (_event, name) => {
        if (name === null || this.#names.has(name.toString())) void this.check();
      });
      watcher.on('error', () => {
        watcher.close();
        if (this.#watcher === watcher) this.#watcher = null;
      });
      this.#watcher = watcher;
    } catch {
      // Gone again since the snapshot; the poll keeps looking for it.
    }
  }
}
