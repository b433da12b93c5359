import t from 'tap';
import type { HealthChange } from '../../agent/health/device-health.js';
import { HealthMonitor, type HealthMonitorOptions } from '../../agent/health/health-monitor.js';
import type { HealthSignal, HealthSource, ProbeResult, SignalSink } from '../../agent/health/signals.js';
import { HostRoot } from '../../agent/host/host-root.js';
import { createProbe } from '../../agent/health/probe.js';
import { SysfsPresenceSource } from '../../agent/health/sysfs-presence-source.js';
import { FakeClock, eventually, settle } from './fake-clock.js';
import { gpuAndNpuHost } from './sys-tree.js';

class FakeSource implements HealthSource {
  emit: SignalSink | null = null;
  stopped = 0;
  constructor(
    readonly name: string,
    private readonly failStart = false,
  ) {}
  async start(emit: SignalSink): Promise<void> {
    if (this.failStart) throw new Error('cannot read evidence');
    this.emit = emit;
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
  send(signal: HealthSignal): void {
    this.emit!(signal);
  }
}

const QUIET = 60_000;
const xid = (deviceId: string, n: number): HealthSignal => ({ type: 'event', deviceId, event: { kind: 'xid', xid: n }, source: 'test' });

async function setup(over: Partial<HealthMonitorOptions> & { probeResult?: () => Promise<ProbeResult> } = {}) {
  const clock = new FakeClock();
  const source = new FakeSource('fake');
  const changes: HealthChange[] = [];
  const probes: string[] = [];
  const monitor = new HealthMonitor({
    devices: [{ id: 'gpu0' }, { id: 'gpu1' }],
    sources: [source],
    probe: async (id) => {
      probes.push(id);
      return over.probeResult ? over.probeResult() : { ok: true, detail: 'answers' };
    },
    onChange: (c) => changes.push(c),
    options: { quietPeriodMs: QUIET, maxQuietPeriodMs: 8 * QUIET, flapWindowMs: 10 * QUIET, probeRetryMs: 5000, probeTimeoutMs: 2000 },
    clock,
    ...over,
  });
  const report = await monitor.start();
  return { clock, source, changes, probes, monitor, report };
}

t.test('Xid 79 makes the device unhealthy before the signal call returns', async (t) => {
  const { source, changes, clock, monitor } = await setup();
  source.send(xid('gpu0', 79));
  t.same(changes, [{ id: 'gpu0', from: 'Healthy', to: 'Unhealthy', reason: 'Xid 79 (GPU has fallen off the bus)', at: clock.now() }]);
  t.equal(monitor.status().find((s) => s.id === 'gpu1')?.health, 'Healthy', 'other devices unaffected');
  await monitor.stop();
});

t.test('Xid 13 (an application fault) leaves the device healthy', async (t) => {
  const { source, changes, monitor } = await setup();
  source.send(xid('gpu0', 13));
  source.send({ type: 'event', deviceId: 'gpu0', event: { kind: 'ecc_single' }, source: 'test' });
  t.same(changes, []);
  t.equal(monitor.status()[0]!.health, 'Healthy');
  await monitor.stop();
});

t.test('configured fatal Xids count even when usually ignored', async (t) => {
  const { source, changes, monitor } = await setup({ options: { fatalXids: [13] } });
  source.send(xid('gpu0', 13));
  t.equal(changes.length, 1);
  t.match(changes, [{ to: 'Unhealthy' }]);
  await monitor.stop();
});

t.test('a double-bit ECC event makes the device unhealthy', async (t) => {
  const { source, changes, monitor } = await setup();
  source.send({ type: 'event', deviceId: 'gpu1', event: { kind: 'ecc_double' }, source: 'test' });
  t.equal(changes.length, 1);
  t.match(changes, [{ id: 'gpu1', to: 'Unhealthy', reason: 'double-bit ECC error' }]);
  await monitor.stop();
});

t.test('after an Xid the device recovers by itself after the quiet period and a probe', async (t) => {
  const { source, changes, probes, clock, monitor } = await setup();
  const t0 = clock.now();
  source.send(xid('gpu0', 79));
  clock.advance(QUIET - 1);
  await settle();
  t.same(probes, [], 'no probe inside the quiet period');
  clock.advance(1);
  await settle();
  t.same(probes, ['gpu0']);
  t.match(changes[1], { id: 'gpu0', from: 'Unhealthy', to: 'Healthy', at: t0 + QUIET });
  t.match(changes[1]!.reason, /recovered/);
  await monitor.stop();
});

t.test('a removed device node makes the device unhealthy; restored, it is healthy after the quiet period', async (t) => {
  const { source, changes, probes, clock, monitor } = await setup();
  source.send({ type: 'condition', deviceId: 'gpu1', condition: 'node-missing', raised: true, detail: 'device node missing: /dev/nvidia1' });
  t.equal(changes.length, 1);
  t.match(changes, [{ id: 'gpu1', to: 'Unhealthy', reason: 'device node missing: /dev/nvidia1' }]);
  clock.advance(10 * QUIET);
  await settle();
  t.same(probes, [], 'nothing to probe while the node is missing');
  const restoredAt = clock.now();
  source.send({ type: 'condition', deviceId: 'gpu1', condition: 'node-missing', raised: false });
  clock.advance(QUIET - 1);
  await settle();
  t.equal(monitor.status()[1]!.health, 'Unhealthy');
  clock.advance(1);
  await settle();
  t.match(changes.at(-1), { id: 'gpu1', to: 'Healthy', at: restoredAt + QUIET });
  await monitor.stop();
});

t.test('a driver failure takes every device with that reason, and its end brings them all back', async (t) => {
  const { source, changes, clock, monitor } = await setup();
  for (const id of ['gpu0', 'gpu1']) {
    source.send({ type: 'condition', deviceId: id, condition: 'nvml-unavailable', raised: true, detail: 'NVML is not answering: driver not loaded' });
  }
  t.same(
    changes.map((c) => [c.id, c.to, c.reason]),
    [
      ['gpu0', 'Unhealthy', 'NVML is not answering: driver not loaded'],
      ['gpu1', 'Unhealthy', 'NVML is not answering: driver not loaded'],
    ],
  );
  for (const id of ['gpu0', 'gpu1']) source.send({ type: 'condition', deviceId: id, condition: 'nvml-unavailable', raised: false });
  clock.advance(QUIET);
  await settle();
  t.same(monitor.status().map((s) => s.health), ['Healthy', 'Healthy']);
  await monitor.stop();
});

t.test('a flapping device waits twice as long after failing again soon', async (t) => {
  const { source, changes, clock, monitor } = await setup();
  source.send(xid('gpu0', 79));
  clock.advance(QUIET);
  await settle();
  t.equal(changes.at(-1)?.to, 'Healthy');
  clock.advance(1000);
  source.send(xid('gpu0', 79));
  clock.advance(QUIET);
  await settle();
  t.equal(changes.at(-1)?.to, 'Unhealthy', 'the base quiet period is no longer enough');
  clock.advance(QUIET);
  await settle();
  t.equal(changes.at(-1)?.to, 'Healthy');
  t.equal(monitor.status()[0]!.quietPeriodMs, 2 * QUIET);
  await monitor.stop();
});

t.test('a failing probe is retried later, not at once, and recovery waits for a pass', async (t) => {
  let answer: ProbeResult = { ok: false, detail: 'NVML does not list GPU-0' };
  const { source, probes, clock, monitor } = await setup({ probeResult: async () => answer });
  source.send(xid('gpu0', 79));
  clock.advance(QUIET);
  await settle();
  t.equal(probes.length, 1);
  clock.advance(4999);
  await settle();
  t.equal(probes.length, 1, 'no retry before probeRetryMs');
  clock.advance(1);
  await settle();
  t.equal(probes.length, 2);
  t.equal(monitor.status()[0]!.health, 'Unhealthy');
  t.match(monitor.status()[0]!.lastProbe, { ok: false, detail: 'NVML does not list GPU-0' });
  answer = { ok: true, detail: 'answers' };
  clock.advance(5000);
  await settle();
  t.equal(monitor.status()[0]!.health, 'Healthy');
  await monitor.stop();
});

t.test('a probe that throws, hangs or answers nonsense counts as failed', async (t) => {
  const behaviours: [string, () => Promise<ProbeResult>, RegExp][] = [
    ['throws', async () => Promise.reject(new Error('sysfs EIO')), /probe failed: sysfs EIO/],
    ['hangs', () => new Promise<ProbeResult>(() => undefined), /no answer within 2s/],
    ['nonsense', async () => 'yes' as unknown as ProbeResult, /nonsense/],
  ];
  for (const [name, probeResult, detail] of behaviours) {
    const { source, clock, monitor } = await setup({ probeResult });
    source.send(xid('gpu0', 79));
    clock.advance(QUIET);
    await settle();
    clock.advance(2000);
    await settle();
    const s = monitor.status()[0]!;
    t.equal(s.health, 'Unhealthy', name);
    t.match(s.lastProbe?.detail, detail, name);
    await monitor.stop();
  }
});

t.test('an Xid arriving while a probe runs prevents that probe from recovering the device', async (t) => {
  let release!: (r: ProbeResult) => void;
  const { source, clock, monitor, probes } = await setup({ probeResult: () => new Promise((r) => (release = r)) });
  source.send(xid('gpu0', 79));
  clock.advance(QUIET);
  await settle();
  t.equal(probes.length, 1);
  source.send(xid('gpu0', 62));
  release({ ok: true, detail: 'answers' });
  await settle();
  t.equal(monitor.status()[0]!.health, 'Unhealthy');
  t.equal(monitor.status()[0]!.quietUntil, clock.now() + QUIET, 'the new Xid starts a new quiet period');
  await monitor.stop();
});

t.test('a throwing subscriber and unknown devices do not disturb the monitor', async (t) => {
  const seen: string[] = [];
  const { source, monitor } = await setup({
    onChange: (c) => {
      seen.push(c.id);
      throw new Error('subscriber bug');
    },
  });
  source.send(xid('gpu9', 79));
  source.send(xid('gpu0', 79));
  source.send(xid('gpu1', 79));
  t.same(seen, ['gpu0', 'gpu1']);
  t.same(monitor.status().map((s) => s.health), ['Unhealthy', 'Unhealthy']);
  await monitor.stop();
});

t.test('a source that cannot start is reported and the others still run', async (t) => {
  const clock = new FakeClock();
  const good = new FakeSource('good');
  const bad = new FakeSource('bad', true);
  const changes: HealthChange[] = [];
  const monitor = new HealthMonitor({
    devices: [{ id: 'gpu0' }],
    sources: [bad, good],
    probe: async () => ({ ok: true, detail: '' }),
    onChange: (c) => changes.push(c),
    clock,
  });
  const report = await monitor.start();
  t.same(report, { started: ['good'], failed: [{ source: 'bad', error: 'cannot read evidence' }] });
  good.send(xid('gpu0', 79));
  t.equal(changes.length, 1);
  t.same(await monitor.start(), { started: [], failed: [] }, 'starting twice starts nothing');
  await monitor.stop();
});

t.test('stop stops the sources, drops later signals and leaves no timer behind', async (t) => {
  const { source, changes, clock, monitor } = await setup();
  source.send(xid('gpu0', 79));
  t.ok(clock.pendingTimers > 0, 'recovery timer armed');
  await monitor.stop();
  await monitor.stop();
  t.equal(source.stopped, 1);
  t.equal(clock.pendingTimers, 0);
  source.send(xid('gpu1', 79));
  clock.advance(10 * QUIET);
  await settle();
  t.equal(changes.length, 1, 'nothing published after stop');
});

t.test('stop does not wait for a probe that hangs', async (t) => {
  const { source, clock, monitor, probes } = await setup({ probeResult: () => new Promise<ProbeResult>(() => undefined) });
  source.send(xid('gpu0', 79));
  clock.advance(QUIET);
  await settle();
  t.equal(probes.length, 1, 'a probe is running');
  await monitor.stop(); // would never return if it waited for the probe on the fake clock
  t.equal(clock.pendingTimers, 0, 'the probe timeout timer is gone too');
  t.equal(monitor.status()[0]!.health, 'Unhealthy');
});

t.test('invalid options are refused when the monitor is built', async (t) => {
  t.throws(() => new HealthMonitor({ devices: [], probe: async () => ({ ok: true, detail: '' }), onChange: () => undefined, options: { quietPeriodMs: -5 } }), {
    code: 'ACCEL_ERR_CONFIG_INVALID',
  });
});

t.test('on a host tree: a GPU falling off the bus is out within one poll and back after the quiet period', async (t) => {
  const { tree, gpu, npu } = await gpuAndNpuHost();
  t.teardown(() => tree.destroy());
  const host = new HostRoot(tree.root);
  const clock = new FakeClock();
  const changes: HealthChange[] = [];
  const devices = [gpu, npu];
  const monitor = new HealthMonitor({
    devices,
    sources: [new SysfsPresenceSource({ host, devices, clock, pollIntervalMs: 500 })],
    probe: createProbe({ host, devices }),
    onChange: (c) => changes.push(c),
    options: { quietPeriodMs: QUIET },
    clock,
  });
  t.teardown(() => monitor.stop());
  t.same(await monitor.start(), { started: ['sysfs-presence'], failed: [] });
  t.same(changes, [], 'a healthy host starts healthy');

  const lostAt = clock.now() + 500;
  await tree.removeFunction(gpu.pciBusId);
  clock.advance(500);
  await eventually(() => changes.length === 1);
  // The round goes on after the signal; the next one is armed only when it ends.
  await eventually(() => clock.pendingTimers === 1);
  t.match(changes[0], { id: gpu.id, to: 'Unhealthy', at: lostAt, reason: 'PCI function 0000:00:07.0 is gone from /sys/bus/pci/devices' });

  await tree.addFunction(gpu.pciBusId, '0x10de', 'nvidia');
  clock.advance(500);
  await eventually(() => changes.length === 2);
  await eventually(() => clock.pendingTimers === 2); // next round and the recovery wake-up
  const backAt = clock.now();
  t.match(changes[1], { id: gpu.id, from: 'Unhealthy', to: 'Unhealthy', reason: /resolved/ });

  clock.advance(QUIET);
  await eventually(() => changes.length === 3);
  t.match(changes[2], { id: gpu.id, from: 'Unhealthy', to: 'Healthy' });
  t.ok(changes[2]!.at >= backAt + QUIET, 'not before the quiet period');
  t.same(monitor.status().map((s) => s.health), ['Healthy', 'Healthy']);
});

t.test('reconfigure keeps the state of devices that remain and swaps the sources', async (t) => {
  const { source, changes, clock, monitor } = await setup();
  source.send(xid('gpu0', 79));
  const next = new FakeSource('next');
  const report = await monitor.reconfigure({ devices: [{ id: 'gpu0' }, { id: 'gpu2' }], sources: [next], probe: async () => ({ ok: true, detail: 'answers' }) });
  t.same(report.started, ['next']);
  t.equal(source.stopped, 1, 'the old source is stopped');
  const byId = new Map(monitor.status().map((s) => [s.id, s.health]));
  t.equal(byId.get('gpu0'), 'Unhealthy', 'a rescan does not wash away an Xid');
  t.equal(byId.get('gpu2'), 'Healthy', 'a new device starts healthy');
  t.notOk(byId.has('gpu1'), 'a removed device is forgotten');
  next.send(xid('gpu2', 48));
  t.match(changes.at(-1), { id: 'gpu2', to: 'Unhealthy' }, 'the new source reaches the monitor');
  clock.advance(QUIET + 1);
  await eventually(() => monitor.status().find((s) => s.id === 'gpu0')?.health === 'Healthy');
  t.pass('the quiet period begun before the change still ends in recovery');
  await monitor.stop();
  t.equal(next.stopped, 1);
});
