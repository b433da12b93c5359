/**
 * Registers a plugin with kubelet: one Register call on kubelet.sock, then
 * the connection is closed (kubelet dials the plugin's own socket itself).
 */
import path from 'node:path';
import { Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import { AccelError, ErrorCode } from '../errors.js';
import { RegistrationClient, type RegisterRequest } from './gen/v1beta1/api.js';
import { KUBELET_SOCKET } from './options.js';

export const DEFAULT_REGISTER_TIMEOUT_MS = 5000;

export async function registerWithKubelet(kubeletDir: string, request: RegisterRequest, timeoutMs = DEFAULT_REGISTER_TIMEOUT_MS): Promise<void> {
  const socket = path.join(kubeletDir, KUBELET_SOCKET);
  const client = new RegistrationClient(`unix:${socket}`, credentials.createInsecure());
  try {
    await new Promise<void>((resolve, reject) => {
      client.register(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (err: ServiceError | null) => (err ? reject(err) : resolve()));
    });
  } catch (err) {
    throw new AccelError(ErrorCode.PLUGIN_REGISTER, `kubelet at ${socket} did not register ${request.resourceName}: ${(err as ServiceError).details ?? String(err)}`, {
      cause: err,
      details: { resource: request.resourceName, endpoint: request.endpoint },
    });
  } finally {
    client.close();
  }
}
