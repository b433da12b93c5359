/**
 * Listens to NVML's event set (Xid, ECC) and turns each event into a signal
 * the moment NVML hands it over. The source owns an NVML session of its own,
 * so its long waits never queue behind discovery or telemetry queries. When
 * NVML cannot be opened, every NVIDIA device gets the `nvml-unavailable`
 * condition until a new session opens; reopening backs off exponentially.
 */
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { sleep, systemClock, type Clock } from './clock.js';
import type { DeviceEvent, HealthSource, HealthTarget, SignalSink } from './signals.js';

export interface NvmlEvent {
  index: number | null;
  uuid: string | null;
  type: string;
  /** The Xid number for `xid` events. */
  data: number;
}

/** The part of an NVML session this source uses (the binding's `NvmlSession` fits). */
export interface NvmlEventSession {
  /** Waits up to `timeoutMs` off the event loop; resolves with the events seen (often none). */
  waitEvents(timeoutMs: number): Promise<readonly NvmlEvent[]>;
  shutdown(): Promise<void>;
}

export interface NvmlEventSourceOptions {
  /** Opens a fresh session, e.g. `() => binding.open(libraryPath)`; rejects when NVML cannot be used. */
  openSession: () => Promise<NvmlEventSession>;
  devices: readonly HealthTarget[];
  /** One wait's length; also bounds how long `stop` takes. */
  waitTimeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: Clock;
  log?: Logger;
}

/**
 * NVML hands an event over the moment it arrives whatever the wait's length;
 * the length only sets how often an idle wait is renewed and how long `stop`
 * may take, and the binding allows no more than a second.
 */
const DEFAULT_WAIT_MS = 1000;

export class NvmlEventSource implements HealthSource {
  readonly name = 'nvml-events';
  private readonly targets: HealthTarget[];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private emit: SignalSink | null = null;
  private loop: Promise<void> | null = null;
  private session: NvmlEventSession | null = null;
  private lost = false;
  private unsupported = false;

  constructor(private readonly opts: NvmlEventSourceOptions) {
    this.targets = opts.devices.filter((d) => d.vendor === 'nvidia');
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
  }

  /** True while a session is open and armed; decides whether the kernel log fallback is needed. */
  get available(): boolean {
    return this.session !== null;
  }

  /** NVML answers but offers no events here (some vGPU guests): the kernel log must stand in. */
  get eventsUnsupported(): boolean {
    return this.unsupported;
  }

  /** Resolves after the first attempt to open NVML; a failure there is reported as a condition, not thrown. */
  async start(emit: SignalSink): Promise<void> {
    if (this.emit !== null || this.abort.signal.aborted) return;
    this.emit = emit;
    await this.connect();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.disconnect();
    this.emit = null;
  }

  private async run(): Promise<void> {
    const first = this.opts.initialBackoffMs ?? 1000;
    const max = this.opts.maxBackoffMs ?? 60_000;
    let backoff = first;
    while (!this.abort.signal.aborted && !this.unsupported) {
      if (this.session === null) {
        await sleep(this.clock, backoff, this.abort.signal);
        backoff = Math.min(backoff * 2, max);
        if (this.abort.signal.aborted || !(await this.connect())) continue;
      }
      const session = this.session;
      if (session === null) continue;
      try {
        this.dispatchAll(await session.waitEvents(this.opts.waitTimeoutMs ?? DEFAULT_WAIT_MS));
        backoff = first;
      } catch (err) {
        // One failed wait is not proof NVML is gone: reopen, and only that failing raises the condition.
        this.log.warn({ err: describeError(err) }, 'NVML event wait failed; reopening NVML');
        await this.disconnect();
      }
    }
  }

  /** Opens a session and arms its event set (the first wait registers the devices). */
  private async connect(): Promise<boolean> {
    let session: NvmlEventSession | null = null;
    try {
      session = await this.opts.openSession();
      const early = await session.waitEvents(0);
      this.session = session;
      this.setLost(null);
      this.dispatchAll(early);
      return true;
    } catch (err) {
      await session?.shutdown().catch(() => undefined);
      if (session !== null && isUnsupported(err)) {
        // NVML itself works, so its devices are fine; there is just nothing to listen to.
        this.unsupported = true;
        this.setLost(null);
        this.log.warn({ err: describeError(err) }, 'NVML has no event support here; Xids must come from the kernel log');
        return false;
      }
      this.setLost(`NVML is not answering: ${describeError(err)}`);
      return false;
    }
  }

  private async disconnect(): Promise<void> {
    const s = this.session;
    this.session = null;
    await s?.shutdown().catch((err: unknown) => this.log.debug({ err: describeError(err) }, 'NVML session shutdown failed'));
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

  private dispatchAll(events: readonly NvmlEvent[]): void {
    if (this.abort.signal.aborted || !Array.isArray(events)) return;
    for (const e of events) this.dispatch(e);
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
    return e.index === null ? undefined : this.targets.find((t) => t.index === e.index);
  }
}

/** nvmlReturn_t NOT_SUPPORTED and FUNCTION_NOT_FOUND: a permanent "no events here", not a failure. */
const NO_EVENT_SUPPORT = new Set([3, 13]);

function isUnsupported(err: unknown): boolean {
  const code = (err as { details?: { nvmlCode?: unknown } } | null)?.details?.nvmlCode;
  return typeof code === 'number' && NO_EVENT_SUPPORT.has(code);
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
