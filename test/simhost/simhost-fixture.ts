import { access, lstat, mkdtemp, readdir, readlink, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { nativeBuildDir } from '../../agent/package-root.js';

interface Teardown {
  teardown: (fn: () => Promise<void> | void) => void;
}

/** A fresh directory under the system temp dir, removed when the test ends. */
export async function tempDir(t: Teardown, prefix = 'simhost-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const NATIVE_FILES = [
  'libnvidia-ml.so.1',
  'nvidia-smi',
  'fake-libs/libcuda.so.1',
  'fake-libs/libnvidia-ptxjitcompiler.so.1',
  'fake-libs/libnvidia-allocator.so.1',
  'fake-libs/libnvidia-cfg.so.1',
  'fake-libs/libnvidia-opencl.so.1',
  'fake-libs/libnvidia-nvvm.so.4',
  'fake-libs/libhgrt.so.1',
];

/** Why the native artifacts the NVIDIA and NPU profiles copy are unusable, or null when they are all built. */
export async function nativeMissing(): Promise<string | null> {
  const missing: string[] = [];
  for (const f of NATIVE_FILES) {
    try {
      await access(path.join(nativeBuildDir(), f));
    } catch {
      missing.push(f);
    }
  }
  return missing.length === 0 ? null : `build/native lacks ${missing.join(', ')}: run \`bash scripts/build-native.sh\` first`;
}

export interface TreeEntry {
  type: 'dir' | 'file' | 'link' | 'char' | 'socket' | 'other';
  /** Link target, file size or device rdev, so two listings differ when anything changed. */
  detail: string;
}

/** Every entry under `root` (host path → kind and detail), without following links. */
export async function listTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const walk = async (hostDir: string) => {
    for (const name of (await readdir(path.join(root, hostDir))).sort()) {
      const hostPath = path.posix.join(hostDir, name);
      const full = path.join(root, hostPath);
      const st = await lstat(full);
      if (st.isSymbolicLink()) out.set(hostPath, { type: 'link', detail: await readlink(full) });
      else if (st.isDirectory()) {
        out.set(hostPath, { type: 'dir', detail: '' });
        await walk(hostPath);
      } else if (st.isCharacterDevice()) out.set(hostPath, { type: 'char', detail: String(st.rdev) });
      else if (st.isSocket()) out.set(hostPath, { type: 'socket', detail: '' });
      else if (st.isFile()) out.set(hostPath, { type: 'file', detail: `${st.size}:${st.mode.toString(8)}` });
      else out.set(hostPath, { type: 'other', detail: '' });
    }
  };
  await walk('/');
  return out;
}

/** Major and minor of a char device node (Linux's dev_t encoding). */
export async function deviceNumbers(file: string): Promise<{ major: number; minor: number }> {
  const rdev = BigInt((await stat(file, { bigint: true })).rdev);
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
