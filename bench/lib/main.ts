import { describeMachine, machineFacts } from './machine.js';
import { benchJsonLine } from './report.js';

/**
 * A benchmark's entry point: runs `body` with the command-line arguments and
 * turns a failure into one line on stderr and exit status 1, which the
 * runner reports.
 */
export async function benchMain(name: string, body: (argv: string[]) => Promise<void>): Promise<void> {
  try {
    await body(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

/**
 * Ends a benchmark's output: the machine and its load as the figures were
 * taken, then the BENCH_JSON line with the figures and those facts.
 */
export function printFigures(bench: string, figures: Readonly<Record<string, unknown>>): void {
  const machine = machineFacts();
  console.log(`\nMeasured on ${describeMachine(machine)}.`);
  console.log(benchJsonLine(bench, { machine, ...figures }));
}
