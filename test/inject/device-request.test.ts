import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import {
  annotationRequests,
  envSelection,
  envValue,
  parseQualifiedName,
  requestedDevices,
} from '../../agent/inject/device-request.js';

const invalidRequest = { code: ErrorCode.DEVICE_REQUEST_INVALID };

t.test('a qualified name splits into vendor, class, kind and device name', async (t) => {
  t.same(parseQualifiedName('nvidia.com/gpu=0'), {
    vendor: 'nvidia.com',
    class: 'gpu',
    kind: 'nvidia.com/gpu',
    name: '0',
    qualified: 'nvidia.com/gpu=0',
  });
  t.equal(parseQualifiedName('nvidia.com/gpu=GPU-8a1b2c3d-0000-1111-2222-333344445555').name,
    'GPU-8a1b2c3d-0000-1111-2222-333344445555');
  t.equal(parseQualifiedName('nvidia.com/mig=0:1').name, '0:1');
  t.equal(parseQualifiedName('alibaba.com/npu-card=npu_3').kind, 'alibaba.com/npu-card');
});

t.test('malformed, path-like and hostile names are refused with a clear error', async (t) => {
  const bad = [
    '',
    'nvidia.com/gpu',
    'gpu=0',
    '=0',
    'nvidia.com/gpu=',
    'nvidia.com/gpu=../../etc/shadow',
    'nvidia.com/gpu=..',
    'nvidia.com/gpu=/dev/sda',
    'nvidia.com/gpu=0/1',
    '/nvidia.com/gpu=0',
    '../nvidia.com/gpu=0',
    'nvidia.com/gpu/x=0',
    'nvidia.com/gpu.x=0',
    'nvidia.com/gpu= 0',
    'nvidia.com/gpu=0\n',
    'nvidia.com/gpu=0\u0000',
    '1vendor.com/gpu=0',
    'nvidia.com/gpu=-0',
    'nvidia.com/gpu=' + 'a'.repeat(300),
  ];
  for (const name of bad) {
    t.throws(() => parseQualifiedName(name), invalidRequest, `refuses ${JSON.stringify(name)}`);
  }
  t.throws(() => parseQualifiedName('nvidia.com/gpu=../x'), /invalid CDI device name "nvidia.com\/gpu=..\/x"/);
});

t.test('CDI annotations yield their devices in key order and ignore other annotations', async (t) => {
  const names = annotationRequests({
    'cdi.k8s.io/z-plugin': 'nvidia.com/gpu=1',
    'cdi.k8s.io/a-plugin_dev0': 'nvidia.com/gpu=0,nvidia.com/gpu=2',
    'org.opencontainers.image.title': 'nvidia.com/gpu=7',
    'io.kubernetes.cri.container-type': 'container',
  });
  t.same(names, ['nvidia.com/gpu=0', 'nvidia.com/gpu=2', 'nvidia.com/gpu=1']);
  t.same(annotationRequests(undefined), []);
  t.same(annotationRequests({}), []);
});

t.test('a bad CDI annotation names the key and fails the request', async (t) => {
  t.throws(() => annotationRequests({ 'cdi.k8s.io/dev': '' }), /cdi\.k8s\.io\/dev/);
  t.throws(() => annotationRequests({ 'cdi.k8s.io/dev': 'nvidia.com/gpu=0,' }), invalidRequest);
  t.throws(() => annotationRequests({ 'cdi.k8s.io/dev': 'nvidia.com/gpu=0, nvidia.com/gpu=1' }), invalidRequest);
  t.throws(() => annotationRequests({ 'cdi.k8s.io/dev': 'nvidia.com/gpu=0;nvidia.com/gpu=1' }), invalidRequest);
  t.throws(() => annotationRequests({ 'cdi.k8s.io/': 'nvidia.com/gpu=0' }), invalidRequest);
  t.throws(() => annotationRequests({ 'cdi.k8s.io/../x': 'nvidia.com/gpu=0' }), invalidRequest);
  t.throws(() => annotationRequests({ ['cdi.k8s.io/' + 'k'.repeat(64)]: 'nvidia.com/gpu=0' }), invalidRequest);
  const nonString = { 'cdi.k8s.io/dev': 5 } as unknown as Record<string, string>;
  t.throws(() => annotationRequests(nonString), /not a string/);
});

t.test('env selection is ignored unless the operator opted in', async (t) => {
  const input = { env: ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=all'] };
  const off = requestedDevices(input);
  t.same(off.devices, [], 'default is off');
  t.same(off.ignoredEnv, ['NVIDIA_VISIBLE_DEVICES'], 'the ignored variable is reported for logs');
  t.same(requestedDevices(input, { allowEnvSelection: false }).devices, []);
  const garbage = { env: ['NVIDIA_VISIBLE_DEVICES=../../etc', 'NVIDIA_VISIBLE_DEVICES=0'] };
  t.same(requestedDevices(garbage).devices, [], 'a malformed value cannot fail a container that did not opt in');
  t.same(requestedDevices(input, { allowEnvSelection: true }).devices, ['nvidia.com/gpu=all']);
});

t.test('env selection values: all, none, void, indices and UUIDs', async (t) => {
  const sel = { variable: 'NVIDIA_VISIBLE_DEVICES', kind: 'nvidia.com/gpu' };
  t.same(envSelection('all', sel), ['nvidia.com/gpu=all']);
  t.same(envSelection('none', sel), []);
  t.same(envSelection('void', sel), []);
  t.same(envSelection('', sel), []);
  t.same(envSelection('0, 2', sel), ['nvidia.com/gpu=0', 'nvidia.com/gpu=2']);
  t.same(envSelection('GPU-abc-123', sel), ['nvidia.com/gpu=GPU-abc-123']);
  t.throws(() => envSelection('all,0', sel), /cannot be combined/);
  t.throws(() => envSelection('0,,1', sel), invalidRequest);
  t.throws(() => envSelection('../0', sel), invalidRequest);
  t.throws(() => envSelection('0', { variable: 'X', kind: 'not-a-kind' }), invalidRequest);
});

t.test('the NPU profile variable selects its own kind', async (t) => {
  const req = requestedDevices(
    { env: ['ACCEL_NPU_VISIBLE=1', 'NVIDIA_VISIBLE_DEVICES=0'] },
    { allowEnvSelection: true, envSelectors: [{ variable: 'ACCEL_NPU_VISIBLE', kind: 'alibaba.com/npu' }] },
  );
  t.same(req.devices, ['alibaba.com/npu=1'], 'only configured selectors count');
});

t.test('an env variable repeated with different values is ambiguous and refused', async (t) => {
  t.equal(envValue(['A=1', 'A=1'], 'A'), '1');
  t.equal(envValue(['AB=1', 'A'], 'A'), null, 'prefix matches and bare names do not count');
  t.throws(() => envValue(['A=1', 'A=2'], 'A'), /more than once/);
});

t.test('annotation and env requests merge without duplicates, annotations first', async (t) => {
  const req = requestedDevices(
    {
      annotations: { 'cdi.k8s.io/p': 'nvidia.com/gpu=1,nvidia.com/gpu=1' },
      env: ['NVIDIA_VISIBLE_DEVICES=0,1'],
    },
    { allowEnvSelection: true },
  );
  t.same(req.devices, ['nvidia.com/gpu=1', 'nvidia.com/gpu=0']);
  t.same(req.ignoredEnv, []);
});
