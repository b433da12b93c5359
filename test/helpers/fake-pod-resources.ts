/** A fake kubelet pod-resources API: a real grpc-js server on a unix socket, as kubelet serves it. */
import { Server, ServerCredentials, type status } from '@grpc/grpc-js';
import type { Test } from 'tap';
import { PodResourcesListerService, type ListPodResourcesResponse, type PodResourcesListerServer } from '../../agent/kubelet/gen/podresources/v1/api.js';

export type PodResourcesAnswer = ListPodResourcesResponse | { code: status; details: string };

/** A pod holding the given device ids in one container. */
export function podHolding(name: string, namespace: string, container: string, deviceIds: string[], resourceName = 'nvidia.com/gpu') {
  return { name, namespace, containers: [{ name: container, devices: [{ resourceName, deviceIds }] }] };
}

/** Serves List on `socketPath` (keep it short: unix socket paths are limited to ~107 bytes), answering from `answer` on each call. */
export async function servePodResources(t: Test, socketPath: string, answer: () => PodResourcesAnswer): Promise<void> {
  const server = new Server();
  const impl: PodResourcesListerServer = {
    list: (_call, callback) => {
      const a = answer();
      if ('code' in a) callback({ code: a.code, details: a.details });
      else callback(null, a);
    },
  };
  server.addService(PodResourcesListerService, impl);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  // Forced: a client left waiting on a call must not hold the test open.
  t.teardown(() => server.forceShutdown());
}
