import t from 'tap';
import { metricName, renderMetrics } from '../../agent/collector/metrics.js';
import { Store } from '../../agent/collector/store.js';
import { encodeDevices } from '../../agent/telemetry/payloads.js';
import { RecordType } from '../../agent/telemetry/types.js';
import { tempDir } from '../helpers/temp-dir.js';

const EPOCH = 'bb'.repeat(16);

t.test('metric keys become valid Prometheus names', async (t) => {
  t.equal(metricName('DCGM_FI_DEV_GPU_UTIL'), 'DCGM_FI_DEV_GPU_UTIL');
  t.equal(metricName('npu.temp-c'), 'npu_temp_c');
  t.equal(metricName('2fast'), '_2fast');
});

t.test('latest values are exposed per device with dcgm-exporter names and labels', async (t) => {
  const dir = await tempDir(t);
  const store = await Store.open({ dataDir: dir });
  t.teardown(() => store.close());
  const now = Date.now();
  const s = store.stream('node-7', EPOCH);
  await store.append(s, [
    {
      seq: 1,
      type: RecordType.DEVICES,
      payload: encodeDevices({ ts: now, devices: [{ deviceId: 'GPU-1', labels: { gpu: '0', UUID: 'GPU-1', modelName: 'GRID P4-2Q', pod: 'train-0', namespace: 'ml' } }] }),
    },
    { seq: 2, type: RecordType.SAMPLES, samples: [{ ts: now - 1000, deviceId: 'GPU-1', metrics: { DCGM_FI_DEV_GPU_UTIL: 10 } }] },
    { seq: 3, type: RecordType.SAMPLES, samples: [{ ts: now, deviceId: 'GPU-1', metrics: { DCGM_FI_DEV_GPU_UTIL: 87, DCGM_FI_DEV_POWER_USAGE: 71.25 } }] },
    { seq: 4, type: RecordType.SAMPLES, samples: [{ ts: now, deviceId: 'GPU-2', metrics: { DCGM_FI_DEV_GPU_UTIL: 3 } }] },
    { seq: 5, type: RecordType.SAMPLES, samples: [{ ts: now - 3_600_000, deviceId: 'GPU-3', metrics: { DCGM_FI_DEV_GPU_UTIL: 55 } }] },
  ]);
  await store.append(s, [{ seq: 5, type: RecordType.SAMPLES, samples: [] }]);
  const { body, contentType } = await renderMetrics(store.agents(), { connections: 2 }, { staleAfterMs: 600_000, now });
  t.match(contentType, /text\/plain/);
  t.match(
    body,
    /DCGM_FI_DEV_GPU_UTIL\{Hostname="node-7",gpu="0",UUID="GPU-1",pci_bus_id="",device="GPU-1",modelName="GRID P4-2Q",pod="train-0",namespace="ml",container=""\} 87/,
  );
  t.match(body, /DCGM_FI_DEV_POWER_USAGE\{[^}]*UUID="GPU-1"[^}]*\} 71.25/);
  t.match(body, /DCGM_FI_DEV_GPU_UTIL\{Hostname="node-7",gpu="",UUID="",pci_bus_id="",device="GPU-2"[^}]*\} 3/, 'unlabelled devices still appear');
  t.notMatch(body, /GPU-3/, 'stale series are left out');
  t.match(body, /accel_collector_connections 2/);
  t.match(body, /accel_collector_records_stored 5/);
  t.match(body, /accel_collector_duplicate_records 1/);
  t.match(body, /accel_collector_agents 1/);
});
