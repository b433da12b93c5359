import t from 'tap';
import { isValidLabelKey, isValidLabelValue, mergeLabels, summariseDevices, toLabelValue } from '../../agent/discovery/labels.js';
import type { DiscoveredDevice } from '../../agent/vendors/vendor.js';

const dev = (pciBusId: string, model: string, memoryMiB: number | null): DiscoveredDevice => ({
  id: `x-${pciBusId}`,
  vendor: 'nvidia',
  kind: 'gpu',
  model,
  uuid: null,
  pciBusId,
  numaNode: null,
  memoryMiB,
  deviceNodes: [],
  driverVersion: null,
  health: 'Healthy',
  healthReason: '',
  source: 'nvml',
});

t.test('product names become the label values operators already select on', async (t) => {
  t.equal(toLabelValue('GRID P4-2Q'), 'GRID-P4-2Q');
  t.equal(toLabelValue('Tesla V100-SXM2-16GB'), 'Tesla-V100-SXM2-16GB');
  t.equal(toLabelValue('NVIDIA GeForce RTX 3090 (Ti)'), 'NVIDIA-GeForce-RTX-3090-_Ti', 'invalid characters replaced, trailing ones trimmed');
  t.equal(toLabelValue('  Hanguang 800  '), 'Hanguang-800');
  t.equal(toLabelValue('汉光'), '', 'nothing usable left');
  t.equal(toLabelValue('-._x'), 'x');
});

t.test('label values are cut to 63 characters and still valid', async (t) => {
  const v = toLabelValue('A'.repeat(62) + ' B' + 'C'.repeat(10));
  t.ok(v.length <= 63);
  t.ok(isValidLabelValue(v));
  const ends = toLabelValue('A'.repeat(62) + '.-x');
  t.equal(ends, 'A'.repeat(62), 'cut leaves a trailing dot, which is trimmed');
  for (const s of ['GRID P4-2Q', '\x1b[31mred', 'a/b:c', ' ', 'x'.repeat(200)]) t.ok(isValidLabelValue(toLabelValue(s)), s);
});

t.test('label key and value validity follows the Kubernetes rules', async (t) => {
  for (const k of ['aliyun.accelerator/nvidia_count', 'nvidia.com/gpu.product', 'plain', 'a.b/c']) t.ok(isValidLabelKey(k), k);
  for (const k of ['', '/x', 'UPPER.com/x', 'a/b/c', 'x/' + 'n'.repeat(64), 'x/-lead', 'x/trail-', 'bad_domain.com/x']) t.notOk(isValidLabelKey(k), k);
  t.ok(isValidLabelValue(''));
  t.notOk(isValidLabelValue('a b'));
  t.notOk(isValidLabelValue('x'.repeat(64)));
});

t.test('the first device by PCI bus id speaks for the node', async (t) => {
  t.equal(summariseDevices([]), null);
  t.same(summariseDevices([dev('0000:02:00.0', 'Tesla T4', 15360), dev('0000:01:00.0', 'GRID P4-2Q', 2048)]), {
    count: 2,
    product: 'GRID-P4-2Q',
    memoryMiB: 2048,
  });
});

t.test('merging drops invalid labels and keys claimed twice, with warnings', async (t) => {
  const { labels, warnings } = mergeLabels([
    { from: 'nvidia', labels: { 'nvidia.com/gpu.count': '1', 'b.example/x': 'y', 'Bad Key': 'v' } },
    { from: 'hanguang', labels: { 'nvidia.com/gpu.count': '2', 'b.example/x': 'y', 'ok.example/v': 'not valid!' } },
  ]);
  t.same(labels, { 'b.example/x': 'y', 'nvidia.com/gpu.count': '1' });
  t.same(Object.keys(labels), ['b.example/x', 'nvidia.com/gpu.count'], 'sorted keys');
  t.equal(warnings.length, 3);
  t.match(warnings.join('\n'), /"Bad Key" is not a valid/);
  t.match(warnings.join('\n'), /gpu\.count set by both nvidia and hanguang/);
  t.match(warnings.join('\n'), /"not valid!" is not a valid label value/);
});
