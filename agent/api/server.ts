/**
 * The local gRPC API on a unix socket: AgentService, the standard health
 * service (grpc.health.v1) and server reflection, so stock tools such as
 * grpcurl and grpc_health_probe work against the agent.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { DeviceRegistry } from '../daemon/device-registry.js';
import type { Service } from '../daemon/service.js';
import { AccelError, ErrorCode, describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { packageVersion } from '../package-root.js';
import { createAgentService, type AgentService } from './agent-service.js';
import { AGENT_SERVICE_NAME, DEFAULT_SOCKET_PATH } from './defaults.js';
import { DescriptorIndex } from './descriptor-index.js';
import { AgentServiceService } from './gen/accel/agent/v1/agent.js';
import { API_DESCRIPTOR_SET_BASE64 } from './gen/descriptors.js';
import { HealthService, ServingStatus } from './health-service.js';
import { ReflectionService } from './reflection-service.js';
import { discardPlan, prepareSocket, publishSocket, removeSocket } from './socket-file.js';

export interface ApiServerOptions {
  registry: DeviceRegistry;
  /** Default /run/accel-agent/agent.sock. */
  socketPath?: string;
  /** Permission bits of the socket; default 0660 (owner and group). */
  socketMode?: number;
  /** Group to own the socket (and its directory, when the server creates it). */
  gid?: number;
  /** Reported by GetHostInfo; default the package version. */
  agentVersion?: string;
  /** How long stop() lets calls finish before cutting them off; default 5 s. */
  shutdownTimeoutMs?: number;
  /** How far a watcher may fall behind before its stream is ended; default 1000 messages. */
  maxQueuedEvents?: number;
  logger?: Logger;
}

export class ApiServer implements Service {
  readonly name = 'api';
  readonly socketPath: string;
  readonly #options: ApiServerOptions;
  readonly #logger: Logger;
  #server: Server | null = null;
  #service: AgentService | null = null;
  #health: HealthService | null = null;
  #socketIno: number | null = null;

  constructor(options: ApiServerOptions) {
    this.#options = options;
    // Not resolved against the working directory: a privileged daemon takes absolute paths only.
    this.socketPath = options.socketPath ?? DEFAULT_SOCKET_PATH;
    this.#logger = options.logger ?? silentLogger;
  }

  async start(): Promise<void> {
    if (this.#server !== null) throw new AccelError(ErrorCode.API_SOCKET, 'the API server is already running');
    const { gid } = this.#options;
    const plan = await prepareSocket(this.socketPath, { gid });
    const server = new Server({
      // Requests are a few bytes; a large one is a mistake or an attack.
      'grpc.max_receive_message_length': 64 * 1024,
    });
    try {
      const service = createAgentService({
        registry: this.#options.registry,
        agentVersion: this.#options.agentVersion ?? packageVersion(),
        maxQueuedEvents: this.#options.maxQueuedEvents ?? 1000,
        logger: this.#logger,
      });
      server.addService(AgentServiceService, service.implementation);
      const health = new HealthService({ '': ServingStatus.NOT_SERVING, [AGENT_SERVICE_NAME]: ServingStatus.NOT_SERVING });
      health.addToServer(server);
      new ReflectionService(DescriptorIndex.parse(Buffer.from(API_DESCRIPTOR_SET_BASE64, 'base64'))).addToServer(server);

      await new Promise<void>((resolve, reject) => {
        server.bindAsync(`unix:${plan.bindPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
      });
      this.#socketIno = await publishSocket(plan, this.#options.socketMode ?? 0o660, gid);
      health.setStatus('', ServingStatus.SERVING);
      health.setStatus(AGENT_SERVICE_NAME, ServingStatus.SERVING);
      this.#server = server;
      this.#service = service;
      this.#health = health;
    } catch (err) {
      server.forceShutdown();
      await discardPlan(plan);
      if (err instanceof AccelError) throw err;
      throw new AccelError(ErrorCode.API_SOCKET, `cannot serve the API on ${this.socketPath}`, { cause: err });
    }
    this.#logger.info({ socket: this.socketPath }, 'API serving');
  }

  /**
   * Ends watch streams, lets in-flight calls finish for up to the shutdown
   * timeout, then closes whatever is left and removes the socket.
   */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    this.#health?.setStatus('', ServingStatus.NOT_SERVING);
    this.#health?.setStatus(AGENT_SERVICE_NAME, ServingStatus.NOT_SERVING);
    this.#service?.endWatches();
    const timeoutMs = this.#options.shutdownTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const graceful = await Promise.race([
      new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!graceful) {
      this.#logger.warn({ timeoutMs }, 'API calls still open at the shutdown deadline; closing them');
      server.forceShutdown();
    }
    if (this.#socketIno !== null) {
      try {
        await removeSocket(this.socketPath, this.#socketIno);
      } catch (err) {
        this.#logger.warn({ socket: this.socketPath, err: describeError(err) }, 'cannot remove the API socket');
      }
      this.#socketIno = null;
    }
    this.#logger.info({ socket: this.socketPath }, 'API stopped');
  }

  /** Open watch streams (0 when stopped). */
  watchCount(): number {
    return this.#server === null ? 0 : (this.#service?.watchCount() ?? 0);
  }
}
