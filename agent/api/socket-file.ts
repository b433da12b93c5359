/**
 * Filesystem side of serving on a unix socket as a privileged process: the
 * socket must never be reachable with a wider mode than configured, and the
 * agent must never delete something at the socket path that is not a stale
 * socket of its own kind.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const PROBE_TIMEOUT_MS = 2000;

export interface SocketPlan {
  /** Where clients connect. */
  finalPath: string;
  /** A 0700 directory next to the final path where the socket is bound first. */
  privateDir: string;
  bindPath: string;
}

export interface PrepareOptions {
  /** Group given the directory when it is created here. */
  gid?: number;
  /**
   * Whether a missing directory is made (the default). A directory that
   * belongs to someone else, like kubelet's, must not be: its absence means
   * its owner is not there, and one made here would hide its return.
   */
  createDir?: boolean;
}

/**
 * Checks the socket path and makes its directory (0750, group set when a gid
 * is given) if missing. Refuses a path holding anything but a stale socket.
 */
export async function prepareSocket(socketPath: string, options: PrepareOptions = {}): Promise<SocketPlan> {
  if (!path.isAbsolute(socketPath)) {
    throw new AccelError(ErrorCode.API_SOCKET, `the API socket path must be absolute, got ${JSON.stringify(socketPath)}`);
  }
  const finalPath = path.normalize(socketPath);
  if (Buffer.byteLength(finalPath) > MAX_SOCKET_PATH_BYTES) {
    throw new AccelError(ErrorCode.API_SOCKET, `the API socket path ${finalPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a unix socket address holds`);
  }
  const dir = path.dirname(finalPath);
  const { gid, createDir = true } = options;
  if (createDir) {
    try {
      const created = await fs.mkdir(dir, { recursive: true, mode: 0o750 });
      // Group members need to traverse the directory to reach the socket.
      if (created !== undefined && gid !== undefined) await fs.chown(dir, -1, gid);
    } catch (err) {
      throw new AccelError(ErrorCode.API_SOCKET, `cannot create the API socket directory ${dir}`, { cause: err });
    }
  }

  await refuseUnlessStale(finalPath);

  let privateDir: string;
  try {
    privateDir = await fs.mkdtemp(path.join(dir, '.api-'));
  } catch (err) {
    throw new AccelError(ErrorCode.API_SOCKET, `cannot create a private bind directory in ${dir}`, { cause: err });
  }
  const bindPath = path.join(privateDir, 's');
  if (Buffer.byteLength(bindPath) > MAX_SOCKET_PATH_BYTES) {
    await fs.rm(privateDir, { recursive: true, force: true });
    throw new AccelError(ErrorCode.API_SOCKET, `the API socket directory ${dir} is too deep to bind a socket in`);
  }
  return { finalPath, privateDir, bindPath };
}

/**
 * Gives the bound socket its final mode and group while it is still inside
 * the private directory, then moves it into place in one rename (which also
 * replaces a stale socket atomically). Returns the socket's inode, so stop
 * can tell its own socket from one a successor put there.
 */
export async function publishSocket(plan: SocketPlan, mode: number, gid?: number): Promise<number> {
  await fs.chmod(plan.bindPath, mode);
  if (gid !== undefined) await fs.chown(plan.bindPath, -1, gid);
  // Checked again right before the rename: something may have appeared since prepareSocket.
  await refuseUnlessStale(plan.finalPath);
  await fs.rename(plan.bindPath, plan.finalPath);
  await discardPlan(plan);
  return (await fs.lstat(plan.finalPath)).ino;
}

/** Removes the private bind directory; safe to call more than once. */
export async function discardPlan(plan: SocketPlan): Promise<void> {
  await fs.rm(plan.privateDir, { recursive: true, force: true });
}

/** Unlinks the socket only if it is still the one this process published. */
export async function removeSocket(socketPath: string, ino: number): Promise<boolean> {
  try {
    const st = await fs.lstat(socketPath);
    if (!st.isSocket() || st.ino !== ino) return false;
    await fs.unlink(socketPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function refuseUnlessStale(socketPath: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new AccelError(ErrorCode.API_SOCKET, `cannot inspect ${socketPath}`, { cause: err });
  }
  if (!st.isSocket()) {
    const what = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'not a socket';
    throw new AccelError(ErrorCode.API_SOCKET, `refusing to replace ${socketPath}: it is ${what}`, { details: { path: socketPath } });
  }
  if (await answers(socketPath)) {
    throw new AccelError(ErrorCode.API_SOCKET, `another process is already serving on ${socketPath}`, { details: { path: socketPath } });
  }
}

/** True when something accepts connections on the socket; false when it is stale. */
async function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection({ path: socketPath });
    const done = (result: boolean | Error) => {
      conn.destroy();
      clearTimeout(timer);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    // A listener too busy to accept within the timeout is still a listener.
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    conn.once('connect', () => done(true));
    conn.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') done(false);
      else done(new AccelError(ErrorCode.API_SOCKET, `cannot probe ${socketPath}`, { cause: err }));
    });
  });
}
