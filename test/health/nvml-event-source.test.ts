import t, { type Test } from 'tap';
import { NvmlEventSource, type NvmlEvent, type NvmlEventBinding } from '../../agent/health/nvml-event-source.js';
import type { HealthSignal, HealthTarget } from '../../agent/health/signals.js';
import { FakeClock, settle } from './fake-clock.js';

const gpu0: HealthTarget = { id: 'GPU-0', vendor: 'nvidia', index: 0, uuid: 'GPU-0000', pciBusId: '0000:00:07.0', deviceNodes: [] };
const gpu1: HealthTarget = { id: 'GPU-1', vendor: 'nvidia', index: 1, uuid: 'GPU-1111', pciBusId: '0000:00:08.0', deviceNodes: [] };
const npu: HealthTarget = { id: 'npu-0', vendor: 'hanguang', index: 0, uuid: null, pciBusId: '0000:00:09.0', deviceNodes: [] };

/** NVML as the source sees it: events wait on the fake clock like the real wait blocks in a worker. */
class FakeNvml implements NvmlEventBinding {
  initCalls: number[] = [];
  initFailure: Error | null = null;
  private waiter: { resolve: (e: readonly NvmlEvent[]) => void; reject: (e: Error) => void } | null = null;

  constructor(private readonly clock: FakeClock) {}

  init(): void {
    this.initCalls.push(this.clock.now());
    if (this.initFailure) throw this.initFailure;
  }

  waitEvents(timeoutMs: number): Promise<readonly NvmlEvent[]> {
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

async function setup(t: Test, initFailure: Error | null = null) {
  const clock = new FakeClock();
  const nvml = new FakeNvml(clock);
  nvml.initFailure = initFailure;
  const signals: HealthSignal[] = [];
  const source = new NvmlEventSource({ binding: nvml, devices: [gpu0, gpu1, npu], clock, waitTimeoutMs: 500, initialBackoffMs: 1000, maxBackoffMs: 4000 });
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
  t.ok(nvml.waiting);
  nvml.deliver({ index: 0, uuid: 'GPU-0000', type: 'xid', data: 79 });
  await settle(2);
  t.same(signals, [{ type: 'event', deviceId: 'GPU-0', event: { kind: 'xid', xid: 79 }, source: 'nvml' }]);
  t.ok(nvml.waiting, 'and it waits for the next one');
});

t.test('ECC events, UUID and index matching, and events nobody can place', async (t) => {
  const { nvml, signals } = await setup(t);
  nvml.deliver(
    { index: 1, uuid: 'gpu-1111', type: 'ecc_double', data: 0 },
    { index: 0, uuid: 'GPU-0000', type: 'ecc_single', data: 0 },
    { index: 1, uuid: null, type: 'xid', data: 62 },
    { index: 0, uuid: '', type: 'xid', data: 31 },
    { index: 0, uuid: 'GPU-9999', type: 'xid', data: 79 },
    { index: 7, uuid: null, type: 'xid', data: 79 },
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

t.test('NVML failing to initialise makes every NVIDIA device unhealthy until it answers, retrying with backoff', async (t) => {
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
    nvml.initCalls.map((c) => c - t0),
    [0, 1000, 3000, 7000, 11000, 15000, 19000],
    'backoff doubles up to its cap',
  );
  t.equal(signals.length, 2, 'still lost: not raised again');
  nvml.initFailure = null;
  clock.advance(4000);
  await settle();
  t.equal(source.available, true);
  t.same(signals.slice(2), [nvmlBack('GPU-0'), nvmlBack('GPU-1')]);
  nvml.deliver({ index: 0, uuid: 'GPU-0000', type: 'xid', data: 48 });
  await settle(2);
  t.match(signals.at(-1), { type: 'event', deviceId: 'GPU-0', event: { xid: 48 } });
});

t.test('one failed wait re-initialises quietly; only a failed re-initialisation is a lost NVML', async (t) => {
  const { clock, nvml, signals } = await setup(t);
  nvml.failWait(new Error('NVML_ERROR_UNKNOWN'));
  await settle();
  clock.advance(1000);
  await settle();
  t.equal(nvml.initCalls.length, 2, 're-initialised after the backoff');
  t.same(signals, [], 'no condition for a single hiccup');
  t.ok(nvml.waiting, 'events flow again');
  nvml.initFailure = new Error('NVML_ERROR_GPU_IS_LOST');
  nvml.failWait(new Error('NVML_ERROR_GPU_IS_LOST'));
  await settle();
  clock.advance(2000);
  await settle();
  t.match(signals, [nvmlLost('GPU-0'), nvmlLost('GPU-1')]);
  t.equal(signals.length, 2);
});

t.test('stop ends the loop, leaves no timer and emits nothing more', async (t) => {
  const { clock, nvml, source, signals } = await setup(t);
  const stopping = source.stop();
  clock.advance(500);
  await stopping;
  t.equal(clock.pendingTimers, 0);
  t.equal(nvml.waiting, false);
  nvml.initFailure = new Error('gone');
  clock.advance(60_000);
  await settle();
  t.same(signals, []);
  t.equal(nvml.initCalls.length, 1);
});

t.test('stop during the backoff wait returns at once', async (t) => {
  const { clock, source, nvml } = await setup(t, new Error('no driver'));
  await source.stop();
  t.equal(clock.pendingTimers, 0);
  clock.advance(60_000);
  await settle();
  t.equal(nvml.initCalls.length, 1);
});
