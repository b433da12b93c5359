import type { Logger } from '../log.js';

/** One capability of the daemon (API server, rescanner, device plugin, ...), started and stopped as a unit. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts services in order and stops them in reverse, so nothing is torn down
 * while something started after it still uses it. A failed start stops what
 * had already started before the error is passed on.
 */
export class ServiceGroup {
  private readonly started: Service[] = [];

  constructor(private readonly log: Logger) {}

  async start(services: readonly Service[]): Promise<void> {
    for (const s of services) {
      try {
        await s.start();
      } catch (err) {
        this.log.error({ service: s.name, err }, 'service failed to start');
        await this.stop();
        throw err;
      }
      this.started.push(s);
      this.log.debug({ service: s.name }, 'service started');
    }
  }

  async stop(): Promise<void> {
    while (this.started.length > 0) {
      const s = this.started.pop()!;
      try {
        await s.stop();
      } catch (err) {
        this.log.warn({ service: s.name, err }, 'service did not stop cleanly');
      }
    }
  }
}
