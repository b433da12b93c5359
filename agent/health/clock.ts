/**
 * Time and timers behind one interface so the health logic can be driven by
 * a fake clock in tests and never reads the wall clock on its own.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Opaque to callers: only the clock that made a handle may interpret it. */
export type TimerHandle = object;

/**
 * The real clock. Timers are unref'd: health checks must never be the only
 * thing keeping the process alive after everything else has shut down.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/** Resolves after `ms` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clock.clearTimer(handle);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const handle = clock.setTimer(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
