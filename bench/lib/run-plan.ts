import { parseArgs } from 'node:util';
import { markdownTable } from './report.js';

/**
 * The benchmark runner's decisions, apart from its processes: which
 * benchmarks to run, and what their outcomes add up to.
 */

export const BENCH_SUFFIX = '.bench.js';
export const DEFAULT_TIMEOUT_SECONDS = 600;

export interface RunArgs {
  /** As given on the command line; empty means every benchmark. */
  names: string[];
  /** Per benchmark; one still running then is stopped and counted as failed. */
  timeoutSeconds: number;
}

export function parseRunArgs(argv: readonly string[]): RunArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { timeout: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new Error(`--timeout must be a positive number of seconds, got ${JSON.stringify(values.timeout)}`);
  return { names: positionals, timeoutSeconds };
}

/** `sample-cost` for `sample-cost`, `sample-cost.bench.js`, `bench/sample-cost.bench.ts`, … */
export function benchName(nameOrPath: string): string {
  const base = nameOrPath.split('/').pop() ?? nameOrPath;
  return base.replace(/\.bench\.(js|ts)$/, '');
}

/**
 * The benchmark files to run, in order: all of `available` (file names in the
 * build directory) sorted, or the requested ones in the order asked, each
 * once. An unknown name fails the whole run before anything starts.
 */
export function selectBenches(available: readonly string[], requested: readonly string[]): string[] {
  const byName = new Map(available.filter((f) => f.endsWith(BENCH_SUFFIX)).map((f) => [benchName(f), f]));
  if (requested.length === 0) return [...byName.values()].sort();
  const wanted = [...new Set(requested.map(benchName))];
  const unknown = wanted.filter((n) => !byName.has(n));
  if (unknown.length > 0) {
    const known = [...byName.keys()].sort().join(', ') || 'none (is the build missing?)';
    throw new Error(`no benchmark named ${unknown.join(', ')}; there are: ${known}`);
  }
  return wanted.map((n) => byName.get(n)!);
}

export interface BenchOutcome {
  name: string;
  /** Null with no signal: the process never started. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  seconds: number;
}

export function outcomeFailed(o: BenchOutcome): boolean {
  return o.timedOut || o.exitCode !== 0;
}

function describe(o: BenchOutcome, timeoutSeconds: number): string {
  if (o.timedOut) return `FAILED: timed out after ${timeoutSeconds} s`;
  if (o.exitCode === 0) return 'ok';
  if (o.signal) return `FAILED: killed by ${o.signal}`;
  return o.exitCode === null ? 'FAILED: did not start' : `FAILED: exit ${o.exitCode}`;
}

/** The closing table and the names that failed. */
export function summarizeRun(outcomes: readonly BenchOutcome[], timeoutSeconds: number): { table: string; failed: string[] } {
  const table = markdownTable(
    ['benchmark', 'result', { title: 'seconds', align: 'right' }],
    outcomes.map((o) => [o.name, describe(o, timeoutSeconds), o.seconds.toFixed(1)]),
  );
  return { table, failed: outcomes.filter(outcomeFailed).map((o) => o.name) };
}
