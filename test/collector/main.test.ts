import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../agent/errors.js';
import { main, parseCollectorArgs, parseListen } from '../../agent/collector/main.js';
import { tempDir } from '../helpers/temp-dir.js';
import { TsChild } from '../helpers/ts-child.js';

const here = path.dirname(fileURLToPath(import.meta.url));

t.test('listen addresses', async (t) => {
  t.same(parseListen('127.0.0.1:9400'), { host: '127.0.0.1', port: 9400 });
  t.same(parseListen(':9400'), { host: '0.0.0.0', port: 9400 });
  t.same(parseListen('[::1]:0'), { host: '::1', port: 0 });
  for (const bad of ['9400', 'host:', 'host:99999', 'a:b:c', '']) t.throws(() => parseListen(bad), { code: ErrorCode.USAGE }, bad);
});

t.test('arguments', async (t) => {
  const base = ['--listen', ':9400', '--data-dir', '/d', '--token-file', '/t'];
  t.match(parseCollectorArgs(base), { host: '0.0.0.0', port: 9400, dataDir: '/d', tokenFile: '/t', logLevel: 'info' });
  t.match(parseCollectorArgs([...base, '--tls-cert', 'c', '--tls-key', 'k', '--max-frame-bytes', '65536']), { tlsCert: 'c', tlsKey: 'k', maxFrameBytes: 65536 });
  t.equal(parseCollectorArgs(['--help']), 'help');
  const bad: string[][] = [
    ['--listen', ':1'],
    [...base, '--tls-cert', 'c'],
    [...base, '--log-level', 'loud'],
    [...base, '--max-frame-bytes', '10'],
    [...base, '--unknown'],
    [...base, 'positional'],
  ];
  for (const argv of bad) t.throws(() => parseCollectorArgs(argv), { code: ErrorCode.USAGE }, argv.join(' '));
});

t.test('main reports usage errors with exit code 2 and help with 0', async (t) => {
  let out = '';
  let err = '';
  const io = { out: (s: string) => (out += s), err: (s: string) => (err += s) };
  t.equal(await main(['--listen'], undefined, io), 2);
  t.match(err, /usage: accel-collector/);
  t.equal(await main(['--help'], undefined, io), 0);
  t.match(out, /--data-dir/);
});

t.test('main fails with exit code 1 when the collector cannot start', async (t) => {
  const dir = await tempDir(t);
  t.capture(process.stderr, 'write');
  t.equal(await main(['--listen', '127.0.0.1:0', '--data-dir', dir, '--token-file', path.join(dir, 'missing'), '--log-level', 'silent']), 1);
});

t.test('the collector process serves until SIGTERM and then exits cleanly', async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  await writeFile(tokens, 'x\n');
  const child = new TsChild(path.join(here, '..', 'e2e', 'fixtures', 'collector-process.ts'), [
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    path.join(dir, 'data'),
    '--token-file',
    tokens,
    '--log-level',
    'warn',
  ]);
  t.teardown(() => child.kill('SIGKILL'));
  const port = Number((await child.waitForLine(/^listening (\d+)$/, 60_000))[1]);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(health.status, 200);
  await child.kill('SIGTERM');
  t.same(await child.exited, { code: 0, signal: null });
});
