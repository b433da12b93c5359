export interface RunToolOptions {
  /** The whole process group is killed after this long. */
  timeoutMs: number;
  /** Aborting kills the process group too. */
  signal?: AbortSignal;
  /** Output beyond this many bytes makes the run fail rather than fill memory. */
  maxOutputBytes?: number;
}

export type ToolOutcome =
  | { kind: 'exited'; exitCode: number; stdout: string; stderr: string }
  | { kind: 'timed-out' }
  | { kind: 'aborted' }
  | { kind: 'failed'; reason: string };

/**
 * Runs a vendor tool (nvidia-smi and the like) in its own process group and
 * kills the whole group on timeout. Killing only the direct child is not
 * enough: a wrapper script's children keep the output pipe open and the call
 * would wait for them however short the timeout.
 */
export async function runTool(file: string, args: readonly string[], options: RunToolOptions): Promise<ToolOutcome> {
  // Loaded on first use: tools run only when NVML is missing or broken, and
  // execa with its dependencies is over 2 MiB of heap in an idle daemon.
  const { execa } = await import('execa');
  if (options.signal?.aborted) return { kind: 'aborted' };
  const child = execa(file, args, {
    detached: true,
    reject: false,
    stdin: 'ignore',
    maxBuffer: options.maxOutputBytes ?? 1024 * 1024,
    stripFinalNewline: false,
  });
  let ended: 'timed-out' | 'aborted' | null = null;
  const killGroup = (why: 'timed-out' | 'aborted') => {
    ended ??= why;
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone: nothing left to stop.
    }
  };
  const timer = setTimeout(() => killGroup('timed-out'), options.timeoutMs);
  const onAbort = () => killGroup('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await child;
    if (ended !== null) return { kind: ended };
    if (result.isMaxBuffer) return { kind: 'failed', reason: 'output too large' };
    // No exit code: it never started, or a signal we did not send ended it.
    if (result.exitCode === undefined) return { kind: 'failed', reason: result.shortMessage ?? 'ended without an exit code' };
    return { kind: 'exited', exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
