/**
 * One kubelet device plugin: serves DevicePlugin for one resource on its own
 * socket in the device-plugin directory, registers with kubelet, and keeps
 * both true. Kubelet deletes every socket there when it restarts, so the
 * plugin re-serves when its socket vanishes and re-registers whenever a new
 * kubelet.sock appears. The previous server keeps running until kubelet has
 * accepted the new registration: kubelet marks every device unhealthy the
 * moment a ListAndWatch stream ends, so ending it first would make capacity
 * flicker.
 */
import path from 'node:path';
import { Server, ServerCredentials, status as grpcStatus, type ServerErrorResponse, type ServerWritableStream } from '@grpc/grpc-js';
import { discardPlan, prepareSocket, publishSocket, removeSocket } from '../api/socket-file.js';
import type { DeviceRegistry, RegistryEvent } from '../daemon/device-registry.js';
import type { Service } from '../daemon/service.js';
import { AccelError, ErrorCode, describeError, isAccelError } from '../errors.js';
import type { CdiSpec } from '../inject/container-edits.js';
import { silentLogger, type Logger } from '../log.js';
import { backoffDelay, type BackoffOptions } from '../telemetry/backoff.js';
import { allocate } from './allocate.js';
import { advertisedDevices, belongsTo, kubeletDevices, type AdvertisedDevice } from './device-list.js';
import {
  DevicePluginService,
  type DevicePluginServer,
  type Empty,
  type ListAndWatchResponse,
  type DevicePluginOptions as KubeletPluginOptions,
} from './gen/v1beta1/api.js';
import { KubeletWatch, snapshotDir, socketIdentity, type SocketIdentity } from './kubelet-watch.js';
import { API_VERSION, pluginSocketName, type AllocateStrategy, type ResourceOptions } from './options.js';
import { preferredAllocation, type Placement } from './preferred-allocation.js';
import { DEFAULT_REGISTER_TIMEOUT_MS, registerWithKubelet } from './registration.js';

export type DeviceSource = Pick<DeviceRegistry, 'list' | 'subscribe'>;

/** Gives the CDI spec generated for a kind, or null when there is none (yet). */
export type SpecSource = (cdiKind: string) => CdiSpec | null;

export interface PluginServerOptions {
  resource: ResourceOptions;
  kubeletDir: string;
  strategies: readonly AllocateStrategy[];
  devices: DeviceSource;
  /**
   * Where the current CDI specs come from. With it, Allocate checks names
   * against the spec and can spell edits out (`device-specs`); without it,
   * only `cdi` and `annotations` work and names go out unchecked.
   */
  specFor?: SpecSource;
  /** Fallback stat interval of the directory watch; default 250 ms. */
  pollIntervalMs?: number;
  registerTimeoutMs?: number;
  /** Delays between failed attempts to serve or register; default 200 ms growing to 10 s. */
  retry?: BackoffOptions;
  logger?: Logger;
}

const PLUGIN_OPTIONS: KubeletPluginOptions = {
  // Nothing needs to run before a container starts, so kubelet need not wait on us.
  preStartRequired: false,
  getPreferredAllocationAvailable: true,
};

const DEFAULT_RETRY: BackoffOptions = { baseMs: 200, capMs: 10_000 };
/** Only kubelet connects, with small requests; anything large is a mistake or an attack. */
const MAX_REQUEST_BYTES = 1024 * 1024;
const SOCKET_MODE = 0o600;
const SHUTDOWN_GRACE_MS = 2000;

interface Watcher {
  call: ServerWritableStream<Empty, ListAndWatchResponse>;
  /** The last list sent, serialised, so unchanged lists are not sent again. */
  last: string;
}

export class PluginServer implements Service {
  readonly name: string;
  readonly resource: ResourceOptions;
  readonly socketName: string;
  readonly socketPath: string;
  readonly #options: PluginServerOptions;
  readonly #logger: Logger;
  readonly #watch: KubeletWatch;
  readonly #implementation: DevicePluginServer;
  readonly #watchers = new Set<Watcher>();
  #advertised: AdvertisedDevice[] = [];
  #byId = new Map<string, AdvertisedDevice>();
  #unsubscribe: (() => void) | null = null;
  #running = false;

  #server: Server | null = null;
  /** Servers replaced by a newer one, kept until kubelet has registered the newer one. */
  #retired: Server[] = [];
  #served: SocketIdentity | null = null;
  #servedIno: number | null = null;
  #registeredWith: SocketIdentity | null = null;
  /** The kubelet.sock the last failed attempt was made against; a new one is tried at once. */
  #failedWith: SocketIdentity | null = null;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #tail: Promise<void> = Promise.resolve();
  #queued: Promise<void> | null = null;

  constructor(options: PluginServerOptions) {
    this.#options = options;
    this.resource = options.resource;
    this.name = `device-plugin ${options.resource.resourceName}`;
    this.socketName = pluginSocketName(options.resource.resourceName);
    this.socketPath = path.join(options.kubeletDir, this.socketName);
    this.#logger = (options.logger ?? silentLogger).child({ resource: options.resource.resourceName });
    this.#watch = new KubeletWatch({
      dir: options.kubeletDir,
      pluginSocketName: this.socketName,
      onChange: () => this.#trigger(),
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      logger: this.#logger,
    });
    this.#implementation = {
      getDevicePluginOptions: (_call, callback) => callback(null, PLUGIN_OPTIONS),
      listAndWatch: (call) => this.#listAndWatch(call),
      getPreferredAllocation: (call, callback) => {
        try {
          const containerResponses = (call.request.containerRequests ?? []).map((r) => ({
            deviceIDs: preferredAllocation(
              { available: r.availableDeviceIDs ?? [], mustInclude: r.mustIncludeDeviceIDs ?? [], size: r.allocationSize },
              (id) => this.#placement(id),
            ),
          }));
          callback(null, { containerResponses });
        } catch (err) {
          callback(this.#refusal('GetPreferredAllocation', err));
        }
      },
      allocate: (call, callback) => {
        try {
          const spec = this.#options.specFor?.(this.resource.cdiKind);
          callback(null, allocate({ resource: this.resource, strategies: this.#options.strategies, advertised: this.#byId, spec }, call.request));
        } catch (err) {
          callback(this.#refusal('Allocate', err));
        }
      },
      preStartContainer: (_call, callback) => callback(null, {}),
    };
  }

  /** True once kubelet has accepted the registration of the socket being served. */
  get registered(): boolean {
    return this.#registeredWith !== null;
  }

  /** Open ListAndWatch streams. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  /**
   * Serves and, when kubelet is there, registers before returning. Fails only
   * when the socket cannot be served at all; a kubelet that is absent or
   * refuses is retried in the background.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    if (this.#options.strategies.includes('device-specs') && this.#options.specFor === undefined) {
      throw new AccelError(ErrorCode.CONFIG_INVALID, `${this.name}: the device-specs strategy needs a CDI spec source`);
    }
    this.#running = true;
    this.#refreshDevices();
    this.#unsubscribe = this.#options.devices.subscribe((event) => this.#onRegistryEvent(event));
    try {
      await this.#watch.start();
      await this.#schedule();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.#running && this.#server === null) return;
    this.#running = false;
    this.#watch.stop();
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    await this.#tail;
    for (const w of this.#watchers) w.call.end();
    this.#watchers.clear();
    const servers = [...this.#retired, ...(this.#server === null ? [] : [this.#server])];
    this.#retired = [];
    this.#server = null;
    await Promise.all(servers.map(shutdown));
    if (this.#servedIno !== null) {
      try {
        await removeSocket(this.socketPath, this.#servedIno);
      } catch (err) {
        this.#logger.warn({ socket: this.socketPath, err: describeError(err) }, 'cannot remove the device plugin socket');
      }
    }
    this.#served = null;
    this.#servedIno = null;
    this.#registeredWith = null;
    this.#logger.info({ socket: this.socketPath }, 'device plugin stopped');
  }

  /** Runs one reconciliation after any already running; requests made before it starts share it. */
  #schedule(): Promise<void> {
    if (this.#queued !== null) return this.#queued;
    const run = this.#tail.then(() => {
      this.#queued = null;
      return this.#reconcile();
    });
    this.#queued = run;
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Reconciliation started by the watch or a retry: failures are logged and retried. */
  async #trigger(): Promise<void> {
    try {
      await this.#schedule();
    } catch (err) {
      this.#logger.warn({ socket: this.socketPath, err: describeError(err) }, 'cannot serve the device plugin; retrying');
      this.#retryLater();
    }
  }

  async #reconcile(): Promise<void> {
    if (!this.#running) return;
    const snap = snapshotDir(this.#options.kubeletDir, this.socketName);
    // Kubelet owns the directory; without it there is nothing to serve in or register with.
    if (snap.dir === null) return;
    if (snap.plugin === null || snap.plugin !== this.#served) await this.#serve();
    if (snap.kubelet === null || snap.kubelet === this.#registeredWith || !this.#running) return;
    if (this.#retryTimer !== null && snap.kubelet === this.#failedWith) return;
    try {
      await registerWithKubelet(
        this.#options.kubeletDir,
        { version: API_VERSION, endpoint: this.socketName, resourceName: this.resource.resourceName, options: PLUGIN_OPTIONS },
        this.#options.registerTimeoutMs ?? DEFAULT_REGISTER_TIMEOUT_MS,
      );
    } catch (err) {
      this.#logger.warn({ err: describeError(err) }, 'kubelet registration failed; retrying');
      this.#failedWith = snap.kubelet;
      this.#retryLater();
      return;
    }
    this.#registeredWith = snap.kubelet;
    this.#failedWith = null;
    this.#failures = 0;
    this.#logger.info({ endpoint: this.socketName, devices: this.#advertised.length }, 'registered with kubelet');
    const retired = this.#retired;
    this.#retired = [];
    for (const server of retired) server.forceShutdown();
  }

  async #serve(): Promise<void> {
    const fail = (err: unknown) => new AccelError(ErrorCode.PLUGIN_REGISTER, `cannot serve ${this.resource.resourceName} on ${this.socketPath}`, { cause: err });
    const plan = await prepareSocket(this.socketPath, { createDir: false }).catch((err: unknown) => {
      throw fail(err);
    });
    const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
    server.addService(DevicePluginService, this.#implementation);
    let ino: number;
    try {
      await new Promise<void>((resolve, reject) => {
        server.bindAsync(`unix:${plan.bindPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
      });
      ino = await publishSocket(plan, SOCKET_MODE);
    } catch (err) {
      server.forceShutdown();
      await discardPlan(plan);
      throw fail(err);
    }
    if (this.#server !== null) this.#retired.push(this.#server);
    this.#server = server;
    this.#servedIno = ino;
    this.#served = socketIdentity(this.socketPath);
    // Kubelet knows only the old socket: the new one must be registered, even with the same kubelet.
    this.#registeredWith = null;
    this.#logger.info({ socket: this.socketPath }, 'device plugin serving');
  }

  #retryLater(): void {
    if (this.#retryTimer !== null || !this.#running) return;
    const delay = backoffDelay(this.#failures++, this.#options.retry ?? DEFAULT_RETRY);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#trigger();
    }, delay);
    this.#retryTimer.unref();
  }

  #onRegistryEvent(event: RegistryEvent): void {
    const previous = 'previous' in event ? event.previous : undefined;
    if (!belongsTo(event.device, this.resource) && (previous === undefined || !belongsTo(previous, this.resource))) return;
    this.#refreshDevices();
    for (const w of this.#watchers) this.#send(w);
  }

  #refreshDevices(): void {
    this.#advertised = advertisedDevices(this.#options.devices.list(), this.resource);
    this.#byId = new Map(this.#advertised.map((a) => [a.id, a]));
  }

  #listAndWatch(call: ServerWritableStream<Empty, ListAndWatchResponse>): void {
    const watcher: Watcher = { call, last: '' };
    this.#watchers.add(watcher);
    const drop = () => this.#watchers.delete(watcher);
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
    this.#send(watcher);
  }

  #send(watcher: Watcher): void {
    const devices = kubeletDevices(this.#advertised);
    const key = JSON.stringify(devices);
    if (key === watcher.last) return;
    watcher.last = key;
    watcher.call.write({ devices });
  }

  #placement(id: string): Placement | undefined {
    const entry = this.#byId.get(id);
    if (entry === undefined) return undefined;
    return { id, deviceId: entry.device.id, replica: entry.replica, numaNode: entry.device.numaNode, pciBusId: entry.device.pciBusId };
  }

  /** Bad requests are INVALID_ARGUMENT; a plugin that cannot answer (no spec) is FAILED_PRECONDITION. */
  #refusal(rpc: string, err: unknown): ServerErrorResponse {
    const code = isAccelError(err, ErrorCode.ALLOCATE_INVALID)
      ? grpcStatus.INVALID_ARGUMENT
      : isAccelError(err)
        ? grpcStatus.FAILED_PRECONDITION
        : grpcStatus.INTERNAL;
    const message = describeError(err);
    this.#logger.warn({ rpc, err: message }, 'kubelet request refused');
    return Object.assign(new Error(message), { code, details: message });
  }
}

/** Lets a call in flight finish, but not for long: kubelet retries what was cut off. */
function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
