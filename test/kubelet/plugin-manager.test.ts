import { lstat, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { ErrorCode } from '../../agent/errors.js';
import { PluginManager, type PluginManagerOptions } from '../../agent/kubelet/plugin-manager.js';
import { createLogger } from '../../agent/log.js';
import { pluginDir, specFor, startKubelet } from '../helpers/kubelet-fixtures.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';

function logged() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { lines, logger };
}

function manager(t: Test, options: PluginManagerOptions): PluginManager {
  const m = new PluginManager({ pollIntervalMs: 100, retry: { baseMs: 50, capMs: 200 }, ...options });
  t.teardown(() => m.stop());
  return m;
}

t.test('kubelet directory missing: skipped with one clear log line, nothing created', async (t) => {
  const base = await pluginDir(t);
  const kubeletDir = path.join(base, 'device-plugins');
  const { lines, logger } = logged();
  const m = manager(t, { kubeletDir, devices: new DeviceRegistry({ initial: inventory([gpu(0), npu(0)]) }), logger });
  await m.start();
  t.same(m.resources, []);
  t.equal(lines.length, 1);
  t.match(lines[0], { level: 'info', kubeletDir, msg: /device-plugin directory does not exist; device plugins are off/ });
  t.same(await readdir(base), [], 'the kubelet directory is not created');
});

t.test('one plugin per configured resource that has devices, each registered with kubelet', async (t) => {
  const sim = await startKubelet(t);
  const registry = new DeviceRegistry({ initial: inventory([gpu(0), gpu(1), npu(0)]) });
  const m = manager(t, { kubeletDir: sim.dir, devices: registry });
  await m.start();
  t.same(m.resources.sort(), ['aliyun.com/npu', 'nvidia.com/gpu']);
  await sim.waitUntil(() => sim.registrations.length === 2);
  t.same(sim.registrations.map((r) => [r.request.resourceName, r.request.endpoint]).sort(), [
    ['aliyun.com/npu', 'accel-aliyun-com-npu.sock'],
    ['nvidia.com/gpu', 'accel-nvidia-com-gpu.sock'],
  ]);
  const npuList = await sim.waitForList('aliyun.com/npu', () => true);
  t.same(npuList.map((d) => d.ID), [npu(0).id]);
  t.equal(m.plugin('nvidia.com/gpu')?.registered, true);

  await m.stop();
  const left = (await readdir(sim.dir)).filter((n) => n.startsWith('accel-'));
  t.same(left, [], 'stop removes the plugin sockets');
});

t.test('resource names come from the options: a resource left out is not advertised', async (t) => {
  const sim = await startKubelet(t);
  const registry = new DeviceRegistry({ initial: inventory([gpu(0), npu(0)]) });
  const m = manager(t, {
    kubeletDir: sim.dir,
    devices: registry,
    resources: [{ resourceName: 'nvidia.com/gpu.shared', vendor: 'nvidia', replicas: 2 }],
    strategies: ['cdi', 'device-specs'],
    specFor: (kind) => (kind === 'nvidia.com/gpu' ? specFor(kind, [gpu(0)]) : null),
  });
  await m.start();
  await sim.waitForRegistration((r) => r.request.resourceName === 'nvidia.com/gpu.shared');
  const list = await sim.waitForList('nvidia.com/gpu.shared', () => true);
  t.same(list.map((d) => d.ID), [`${gpu(0).id}::0`, `${gpu(0).id}::1`]);
  const [c] = (await sim.allocate('nvidia.com/gpu.shared', [[`${gpu(0).id}::1`]])).containerResponses;
  t.same(c!.cdiDevices, [{ name: `nvidia.com/gpu=${gpu(0).id}` }], 'names use the CDI kind, not the resource name');
  t.equal(c!.devices.length, 2);
  t.same(m.resources, ['nvidia.com/gpu.shared']);
  t.notOk(sim.registrations.some((r) => r.request.resourceName === 'aliyun.com/npu'));
});

t.test('a resource without devices starts when its first device appears', async (t) => {
  const sim = await startKubelet(t);
  const registry = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const m = manager(t, { kubeletDir: sim.dir, devices: registry });
  await m.start();
  t.same(m.resources, ['nvidia.com/gpu']);
  await sim.waitForRegistration(() => true);
  t.equal(sim.registrations.length, 1);

  registry.update(inventory([gpu(0), npu(0)]));
  await m.settled();
  await sim.waitForRegistration((r) => r.request.resourceName === 'aliyun.com/npu');
  t.same(m.resources.sort(), ['aliyun.com/npu', 'nvidia.com/gpu']);

  registry.update(inventory([gpu(0)]));
  const empty = await sim.waitForList('aliyun.com/npu', (l) => l.length === 0);
  t.same(empty, [], 'a resource whose devices all left stays registered with an empty list');
});

t.test('one plugin failing to start leaves the others running and is logged', async (t) => {
  const sim = await startKubelet(t);
  await writeFile(path.join(sim.dir, 'accel-aliyun-com-npu.sock'), 'squatter');
  const { lines, logger } = logged();
  const m = manager(t, { kubeletDir: sim.dir, devices: new DeviceRegistry({ initial: inventory([gpu(0), npu(0)]) }), logger });
  await m.start();
  t.same(m.resources, ['nvidia.com/gpu']);
  t.ok(lines.some((l) => l.level === 'error' && l.resource === 'aliyun.com/npu' && /failed to start/.test(String(l.msg))));
  await sim.waitForRegistration((r) => r.request.resourceName === 'nvidia.com/gpu');
  t.ok((await lstat(path.join(sim.dir, 'accel-aliyun-com-npu.sock'))).isFile(), 'the squatting file is left alone');
});

t.test('bad settings fail at construction, before anything runs', async (t) => {
  const devices = new DeviceRegistry();
  t.throws(() => new PluginManager({ devices, strategies: ['nope'] }), { code: ErrorCode.CONFIG_INVALID });
  t.throws(() => new PluginManager({ devices, kubeletDir: 'rel' }), { code: ErrorCode.CONFIG_INVALID });
});
