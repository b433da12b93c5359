/**
 * Runs one health state machine per device, feeds it what the sources report
 * and the probe answers, and publishes every change. Signals are applied the
 * moment they arrive: an Xid becomes a transition in the same tick.
 */
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { DeviceHealth, formatDuration, type DeviceHealthStatus, type HealthChange, type HealthInput } from './device-health.js';
import { resolveHealthOptions, type HealthOptions } from './options.js';
import type { HealthSignal, HealthSource, HealthTarget, Probe, ProbeResult, SignalSink } from './signals.js';
import { XidPolicy } from './xid-policy.js';

export interface HealthMonitorOptions {
  devices: readonly Pick<HealthTarget, 'id'>[];
  sources?: readonly HealthSource[];
  probe: Probe;
  /**
   * Receives every change; wire it to the device registry
   * (`setHealth(change.id, change.to, change.reason)`), the device plugin,
   * logs and telemetry. Must not throw (a throw is logged and ignored).
   */
  onChange: (change: HealthChange) => void;
  options?: Partial<HealthOptions>;
  clock?: Clock;
  log?: Logger;
}

export interface StartReport {
  started: string[];
  failed: { source: string; error: string }[];
}

interface Watched {
  machine: DeviceHealth;
  timer: TimerHandle | null;
  probing: boolean;
}

export class HealthMonitor {
  /** Hand this to anything else that has evidence about devices; sources get it on start. */
  readonly signal: SignalSink = (s) => this.handle(s);
  private readonly opts: HealthOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly policy: XidPolicy;
  private readonly watched = new Map<string, Watched>();
  private readonly inflight = new Set<Promise<void>>();
  /** Ends each running probe at once; stop uses them so a hung probe cannot hold shutdown. */
  private readonly probeCancels = new Set<() => void>();
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(private config: HealthMonitorOptions) {
    this.opts = resolveHealthOptions(config.options);
    this.clock = config.clock ?? systemClock;
    this.log = config.log ?? silentLogger;
    this.policy = new XidPolicy(this.opts);
    const now = this.clock.now();
    for (const d of config.devices) {
      this.watched.set(d.id, { machine: new DeviceHealth(d.id, this.opts, now), timer: null, probing: false });
    }
  }

  /** Starts every source; one that cannot start is reported, the others run regardless. */
  async start(): Promise<StartReport> {
    if (this.state !== 'new') return { started: [], failed: [] };
    this.state = 'running';
    return this.startSources(this.config.sources ?? []);
  }

  private async startSources(sources: readonly HealthSource[]): Promise<StartReport> {
    const report: StartReport = { started: [], failed: [] };
    const results = await Promise.allSettled(sources.map((s) => s.start(this.signal)));
    results.forEach((r, i) => {
      const name = sources[i]!.name;
      if (r.status === 'fulfilled') {
        report.started.push(name);
      } else {
        report.failed.push({ source: name, error: describeError(r.reason) });
        this.log.error({ source: name, err: describeError(r.reason) }, 'health source failed to start');
      }
    });
    return report;
  }

  /**
   * Follows a changed device set (hot-plug, rescans) without forgetting what
   * it knows: devices that remain keep their state machines, quiet periods and
   * flap history; new devices start Healthy; removed ones are dropped. The
   * sources and probe, which are built for a device list, are swapped.
   */
  async reconfigure(next: Pick<HealthMonitorOptions, 'devices' | 'sources' | 'probe'>): Promise<StartReport> {
    const previous = this.config.sources ?? [];
    const wasRunning = this.state === 'running';
    if (wasRunning) await this.stopSources(previous);
    this.config = { ...this.config, ...next };
    const keep = new Set(next.devices.map((d) => d.id));
    for (const [id, w] of this.watched) {
      if (keep.has(id)) continue;
      this.cancelTimer(w);
      this.watched.delete(id);
    }
    const now = this.clock.now();
    for (const d of next.devices) {
      if (!this.watched.has(d.id)) this.watched.set(d.id, { machine: new DeviceHealth(d.id, this.opts, now), timer: null, probing: false });
    }
    if (!wasRunning) return { started: [], failed: [] };
    return this.startSources(next.sources ?? []);
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.stopSources(this.config.sources ?? []);
    for (const w of this.watched.values()) this.cancelTimer(w);
    for (const cancel of this.probeCancels) cancel();
    await Promise.allSettled([...this.inflight]);
  }

  private async stopSources(sources: readonly HealthSource[]): Promise<void> {
    await Promise.allSettled(
      sources.map((s) =>
        s.stop().catch((err: unknown) => this.log.warn({ source: s.name, err: describeError(err) }, 'health source did not stop cleanly')),
      ),
    );
  }

  status(): DeviceHealthStatus[] {
    return [...this.watched.values()].map((w) => w.machine.status());
  }

  private handle(signal: HealthSignal): void {
    if (this.state === 'stopped') return;
    const w = this.watched.get(signal.deviceId);
    if (w === undefined) {
      this.log.debug({ device: signal.deviceId }, 'health signal for an unwatched device');
      return;
    }
    const at = this.clock.now();
    if (signal.type === 'event') {
      const c = this.policy.classify(signal.event);
      if (c.verdict === 'ignored') {
        this.log.debug({ device: signal.deviceId, source: signal.source, event: c.reason }, 'device event ignored by policy');
        return;
      }
      this.log.warn({ device: signal.deviceId, source: signal.source, event: c.reason }, 'critical device event');
      this.apply(w, { type: 'critical', at, reason: c.reason });
    } else if (signal.raised) {
      this.apply(w, { type: 'raise', at, condition: signal.condition, detail: signal.detail });
    } else {
      this.apply(w, { type: 'clear', at, condition: signal.condition });
    }
  }

  private apply(w: Watched, input: HealthInput): void {
    this.publish(w.machine.apply(input));
    this.schedule(w);
  }

  private publish(change: HealthChange | null): void {
    if (change === null) return;
    const fields = { device: change.id, from: change.from, to: change.to, reason: change.reason };
    if (change.to === 'Healthy') this.log.info(fields, 'device recovered');
    else this.log.warn(fields, change.from === 'Healthy' ? 'device unhealthy' : 'device still unhealthy');
    try {
      this.config.onChange(change);
    } catch (err) {
      this.log.error({ device: change.id, err: describeError(err) }, 'health change subscriber failed');
    }
  }

  /** Arms the device's timer for the moment recovery becomes possible. */
  private schedule(w: Watched, delayOverride?: number): void {
    this.cancelTimer(w);
    if (this.state !== 'running' || w.probing) return;
    const wake = w.machine.wakeAt();
    if (wake === null) return;
    const delay = delayOverride ?? Math.max(0, wake - this.clock.now());
    w.timer = this.clock.setTimer(() => {
      w.timer = null;
      this.wake(w);
    }, delay);
  }

  private wake(w: Watched): void {
    if (this.state !== 'running') return;
    const startedAt = this.clock.now();
    if (!w.machine.wantsProbe(startedAt)) return this.schedule(w);
    w.probing = true;
    const run = this.runProbe(w.machine.id).then((result) => {
      w.probing = false;
      if (this.state !== 'running') return;
      this.publish(w.machine.apply({ type: 'probe', at: this.clock.now(), startedAt, ok: result.ok, detail: result.detail }));
      if (!result.ok) this.log.info({ device: w.machine.id, detail: result.detail }, 'recovery probe failed');
      // Still waiting only on a probe means this one failed: try again later, not at once.
      this.schedule(w, w.machine.wantsProbe(this.clock.now()) ? this.opts.probeRetryMs : undefined);
    });
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
  }

  /** The probe's answer, or a failure when it throws, answers nonsense or takes too long. */
  private runProbe(id: string): Promise<ProbeResult> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: ProbeResult) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimer(timer);
        this.probeCancels.delete(cancel);
        resolve(r);
      };
      const cancel = () => finish({ ok: false, detail: 'monitor stopped' });
      this.probeCancels.add(cancel);
      const timer = this.clock.setTimer(
        () => finish({ ok: false, detail: `probe gave no answer within ${formatDuration(this.opts.probeTimeoutMs)}` }),
        this.opts.probeTimeoutMs,
      );
      Promise.resolve()
        .then(() => this.config.probe(id))
        .then(
          (r) => finish(r !== null && typeof r === 'object' && typeof r.ok === 'boolean' ? { ok: r.ok, detail: String(r.detail ?? '') } : { ok: false, detail: 'probe answered nonsense' }),
          (err: unknown) => finish({ ok: false, detail: `probe failed: ${describeError(err)}` }),
        );
    });
  }

  private cancelTimer(w: Watched): void {
    if (w.timer !== null) this.clock.clearTimer(w.timer);
    w.timer = null;
  }
}
