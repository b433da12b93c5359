import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../agent/package-root.js';

const execFileAsync = promisify(execFile);

/**
 * The CommonJS files a fresh Node process has loaded once `body` (ES module
 * code, run from the package root) is done. Packages imported from ES
 * modules still load their CommonJS parts through require, so its cache
 * shows every such package used. A fresh process, because the test runner
 * and the test file load packages of their own; `execArgv` is empty for
 * built JavaScript, or the runner's own flags to import TypeScript.
 */
export async function commonJsLoadedBy(body: string, execArgv: readonly string[] = []): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    ${body}
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  // The process runs built JavaScript: its coverage would count dist/ files beside the sources
  // they come from, so the test runner's process tracking is told not to collect it there.
  const { NODE_V8_COVERAGE: _coverage, ...rest } = process.env;
  const env = { ...rest, _TAPJS_PROCESSINFO_COVERAGE_: '0' };
  const { stdout } = await execFileAsync(process.execPath, [...execArgv, '--input-type=module', '-e', script], { cwd: packageRoot(), env });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
}

/** The files of one installed package among `loaded`. */
export function filesOfPackage(loaded: readonly string[], name: string): string[] {
  return loaded.filter((file) => file.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`));
}
