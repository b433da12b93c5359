/**
 * Calls `stop` on the first SIGTERM or SIGINT and exits once it resolves; a
 * second signal, or a stop that takes longer than `graceMs`, exits at once.
 * Node as PID 1 would otherwise ignore SIGTERM altogether.
 */
export interface SignalSource {
  on(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): unknown;
}

export function stopOnSignals(
  stop: () => Promise<void>,
  opts: { graceMs?: number; exit?: (code: number) => void; source?: SignalSource } = {},
): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const source = opts.source ?? process;
  const graceMs = opts.graceMs ?? 10_000;
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      exit(128 + (signal === 'SIGINT' ? 2 : 15));
      return;
    }
    stopping = true;
    const timer = setTimeout(() => exit(1), graceMs);
    timer.unref();
    stop().then(
      () => {
        clearTimeout(timer);
        exit(0);
      },
      () => {
        clearTimeout(timer);
        exit(1);
      },
    );
  };
  source.on('SIGTERM', handler);
  source.on('SIGINT', handler);
  return () => {
    source.off('SIGTERM', handler);
    source.off('SIGINT', handler);
  };
}
