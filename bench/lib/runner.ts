import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchName, selectBenches, type BenchOutcome } from './run-plan.js';

export interface RunBenchOptions {
  timeoutMs: number;
  /** After SIGTERM, how long the benchmark has to clean up before its process group is killed. */
  graceMs?: number;
  /** Aborting stops the benchmark the same way a timeout does, but it is not counted as timed out. */
  signal?: AbortSignal;
  args?: readonly string[];
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is gone already.
  }
}

/**
 * Runs one built benchmark in its own Node process with the runner's stdout
 * and stderr, so its output streams as it is printed. The benchmark leads its
 * own process group: on timeout it first gets SIGTERM (its cleanup removes
 * temp trees and stops agents it started), then the whole group is killed.
 */
export function runBenchFile(file: string, options: RunBenchOptions): Promise<BenchOutcome> {
  const start = performance.now();
  const child = spawn(process.execPath, [file, ...(options.args ?? [])], { stdio: 'inherit', detached: true });
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    if (killTimer || child.pid === undefined) return;
    child.kill('SIGTERM');
    const pid = child.pid;
    killTimer = setTimeout(() => killGroup(pid), options.graceMs ?? 10_000);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutMs);
  const onAbort = () => stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  return new Promise((resolve) => {
    const finish = (exitCode: number | null, signal: string | null) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ name: benchName(file), exitCode, signal, timedOut, seconds: (performance.now() - start) / 1000 });
    };
    child.once('error', (err) => {
      process.stderr.write(`${benchName(file)}: could not start: ${err.message}\n`);
      finish(null, null);
    });
    child.once('exit', (code, signal) => {
      // A benchmark's own children may outlive it; none is wanted after it ends.
      if (child.pid !== undefined) killGroup(child.pid);
      finish(code, signal);
    });
  });
}

export interface RunBenchesOptions {
  /** Where the built `*.bench.js` files are. */
  dir: string;
  names: readonly string[];
  timeoutSeconds: number;
  signal?: AbortSignal;
  /** Where the runner's own lines go (headers between benchmarks). */
  print: (line: string) => void;
}

/** Runs the selected benchmarks one after another; after an abort, none further is started. */
export async function runBenches(options: RunBenchesOptions): Promise<BenchOutcome[]> {
  const files = selectBenches(await readdir(options.dir), options.names);
  const outcomes: BenchOutcome[] = [];
  for (const file of files) {
    if (options.signal?.aborted) break;
    options.print(`\n## ${benchName(file)}\n`);
    outcomes.push(
      await runBenchFile(path.join(options.dir, file), {
        timeoutMs: options.timeoutSeconds * 1000,
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    );
  }
  return outcomes;
}
