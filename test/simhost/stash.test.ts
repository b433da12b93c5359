import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { Stash, STASH_DIR, restoreStash, stashExists } from '../../agent/simhost/stash.js';
import { listTree, tempDir } from './simhost-fixture.js';

async function tree(root: string) {
  const all = await listTree(root);
  for (const k of [...all.keys()]) if (k.startsWith(STASH_DIR)) all.delete(k);
  return all;
}

t.test('moves and replacements are undone in reverse order', async (t) => {
  const root = await tempDir(t);
  await mkdir(path.join(root, 'a/b'), { recursive: true });
  await writeFile(path.join(root, 'a/b/file'), 'one');
  await writeFile(path.join(root, 'a/text'), 'original');
  const before = await tree(root);
  const stash = await Stash.begin(root, 'k1');
  t.equal(await stashExists(root, 'k1'), true);
  t.equal(await stash.move('/a/b'), true);
  t.equal(await stash.move('/a/missing'), false, 'absent paths are skipped');
  await stash.replace('/a/text', 'changed');
  t.equal(await readFile(path.join(root, 'a/text'), 'utf8'), 'changed');
  await t.rejects(Stash.begin(root, 'k1'), /already in effect/);
  await restoreStash(root, 'k1');
  t.same(await tree(root), before);
  t.equal(await readFile(path.join(root, 'a/text'), 'utf8'), 'original');
  t.equal(await stashExists(root, 'k1'), false);
});

t.test('restoring refuses to overwrite something created since', async (t) => {
  const root = await tempDir(t);
  await writeFile(path.join(root, 'f'), 'old');
  const stash = await Stash.begin(root, 'k');
  await stash.move('/f');
  await writeFile(path.join(root, 'f'), 'new');
  await t.rejects(restoreStash(root, 'k'), /something is there now/);
  t.equal(await readFile(path.join(root, 'f'), 'utf8'), 'new');
});

t.test('bad keys, missing stashes, replacing nothing and hostile journals are refused', async (t) => {
  const root = await tempDir(t);
  for (const key of ['', '../x', 'a/b', '.hidden']) await t.rejects(Stash.begin(root, key), /bad stash key/, JSON.stringify(key));
  await t.rejects(restoreStash(root, 'none'), /no change none to restore/);
  const stash = await Stash.begin(root, 'k');
  await t.rejects(stash.replace('/nothing', 'x'), /does not exist/);
  for (const journal of ['not json at all', '{"path":"/x"}', '[{"path":"rel","replaced":false}]', '[{"path":"/x","replaced":"no"}]']) {
    await writeFile(path.join(root, STASH_DIR, 'k', 'journal.json'), journal);
    await t.rejects(restoreStash(root, 'k'), { code: ErrorCode.SIMHOST, message: /stash journal is malformed/ }, journal);
  }
  await writeFile(path.join(root, STASH_DIR, 'k', 'journal.json'), '[{"path":"/../../outside","replaced":true}]');
  await t.rejects(restoreStash(root, 'k'), /contains \.\./);
});
