import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../../agent/package-root.js';

/**
 * accel-runtime compiled to JavaScript, as it runs in production: tests that
 * start it as a separate process (so runc's and the container's output can be
 * captured) and the overhead benchmark must not pay a TypeScript loader.
 * Only the wrapper's own module graph is compiled, into a directory under
 * build/ so the package's node_modules resolve.
 */
export interface RuntimeBuild {
  /** An executable script: `<entry> [runc args...]`. */
  entry: string;
  remove(): void;
}

export function buildRuntime(): RuntimeBuild {
  const root = packageRoot();
  mkdirSync(path.join(root, 'build'), { recursive: true });
  const out = mkdtempSync(path.join(root, 'build', 'runtime-js-'));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const args = [
    tsc, '--outDir', out, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--strict', '--skipLibCheck', '--types', 'node', '--sourceMap', 'false',
    path.join(root, 'agent/runtime/main.ts'),
  ];
  try {
    execFileSync(process.execPath, args, { stdio: 'pipe' });
  } catch (err) {
    // Type errors still emit JavaScript; only a missing output is fatal.
    if (!existsSync(path.join(out, 'agent/runtime/main.js'))) throw err;
  }
  const entry = path.join(out, 'accel-runtime.mjs');
  writeFileSync(
    entry,
    `#!${process.execPath}\nimport { main } from './agent/runtime/main.js';\nprocess.exitCode = await main(process.argv.slice(2));\n`,
  );
  chmodSync(entry, 0o755);
  return { entry, remove: () => rmSync(out, { recursive: true, force: true }) };
}
