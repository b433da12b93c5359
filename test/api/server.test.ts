import { promises as fs, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import t, { type Test } from 'tap';
import { AgentClient } from '../../agent/api/client.js';
import type { WatchEvent } from '../../agent/api/convert.js';
import { ApiServer, type ApiServerOptions } from '../../agent/api/server.js';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { ErrorCode } from '../../agent/errors.js';
import type { Device } from '../../agent/model/device.js';
import { packageRoot } from '../../agent/package-root.js';
import { commonJsLoadedBy, filesOfPackage } from '../helpers/loaded-packages.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';
import { makeStaleSocket, socketDir } from '../helpers/unix-sockets.js';

interface Running {
  registry: DeviceRegistry;
  server: ApiServer;
  client: AgentClient;
  socketPath: string;
}

async function serve(t: Test, options: Partial<ApiServerOptions> = {}): Promise<Running> {
  const registry = options.registry ?? new DeviceRegistry({ initial: inventory([gpu(0), gpu(1), npu(0)]) });
  const socketPath = options.socketPath ?? path.join(socketDir(t), 'agent.sock');
  const server = new ApiServer({ agentVersion: '9.9.9-test', shutdownTimeoutMs: 2000, ...options, registry, socketPath });
  await server.start();
  const client = new AgentClient({ socketPath });
  t.teardown(async () => {
    client.close();
    await server.stop();
  });
  return { registry, server, client, socketPath };
}

/** Reads watch events in the background so tests can wait for the n-th one. */
function collect(stream: AsyncGenerator<WatchEvent>) {
  const events: WatchEvent[] = [];
  const waiters: Array<() => void> = [];
  const done = (async () => {
    for await (const e of stream) {
      events.push(e);
      waiters.splice(0).forEach((w) => w());
    }
  })();
  return {
    events,
    done,
    async until(n: number): Promise<WatchEvent[]> {
      while (events.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
      return events;
    },
  };
}

function rawClient<T>(protoFile: string, includeDirs: string[], dotted: string, socketPath: string): T {
  const def = grpc.loadPackageDefinition(loadSync(protoFile, { includeDirs, enums: String }));
  const ctor = dotted.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], def) as grpc.ServiceClientConstructor;
  return new ctor(`unix:${socketPath}`, grpc.credentials.createInsecure()) as unknown as T;
}

t.test('ListDevices returns every device in registry order with the revision', async (t) => {
  const { client } = await serve(t);
  const list = await client.listDevices();
  t.equal(list.revision, 3);
  t.same(list.devices, [gpu(0), gpu(1), npu(0)], 'devices survive the wire unchanged, nulls included');
});

t.test('GetDevice finds a device by id and answers NOT_FOUND for an unknown one', async (t) => {
  const { client } = await serve(t);
  t.same(await client.getDevice(npu(0).id), npu(0));
  await t.rejects(client.getDevice('GPU-does-not-exist'), { code: ErrorCode.NOT_FOUND, message: /GPU-does-not-exist/ });
});

t.test('GetDevice refuses an empty or oversized id as invalid', async (t) => {
  const { client } = await serve(t);
  await t.rejects(client.getDevice(''), { code: ErrorCode.API_CALL, message: /1 to 256 characters/ });
  await t.rejects(client.getDevice('x'.repeat(10_000)), { code: ErrorCode.API_CALL });
});

t.test('GetHostInfo returns host facts, drivers, labels and the agent version', async (t) => {
  const { client } = await serve(t);
  const info = await client.getHostInfo();
  t.equal(info.agentVersion, '9.9.9-test');
  t.same(info.host, inventory([]).host);
  t.same(info.drivers, inventory([]).drivers);
  t.equal(info.labels['accel.example.com/nvidia.count'], '2');
  t.equal(info.deviceCount, 3);
  t.equal(info.revision, 3);
});

t.test('GetHostInfo before the first scan says the agent is not ready', async (t) => {
  const { client } = await serve(t, { registry: new DeviceRegistry() });
  await t.rejects(client.getHostInfo(), { code: ErrorCode.API_UNAVAILABLE, message: /first device scan/ });
  t.same(await client.listDevices(), { revision: 0, devices: [] });
});

t.test('a device the wire cannot express fails the call with INTERNAL, and the server keeps serving', async (t) => {
  const registry = new DeviceRegistry({ initial: inventory([gpu(0, { vendor: 'amd' as Device['vendor'] })]) });
  const { client } = await serve(t, { registry });
  await t.rejects(client.listDevices(), { code: ErrorCode.API_CALL, message: /vendor "amd"/ });
  registry.update(inventory([gpu(0)]));
  t.equal((await client.listDevices()).devices.length, 1);
});

t.test('watch starts with a snapshot, then reports health, added, removed and updated with revisions', async (t) => {
  const { client, registry, server } = await serve(t);
  const ac = new AbortController();
  const w = collect(client.watch({ signal: ac.signal }));
  const [snapshot] = await w.until(1);
  t.equal(snapshot?.type, 'snapshot');
  t.same(snapshot?.type === 'snapshot' && snapshot.devices.map((d) => d.id), [gpu(0).id, gpu(1).id, npu(0).id]);
  t.equal(snapshot?.revision, 3);
  t.equal(server.watchCount(), 1);

  registry.setHealth(gpu(1).id, 'Unhealthy', 'XID 79: GPU has fallen off the bus');
  registry.update(inventory([gpu(1), npu(0, { driverVersion: '1.2.3' }), gpu(2)]));
  const events = await w.until(5);
  t.same(
    events.slice(1).map((e) => [e.type, e.type === 'snapshot' ? '' : e.device.id, e.revision]),
    [
      ['health', gpu(1).id, 4],
      ['removed', gpu(0).id, 5],
      ['added', gpu(2).id, 6],
      ['updated', npu(0).id, 7],
    ],
  );
  const health = events[1]!;
  t.ok(health.type === 'health');
  if (health.type === 'health') {
    t.equal(health.device.health, 'Unhealthy');
    t.equal(health.device.healthReason, 'XID 79: GPU has fallen off the bus');
    t.equal(health.previousHealth, 'Healthy');
  }
  const updated = events[4]!;
  t.same(updated.type === 'updated' && updated.fields, ['driverVersion']);
  ac.abort();
  await w.done;
});

t.test('watch can skip the snapshot', async (t) => {
  const { client, registry, server } = await serve(t);
  const ac = new AbortController();
  const w = collect(client.watch({ skipSnapshot: true, signal: ac.signal }));
  await t.resolveMatch(waitFor(() => server.watchCount() === 1), true);
  registry.update(inventory([gpu(0)]));
  const events = await w.until(2);
  t.same(events.map((e) => e.type), ['removed', 'removed']);
  ac.abort();
  await w.done;
});

t.test('a cancelled watch unsubscribes from the registry', async (t) => {
  const { client, registry, server } = await serve(t);
  const ac = new AbortController();
  const w = collect(client.watch({ signal: ac.signal }));
  await w.until(1);
  t.equal(server.watchCount(), 1);
  ac.abort();
  await w.done;
  t.ok(await waitFor(() => server.watchCount() === 0), 'the server noticed the cancel');
  t.doesNotThrow(() => registry.setHealth(gpu(0).id, 'Unhealthy', 'after cancel'));
});

t.test('stop ends open watch streams and removes the socket', async (t) => {
  const { client, server, socketPath } = await serve(t);
  const w = collect(client.watch());
  await w.until(1);
  await server.stop();
  await t.resolves(w.done, 'the watch ended instead of hanging');
  t.equal(server.watchCount(), 0);
  await t.rejects(fs.lstat(socketPath), { code: 'ENOENT' });
  await t.rejects(client.listDevices(), { code: ErrorCode.API_UNAVAILABLE, message: new RegExp(socketPath) });
  await t.resolves(server.stop(), 'stop is idempotent');
});

t.test('a watcher that stops reading is cut off instead of buffering without bound', async (t) => {
  const { socketPath, registry } = await serve(t, { maxQueuedEvents: 4 });
  type Raw = { watchDevices(req: object): grpc.ClientReadableStream<unknown> };
  const raw = rawClient<Raw & grpc.Client>(path.join(packageRoot(), 'agent/api/proto/accel/agent/v1/agent.proto'), [], 'accel.agent.v1.AgentService', socketPath);
  t.teardown(() => raw.close());
  const call = raw.watchDevices({ skipSnapshot: true });
  call.pause();
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 200));
  // Large events fill the transport's flow-control window quickly.
  const big = 'x'.repeat(16 * 1024);
  for (let i = 0; i < 400; i++) registry.setHealth(gpu(0).id, 'Unhealthy', `${big}${i}`);
  call.resume();
  t.equal((await status).code, grpc.status.RESOURCE_EXHAUSTED);
});

t.test('the standard health service reports SERVING for the server and AgentService', async (t) => {
  const { socketPath } = await serve(t);
  type Check = (req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void) => void;
  const health = rawClient<grpc.Client & { check: Check }>(healthProtoPath, [], 'grpc.health.v1.Health', socketPath);
  t.teardown(() => health.close());
  const check = (service: string) =>
    new Promise<string>((resolve, reject) => health.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));
  t.equal(await check(''), 'SERVING');
  t.equal(await check('accel.agent.v1.AgentService'), 'SERVING');
  await t.rejects(check('no.such.Service'), { code: grpc.status.NOT_FOUND });
});

t.test('reflection lists AgentService and serves its descriptor', async (t) => {
  const { socketPath } = await serve(t);
  const require = createRequire(import.meta.url);
  const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  type Stream = grpc.ClientDuplexStream<object, Record<string, { service?: { name: string }[]; fileDescriptorProto?: Buffer[] }>>;
  const refl = rawClient<grpc.Client & { ServerReflectionInfo(): Stream }>(reflectionProto, [], 'grpc.reflection.v1.ServerReflection', socketPath);
  t.teardown(() => refl.close());
  const ask = (req: object) =>
    new Promise<Record<string, { service?: { name: string }[]; fileDescriptorProto?: Buffer[] }>>((resolve, reject) => {
      const s = refl.ServerReflectionInfo();
      s.once('data', (d) => {
        resolve(d);
        s.end();
      });
      s.once('error', reject);
      s.write(req);
    });
  const listed = await ask({ listServices: '*' });
  const names = listed['listServicesResponse']?.service?.map((s) => s.name) ?? [];
  t.ok(names.includes('accel.agent.v1.AgentService'), `listed: ${names.join(', ')}`);
  t.ok(names.includes('grpc.health.v1.Health'));
  const file = await ask({ fileContainingSymbol: 'accel.agent.v1.AgentService' });
  const descriptors = file['fileDescriptorResponse']?.fileDescriptorProto ?? [];
  t.ok(descriptors.length > 0);
  t.ok(Buffer.concat(descriptors).includes('WatchDevices'), 'the descriptor describes the watch rpc');
});

t.test('the socket is 0660 and its missing directory is created 0750', async (t) => {
  const dir = path.join(socketDir(t), 'run', 'accel-agent');
  const { socketPath } = await serve(t, { socketPath: path.join(dir, 'agent.sock') });
  const st = await fs.lstat(socketPath);
  t.ok(st.isSocket());
  t.equal((st.mode & 0o777).toString(8), '660');
  t.equal(((await fs.stat(dir)).mode & 0o777).toString(8), '750');
  t.same((await fs.readdir(dir)).sort(), ['agent.sock'], 'no private bind directory is left behind');
});

t.test('a configured socket mode and group are applied', { skip: process.getuid?.() !== 0 ? 'needs root to chown' : false }, async (t) => {
  const dir = path.join(socketDir(t), 'fresh');
  const { socketPath } = await serve(t, { socketPath: path.join(dir, 'agent.sock'), gid: 4321, socketMode: 0o600 });
  const st = await fs.lstat(socketPath);
  t.equal(st.gid, 4321);
  t.equal((st.mode & 0o777).toString(8), '600');
  t.equal((await fs.stat(dir)).gid, 4321, 'the directory it created lets the group through');
});

t.test('a stale socket left by a crash is replaced', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  await makeStaleSocket(socketPath);
  const staleIno = (await fs.lstat(socketPath)).ino;
  const { client } = await serve(t, { socketPath });
  t.not((await fs.lstat(socketPath)).ino, staleIno);
  t.equal((await client.listDevices()).devices.length, 3);
});

t.test('a regular file at the socket path is refused, not deleted', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  writeFileSync(socketPath, 'precious');
  const server = new ApiServer({ registry: new DeviceRegistry(), socketPath });
  await t.rejects(server.start(), { code: ErrorCode.API_SOCKET, message: /refusing to replace .*not a socket/ });
  t.equal(await fs.readFile(socketPath, 'utf8'), 'precious');
  t.same(await fs.readdir(path.dirname(socketPath)), ['agent.sock'], 'nothing else left behind');
});

t.test('a symlink at the socket path is refused, even one pointing at a socket', async (t) => {
  const dir = socketDir(t);
  const target = path.join(dir, 'elsewhere.sock');
  await makeStaleSocket(target);
  const socketPath = path.join(dir, 'agent.sock');
  symlinkSync(target, socketPath);
  const server = new ApiServer({ registry: new DeviceRegistry(), socketPath });
  await t.rejects(server.start(), { code: ErrorCode.API_SOCKET, message: /symbolic link/ });
  t.ok((await fs.lstat(socketPath)).isSymbolicLink());
  t.ok((await fs.lstat(target)).isSocket());
});

t.test('a second server on a live socket is refused and the first keeps serving', async (t) => {
  const { socketPath, client } = await serve(t);
  const second = new ApiServer({ registry: new DeviceRegistry(), socketPath });
  await t.rejects(second.start(), { code: ErrorCode.API_SOCKET, message: /already serving/ });
  t.equal((await client.listDevices()).devices.length, 3);
});

t.test('a relative or overlong socket path is refused', async (t) => {
  const registry = new DeviceRegistry();
  await t.rejects(new ApiServer({ registry, socketPath: path.join(socketDir(t), 'x'.repeat(120)) }).start(), {
    code: ErrorCode.API_SOCKET,
    message: /longer than/,
  });
  await t.rejects(new ApiServer({ registry, socketPath: 'run/agent.sock' }).start(), { code: ErrorCode.API_SOCKET, message: /absolute/ });
});

t.test('starting twice is refused', async (t) => {
  const { server } = await serve(t);
  await t.rejects(server.start(), { code: ErrorCode.API_SOCKET, message: /already running/ });
});

t.test('stop does not remove a socket that another server has since put at the path', async (t) => {
  const { server, socketPath } = await serve(t);
  await fs.unlink(socketPath);
  const successor = new ApiServer({ registry: new DeviceRegistry(), socketPath });
  await successor.start();
  t.teardown(() => successor.stop());
  await server.stop();
  t.ok((await fs.lstat(socketPath)).isSocket(), "the successor's socket is still there");
});

t.test('serving the API loads none of the packages that health and reflection used to need', async (t) => {
  const dropped = ['@grpc/proto-loader', '@grpc/reflection', 'grpc-health-check', 'protobufjs'];
  // This test file itself loads those packages for its raw clients; the server runs in a fresh process.
  const loaded = await commonJsLoadedBy(
    `
    const { ApiServer } = await import(${JSON.stringify(path.join(packageRoot(), 'agent/api/server.ts'))});
    const { DeviceRegistry } = await import(${JSON.stringify(path.join(packageRoot(), 'agent/daemon/device-registry.ts'))});
    const server = new ApiServer({ registry: new DeviceRegistry(), socketPath: ${JSON.stringify(path.join(socketDir(t), 'agent.sock'))} });
    await server.start();
    await server.stop();`,
    process.execArgv,
  );
  t.ok(filesOfPackage(loaded, '@grpc/grpc-js').length > 0, 'the check sees packages the server does load');
  for (const name of dropped) t.same(filesOfPackage(loaded, name), [], `${name} is not loaded`);
});

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
