/**
 * Running `accel-agent run` as a child process for benchmarks that measure
 * the daemon from outside: wait for it to be ready, read its CPU time, stop it.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** The log line the daemon writes once every service has started. */
export const READY_LINE = 'agent running';

/** Resolves once the daemon logs that it runs; rejects if it exits or stays silent first. */
export function ready(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`no "${READY_LINE}" within ${timeoutMs / 1000} s; log so far:\n${log.slice(-2000)}`)), timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      // Only the start matters; later lines are drained and dropped so the pipe never fills.
      if (log.length > 64 * 1024) return;
      log += chunk.toString();
      if (log.includes(READY_LINE)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`accel-agent run exited (${signal ?? code}) before it was ready:\n${log.slice(-2000)}`));
    });
  });
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code or signal. */
export function stopped(child: ChildProcess, timeoutMs: number): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(String(child.signalCode ?? child.exitCode));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(String(signal ?? code));
    });
    child.kill('SIGTERM');
  });
}

/** utime + stime of a process in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) is fields[11] and stime (15) is fields[12].
  return Number(fields[11]) + Number(fields[12]);
}

/** The kernel's clock ticks per second, the unit of `cpuTicks`; 100 where getconf cannot say. */
export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}
