import t from 'tap';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import type { OciConfig } from '../../agent/inject/oci-edit.js';
import { pinEdits, prepareBundle } from '../../agent/runtime/prepare-bundle.js';
import { baseOciConfig, makeRuntimeFixture, type RuntimeFixture } from '../helpers/runtime-fixtures.js';

const options = (fx: RuntimeFixture) => ({ cdiSpecDirs: [fx.cdiDir], allowEnvSelection: false, envSelectors: [] });
const read = (fx: RuntimeFixture) => JSON.parse(readFileSync(fx.configFile, 'utf8')) as OciConfig;

t.test('a device node without numbers gets them from the host node', async (t) => {
  const pinned = await pinEdits({ deviceNodes: [{ path: '/dev/accel-null', hostPath: '/dev/null' }] }, null);
  t.same(pinned.deviceNodes, [{ path: '/dev/accel-null', hostPath: '/dev/null', type: 'c', major: 1, minor: 3 }]);
  const kept = await pinEdits({ deviceNodes: [{ path: '/dev/x', hostPath: '/dev/null', type: 'c', major: 195, minor: 7 }] }, null);
  t.same(kept.deviceNodes?.[0], { path: '/dev/x', hostPath: '/dev/null', type: 'c', major: 195, minor: 7 }, 'given numbers win');
});

t.test('host paths must exist and device host paths must be devices', async (t) => {
  await t.rejects(pinEdits({ deviceNodes: [{ path: '/dev/x', hostPath: '/etc/hostname' }] }, null), {
    code: ErrorCode.CDI_INVALID,
    message: /is not a device/,
  });
  await t.rejects(pinEdits({ deviceNodes: [{ path: '/dev/accel-nonexistent' }] }, null), /does not exist/);
  await t.rejects(pinEdits({ mounts: [{ hostPath: '/no/such/lib.so', containerPath: '/usr/lib/lib.so' }] }, null), {
    code: ErrorCode.CDI_INVALID,
    message: /mount \/usr\/lib\/lib.so: host path \/no\/such\/lib.so does not exist/,
  });
});

t.test('nothing requested: config.json is not rewritten', async (t) => {
  const fx = makeRuntimeFixture();
  const ino = statSync(fx.configFile).ino;
  const result = await prepareBundle(fx.bundle, options(fx));
  t.same(result, { devices: [], ignoredEnv: [], written: false });
  t.equal(statSync(fx.configFile).ino, ino);
});

t.test('preparing a bundle twice gives the same config as once', async (t) => {
  const fx = makeRuntimeFixture(baseOciConfig({ annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=1' } }));
  const first = await prepareBundle(fx.bundle, options(fx));
  t.same(first.devices, ['nvidia.com/gpu=1']);
  t.equal(first.written, true);
  const once = read(fx);
  await prepareBundle(fx.bundle, options(fx));
  t.same(read(fx), once);
});

t.test('a rewritten config.json keeps the permission bits it had', async (t) => {
  const fx = makeRuntimeFixture(baseOciConfig({ annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=0' } }));
  chmodSync(fx.configFile, 0o640);
  const ino = statSync(fx.configFile).ino;
  t.equal((await prepareBundle(fx.bundle, options(fx))).written, true);
  t.not(statSync(fx.configFile).ino, ino, 'replaced, not edited in place');
  t.equal(statSync(fx.configFile).mode & 0o7777, 0o640);
});

t.test('a bundle without its rootfs is still prepared (runc reports the missing rootfs)', async (t) => {
  const fx = makeRuntimeFixture(baseOciConfig({ root: { path: 'no-rootfs' }, annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=0' } }));
  t.equal((await prepareBundle(fx.bundle, options(fx))).written, true);
});

t.test('a mount source that resolves inside the rootfs is refused even through an absolute spec path', async (t) => {
  const fx = makeRuntimeFixture(baseOciConfig({ annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=0' } }));
  writeFileSync(path.join(fx.rootfs, 'lib.so'), 'image');
  const spec = JSON.parse(readFileSync(path.join(fx.cdiDir, 'nvidia.json'), 'utf8'));
  spec.containerEdits.mounts[0].hostPath = path.join(fx.rootfs, 'lib.so');
  writeFileSync(path.join(fx.cdiDir, 'nvidia.json'), JSON.stringify(spec));
  const before = readFileSync(fx.configFile);
  await t.rejects(prepareBundle(fx.bundle, options(fx)), { code: ErrorCode.SYMLINK_ESCAPE });
  t.ok(readFileSync(fx.configFile).equals(before));
});
