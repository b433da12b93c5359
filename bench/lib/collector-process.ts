/**
 * The reference collector as a child process started through its real CLI,
 * so its CPU time and memory are its own and can be read from /proc.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../agent/package-root.js';
import { stopped } from './agent-process.js';
import { cleanupOnInterrupt } from './cleanup.js';

const LOG_TAIL_CHARS = 4000;

export interface CollectorProcess {
  pid: number;
  port: number;
  /** Settles when the process ends, with its exit code or signal. */
  exited: Promise<string>;
  /** The end of its log, for error messages. */
  logTail(): string;
  /** SIGTERM (its graceful shutdown), SIGKILL if that takes too long. */
  stop(): Promise<string>;
}

export interface CollectorProcessOptions {
  /** Put before `node`, for example `taskset -c 0`. */
  prefix: readonly string[];
  dataDir: string;
  tokenFile: string;
  startTimeoutMs: number;
}

/** The port from the collector's "collector listening" log line, or null for any other line. */
function listeningPort(line: string): number | null {
  if (!line.includes('collector listening')) return null;
  try {
    const entry = JSON.parse(line) as { address?: { port?: unknown } };
    return typeof entry.address?.port === 'number' ? entry.address.port : null;
  } catch {
    return null;
  }
}

/**
 * Starts `accel-collector` on an ephemeral loopback port (it binds port 0 and
 * logs the port it got, so no other process can take the port in between)
 * and resolves once it listens. It is killed if the benchmark is interrupted.
 */
export async function startCollectorProcess(options: CollectorProcessOptions): Promise<CollectorProcess> {
  const argv = [
    ...options.prefix,
    process.execPath,
    path.join(packageRoot(), 'bin/accel-collector.js'),
    '--listen', '127.0.0.1:0',
    '--data-dir', options.dataDir,
    '--token-file', options.tokenFile,
    '--log-level', 'info',
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const withdraw = cleanupOnInterrupt(() => child.kill('SIGKILL'));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(String(signal ?? code))));
  let tail = '';
  let partial = '';
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the collector did not listen within ${options.startTimeoutMs / 1000} s:\n${tail}`)), options.startTimeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`the collector exited (${how}) before it listened:\n${tail}`));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-LOG_TAIL_CHARS);
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const found = listeningPort(line);
        if (found !== null) {
          clearTimeout(timer);
          resolve(found);
        }
      }
    });
  });
  const stop = async () => {
    const how = await stopped(child, 10_000);
    withdraw();
    return how;
  };
  try {
    return { pid: child.pid!, port: await port, exited, logTail: () => tail, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
