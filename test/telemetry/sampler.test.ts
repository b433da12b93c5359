import t from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { silentLogger } from '../../agent/log.js';
import { setHwmonAttribute } from '../../agent/simhost/mutate.js';
import { setDeviceValue, setFailure } from '../../agent/simhost/nvml-state.js';
import { Metric } from '../../agent/telemetry/metric-names.js';
import { Sampler } from '../../agent/telemetry/sampler.js';
import { Discoverer } from '../../agent/discovery/discoverer.js';
import { openHostNvml } from '../../agent/vendors/nvidia/nvml-session.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';

async function inventoryOf(root: string) {
  const d = new Discoverer(root, {}, silentLogger);
  try {
    return (await d.scan()).devices;
  } finally {
    await d.close();
  }
}

t.test('GPU samples come from NVML in one call and follow the device state', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('gn5');
  const host = new HostRoot(root);
  const devices = await inventoryOf(root);
  const sampler = new Sampler({ host, openNvml: async () => (await openHostNvml(host, null)).session, log: silentLogger });
  t.teardown(() => sampler.close());

  await setDeviceValue(root, 2, 'util_gpu', 91);
  const samples = await sampler.sample(devices, 1000);
  t.equal(samples.length, 8);
  const s2 = samples.find((s) => s.deviceId === devices[2]!.id)!;
  t.equal(s2.ts, 1000);
  t.equal(s2.metrics[Metric.GPU_UTIL], 91);
  t.equal(s2.metrics[Metric.HEALTHY], 1);
  t.type(s2.metrics[Metric.FB_USED], 'number');

  await setDeviceValue(root, 2, 'util_gpu', 5);
  const again = await sampler.sample(devices);
  t.equal(again.find((s) => s.deviceId === devices[2]!.id)!.metrics[Metric.GPU_UTIL], 5, 'the same session sees new values');
});

t.test('a failing NVML query costs readings, never the tick', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const host = new HostRoot(root);
  const devices = await inventoryOf(root);
  const sampler = new Sampler({ host, openNvml: async () => (await openHostNvml(host, null)).session, log: silentLogger });
  t.teardown(() => sampler.close());
  await setFailure(root, 'nvmlDeviceGetUtilizationRates', 999);
  const [s] = await sampler.sample(devices);
  t.notOk(Metric.GPU_UTIL in s!.metrics, 'the failed reading is left out');
  t.type(s!.metrics[Metric.GPU_TEMP], 'number', 'the other readings still arrive');
});

t.test('without NVML the GPUs still report their health', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const devices = await inventoryOf(root);
  const sampler = new Sampler({ host: new HostRoot(root), openNvml: null, log: silentLogger });
  const [s] = await sampler.sample(devices);
  t.same(s!.metrics, { [Metric.HEALTHY]: 1 });
});

t.test('NPU samples come from hwmon in the kernel units', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('ebman1');
  const devices = await inventoryOf(root);
  const npu = devices.find((d) => d.vendor === 'hanguang')!;
  await setHwmonAttribute(root, npu.pciBusId, 'temp1_input', 61500);
  await setHwmonAttribute(root, npu.pciBusId, 'power1_average', 75_000_000);
  const sampler = new Sampler({ host: new HostRoot(root), openNvml: null, log: silentLogger });
  const s = (await sampler.sample(devices)).find((x) => x.deviceId === npu.id)!;
  t.equal(s.metrics[Metric.NPU_TEMP], 61.5);
  t.equal(s.metrics[Metric.NPU_POWER], 75);
});
