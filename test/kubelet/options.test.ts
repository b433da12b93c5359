import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import {
  DEFAULT_KUBELET_DIR,
  annotationKey,
  pluginSocketName,
  resolvePluginSettings,
  resourceNameProblem,
} from '../../agent/kubelet/options.js';

const invalid = { code: ErrorCode.CONFIG_INVALID };

t.test('defaults: the kubelet directory, the cdi strategy, nvidia.com/gpu and aliyun.com/npu without replicas', async (t) => {
  t.same(resolvePluginSettings(), {
    kubeletDir: DEFAULT_KUBELET_DIR,
    strategies: ['cdi'],
    resources: [
      { resourceName: 'nvidia.com/gpu', vendor: 'nvidia', cdiKind: 'nvidia.com/gpu', replicas: 1 },
      { resourceName: 'aliyun.com/npu', vendor: 'hanguang', cdiKind: 'aliyun.com/npu', replicas: 1 },
    ],
  });
  t.equal(DEFAULT_KUBELET_DIR, '/var/lib/kubelet/device-plugins');
});

t.test('resources come from the options: renamed, left out, with replicas and their own CDI kind', async (t) => {
  const s = resolvePluginSettings({
    kubeletDir: '/run/kl',
    strategies: ['device-specs', 'cdi', 'cdi'],
    resources: [{ resourceName: 'nvidia.com/gpu.shared', vendor: 'nvidia', replicas: 4 }],
  });
  t.same(s.strategies, ['device-specs', 'cdi'], 'repeats dropped, order kept');
  t.same(s.resources, [{ resourceName: 'nvidia.com/gpu.shared', vendor: 'nvidia', cdiKind: 'nvidia.com/gpu', replicas: 4 }], 'the CDI kind stays the vendor one');
  const npu = resolvePluginSettings({ resources: [{ resourceName: 'example.com/npu', vendor: 'hanguang', cdiKind: 'example.com/npu' }] });
  t.equal(npu.resources[0]!.cdiKind, 'example.com/npu');
  t.same(resolvePluginSettings({ resources: [] }).resources, [], 'no resources at all is allowed');
});

t.test('bad settings are refused with CONFIG_INVALID naming the problem', async (t) => {
  t.throws(() => resolvePluginSettings({ kubeletDir: 'relative/dir' }), { ...invalid, message: /absolute path/ });
  t.throws(() => resolvePluginSettings({ kubeletDir: '/var/lib/../etc' }), invalid);
  t.throws(() => resolvePluginSettings({ strategies: ['cdi', 'env'] }), { ...invalid, message: /"env": expected one of cdi, device-specs, annotations/ });
  t.throws(() => resolvePluginSettings({ strategies: [] }), { ...invalid, message: /at least one/ });
  const gpu = { resourceName: 'nvidia.com/gpu', vendor: 'nvidia' as const };
  t.throws(() => resolvePluginSettings({ resources: [gpu, gpu] }), { ...invalid, message: /listed twice/ });
  t.throws(() => resolvePluginSettings({ resources: [gpu, { ...gpu, resourceName: 'nvidia.com/other' }] }), { ...invalid, message: /vendor nvidia already has a resource/ });
  t.throws(() => resolvePluginSettings({ resources: [{ ...gpu, vendor: 'amd' as never }] }), { ...invalid, message: /vendor "amd"/ });
  t.throws(() => resolvePluginSettings({ resources: [{ ...gpu, cdiKind: 'no-slash' }] }), { ...invalid, message: /CDI kind/ });
  for (const replicas of [0, -1, 1.5, 5000, Number.NaN]) {
    t.throws(() => resolvePluginSettings({ resources: [{ ...gpu, replicas }] }), { ...invalid, message: /replicas/ }, `replicas ${replicas}`);
  }
  const long = `${'a'.repeat(40)}.example.com/${'g'.repeat(30)}`;
  t.equal(resourceNameProblem(long), null);
  t.throws(() => resolvePluginSettings({ strategies: ['annotations'], resources: [{ resourceName: long, vendor: 'nvidia' }] }), { ...invalid, message: /too long for a CDI annotation key/ });
  t.doesNotThrow(() => resolvePluginSettings({ strategies: ['cdi'], resources: [{ resourceName: long, vendor: 'nvidia' }] }));
});

t.test('resource names: what kubelet accepts as an extended resource', async (t) => {
  for (const ok of ['nvidia.com/gpu', 'aliyun.com/npu', 'a.b-c.io/X_y.z-1']) t.equal(resourceNameProblem(ok), null, ok);
  const bad: Array<[string, RegExp]> = [
    ['gpu', /domain\/name/],
    ['nvidia.com/gpu/0', /domain\/name/],
    ['localhost/gpu', /DNS domain/],
    ['Nvidia.com/gpu', /DNS domain/],
    ['nvidia..com/gpu', /DNS domain/],
    ['kubernetes.io/gpu', /kubernetes.io/],
    ['node.kubernetes.io/gpu', /kubernetes.io/],
    ['nvidia.com/', /name of up to 63/],
    ['nvidia.com/-gpu', /name of up to 63/],
    [`nvidia.com/${'g'.repeat(64)}`, /name of up to 63/],
    ['nvidia.com/g pu', /name of up to 63/],
  ];
  for (const [name, why] of bad) t.match(resourceNameProblem(name), why, name);
  t.equal(resourceNameProblem(42 as never), 'is not a string');
});

t.test('socket names and annotation keys derive from the resource name safely', async (t) => {
  t.equal(pluginSocketName('nvidia.com/gpu'), 'accel-nvidia-com-gpu.sock');
  t.equal(pluginSocketName('aliyun.com/npu'), 'accel-aliyun-com-npu.sock');
  t.notMatch(pluginSocketName('a.b.c/x.y'), /[/]/);
  t.equal(annotationKey('aliyun.com/npu'), 'cdi.k8s.io/accel-agent_aliyun.com_npu');
});
