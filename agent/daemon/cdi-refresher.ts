import { isDirectory } from '../fs/is-directory.js';
import type { AgentConfig } from '../config/schema.js';
import { describeError } from '../errors.js';
import { generateCdiForConfig } from '../inject/cdi-from-config.js';
import type { Logger } from '../log.js';
import type { CdiSpec } from '../inject/container-edits.js';
import { CoalescingRunner } from './coalescing-runner.js';
import type { DeviceRegistry } from './device-registry.js';
import type { Service } from './service.js';

/**
 * Keeps the CDI specs in the runtime's directory in step with the devices:
 * written at start and again whenever devices come, go or change (a driver
 * upgrade changes every device's driverVersion). Health changes alone do not
 * rewrite specs: an unhealthy device keeps its spec, kubelet stops assigning it.
 */
export class CdiRefresher implements Service {
  readonly name = 'cdi';
  private unsubscribe: (() => void) | undefined;
  private readonly specs = new Map<string, CdiSpec>();
  /** Bursts of changes fold into one regeneration after the current one. */
  private readonly runner = new CoalescingRunner(
    () => this.regenerate(),
    (err) => this.log.error({ reason: describeError(err) }, 'CDI spec generation failed; runtimes keep the previous specs'),
  );

  constructor(
    private readonly config: AgentConfig,
    private readonly registry: DeviceRegistry,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const dir = this.config.cdiDir;
    if (!(await isDirectory(dir))) {
      this.log.info({ cdiDir: dir }, 'CDI directory does not exist; CDI spec generation is off');
      return;
    }
    this.unsubscribe = this.registry.subscribe((e) => {
      if (e.type !== 'health') void this.runner.request();
    });
    await this.runner.request();
  }

  private async regenerate(): Promise<void> {
    const result = await generateCdiForConfig(this.config, this.log, {
      outputDir: this.config.cdiDir,
      inventory: { devices: this.registry.list(), drivers: this.registry.drivers() },
    });
    for (const v of result.vendors) {
      if (v.spec) this.specs.set(v.kind, v.spec);
      else if (v.error === null) this.specs.delete(v.kind);
    }
  }

  /** The spec last written for a CDI kind, for Allocate answers that spell the edits out. */
  specFor(kind: string): CdiSpec | null {
    return this.specs.get(kind) ?? null;
  }

  /** Resolves once every scheduled regeneration has finished. */
  settled(): Promise<void> {
    return this.runner.settled();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.runner.settled();
  }
}
