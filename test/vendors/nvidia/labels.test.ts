import t from 'tap';
import { nvidiaLabels } from '../../../agent/vendors/nvidia/labels.js';
import type { DiscoveredDevice, VendorDiscovery } from '../../../agent/vendors/vendor.js';

const gpu = (pciBusId: string, model: string, kind: 'gpu' | 'vgpu', memoryMiB: number | null): DiscoveredDevice => ({
  id: `nvidia-${pciBusId}`,
  vendor: 'nvidia',
  kind,
  model,
  uuid: null,
  pciBusId,
  numaNode: null,
  memoryMiB,
  deviceNodes: [],
  driverVersion: '470.82.01',
  health: 'Healthy',
  healthReason: '',
  source: 'nvml',
});
const discovery = (devices: DiscoveredDevice[]): VendorDiscovery => ({
  driver: { vendor: 'nvidia', version: '470.82.01', controlNodes: [], sources: [] },
  devices,
  warnings: [],
});

t.test('a vGPU node gets the Alibaba Cloud and NVIDIA labels', async (t) => {
  t.same(nvidiaLabels(discovery([gpu('0000:00:07.0', 'GRID P4-2Q', 'vgpu', 2048)])), {
    'aliyun.accelerator/nvidia_count': '1',
    'aliyun.accelerator/nvidia_mem': '2048MiB',
    'aliyun.accelerator/nvidia_name': 'GRID-P4-2Q',
    'nvidia.com/gpu.count': '1',
    'nvidia.com/gpu.memory': '2048',
    'nvidia.com/gpu.product': 'GRID-P4-2Q',
    'nvidia.com/vgpu.present': 'true',
  });
});

t.test('passthrough GPUs say vgpu.present=false; unknown memory leaves memory labels out', async (t) => {
  const labels = nvidiaLabels(discovery([gpu('0000:80:00.0', 'Tesla P100-PCIE-16GB', 'gpu', null), gpu('0000:88:00.0', 'Tesla P100-PCIE-16GB', 'gpu', null)]));
  t.equal(labels['nvidia.com/vgpu.present'], 'false');
  t.equal(labels['nvidia.com/gpu.count'], '2');
  t.equal(labels['aliyun.accelerator/nvidia_mem'], undefined);
  t.equal(labels['nvidia.com/gpu.memory'], undefined);
});

t.test('no GPU, no labels; an unprintable name leaves the name labels out', async (t) => {
  t.same(nvidiaLabels(discovery([])), {});
  const labels = nvidiaLabels(discovery([gpu('0000:00:07.0', '???', 'gpu', 1)]));
  t.equal(labels['nvidia.com/gpu.product'], undefined);
  t.equal(labels['nvidia.com/gpu.count'], '1');
});
