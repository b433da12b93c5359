import type { HostRoot } from './host-root.js';

export interface LinkCacheOptions {
  /** Host directories every link must resolve within, as for `HostRoot.resolveWithin`. */
  within: readonly string[];
  /** After this many answers from memory a link is walked in full again; default 120 (a minute of half-second checks). */
  revalidateAfter?: number;
}

interface Entry {
  text: string;
  resolved: string;
  hits: number;
}

/**
 * `resolveWithin` for symlinks that are read over and over but rarely change,
 * such as a PCI function's sysfs entry and its driver link, checked every
 * half second for every device. A full resolution stats each component of
 * the path (ten or more calls through the thread pool per link); here a link
 * whose text is what it was, and whose target still exists, costs two
 * synchronous calls, so it is meant for sysfs links only (see
 * `HostRoot.readLinkSync`). A changed text is resolved
 * afresh (so a re-pointed link is judged at once), and so is every link now
 * and then, which bounds how long a change further down the path could go
 * unseen.
 */
export class LinkCache {
  readonly #host: HostRoot;
  readonly #within: readonly string[];
  readonly #revalidateAfter: number;
  readonly #entries = new Map<string, Entry>();

  constructor(host: HostRoot, options: LinkCacheOptions) {
    this.#host = host;
    this.#within = options.within;
    this.#revalidateAfter = options.revalidateAfter ?? 120;
  }

  /**
   * As `HostRoot.resolveWithin` for a path expected to be a symlink: null
   * when it is gone; throws SYMLINK_ESCAPE when it leaves the allowed roots.
   * Paths that are not symlinks are resolved in full every time.
   */
  async resolve(link: string): Promise<string | null> {
    const text = this.#host.readLinkSync(link);
    const known = this.#entries.get(link);
    if (text !== null && known !== undefined && known.text === text && known.hits < this.#revalidateAfter) {
      if (this.#host.existsSync(known.resolved)) {
        known.hits++;
        return known.resolved;
      }
    }
    this.#entries.delete(link);
    const resolved = await this.#host.resolveWithin(link, this.#within);
    if (text !== null && resolved !== null) this.#entries.set(link, { text, resolved, hits: 0 });
    return resolved;
  }
}
