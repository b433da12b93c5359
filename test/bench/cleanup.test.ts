import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../../agent/package-root.js';
import { tempDir } from '../helpers/temp-dir.js';

// The behaviour only shows when a real signal ends a real process, so a child runs the module.
async function runChild(script: string, signal: NodeJS.Signals | null): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', script], {
    cwd: packageRoot(),
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  if (signal) {
    for (let i = 0; i < 600 && !done && !stdout.includes('armed'); i++) await sleep(100);
    child.kill(signal);
  }
  return { code: await exited, stderr };
}

function script(dir: string, body: string): string {
  // .mts: outside the package a .ts file would load as CommonJS.
  const file = path.join(dir, 'child.mts');
  const lib = path.join(packageRoot(), 'bench/lib/cleanup.ts');
  writeFileSync(file, `import { cleanupOnInterrupt } from ${JSON.stringify(lib)};\n${body}\n`);
  return file;
}

t.test('SIGTERM runs the registered cleanups, latest first, and exits with 143', async (t) => {
  const dir = await tempDir(t, 'bench-cleanup-');
  const tree = path.join(dir, 'tree');
  mkdirSync(tree);
  const log = path.join(dir, 'log');
  const file = script(
    dir,
    `import { appendFileSync, rmSync } from 'node:fs';
     cleanupOnInterrupt(() => { appendFileSync(${JSON.stringify(log)}, 'tree\\n'); rmSync(${JSON.stringify(tree)}, { recursive: true }); });
     cleanupOnInterrupt(() => { throw new Error('a failing cleanup'); });
     cleanupOnInterrupt(() => appendFileSync(${JSON.stringify(log)}, 'child\\n'));
     setInterval(() => {}, 1000);
     console.log('armed');`,
  );
  const { code, stderr } = await runChild(file, 'SIGTERM');
  t.equal(code, 143);
  t.notOk(existsSync(tree), 'the temp tree is gone');
  t.equal(readFileSync(log, 'utf8'), 'child\ntree\n', 'the later registration ran first; a failing one did not stop the rest');
  t.match(stderr, /interrupted by SIGTERM; cleaned up/);
});

t.test('SIGINT does the same and exits with 130', async (t) => {
  const dir = await tempDir(t, 'bench-cleanup-');
  const marker = path.join(dir, 'marker');
  const file = script(
    dir,
    `import { writeFileSync } from 'node:fs';
     cleanupOnInterrupt(() => writeFileSync(${JSON.stringify(marker)}, ''));
     setInterval(() => {}, 1000);
     console.log('armed');`,
  );
  t.equal((await runChild(file, 'SIGINT')).code, 130);
  t.ok(existsSync(marker));
});

t.test('a withdrawn cleanup does not run', async (t) => {
  const dir = await tempDir(t, 'bench-cleanup-');
  const kept = path.join(dir, 'kept');
  mkdirSync(kept);
  const file = script(
    dir,
    `import { rmSync } from 'node:fs';
     const withdraw = cleanupOnInterrupt(() => rmSync(${JSON.stringify(kept)}, { recursive: true }));
     withdraw();
     cleanupOnInterrupt(() => {});
     setInterval(() => {}, 1000);
     console.log('armed');`,
  );
  t.equal((await runChild(file, 'SIGTERM')).code, 143);
  t.ok(existsSync(kept), 'what the normal path cleans itself is left to it');
});
