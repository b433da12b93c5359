import { hostname } from 'node:os';
import path from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import { fsyncPolicy } from '../config/options.js';
import { describeError } from '../errors.js';
import type { HostRoot } from '../host/host-root.js';
import { DeviceOwnerCache, PodResourcesClient, type DeviceOwners } from '../kubelet/pod-resources.js';
import type { Logger } from '../log.js';
import { deviceLabels } from '../telemetry/metric-names.js';
import type { MetricsServer, NodeMetrics } from '../telemetry/node-metrics.js';
import type { TelemetryPipeline } from '../telemetry/pipeline.js';
import type { Sampler } from '../telemetry/sampler.js';
import { openHostNvml } from '../vendors/nvidia/nvml-session.js';
import type { DeviceRegistry, RegistryEvent } from './device-registry.js';
import type { Service } from './service.js';

/** How long pod owners from kubelet are reused before the next List. */
const OWNER_TTL_MS = 5000;

/**
 * Samples every device on an interval and hands the readings to the node's
 * /metrics and to the collector pipeline (spool first, then the wire). Health
 * transitions and hot-plug go to the collector as events, ahead of samples.
 * Off entirely when neither a metrics address nor a collector is configured;
 * then its modules (prom-client, ws, the spool) are never even loaded, which
 * keeps the idle daemon several MiB smaller.
 */
export class TelemetryService implements Service {
  readonly name = 'telemetry';
  metrics: NodeMetrics | undefined;
  metricsServer: MetricsServer | undefined;
  pipeline: TelemetryPipeline | undefined;
  private sampler: Sampler | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tick: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly node: string;
  /** Pod owners of devices from kubelet, refreshed every few seconds rather than every tick. */
  private readonly owners: DeviceOwnerCache;
  private currentOwners: DeviceOwners = new Map();

  constructor(
    private readonly config: AgentConfig,
    private readonly host: HostRoot,
    private readonly registry: DeviceRegistry,
    private readonly log: Logger,
  ) {
    this.node = config.telemetry.agentId ?? hostname();
    const podResources = new PodResourcesClient(config.podResourcesSocket);
    this.owners = new DeviceOwnerCache(() => podResources.lookup(), OWNER_TTL_MS);
  }

  async start(): Promise<void> {
    const t = this.config.telemetry;
    if (t.metricsListen === null && t.collectorUrl === null) {
      this.log.info('no metrics address and no collector configured; telemetry is off');
      return;
    }
    const nvmlUsable = this.config.nvidia.enabled && this.config.nvidia.sources.includes('nvml');
    const { Sampler } = await import('../telemetry/sampler.js');
    this.sampler = new Sampler({
      host: this.host,
      openNvml: nvmlUsable ? async () => (await openHostNvml(this.host, this.config.nvidia.nvmlLibrary)).session : null,
      log: this.log,
    });
    if (t.metricsListen !== null) {
      // prom-client and its dependencies are loaded, and device labels built every tick, only for a /metrics that is served.
      const { MetricsServer, NodeMetrics } = await import('../telemetry/node-metrics.js');
      const metrics = (this.metrics = new NodeMetrics());
      this.metricsServer = new MetricsServer(metrics, t.metricsListen, this.log);
      await this.metricsServer.start();
      metrics.gauge('accel_agent_devices', () => this.registry.list().length);
      metrics.gauge('accel_agent_devices_unhealthy', () => this.registry.list().filter((d) => d.health !== 'Healthy').length);
    }
    await this.refreshOwners();
    if (t.collectorUrl !== null) {
      const { TelemetryPipeline } = await import('../telemetry/pipeline.js');
      this.pipeline = await TelemetryPipeline.open({
        agentId: this.node,
        spool: { dir: path.join(this.config.stateDir, 'spool'), budgetBytes: t.spoolBudget, fsync: fsyncPolicy(this.config) },
        collector: {
          url: t.collectorUrl,
          ...(t.collectorTokenFile !== null && { tokenFile: t.collectorTokenFile }),
          ...(t.collectorCa !== null && { caFile: t.collectorCa }),
          ...(t.collectorPins.length > 0 && { pins: t.collectorPins }),
        },
        logger: this.log,
      });
      this.metrics?.gauge('accel_agent_spool_bytes', () => this.pipeline?.stats().spool.bytes ?? 0);
      await this.describe();
      this.unsubscribe = this.registry.subscribe((e) => void this.onRegistryEvent(e));
    }
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.tick = this.sampleOnce().finally(() => {
        this.tick = undefined;
        if (this.timer) this.schedule();
      });
    }, this.config.telemetry.sampleInterval);
  }

  /** One sampling tick; the timer calls it, and so can tests. */
  async sampleOnce(): Promise<void> {
    if (!this.sampler) return;
    try {
      if (await this.refreshOwners()) await this.describe();
      const devices = this.registry.list();
      const samples = await this.sampler.sample(devices);
      const byId = new Map(devices.map((d) => [d.id, d]));
      this.metrics?.update(samples, (id) => {
        const d = byId.get(id);
        return d && deviceLabels(d, this.node, this.currentOwners.get(id));
      });
      await this.pipeline?.addSamples(samples);
    } catch (err) {
      this.log.error({ reason: describeError(err) }, 'telemetry tick failed');
    }
  }

  /**
   * Takes the owners from the cache (a List on kubelet once the TTL is up);
   * true when they changed, so the collector's labels are re-sent. Never
   * throws: without kubelet a device simply has no owner labels.
   */
  private async refreshOwners(): Promise<boolean> {
    const r = await this.owners.get();
    this.currentOwners = r.owners;
    // Logged on change only: a node without kubelet would otherwise log every few seconds.
    if (r.problemChanged) {
      if (r.problem !== null) this.log.info({ reason: r.problem }, 'no pod owners for device telemetry');
      else this.log.info('pod owners for device telemetry come from kubelet');
    }
    return r.changed;
  }

  private async describe(): Promise<void> {
    await this.pipeline?.describeDevices(
      this.registry.list().map((d) => ({ deviceId: d.id, labels: deviceLabels(d, this.node, this.currentOwners.get(d.id)) })),
    );
  }

  private async onRegistryEvent(e: RegistryEvent): Promise<void> {
    try {
      if (e.type === 'health') {
        await this.pipeline?.addEvent({
          ts: Date.now(),
          kind: 'health',
          severity: e.device.health === 'Healthy' ? 'info' : 'critical',
          message: `${e.device.id} ${e.previous.health} -> ${e.device.health}${e.device.healthReason ? `: ${e.device.healthReason}` : ''}`,
          deviceId: e.device.id,
          details: { from: e.previous.health, to: e.device.health },
        });
        return;
      }
      await this.pipeline?.addEvent({
        ts: Date.now(),
        kind: `device-${e.type}`,
        severity: e.type === 'removed' ? 'warning' : 'info',
        message: `${e.device.vendor} ${e.device.kind} ${e.device.id} ${e.type}`,
        deviceId: e.device.id,
      });
      await this.describe();
    } catch (err) {
      this.log.error({ reason: describeError(err) }, 'telemetry event could not be spooled');
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    await this.tick;
    await this.pipeline?.close();
    await this.metricsServer?.stop();
    await this.sampler?.close();
  }
}
