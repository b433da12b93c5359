import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import {
  FILE_MOUNT_OPTIONS,
  OWNER_ENV,
  buildCdiSpec,
  checkDeviceName,
  checkKind,
  deviceNodeEdit,
  driverMounts,
  vendorSpec,
  type VendorSpecInput,
} from '../../agent/inject/cdi-spec.js';
import type { DeviceNodeInfo } from '../../agent/inject/device-nodes.js';
import type { DriverFiles } from '../../agent/inject/driver-files.js';
import { resolveSpecHostPrefix } from '../../agent/inject/spec-host-prefix.js';
import { CDI_SCHEMA_DIR, loadCdiSpecValidator } from '../helpers/cdi-schema.js';
import { gpu, npu } from '../helpers/sample-inventory.js';

const invalid = { code: ErrorCode.CDI_INVALID };
const validator = loadCdiSpecValidator();
const schemaSkip = typeof validator === 'string' ? validator : false;
const validate = (spec: unknown) => (typeof validator === 'string' ? [validator] : validator(spec));

const V = '550.54.15';
function nvidiaFiles(): DriverFiles {
  return {
    vendor: 'nvidia',
    version: V,
    libraryDirs: ['/usr/lib64'],
    libraries: [
      { path: `/usr/lib64/libcuda.so.${V}`, source: `/usr/lib64/libcuda.so.${V}`, soname: 'libcuda.so.1' },
      { path: `/usr/lib64/libnvidia-cfg.so.${V}`, source: `/usr/lib/nvidia/libnvidia-cfg.so.${V}`, soname: 'libnvidia-cfg.so.1' },
      { path: `/usr/lib64/libnvidia-glcore.so.${V}`, source: `/usr/lib64/libnvidia-glcore.so.${V}`, soname: `libnvidia-glcore.so.${V}` },
      { path: `/usr/lib64/libnvidia-ml.so.${V}`, source: `/usr/lib64/libnvidia-ml.so.${V}`, soname: 'libnvidia-ml.so.1' },
    ],
    binaries: [{ path: '/usr/bin/nvidia-smi', source: '/usr/bin/nvidia-smi' }],
    firmware: [{ path: `/lib/firmware/nvidia/${V}/gsp_ga10x.bin`, source: `/usr/lib/firmware/nvidia/${V}/gsp_ga10x.bin` }],
    sockets: [{ path: '/run/nvidia-persistenced/socket', source: '/run/nvidia-persistenced/socket' }],
    otherFiles: [],
    refused: [],
    warnings: [],
  };
}

function node(p: string, major: number, minor: number, source = p): [string, DeviceNodeInfo] {
  return [p, { path: p, source, type: 'c', major, minor, origin: 'stat' }];
}

function nvidiaInput(prefix = '', containerLibraryDir: string | null = null): VendorSpecInput {
  return {
    kind: 'nvidia.com/gpu',
    devices: [gpu(1), gpu(0)],
    controlNodes: ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools'],
    files: nvidiaFiles(),
    nodes: new Map([
      node('/dev/nvidia0', 195, 0),
      node('/dev/nvidia1', 195, 1),
      node('/dev/nvidiactl', 195, 255),
      node('/dev/nvidia-uvm', 508, 0),
      node('/dev/nvidia-uvm-tools', 508, 1),
    ]),
    mountOptions: { prefix, containerLibraryDir },
  };
}

t.test('the schema validator is real: the spec’s own example passes, a broken one fails', { skip: schemaSkip }, async (t) => {
  const example = JSON.parse(readFileSync(path.join(CDI_SCHEMA_DIR, 'example-good.json'), 'utf8')) as Record<string, unknown>;
  t.same(validate(example), []);
  t.not(validate({ ...example, devices: [{ name: 'x' }] }).length, 0, 'a device without containerEdits is rejected');
  t.not(validate({ cdiVersion: '0.5.0', devices: [] }).length, 0, 'a spec without kind is rejected');
});

t.test('NVIDIA spec: devices by index, by UUID and all; nodes per device; shared edits once', async (t) => {
  const { spec, warnings } = vendorSpec(nvidiaInput());
  t.same(warnings, []);
  if (spec === null) throw new Error('no spec');
  t.equal(spec.kind, 'nvidia.com/gpu');
  t.same(spec.devices.map((d) => d.name), [
    '0',
    'GPU-00000000-aaaa-bbbb-cccc-dddddddddddd',
    '1',
    'GPU-00000001-aaaa-bbbb-cccc-dddddddddddd',
    'all',
  ]);
  const byName = new Map(spec.devices.map((d) => [d.name, d]));
  t.same(byName.get('1')?.containerEdits, { deviceNodes: [{ path: '/dev/nvidia1', type: 'c', major: 195, minor: 1 }] });
  t.same(byName.get('GPU-00000001-aaaa-bbbb-cccc-dddddddddddd')?.containerEdits, byName.get('1')?.containerEdits);
  t.same(byName.get('all')?.containerEdits.deviceNodes?.map((n) => n.path), ['/dev/nvidia0', '/dev/nvidia1']);

  const shared = spec.containerEdits!;
  t.same(shared.env, [OWNER_ENV]);
  t.same(shared.deviceNodes?.map((n) => `${n.path} ${n.major}:${n.minor}`), ['/dev/nvidiactl 195:255', '/dev/nvidia-uvm 508:0', '/dev/nvidia-uvm-tools 508:1']);
  t.equal(shared.hooks, undefined, 'no hooks');
  t.notOk(shared.env?.some((e) => e.startsWith('LD_LIBRARY_PATH=')), 'the image’s own LD_LIBRARY_PATH is left alone');
});

t.test('each library is mounted read-only at its path and at its soname in the same directory', async (t) => {
  const mounts = driverMounts(nvidiaFiles(), { prefix: '', containerLibraryDir: null });
  const at = new Map(mounts.map((m) => [m.containerPath, m]));
  t.same(at.get(`/usr/lib64/libcuda.so.${V}`), { hostPath: `/usr/lib64/libcuda.so.${V}`, containerPath: `/usr/lib64/libcuda.so.${V}`, options: ['ro', 'nosuid', 'nodev', 'rbind'] });
  t.same(at.get('/usr/lib64/libcuda.so.1'), { hostPath: `/usr/lib64/libcuda.so.${V}`, containerPath: '/usr/lib64/libcuda.so.1', options: ['ro', 'nosuid', 'nodev', 'rbind'] }, 'soname mount, source is the real file');
  t.equal(at.get('/usr/lib64/libnvidia-cfg.so.1')?.hostPath, `/usr/lib/nvidia/libnvidia-cfg.so.${V}`, 'sources are resolved files, never links');
  t.same(mounts.filter((m) => m.containerPath.includes('glcore')).map((m) => m.containerPath), [`/usr/lib64/libnvidia-glcore.so.${V}`], 'a soname equal to the file name is mounted once');
  t.same(at.get('/usr/bin/nvidia-smi')?.options, [...FILE_MOUNT_OPTIONS]);
  t.same(at.get(`/lib/firmware/nvidia/${V}/gsp_ga10x.bin`)?.options, ['ro', 'nosuid', 'nodev', 'noexec', 'rbind']);
  t.same(at.get('/run/nvidia-persistenced/socket')?.options, ['ro', 'nosuid', 'nodev', 'noexec', 'rbind']);
  for (const m of mounts) t.ok(m.options?.includes('ro') && m.options.includes('nosuid') && m.options.includes('nodev'), `${m.containerPath} is ro,nosuid,nodev`);
  t.same(mounts.map((m) => m.containerPath), [...mounts.map((m) => m.containerPath)].sort(), 'mounts come in path order');
  t.equal(new Set(mounts.map((m) => m.containerPath)).size, mounts.length, 'one mount per container path');
});

t.test('containerLibraryDir moves libraries and soname links, not binaries', async (t) => {
  const mounts = driverMounts(nvidiaFiles(), { prefix: '', containerLibraryDir: '/usr/lib/x86_64-linux-gnu' });
  const paths = mounts.map((m) => m.containerPath);
  t.ok(paths.includes(`/usr/lib/x86_64-linux-gnu/libcuda.so.${V}`));
  t.ok(paths.includes('/usr/lib/x86_64-linux-gnu/libcuda.so.1'));
  t.notOk(paths.some((p) => p.startsWith('/usr/lib64/')));
  t.ok(paths.includes('/usr/bin/nvidia-smi'));
  t.equal(mounts.find((m) => m.containerPath === '/usr/lib/x86_64-linux-gnu/libcuda.so.1')?.hostPath, `/usr/lib64/libcuda.so.${V}`);
});

t.test('host prefix both ways: stripped (default) or the host root on every host path, never on container paths', async (t) => {
  const root = '/var/sim/gn5';
  const stripped = vendorSpec(nvidiaInput(resolveSpecHostPrefix(root, undefined))).spec!;
  const prefixed = vendorSpec(nvidiaInput(resolveSpecHostPrefix(root, 'root'))).spec!;
  const dev0 = (s: typeof stripped) => s.devices.find((d) => d.name === '0')!.containerEdits.deviceNodes![0]!;
  t.same(dev0(stripped), { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0 }, 'no hostPath when it equals path');
  t.same(dev0(prefixed), { path: '/dev/nvidia0', hostPath: `${root}/dev/nvidia0`, type: 'c', major: 195, minor: 0 });
  for (const m of prefixed.containerEdits!.mounts!) {
    t.ok(m.hostPath.startsWith(root + '/'), `${m.hostPath} carries the prefix`);
    t.notOk(m.containerPath.startsWith(root), `${m.containerPath} does not`);
  }
  for (const m of stripped.containerEdits!.mounts!) t.notOk(m.hostPath.startsWith(root));
});

t.test('cdiVersion is the lowest the fields need', async (t) => {
  t.equal(vendorSpec(nvidiaInput('')).spec!.cdiVersion, '0.5.0', 'names starting with a digit need 0.5.0');
  t.equal(vendorSpec(nvidiaInput('/sim')).spec!.cdiVersion, '0.5.0');
  const lettered = buildCdiSpec({ kind: 'example.com/npu', devices: [{ names: ['npu0'], deviceNodes: [{ path: '/dev/npu0' }] }], allName: null, containerEdits: {} });
  t.equal(lettered.cdiVersion, '0.3.0');
  const dotted = buildCdiSpec({ kind: 'example.com/npu.v2', devices: [{ names: ['a'], deviceNodes: [{ path: '/dev/a' }] }], allName: null, containerEdits: {} });
  t.equal(dotted.cdiVersion, '0.6.0', 'a dot in the class needs 0.6.0');
});

t.test('every generated spec validates against the official CDI schema', { skip: schemaSkip }, async (t) => {
  const specs = [
    vendorSpec(nvidiaInput('')).spec,
    vendorSpec(nvidiaInput('/var/sim/gn5', '/usr/lib/x86_64-linux-gnu')).spec,
    vendorSpec({ ...nvidiaInput(''), devices: [gpu(0, { uuid: null, id: 'nvidia-0000:41:00.0' })] }).spec,
    npuSpec().spec,
  ];
  for (const spec of specs) {
    t.ok(spec);
    t.same(validate(spec), [], `${spec?.kind} ${spec?.devices.length} devices`);
    t.same(JSON.parse(JSON.stringify(spec)), spec, 'plain JSON, no undefined fields');
  }
});

function npuSpec() {
  const files: DriverFiles = {
    ...nvidiaFiles(),
    vendor: 'hanguang',
    version: null,
    libraries: [
      { path: '/usr/local/hgai/lib/libhgrt.so', source: '/usr/local/hgai/lib/libhgrt.so.2.1', soname: 'libhgrt.so.2' },
      { path: '/usr/local/hgai/lib/libhgrt.so.2.1', source: '/usr/local/hgai/lib/libhgrt.so.2.1', soname: 'libhgrt.so.2' },
    ],
    binaries: [],
    firmware: [],
    sockets: [],
    otherFiles: [{ path: '/etc/hgai', source: '/etc/hgai' }],
  };
  return vendorSpec({
    kind: 'aliyun.com/npu',
    devices: [npu(0), npu(1)],
    controlNodes: ['/dev/hanguang_ctl'],
    files,
    nodes: new Map([node('/dev/alinpu0', 240, 0), node('/dev/alinpu1', 240, 1), node('/dev/hanguang_ctl', 10, 60)]),
    mountOptions: { prefix: '', containerLibraryDir: null },
  });
}

t.test('NPU spec: named by index and by device id, soname mount added, control node shared', async (t) => {
  const { spec, warnings } = npuSpec();
  t.same(warnings, []);
  t.same(spec!.devices.map((d) => d.name), ['0', 'hanguang-0000:80:00.0', '1', 'hanguang-0000:81:00.0', 'all']);
  const paths = spec!.containerEdits!.mounts!.map((m) => m.containerPath);
  t.same(paths, ['/etc/hgai', '/usr/local/hgai/lib/libhgrt.so', '/usr/local/hgai/lib/libhgrt.so.2', '/usr/local/hgai/lib/libhgrt.so.2.1']);
  t.same(spec!.containerEdits!.deviceNodes, [{ path: '/dev/hanguang_ctl', type: 'c', major: 10, minor: 60 }]);
});

t.test('devices without usable nodes and ids that are not CDI names are left out with a warning', async (t) => {
  const input = nvidiaInput();
  const { spec, warnings } = vendorSpec({
    ...input,
    devices: [gpu(0, { uuid: 'MIG-GPU-1/2/3', id: 'MIG-GPU-1/2/3' }), gpu(1, { deviceNodes: ['/dev/nvidia9'] })],
  });
  t.same(spec!.devices.map((d) => d.name), ['0', 'all']);
  t.match(warnings.join('\n'), /"MIG-GPU-1\/2\/3" must use only/);
  t.match(warnings.join('\n'), /GPU-00000001-aaaa-bbbb-cccc-dddddddddddd has no usable device node/);
  t.same(vendorSpec({ ...input, devices: [] }), { spec: null, warnings: [] }, 'no devices: no spec');
});

t.test('a node whose numbers are unknown is still named, without type and numbers', async (t) => {
  const edit = deviceNodeEdit({ path: '/dev/x', source: '/dev/x', type: null, major: null, minor: null, origin: 'unknown' }, '/sim');
  t.same(edit, { path: '/dev/x', hostPath: '/sim/dev/x' });
});

t.test('device names: path-like, traversal and odd characters are rejected', async (t) => {
  for (const good of ['0', 'all', 'GPU-8a1b2c3d-0000-1111-2222-333344445555', 'npu_3', 'mig:1.2', 'a']) checkDeviceName(good);
  t.pass('valid names accepted');
  const bad = ['', '..', 'a..b', '../0', '0/1', '/dev/nvidia0', 'a b', 'gpu*', '-0', '0-', '.hidden', 'x\0', 'ü', 'a'.repeat(257), 'a\nb'];
  for (const name of bad) t.throws(() => checkDeviceName(name), invalid, JSON.stringify(name));
});

t.test('kinds must be vendor/class', async (t) => {
  checkKind('nvidia.com/gpu');
  checkKind('aliyun.com/npu');
  for (const bad of ['', 'gpu', 'nvidia.com/', '/gpu', 'a/b/c', 'nvidia..com/gpu', 'nvidia.com/gpu ', '1vendor/gpu', 'nvidia.com/../x']) {
    t.throws(() => checkKind(bad), invalid, JSON.stringify(bad));
  }
});

t.test('duplicate names in one spec are refused', async (t) => {
  t.throws(
    () => buildCdiSpec({ kind: 'a.com/b', devices: [{ names: ['x'], deviceNodes: [] }, { names: ['x'], deviceNodes: [] }], allName: null, containerEdits: {} }),
    { ...invalid, message: /used twice/ },
  );
  t.throws(
    () => buildCdiSpec({ kind: 'a.com/b', devices: [{ names: ['all'], deviceNodes: [] }], allName: 'all', containerEdits: {} }),
    { ...invalid, message: /used twice/ },
    'a device cannot take the name of the all device',
  );
});

t.test('the owner marker is always present and first in the spec-level env', async (t) => {
  const spec = buildCdiSpec({ kind: 'a.com/b', devices: [{ names: ['x'], deviceNodes: [{ path: '/dev/x' }] }], allName: null, containerEdits: { env: ['FOO=1'] } });
  t.same(spec.containerEdits?.env, [OWNER_ENV, 'FOO=1']);
});
