import t from 'tap';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTool } from '../../agent/vendors/run-tool.js';
import { tempRoot } from '../helpers/sysfs-tree.js';

async function script(body: string): Promise<string> {
  const file = path.join(await tempRoot('run-tool-'), 'tool.sh');
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

t.test('a tool that answers gives its exit code and output', async (t) => {
  const r = await runTool(await script('echo "a,b"; echo oops >&2; exit 3'), ['x'], { timeoutMs: 30_000 });
  t.same(r, { kind: 'exited', exitCode: 3, stdout: 'a,b\n', stderr: 'oops\n' });
});

t.test('arguments are passed as they are, never through a shell', async (t) => {
  const r = await runTool(await script('printf "%s|" "$@"'), ['--query-gpu=a,b', '$(id)', 'two words'], { timeoutMs: 30_000 });
  t.match(r, { kind: 'exited', stdout: '--query-gpu=a,b|$(id)|two words|' });
});

t.test('a hung tool is killed with its children at the timeout, not when they finish', async (t) => {
  // The child sleep holds the output pipe: killing only the shell would leave the call waiting 60 s.
  const file = await script('sleep 60 & sleep 60\necho never');
  const started = Date.now();
  const r = await runTool(file, [], { timeoutMs: 300 });
  t.same(r, { kind: 'timed-out' });
  t.ok(Date.now() - started < 30_000, `returned after ${Date.now() - started} ms`);
});

t.test('aborting stops the tool', async (t) => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const r = await runTool(await script('sleep 60'), [], { timeoutMs: 60_000, signal: ac.signal });
  t.same(r, { kind: 'aborted' });
  const again = await runTool(await script('echo hi'), [], { timeoutMs: 60_000, signal: ac.signal });
  t.same(again, { kind: 'aborted' }, 'an already aborted signal runs nothing');
});

t.test('a missing or non-executable tool fails with a reason', async (t) => {
  const r = await runTool('/nonexistent/nvidia-smi', [], { timeoutMs: 30_000 });
  t.match(r, { kind: 'failed', reason: /ENOENT|nonexistent/ });
  const file = await script('echo hi');
  await chmod(file, 0o644);
  t.match(await runTool(file, [], { timeoutMs: 30_000 }), { kind: 'failed', reason: /EACCES|permission/i });
});

t.test('output beyond the limit fails the run instead of filling memory', async (t) => {
  const r = await runTool(await script('head -c 200000 /dev/zero'), [], { timeoutMs: 30_000, maxOutputBytes: 1000 });
  t.match(r, { kind: 'failed', reason: /too large/ });
});

t.test('a tool killed by a signal it did not get from us fails with a reason', async (t) => {
  t.match(await runTool(await script('kill -SEGV $$'), [], { timeoutMs: 30_000 }), { kind: 'failed', reason: /SIGSEGV/ });
});
