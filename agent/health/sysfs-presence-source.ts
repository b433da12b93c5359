/**
 * Polls what a lost or broken device leaves behind on the host: its PCI
 * function leaving /sys, its driver unbinding or unloading, its device nodes
 * vanishing, its temperature. Emits only changes.
 */
import path from 'node:path';
import { describeError, isAccelError, ErrorCode } from '../errors.js';
import type { HostRoot } from '../host/host-root.js';
import { LinkCache } from '../host/link-cache.js';
import { silentLogger, type Logger } from '../log.js';
import type { VendorName } from '../model/device.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { DEFAULT_HEALTH_OPTIONS } from './options.js';
import { judgePresence, parseMillidegrees, type PresenceObservation, type PresenceRules } from './presence-rules.js';
import type { Condition, HealthSource, HealthTarget, SignalSink } from './signals.js';

export interface SysfsPresenceOptions {
  host: HostRoot;
  devices: readonly HealthTarget[];
  pollIntervalMs?: number;
  clock?: Clock;
  /** Driver names a device may be bound to, per vendor; a vendor not listed accepts any driver. */
  expectedDrivers?: Partial<Record<VendorName, readonly string[] | null>>;
  /** A host path whose absence means the vendor's driver is not loaded. */
  driverPaths?: Partial<Record<VendorName, string>>;
  temperatureLimitC?: number | null;
  temperatureHysteresisC?: number;
  /**
   * Reads a device's temperature where sysfs has none (NVIDIA GPUs report it
   * through NVML); when absent, or when it answers null, hwmon is read.
   */
  readTemperature?: (target: HealthTarget) => Promise<number | null>;
  log?: Logger;
}

export const DEFAULT_EXPECTED_DRIVERS: Readonly<Partial<Record<VendorName, readonly string[] | null>>> = Object.freeze({
  nvidia: ['nvidia'],
});
export const DEFAULT_DRIVER_PATHS: Readonly<Partial<Record<VendorName, string>>> = Object.freeze({
  nvidia: '/proc/driver/nvidia',
});

const SYSFS = ['/sys'];
const PCI_DRIVERS = '/sys/bus/pci/drivers';
/** A driver's directory name; anything else in configuration is never turned into a path. */
const DRIVER_NAME = /^(?!\.\.?$)[\w.-]+$/;

interface BusEntry {
  /** The function's directory under /sys/devices, or null when it has none. */
  dir: string | null;
  problem: string | null;
}

/** What one round learns once for all devices. */
interface RoundFacts {
  driverPaths: Map<VendorName, { path: string; present: boolean }>;
  /** Per expected driver, the PCI functions its sysfs directory lists as bound. */
  bound: Map<string, ReadonlySet<string>>;
}

export class SysfsPresenceSource implements HealthSource {
  readonly name = 'sysfs-presence';
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly interval: number;
  /** Bus entries and driver links of functions their driver does not list, read every round, rarely change. */
  private readonly links: LinkCache;
  /** Per vendor present, its rules and driver path: options never change after construction. */
  private readonly rulesByVendor: ReadonlyMap<VendorName, PresenceRules>;
  private readonly driverPathByVendor: ReadonlyMap<VendorName, string>;
  /** Per device, the conditions this source has raised and their details. */
  private readonly raised = new Map<string, Map<Condition, string>>();
  private readonly lastError = new Map<string, string>();
  private emit: SignalSink | null = null;
  private timer: TimerHandle | null = null;
  /** Rounds run one after another, so no condition is raised twice by racing rounds. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SysfsPresenceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.interval = opts.pollIntervalMs ?? DEFAULT_HEALTH_OPTIONS.pollIntervalMs;
    this.links = new LinkCache(opts.host, { within: SYSFS });
    const vendors = new Set(opts.devices.map((d) => d.vendor));
    const expected = { ...DEFAULT_EXPECTED_DRIVERS, ...opts.expectedDrivers };
    const paths = { ...DEFAULT_DRIVER_PATHS, ...opts.driverPaths };
    const rules = (vendor: VendorName): PresenceRules => ({
      expectedDrivers: expected[vendor] ?? null,
      temperatureLimitC: opts.temperatureLimitC ?? null,
      temperatureHysteresisC: opts.temperatureHysteresisC ?? DEFAULT_HEALTH_OPTIONS.temperatureHysteresisC,
    });
    this.rulesByVendor = new Map([...vendors].map((v) => [v, rules(v)]));
    this.driverPathByVendor = new Map([...vendors].flatMap((v) => (paths[v] === undefined ? [] : [[v, paths[v]] as const])));
  }

  /** Checks once before returning, so the first picture of the host is known when start resolves. */
  async start(emit: SignalSink): Promise<void> {
    if (this.emit !== null) return;
    this.emit = emit;
    await this.tick();
  }

  async stop(): Promise<void> {
    this.emit = null;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    await this.queue;
  }

  /** One round of checks over every device; emits what changed. */
  pollOnce(): Promise<void> {
    const run = this.queue.then(async () => {
      const facts: RoundFacts = { driverPaths: this.checkDriverPaths(), bound: this.boundFunctions() };
      const observed = await Promise.all(this.opts.devices.map((d) => this.tryObserve(d, facts)));
      // Judged in device order, whichever look finished first.
      this.opts.devices.forEach((d, i) => {
        const obs = observed[i];
        if (obs !== null) this.judge(d, obs);
      });
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async tick(): Promise<void> {
    this.timer = null;
    try {
      await this.pollOnce();
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'presence round failed');
    }
    // Scheduled after the round ends, so a slow host never gets overlapping rounds.
    if (this.emit !== null) this.timer = this.clock.setTimer(() => void this.tick(), this.interval);
  }

  private checkDriverPaths(): Map<VendorName, { path: string; present: boolean }> {
    const out = new Map<VendorName, { path: string; present: boolean }>();
    // A /proc entry: the kernel answers at once (see HostRoot.readLinkSync).
    for (const [vendor, p] of this.driverPathByVendor) out.set(vendor, { path: p, present: this.opts.host.existsSync(p) });
    return out;
  }

  /**
   * The kernel lists a function in its driver's sysfs directory exactly while
   * it is bound there, so one listing per driver vouches for every device
   * bound where it should be; only the others have their own bus entry and
   * `driver` link read. A listing that cannot be read vouches for nobody.
   */
  private boundFunctions(): Map<string, ReadonlySet<string>> {
    const out = new Map<string, ReadonlySet<string>>();
    for (const rules of this.rulesByVendor.values()) {
      for (const driver of rules.expectedDrivers ?? []) {
        if (out.has(driver) || !DRIVER_NAME.test(driver)) continue;
        let names: string[] = [];
        try {
          names = this.opts.host.listSync(`${PCI_DRIVERS}/${driver}`);
        } catch (err) {
          this.log.debug({ driver, err: describeError(err) }, 'driver directory unreadable; reading each device link instead');
        }
        out.set(driver, new Set(names));
      }
    }
    return out;
  }

  /** Null when the look failed: not knowing is not evidence either way, so every condition stays as it was. */
  private async tryObserve(target: HealthTarget, facts: RoundFacts): Promise<PresenceObservation | null> {
    try {
      const obs = await this.observe(target, facts);
      this.lastError.delete(target.id);
      return obs;
    } catch (err) {
      const msg = describeError(err);
      if (this.lastError.get(target.id) !== msg) this.log.warn({ device: target.id, err: msg }, 'presence check failed');
      this.lastError.set(target.id, msg);
      return null;
    }
  }

  private judge(target: HealthTarget, obs: PresenceObservation): void {
    const held = this.raised.get(target.id) ?? new Map<Condition, string>();
    const verdicts = judgePresence(target, obs, held.has('over-temperature'), this.rules(target.vendor));
    for (const [condition, detail] of Object.entries(verdicts) as [Condition, string | null][]) {
      const emit = this.emit;
      if (emit === null) return;
      if (detail !== null && !held.has(condition)) {
        held.set(condition, detail);
        emit({ type: 'condition', deviceId: target.id, condition, raised: true, detail });
      } else if (detail === null && held.has(condition)) {
        held.delete(condition);
        emit({ type: 'condition', deviceId: target.id, condition, raised: false });
      }
    }
    this.raised.set(target.id, held);
  }

  private async observe(target: HealthTarget, facts: RoundFacts): Promise<PresenceObservation> {
    const host = this.opts.host;
    const listed = this.listedDriver(target, facts);
    // The kernel unbinds a function before it removes it from the bus, so one
    // its driver lists is there: its bus entry is read only if its directory is needed.
    const entry = listed === undefined ? await this.busEntry(target) : null;
    const missingNodes: string[] = [];
    for (const node of target.deviceNodes) {
      if (!host.existsSync(node)) missingNodes.push(node);
    }
    let driver = listed ?? null;
    if (entry?.dir != null) driver = await this.boundDriver(entry.dir);
    return {
      pciProblem: entry?.problem ?? null,
      driver,
      missingNodes,
      driverPath: facts.driverPaths.get(target.vendor) ?? null,
      temperatureC: this.opts.temperatureLimitC == null ? null : await this.temperature(target, entry),
    };
  }

  /** Where the function's bus entry leads, or what is wrong with it. */
  private async busEntry(target: HealthTarget): Promise<BusEntry> {
    try {
      const dir = await this.links.resolve(`/sys/bus/pci/devices/${target.pciBusId}`);
      return { dir, problem: dir === null ? 'is gone from /sys/bus/pci/devices' : null };
    } catch (err) {
      if (!isAccelError(err, ErrorCode.SYMLINK_ESCAPE)) throw err;
      return { dir: null, problem: 'has a sysfs entry pointing outside /sys (refused)' };
    }
  }

  private listedDriver(target: HealthTarget, facts: RoundFacts): string | undefined {
    return this.rules(target.vendor).expectedDrivers?.find((driver) => facts.bound.get(driver)?.has(target.pciBusId));
  }

  private async boundDriver(pciDir: string): Promise<string | null> {
    try {
      const driver = await this.links.resolve(`${pciDir}/driver`);
      return driver === null ? null : path.posix.basename(driver);
    } catch (err) {
      if (isAccelError(err, ErrorCode.SYMLINK_ESCAPE)) return null;
      throw err;
    }
  }

  /** `entry` is null where the bus entry was not read: it is read here only if hwmon is needed. */
  private async temperature(target: HealthTarget, entry: BusEntry | null): Promise<number | null> {
    const fromVendor = this.opts.readTemperature ? await this.opts.readTemperature(target) : null;
    if (fromVendor !== null) return fromVendor;
    const pciDir = (entry ?? (await this.busEntry(target))).dir;
    if (pciDir === null) return null;
    const host = this.opts.host;
    for (const name of await host.list(`${pciDir}/hwmon`)) {
      if (!/^hwmon\d{1,5}$/.test(name)) continue;
      let file: string | null;
      try {
        file = await host.resolveWithin(`${pciDir}/hwmon/${name}/temp1_input`, SYSFS);
      } catch (err) {
        if (isAccelError(err, ErrorCode.SYMLINK_ESCAPE)) continue;
        throw err;
      }
      const text = file === null ? null : await host.readTextIfExists(file);
      const t = text === null ? null : parseMillidegrees(text);
      if (t !== null) return t;
    }
    return null;
  }

  private rules(vendor: VendorName): PresenceRules {
    return this.rulesByVendor.get(vendor)!;
  }
}
