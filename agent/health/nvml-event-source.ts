/**
 * Listens to NVML's event set (Xid, ECC) and turns each event into a signal
 * the moment NVML hands it over. When NVML itself stops answering, every
 * NVIDIA device gets the `nvml-unavailable` condition until NVML initialises
 * again; re-initialisation is retried with exponential backoff.
 */
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { sleep, systemClock, type Clock } from './clock.js';
import type { DeviceEvent, HealthSource, HealthTarget, SignalSink } from './signals.js';

export interface NvmlEvent {
  index: number;
  uuid: string | null;
  type: string;
  /** The Xid number for `xid` events. */
  data: number;
}

/** The part of the NVML binding this source uses. */
export interface NvmlEventBinding {
  /** (Re)initialises NVML and its event set; throws or rejects when NVML cannot be used. */
  init(): unknown;
  /** Waits up to `timeoutMs` off the event loop; resolves with the events seen (often none). */
  waitEvents(timeoutMs: number): Promise<readonly NvmlEvent[]>;
}

export interface NvmlEventSourceOptions {
  binding: NvmlEventBinding;
  devices: readonly HealthTarget[];
  /** Bounds how long `stop` waits for the loop. */
  waitTimeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: Clock;
  log?: Logger;
}

export class NvmlEventSource implements HealthSource {
  readonly name = 'nvml-events';
  private readonly targets: HealthTarget[];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private emit: SignalSink | null = null;
  private loop: Promise<void> | null = null;
  private ready = false;
  private lost = false;

  constructor(private readonly opts: NvmlEventSourceOptions) {
    this.targets = opts.devices.filter((d) => d.vendor === 'nvidia');
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
  }

  /** True while NVML is initialised and events flow; decides whether the kernel log fallback is needed. */
  get available(): boolean {
    return this.ready;
  }

  /** Resolves after the first initialisation attempt; a failure there is reported as a condition, not thrown. */
  async start(emit: SignalSink): Promise<void> {
    if (this.emit !== null || this.abort.signal.aborted) return;
    this.emit = emit;
    await this.init();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.emit = null;
  }

  private async run(): Promise<void> {
    const first = this.opts.initialBackoffMs ?? 1000;
    const max = this.opts.maxBackoffMs ?? 60_000;
    let backoff = first;
    while (!this.abort.signal.aborted) {
      if (!this.ready) {
        await sleep(this.clock, backoff, this.abort.signal);
        backoff = Math.min(backoff * 2, max);
        if (this.abort.signal.aborted || !(await this.init())) continue;
      }
      let events: readonly NvmlEvent[];
      try {
        events = await this.opts.binding.waitEvents(this.opts.waitTimeoutMs ?? 500);
      } catch (err) {
        // One failed wait is not proof NVML is gone: re-initialise, and only that failing raises the condition.
        this.ready = false;
        this.log.warn({ err: describeError(err) }, 'NVML event wait failed; re-initialising');
        continue;
      }
      backoff = first;
      if (!this.abort.signal.aborted && Array.isArray(events)) for (const e of events) this.dispatch(e);
    }
  }

  private async init(): Promise<boolean> {
    try {
      await this.opts.binding.init();
      this.ready = true;
      this.setLost(null);
      return true;
    } catch (err) {
      this.ready = false;
      this.setLost(`NVML is not answering: ${describeError(err)}`);
      return false;
    }
  }

  private setLost(detail: string | null): void {
    const emit = this.emit;
    if (emit === null || this.abort.signal.aborted || (detail !== null) === this.lost) return;
    this.lost = detail !== null;
    if (detail !== null) this.log.error({ detail }, 'NVML lost: every NVIDIA device is unhealthy until it answers again');
    else this.log.info('NVML answers again');
    for (const t of this.targets) {
      emit(
        detail === null
          ? { type: 'condition', deviceId: t.id, condition: 'nvml-unavailable', raised: false }
          : { type: 'condition', deviceId: t.id, condition: 'nvml-unavailable', raised: true, detail },
      );
    }
  }

  private dispatch(e: NvmlEvent): void {
    if (this.emit === null) return;
    const event = toDeviceEvent(e);
    const target = event === null ? undefined : this.targetOf(e);
    if (event === null || target === undefined) {
      this.log.debug({ event: e }, 'NVML event not understood or for an unknown device');
      return;
    }
    this.emit({ type: 'event', deviceId: target.id, event, source: 'nvml' });
  }

  /** By UUID, which is stable; by index only when NVML gave no UUID. */
  private targetOf(e: NvmlEvent): HealthTarget | undefined {
    if (typeof e.uuid === 'string' && e.uuid !== '') {
      const uuid = e.uuid.toLowerCase();
      return this.targets.find((t) => t.uuid?.toLowerCase() === uuid);
    }
    return this.targets.find((t) => t.index === e.index);
  }
}

function toDeviceEvent(e: NvmlEvent): DeviceEvent | null {
  if (e === null || typeof e !== 'object') return null;
  switch (e.type) {
    case 'xid':
      return Number.isInteger(e.data) && e.data >= 0 ? { kind: 'xid', xid: e.data } : null;
    case 'ecc_double':
      return { kind: 'ecc_double' };
    case 'ecc_single':
      return { kind: 'ecc_single' };
    default:
      return null;
  }
}
