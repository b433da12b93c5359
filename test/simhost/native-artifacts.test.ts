import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { artifactPath, checkArtifacts, requiredArtifacts } from '../../agent/simhost/native-artifacts.js';
import { buildHostSpec } from '../../agent/simhost/profiles.js';
import { tempDir } from './simhost-fixture.js';

t.test('artifacts map to files under the native build directory', async (t) => {
  t.equal(artifactPath('/n', { kind: 'nvml-stub' }), '/n/libnvidia-ml.so.1');
  t.equal(artifactPath('/n', { kind: 'nvidia-smi' }), '/n/nvidia-smi');
  t.equal(artifactPath('/n', { kind: 'fake-lib', soname: 'libcuda.so.1' }), '/n/fake-libs/libcuda.so.1');
  for (const soname of ['../libcuda.so.1', 'libcuda.so', 'lib/x.so.1', '']) {
    t.throws(() => artifactPath('/n', { kind: 'fake-lib', soname }), /not a library soname/, soname);
  }
});

t.test('each profile needs exactly its own stack', async (t) => {
  t.same(requiredArtifacts(buildHostSpec('empty'), '/n'), []);
  t.same(requiredArtifacts(buildHostSpec('ebman1'), '/n'), ['/n/fake-libs/libhgrt.so.1']);
  const nvidia = requiredArtifacts(buildHostSpec('vgn5i'), '/n');
  t.ok(nvidia.includes('/n/libnvidia-ml.so.1'));
  t.ok(nvidia.includes('/n/nvidia-smi'));
  t.ok(nvidia.includes('/n/fake-libs/libnvidia-nvvm.so.4'));
  t.equal(nvidia.length, 8);
});

t.test('checkArtifacts lists every missing file at once', async (t) => {
  const dir = await tempDir(t);
  await checkArtifacts(buildHostSpec('empty'), dir);
  await t.rejects(checkArtifacts(buildHostSpec('ebman1'), dir), /libhgrt\.so\.1; run scripts\/build-native\.sh first/);
  await mkdir(path.join(dir, 'fake-libs'));
  await writeFile(path.join(dir, 'fake-libs/libhgrt.so.1'), '');
  await checkArtifacts(buildHostSpec('ebman1'), dir);
  const err = await checkArtifacts(buildHostSpec('vgn5i'), dir).catch((e: { details?: { missing?: string[] } }) => e);
  t.equal(err?.details?.missing?.length, 8);
});
