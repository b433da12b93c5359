/**
 * Cleanup that must also happen when a benchmark is interrupted (Ctrl-C, or
 * the runner's SIGTERM on timeout): a `finally` block does not run when a
 * signal ends the process, so temp trees and child agents would be left.
 */

const pending = new Set<() => void>();
let installed = false;

function onSignal(signal: NodeJS.Signals, number: number): void {
  // Latest first: a child started in a temp tree is stopped before the tree goes.
  for (const action of [...pending].reverse()) {
    try {
      action();
    } catch {
      // Best effort: the remaining actions still deserve their turn.
    }
  }
  pending.clear();
  process.stderr.write(`interrupted by ${signal}; cleaned up\n`);
  process.exit(128 + number);
}

/**
 * Runs `action` (synchronously) if SIGINT or SIGTERM arrives, then exits with
 * 128 + the signal number. Returns the function that withdraws it once the
 * normal path has cleaned up.
 */
export function cleanupOnInterrupt(action: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once('SIGINT', () => onSignal('SIGINT', 2));
    process.once('SIGTERM', () => onSignal('SIGTERM', 15));
  }
  pending.add(action);
  return () => void pending.delete(action);
}
