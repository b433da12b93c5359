/**
 * The AgentService handlers: read the device registry, never change it.
 * Watch streams are tracked so the server can end them on shutdown.
 */
import { status, type ServerErrorResponse, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { DeviceRegistry } from '../daemon/device-registry.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { deviceToProto, hostInfoToProto, registryEventToProto, snapshotToProto } from './convert.js';
import type { AgentServiceServer, WatchDevicesRequest, WatchDevicesResponse } from './gen/accel/agent/v1/agent.js';

export interface AgentServiceOptions {
  registry: DeviceRegistry;
  agentVersion: string;
  /** Messages a watcher may fall behind by before its stream is ended. */
  maxQueuedEvents: number;
  logger: Logger;
}

export interface AgentService {
  implementation: AgentServiceServer;
  /** Ends every open watch stream with OK and refuses new ones. */
  endWatches(): void;
  /** Open watch streams, for tests and logs. */
  watchCount(): number;
}

const MAX_ID_LENGTH = 256;

function fail(code: status, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

/** Runs a unary handler body, turning a thrown error into INTERNAL instead of a crash. */
function unary<Res>(logger: Logger, method: string, callback: sendUnaryData<Res>, body: () => Res | ServerErrorResponse): void {
  let result: Res | ServerErrorResponse;
  try {
    result = body();
  } catch (err) {
    logger.error({ method, err: describeError(err) }, 'API handler failed');
    callback(fail(status.INTERNAL, `${method} failed: ${describeError(err)}`));
    return;
  }
  if (result instanceof Error) callback(result);
  else callback(null, result);
}

export function createAgentService(options: AgentServiceOptions): AgentService {
  const { registry, logger } = options;
  const watches = new Set<() => void>();
  let closing = false;

  const implementation: AgentServiceServer = {
    listDevices: (_call, callback) =>
      unary(logger, 'ListDevices', callback, () => ({
        devices: registry.list().map(deviceToProto),
        revision: registry.revision,
      })),

    getDevice: (call, callback) =>
      unary(logger, 'GetDevice', callback, () => {
        const id = call.request.id;
        if (id === '' || id.length > MAX_ID_LENGTH) {
          return fail(status.INVALID_ARGUMENT, `a device id must have 1 to ${MAX_ID_LENGTH} characters`);
        }
        const device = registry.get(id);
        if (device === undefined) return fail(status.NOT_FOUND, `no device with id ${JSON.stringify(id)}`);
        return { device: deviceToProto(device), revision: registry.revision };
      }),

    getHostInfo: (_call, callback) =>
      unary(logger, 'GetHostInfo', callback, () => {
        const host = registry.host();
        if (host === null) return fail(status.UNAVAILABLE, 'the agent has not finished its first device scan');
        return hostInfoToProto({
          host,
          drivers: registry.drivers(),
          labels: registry.labels(),
          warnings: registry.warnings(),
          agentVersion: options.agentVersion,
          revision: registry.revision,
          deviceCount: registry.list().length,
        });
      }),

    watchDevices: (call: ServerWritableStream<WatchDevicesRequest, WatchDevicesResponse>) => {
      if (closing) {
        call.emit('error', fail(status.UNAVAILABLE, 'the agent is shutting down'));
        return;
      }
      let finished = false;
      // Subscribing and taking the snapshot happen in one synchronous step, so
      // no change can fall between them.
      const unsubscribe = registry.subscribe((event) => {
        if (finished) return;
        if (call.writableLength >= options.maxQueuedEvents) {
          logger.warn({ queued: call.writableLength }, 'device watcher is not reading; ending its stream');
          finish();
          call.emit('error', fail(status.RESOURCE_EXHAUSTED, `watcher fell more than ${options.maxQueuedEvents} events behind`));
          return;
        }
        try {
          call.write(registryEventToProto(event));
        } catch (err) {
          logger.error({ err: describeError(err) }, 'cannot send a device event');
          finish();
          call.emit('error', fail(status.INTERNAL, 'cannot encode a device event'));
        }
      });
      const finish = () => {
        if (finished) return;
        finished = true;
        unsubscribe();
        watches.delete(end);
      };
      const end = () => {
        finish();
        call.end();
      };
      watches.add(end);
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('finish', finish);
      call.on('error', finish);
      if (!call.request.skipSnapshot) {
        try {
          call.write(snapshotToProto(registry.list(), registry.revision));
        } catch (err) {
          finish();
          call.emit('error', fail(status.INTERNAL, `cannot send the device snapshot: ${describeError(err)}`));
        }
      }
    },
  };

  return {
    implementation,
    endWatches() {
      closing = true;
      for (const end of [...watches]) end();
    },
    watchCount: () => watches.size,
  };
}
