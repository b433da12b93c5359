import { appendFile, writeFile } from 'node:fs/promises';
import t from 'tap';
import { createHealthSources } from '../../agent/health/health-sources.js';
import type { NvmlEventSession } from '../../agent/health/nvml-event-source.js';
import { resolveHealthOptions } from '../../agent/health/options.js';
import type { HealthSignal } from '../../agent/health/signals.js';
import { HostRoot } from '../../agent/host/host-root.js';
import { FakeClock, eventually } from './fake-clock.js';
import { gpuAndNpuHost } from './sys-tree.js';

const openSession = async (): Promise<NvmlEventSession> => ({ waitEvents: async () => [], shutdown: async () => undefined });

t.test('which sources run depends on NVML, the kmsg mode and the devices present', async (t) => {
  const { tree, gpu, npu } = await gpuAndNpuHost();
  t.teardown(() => tree.destroy());
  const host = new HostRoot(tree.root);
  const names = (kmsg: 'auto' | 'on' | 'off', nvml: boolean, devices = [gpu, npu]) =>
    createHealthSources({ host, devices, options: resolveHealthOptions({ kmsg }), openNvmlSession: nvml ? openSession : null }).map((s) => s.name);
  t.same(names('auto', true), ['sysfs-presence', 'nvml-events']);
  t.same(names('auto', false), ['sysfs-presence', 'kmsg'], 'kernel log stands in for NVML');
  t.same(names('on', true), ['sysfs-presence', 'nvml-events', 'kmsg']);
  t.same(names('off', false), ['sysfs-presence']);
  t.same(names('on', true, [npu]), ['sysfs-presence'], 'no Xid sources without an NVIDIA device');
  t.same(names('on', true, []), [], 'nothing to watch');
});

t.test('options reach the sources: temperature limit, poll interval, kernel log path', async (t) => {
  const { tree, gpu, npu } = await gpuAndNpuHost();
  t.teardown(() => tree.destroy());
  await tree.setTemperature(npu.pciBusId, '70000\n');
  await writeFile(tree.p('/var-kmsg'), '');
  const clock = new FakeClock();
  const sources = createHealthSources({
    host: new HostRoot(tree.root),
    devices: [gpu, npu],
    options: resolveHealthOptions({ temperatureLimitC: 65, pollIntervalMs: 200, kmsg: 'on' }),
    openNvmlSession: null,
    kmsgPath: '/var-kmsg',
    clock,
  });
  const signals: HealthSignal[] = [];
  for (const s of sources) await s.start((x) => signals.push(x));
  t.teardown(() => Promise.all(sources.map((s) => s.stop())));
  t.match(signals, [{ deviceId: npu.id, condition: 'over-temperature', raised: true }]);
  t.equal(signals.length, 1);
  await appendFile(tree.p('/var-kmsg'), '3,1,1,-;NVRM: Xid (PCI:0000:00:07): 79, pid=1\n');
  clock.advance(199);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(signals.length, 1, 'not before the configured interval');
  clock.advance(1);
  await eventually(() => signals.length === 2);
  t.match(signals[1], { type: 'event', deviceId: gpu.id, event: { kind: 'xid', xid: 79 }, source: 'kmsg' });
});
