/**
 * The reason an error gives, for warnings and source reports that operators
 * read: each message in the cause chain once, without error codes (logs keep
 * those). Causes whose text the outer message already quotes are dropped,
 * so "NVML is unavailable: init failed" does not repeat "init failed".
 */
export function plainReason(err: unknown): string {
  let text = '';
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const message = cur instanceof Error ? cur.message : String(cur);
    if (message !== '' && !text.includes(message)) text = text === '' ? message : `${text}: ${message}`;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return text || 'unknown error';
}
