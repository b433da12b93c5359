import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simhostCreate } from '../../agent/simhost/command.js';
import type { ProfileName } from '../../agent/simhost/profiles.js';
import { simhostUnavailable } from '../../test/helpers/simulated-hosts.js';
import { cleanupOnInterrupt } from './cleanup.js';

export interface TempSimhost {
  /** The simulated host's root, for `--host-root`. */
  root: string;
  /** A temp directory holding the host, free for the benchmark's own files. */
  work: string;
  /** Removes `work` and everything in it. */
  remove(): Promise<void>;
}

/**
 * A simulated host in a fresh temp directory, removed by `remove()` or when
 * the benchmark is interrupted. Fails up front, saying why, where simulated
 * hosts cannot be built (native stubs missing, no mknod).
 */
export async function tempSimhost(profile: ProfileName, options: { count?: number } = {}): Promise<TempSimhost> {
  const unavailable = simhostUnavailable();
  if (unavailable) throw new Error(`cannot build the ${profile} simulated host: ${unavailable}`);
  const work = await mkdtemp(path.join(os.tmpdir(), `accel-bench-${profile}-`));
  const withdraw = cleanupOnInterrupt(() => rmSync(work, { recursive: true, force: true }));
  const remove = async () => {
    withdraw();
    await rm(work, { recursive: true, force: true });
  };
  try {
    const { root } = await simhostCreate({ profile, dir: path.join(work, 'host'), ...(options.count === undefined ? {} : { count: options.count }) });
    return { root, work, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Runs `body` on a temp simulated host and removes the host afterwards, whatever happens. */
export async function withTempSimhost<T>(profile: ProfileName, body: (host: TempSimhost) => Promise<T>): Promise<T> {
  const host = await tempSimhost(profile);
  try {
    return await body(host);
  } finally {
    await host.remove();
  }
}
