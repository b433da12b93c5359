import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { HealthChange } from '../../agent/health/device-health.js';
import { HealthMonitor } from '../../agent/health/health-monitor.js';
import { createHealthSources } from '../../agent/health/health-sources.js';
import type { NvmlEventSession } from '../../agent/health/nvml-event-source.js';
import { resolveHealthOptions, type HealthOptions } from '../../agent/health/options.js';
import { createProbe } from '../../agent/health/probe.js';
import type { HealthSignal, HealthTarget } from '../../agent/health/signals.js';
import { HostRoot } from '../../agent/host/host-root.js';
import { readManifest } from '../../agent/simhost/manifest.js';
import {
  appendXid,
  loadNvidiaDriver,
  removeDeviceNode,
  replugPciFunction,
  restoreDeviceNode,
  setHwmonAttribute,
  unloadNvidiaDriver,
  unplugPciFunction,
} from '../../agent/simhost/mutate.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';
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

// ---- end to end on simulated hosts ----

const unavailable = simhostUnavailable();

/** Health targets for a simulated host's accelerators, read the way discovery would find them. */
async function targetsOf(root: string): Promise<HealthTarget[]> {
  const manifest = await readManifest(root);
  const out: HealthTarget[] = [];
  for (const fn of manifest.pciFunctions) {
    if (fn.driver === 'nvidia') {
      const info = await readFile(path.join(root, `/proc/driver/nvidia/gpus/${fn.address}/information`), 'utf8');
      const minor = /Device Minor:\s*(\d+)/.exec(info)![1];
      out.push({ id: `gpu-${fn.address}`, vendor: 'nvidia', index: out.length, uuid: null, pciBusId: fn.address, deviceNodes: [`/dev/nvidia${minor}`] });
    } else if (fn.classCode.startsWith('0x12')) {
      out.push({ id: `npu-${fn.address}`, vendor: 'hanguang', index: out.length, uuid: null, pciBusId: fn.address, deviceNodes: await devNames(root, fn.address) });
    }
  }
  return out;
}

/** The char devices a driver registered under a PCI function: `<class>/<name>/uevent` with `DEVNAME=`. */
async function devNames(root: string, address: string): Promise<string[]> {
  const fnDir = path.join(root, '/sys/bus/pci/devices', address);
  const names: string[] = [];
  for (const cls of await readdir(fnDir, { withFileTypes: true })) {
    if (!cls.isDirectory()) continue;
    for (const dev of await readdir(path.join(fnDir, cls.name))) {
      const uevent = await readFile(path.join(fnDir, cls.name, dev, 'uevent'), 'utf8').catch(() => '');
      const name = /^DEVNAME=(\S+)$/m.exec(uevent)?.[1];
      if (name !== undefined) names.push(`/dev/${name}`);
    }
  }
  return names;
}

async function monitorOn(t: Test, root: string, options: Partial<HealthOptions>) {
  t.teardown(() => rm(path.dirname(root), { recursive: true, force: true }));
  const host = new HostRoot(root);
  const devices = await targetsOf(root);
  const changes: HealthChange[] = [];
  const monitor = new HealthMonitor({
    devices,
    sources: createHealthSources({ host, devices, options: resolveHealthOptions(options), openNvmlSession: null }),
    probe: createProbe({ host, devices }),
    onChange: (c) => changes.push(c),
    options,
  });
  t.teardown(() => monitor.stop());
  t.same(await monitor.start(), { started: ['sysfs-presence', ...(devices.some((d) => d.vendor === 'nvidia') ? ['kmsg'] : [])], failed: [] });
  t.same(changes, [], 'a fresh simulated host is healthy');
  const of = (id: string) => changes.filter((c) => c.id === id);
  return { devices, changes, of, monitor };
}

const FAST = { quietPeriodMs: 300, maxQuietPeriodMs: 1200, pollIntervalMs: 50, probeRetryMs: 50 };

t.test('simulated GPU host: Xids from the kernel log, unplug, driver unload, and recovery from each', { skip: unavailable }, async (t) => {
  const root = await simulatedHost('gn5', 2);
  const { devices, changes, of, monitor } = await monitorOn(t, root, FAST);
  const [g0, g1] = devices as [HealthTarget, HealthTarget];

  await appendXid(root, g1.pciBusId, 13);
  await appendXid(root, g0.pciBusId, 79);
  await eventually(() => of(g0.id).length === 1);
  t.match(of(g0.id)[0], { to: 'Unhealthy', reason: 'Xid 79 (GPU has fallen off the bus)' });
  t.same(of(g1.id), [], 'the application Xid on the other GPU changed nothing');
  await eventually(() => of(g0.id).length === 2);
  t.match(of(g0.id)[1], { to: 'Healthy' });
  t.ok(of(g0.id)[1]!.at - of(g0.id)[0]!.at >= FAST.quietPeriodMs, 'not before the quiet period');

  await unplugPciFunction(root, g1.pciBusId);
  await eventually(() => of(g1.id).length === 1);
  t.match(of(g1.id)[0], { to: 'Unhealthy', reason: `PCI function ${g1.pciBusId} is gone from /sys/bus/pci/devices` });
  await replugPciFunction(root, g1.pciBusId);
  await eventually(() => of(g1.id).at(-1)?.to === 'Healthy');

  const before = changes.length;
  await unloadNvidiaDriver(root);
  // Unloading is not atomic (functions are unbound before /proc goes), so a round may first
  // see only the unbinding; the verdict settles on the unloaded driver.
  await eventually(() => monitor.status().every((s) => s.health === 'Unhealthy' && /driver is not loaded/.test(s.reason)));
  for (const s of monitor.status()) t.match(s.reason, /^nvidia driver is not loaded \(\/proc\/driver\/nvidia is missing\)$/, `${s.id}: driver reason`);
  await loadNvidiaDriver(root);
  await eventually(() => monitor.status().every((s) => s.health === 'Healthy'));
  t.ok(changes.length > before);
});

t.test('simulated NPU host: hwmon temperature and a vanished node', { skip: unavailable }, async (t) => {
  const root = await simulatedHost('ebman1', 2);
  const { devices, of } = await monitorOn(t, root, { ...FAST, temperatureLimitC: 85 });
  const [n0, n1] = devices as [HealthTarget, HealthTarget];
  t.equal(n0.vendor, 'hanguang');
  t.same(n1.deviceNodes, ['/dev/hanguang1'], 'the node is found from uevent DEVNAME');

  await setHwmonAttribute(root, n0.pciBusId, 'temp1_input', 91000);
  await eventually(() => of(n0.id).length === 1);
  t.match(of(n0.id)[0], { to: 'Unhealthy', reason: 'temperature 91°C above the limit of 85°C' });
  await setHwmonAttribute(root, n0.pciBusId, 'temp1_input', 60000);
  await eventually(() => of(n0.id).at(-1)?.to === 'Healthy');

  await removeDeviceNode(root, n1.deviceNodes[0]!);
  await eventually(() => of(n1.id).length === 1);
  t.match(of(n1.id)[0], { to: 'Unhealthy', reason: `device node missing: ${n1.deviceNodes[0]}` });
  await restoreDeviceNode(root, n1.deviceNodes[0]!);
  await eventually(() => of(n1.id).at(-1)?.to === 'Healthy');
});
