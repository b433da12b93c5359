import t from 'tap';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from '../../../agent/errors.js';
import { HostRoot } from '../../../agent/host/host-root.js';
import { silentLogger } from '../../../agent/log.js';
import { querySmi } from '../../../agent/vendors/nvidia/source-smi.js';
import { link, put, tempRoot } from '../../helpers/sysfs-tree.js';

const LINE = '0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, GRID P4-2Q, 00000000:00:07.0, 2048, 470.82.01, 0, VGPU';

async function hostWithSmi(body: string, at = '/usr/bin/nvidia-smi'): Promise<HostRoot> {
  const root = await tempRoot('smi-');
  await put(root, at, `#!/bin/sh\n${body}\n`);
  await chmod(path.join(root, at), 0o755);
  return new HostRoot(root);
}

const opts = { smiPath: '/usr/bin/nvidia-smi', smiTimeoutMs: 30_000 };

t.test('the host\'s nvidia-smi is run with the query and its CSV becomes GPUs', async (t) => {
  const host = await hostWithSmi(`[ "$1" = "--query-gpu=index,uuid,name,pci.bus_id,memory.total,driver_version,minor_number,virtualization_mode" ] || exit 2\necho "${LINE}"`);
  const answer = await querySmi({ host, log: silentLogger }, opts);
  t.equal(answer.driverVersion, '470.82.01');
  t.same(answer.gpus, [
    {
      pciBusId: '0000:00:07.0',
      uuid: 'GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b',
      name: 'GRID P4-2Q',
      memoryMiB: 2048,
      minor: 0,
      virtualizationMode: 'vgpu',
      source: 'nvidia-smi',
      problem: null,
    },
  ]);
  t.equal(answer.detail, '/usr/bin/nvidia-smi: 1 GPU');
  t.same(answer.warnings, []);
});

t.test('a symlinked nvidia-smi is followed inside the host root', async (t) => {
  const host = await hostWithSmi(`echo "${LINE}"`, '/opt/nvidia/bin/nvidia-smi');
  await link(host.root, '/usr/bin/nvidia-smi', '/opt/nvidia/bin/nvidia-smi');
  t.equal((await querySmi({ host, log: silentLogger }, opts)).gpus.length, 1);
});

t.test('no nvidia-smi on the host: the source fails saying so', async (t) => {
  const host = new HostRoot(await tempRoot('smi-'));
  await t.rejects(querySmi({ host, log: silentLogger }, opts), { code: ErrorCode.NVIDIA_SMI, message: '/usr/bin/nvidia-smi not found on the host' });
});

t.test('a failing nvidia-smi reports its status and first line', async (t) => {
  const host = await hostWithSmi('echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9');
  await t.rejects(querySmi({ host, log: silentLogger }, opts), { message: /exited with status 9: NVIDIA-SMI has failed because/ });
});

t.test('garbage output fails the source with the reason', async (t) => {
  const host = await hostWithSmi('echo "<html>proxy error</html>"');
  await t.rejects(querySmi({ host, log: silentLogger }, opts), { code: ErrorCode.NVIDIA_SMI, message: /unexpected nvidia-smi output: line 1/ });
});

t.test('a hanging nvidia-smi is killed at the timeout', async (t) => {
  const host = await hostWithSmi('sleep 60');
  const started = Date.now();
  await t.rejects(querySmi({ host, log: silentLogger }, { ...opts, smiTimeoutMs: 250 }), { message: /did not answer within 250 ms and was killed/ });
  t.ok(Date.now() - started < 30_000);
});

t.test('an aborted discovery stops nvidia-smi', async (t) => {
  const host = await hostWithSmi('sleep 60');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  await t.rejects(querySmi({ host, log: silentLogger, signal: ac.signal }, opts), { message: /discovery aborted/ });
});

t.test('GPUs on different driver versions leave the version unknown, with a warning', async (t) => {
  const second = LINE.replace('0, GPU-5c', '1, GPU-6c').replace('00:07.0', '00:08.0').replace('470.82.01', '535.129.03');
  const host = await hostWithSmi(`echo "${LINE}"\necho "${second}"`);
  const answer = await querySmi({ host, log: silentLogger }, opts);
  t.equal(answer.driverVersion, null);
  t.match(answer.warnings[0], /several driver versions: 470\.82\.01, 535\.129\.03/);
});
