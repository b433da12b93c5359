import { ApiServer } from '../api/server.js';
import type { AgentConfig } from '../config/schema.js';
import { devicePluginSettings, npuProfile, nvidiaOptions } from '../config/options.js';
import { Discoverer } from '../discovery/discoverer.js';
import { PluginManager } from '../kubelet/plugin-manager.js';
import type { Logger } from '../log.js';
import { CdiRefresher } from './cdi-refresher.js';
import { DeviceRegistry } from './device-registry.js';
import { HealthService } from './health-service.js';
import { NfdLabelService } from './nfd-service.js';
import { Rescanner } from './rescanner.js';
import { TelemetryService } from './telemetry-service.js';
import { ServiceGroup, type Service } from './service.js';

/**
 * The daemon: one registry of devices, fed by discovery and health, read by
 * every capability. Capabilities are services started in dependency order and
 * stopped in reverse.
 */
export class AgentDaemon {
  readonly registry: DeviceRegistry;
  readonly discoverer: Discoverer;
  readonly rescanner: Rescanner;
  readonly cdi: CdiRefresher;
  readonly api: ApiServer;
  readonly health: HealthService;
  readonly plugins: PluginManager;
  readonly telemetry: TelemetryService;
  readonly nfd: NfdLabelService;
  private readonly group: ServiceGroup;

  constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
  ) {
    this.registry = new DeviceRegistry({ logger: log.child({ component: 'registry' }) });
    this.discoverer = new Discoverer(config.hostRoot, { nvidia: nvidiaOptions(config), npu: npuProfile(config) }, log.child({ component: 'discovery' }));
    this.rescanner = new Rescanner(this.discoverer, this.registry, config.rescanInterval, log.child({ component: 'rescan' }));
    this.cdi = new CdiRefresher(config, this.registry, log.child({ component: 'cdi' }));
    this.health = new HealthService(config, this.discoverer.host, this.registry, log.child({ component: 'health' }));
    this.nfd = new NfdLabelService({ dir: config.nfdDir, registry: this.registry, logger: log.child({ component: 'nfd' }) });
    this.telemetry = new TelemetryService(config, this.discoverer.host, this.registry, log.child({ component: 'telemetry' }));
    this.plugins = new PluginManager({
      ...devicePluginSettings(config),
      devices: this.registry,
      specFor: (kind) => this.cdi.specFor(kind),
      logger: log.child({ component: 'device-plugin' }),
    });
    this.api = new ApiServer({ registry: this.registry, socketPath: config.socket, logger: log.child({ component: 'api' }) });
    this.group = new ServiceGroup(log);
  }

  async start(): Promise<void> {
    await this.rescanner.scanNow();
    const discovery: Service = { name: 'discovery', start: async () => {}, stop: () => this.discoverer.close() };
    await this.group.start([discovery, this.health, this.cdi, this.nfd, this.plugins, this.telemetry, this.api, this.rescanner]);
    this.log.info(
      { devices: this.registry.list().map((d) => `${d.vendor}/${d.kind}/${d.id}`), socket: this.api.socketPath },
      'agent running',
    );
  }

  async stop(): Promise<void> {
    await this.group.stop();
    this.log.info('agent stopped');
  }
}
