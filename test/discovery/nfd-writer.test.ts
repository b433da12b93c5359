import t from 'tap';
import { link, lstat, mkdir, readFile, readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NFD_FEATURE_FILE_NAME, removeNodeFeatureFile, writeNodeFeatureFile } from '../../agent/discovery/nfd-writer.js';
import { NFD_FILE_HEADER } from '../../agent/discovery/nfd-features.js';
import { ErrorCode, isAccelError } from '../../agent/errors.js';
import { createLogger } from '../../agent/log.js';
import { tempDir } from '../helpers/temp-dir.js';

const LABELS = { 'aliyun.accelerator/nvidia_count': '2', 'nvidia.com/gpu.product': 'Tesla-P100-PCIE-16GB' };

function capturingLogger(): { lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { lines, logger };
}

t.test('labels land in <dir>/accel-agent as sorted key=value lines', async (t) => {
  const dir = await tempDir(t);
  const res = await writeNodeFeatureFile(LABELS, { dir });
  t.equal(res.file, path.join(dir, NFD_FEATURE_FILE_NAME));
  t.equal(res.written, true);
  t.equal(
    await readFile(res.file, 'utf8'),
    NFD_FILE_HEADER + 'aliyun.accelerator/nvidia_count=2\nnvidia.com/gpu.product=Tesla-P100-PCIE-16GB\n',
  );
  t.same(await readdir(dir), [NFD_FEATURE_FILE_NAME], 'no temporary file is left behind');
});

t.test('the file is world-readable even under a strict umask, for a non-root nfd-worker', async (t) => {
  const dir = await tempDir(t);
  const old = process.umask(0o077);
  t.teardown(() => void process.umask(old));
  const { file } = await writeNodeFeatureFile(LABELS, { dir });
  t.equal((await stat(file)).mode & 0o777, 0o644);
});

t.test('a change replaces the file by rename: the old inode keeps the old labels whole', async (t) => {
  const root = await tempDir(t);
  const dir = path.join(root, 'features.d');
  await mkdir(dir);
  const { file } = await writeNodeFeatureFile(LABELS, { dir });
  // A hard link pins the old inode: an in-place rewrite would change it too.
  const pinned = path.join(root, 'pinned');
  await link(file, pinned);
  const before = await readFile(pinned, 'utf8');
  const res = await writeNodeFeatureFile({ ...LABELS, 'aliyun.accelerator/nvidia_count': '3' }, { dir });
  t.equal(res.written, true);
  t.equal(await readFile(pinned, 'utf8'), before, 'the previous file was never modified in place');
  t.match(await readFile(file, 'utf8'), /nvidia_count=3\n/);
  t.not((await stat(file)).ino, (await stat(pinned)).ino);
});

t.test('a reader polling during many rewrites only ever sees complete files', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, NFD_FEATURE_FILE_NAME);
  const many = (n: number) => {
    const labels: Record<string, string> = {};
    for (let i = 0; i < 300; i++) labels[`accel.example.com/f${i}`] = `v${n}`;
    return labels;
  };
  await writeNodeFeatureFile(many(0), { dir });
  let stop = false;
  let reads = 0;
  const torn: string[] = [];
  const reader = (async () => {
    while (!stop) {
      const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      const versions = new Set(lines.map((l) => l.split('=')[1]));
      if (lines.length !== 300 || versions.size !== 1) torn.push(`${lines.length} lines, ${versions.size} versions`);
      reads++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let n = 1; n <= 20; n++) await writeNodeFeatureFile(many(n), { dir });
  stop = true;
  await reader;
  t.ok(reads > 0, 'the reader ran');
  t.same(torn, [], 'every read saw one whole version');
  t.match(await readFile(file, 'utf8'), /=v20\n/);
});

t.test('unchanged labels leave the file alone (same inode, same mtime)', async (t) => {
  const dir = await tempDir(t);
  const { file } = await writeNodeFeatureFile(LABELS, { dir });
  const past = new Date('2020-01-01T00:00:00Z');
  await utimes(file, past, past);
  const before = await stat(file);
  const res = await writeNodeFeatureFile({ 'nvidia.com/gpu.product': 'Tesla-P100-PCIE-16GB', 'aliyun.accelerator/nvidia_count': '2' }, { dir });
  t.equal(res.written, false);
  const after = await stat(file);
  t.equal(after.mtimeMs, before.mtimeMs);
  t.equal(after.ino, before.ino);
});

t.test('a file someone edited by hand is rewritten to the agent labels', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, NFD_FEATURE_FILE_NAME);
  await writeFile(file, 'hand.io/edit=1\n');
  t.equal((await writeNodeFeatureFile(LABELS, { dir })).written, true);
  t.notMatch(await readFile(file, 'utf8'), /hand\.io/);
});

t.test('invalid labels are dropped with a warning and the rest written', async (t) => {
  const dir = await tempDir(t);
  const { lines, logger } = capturingLogger();
  const res = await writeNodeFeatureFile({ ...LABELS, 'bad key': 'x', 'x.io/v': 'a\nforged.io/x=1' }, { dir, logger });
  t.same(res.keys, Object.keys(LABELS).sort());
  t.equal(res.dropped.length, 2);
  const text = await readFile(res.file, 'utf8');
  t.notMatch(text, /forged|bad key/);
  const warnings = lines.filter((l) => l['level'] === 'warn');
  t.equal(warnings.length, 2, 'one warning per dropped label');
  t.match(String(warnings[0]!['reason']), /not a valid Kubernetes label/);
});

t.test('labels beyond the 64 KiB cap are dropped, so nfd-worker still reads the file', async (t) => {
  const dir = await tempDir(t);
  const labels: Record<string, string> = {};
  for (let i = 0; i < 1500; i++) labels[`accel.example.com/feature-${i}`] = 'x'.repeat(63);
  const res = await writeNodeFeatureFile(labels, { dir });
  t.ok((await stat(res.file)).size <= 64 * 1024);
  t.ok(res.dropped.length > 0);
  t.equal(res.keys.length + res.dropped.length, 1500);
});

t.test('a missing directory is a clear error naming it, and nothing is created', async (t) => {
  const dir = path.join(await tempDir(t), 'features.d');
  const err = await writeNodeFeatureFile(LABELS, { dir }).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(isAccelError(err, ErrorCode.NFD_WRITE), 'coded NFD_WRITE');
  t.match((err as Error).message, new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist.*node-feature-discovery`));
  await t.rejects(lstat(dir), { code: 'ENOENT' }, 'the agent does not invent NFD directory');
});

t.test('a path that is a file, not a directory, is refused', async (t) => {
  const file = path.join(await tempDir(t), 'features.d');
  await writeFile(file, '');
  await t.rejects(writeNodeFeatureFile(LABELS, { dir: file }), { code: ErrorCode.NFD_WRITE, message: /is not a directory/ });
});

t.test('a symlink planted as the feature file is replaced, never written through', async (t) => {
  const root = await tempDir(t);
  const dir = path.join(root, 'features.d');
  await mkdir(dir);
  const outside = path.join(root, 'outside');
  await writeFile(outside, 'precious\n');
  await symlink(outside, path.join(dir, NFD_FEATURE_FILE_NAME));
  const res = await writeNodeFeatureFile(LABELS, { dir });
  t.equal(res.written, true);
  t.equal(await readFile(outside, 'utf8'), 'precious\n', 'the link target is untouched');
  t.ok((await lstat(res.file)).isFile(), 'the feature file is now a regular file');
});

t.test('a failed write is a coded error and leaves no temporary file', async (t) => {
  const dir = await tempDir(t);
  // A directory in the file's place makes the final rename fail.
  await mkdir(path.join(dir, NFD_FEATURE_FILE_NAME, 'child'), { recursive: true });
  await t.rejects(writeNodeFeatureFile(LABELS, { dir }), { code: ErrorCode.NFD_WRITE, message: /cannot write the NFD feature file/ });
  t.same((await readdir(dir)).filter((n) => n.startsWith('.')), []);
});

t.test('temporary files left by a crash are cleaned up on the next write', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, `.${NFD_FEATURE_FILE_NAME}.deadbeef.tmp`), 'half');
  await writeFile(path.join(dir, '.other-tool.tmp'), 'theirs');
  await writeNodeFeatureFile(LABELS, { dir });
  t.same((await readdir(dir)).sort(), ['.other-tool.tmp', NFD_FEATURE_FILE_NAME], "another tool's dot-file is not ours to remove");
});

t.test('remove deletes only the agent file and reports whether it was there', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'other-vendor'), 'x.io/y=1\n');
  await writeNodeFeatureFile(LABELS, { dir });
  t.equal(await removeNodeFeatureFile({ dir }), true);
  t.same(await readdir(dir), ['other-vendor']);
  t.equal(await removeNodeFeatureFile({ dir }), false, 'a second removal finds nothing');
  t.equal(await removeNodeFeatureFile({ dir: path.join(dir, 'missing') }), false, 'no directory, nothing to remove');
});

t.test('remove deletes a planted symlink itself, not its target', async (t) => {
  const root = await tempDir(t);
  const outside = path.join(root, 'outside');
  await writeFile(outside, 'precious\n');
  await symlink(outside, path.join(root, NFD_FEATURE_FILE_NAME));
  t.equal(await removeNodeFeatureFile({ dir: root }), true);
  t.equal(await readFile(outside, 'utf8'), 'precious\n');
});
