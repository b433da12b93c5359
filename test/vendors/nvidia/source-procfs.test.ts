import t from 'tap';
import { ErrorCode } from '../../../agent/errors.js';
import { HostRoot } from '../../../agent/host/host-root.js';
import { silentLogger } from '../../../agent/log.js';
import { queryProcfs, readProcDriverVersion } from '../../../agent/vendors/nvidia/source-procfs.js';
import { link, put, tempRoot } from '../../helpers/sysfs-tree.js';

const VERSION = 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Wed Oct 27 21:21:55 UTC 2021\nGCC version:  gcc version 9.3.0\n';
const info = (model: string, bus: string, minor: number) =>
  `Model: \t\t ${model}\nIRQ:   \t\t 37\nGPU UUID: \t GPU-e0ab8bbd-8ad9-8c4a-3ab0-79fa07e9b0a${minor}\nBus Location: \t ${bus}\nDevice Minor: \t ${minor}\n`;

async function procHost(files: Record<string, string>): Promise<HostRoot> {
  const root = await tempRoot('procfs-');
  for (const [p, content] of Object.entries(files)) await put(root, p, content);
  return new HostRoot(root);
}

t.test('version and information files give the driver version and every GPU', async (t) => {
  const host = await procHost({
    '/proc/driver/nvidia/version': VERSION,
    '/proc/driver/nvidia/gpus/0000:00:07.0/information': info('GRID P4-2Q', '0000:00:07.0', 0),
    '/proc/driver/nvidia/gpus/0000:00:08.0/information': info('GRID P4-2Q', '0000:00:08.0', 1),
  });
  const answer = await queryProcfs({ host, log: silentLogger });
  t.equal(answer.driverVersion, '470.82.01');
  t.same(answer.gpus.map((g) => [g.pciBusId, g.minor, g.name, g.source, g.memoryMiB]), [
    ['0000:00:07.0', 0, 'GRID P4-2Q', 'procfs', null],
    ['0000:00:08.0', 1, 'GRID P4-2Q', 'procfs', null],
  ]);
  t.equal(answer.detail, '/proc/driver/nvidia: driver 470.82.01, 2 GPUs');
  t.same(answer.warnings, []);
});

t.test('without /proc/driver/nvidia the module is not loaded and the source fails', async (t) => {
  await t.rejects(queryProcfs({ host: new HostRoot(await tempRoot()), log: silentLogger }), {
    code: ErrorCode.DRIVER_NOT_FOUND,
    message: /not loaded/,
  });
});

t.test('garbage in procfs costs a warning per file, the rest carries on', async (t) => {
  const host = await procHost({
    '/proc/driver/nvidia/version': '\x00\x01garbage',
    '/proc/driver/nvidia/gpus/0000:00:07.0/information': info('Tesla P4', '0000:00:07.0', 0),
    '/proc/driver/nvidia/gpus/0000:00:08.0/information': 'Model: \t',
    '/proc/driver/nvidia/gpus/0000:00:09.0/unrelated': 'x',
    '/proc/driver/nvidia/gpus/not-a-gpu/information': info('Tesla P4', '0000:00:0a.0', 3),
  });
  const answer = await queryProcfs({ host, log: silentLogger });
  t.equal(answer.driverVersion, null);
  t.same(answer.gpus.map((g) => g.pciBusId), ['0000:00:07.0']);
  const w = answer.warnings.join('\n');
  t.match(w, /version: no "NVRM version:" line/);
  t.match(w, /0000:00:08\.0\/information: no Model line.*GPU 0000:00:08\.0 skipped by procfs/);
  t.match(w, /0000:00:09\.0\/information is missing/);
  t.match(w, /not-a-gpu: not a PCI address, ignored/);
});

t.test('a gpus entry linking out of procfs is not followed', async (t) => {
  const host = await procHost({ '/proc/driver/nvidia/version': VERSION, '/etc/fake/information': info('Tesla P4', '0000:00:07.0', 0) });
  await link(host.root, '/proc/driver/nvidia/gpus/0000:00:07.0', '/etc/fake');
  const answer = await queryProcfs({ host, log: silentLogger });
  t.same(answer.gpus, []);
  t.match(answer.warnings.join('\n'), /outside the allowed roots/);
});

t.test('the version alone can be read for other sources; absent is null without a warning', async (t) => {
  const warnings: string[] = [];
  t.equal(await readProcDriverVersion({ host: await procHost({ '/proc/driver/nvidia/version': VERSION }), log: silentLogger }, warnings), '470.82.01');
  t.equal(await readProcDriverVersion({ host: new HostRoot(await tempRoot()), log: silentLogger }, warnings), null);
  t.same(warnings, []);
});
