import t from 'tap';
import { isVgpuProfileName, nvidiaDeviceKind, virtualizationModeOf } from '../../../agent/vendors/nvidia/virtualization.js';

t.test('NVML enum values and nvidia-smi strings map to the same modes', async (t) => {
  t.equal(virtualizationModeOf(0), 'none');
  t.equal(virtualizationModeOf(1), 'passthrough');
  t.equal(virtualizationModeOf(2), 'vgpu');
  t.equal(virtualizationModeOf(3), 'host-vgpu');
  t.equal(virtualizationModeOf(4), 'host-vsga');
  t.equal(virtualizationModeOf('VGPU'), 'vgpu');
  t.equal(virtualizationModeOf('Pass-Through'), 'passthrough');
  t.equal(virtualizationModeOf(' Host VGPU '), 'host-vgpu');
  t.equal(virtualizationModeOf('None'), 'none');
  for (const unknown of [5, -1, 2.5, NaN, 'vGPU please', '', null, undefined]) t.equal(virtualizationModeOf(unknown), null, String(unknown));
});

t.test('vGPU profile names are recognised, physical board names are not', async (t) => {
  for (const name of ['GRID P4-2Q', 'GRID T4-16Q', 'GRID T4-1B4', 'GRID V100D-32Q', 'GRID M60-0B', 'NVIDIA A10-4Q', 'NVIDIA A100-1-5C', 'NVIDIA L4-24Q', 'GRID P4-8A']) {
    t.ok(isVgpuProfileName(name), name);
  }
  for (const name of ['GRID K520', 'Tesla P4', 'NVIDIA A100-PCIE-40GB', 'NVIDIA A100-SXM4-80GB', 'Tesla V100-SXM2-16GB', 'NVIDIA GeForce RTX 3090', 'GRID P4-2X', '', 'GRID P4-2Q; rm -rf /']) {
    t.notOk(isVgpuProfileName(name), name);
  }
});

t.test('kind is vgpu by mode or by name, else gpu', async (t) => {
  t.equal(nvidiaDeviceKind('GRID P4-2Q', null), 'vgpu', 'name alone (procfs knows no mode)');
  t.equal(nvidiaDeviceKind('Tesla P4', 'vgpu'), 'vgpu', 'mode alone');
  t.equal(nvidiaDeviceKind('Tesla P4', 'passthrough'), 'gpu');
  t.equal(nvidiaDeviceKind('Tesla P4', null), 'gpu');
  t.equal(nvidiaDeviceKind('GRID K520', 'none'), 'gpu');
});
