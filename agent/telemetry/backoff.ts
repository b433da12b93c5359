/**
 * Reconnect delays: exponential growth with "full jitter" (a uniformly random
 * delay between zero and the exponential bound) so a fleet that lost its
 * collector at the same instant does not come back at the same instant. The
 * bound is capped and the attempts never stop: a retry budget that runs out
 * is exactly how other agents lose queued data during long outages.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 60_000 };

export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * exp);
}
