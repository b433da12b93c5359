/**
 * `accel-agent run` as a child process on a temp simulated host, for
 * benchmarks that measure the daemon from outside. The daemon's directories
 * live beside the host, so nothing of the machine's own is touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../agent/package-root.js';
import type { ProfileName } from '../../agent/simhost/profiles.js';
import { ready, stopped } from './agent-process.js';
import { cleanupOnInterrupt } from './cleanup.js';
import { DEPLOYED_ENV } from './deployed-env.js';
import { withTempSimhost } from './simhost.js';

/** Command-line flags of `accel-agent run`, without their leading dashes. */
export type DaemonFlags = Readonly<Record<string, string>>;

export interface DaemonHost {
  /** The simulated host's root. */
  root: string;
  /** The temp directory holding the host and the daemon's directories, free for the benchmark's own files. */
  work: string;
  /**
   * What every daemon here runs with: the host, its own socket, CDI, state,
   * kubelet and NFD directories, and rescans too rare to land in a measurement.
   * In-process code reading the same configuration resolves these too.
   */
  flags: DaemonFlags;
  /** Starts the daemon with `flags` plus `extra` and resolves once it is ready; it is stopped when the body ends. */
  launch(extra?: DaemonFlags): Promise<ChildProcess>;
}

function runArgv(flags: DaemonFlags): string[] {
  return [path.join(packageRoot(), 'bin/accel-agent.js'), 'run', ...Object.entries(flags).flatMap(([name, value]) => [`--${name}`, value])];
}

/** Runs `body` with a fresh host of `profile`; every daemon it launched is stopped (killed if need be) whatever happens. */
export async function withDaemonHost<T>(profile: ProfileName, body: (host: DaemonHost) => Promise<T>): Promise<T> {
  return withTempSimhost(profile, async ({ root, work }) => {
    const dir = (name: string) => path.join(work, name);
    for (const d of ['cdi', 'state', 'kubelet', 'nfd']) await mkdir(dir(d));
    const flags: DaemonFlags = {
      'host-root': root,
      socket: dir('agent.sock'),
      'cdi-dir': dir('cdi'),
      'cdi-host-prefix': 'root',
      'state-dir': dir('state'),
      'kubelet-dir': dir('kubelet'),
      'nfd-dir': dir('nfd'),
      'rescan-interval': '1h',
    };
    const children: ChildProcess[] = [];
    const withdraw = cleanupOnInterrupt(() => children.forEach((c) => c.kill('SIGKILL')));
    const launch = async (extra: DaemonFlags = {}) => {
      const child = spawn(process.execPath, runArgv({ ...flags, ...extra }), {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ...DEPLOYED_ENV },
      });
      children.push(child);
      await ready(child, 60_000);
      return child;
    };
    try {
      return await body({ root, work, flags, launch });
    } finally {
      await Promise.all(children.map((c) => stopped(c, 20_000)));
      withdraw();
    }
  });
}
