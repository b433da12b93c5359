import t from 'tap';
import { npuLabels } from '../../../agent/vendors/hanguang/labels.js';
import type { DiscoveredDevice, VendorDiscovery } from '../../../agent/vendors/vendor.js';

const npu = (pciBusId: string, memoryMiB: number | null): DiscoveredDevice => ({
  id: `hanguang-${pciBusId}`,
  vendor: 'hanguang',
  kind: 'npu',
  model: 'Hanguang 800',
  uuid: null,
  pciBusId,
  numaNode: 0,
  memoryMiB,
  deviceNodes: [],
  driverVersion: null,
  health: 'Healthy',
  healthReason: '',
  source: 'sysfs',
});
const discovery = (devices: DiscoveredDevice[]): VendorDiscovery => ({
  driver: { vendor: 'hanguang', version: null, controlNodes: [], sources: [] },
  devices,
  warnings: [],
});

t.test('count and name under the profile prefix; no memory label when unknown', async (t) => {
  t.same(npuLabels(discovery([npu('0000:10:00.0', null), npu('0000:11:00.0', null)]), 'aliyun.accelerator/npu'), {
    'aliyun.accelerator/npu_count': '2',
    'aliyun.accelerator/npu_name': 'Hanguang-800',
  });
});

t.test('memory is labelled when the profile knows it', async (t) => {
  t.equal(npuLabels(discovery([npu('0000:10:00.0', 16384)]), 'example.com/npu')['example.com/npu_mem'], '16384MiB');
});

t.test('no NPU, no labels', async (t) => {
  t.same(npuLabels(discovery([]), 'aliyun.accelerator/npu'), {});
});
