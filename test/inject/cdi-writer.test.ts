import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { OWNER_ENV, buildCdiSpec } from '../../agent/inject/cdi-spec.js';
import { isOwnSpec, serialiseSpec, specFileName, writeCdiSpecs } from '../../agent/inject/cdi-writer.js';
import type { CdiSpec } from '../../agent/inject/container-edits.js';

function spec(kind: string, devices = 1, padding = 0): CdiSpec {
  return buildCdiSpec({
    kind,
    devices: Array.from({ length: devices }, (_, i) => ({ names: [String(i)], deviceNodes: [{ path: `/dev/x${i}` }] })),
    allName: 'all',
    containerEdits: {
      mounts: Array.from({ length: padding }, (_, i) => ({ hostPath: `/usr/lib64/libpad${i}.so`, containerPath: `/usr/lib64/libpad${i}.so`, options: ['ro'] })),
    },
  });
}

t.test('file names come from the kind; invalid kinds are refused', async (t) => {
  t.equal(specFileName('nvidia.com/gpu'), 'accel-agent_nvidia.com_gpu.json');
  t.equal(specFileName('aliyun.com/npu'), 'accel-agent_aliyun.com_npu.json');
  t.throws(() => specFileName('../../etc/x'), { code: ErrorCode.CDI_INVALID });
  t.throws(() => specFileName('nvidia.com/gpu/../../x'), { code: ErrorCode.CDI_INVALID });
});

t.test('specs are written where runtimes look, as the JSON they were', async (t) => {
  const dir = path.join(t.testdir(), 'cdi');
  const s = spec('nvidia.com/gpu', 2);
  const result = await writeCdiSpecs(dir, [s, spec('aliyun.com/npu')]);
  t.same(result.written.sort(), ['accel-agent_aliyun.com_npu.json', 'accel-agent_nvidia.com_gpu.json']);
  t.same(JSON.parse(readFileSync(path.join(dir, 'accel-agent_nvidia.com_gpu.json'), 'utf8')), s);
  t.equal(statSync(path.join(dir, 'accel-agent_nvidia.com_gpu.json')).mode & 0o777, 0o644);
  t.same(readdirSync(dir).sort(), ['accel-agent_aliyun.com_npu.json', 'accel-agent_nvidia.com_gpu.json'], 'no temp files left behind');
});

t.test('unchanged content is not rewritten; changed content replaces the file', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'accel-agent_nvidia.com_gpu.json');
  await writeCdiSpecs(dir, [spec('nvidia.com/gpu', 2)]);
  const past = new Date(Date.now() - 3600_000);
  utimesSync(file, past, past);
  const before = statSync(file);

  const again = await writeCdiSpecs(dir, [spec('nvidia.com/gpu', 2)]);
  t.same(again, { written: [], unchanged: ['accel-agent_nvidia.com_gpu.json'], removed: [], foreign: [] });
  const after = statSync(file);
  t.equal(after.ino, before.ino, 'same inode');
  t.equal(after.mtimeMs, before.mtimeMs, 'not touched');

  const changed = await writeCdiSpecs(dir, [spec('nvidia.com/gpu', 3)]);
  t.same(changed.written, ['accel-agent_nvidia.com_gpu.json']);
  t.not(statSync(file).ino, before.ino, 'replaced by rename, not rewritten in place');
  t.equal(JSON.parse(readFileSync(file, 'utf8')).devices.length, 4);
});

t.test('stale own specs are removed; other tools’ specs are never touched', async (t) => {
  const dir = t.testdir({
    'nvidia.yaml': 'cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\n',
    'vendor_x.json': JSON.stringify({ cdiVersion: '0.5.0', kind: 'x.com/y', devices: [] }),
    // Our prefix, but written by someone else: no marker.
    'accel-agent_imposter.com_dev.json': JSON.stringify({ cdiVersion: '0.5.0', kind: 'imposter.com/dev', devices: [] }),
    'accel-agent_broken.json': '{ not json',
    'accel-agent_notes.txt': 'not a spec name',
  });
  const before = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
  await writeCdiSpecs(dir, [spec('nvidia.com/gpu'), spec('aliyun.com/npu')]);

  const result = await writeCdiSpecs(dir, [spec('nvidia.com/gpu')]);
  t.same(result.removed, ['accel-agent_aliyun.com_npu.json'], 'the kind no longer present is removed');
  t.same(result.foreign, ['accel-agent_broken.json', 'accel-agent_imposter.com_dev.json']);
  t.notOk(existsSync(path.join(dir, 'accel-agent_aliyun.com_npu.json')));
  for (const [f, content] of Object.entries(before)) t.equal(readFileSync(path.join(dir, f), 'utf8'), content, `${f} untouched`);

  const none = await writeCdiSpecs(dir, []);
  t.same(none.removed, ['accel-agent_nvidia.com_gpu.json'], 'no devices left: our last spec goes too');
});

t.test('kinds to keep survive without a new spec (a vendor whose inventory failed)', async (t) => {
  const dir = t.testdir();
  await writeCdiSpecs(dir, [spec('nvidia.com/gpu'), spec('aliyun.com/npu')]);
  const result = await writeCdiSpecs(dir, [spec('aliyun.com/npu')], { keepKinds: ['nvidia.com/gpu'] });
  t.same(result.removed, []);
  t.ok(existsSync(path.join(dir, 'accel-agent_nvidia.com_gpu.json')));
});

t.test('a symlink planted under our file name is replaced, never written through', async (t) => {
  const dir = t.testdir({ cdi: {}, victim: { 'target.json': 'precious' } });
  const cdi = path.join(dir, 'cdi');
  symlinkSync(path.join(dir, 'victim/target.json'), path.join(cdi, 'accel-agent_nvidia.com_gpu.json'));
  const result = await writeCdiSpecs(cdi, [spec('nvidia.com/gpu')]);
  t.same(result.written, ['accel-agent_nvidia.com_gpu.json']);
  t.equal(readFileSync(path.join(dir, 'victim/target.json'), 'utf8'), 'precious');
  t.ok(isOwnSpec(JSON.parse(readFileSync(path.join(cdi, 'accel-agent_nvidia.com_gpu.json'), 'utf8'))));
});

t.test('a stale own-named symlink is not followed when deciding ownership', async (t) => {
  const dir = t.testdir({ cdi: {}, victim: { 'spec.json': serialiseSpec(spec('victim.com/dev')) } });
  const cdi = path.join(dir, 'cdi');
  symlinkSync(path.join(dir, 'victim/spec.json'), path.join(cdi, 'accel-agent_victim.com_dev.json'));
  const result = await writeCdiSpecs(cdi, []);
  t.same(result.foreign, ['accel-agent_victim.com_dev.json']);
  t.ok(existsSync(path.join(dir, 'victim/spec.json')));
});

t.test('leftover temp files of a crashed write are cleaned, fresh ones (another writer’s) are not', async (t) => {
  const dir = t.testdir({ '.accel-agent_1-aaaa.tmp': 'partial', '.accel-agent_2-bbbb.tmp': 'in progress', '.other.tmp': 'x' });
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(path.join(dir, '.accel-agent_1-aaaa.tmp'), old, old);
  await writeCdiSpecs(dir, [spec('nvidia.com/gpu')]);
  t.same(readdirSync(dir).sort(), ['.accel-agent_2-bbbb.tmp', '.other.tmp', 'accel-agent_nvidia.com_gpu.json']);
});

t.test('two kinds that map to one file name, or the same kind twice, are refused', async (t) => {
  const dir = t.testdir();
  await t.rejects(writeCdiSpecs(dir, [spec('a_b/c'), spec('a/b_c')]), { code: ErrorCode.CDI_INVALID, message: /both be written/ });
  await t.rejects(writeCdiSpecs(dir, [spec('a.com/b'), spec('a.com/b')]), { code: ErrorCode.CDI_INVALID });
  t.same(readdirSync(dir), [], 'nothing written when the set is invalid');
});

t.test('an unusable directory is reported as a write error', async (t) => {
  const dir = t.testdir({ 'not-a-dir': 'file' });
  await t.rejects(writeCdiSpecs(path.join(dir, 'not-a-dir/cdi'), [spec('a.com/b')]), { code: ErrorCode.CDI_WRITE });
});

t.test('ownership is decided by the marker inside the spec', async (t) => {
  t.ok(isOwnSpec(spec('a.com/b')));
  t.notOk(isOwnSpec({ containerEdits: { env: ['OTHER=1'] } }));
  t.notOk(isOwnSpec({ containerEdits: { env: OWNER_ENV } }), 'env must be a list');
  t.notOk(isOwnSpec(null));
  t.notOk(isOwnSpec('text'));
});

/**
 * A separate process reads every *.json in the directory as fast as it can
 * while this one rewrites a large spec many times; every read must parse.
 */
const READER = `
const fs = require('fs'), path = require('path');
const [dir, stopFile] = process.argv.slice(1);
let reads = 0, partial = 0;
const deadline = Date.now() + 120000;
while (!fs.existsSync(stopFile) && Date.now() < deadline) {
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    let text;
    try { text = fs.readFileSync(path.join(dir, f), 'utf8'); } catch { continue; }
    reads++;
    try { JSON.parse(text); } catch { partial++; }
  }
}
process.stdout.write(JSON.stringify({ reads, partial }));
`;

t.test('a concurrent reader never sees a partial spec', async (t) => {
  const root = t.testdir({ cdi: {} });
  const dir = path.join(root, 'cdi');
  const stop = path.join(root, 'stop');
  const small = spec('nvidia.com/gpu', 2, 2000);
  const large = spec('nvidia.com/gpu', 8, 6000);
  await writeCdiSpecs(dir, [small]);
  const child = spawn(process.execPath, ['-e', READER, dir, stop], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (let i = 0; i < 60; i++) await writeCdiSpecs(dir, [i % 2 === 0 ? large : small]);
  writeFileSync(stop, '');
  await exited;
  const { reads, partial } = JSON.parse(out) as { reads: number; partial: number };
  t.ok(reads > 0, `the reader read ${reads} times`);
  t.equal(partial, 0, 'no read saw a partial file');
});
