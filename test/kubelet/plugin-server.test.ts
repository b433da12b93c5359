import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { ErrorCode } from '../../agent/errors.js';
import type { CdiSpec } from '../../agent/inject/container-edits.js';
import { annotationKey, resolvePluginSettings, type AllocateStrategy } from '../../agent/kubelet/options.js';
import { PluginServer, type PluginServerOptions } from '../../agent/kubelet/plugin-server.js';
import { KubeletSim } from '../../agent/kubelet/kubelet-sim.js';
import { LIBCUDA, NVIDIACTL, pluginDir, specFor, startKubelet } from '../helpers/kubelet-fixtures.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';
import { makeStaleSocket } from '../helpers/unix-sockets.js';

const GPU = 'nvidia.com/gpu';
const NPU = 'aliyun.com/npu';
const gpus = [gpu(0), gpu(1), gpu(2), gpu(3)];

interface Setup {
  sim: KubeletSim;
  registry: DeviceRegistry;
  plugin: PluginServer;
  dir: string;
}

interface SetupOptions {
  strategies?: AllocateStrategy[];
  replicas?: number;
  spec?: CdiSpec | null | 'none';
  /** false: no simulated kubelet is started. */
  kubelet?: boolean;
  resource?: 'gpu' | 'npu';
  dir?: string;
}

async function setup(t: Test, o: SetupOptions = {}): Promise<Setup> {
  const dir = o.dir ?? (await pluginDir(t));
  const sim = o.kubelet === false ? (null as unknown as KubeletSim) : await startKubelet(t, dir);
  const registry = new DeviceRegistry({ initial: inventory([...gpus, npu(0), npu(1)]) });
  const settings = resolvePluginSettings({ kubeletDir: dir, strategies: o.strategies ?? ['cdi'] });
  const resource = { ...settings.resources[o.resource === 'npu' ? 1 : 0]!, replicas: o.replicas ?? 1 };
  const spec = o.spec === undefined ? specFor(resource.cdiKind, registry.list().filter((d) => d.vendor === resource.vendor)) : o.spec;
  const options: PluginServerOptions = {
    resource,
    kubeletDir: dir,
    strategies: settings.strategies,
    devices: registry,
    pollIntervalMs: 100,
    retry: { baseMs: 50, capMs: 200 },
    ...(spec === 'none' ? {} : { specFor: (kind: string) => (kind === resource.cdiKind ? spec : null) }),
  };
  const plugin = new PluginServer(options);
  await plugin.start();
  t.teardown(() => plugin.stop());
  return { sim, registry, plugin, dir };
}

async function registered(t: Test, o: SetupOptions = {}): Promise<Setup> {
  const s = await setup(t, o);
  const name = o.resource === 'npu' ? NPU : GPU;
  await s.sim.waitForRegistration((r) => r.request.resourceName === name);
  await s.sim.waitForList(name, () => true);
  return s;
}

t.test('registers with kubelet: v1beta1, its socket file name as endpoint, the resource and truthful options', async (t) => {
  const { sim, plugin, dir } = await registered(t);
  t.equal(sim.registrations.length, 1);
  const { request } = sim.registrations[0]!;
  t.same(request, {
    version: 'v1beta1',
    endpoint: 'accel-nvidia-com-gpu.sock',
    resourceName: GPU,
    options: { preStartRequired: false, getPreferredAllocationAvailable: true },
  });
  t.notMatch(request.endpoint, /\//, 'a file name, not a path');
  t.equal(plugin.socketPath, path.join(dir, request.endpoint));
  const st = await lstat(plugin.socketPath);
  t.ok(st.isSocket());
  t.equal(st.mode & 0o777, 0o600, 'only root (kubelet) may connect');
  t.ok(plugin.registered);
  await sim.waitUntil(() => sim.pluginOptions(GPU) !== null);
  t.same(sim.pluginOptions(GPU), { preStartRequired: false, getPreferredAllocationAvailable: true }, 'GetDevicePluginOptions agrees with the registration');
});

t.test('ListAndWatch sends the devices with health and NUMA node, then the whole list again on a health change', async (t) => {
  const { sim, registry } = await registered(t);
  const initial = sim.lists(GPU)[0]!;
  t.same(initial, [
    { ID: gpus[0]!.id, health: 'Healthy', topology: { nodes: [{ ID: 0 }] } },
    { ID: gpus[1]!.id, health: 'Healthy', topology: { nodes: [{ ID: 0 }] } },
    { ID: gpus[2]!.id, health: 'Healthy', topology: { nodes: [{ ID: 1 }] } },
    { ID: gpus[3]!.id, health: 'Healthy', topology: { nodes: [{ ID: 1 }] } },
  ]);

  registry.setHealth(gpus[2]!.id, 'Unhealthy', 'Xid 79');
  const after = await sim.waitForList(GPU, (l) => l.some((d) => d.health === 'Unhealthy'));
  t.same(
    after.map((d) => [d.ID, d.health]),
    gpus.map((g, i) => [g.id, i === 2 ? 'Unhealthy' : 'Healthy']),
  );

  registry.setHealth(npu(0).id, 'Unhealthy', 'gone');
  registry.setHealth(gpus[2]!.id, 'Healthy', '');
  await sim.waitForList(GPU, (l) => l.every((d) => d.health === 'Healthy'));
  t.equal(sim.lists(GPU).length, 3, 'an NPU change sends nothing on the GPU stream');
});

t.test('ListAndWatch follows devices that come and go, and leaves out the topology of a device without a NUMA node', async (t) => {
  const { sim, registry } = await registered(t);
  registry.update(inventory([gpus[0]!, gpu(4, { numaNode: null }), npu(0)]));
  const list = await sim.waitForList(GPU, (l) => l.length === 2);
  t.same(list, [
    { ID: gpus[0]!.id, health: 'Healthy', topology: { nodes: [{ ID: 0 }] } },
    { ID: gpu(4).id, health: 'Healthy', topology: undefined },
  ]);
});

t.test('a second ListAndWatch stream gets the same list and updates', async (t) => {
  const { sim, registry, plugin } = await registered(t);
  const watch = sim.watch(GPU);
  t.teardown(watch.cancel);
  await sim.waitUntil(() => watch.lists.length === 1);
  t.same(watch.lists[0], sim.lists(GPU)[0]);
  t.equal(plugin.watchCount, 2);
  registry.setHealth(gpus[0]!.id, 'Unhealthy', 'Xid 48');
  await sim.waitUntil(() => watch.lists.length === 2);
  t.equal(watch.lists[1]![0]!.health, 'Unhealthy');
});

t.test('Allocate with the cdi strategy answers fully-qualified CDI names and nothing else', async (t) => {
  const { sim } = await registered(t);
  const res = await sim.allocate(GPU, [[gpus[1]!.id, gpus[0]!.id], [gpus[3]!.id]]);
  t.same(res.containerResponses, [
    { envs: {}, mounts: [], devices: [], annotations: {}, cdiDevices: [{ name: `${GPU}=${gpus[1]!.id}` }, { name: `${GPU}=${gpus[0]!.id}` }] },
    { envs: {}, mounts: [], devices: [], annotations: {}, cdiDevices: [{ name: `${GPU}=${gpus[3]!.id}` }] },
  ]);
});

t.test('Allocate with device specs spells out nodes (rw, host paths), read-only mounts and env from the CDI edits', async (t) => {
  const { sim } = await registered(t, { strategies: ['device-specs'] });
  const [c] = (await sim.allocate(GPU, [[gpus[1]!.id]])).containerResponses;
  t.same(c!.devices, [
    { containerPath: NVIDIACTL.path, hostPath: NVIDIACTL.path, permissions: 'rw' },
    { containerPath: '/dev/nvidia1', hostPath: '/host/dev/nvidia1', permissions: 'rw' },
  ]);
  t.same(c!.mounts, [{ containerPath: LIBCUDA.containerPath, hostPath: LIBCUDA.hostPath, readOnly: true }]);
  t.equal(c!.envs['NVIDIA_DRIVER_CAPABILITIES'], 'compute,utility');
  t.same(c!.cdiDevices, [], 'no CDI names unless the cdi strategy is on');
});

t.test('Allocate with annotations writes the CDI annotation accel-runtime reads', async (t) => {
  const { sim } = await registered(t, { strategies: ['annotations'] });
  const [c] = (await sim.allocate(GPU, [[gpus[2]!.id, gpus[0]!.id]])).containerResponses;
  t.same(c!.annotations, { [annotationKey(GPU)]: `${GPU}=${gpus[2]!.id},${GPU}=${gpus[0]!.id}` });
  t.equal(annotationKey(GPU), 'cdi.k8s.io/accel-agent_nvidia.com_gpu');
});

t.test('Allocate combines strategies in one answer', async (t) => {
  const { sim } = await registered(t, { strategies: ['cdi', 'device-specs', 'annotations'] });
  const [c] = (await sim.allocate(GPU, [[gpus[0]!.id]])).containerResponses;
  t.same(c!.cdiDevices, [{ name: `${GPU}=${gpus[0]!.id}` }]);
  t.equal(c!.devices.length, 2);
  t.equal(Object.keys(c!.annotations).length, 1);
});

t.test('Allocate refuses unknown, unhealthy and duplicate ids with INVALID_ARGUMENT and no partial answer', async (t) => {
  const { sim, registry } = await registered(t);
  registry.setHealth(gpus[3]!.id, 'Unhealthy', 'Xid 79');
  await sim.waitForList(GPU, (l) => l[3]!.health === 'Unhealthy');
  const cases: Array<[string, string[][], RegExp]> = [
    ['unknown id', [[gpus[0]!.id, 'GPU-nope']], /no device "GPU-nope" is advertised/],
    ['an NPU id on the GPU resource', [[npu(0).id]], /is advertised/],
    ['unhealthy device', [[gpus[3]!.id]], /is unhealthy \(Xid 79\)/],
    ['duplicate in one container', [[gpus[1]!.id, gpus[1]!.id]], /requested twice/],
    ['duplicate across containers', [[gpus[1]!.id], [gpus[1]!.id]], /requested twice/],
    ['bad id after good containers', [[gpus[0]!.id], [gpus[1]!.id], ['x'.repeat(5000)]], /is advertised/],
    ['empty container', [[]], /names no device/],
    ['no container', [], /names no container/],
  ];
  for (const [what, containers, message] of cases) {
    const err = await sim.allocate(GPU, containers).then(
      () => null,
      (e: { code: number; details: string }) => e,
    );
    t.ok(err, `${what}: refused`);
    t.equal(err?.code, status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`);
    t.match(err?.details, message, `${what}: says why`);
  }
});

t.test('Allocate answers FAILED_PRECONDITION when the CDI spec lacks the device or is missing', async (t) => {
  const partial = specFor(GPU, gpus.slice(0, 2));
  const { sim } = await registered(t, { spec: partial });
  t.equal((await sim.allocate(GPU, [[gpus[1]!.id]])).containerResponses.length, 1);
  await t.rejects(sim.allocate(GPU, [[gpus[2]!.id]]), { code: status.FAILED_PRECONDITION, details: /has no device named/ });

});

t.test('Allocate answers FAILED_PRECONDITION while no CDI spec has been generated', async (t) => {
  const { sim } = await registered(t, { spec: null, resource: 'npu' });
  await t.rejects(sim.allocate(NPU, [[npu(0).id]]), { code: status.FAILED_PRECONDITION, details: /no CDI spec for aliyun.com\/npu/ });
});

t.test('without a spec source, cdi names go out unchecked and device specs are refused at start', async (t) => {
  const { sim } = await registered(t, { spec: 'none' });
  const [c] = (await sim.allocate(GPU, [[gpus[0]!.id]])).containerResponses;
  t.same(c!.cdiDevices, [{ name: `${GPU}=${gpus[0]!.id}` }]);
  await t.rejects(setup(t, { spec: 'none', strategies: ['device-specs'] }), { code: ErrorCode.CONFIG_INVALID, message: /needs a CDI spec source/ });
});

t.test('GetPreferredAllocation packs by NUMA node over the wire; PreStartContainer answers empty', async (t) => {
  const { sim } = await registered(t);
  const ids = gpus.map((g) => g.id);
  const [pick] = await sim.preferred(GPU, [{ availableDeviceIDs: ids, mustIncludeDeviceIDs: [ids[2]!], allocationSize: 2 }]);
  t.same(pick, [ids[2], ids[3]], 'the must-include device and its NUMA neighbour');
  await t.rejects(sim.preferred(GPU, [{ availableDeviceIDs: ids, mustIncludeDeviceIDs: [], allocationSize: 5 }]), { code: status.INVALID_ARGUMENT });
  t.same(await sim.preStart(GPU, [ids[0]!]), {});
});

t.test('time-slicing replicas: each device advertised N times, replicas of one device allocate it once', async (t) => {
  const { sim } = await registered(t, { replicas: 3 });
  const list = sim.lists(GPU)[0]!;
  t.equal(list.length, 12);
  t.same(
    list.slice(0, 4).map((d) => d.ID),
    [`${gpus[0]!.id}::0`, `${gpus[0]!.id}::1`, `${gpus[0]!.id}::2`, `${gpus[1]!.id}::0`],
  );
  t.same(list[3]!.topology, { nodes: [{ ID: 0 }] }, 'replicas carry their device topology');

  const [c] = (await sim.allocate(GPU, [[`${gpus[0]!.id}::2`, `${gpus[0]!.id}::0`, `${gpus[1]!.id}::1`]])).containerResponses;
  t.same(c!.cdiDevices, [{ name: `${GPU}=${gpus[0]!.id}` }, { name: `${GPU}=${gpus[1]!.id}` }], 'the physical device once');
  await t.rejects(sim.allocate(GPU, [[`${gpus[0]!.id}::3`]]), { code: status.INVALID_ARGUMENT }, 'replica out of range');
  await t.rejects(sim.allocate(GPU, [[gpus[0]!.id]]), { code: status.INVALID_ARGUMENT }, 'the bare device id is not advertised');

  const [pick] = await sim.preferred(GPU, [{ availableDeviceIDs: list.map((d) => d.ID), mustIncludeDeviceIDs: [], allocationSize: 2 }]);
  t.same(pick, [`${gpus[0]!.id}::0`, `${gpus[1]!.id}::0`], 'distinct devices before sharing one');
});

t.test('kubelet restarted 20 times in a row: re-registered within 1 s every time, with its device list', async (t) => {
  const { sim, plugin } = await registered(t);
  for (let i = 1; i <= 20; i++) {
    const from = sim.registrations.length;
    const back = await sim.restart();
    const reg = await sim.waitForRegistration((r) => r.generation === i, 5000, from);
    t.ok(reg.at - back < 1000, `restart ${i}: re-registered after ${(reg.at - back).toFixed(0)} ms`);
    const list = await sim.waitForList(GPU, (l) => l.length === 4, 5000);
    t.equal(list.length, 4, `restart ${i}: kubelet has the devices again`);
  }
  t.ok((await lstat(plugin.socketPath)).isSocket(), 'the plugin socket is back');
  t.same(
    sim.registrations.map((r) => r.generation),
    Array.from({ length: 21 }, (_, i) => i),
    'exactly one registration per kubelet',
  );
});

t.test('its own socket deleted: served again and re-registered with the same kubelet', async (t) => {
  const { sim, plugin } = await registered(t);
  const gone = performance.now();
  await unlink(plugin.socketPath);
  const reg = await sim.waitForRegistration(() => true, 5000, 1);
  t.ok(reg.at - gone < 1000, `re-registered after ${(reg.at - gone).toFixed(0)} ms`);
  t.ok((await lstat(plugin.socketPath)).isSocket());
  t.equal((await sim.allocate(GPU, [[gpus[0]!.id]])).containerResponses.length, 1, 'kubelet reaches the new socket');
});

t.test('kubelet not running yet: serves at once and registers when kubelet.sock appears', async (t) => {
  const { dir, plugin } = await setup(t, { kubelet: false });
  t.ok((await lstat(plugin.socketPath)).isSocket(), 'serving before kubelet is up');
  t.notOk(plugin.registered);
  const sim = await startKubelet(t, dir);
  await sim.waitForRegistration((r) => r.request.resourceName === GPU, 5000);
  await sim.waitUntil(() => plugin.registered);
  t.pass('registered');
});

t.test('a refused registration is retried until kubelet accepts it', async (t) => {
  const dir = await pluginDir(t);
  const sim = await startKubelet(t, dir);
  sim.refuseWith = { code: status.UNAVAILABLE, details: 'kubelet is busy' };
  const { plugin } = await setup(t, { kubelet: false, dir });
  t.notOk(plugin.registered, 'start does not fail because kubelet refuses');
  sim.refuseWith = null;
  await sim.waitForRegistration(() => true, 5000);
  await sim.waitUntil(() => plugin.registered, 5000, 'registered flag');
  t.pass('registered after the refusal ended');
});

t.test('start replaces a stale socket of a crashed plugin but refuses a regular file in its place', async (t) => {
  const dir = await pluginDir(t);
  const sim = await startKubelet(t, dir);
  await makeStaleSocket(path.join(dir, 'accel-nvidia-com-gpu.sock'));
  const registry = new DeviceRegistry({ initial: inventory(gpus) });
  const settings = resolvePluginSettings({ kubeletDir: dir });
  const plugin = new PluginServer({ resource: settings.resources[0]!, kubeletDir: dir, strategies: ['cdi'], devices: registry });
  await plugin.start();
  t.teardown(() => plugin.stop());
  await sim.waitForRegistration(() => true, 5000);
  await plugin.stop();
  await t.rejects(lstat(plugin.socketPath), { code: 'ENOENT' }, 'stop removes the socket');

  await writeFile(plugin.socketPath, 'not a socket');
  const other = new PluginServer({ resource: settings.resources[0]!, kubeletDir: dir, strategies: ['cdi'], devices: registry });
  await t.rejects(other.start(), { code: ErrorCode.PLUGIN_REGISTER, message: /cannot serve nvidia.com\/gpu/ });
  t.equal(await readFile(plugin.socketPath, 'utf8'), 'not a socket', 'the file is left alone');
});

t.test('the whole directory removed and made again: waits for it, then serves and registers anew', async (t) => {
  const { sim, plugin, dir } = await registered(t);
  await sim.stop();
  // Gone in one step: rm -r alone would walk the tree entry by entry, and the
  // plugin, which serves again the moment its socket goes, would race it for the directory.
  await rename(dir, `${dir}.removed`);
  await rm(`${dir}.removed`, { recursive: true, force: true });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.notOk(existsSync(dir), 'the plugin does not create kubelet\'s directory itself');
  await mkdir(dir);
  const again = await startKubelet(t, dir);
  await again.waitForRegistration((r) => r.request.resourceName === GPU, 5000);
  t.ok((await lstat(plugin.socketPath)).isSocket());
  await again.waitForList(GPU, (l) => l.length === 4);
});
