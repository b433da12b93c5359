/** Polls until `cond` holds; fails with `what` after `timeoutMs` (generous: slow machines run these). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `get` yields something other than undefined (a throw counts as not yet) and returns it. */
export async function waitForValue<T>(get: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  let value: T | undefined;
  await waitFor(async () => (value = await get().catch(() => undefined)) !== undefined, what, timeoutMs, everyMs);
  return value as T;
}
