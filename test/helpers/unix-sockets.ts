/** Unix-socket fixtures for API tests: short temp dirs and stale sockets. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';

/** A fresh directory under the system temp dir, short enough for socket paths, removed after the test. */
export function socketDir(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'accel-api-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Leaves a socket file nobody listens on, as a crashed agent does: a child
 * binds it and is killed with SIGKILL, so nothing unlinks it.
 */
export async function makeStaleSocket(socketPath: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`socket child exited early (${code})`)));
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
