import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Real shared objects and real ld.so.caches for tests: libraries compiled by
 * gcc with a chosen soname, caches written by the system's own `ldconfig -r`.
 * Tests that need them skip with a reason when the tools are missing.
 */

export function missingTools(): string | null {
  for (const tool of ['gcc', 'ldconfig']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool} || test -x /sbin/${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  return null;
}

let sourceDirPath: string | null = null;
function sourceDir(): string {
  if (sourceDirPath === null) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'accel-libsrc-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    sourceDirPath = dir;
  }
  return sourceDirPath;
}

/** Compiles a tiny shared object at `file` whose DT_SONAME is `soname` (none when null). */
export function buildSharedObject(file: string, soname: string | null, extraFlags: string[] = []): void {
  const src = path.join(sourceDir(), 'lib.c');
  writeFileSync(src, 'int accel_test_symbol(void) { return 42; }\n');
  mkdirSync(path.dirname(file), { recursive: true });
  const sonameFlag = soname === null ? [] : [`-Wl,-soname,${soname}`];
  execFileSync('gcc', ['-shared', '-fPIC', '-nostdlib', ...sonameFlag, ...extraFlags, '-o', file, src], { stdio: 'pipe' });
}

/** Compiles a tiny executable (no soname, but a PT_DYNAMIC segment). */
export function buildExecutable(file: string): void {
  const src = path.join(sourceDir(), 'main.c');
  writeFileSync(src, 'int main(void) { return 0; }\n');
  mkdirSync(path.dirname(file), { recursive: true });
  execFileSync('gcc', ['-o', file, src], { stdio: 'pipe' });
}

export type CacheFormat = 'new' | 'compat';

/** Runs `ldconfig -r root` over `dirs` (host paths inside root), writing `root/etc/ld.so.cache`. */
export function buildLdCache(root: string, dirs: string[], format: CacheFormat = 'new'): string {
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc/ld.so.conf'), dirs.join('\n') + '\n');
  execFileSync(ldconfigPath(), ['-r', root, '-c', format], { stdio: 'pipe' });
  return path.join(root, 'etc/ld.so.cache');
}

function ldconfigPath(): string {
  for (const p of ['/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      execFileSync('test', ['-x', p]);
      return p;
    } catch {
      // try the next location
    }
  }
  return 'ldconfig';
}
