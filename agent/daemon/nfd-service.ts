import { describeError } from '../errors.js';
import { writeNodeFeatureFile } from '../discovery/nfd-writer.js';
import type { Logger } from '../log.js';
import { isDirectory } from '../fs/is-directory.js';
import { CoalescingRunner } from './coalescing-runner.js';
import type { DeviceRegistry } from './device-registry.js';
import type { Service } from './service.js';

export interface NfdLabelServiceOptions {
  /** nfd-worker's local feature directory (config `nfdDir`). */
  dir: string;
  registry: DeviceRegistry;
  logger: Logger;
}

/**
 * Keeps the NFD feature file in step with the registry's node labels. Labels
 * are derived from the devices (count, product, memory, kind), so a device
 * arriving, leaving or changing is when they can change; health changes
 * never alter them. Without NFD on the node (no directory) the service stays
 * idle rather than failing the agent. Nothing is written before the first
 * inventory: an empty file would wipe the node's labels over a failed scan.
 */
export class NfdLabelService implements Service {
  readonly name = 'nfd';
  private unsubscribe: (() => void) | undefined;
  private readonly runner: CoalescingRunner;

  constructor(private readonly options: NfdLabelServiceOptions) {
    const { dir, registry, logger } = options;
    this.runner = new CoalescingRunner(
      async () => {
        if (registry.hasInventory()) await writeNodeFeatureFile(registry.labels(), { dir, logger });
      },
      (err) => logger.error({ reason: describeError(err) }, 'NFD feature file not updated; nfd-worker keeps the previous labels'),
    );
  }

  async start(): Promise<void> {
    const { dir, registry, logger } = this.options;
    if (!(await isDirectory(dir))) {
      logger.info({ nfdDir: dir }, 'NFD feature directory does not exist; node labels are not published');
      return;
    }
    this.unsubscribe = registry.subscribe((e) => {
      if (e.type !== 'health') void this.runner.request();
    });
    await this.runner.request();
  }

  /** Resolves once every scheduled write has finished. */
  settled(): Promise<void> {
    return this.runner.settled();
  }

  /** The file stays: labels must survive an agent restart or upgrade. Removal is an uninstall step. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.runner.settled();
  }
}
