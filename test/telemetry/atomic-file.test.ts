import t from 'tap';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isAtomicTemp, writeFileAtomic } from '../../agent/telemetry/atomic-file.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('replaces the content whole and leaves no temporary file behind', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'state.json');
  await writeFileAtomic(target, 'one');
  await writeFileAtomic(target, 'two');
  t.equal(await readFile(target, 'utf8'), 'two');
  t.same(await readdir(dir), ['state.json']);
  t.equal((await stat(target)).mode & 0o777, 0o600, 'private by default');
});

t.test('a write into a missing directory fails and leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  await t.rejects(writeFileAtomic(path.join(dir, 'missing-dir', 'x'), 'data'));
  t.same(await readdir(dir), []);
});

t.test('recognises its own temporary names only', async (t) => {
  t.ok(isAtomicTemp('.spool.json.abcd1234.tmp'));
  t.notOk(isAtomicTemp('spool.json'));
  t.notOk(isAtomicTemp('00000000000000000001.seg'));
});
