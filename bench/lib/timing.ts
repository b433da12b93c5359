import { performance } from 'node:perf_hooks';

export interface TimeRunsOptions {
  runs: number;
  /** Runs made first and not counted: they load code and fill caches. */
  warmup?: number;
}

/**
 * Calls `body` warmup + runs times in sequence, each awaited before the next,
 * and returns the wall time of the counted calls in milliseconds. `body` gets
 * the call's number, warm-up calls included, to name per-call files.
 */
export async function timeRuns(options: TimeRunsOptions, body: (call: number) => unknown): Promise<number[]> {
  const warmup = options.warmup ?? 0;
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new RangeError(`runs must be a whole number >= 1, got ${options.runs}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new RangeError(`warmup must be a whole number >= 0, got ${warmup}`);
  const times: number[] = [];
  for (let call = 0; call < warmup + options.runs; call++) {
    const start = performance.now();
    await body(call);
    const ms = performance.now() - start;
    if (call >= warmup) times.push(ms);
  }
  return times;
}
