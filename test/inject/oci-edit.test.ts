import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import type { ContainerEdits } from '../../agent/inject/container-edits.js';
import { applyContainerEdits, validateOciConfig, type OciConfig } from '../../agent/inject/oci-edit.js';
import { loadOciConfigValidator } from '../helpers/oci-schema.js';

const configInvalid = { code: ErrorCode.OCI_CONFIG_INVALID };
const editInvalid = { code: ErrorCode.CDI_INVALID };

/** The shape `runc spec` writes, trimmed to what matters here. */
function baseConfig(): OciConfig {
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'mount' }],
    },
  };
}

function gpuEdits(): ContainerEdits {
  return {
    env: ['NVIDIA_VISIBLE_DEVICES=0'],
    deviceNodes: [
      { path: '/dev/nvidia0', hostPath: '/dev/nvidia0', type: 'c', major: 195, minor: 0, fileMode: 0o666 },
      { path: '/dev/nvidiactl', type: 'c', major: 195, minor: 255, permissions: 'rw' },
    ],
    mounts: [
      {
        hostPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.54.03',
        containerPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.54.03',
        options: ['ro', 'nosuid', 'nodev', 'rbind'],
      },
    ],
  };
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

t.test('device nodes get a linux.devices entry and a matching cgroup allow rule', async (t) => {
  const out = applyContainerEdits(baseConfig(), gpuEdits());
  t.same(out.linux?.devices, [
    { type: 'c', path: '/dev/nvidia0', major: 195, minor: 0, fileMode: 0o666 },
    { type: 'c', path: '/dev/nvidiactl', major: 195, minor: 255 },
  ]);
  t.same(out.linux?.resources?.devices, [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 195, minor: 0, access: 'rwm' },
    { allow: true, type: 'c', major: 195, minor: 255, access: 'rw' },
  ], 'allow rules come after the deny-all so they take effect');
});

t.test('mounts are read-only binds from the host path, env is appended', async (t) => {
  const out = applyContainerEdits(baseConfig(), gpuEdits());
  t.same(out.mounts?.at(-1), {
    destination: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.54.03',
    type: 'bind',
    source: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.54.03',
    options: ['ro', 'nosuid', 'nodev', 'rbind'],
  });
  t.same(out.process?.env?.at(-1), 'NVIDIA_VISIBLE_DEVICES=0');
  t.equal(out.hooks, undefined, 'no hooks appear when the edits carry none');
});

t.test('the edited config is valid against the official OCI schema', async (t) => {
  const validate = loadOciConfigValidator();
  if (typeof validate === 'string') {
    t.fail(validate);
    return;
  }
  t.same(validate(baseConfig()), [], 'the base is valid');
  const out = applyContainerEdits(baseConfig(), {
    ...gpuEdits(),
    hooks: [{ hookName: 'createContainer', path: '/usr/bin/accel-hook' }],
    additionalGids: [44],
  });
  t.same(validate(out), []);
});

t.test('the input config is never mutated', async (t) => {
  const input = deepFreeze(baseConfig());
  const before = JSON.stringify(input);
  const out = applyContainerEdits(input, gpuEdits());
  t.equal(JSON.stringify(input), before);
  t.not(out, input);
  t.not(out.linux, input.linux);
});

t.test('applying the same edits twice changes nothing the second time', async (t) => {
  const once = applyContainerEdits(baseConfig(), gpuEdits());
  const twice = applyContainerEdits(once, gpuEdits());
  t.same(twice, once);
});

t.test('exact repeats inside the edits merge; different edits for one path are refused', async (t) => {
  const e = gpuEdits();
  const doubled: ContainerEdits = {
    deviceNodes: [...e.deviceNodes!, ...e.deviceNodes!],
    mounts: [...e.mounts!, ...e.mounts!],
  };
  const out = applyContainerEdits(baseConfig(), doubled);
  t.equal(out.linux?.devices?.length, 2);
  t.equal(out.mounts?.length, 3);
  t.throws(
    () => applyContainerEdits(baseConfig(), { deviceNodes: [e.deviceNodes![0]!, { ...e.deviceNodes![0]!, minor: 1 }] }),
    { code: ErrorCode.CDI_INVALID, message: /two different device node edits for \/dev\/nvidia0/ },
  );
  t.throws(
    () => applyContainerEdits(baseConfig(), { mounts: [e.mounts![0]!, { ...e.mounts![0]!, hostPath: '/etc/shadow' }] }),
    editInvalid,
  );
});

t.test('an edit clashing with what the config already has is refused, naming the field', async (t) => {
  const cfg = baseConfig();
  cfg.linux!.devices = [{ type: 'c', path: '/dev/nvidia0', major: 1, minor: 3 }];
  t.throws(() => applyContainerEdits(cfg, gpuEdits()), { code: ErrorCode.OCI_CONFIG_INVALID, message: /linux\.devices\[0\]/ });
  const cfg2 = baseConfig();
  cfg2.mounts!.push({ destination: '/usr/lib/x86_64-linux-gnu//libcuda.so.535.54.03/', source: '/tmp/evil', type: 'bind' });
  t.throws(() => applyContainerEdits(cfg2, gpuEdits()), { message: /mounts\[2\]/ }, 'odd spellings of the same path still clash');
});

t.test('an injected env variable replaces every same-named entry from the image', async (t) => {
  const cfg = baseConfig();
  cfg.process!.env = ['NVIDIA_VISIBLE_DEVICES=all', 'A=1', 'NVIDIA_VISIBLE_DEVICES=3'];
  const out = applyContainerEdits(cfg, { env: ['NVIDIA_VISIBLE_DEVICES=0'] });
  t.same(out.process?.env, ['A=1', 'NVIDIA_VISIBLE_DEVICES=0']);
  t.throws(() => applyContainerEdits(cfg, { env: ['X=1', 'X=2'] }), editInvalid);
  t.throws(() => applyContainerEdits(cfg, { env: ['=1'] }), editInvalid);
  t.throws(() => applyContainerEdits(cfg, { env: ['NOVALUE'] }), editInvalid);
});

t.test('container paths must be absolute and free of ..', async (t) => {
  const bad = ['dev/nvidia0', '../dev/nvidia0', '/dev/../etc/shadow', '/', '', '/dev/nvidia0\0x'];
  for (const p of bad) {
    t.throws(
      () => applyContainerEdits(baseConfig(), { deviceNodes: [{ path: p, type: 'c', major: 195, minor: 0 }] }),
      editInvalid,
      `device path ${JSON.stringify(p)}`,
    );
    t.throws(
      () => applyContainerEdits(baseConfig(), { mounts: [{ containerPath: p, hostPath: '/usr/lib/libx.so' }] }),
      editInvalid,
      `mount destination ${JSON.stringify(p)}`,
    );
  }
  const out = applyContainerEdits(baseConfig(), { deviceNodes: [{ path: '/dev//nvidia0/', type: 'c', major: 195, minor: 0 }] });
  t.equal(out.linux?.devices?.[0]?.path, '/dev/nvidia0', 'harmless spellings are normalised');
});

t.test('mount sources must be absolute host paths', async (t) => {
  for (const src of ['rootfs/usr/lib/libcuda.so.1', 'libcuda.so.1', '', '/usr/../etc/shadow']) {
    t.throws(
      () => applyContainerEdits(baseConfig(), { mounts: [{ containerPath: '/usr/lib/libcuda.so.1', hostPath: src }] }),
      { code: ErrorCode.CDI_INVALID, message: /source/ },
      `source ${JSON.stringify(src)}`,
    );
  }
});

t.test('only bind mounts are injected and options cannot smuggle extra flags', async (t) => {
  t.throws(
    () => applyContainerEdits(baseConfig(), { mounts: [{ containerPath: '/x', hostPath: '/dev/sda', type: 'ext4' }] }),
    editInvalid,
  );
  t.throws(
    () => applyContainerEdits(baseConfig(), { mounts: [{ containerPath: '/x', hostPath: '/y', options: ['ro,exec'] }] }),
    editInvalid,
  );
  const out = applyContainerEdits(baseConfig(), { mounts: [{ containerPath: '/x', hostPath: '/y', options: ['ro'] }] });
  t.same(out.mounts?.at(-1)?.options, ['ro', 'rbind'], 'a bind flag is added when the edit forgot it');
});

t.test('device nodes need type and numbers, sane modes, ids and permissions', async (t) => {
  const cases: ContainerEdits['deviceNodes'] = [
    { path: '/dev/nvidia0' },
    { path: '/dev/nvidia0', type: 'c', major: 195 },
    { path: '/dev/nvidia0', type: 'c', major: -1, minor: 0 },
    { path: '/dev/nvidia0', type: 'c', major: 1.5, minor: 0 },
    { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, fileMode: 0o170666 },
    { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, uid: -5 },
    { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, permissions: 'rwx' },
    { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, permissions: 'rr' },
    { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, hostPath: 'dev/nvidia0' },
    { path: '/dev/nvidia0', type: 'u' as 'c', major: 195, minor: 0 },
  ];
  for (const node of cases) {
    t.throws(() => applyContainerEdits(baseConfig(), { deviceNodes: [node] }), editInvalid, JSON.stringify(node));
  }
});

t.test('hooks are added only when given, with an explicit env and a timeout', async (t) => {
  const out = applyContainerEdits(baseConfig(), { hooks: [{ hookName: 'createContainer', path: '/usr/bin/accel-hook' }] });
  t.same(out.hooks, {
    createContainer: [
      { path: '/usr/bin/accel-hook', args: ['/usr/bin/accel-hook'], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], timeout: 10 },
    ],
  });
  const custom = applyContainerEdits(
    baseConfig(),
    { hooks: [{ hookName: 'poststop', path: '/bin/h', args: ['h', '-x'], env: ['A=b'], timeout: 3 }] },
  );
  t.same(custom.hooks?.poststop?.[0], { path: '/bin/h', args: ['h', '-x'], env: ['A=b'], timeout: 3 });
  t.throws(() => applyContainerEdits(baseConfig(), { hooks: [{ hookName: 'createContainer', path: 'hook' }] }), editInvalid);
  t.throws(
    () => applyContainerEdits(baseConfig(), { hooks: [{ hookName: 'createContainer', path: '/h', timeout: 0 }] }),
    editInvalid,
  );
  t.throws(
    () => applyContainerEdits(baseConfig(), { hooks: [{ hookName: 'createContainer', path: '/h', env: ['LD_PRELOAD'] }] }),
    editInvalid,
  );
  t.throws(
    () => applyContainerEdits(baseConfig(), { hooks: [{ hookName: 'onBoot' as 'poststop', path: '/h' }] }),
    editInvalid,
  );
});

t.test('additional groups are added once', async (t) => {
  const cfg = baseConfig();
  cfg.process!.user = { uid: 0, gid: 0, additionalGids: [44] };
  const out = applyContainerEdits(cfg, { additionalGids: [44, 109] });
  t.same(out.process?.user?.additionalGids, [44, 109]);
  t.throws(() => applyContainerEdits(cfg, { additionalGids: [-1] }), editInvalid);
});

t.test('a config without linux, mounts or process gets them created', async (t) => {
  const out = applyContainerEdits({ ociVersion: '1.0.2' }, gpuEdits());
  t.equal(out.linux?.devices?.length, 2);
  t.equal(out.linux?.resources?.devices?.length, 2);
  t.equal(out.mounts?.length, 1);
  t.same(out.process?.env, ['NVIDIA_VISIBLE_DEVICES=0']);
});

t.test('malformed configs are refused, naming the bad field', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /top level/],
    [[], /top level/],
    ['{}', /top level/],
    [{}, /ociVersion/],
    [{ ociVersion: 1 }, /ociVersion/],
    [{ ociVersion: '1', root: 'rootfs' }, /root must be an object/],
    [{ ociVersion: '1', root: {} }, /root\.path/],
    [{ ociVersion: '1', process: [] }, /process must be an object/],
    [{ ociVersion: '1', process: { env: 'A=1' } }, /process\.env must be an array/],
    [{ ociVersion: '1', process: { env: ['A=1', 7] } }, /process\.env\[1\]/],
    [{ ociVersion: '1', process: { user: { additionalGids: ['x'] } } }, /process\.user\.additionalGids\[0\]/],
    [{ ociVersion: '1', mounts: {} }, /mounts must be an array/],
    [{ ociVersion: '1', mounts: [null] }, /mounts\[0\] must be an object/],
    [{ ociVersion: '1', mounts: [{ source: '/x' }] }, /mounts\[0\]\.destination/],
    [{ ociVersion: '1', mounts: [{ destination: '/x', options: 'ro' }] }, /mounts\[0\]\.options/],
    [{ ociVersion: '1', mounts: [{ destination: '/x', source: 5 }] }, /mounts\[0\]\.source/],
    [{ ociVersion: '1', linux: [] }, /linux must be an object/],
    [{ ociVersion: '1', linux: { devices: [{ path: '/dev/x' }] } }, /linux\.devices\[0\]\.type/],
    [{ ociVersion: '1', linux: { resources: { devices: [{ access: 'rwm' }] } } }, /linux\.resources\.devices\[0\]\.allow/],
    [{ ociVersion: '1', hooks: { prestart: {} } }, /hooks\.prestart must be an array/],
    [{ ociVersion: '1', hooks: { poststop: [{}] } }, /hooks\.poststop\[0\]\.path/],
    [{ ociVersion: '1', annotations: { a: 1 } }, /annotations\["a"\]/],
  ];
  for (const [cfg, field] of cases) {
    t.throws(() => validateOciConfig(cfg), { ...configInvalid, message: field }, JSON.stringify(cfg));
    t.throws(() => applyContainerEdits(cfg as OciConfig, gpuEdits()), configInvalid);
  }
});
