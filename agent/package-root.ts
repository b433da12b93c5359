import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: { root: string; version: string } | undefined;

/**
 * The installed package's root, found by walking up from this module: the same
 * code runs from `agent/` under the test runner and from `dist/agent/` when
 * built, so no fixed number of `..` would be right for both.
 */
function locate(): { root: string; version: string } {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'accel-agent') return (cached = { root: dir, version: pkg.version ?? '0.0.0' });
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('accel-agent package root not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export function packageRoot(): string {
  return locate().root;
}

export function packageVersion(): string {
  return locate().version;
}

/** Where scripts/build-native.sh leaves the addon and the simulated-driver artifacts. */
export function nativeBuildDir(): string {
  return path.join(packageRoot(), 'build', 'native');
}
