import { appendFileSync, writeSync } from 'node:fs';
import type { LogFormat } from './runtime-args.js';

/**
 * Messages in runc's own log format (logrus text or JSON), so whatever reads
 * runc's stderr or its `--log` file (containerd shows the last error line
 * when a create fails) reads ours the same way.
 */

export type RuncLogLevel = 'error' | 'warning' | 'info';

export function formatRuncLogLine(format: LogFormat, level: RuncLogLevel, msg: string, now: Date = new Date()): string {
  const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (format === 'json') return `${JSON.stringify({ level, msg, time })}\n`;
  return `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

export interface RuncLogTarget {
  format: LogFormat;
  /** runc's `--log` file, or null. */
  file: string | null;
}

/** Appends to runc's `--log` file when there is one; a log that cannot be written is not worth failing for. */
export function logToRuncFile(target: RuncLogTarget, level: RuncLogLevel, msg: string): void {
  if (target.file === null) return;
  try {
    appendFileSync(target.file, formatRuncLogLine(target.format, level, msg));
  } catch {
    // The runtime must still report to stderr; nothing else to do.
  }
}

/**
 * Reports a failure on stderr and in runc's log file. Writes to fd 2
 * directly: opening process.stderr could switch a shared pipe to
 * non-blocking mode under runc and the container.
 */
export function reportError(target: RuncLogTarget, msg: string): void {
  const line = formatRuncLogLine(target.format, 'error', msg);
  try {
    writeSync(2, line);
  } catch {
    // stderr closed: the exit status still says it failed.
  }
  logToRuncFile(target, 'error', msg);
}
