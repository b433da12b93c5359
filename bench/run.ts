/**
 * Runs the built benchmarks (every dist/bench/*.bench.js, or those named)
 * one after another, streaming their output, then says which failed.
 *
 *   npm run bench [-- [--timeout SECONDS] [NAME...]]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRunArgs, summarizeRun } from './lib/run-plan.js';
import { runBenches } from './lib/runner.js';

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseRunArgs(argv);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const interrupt = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupt.abort());
  let outcomes;
  try {
    outcomes = await runBenches({
      dir: path.dirname(fileURLToPath(import.meta.url)),
      names: args.names,
      timeoutSeconds: args.timeoutSeconds,
      signal: interrupt.signal,
      print: (line) => console.log(line),
    });
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const { table, failed } = summarizeRun(outcomes, args.timeoutSeconds);
  console.log(`\n## Summary\n\n${table}\n`);
  if (interrupt.signal.aborted) console.log('interrupted: the benchmarks after the last one listed did not run');
  if (failed.length > 0) console.log(`failed: ${failed.join(', ')}`);
  return failed.length > 0 || interrupt.signal.aborted ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
