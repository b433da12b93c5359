/**
 * Runs one device plugin per configured resource. A resource's plugin starts
 * once the registry holds a device of its vendor (at start or when one is
 * hot-plugged later), so a node without NPUs never advertises an NPU
 * resource. Nothing starts when the kubelet directory does not exist: the
 * node is not a kubelet node, or kubelet is not set up yet.
 */
import type { Service } from '../daemon/service.js';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { belongsTo } from './device-list.js';
import { resolvePluginSettings, type DevicePluginSettings, type DevicePluginSettingsInput, type ResourceOptions } from './options.js';
import { PluginServer, type DeviceSource, type PluginServerOptions, type SpecSource } from './plugin-server.js';
import { isDirectory } from '../fs/is-directory.js';

export interface PluginManagerOptions extends DevicePluginSettingsInput {
  devices: DeviceSource;
  specFor?: SpecSource;
  /** Passed to every plugin. */
  pollIntervalMs?: number;
  registerTimeoutMs?: number;
  retry?: PluginServerOptions['retry'];
  logger?: Logger;
}

export class PluginManager implements Service {
  readonly name = 'device-plugins';
  readonly settings: DevicePluginSettings;
  readonly #options: PluginManagerOptions;
  readonly #logger: Logger;
  readonly #plugins = new Map<string, PluginServer>();
  readonly #starting = new Set<Promise<void>>();
  /** Resources whose plugin failed to start; retrying a socket that cannot be served would only repeat the error. */
  readonly #failed = new Set<string>();
  #unsubscribe: (() => void) | null = null;
  #running = false;

  /** Throws CONFIG_INVALID for bad settings, before anything runs. */
  constructor(options: PluginManagerOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.settings = resolvePluginSettings(options);
  }

  /** Resources whose plugin is running (or starting). */
  get resources(): string[] {
    return [...this.#plugins.keys()];
  }

  plugin(resourceName: string): PluginServer | undefined {
    return this.#plugins.get(resourceName);
  }

  async start(): Promise<void> {
    if (this.#running) return;
    const dir = this.settings.kubeletDir;
    if (!(await isDirectory(dir))) {
      this.#logger.info({ kubeletDir: dir }, 'kubelet device-plugin directory does not exist; device plugins are off');
      return;
    }
    this.#running = true;
    this.#unsubscribe = this.#options.devices.subscribe((event) => {
      if (event.type === 'added') this.#startWanted();
    });
    this.#startWanted();
    await this.settled();
  }

  /** Resolves when every plugin start begun so far has finished (successfully or not). */
  async settled(): Promise<void> {
    while (this.#starting.size > 0) await Promise.all(this.#starting);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    await this.settled();
    const plugins = [...this.#plugins.values()];
    this.#plugins.clear();
    await Promise.all(plugins.map((p) => p.stop()));
  }

  #startWanted(): void {
    const devices = this.#options.devices.list();
    for (const resource of this.settings.resources) {
      const name = resource.resourceName;
      if (this.#plugins.has(name) || this.#failed.has(name) || !devices.some((d) => belongsTo(d, resource))) continue;
      this.#startPlugin(resource);
    }
  }

  #startPlugin(resource: ResourceOptions): void {
    const o = this.#options;
    const plugin = new PluginServer({
      resource,
      kubeletDir: this.settings.kubeletDir,
      strategies: this.settings.strategies,
      devices: o.devices,
      ...(o.specFor !== undefined ? { specFor: o.specFor } : {}),
      ...(o.pollIntervalMs !== undefined ? { pollIntervalMs: o.pollIntervalMs } : {}),
      ...(o.registerTimeoutMs !== undefined ? { registerTimeoutMs: o.registerTimeoutMs } : {}),
      ...(o.retry !== undefined ? { retry: o.retry } : {}),
      logger: this.#logger,
    });
    this.#plugins.set(resource.resourceName, plugin);
    const started = plugin
      .start()
      .then(() => {
        if (!this.#running) return plugin.stop();
      })
      .catch((err: unknown) => {
        this.#plugins.delete(resource.resourceName);
        this.#failed.add(resource.resourceName);
        this.#logger.error({ resource: resource.resourceName, err: describeError(err) }, 'device plugin failed to start');
      })
      .finally(() => this.#starting.delete(started));
    this.#starting.add(started);
  }
}
