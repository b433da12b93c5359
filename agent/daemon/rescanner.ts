import { describeError } from '../errors.js';
import type { Discoverer } from '../discovery/discoverer.js';
import type { Logger } from '../log.js';
import type { DeviceRegistry } from './device-registry.js';
import type { Service } from './service.js';

/**
 * Rescans the host on an interval so hot-plugged or removed devices reach the
 * registry (and from there the API, kubelet and CDI). Scans never overlap; a
 * failed scan keeps the last good inventory.
 */
export class Rescanner implements Service {
  readonly name = 'rescan';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly discoverer: Discoverer,
    private readonly registry: DeviceRegistry,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** One scan now; resolves when the registry has the result. */
  scanNow(): Promise<void> {
    this.running ??= this.discoverer
      .scan(this.abort.signal)
      .then((inv) => {
        const events = this.registry.update(inv);
        if (events.length > 0) this.log.info({ changes: events.map((e) => `${e.type}:${e.device.id}`) }, 'inventory changed');
      })
      .catch((err) => this.log.error({ reason: describeError(err) }, 'rescan failed; keeping the last inventory'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async start(): Promise<void> {
    const tick = () => {
      this.timer = setTimeout(() => void this.scanNow().then(() => this.timer && tick()), this.intervalMs);
    };
    tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.running;
  }
}
