/**
 * A small typed client for the agent's local API, speaking model types.
 * Every failure surfaces as an AccelError whose message names the socket, so
 * "agent not running" reads as that rather than as a gRPC status dump.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AccelError, ErrorCode } from '../errors.js';
import type { Device } from '../model/device.js';
import { deviceFromProto, hostInfoFromProto, watchEventFromProto, type HostInfo, type WatchEvent } from './convert.js';
import { DEFAULT_SOCKET_PATH } from './defaults.js';
import { AgentServiceClient, type GetDeviceResponse, type GetHostInfoResponse, type ListDevicesResponse } from './gen/accel/agent/v1/agent.js';

export interface AgentClientOptions {
  /** Default /run/accel-agent/agent.sock. */
  socketPath?: string;
  /** Deadline of each unary call; default 10 s. */
  timeoutMs?: number;
}

export interface DeviceList {
  revision: number;
  devices: Device[];
}

export interface WatchOptions {
  /** Start with changes only. */
  skipSnapshot?: boolean;
  /** Aborting ends the watch quietly. */
  signal?: AbortSignal;
}

export class AgentClient {
  readonly socketPath: string;
  readonly #timeoutMs: number;
  readonly #client: AgentServiceClient;

  constructor(options: AgentClientOptions = {}) {
    this.socketPath = path.resolve(options.socketPath ?? DEFAULT_SOCKET_PATH);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#client = new AgentServiceClient(`unix:${this.socketPath}`, credentials.createInsecure());
  }

  async listDevices(): Promise<DeviceList> {
    const res = await this.#unary<ListDevicesResponse>('ListDevices', (md, opts, cb) => this.#client.listDevices({}, md, opts, cb));
    return { revision: res.revision, devices: res.devices.map(deviceFromProto) };
  }

  /** Rejects with NOT_FOUND when the agent has no such device. */
  async getDevice(id: string): Promise<Device> {
    const res = await this.#unary<GetDeviceResponse>('GetDevice', (md, opts, cb) => this.#client.getDevice({ id }, md, opts, cb));
    if (res.device === undefined) throw new AccelError(ErrorCode.PROTOCOL, 'the agent answered GetDevice without a device');
    return deviceFromProto(res.device);
  }

  async getHostInfo(): Promise<HostInfo> {
    const res = await this.#unary<GetHostInfoResponse>('GetHostInfo', (md, opts, cb) => this.#client.getHostInfo({}, md, opts, cb));
    return hostInfoFromProto(res);
  }

  /**
   * Device events until the signal aborts (then it ends quietly), the agent
   * ends the stream (it ends too), or an error (thrown).
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    const { signal } = options;
    if (signal?.aborted) return;
    await this.#preflight();
    const call = this.#client.watchDevices({ skipSnapshot: options.skipSnapshot ?? false });
    const cancel = () => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const message of call) yield watchEventFromProto(message);
    } catch (err) {
      if (signal?.aborted && (err as Partial<ServiceError>).code === status.CANCELLED) return;
      throw this.#translate('WatchDevices', err);
    } finally {
      signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  close(): void {
    this.#client.close();
  }

  async #unary<T>(
    method: string,
    invoke: (metadata: Metadata, options: { deadline: Date }, cb: (err: ServiceError | null, res: T) => void) => void,
  ): Promise<T> {
    await this.#preflight();
    return new Promise<T>((resolve, reject) => {
      const options = { deadline: new Date(Date.now() + this.#timeoutMs) };
      invoke(new Metadata(), options, (err, res) => (err ? reject(this.#translate(method, err)) : resolve(res)));
    });
  }

  /** Tells a missing or wrong socket apart before gRPC blurs it into UNAVAILABLE. */
  async #preflight(): Promise<void> {
    let st;
    try {
      st = await fs.stat(this.socketPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const details = { socket: this.socketPath };
      if (code === 'ENOENT') throw new AccelError(ErrorCode.API_UNAVAILABLE, `agent API socket ${this.socketPath} does not exist (is accel-agent running?)`, { details });
      if (code === 'EACCES') throw new AccelError(ErrorCode.API_UNAVAILABLE, `agent API socket ${this.socketPath} is not accessible to this user`, { details });
      throw new AccelError(ErrorCode.API_UNAVAILABLE, `agent API socket ${this.socketPath} cannot be checked`, { cause: err, details });
    }
    if (!st.isSocket()) {
      throw new AccelError(ErrorCode.API_UNAVAILABLE, `agent API socket ${this.socketPath} is not a socket`, { details: { socket: this.socketPath } });
    }
  }

  #translate(method: string, err: unknown): AccelError {
    if (err instanceof AccelError) return err;
    const e = err as Partial<ServiceError>;
    const details = { socket: this.socketPath, method, grpcCode: e.code };
    const said = e.details ?? (err as Error).message;
    switch (e.code) {
      case status.NOT_FOUND:
        return new AccelError(ErrorCode.NOT_FOUND, said, { details });
      case status.UNAVAILABLE:
        // The gRPC text ("No connection established. Last error: ...") adds nothing the summary lacks.
        return new AccelError(ErrorCode.API_UNAVAILABLE, `agent at ${this.socketPath} is unavailable: ${unavailableReason(said)}`, { details });
      case status.DEADLINE_EXCEEDED:
        return new AccelError(ErrorCode.API_UNAVAILABLE, `agent at ${this.socketPath} did not answer ${method} within ${this.#timeoutMs} ms`, { cause: err, details });
      default:
        return new AccelError(ErrorCode.API_CALL, `${method} failed: ${said}`, { cause: err, details });
    }
  }
}

function unavailableReason(details: string): string {
  if (/ECONNREFUSED/.test(details)) return 'nothing is listening (is accel-agent running?)';
  if (/EACCES|EPERM/.test(details)) return 'permission denied';
  return details;
}
