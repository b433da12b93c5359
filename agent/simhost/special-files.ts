/**
 * The files of a simulated host Node cannot make by itself: char device
 * nodes (mknod), a unix socket left behind with nobody listening, and a
 * genuine ld.so.cache. Each reports what it managed instead of failing
 * silently, so the writer can record placeholders in the manifest.
 */
import { spawn } from 'node:child_process';
import { access, constants, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describeError } from '../errors.js';

export interface MadeFile {
  /** True when the real kind of file was made; false when a regular file stands in for it. */
  real: boolean;
  /** Why not, when `real` is false. */
  reason: string;
}

/** A char device node via mknod(1); a regular placeholder file when mknod is missing or refused. */
export async function makeCharDevice(file: string, major: number, minor: number, mode: number): Promise<MadeFile> {
  try {
    await execa('mknod', ['-m', mode.toString(8), file, 'c', String(major), String(minor)], { timeout: 10_000, stdin: 'ignore' });
    return { real: true, reason: '' };
  } catch (err) {
    await writeFile(file, '', { mode, flag: 'wx' });
    return { real: false, reason: `mknod ${major}:${minor} refused: ${commandFailure(err, 'mknod')}` };
  }
}

/**
 * Leaves a unix socket file at `file`. A Node server removes its socket
 * when it closes, so a child binds it and is killed with SIGKILL before it
 * can. It binds by a path relative to its working directory, which keeps
 * deep trees under the 108-byte limit of a socket address.
 */
export async function makeStaleSocket(file: string, timeoutMs = 15_000): Promise<MadeFile> {
  const script =
    "const s=require('net').createServer();s.on('error',e=>{process.stderr.write(String(e.message));process.exit(3)});" +
    "s.listen(process.argv[1],()=>process.kill(process.pid,'SIGKILL'))";
  const result = await new Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['-e', script, path.basename(file)], {
      cwd: path.dirname(file),
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutMs,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ signal: null, code: null, stderr: describeError(err) }));
    child.on('close', (code, signal) => resolve({ signal, code, stderr }));
  });
  if (result.signal === 'SIGKILL' && (await exists(file))) return { real: true, reason: '' };
  const reason = `could not leave a unix socket (${result.stderr || `exit ${result.code ?? result.signal}`})`;
  if (!(await exists(file))) await writeFile(file, '', { mode: 0o600, flag: 'wx' });
  return { real: false, reason };
}

const LDCONFIG_CANDIDATES = ['/usr/sbin/ldconfig', '/sbin/ldconfig'];

/** Where Debian's ldconfig is; non-root PATHs often lack the sbin directories. */
export async function findLdconfig(): Promise<string | null> {
  for (const candidate of LDCONFIG_CANDIDATES) {
    if (await exists(candidate, constants.X_OK)) return candidate;
  }
  for (const dir of (process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/'))) {
    const candidate = path.join(dir, 'ldconfig');
    if (await exists(candidate, constants.X_OK)) return candidate;
  }
  return null;
}

/**
 * Builds `<root>/etc/ld.so.cache` from `<root>/etc/ld.so.conf` with
 * `ldconfig -r`, leaving the links the writer made alone (-X).
 */
export async function buildLdCache(root: string, ldconfig?: string): Promise<MadeFile> {
  const bin = ldconfig ?? (await findLdconfig());
  if (bin === null) return { real: false, reason: 'ldconfig not found (Debian package libc-bin); no ld.so.cache written' };
  try {
    const { stderr } = await execa(bin, ['-X', '-r', root], { timeout: 60_000, stdin: 'ignore' });
    if (!(await exists(path.join(root, 'etc', 'ld.so.cache')))) {
      return { real: false, reason: `${bin} wrote no cache${stderr ? `: ${stderr.trim()}` : ''}` };
    }
    return { real: true, reason: stderr.trim() };
  } catch (err) {
    return { real: false, reason: `${bin} failed: ${commandFailure(err, bin)}` };
  }
}

/** One line saying why a command failed: not installed, its own complaint, or the error. */
function commandFailure(err: unknown, command: string): string {
  const e = err as { code?: unknown; stderr?: unknown };
  if (e.code === 'ENOENT') return `${command} not found`;
  const text = typeof e.stderr === 'string' && e.stderr.trim() !== '' ? e.stderr : describeError(err);
  return text.replace(/\s+/g, ' ').trim();
}

async function exists(file: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(file, mode);
    return true;
  } catch {
    return false;
  }
}
