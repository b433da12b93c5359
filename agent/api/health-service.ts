/**
 * The standard gRPC health service (grpc.health.v1.Health), which kubelet
 * gRPC probes and grpc_health_probe ask. It reports the status set for each
 * service name; "" stands for the server as a whole.
 */
import { status, type Server } from '@grpc/grpc-js';
import {
  HealthService as HealthDefinition,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthServer,
} from './gen/grpc/health/v1/health.js';

export { ServingStatus };

interface Watcher {
  service: string;
  send(status: ServingStatus): void;
}

export class HealthService {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Set<Watcher>();

  constructor(initial: Record<string, ServingStatus> = {}) {
    for (const [service, serving] of Object.entries(initial)) this.#statuses.set(service, serving);
  }

  /** Watchers hear of a change only: the protocol promises a message per change, not per call. */
  setStatus(service: string, serving: ServingStatus): void {
    if (this.#statuses.get(service) === serving) return;
    this.#statuses.set(service, serving);
    for (const watcher of this.#watchers) if (watcher.service === service) watcher.send(serving);
  }

  /** Open Watch calls. */
  watchCount(): number {
    return this.#watchers.size;
  }

  addToServer(server: Server): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const serving = this.#statuses.get(call.request.service);
        if (serving === undefined) callback({ code: status.NOT_FOUND, details: `no health status for service ${JSON.stringify(call.request.service)}` });
        else callback(null, { status: serving });
      },
      watch: (call) => {
        // Unlike Check, Watch answers for any name: a client may wait for a service to appear.
        const watcher: Watcher = { service: call.request.service, send: (serving) => call.write({ status: serving }) };
        this.#watchers.add(watcher);
        call.once('cancelled', () => this.#watchers.delete(watcher));
        watcher.send(this.#statuses.get(watcher.service) ?? ServingStatus.SERVICE_UNKNOWN);
      },
      list: (_call, callback) => {
        const statuses = Object.fromEntries([...this.#statuses].map(([service, serving]) => [service, { status: serving }]));
        callback(null, { statuses });
      },
    };
    server.addService(HealthDefinition, implementation);
  }
}
