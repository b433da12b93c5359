import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { formatProfiles, formatSummary, listProfiles, simhostCreate } from '../../agent/simhost/command.js';
import { nativeMissing, tempDir } from './simhost-fixture.js';

const missing = await nativeMissing();

t.test('simhostCreate writes the profile and summarises what it made', async (t) => {
  const dir = path.join(await realpath(await tempDir(t)), 'host');
  const s = await simhostCreate({ profile: 'empty', dir });
  t.match(s, { root: dir, profile: 'empty', accelerators: 0, libraries: 0, nvml: false, ldCache: true });
  t.equal(s.pciFunctions, 7);
  t.equal(s.deviceNodes.real + s.deviceNodes.placeholder, 5);
  const text = formatSummary(s);
  t.match(text, /^simulated host empty written to /);
  t.match(text, /ld\.so\.cache: built/);
});

t.test('simhostCreate passes count, force and nativeDir through', { skip: missing ?? false }, async (t) => {
  const dir = await realpath(await tempDir(t));
  const s = await simhostCreate({ profile: 'gn5', dir, count: 2 });
  t.equal(s.accelerators, 2);
  t.equal(s.nvml, true);
  t.equal(s.libraries, 7);
  await t.rejects(simhostCreate({ profile: 'gn5', dir }), /is not empty/);
  const again = await simhostCreate({ profile: 'vgn5i', dir, force: true });
  t.equal(again.accelerators, 1);
  await t.rejects(simhostCreate({ profile: 'vgn5i', dir: path.join(dir, 'x'), nativeDir: path.join(dir, 'none') }), /not built/);
});

t.test('a bad profile or count is refused before anything is created', async (t) => {
  const dir = path.join(await tempDir(t), 'never');
  await t.rejects(simhostCreate({ profile: 'nope', dir }), { code: ErrorCode.SIMHOST, message: /unknown simhost profile "nope"/ });
  await t.rejects(simhostCreate({ profile: 'gn5', dir, count: 99 }), /count must be an integer from 1 to 32/);
  await t.rejects(lstat(dir), { code: 'ENOENT' });
});

t.test('the profile listing names every profile and its assumptions', async (t) => {
  const text = formatProfiles(listProfiles());
  for (const p of listProfiles()) t.match(text, new RegExp(`^${p.name}: `, 'm'));
  t.match(text, /^empty: .*\(no accelerators\)$/m);
  t.match(text, /^gn5: .*\(8 accelerators by default, up to 32\)$/m);
  t.match(text, /^    assumption: NPU PCI device id 0x1000/m);
});
