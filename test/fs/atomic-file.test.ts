import t from 'tap';
import { watch } from 'node:fs';
import { mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isAtomicTemp, syncDirectory, writeFileAtomic } from '../../agent/fs/atomic-file.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

/** The names that appeared in `dir` while `write` ran, including those gone again by its end. */
async function namesSeenDuring(dir: string, target: string, write: () => Promise<void>): Promise<string[]> {
  const seen = new Set<string>();
  const watcher = watch(dir, (_event, name) => {
    if (name !== null) seen.add(name);
  });
  try {
    await write();
    // Events arrive in order, and the rename onto the target is the last one a write causes.
    await waitFor(() => seen.has(target), `the rename onto ${target} to be reported`, 10_000, 5);
  } finally {
    watcher.close();
  }
  return [...seen];
}

t.test('the content lands with exactly the mode asked for, whatever the umask or the old file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'labels');
  const old = process.umask(0o077);
  t.teardown(() => void process.umask(old));
  await writeFileAtomic(file, 'a=1\n', { mode: 0o644 });
  t.equal(await readFile(file, 'utf8'), 'a=1\n');
  t.equal((await stat(file)).mode & 0o7777, 0o644, 'the umask did not narrow it');
  await writeFileAtomic(file, Uint8Array.from([0, 1, 2]), { mode: 0o600 });
  t.same(await readFile(file), Buffer.from([0, 1, 2]));
  t.equal((await stat(file)).mode & 0o7777, 0o600, "the old file's bits did not carry over");
});

t.test('an existing file is replaced by a new one, and nothing else is left in the directory', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state.json');
  await writeFile(file, 'old');
  const before = (await stat(file)).ino;
  await writeFileAtomic(file, 'new', { mode: 0o600 });
  t.equal(await readFile(file, 'utf8'), 'new');
  t.not((await stat(file)).ino, before, 'renamed into place, so a reader holding the old file never sees a mix');
  t.same(await readdir(dir), ['state.json']);
});

t.test('a write that fails half-way leaves the old content and no temporary', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state.json');
  await writeFile(file, 'old content');
  async function* halfThenFail() {
    yield 'the first half of the new';
    throw new Error('device gone');
  }
  // The declared types take whole buffers, but the write underneath also streams an iterable,
  // which is the one way to fail it after some bytes are down without filling a disk.
  await t.rejects(writeFileAtomic(file, halfThenFail() as unknown as Uint8Array, { mode: 0o600 }), /device gone/);
  t.equal(await readFile(file, 'utf8'), 'old content');
  t.same(await readdir(dir), ['state.json']);
});

t.test('a link planted at the temporary name is neither written through nor removed', async (t) => {
  const dir = await tempDir(t);
  const elsewhere = await tempDir(t, 'accel-victim-');
  const file = path.join(dir, 'spec.json');
  await writeFile(file, 'old');
  await writeFile(path.join(elsewhere, 'precious'), 'theirs');
  await symlink(path.join(elsewhere, 'precious'), path.join(dir, '.to-existing.tmp'));
  await symlink(path.join(elsewhere, 'absent'), path.join(dir, '.dangling.tmp'));

  await t.rejects(writeFileAtomic(file, 'new', { mode: 0o600, tempName: '.to-existing.tmp' }), { code: 'EEXIST' });
  t.equal(await readFile(path.join(elsewhere, 'precious'), 'utf8'), 'theirs');
  await t.rejects(writeFileAtomic(file, 'new', { mode: 0o600, tempName: '.dangling.tmp' }), { code: 'EEXIST' });
  t.same(await readdir(elsewhere), ['precious'], 'nothing was created at the end of the dangling link');

  t.equal(await readFile(file, 'utf8'), 'old');
  t.equal(await readlink(path.join(dir, '.dangling.tmp')), path.join(elsewhere, 'absent'), 'what was planted is not ours to remove');
  t.same((await readdir(dir)).sort(), ['.dangling.tmp', '.to-existing.tmp', 'spec.json']);
});

t.test('a failed rename leaves the target as it was and no temporary', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'busy');
  await mkdir(path.join(target, 'inside'), { recursive: true });
  await t.rejects(writeFileAtomic(target, 'data', { mode: 0o600 }), { code: 'EISDIR' });
  t.same(await readdir(dir), ['busy']);
  t.same(await readdir(target), ['inside']);
  await t.rejects(writeFileAtomic(path.join(dir, 'missing-dir', 'f'), 'data', { mode: 0o600 }), { code: 'ENOENT' });
  t.same(await readdir(dir), ['busy']);
});

t.test('the temporary is a sibling that isAtomicTemp knows, unless the caller names it', async (t) => {
  const dir = await tempDir(t);
  const byDefault = await namesSeenDuring(dir, 'spool.json', () => writeFileAtomic(path.join(dir, 'spool.json'), 'x', { mode: 0o600 }));
  const temps = byDefault.filter((n) => n !== 'spool.json');
  t.equal(temps.length, 1, `one temporary: ${temps.join(', ')}`);
  t.ok(temps[0]!.startsWith('.spool.json.'), 'dot-named, so directory scanners skip it, and named after its target');
  t.ok(isAtomicTemp(temps[0]!), 'a crash leftover of it would be recognised');

  const named = await namesSeenDuring(dir, 'spec.json', () =>
    writeFileAtomic(path.join(dir, 'spec.json'), 'x', { mode: 0o600, tempName: '.mine-42.partial' }),
  );
  t.same(named.filter((n) => n !== 'spec.json'), ['.mine-42.partial']);
  t.same((await readdir(dir)).sort(), ['spec.json', 'spool.json']);

  t.notOk(isAtomicTemp('spool.json'));
  t.notOk(isAtomicTemp('00000000000000000001.seg'));
  t.notOk(isAtomicTemp('visible.tmp'));
});

t.test('concurrent writes of one file each get their own temporary, and one of them wins whole', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state.json');
  const contents = Array.from({ length: 8 }, (_, i) => `writer ${i} `.repeat(1000));
  await Promise.all(contents.map((c) => writeFileAtomic(file, c, { mode: 0o600 })));
  t.ok(contents.includes(await readFile(file, 'utf8')));
  t.same(await readdir(dir), ['state.json']);
});

t.test('syncing a directory works on directories only', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'f'), '');
  await t.resolves(syncDirectory(dir));
  await t.rejects(syncDirectory(path.join(dir, 'f')), { code: 'ENOTDIR' });
});
