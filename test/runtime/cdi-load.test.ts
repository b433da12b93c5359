import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadCdiSpecs, readSmallFile } from '../../agent/runtime/cdi-load.js';
import { scratchDir } from '../helpers/runtime-fixtures.js';

const good = (kind: string, name = '0') => JSON.stringify({ cdiVersion: '0.5.0', kind, devices: [{ name, containerEdits: {} }] });

t.test('JSON and YAML specs are read in directory order; dot files and other names are skipped', async (t) => {
  const dir = scratchDir('cdi-load-');
  const etc = path.join(dir, 'etc');
  const run = path.join(dir, 'run');
  mkdirSync(etc);
  mkdirSync(run);
  writeFileSync(path.join(etc, 'b.json'), good('nvidia.com/gpu'));
  writeFileSync(path.join(etc, 'a.yaml'), 'cdiVersion: 0.5.0\nkind: alibaba.com/npu\ndevices:\n  - name: "0"\n    containerEdits: {}\n');
  writeFileSync(path.join(etc, '.c.json.tmp'), '{half');
  writeFileSync(path.join(etc, 'README'), 'not a spec');
  writeFileSync(path.join(run, 'x.yml'), 'cdiVersion: 0.5.0\nkind: example.com/x\ndevices: []\n');
  const { specs, problems } = await loadCdiSpecs([etc, path.join(dir, 'missing'), run]);
  t.same(specs.map((s) => [path.basename(s.file), s.priority, s.spec.kind]), [
    ['a.yaml', 0, 'alibaba.com/npu'],
    ['b.json', 0, 'nvidia.com/gpu'],
    ['x.yml', 2, 'example.com/x'],
  ]);
  t.same(problems, [], 'a missing directory is not a problem');
});

t.test('a broken spec is reported and the others still load', async (t) => {
  const dir = scratchDir('cdi-load-');
  writeFileSync(path.join(dir, 'ok.json'), good('nvidia.com/gpu'));
  writeFileSync(path.join(dir, 'truncated.json'), good('nvidia.com/gpu').slice(0, 20));
  writeFileSync(path.join(dir, 'wrong.json'), JSON.stringify({ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [{ name: '/etc/shadow' }] }));
  writeFileSync(path.join(dir, 'bad.yaml'), 'kind: [');
  mkdirSync(path.join(dir, 'dir.json'));
  execFileSync('mkfifo', [path.join(dir, 'fifo.json')]);
  const { specs, problems } = await loadCdiSpecs([dir]);
  t.same(specs.map((s) => path.basename(s.file)), ['ok.json']);
  t.same(problems.map((p) => path.basename(p.file)).sort(), ['bad.yaml', 'dir.json', 'fifo.json', 'truncated.json', 'wrong.json']);
  t.match(problems.find((p) => p.file.endsWith('fifo.json'))?.message, /not a regular file/, 'a FIFO is never read (would block)');
});

t.test('oversized files are refused without being read whole', async (t) => {
  const dir = scratchDir('cdi-load-');
  const file = path.join(dir, 'big');
  writeFileSync(file, Buffer.alloc(2048, 0x20));
  await t.rejects(readSmallFile(file, 1024), /larger than 1024 bytes/);
  t.equal((await readSmallFile(file, 4096)).length, 2048);
});
