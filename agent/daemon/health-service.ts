import type { AgentConfig } from '../config/schema.js';
import { healthOptions } from '../config/options.js';
import { describeError } from '../errors.js';
import { createHealthSources } from '../health/health-sources.js';
import { HealthMonitor } from '../health/health-monitor.js';
import type { NvmlEventSession } from '../health/nvml-event-source.js';
import { resolveHealthOptions } from '../health/options.js';
import { createProbe, type NvmlDeviceLister } from '../health/probe.js';
import type { HealthTarget } from '../health/signals.js';
import type { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import { openHostNvml } from '../vendors/nvidia/nvml-session.js';
import type { DeviceRegistry } from './device-registry.js';
import type { Service } from './service.js';

/**
 * Connects health monitoring to the registry: the monitor watches the devices
 * the registry holds, follows hot-plug without losing state, and every verdict
 * goes back through `setHealth`, from where the API, kubelet and telemetry
 * see it.
 */
export class HealthService implements Service {
  readonly name = 'health';
  private monitor: HealthMonitor | undefined;
  private unsubscribe: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: AgentConfig,
    private readonly host: HostRoot,
    private readonly registry: DeviceRegistry,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const devices = this.targets();
    this.monitor = new HealthMonitor({
      ...this.wiring(devices),
      onChange: (change) => void this.registry.setHealth(change.id, change.to, change.reason),
      options: healthOptions(this.config),
      log: this.log,
    });
    const report = await this.monitor.start();
    this.log.info({ sources: report.started, failed: report.failed }, 'health monitoring started');
    this.unsubscribe = this.registry.subscribe((e) => {
      if (e.type === 'added' || e.type === 'removed') this.follow();
    });
  }

  /** Serialised, so a burst of hot-plug events reconfigures one at a time, ending on the latest set. */
  private follow(): void {
    this.queue = this.queue.then(async () => {
      const monitor = this.monitor;
      if (!monitor) return;
      try {
        const report = await monitor.reconfigure(this.wiring(this.targets()));
        this.log.info({ devices: this.registry.list().length, sources: report.started, failed: report.failed }, 'health monitoring follows the new device set');
      } catch (err) {
        this.log.error({ reason: describeError(err) }, 'health monitoring could not follow the device change');
      }
    });
  }

  private targets(): HealthTarget[] {
    return this.registry.list().map(({ id, vendor, index, uuid, pciBusId, deviceNodes }) => ({ id, vendor, index, uuid, pciBusId, deviceNodes }));
  }

  private wiring(devices: HealthTarget[]) {
    const nvmlUsable = this.config.nvidia.enabled && this.config.nvidia.sources.includes('nvml');
    const openSession = async (): Promise<NvmlEventSession> => (await openHostNvml(this.host, this.config.nvidia.nvmlLibrary)).session;
    // Probes are rare (end of a quiet period), so each opens and closes its own session.
    const lister: NvmlDeviceLister = {
      devices: async () => {
        const { session } = await openHostNvml(this.host, this.config.nvidia.nvmlLibrary);
        try {
          return await session.devices();
        } finally {
          await session.shutdown();
        }
      },
    };
    return {
      devices,
      sources: createHealthSources({
        host: this.host,
        devices,
        options: resolveHealthOptions(healthOptions(this.config)),
        openNvmlSession: nvmlUsable ? openSession : null,
        log: this.log,
      }),
      probe: createProbe({ host: this.host, devices, nvml: nvmlUsable ? lister : null }),
    };
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.queue;
    await this.monitor?.stop();
  }
}
