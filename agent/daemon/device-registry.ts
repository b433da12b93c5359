/**
 * The daemon's in-memory source of truth for devices. Discovery feeds it whole
 * inventories, the health monitor feeds it verdicts; the API, the device
 * plugin, health and telemetry read it and subscribe to its changes.
 *
 * Everything handed out is frozen, so no reader can change what the others see.
 */
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { Device, DriverInfo, Health, HostFacts, Inventory } from '../model/device.js';
import { applyVerdict, type HealthVerdict } from './health-verdict.js';
import { HEALTH_FIELDS, diffDevices, isHealthOnly, type DeviceField } from './inventory-diff.js';

export type RegistryEvent =
  | { type: 'added'; revision: number; device: Device }
  | { type: 'removed'; revision: number; device: Device }
  /** Only the health fields changed. */
  | { type: 'health'; revision: number; device: Device; previous: Device }
  /** Fields other than health changed; `fields` lists them (health fields excluded). */
  | { type: 'updated'; revision: number; device: Device; previous: Device; fields: DeviceField[] };

export type RegistryEventType = RegistryEvent['type'];
export type RegistryListener = (event: RegistryEvent) => void;

export interface DeviceRegistryOptions {
  /** Where listener failures are reported. */
  logger?: Logger;
  /** The inventory to start from; without one the registry is empty until the first update(). */
  initial?: Inventory;
}

/** Events carry everything but the revision until they are numbered at emission. */
type Unnumbered<E> = E extends RegistryEvent ? Omit<E, 'revision'> : never;
type PendingEvent = Unnumbered<RegistryEvent>;

export class DeviceRegistry {
  readonly #logger: Logger;
  readonly #listeners = new Set<RegistryListener>();
  /** What discovery last reported, before health verdicts are applied. */
  #discovered = new Map<string, Device>();
  /** What readers see: discovery combined with the monitor's verdicts. */
  #devices = new Map<string, Device>();
  readonly #verdicts = new Map<string, HealthVerdict>();
  #inventory: Omit<Inventory, 'devices'> | null = null;
  #revision = 0;
  #queue: RegistryEvent[] = [];
  #emitting = false;

  constructor(options: DeviceRegistryOptions = {}) {
    this.#logger = options.logger ?? silentLogger;
    if (options.initial !== undefined) this.update(options.initial);
  }

  /**
   * Replace the inventory with a fresh scan and emit one event per difference.
   * Health verdicts from setHealth() survive rescans for devices that remain.
   * Throws (and changes nothing) if the inventory has duplicate or empty ids.
   */
  update(inventory: Inventory): RegistryEvent[] {
    const scanned = inventory.devices.map((d) => deepFreeze(structuredClone(d)));
    const previous = [...this.#devices.values()];
    const effective = scanned.map((d) => this.#effective(d));
    const diff = diffDevices(previous, effective);

    const discovered = new Map(scanned.map((d) => [d.id, d]));
    for (const id of this.#verdicts.keys()) {
      // A device that left and comes back is judged afresh.
      if (!discovered.has(id)) this.#verdicts.delete(id);
    }
    this.#discovered = discovered;
    this.#devices = new Map(effective.map((d) => [d.id, d]));
    const { host, drivers, labels, warnings } = inventory;
    this.#inventory = deepFreeze(structuredClone({ host, drivers, labels, warnings }));

    const pending: PendingEvent[] = [];
    for (const device of diff.removed) pending.push({ type: 'removed', device });
    for (const device of diff.added) pending.push({ type: 'added', device });
    for (const { previous: before, current, fields } of diff.changed) {
      if (fields.some((f) => HEALTH_FIELDS.includes(f))) {
        pending.push({ type: 'health', device: current, previous: before });
      }
      if (!isHealthOnly(fields)) {
        const other = fields.filter((f) => !HEALTH_FIELDS.includes(f));
        pending.push({ type: 'updated', device: current, previous: before, fields: other });
      }
    }
    return this.#emit(pending);
  }

  /**
   * Record the health monitor's verdict for a device. Returns the event it
   * caused, or null when the id is unknown (the device may have just left) or
   * nothing changed.
   */
  setHealth(id: string, health: Health, reason: string): RegistryEvent | null {
    const discovered = this.#discovered.get(id);
    const previous = this.#devices.get(id);
    if (discovered === undefined || previous === undefined) return null;
    this.#verdicts.set(id, { health, reason: health === 'Healthy' ? '' : reason });
    const current = this.#effective(discovered);
    if (current.health === previous.health && current.healthReason === previous.healthReason) return null;
    this.#devices.set(id, current);
    return this.#emit([{ type: 'health', device: current, previous }])[0] ?? null;
  }

  /** Current devices, in the order discovery reported them. */
  list(): Device[] {
    return [...this.#devices.values()];
  }

  get(id: string): Device | undefined {
    return this.#devices.get(id);
  }

  /** Null until the first inventory arrives. */
  host(): HostFacts | null {
    return this.#inventory?.host ?? null;
  }

  drivers(): DriverInfo[] {
    return [...(this.#inventory?.drivers ?? [])];
  }

  labels(): Record<string, string> {
    return { ...(this.#inventory?.labels ?? {}) };
  }

  warnings(): string[] {
    return [...(this.#inventory?.warnings ?? [])];
  }

  hasInventory(): boolean {
    return this.#inventory !== null;
  }

  /** Grows by one per emitted event; 0 before the first. */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Listeners are called synchronously, in revision order, after the registry
   * already reflects the change. A throwing listener is logged and skipped.
   */
  subscribe(listener: RegistryListener): () => void {
    // Wrapping gives each subscription its own identity, so subscribing one
    // function twice and unsubscribing once leaves the other subscription intact.
    const entry: RegistryListener = (event) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  #effective(discovered: Device): Device {
    const merged = applyVerdict(discovered, this.#verdicts.get(discovered.id));
    return merged === discovered ? discovered : deepFreeze(merged);
  }

  #emit(pending: PendingEvent[]): RegistryEvent[] {
    const events = pending.map((e) => deepFreeze({ ...e, revision: ++this.#revision }) as RegistryEvent);
    this.#queue.push(...events);
    // A listener that changes the registry queues its events behind the ones
    // being delivered, so every listener sees revisions in increasing order.
    if (this.#emitting) return events;
    this.#emitting = true;
    try {
      for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
        for (const listener of [...this.#listeners]) {
          try {
            listener(event);
          } catch (err) {
            this.#logger.warn({ event: event.type, revision: event.revision, err: describeError(err) }, 'device registry listener failed');
          }
        }
      }
    } finally {
      this.#emitting = false;
    }
    return events;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
