import { spawn } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { constants } from 'node:os';
import { AccelError, ErrorCode } from '../errors.js';

/** Signals a supervisor sends to the runtime that runc must receive instead. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export interface SpawnRuncOptions {
  env: NodeJS.ProcessEnv;
  /**
   * Descriptors beyond stdio that runc hands on to the container
   * (`$LISTEN_FDS` + `--preserve-fds`); they are passed at the same numbers.
   */
  extraFds: number;
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs runc with our stdio and the given argv, forwarding signals, and
 * resolves to its exit status (128 + signal number when a signal ended it,
 * as a shell reports it).
 */
export function runRunc(runc: string, argv: readonly string[], options: SpawnRuncOptions): Promise<number> {
  const stdio: Array<'inherit' | number | 'ignore'> = ['inherit', 'inherit', 'inherit'];
  for (let fd = 3; fd < 3 + options.extraFds; fd++) stdio.push(isOpen(fd) ? fd : 'ignore');
  return new Promise((resolve, reject) => {
    const child = spawn(runc, [...argv], { stdio, env: options.env, argv0: 'runc' });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const s of FORWARDED) process.on(s, forward);
    const done = (): void => {
      for (const s of FORWARDED) process.off(s, forward);
    };
    child.once('error', (err) => {
      done();
      reject(new AccelError(ErrorCode.RUNTIME_EXEC, `cannot start ${runc}: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}
