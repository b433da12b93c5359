import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { createLogger } from '../../agent/log.js';
import type { HealthSignal, HealthTarget } from '../../agent/health/signals.js';
import { SysfsPresenceSource, type SysfsPresenceOptions } from '../../agent/health/sysfs-presence-source.js';
import { FakeClock, eventually, settle } from './fake-clock.js';
import { gpuAndNpuHost } from './sys-tree.js';

async function setup(t: Test, over: Partial<SysfsPresenceOptions> = {}) {
  const { tree, gpu, npu } = await gpuAndNpuHost();
  t.teardown(() => tree.destroy());
  const clock = new FakeClock();
  const signals: HealthSignal[] = [];
  const source = new SysfsPresenceSource({ host: new HostRoot(tree.root), devices: [gpu, npu], clock, pollIntervalMs: 500, ...over });
  t.teardown(() => source.stop());
  const take = () => signals.splice(0);
  return { tree, gpu, npu, clock, source, signals, take, start: () => source.start((s) => signals.push(s)) };
}

/** Like t.match on each element, but the lists must also be equally long. */
function exactly(t: Test, got: unknown[], want: object[]): void {
  t.equal(got.length, want.length, `${want.length} signal(s)`);
  t.match(got, want);
}

const raised = (deviceId: string, condition: string) => ({ type: 'condition', deviceId, condition, raised: true });
const cleared = (deviceId: string, condition: string) => ({ type: 'condition', deviceId, condition, raised: false });

t.test('a healthy host emits nothing, at start or later', async (t) => {
  const s = await setup(t);
  await s.start();
  await s.source.pollOnce();
  t.same(s.signals, []);
});

t.test('a PCI function leaving the bus raises pci-missing; coming back clears it', async (t) => {
  const s = await setup(t);
  await s.start();
  await s.tree.removeFunction(s.gpu.pciBusId);
  await s.source.pollOnce();
  exactly(t, s.take(), [{ ...raised(s.gpu.id, 'pci-missing'), detail: 'PCI function 0000:00:07.0 is gone from /sys/bus/pci/devices' }]);
  await s.source.pollOnce();
  t.same(s.take(), [], 'no repeat while it stays gone');
  await s.tree.addFunction(s.gpu.pciBusId, '0x10de', 'nvidia');
  await s.source.pollOnce();
  t.same(s.take(), [cleared(s.gpu.id, 'pci-missing')]);
});

t.test('driver unbound or bound to the wrong driver raises driver-unbound', async (t) => {
  const s = await setup(t);
  await s.start();
  await s.tree.unbind(s.gpu.pciBusId);
  await s.tree.unbind(s.npu.pciBusId);
  await s.source.pollOnce();
  exactly(t, s.take(), [
    { ...raised(s.gpu.id, 'driver-unbound'), detail: 'no driver bound to 0000:00:07.0' },
    { ...raised(s.npu.id, 'driver-unbound'), detail: 'no driver bound to 0000:00:08.0' },
  ]);
  await s.tree.bind(s.gpu.pciBusId, 'vfio-pci');
  await s.tree.bind(s.npu.pciBusId, 'some-npu-driver');
  await s.source.pollOnce();
  t.same(s.take(), [cleared(s.npu.id, 'driver-unbound')], 'the NPU accepts any driver by default; the GPU wants nvidia');
  await s.tree.unbind(s.gpu.pciBusId);
  await s.tree.bind(s.gpu.pciBusId, 'nvidia');
  await s.source.pollOnce();
  t.same(s.take(), [cleared(s.gpu.id, 'driver-unbound')]);
});

t.test('expected drivers are configurable per vendor', async (t) => {
  const s = await setup(t, { expectedDrivers: { hanguang: ['hgnpu_v2'] } });
  await s.start();
  exactly(t, s.take(), [{ ...raised(s.npu.id, 'driver-unbound'), detail: '0000:00:08.0 is bound to hgnpu, expected hgnpu_v2' }]);
});

t.test('the NVIDIA driver unloading affects NVIDIA devices only', async (t) => {
  const s = await setup(t);
  await s.start();
  await s.tree.unloadNvidiaDriver();
  await s.source.pollOnce();
  exactly(t, s.take(), [{ ...raised(s.gpu.id, 'driver-unloaded'), detail: 'nvidia driver is not loaded (/proc/driver/nvidia is missing)' }]);
  await s.tree.loadNvidiaDriver();
  await s.source.pollOnce();
  t.same(s.take(), [cleared(s.gpu.id, 'driver-unloaded')]);
});

t.test('a device node vanishing raises node-missing; restored, it clears', async (t) => {
  const s = await setup(t);
  await s.start();
  await s.tree.removeNode('/dev/npu0');
  await s.source.pollOnce();
  exactly(t, s.take(), [{ ...raised(s.npu.id, 'node-missing'), detail: 'device node missing: /dev/npu0' }]);
  await s.tree.addNode('/dev/npu0');
  await s.source.pollOnce();
  t.same(s.take(), [cleared(s.npu.id, 'node-missing')]);
});

t.test('hwmon temperature above the limit raises over-temperature, with hysteresis on the way down', async (t) => {
  const s = await setup(t, { temperatureLimitC: 90, temperatureHysteresisC: 5 });
  await s.tree.setTemperature(s.npu.pciBusId, '45000\n');
  await s.start();
  t.same(s.take(), []);
  await s.tree.setTemperature(s.npu.pciBusId, '93000\n');
  await s.source.pollOnce();
  exactly(t, s.take(), [{ ...raised(s.npu.id, 'over-temperature'), detail: 'temperature 93°C above the limit of 90°C' }]);
  await s.tree.setTemperature(s.npu.pciBusId, '87000\n');
  await s.source.pollOnce();
  t.same(s.take(), [], 'within the hysteresis band it stays hot');
  await s.tree.setTemperature(s.npu.pciBusId, 'garbage\n');
  await s.source.pollOnce();
  t.same(s.take(), [], 'an unreadable temperature changes nothing');
  await s.tree.setTemperature(s.npu.pciBusId, '84000\n');
  await s.source.pollOnce();
  t.same(s.take(), [cleared(s.npu.id, 'over-temperature')]);
});

t.test('without a limit the temperature is neither read nor judged', async (t) => {
  let reads = 0;
  const s = await setup(t, { readTemperature: async () => (reads++, 150) });
  await s.tree.setTemperature(s.npu.pciBusId, '150000\n');
  await s.start();
  t.same(s.take(), []);
  t.equal(reads, 0);
});

t.test('a vendor temperature reader covers devices without hwmon', async (t) => {
  const s = await setup(t, {
    temperatureLimitC: 80,
    readTemperature: async (d: HealthTarget) => (d.vendor === 'nvidia' ? 95 : null),
  });
  await s.start();
  exactly(t, s.take(), [{ ...raised(s.gpu.id, 'over-temperature'), detail: 'temperature 95°C above the limit of 80°C' }]);
});

t.test('symlinks leading out of /sys are refused, never followed', async (t) => {
  const s = await setup(t, { temperatureLimitC: 90 });
  // A file outside /sys that would read as a scorching temperature if followed.
  await mkdir(s.tree.p('/etc'), { recursive: true });
  await writeFile(s.tree.p('/etc/hot'), '999000\n');
  await mkdir(s.tree.p(`/sys/devices/pci0000:00/${s.npu.pciBusId}/hwmon/hwmon1`), { recursive: true });
  await symlink('/etc/hot', s.tree.p(`/sys/devices/pci0000:00/${s.npu.pciBusId}/hwmon/hwmon1/temp1_input`));
  // The GPU's bus entry points outside /sys altogether. Its driver's listing
  // would vouch for it without the entry being read, so it is taken out of it.
  await rm(s.tree.p(`/sys/bus/pci/drivers/nvidia/${s.gpu.pciBusId}`));
  await rm(s.tree.p(`/sys/bus/pci/devices/${s.gpu.pciBusId}`));
  await mkdir(s.tree.p('/outside/gpu'), { recursive: true });
  await symlink('/outside/gpu', s.tree.p(`/sys/bus/pci/devices/${s.gpu.pciBusId}`));
  await s.start();
  exactly(t, s.take(), [{ ...raised(s.gpu.id, 'pci-missing'), detail: /pointing outside \/sys \(refused\)/ }]);
});

t.test('a bus entry re-pointed after an earlier check is resolved afresh, not taken from memory', async (t) => {
  const s = await setup(t);
  await s.start();
  exactly(t, s.take(), []);
  await rm(s.tree.p(`/sys/bus/pci/drivers/nvidia/${s.gpu.pciBusId}`));
  await rm(s.tree.p(`/sys/bus/pci/devices/${s.gpu.pciBusId}`));
  await mkdir(s.tree.p('/outside/gpu'), { recursive: true });
  await symlink('/outside/gpu', s.tree.p(`/sys/bus/pci/devices/${s.gpu.pciBusId}`));
  s.clock.advance(500);
  await eventually(() => s.signals.length > 0);
  exactly(t, s.take(), [{ ...raised(s.gpu.id, 'pci-missing'), detail: /pointing outside \/sys \(refused\)/ }]);
});

t.test('a driver link leading out of /sys counts as no driver', async (t) => {
  const s = await setup(t);
  await s.tree.unbind(s.npu.pciBusId);
  await mkdir(s.tree.p('/evil/nvidia'), { recursive: true });
  await symlink('/evil/nvidia', s.tree.p(`/sys/devices/pci0000:00/${s.npu.pciBusId}/driver`));
  await s.start();
  exactly(t, s.take(), [{ ...raised(s.npu.id, 'driver-unbound'), detail: 'no driver bound to 0000:00:08.0' }]);
});

t.test('a check that fails keeps conditions as they were and logs once, not every round', async (t) => {
  const lines: string[] = [];
  const log = createLogger('warn', new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) as never);
  let fail = false;
  const s = await setup(t, {
    log,
    temperatureLimitC: 90,
    readTemperature: async (d) => {
      if (fail && d.vendor === 'nvidia') throw new Error('NVML timed out');
      return 40;
    },
  });
  await s.start();
  await s.tree.removeNode('/dev/nvidia0');
  fail = true;
  await s.source.pollOnce();
  await s.source.pollOnce();
  t.same(s.take(), [], 'nothing concluded from a failed check');
  t.equal(lines.filter((l) => l.includes('presence check failed')).length, 1);
  fail = false;
  await s.source.pollOnce();
  exactly(t, s.take(), [raised(s.gpu.id, 'node-missing')]);
});

t.test('rounds never overlap, however they are triggered', async (t) => {
  const s = await setup(t);
  await s.start();
  await s.tree.removeNode('/dev/nvidia0');
  s.clock.advance(500);
  await Promise.all([s.source.pollOnce(), s.source.pollOnce()]);
  exactly(t, s.take(), [raised(s.gpu.id, 'node-missing')]);
});

t.test('polling runs on the clock: a removal is seen within one interval, and stop ends it', async (t) => {
  const s = await setup(t);
  await s.start();
  t.equal(s.clock.pendingTimers, 1);
  await s.tree.removeFunction(s.npu.pciBusId);
  s.clock.advance(499);
  await settle();
  t.same(s.signals, []);
  s.clock.advance(1);
  await eventually(() => s.signals.length > 0);
  exactly(t, s.take(), [raised(s.npu.id, 'pci-missing')]);
  await eventually(() => s.clock.pendingTimers === 1);
  t.equal(s.clock.pendingTimers, 1, 'next round scheduled after this one finished');
  await s.source.stop();
  t.equal(s.clock.pendingTimers, 0);
  await s.tree.addFunction(s.npu.pciBusId, '0x1ded', 'hgnpu');
  s.clock.advance(5000);
  await settle();
  t.same(s.signals, [], 'nothing after stop');
});

/** A host root that records the sysfs links and directories read synchronously. */
class RecordingHost extends HostRoot {
  readonly links: string[] = [];
  readonly listings: string[] = [];
  override readLinkSync(hostPath: string): string | null {
    this.links.push(hostPath);
    return super.readLinkSync(hostPath);
  }
  override listSync(hostPath: string): string[] {
    this.listings.push(hostPath);
    return super.listSync(hostPath);
  }
}

async function recordingSetup(t: Test, over: Partial<SysfsPresenceOptions> = {}) {
  const { tree, gpu, npu } = await gpuAndNpuHost();
  t.teardown(() => tree.destroy());
  const host = new RecordingHost(tree.root);
  const signals: HealthSignal[] = [];
  const source = new SysfsPresenceSource({ host, devices: [gpu, npu], clock: new FakeClock(), ...over });
  t.teardown(() => source.stop());
  await source.start((s) => signals.push(s));
  return { tree, gpu, npu, host, source, signals };
}

t.test('a function its driver lists as bound is judged without reading its own links', async (t) => {
  const s = await recordingSetup(t);
  s.host.links.length = 0;
  await s.source.pollOnce();
  t.same(s.signals, []);
  t.notOk(s.host.links.includes(`/sys/devices/pci0000:00/${s.gpu.pciBusId}/driver`), 'the GPU is vouched for by /sys/bus/pci/drivers/nvidia');
  t.notOk(s.host.links.includes(`/sys/bus/pci/devices/${s.gpu.pciBusId}`), 'nor is its bus entry read: a listed function is on the bus');
  t.ok(s.host.links.includes(`/sys/bus/pci/devices/${s.npu.pciBusId}`), 'a vendor accepting any driver reads its bus entry');
  t.ok(s.host.links.includes(`/sys/devices/pci0000:00/${s.npu.pciBusId}/driver`), 'and its driver link');
  t.same(s.host.listings, ['/sys/bus/pci/drivers/nvidia', '/sys/bus/pci/drivers/nvidia'], 'one listing per round (start, then this one)');
});

t.test('a listed function still has its bus entry read when its hwmon temperature is needed', async (t) => {
  const s = await recordingSetup(t, { temperatureLimitC: 90, readTemperature: async () => null });
  await s.tree.setTemperature(s.gpu.pciBusId, '95000\n');
  s.host.links.length = 0;
  await s.source.pollOnce();
  exactly(t, s.signals, [{ ...raised(s.gpu.id, 'over-temperature'), detail: 'temperature 95°C above the limit of 90°C' }]);
  t.ok(s.host.links.includes(`/sys/bus/pci/devices/${s.gpu.pciBusId}`), 'read for hwmon, and checked as every bus entry is');
});

t.test('a function missing from its driver listing is judged by its own driver link', async (t) => {
  const s = await recordingSetup(t);
  await rm(s.tree.p(`/sys/bus/pci/drivers/nvidia/${s.gpu.pciBusId}`));
  await s.source.pollOnce();
  t.same(s.signals, [], 'still bound to nvidia, as its link says');
  t.ok(s.host.links.includes(`/sys/devices/pci0000:00/${s.gpu.pciBusId}/driver`));
  await s.tree.unbind(s.gpu.pciBusId);
  await s.source.pollOnce();
  exactly(t, s.signals, [raised(s.gpu.id, 'driver-unbound')]);
});

t.test('an expected driver that is not a plain name is never turned into a path', async (t) => {
  const s = await recordingSetup(t, { expectedDrivers: { nvidia: ['../../../../etc', 'nvidia'] } });
  t.same(s.host.listings, ['/sys/bus/pci/drivers/nvidia']);
  t.same(s.signals, [], 'the plain name still vouches for the GPU');
});
