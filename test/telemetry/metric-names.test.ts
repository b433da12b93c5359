import t from 'tap';
import { Metric, deviceLabels, nvidiaMetrics } from '../../agent/telemetry/metric-names.js';
import { gpu } from '../helpers/sample-inventory.js';

const MIB = 1024 * 1024;

t.test('NVML readings become dcgm-exporter fields in its units', async (t) => {
  const m = nvidiaMetrics({
    index: 0, uuid: 'GPU-x', utilGpu: 37, utilMemory: 12, memoryUsedBytes: 120 * MIB, memoryTotalBytes: 2048 * MIB,
    temperatureC: 45, powerMilliwatts: 23_500, clockSmMHz: 1328, clockMemMHz: 3003, eccCorrected: 2, eccUncorrected: 0,
  });
  t.same(m, {
    [Metric.GPU_UTIL]: 37, [Metric.MEM_COPY_UTIL]: 12, [Metric.FB_USED]: 120, [Metric.FB_FREE]: 1928, [Metric.GPU_TEMP]: 45,
    [Metric.POWER_USAGE]: 23.5, [Metric.SM_CLOCK]: 1328, [Metric.MEM_CLOCK]: 3003, [Metric.ECC_SBE_VOL_TOTAL]: 2, [Metric.ECC_DBE_VOL_TOTAL]: 0,
  });
});

t.test('unsupported readings are left out rather than reported as zero', async (t) => {
  const m = nvidiaMetrics({
    index: 0, uuid: null, utilGpu: null, utilMemory: null, memoryUsedBytes: null, memoryTotalBytes: 1024,
    temperatureC: 50, powerMilliwatts: null, clockSmMHz: null, clockMemMHz: null, eccCorrected: null, eccUncorrected: null,
  });
  t.same(Object.keys(m), [Metric.GPU_TEMP]);
});

t.test('device labels use the names dcgm-exporter dashboards select on', async (t) => {
  const labels = deviceLabels(gpu(3), 'node-a');
  t.match(labels, { gpu: '3', device: 'nvidia3', Hostname: 'node-a', vendor: 'nvidia' });
  t.ok(labels['UUID'] && labels['pci_bus_id'] && labels['modelName']);
});

t.test('owner labels name the pod holding the device, and are empty (not missing) without one', async (t) => {
  t.match(deviceLabels(gpu(0), 'node-a', { pod: 'train-0', namespace: 'ml', container: 'trainer' }), { pod: 'train-0', namespace: 'ml', container: 'trainer' });
  t.match(deviceLabels(gpu(0), 'node-a'), { pod: '', namespace: '', container: '' });
});
