import { spawn } from 'node:child_process';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as officialHealthProto } from 'grpc-health-check';
import t, { type Test } from 'tap';
import { HealthService, ServingStatus } from '../../agent/api/health-service.js';
import { packageRoot } from '../../agent/package-root.js';
import { socketDir } from '../helpers/unix-sockets.js';
import { waitFor } from '../helpers/wait-for.js';

type Status = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
interface HealthClient extends grpc.Client {
  check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: Status }) => void): void;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: Status }>;
  list(req: object, cb: (err: grpc.ServiceError | null, res: { statuses: Record<string, { status: Status }> }) => void): void;
}

/** A server with only the health service; returns its address. */
async function listen(t: Test, health: HealthService): Promise<string> {
  const server = new grpc.Server();
  health.addToServer(server);
  const address = `unix:${path.join(socketDir(t), 'health.sock')}`;
  await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  t.teardown(() => server.forceShutdown());
  return address;
}

/** Served by `health`, through a client built from gRPC's own health.proto rather than ours. */
async function serve(t: Test, health: HealthService): Promise<HealthClient> {
  const address = await listen(t, health);
  const def = grpc.loadPackageDefinition(loadSync(officialHealthProto, { enums: String, defaults: true }));
  const ctor = ((def['grpc'] as grpc.GrpcObject)['health'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
  const client = new (ctor['Health'] as grpc.ServiceClientConstructor)(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
  t.teardown(() => client.close());
  return client;
}

function check(client: HealthClient, service: string): Promise<Status> {
  return new Promise((resolve, reject) => client.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));
}

/** Collects a Watch stream's statuses so a test can wait for the n-th one. */
function watch(client: HealthClient, service: string) {
  const call = client.watch({ service });
  const seen: Status[] = [];
  call.on('data', (m: { status: Status }) => seen.push(m.status));
  call.on('error', () => undefined);
  return {
    call,
    seen,
    until: async (n: number) => {
      await waitFor(() => seen.length >= n, `${n} watch messages for ${JSON.stringify(service)}`);
      return seen;
    },
  };
}

t.test('Check reports the status set for a service and follows changes', async (t) => {
  const health = new HealthService({ '': ServingStatus.NOT_SERVING, 'a.Service': ServingStatus.SERVING });
  const client = await serve(t, health);
  t.equal(await check(client, ''), 'NOT_SERVING');
  t.equal(await check(client, 'a.Service'), 'SERVING');
  health.setStatus('', ServingStatus.SERVING);
  t.equal(await check(client, ''), 'SERVING');
  health.setStatus('later.Service', ServingStatus.NOT_SERVING);
  t.equal(await check(client, 'later.Service'), 'NOT_SERVING', 'a service first named by setStatus');
});

t.test('Check answers NOT_FOUND for a service it has no status for', async (t) => {
  const client = await serve(t, new HealthService({ '': ServingStatus.SERVING }));
  await t.rejects(check(client, 'no.such.Service'), { code: grpc.status.NOT_FOUND, details: /no\.such\.Service/ });
  await t.rejects(check(client, 'x'.repeat(1000)), { code: grpc.status.NOT_FOUND });
});

t.test('Watch sends the current status at once, then one message per change', async (t) => {
  const health = new HealthService({ 'a.Service': ServingStatus.SERVING });
  const client = await serve(t, health);
  const w = watch(client, 'a.Service');
  t.same(await w.until(1), ['SERVING']);
  health.setStatus('a.Service', ServingStatus.SERVING);
  health.setStatus('other.Service', ServingStatus.NOT_SERVING);
  health.setStatus('a.Service', ServingStatus.NOT_SERVING);
  health.setStatus('a.Service', ServingStatus.SERVING);
  t.same(await w.until(3), ['SERVING', 'NOT_SERVING', 'SERVING']);
  // A late duplicate or a leak from the other service would show up here.
  t.equal(await check(client, 'a.Service'), 'SERVING');
  t.same(w.seen, ['SERVING', 'NOT_SERVING', 'SERVING'], 'no message for an unchanged status or for another service');
  w.call.cancel();
});

t.test('Watch on an unknown service says SERVICE_UNKNOWN and reports the service once it appears', async (t) => {
  const health = new HealthService();
  const client = await serve(t, health);
  const w = watch(client, 'late.Service');
  t.same(await w.until(1), ['SERVICE_UNKNOWN']);
  health.setStatus('late.Service', ServingStatus.SERVING);
  t.same(await w.until(2), ['SERVICE_UNKNOWN', 'SERVING']);
  w.call.cancel();
});

t.test('a cancelled Watch leaves no watcher behind', async (t) => {
  const health = new HealthService({ '': ServingStatus.SERVING });
  const client = await serve(t, health);
  const first = watch(client, '');
  const second = watch(client, '');
  await first.until(1);
  await second.until(1);
  t.equal(health.watchCount(), 2);
  first.call.cancel();
  await waitFor(() => health.watchCount() === 1, 'the server to drop the cancelled watch');
  health.setStatus('', ServingStatus.NOT_SERVING);
  t.same(await second.until(2), ['SERVING', 'NOT_SERVING'], 'the other watch still hears changes');
  t.same(first.seen, ['SERVING'], 'the cancelled one does not');
  second.call.cancel();
  await waitFor(() => health.watchCount() === 0, 'the server to drop the last watch');
  t.doesNotThrow(() => health.setStatus('', ServingStatus.SERVING));
});

t.test('a Watch whose client process dies is dropped too', async (t) => {
  const health = new HealthService({ '': ServingStatus.SERVING });
  const address = await listen(t, health);
  // A probe killed mid-watch never cancels; only the transport closing tells the server.
  const script = `
    const grpc = require('@grpc/grpc-js');
    const def = grpc.loadPackageDefinition(require('@grpc/proto-loader').loadSync(${JSON.stringify(officialHealthProto)}));
    const client = new def.grpc.health.v1.Health(${JSON.stringify(address)}, grpc.credentials.createInsecure());
    client.watch({ service: '' }).on('data', () => console.log('watching'));`;
  const child = spawn(process.execPath, ['-e', script], { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(() => {
    child.kill('SIGKILL');
    return exited;
  });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  t.equal(health.watchCount(), 1);
  child.kill('SIGKILL');
  await exited;
  await waitFor(() => health.watchCount() === 0, 'the server to notice the dead client');
});

t.test('List reports every service with its status', async (t) => {
  const health = new HealthService({ '': ServingStatus.SERVING, 'a.Service': ServingStatus.NOT_SERVING });
  const client = await serve(t, health);
  const statuses = await new Promise<Record<string, { status: Status }>>((resolve, reject) =>
    client.list({}, (err, res) => (err ? reject(err) : resolve(res.statuses))),
  );
  t.same(statuses, { '': { status: 'SERVING' }, 'a.Service': { status: 'NOT_SERVING' } });
});
