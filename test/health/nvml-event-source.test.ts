import t, { type Test } from 'tap';
import { NvmlEventSource, type NvmlEvent, type NvmlEventSession } from '../../agent/health/nvml-event-source.js';
import type { HealthSignal, HealthTarget } from '../../agent/health/signals.js';
import { appendFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { readManifest } from '../../agent/simhost/manifest.js';
import { formatNvmlEvent } from '../../agent/simhost/nvml-state.js';
import { loadNvmlBinding } from '../../agent/vendors/nvidia/nvml-binding.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';
import { FakeClock, eventually, settle } from './fake-clock.js';

const gpu0: HealthTarget = { id: 'GPU-0', vendor: 'nvidia', index: 0, uuid: 'GPU-0000', pciBusId: '0000:00:07.0', deviceNodes: [] };
const gpu1: HealthTarget = { id: 'GPU-1', vendor: 'nvidia', index: 1, uuid: 'GPU-1111', pciBusId: '0000:00:08.0', deviceNodes: [] };
const npu: HealthTarget = { id: 'npu-0', vendor: 'hanguang', index: 0, uuid: null, pciBusId: '0000:00:09.0', deviceNodes: [] };

/** One NVML session; its waits block on the fake clock as the real ones block in a worker. */
class FakeSession implements NvmlEventSession {
  shutDown = false;
  private waiter: { resolve: (e: readonly NvmlEvent[]) => void; reject: (e: Error) => void } | null = null;

  constructor(private readonly clock: FakeClock) {}

  waitEvents(timeoutMs: number): Promise<readonly NvmlEvent[]> {
    if (this.shutDown) return Promise.reject(new Error('NVML waitEvents: the session is shut down'));
    if (timeoutMs === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimer(() => {
        this.waiter = null;
        resolve([]);
      }, timeoutMs);
      this.waiter = {
        resolve: (e) => (this.clock.clearTimer(timer), resolve(e)),
        reject: (e) => (this.clock.clearTimer(timer), reject(e)),
      };
    });
  }

  async shutdown(): Promise<void> {
    this.shutDown = true;
  }

  get waiting(): boolean {
    return this.waiter !== null;
  }

  deliver(...events: NvmlEvent[]): void {
    const w = this.waiter!;
    this.waiter = null;
    w.resolve(events);
  }

  failWait(err: Error): void {
    const w = this.waiter!;
    this.waiter = null;
    w.reject(err);
  }
}

/** The library side: opening sessions, or refusing to. */
class FakeNvml {
  opens: number[] = [];
  sessions: FakeSession[] = [];
  openFailure: Error | null = null;

  constructor(private readonly clock: FakeClock) {}

  readonly open = async (): Promise<NvmlEventSession> => {
    this.opens.push(this.clock.now());
    if (this.openFailure) throw this.openFailure;
    const s = new FakeSession(this.clock);
    this.sessions.push(s);
    return s;
  };

  get current(): FakeSession {
    return this.sessions.at(-1)!;
  }
}

async function setup(t: Test, openFailure: Error | null = null) {
  const clock = new FakeClock();
  const nvml = new FakeNvml(clock);
  nvml.openFailure = openFailure;
  const signals: HealthSignal[] = [];
  const source = new NvmlEventSource({ openSession: nvml.open, devices: [gpu0, gpu1, npu], clock, waitTimeoutMs: 500, initialBackoffMs: 1000, maxBackoffMs: 4000 });
  t.teardown(async () => {
    const stopping = source.stop();
    clock.advance(10_000);
    await stopping;
  });
  await source.start((s) => signals.push(s));
  await settle();
  return { clock, nvml, source, signals };
}

/** Moves the clock in small steps, letting the source's async loop keep up between them. */
async function walk(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.advance(step);
    await settle(3);
  }
}

const nvmlLost = (deviceId: string) => ({ type: 'condition', deviceId, condition: 'nvml-unavailable', raised: true });
const nvmlBack = (deviceId: string) => ({ type: 'condition', deviceId, condition: 'nvml-unavailable', raised: false });

t.test('an Xid event becomes a signal as soon as NVML hands it over', async (t) => {
  const { nvml, source, signals } = await setup(t);
  t.equal(source.available, true);
  t.same(signals, [], 'a working NVML raises nothing');
  t.ok(nvml.current.waiting);
  nvml.current.deliver({ index: 0, uuid: 'GPU-0000', type: 'xid', data: 79 });
  await settle(2);
  t.same(signals, [{ type: 'event', deviceId: 'GPU-0', event: { kind: 'xid', xid: 79 }, source: 'nvml' }]);
  t.ok(nvml.current.waiting, 'and it waits for the next one');
  t.equal(nvml.sessions.length, 1, 'on the same session');
});

t.test('ECC events, UUID and index matching, and events nobody can place', async (t) => {
  const { nvml, signals } = await setup(t);
  nvml.current.deliver(
    { index: 1, uuid: 'gpu-1111', type: 'ecc_double', data: 0 },
    { index: 0, uuid: 'GPU-0000', type: 'ecc_single', data: 0 },
    { index: 1, uuid: null, type: 'xid', data: 62 },
    { index: 0, uuid: '', type: 'xid', data: 31 },
    { index: 0, uuid: 'GPU-9999', type: 'xid', data: 79 },
    { index: 7, uuid: null, type: 'xid', data: 79 },
    { index: null, uuid: null, type: 'xid', data: 79 },
    { index: 0, uuid: 'GPU-0000', type: 'power', data: 1 },
    { index: 0, uuid: 'GPU-0000', type: 'xid', data: -1 },
    { index: 0, uuid: 'GPU-0000', type: 'xid', data: 1.5 },
    null as unknown as NvmlEvent,
  );
  await settle(2);
  t.same(
    signals.map((s) => (s.type === 'event' ? [s.deviceId, s.event] : s)),
    [
      ['GPU-1', { kind: 'ecc_double' }],
      ['GPU-0', { kind: 'ecc_single' }],
      ['GPU-1', { kind: 'xid', xid: 62 }],
      ['GPU-0', { kind: 'xid', xid: 31 }],
    ],
  );
});

t.test('NVML failing to open makes every NVIDIA device unhealthy until it answers, retrying with backoff', async (t) => {
  const { clock, nvml, source, signals } = await setup(t, new Error('NVML_ERROR_DRIVER_NOT_LOADED'));
  const t0 = clock.now();
  t.equal(source.available, false);
  t.equal(signals.length, 2, 'both GPUs, not the NPU');
  t.match(signals, [
    { ...nvmlLost('GPU-0'), detail: 'NVML is not answering: NVML_ERROR_DRIVER_NOT_LOADED' },
    { ...nvmlLost('GPU-1'), detail: 'NVML is not answering: NVML_ERROR_DRIVER_NOT_LOADED' },
  ]);
  await walk(clock, 20_000);
  t.same(
    nvml.opens.map((c) => c - t0),
    [0, 1000, 3000, 7000, 11000, 15000, 19000],
    'backoff doubles up to its cap',
  );
  t.equal(signals.length, 2, 'still lost: not raised again');
  nvml.openFailure = null;
  await walk(clock, 4000);
  t.equal(source.available, true);
  t.same(signals.slice(2), [nvmlBack('GPU-0'), nvmlBack('GPU-1')]);
  nvml.current.deliver({ index: 0, uuid: 'GPU-0000', type: 'xid', data: 48 });
  await settle(2);
  t.match(signals.at(-1), { type: 'event', deviceId: 'GPU-0', event: { xid: 48 } });
});

t.test('one failed wait reopens NVML quietly; only a failed reopen is a lost NVML', async (t) => {
  const { clock, nvml, signals } = await setup(t);
  const first = nvml.current;
  first.failWait(new Error('NVML_ERROR_UNKNOWN'));
  await settle();
  t.equal(first.shutDown, true, 'the broken session is closed');
  await walk(clock, 1000);
  t.equal(nvml.opens.length, 2, 'reopened after the backoff');
  t.same(signals, [], 'no condition for a single hiccup');
  t.ok(nvml.current.waiting, 'events flow again');
  nvml.openFailure = new Error('NVML_ERROR_GPU_IS_LOST');
  nvml.current.failWait(new Error('NVML_ERROR_GPU_IS_LOST'));
  // The backoff has grown to 2 s: the last wait never succeeded, so nothing reset it.
  await walk(clock, 2500);
  t.match(signals, [nvmlLost('GPU-0'), nvmlLost('GPU-1')]);
  t.equal(signals.length, 2);
});

t.test('a session that opens but cannot arm events counts as NVML not answering', async (t) => {
  const clock = new FakeClock();
  const signals: HealthSignal[] = [];
  let closed = 0;
  const source = new NvmlEventSource({
    openSession: async () => ({
      waitEvents: async () => Promise.reject(new Error('nvmlEventSetCreate: NOT_SUPPORTED')),
      shutdown: async () => void closed++,
    }),
    devices: [gpu0],
    clock,
  });
  await source.start((s) => signals.push(s));
  t.match(signals, [{ ...nvmlLost('GPU-0'), detail: /NOT_SUPPORTED/ }]);
  t.equal(closed, 1, 'the half-open session is shut down');
  await source.stop();
});

t.test('NVML without event support is not a lost NVML: the source says so and stops trying', async (t) => {
  const clock = new FakeClock();
  const signals: HealthSignal[] = [];
  let opens = 0;
  const notSupported = Object.assign(new Error('nvmlEventSetCreate: Not Supported'), { details: { nvmlCode: 3 } });
  const source = new NvmlEventSource({
    openSession: async () => {
      opens++;
      return { waitEvents: async () => Promise.reject(notSupported), shutdown: async () => undefined };
    },
    devices: [gpu0],
    clock,
  });
  await source.start((s) => signals.push(s));
  t.same(signals, [], 'devices stay healthy');
  t.equal(source.available, false);
  t.equal(source.eventsUnsupported, true);
  await walk(clock, 5000);
  t.equal(opens, 1, 'no pointless retries');
  await source.stop();
});

t.test('stop ends the loop, closes the session, leaves no timer and emits nothing more', async (t) => {
  const { clock, nvml, source, signals } = await setup(t);
  const stopping = source.stop();
  clock.advance(500);
  await stopping;
  t.equal(clock.pendingTimers, 0);
  t.equal(nvml.current.shutDown, true);
  nvml.openFailure = new Error('gone');
  clock.advance(60_000);
  await settle();
  t.same(signals, []);
  t.equal(nvml.opens.length, 1);
});

t.test('stop during the backoff wait returns at once', async (t) => {
  const { clock, source, nvml } = await setup(t, new Error('no driver'));
  await source.stop();
  t.equal(clock.pendingTimers, 0);
  clock.advance(60_000);
  await settle();
  t.equal(nvml.opens.length, 1);
});

// ---- with the real NVML addon and the NVML stub of a simulated host ----

const nvmlLoad = simhostUnavailable() === false ? loadNvmlBinding() : null;

t.test(
  'with the real addon: an Xid the simulated driver raises arrives as a signal',
  { skip: nvmlLoad?.available ? false : `NVML addon or simulated hosts unavailable: ${simhostUnavailable() || (nvmlLoad && !nvmlLoad.available ? nvmlLoad.error.message : '')}` },
  async (t) => {
    if (!nvmlLoad?.available) return;
    const root = await simulatedHost('gn5', 2);
    t.teardown(() => rm(path.dirname(root), { recursive: true, force: true }));
    const { binding } = nvmlLoad;
    const manifest = await readManifest(root);
    const lib = path.join(root, path.posix.dirname(manifest.nvml!.conf), 'libnvidia-ml.so.1');
    const probe = await binding.open(lib);
    const listed = await probe.devices();
    await probe.shutdown();
    const devices: HealthTarget[] = listed.map((d) => ({ id: d.uuid!, vendor: 'nvidia', index: d.index, uuid: d.uuid, pciBusId: '0000:00:00.0', deviceNodes: [] }));
    const signals: HealthSignal[] = [];
    const source = new NvmlEventSource({ openSession: () => binding.open(lib), devices, waitTimeoutMs: 200 });
    await source.start((s) => signals.push(s));
    t.teardown(() => source.stop());
    t.equal(source.available, true);
    await appendFile(path.join(root, manifest.nvml!.events), formatNvmlEvent(1, 'xid', 79) + formatNvmlEvent(0, 'ecc_double', 0));
    await eventually(() => signals.length === 2);
    t.same(signals, [
      { type: 'event', deviceId: listed[1]!.uuid, event: { kind: 'xid', xid: 79 }, source: 'nvml' },
      { type: 'event', deviceId: listed[0]!.uuid, event: { kind: 'ecc_double' }, source: 'nvml' },
    ]);
    await source.stop();
  },
);
