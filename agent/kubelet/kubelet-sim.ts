/**
 * A kubelet stand-in for tests and the demo: a real gRPC Registration
 * server on kubelet.sock in a directory, which records every registration
 * and then, as kubelet does, dials the plugin's endpoint and keeps a
 * ListAndWatch stream open. It can "restart" the way kubelet does: every
 * socket in the directory is deleted and kubelet.sock is created anew.
 */
import { lstat, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Metadata, Server, ServerCredentials, credentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import {
  DevicePluginClient,
  RegistrationService,
  type AllocateResponse,
  type ContainerPreferredAllocationRequest,
  type DevicePluginOptions,
  type Device as KubeletDevice,
  type ListAndWatchResponse,
  type RegisterRequest,
  type RegistrationServer,
} from './gen/v1beta1/api.js';

export interface Registration {
  request: RegisterRequest;
  /** performance.now() when the request arrived. */
  at: number;
  /** How many times the simulated kubelet had restarted when it arrived. */
  generation: number;
}

interface Connection {
  endpoint: string;
  client: DevicePluginClient;
  stream: ClientReadableStream<ListAndWatchResponse> | null;
  options: DevicePluginOptions | null;
  /** Every list received on kubelet's own stream, oldest first. */
  lists: KubeletDevice[][];
}

type Waiter = () => void;

const CALL_TIMEOUT_MS = 10_000;

export class KubeletSim {
  readonly dir: string;
  readonly registrations: Registration[] = [];
  generation = 0;
  #server: Server | null = null;
  readonly #connections = new Map<string, Connection>();
  #waiters: Waiter[] = [];
  /** When set, Register answers with this status instead of accepting. */
  refuseWith: { code: status; details: string } | null = null;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(dir: string): Promise<KubeletSim> {
    const sim = new KubeletSim(dir);
    await sim.#listen();
    return sim;
  }

  get socketPath(): string {
    return path.join(this.dir, 'kubelet.sock');
  }

  /** Deletes every socket in the directory (as kubelet does on start), then serves kubelet.sock again. Returns when it is back. */
  async restart(): Promise<number> {
    this.#server?.forceShutdown();
    this.#server = null;
    for (const c of this.#connections.values()) this.#disconnect(c);
    this.#connections.clear();
    for (const name of await readdir(this.dir)) {
      const file = path.join(this.dir, name);
      const st = await lstat(file).catch(() => null);
      if (st?.isSocket()) await unlink(file).catch(() => undefined);
    }
    this.generation++;
    await this.#listen();
    return performance.now();
  }

  async stop(): Promise<void> {
    for (const c of this.#connections.values()) this.#disconnect(c);
    this.#connections.clear();
    const server = this.#server;
    this.#server = null;
    if (server !== null) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    this.#notify();
  }

  /** Resolves with the first registration (in arrival order, from index `from`) that matches. */
  async waitForRegistration(match: (r: Registration) => boolean, timeoutMs = 10_000, from = 0): Promise<Registration> {
    return this.#waitFor(() => this.registrations.slice(from).find(match), timeoutMs, 'registration');
  }

  /** The latest device list kubelet's own stream received for a resource, once it satisfies `match`. */
  async waitForList(resourceName: string, match: (devices: KubeletDevice[]) => boolean, timeoutMs = 10_000): Promise<KubeletDevice[]> {
    return this.#waitFor(
      () => {
        const lists = this.#connections.get(resourceName)?.lists ?? [];
        const last = lists[lists.length - 1];
        return last !== undefined && match(last) ? last : undefined;
      },
      timeoutMs,
      `device list of ${resourceName}`,
    );
  }

  /** Every list received for a resource since its latest registration. */
  lists(resourceName: string): KubeletDevice[][] {
    return this.#connections.get(resourceName)?.lists ?? [];
  }

  pluginOptions(resourceName: string): DevicePluginOptions | null {
    return this.#connections.get(resourceName)?.options ?? null;
  }

  /** Allocate on the registered plugin, one container per id list. */
  allocate(resourceName: string, containers: string[][]): Promise<AllocateResponse> {
    const client = this.#client(resourceName);
    return unary((cb) => client.allocate({ containerRequests: containers.map((devicesIds) => ({ devicesIds })) }, new Metadata(), deadline(), cb));
  }

  async preferred(resourceName: string, requests: ContainerPreferredAllocationRequest[]): Promise<string[][]> {
    const client = this.#client(resourceName);
    const res = await unary<{ containerResponses: { deviceIDs: string[] }[] }>((cb) =>
      client.getPreferredAllocation({ containerRequests: requests }, new Metadata(), deadline(), cb),
    );
    return res.containerResponses.map((r) => r.deviceIDs);
  }

  preStart(resourceName: string, devicesIds: string[]): Promise<object> {
    const client = this.#client(resourceName);
    return unary((cb) => client.preStartContainer({ devicesIds }, new Metadata(), deadline(), cb));
  }

  /** A second, independent ListAndWatch stream, as a test's own observer. */
  watch(resourceName: string): { lists: KubeletDevice[][]; cancel: () => void } {
    const stream = this.#client(resourceName).listAndWatch({});
    const lists: KubeletDevice[][] = [];
    stream.on('data', (r: ListAndWatchResponse) => {
      lists.push(r.devices);
      this.#notify();
    });
    stream.on('error', () => undefined);
    return { lists, cancel: () => stream.cancel() };
  }

  /** Waits until `check` returns something other than undefined. */
  async #waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadlineAt = Date.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      const left = deadlineAt - Date.now();
      if (left <= 0) throw new Error(`kubelet simulator: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitUntil(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    await this.#waitFor(() => (check() ? true : undefined), timeoutMs, what);
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #client(resourceName: string): DevicePluginClient {
    const c = this.#connections.get(resourceName);
    if (c === undefined) throw new Error(`kubelet simulator: ${resourceName} is not registered`);
    return c.client;
  }

  async #listen(): Promise<void> {
    const server = new Server();
    const implementation: RegistrationServer = {
      register: (call, callback) => {
        const request = call.request;
        const problem = this.#registrationProblem(request);
        if (problem !== null) {
          callback({ code: problem.code, details: problem.details });
          return;
        }
        this.registrations.push({ request, at: performance.now(), generation: this.generation });
        callback(null, {});
        this.#connect(request);
        this.#notify();
      },
    };
    server.addService(RegistrationService, implementation);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${this.socketPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    this.#server = server;
  }

  /** What real kubelet checks before accepting a registration. */
  #registrationProblem(r: RegisterRequest): { code: status; details: string } | null {
    if (this.refuseWith !== null) return this.refuseWith;
    if (r.version !== 'v1beta1') return { code: status.UNKNOWN, details: `unsupported device plugin API version ${r.version}` };
    if (!/^[a-z0-9.-]+\/[A-Za-z0-9._-]+$/.test(r.resourceName)) return { code: status.UNKNOWN, details: `invalid extended resource name ${r.resourceName}` };
    if (r.endpoint === '' || r.endpoint.includes('/')) return { code: status.UNKNOWN, details: `endpoint ${r.endpoint} is not a file name` };
    return null;
  }

  /** Like kubelet: replace any previous connection for the resource, ask for options, open ListAndWatch. */
  #connect(request: RegisterRequest): void {
    const previous = this.#connections.get(request.resourceName);
    if (previous !== undefined) this.#disconnect(previous);
    const client = new DevicePluginClient(`unix:${path.join(this.dir, request.endpoint)}`, credentials.createInsecure());
    const conn: Connection = { endpoint: request.endpoint, client, stream: null, options: null, lists: [] };
    this.#connections.set(request.resourceName, conn);
    client.getDevicePluginOptions({}, new Metadata(), deadline(), (err, options) => {
      if (err === null) conn.options = options;
      this.#notify();
    });
    const stream = client.listAndWatch({});
    conn.stream = stream;
    stream.on('data', (r: ListAndWatchResponse) => {
      conn.lists.push(r.devices);
      this.#notify();
    });
    stream.on('error', () => this.#notify());
  }

  #disconnect(c: Connection): void {
    c.stream?.cancel();
    c.client.close();
  }
}

function deadline(): { deadline: number } {
  return { deadline: Date.now() + CALL_TIMEOUT_MS };
}

function unary<T>(call: (cb: (err: ServiceError | null, value?: T) => void) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    call((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}
