/**
 * Keeping a measured server and its load apart: the server gets one CPU of
 * its own, the load (this process) the others, so neither steals the other's
 * time and the server's CPU figure is a share of exactly one core.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The CPU numbers in a kernel CPU list such as `0-3,8,10-11` (as in Cpus_allowed_list). */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`not a CPU list: ${JSON.stringify(text)}`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) throw new Error(`not a CPU list: ${JSON.stringify(text)}`);
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

export interface CpuSplit {
  server: number;
  load: number[];
}

/** The first allowed CPU for the server and the rest for the load; null when there is only one. */
export function splitCpus(allowed: readonly number[]): CpuSplit | null {
  const [server, ...load] = allowed;
  return server === undefined || load.length === 0 ? null : { server, load };
}

export interface Pinning {
  /** Put before the server's command line; empty when running unpinned. */
  serverPrefix: string[];
  /** How many CPUs this process may use, as the kernel reports them. */
  cpus: number;
  /** One sentence saying where each side runs, or why nothing is pinned. */
  note: string;
}

function allowedCpus(): number[] {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Cpus_allowed_list:'));
  if (!line) throw new Error('/proc/self/status has no Cpus_allowed_list');
  return parseCpuList(line.slice(line.indexOf(':') + 1));
}

/**
 * Pins every thread of this process to the load CPUs (threads started later
 * inherit that) and returns the prefix that starts the server on its own CPU.
 */
export function pinLoadAwayFromServer(server: string, load: string): Pinning {
  let allowed: number[];
  try {
    allowed = allowedCpus();
  } catch (err) {
    return { serverPrefix: [], cpus: 0, note: `Nothing pinned: ${err instanceof Error ? err.message : String(err)}.` };
  }
  const split = splitCpus(allowed);
  if (!split) return { serverPrefix: [], cpus: allowed.length, note: `Nothing pinned: only one CPU is available, so the ${server} and the ${load} share it.` };
  try {
    execFileSync('taskset', ['-a', '-p', '-c', split.load.join(','), String(process.pid)], { stdio: 'ignore' });
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const why = missing ? 'taskset (util-linux) is not installed' : `taskset failed (${err instanceof Error ? err.message : String(err)})`;
    return { serverPrefix: [], cpus: allowed.length, note: `Nothing pinned: ${why}, so the ${server} and the ${load} share the CPUs.` };
  }
  return {
    serverPrefix: ['taskset', '-c', String(split.server)],
    cpus: allowed.length,
    note: `The ${server} is pinned to CPU ${split.server} with taskset, the ${load} to CPU ${split.load.join(',')}.`,
  };
}
