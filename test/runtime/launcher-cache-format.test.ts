import t from 'tap';
import { cacheDeviceFor, isRawSafe, renderDevice, renderHeader } from '../../agent/runtime/launcher-cache-format.js';

t.test('the header records runc, env selection, settings and file stamps', async (t) => {
  const text = renderHeader({
    runc: '/usr/sbin/runc',
    envSelection: false,
    settings: [
      { name: 'ACCEL_RUNTIME_RUNC', value: '/usr/sbin/runc' },
      { name: 'ACCEL_RUNTIME_CDI_DIRS', value: undefined },
      { name: 'ACCEL_RUNTIME_CONFIG', value: '' },
    ],
    files: [
      { path: '/etc/cdi', stamp: '2049 12 4096 1700000000 5' },
      { path: '/etc/accel-agent/runtime.yaml', stamp: null },
    ],
  });
  t.equal(
    text,
    [
      'accel-runtime-launcher-cache 1',
      'runc /usr/sbin/runc',
      'envselect 0',
      'setting ACCEL_RUNTIME_RUNC=/usr/sbin/runc',
      'unset ACCEL_RUNTIME_CDI_DIRS',
      'setting ACCEL_RUNTIME_CONFIG=',
      'stat 2049 12 4096 1700000000 5 /etc/cdi',
      'absent /etc/accel-agent/runtime.yaml',
      '',
    ].join('\n'),
  );
});

t.test('a header value that could break the line format makes the cache unusable', async (t) => {
  const base = { runc: '/usr/sbin/runc', envSelection: true, settings: [], files: [] };
  t.match(renderHeader(base), /envselect 1/);
  t.equal(renderHeader({ ...base, settings: [{ name: 'ACCEL_RUNTIME_CDI_DIRS', value: '/a\nstat 1 2 3 4 5 /x' }] }), null);
  t.equal(renderHeader({ ...base, files: [{ path: '/etc/cdi\tx', stamp: null }] }), null);
  t.equal(renderHeader({ ...base, runc: '/opt/rünc' }), null);
});

t.test('a device entry carries the exact JSON the wrapper writes', async (t) => {
  const entry = cacheDeviceFor('nvidia.com/gpu=0', {
    env: ['NVIDIA_VISIBLE_DEVICES=0'],
    deviceNodes: [{ path: '/dev/nvidia0', hostPath: '/host/dev/nvidia0', type: 'c', major: 195, minor: 0, permissions: 'rw' }],
    mounts: [{ hostPath: '/host/usr/lib/libcuda.so.1', containerPath: '/usr/lib/libcuda.so.1', options: ['ro', 'nosuid'] }],
  });
  t.ok(entry);
  t.equal(
    renderDevice(entry!),
    [
      'device nvidia.com/gpu=0',
      'node /dev/nvidia0\t/host/dev/nvidia0\tc 195 0\t{"type":"c","path":"/dev/nvidia0","major":195,"minor":0}\t{"allow":true,"type":"c","major":195,"minor":0,"access":"rw"}',
      'mount /usr/lib/libcuda.so.1\t/host/usr/lib/libcuda.so.1\t"/usr/lib/libcuda.so.1"\t["ro","nosuid","rbind"]',
      'env NVIDIA_VISIBLE_DEVICES\t"NVIDIA_VISIBLE_DEVICES=0"',
      'end',
      '',
    ].join('\n'),
  );
  t.equal(cacheDeviceFor('nvidia.com/gpu=0', { deviceNodes: [{ path: '/dev/x', type: 'c', major: 1, minor: 3 }] })?.nodes[0]?.hostPath, '/dev/x',
    'the host path defaults to the container path');
});

t.test('edits the launcher could not apply exactly are left to the wrapper', async (t) => {
  const node = { path: '/dev/nvidia0', type: 'c' as const, major: 195, minor: 0 };
  t.equal(cacheDeviceFor('k.com/x=0', { hooks: [{ hookName: 'createContainer', path: '/bin/h' }] }), null, 'hooks');
  t.equal(cacheDeviceFor('k.com/x=0', { additionalGids: [44] }), null, 'extra groups');
  t.equal(cacheDeviceFor('k.com/x=0', { deviceNodes: [{ path: '/dev/nvidia0' }] }), null, 'numbers read from the host at run time');
  t.equal(cacheDeviceFor('k.com/x=0', { deviceNodes: [{ ...node, path: '/dev/"x' }] }), null, 'a quote in a path');
  t.equal(cacheDeviceFor('k.com/x=0', { deviceNodes: [{ ...node, hostPath: '/dev/\\x' }] }), null, 'a backslash in a host path');
  t.equal(cacheDeviceFor('k.com/x=0', { mounts: [{ hostPath: '/lib/é.so', containerPath: '/lib/x.so' }] }), null, 'non-ASCII');
  t.equal(cacheDeviceFor('k.com/x=0', { mounts: [{ hostPath: 'lib/x.so', containerPath: '/lib/x.so' }] }), null, 'invalid edits');
  t.equal(cacheDeviceFor('k.com/x=0', { env: ['A B=1'] })?.env[0]?.key, 'A B', 'spaces are fine');
  t.equal(cacheDeviceFor('k.com/x=0', { env: ['A\tB=1'] }), null, 'a tab in a key');
  t.ok(cacheDeviceFor('k.com/x=0', { env: ['A=tab\there'] }), 'values are JSON-escaped, so anything goes');
});

t.test('raw fields are printable ASCII without quotes or backslashes', async (t) => {
  t.ok(isRawSafe('/usr/lib/x86_64-linux-gnu/libcuda.so.1'));
  for (const bad of ['a\tb', 'a\nb', 'a"b', 'a\\b', 'ü', '\u0000']) t.notOk(isRawSafe(bad), JSON.stringify(bad));
});
