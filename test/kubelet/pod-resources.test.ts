import t from 'tap';
import os from 'node:os';
import path from 'node:path';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { PodResourcesListerService, type PodResourcesListerServer } from '../../agent/kubelet/gen/podresources/v1/api.js';
import { DeviceOwnerCache, PodResourcesClient, deviceOwners, physicalDeviceId, type OwnerLookup } from '../../agent/kubelet/pod-resources.js';
import { podHolding as pod, servePodResources } from '../helpers/fake-pod-resources.js';
import { makeStaleSocket, socketDir } from '../helpers/unix-sockets.js';

t.test('physicalDeviceId strips time-slicing replica suffixes only', async (t) => {
  t.equal(physicalDeviceId('GPU-abc::0'), 'GPU-abc');
  t.equal(physicalDeviceId('GPU-abc::17'), 'GPU-abc');
  t.equal(physicalDeviceId('GPU-abc'), 'GPU-abc');
  t.equal(physicalDeviceId('weird::name'), 'weird::name', 'a suffix that is not a replica number stays');
  t.equal(physicalDeviceId('::3'), '::3', 'nothing before the separator is no device id');
});

t.test('deviceOwners maps device ids to pod, namespace and container', async (t) => {
  const owners = deviceOwners({
    podResources: [
      pod('train-0', 'ml', 'trainer', ['GPU-a', 'GPU-b']),
      pod('infer-1', 'serving', 'server', ['npu-0::2']),
      { name: 'idle', namespace: 'default', containers: [{ name: 'c', devices: [] }] },
    ],
  });
  t.same(Object.fromEntries(owners), {
    'GPU-a': { pod: 'train-0', namespace: 'ml', container: 'trainer' },
    'GPU-b': { pod: 'train-0', namespace: 'ml', container: 'trainer' },
    'npu-0': { pod: 'infer-1', namespace: 'serving', container: 'server' },
  });
});

t.test('replicas of one device held by several containers are listed in a stable, aligned order', async (t) => {
  const a = deviceOwners({ podResources: [pod('b-pod', 'ml', 'x', ['GPU-a::1']), pod('a-pod', 'ml', 'y', ['GPU-a::0', 'GPU-a::3'])] });
  const b = deviceOwners({ podResources: [pod('a-pod', 'ml', 'y', ['GPU-a::3', 'GPU-a::0']), pod('b-pod', 'ml', 'x', ['GPU-a::1'])] });
  t.same(a.get('GPU-a'), { pod: 'a-pod,b-pod', namespace: 'ml,ml', container: 'y,x' }, 'one entry per container, not per replica');
  t.same(b.get('GPU-a'), a.get('GPU-a'), 'the order of kubelet’s answer does not matter');
});

t.test('the client lists owners from a real gRPC server on a unix socket', async (t) => {
  const socket = path.join(socketDir(t), 'kubelet.sock');
  await servePodResources(t, socket, () => ({ podResources: [pod('train-0', 'ml', 'main', ['GPU-1234::0'])] }));
  const client = new PodResourcesClient(socket);
  const owners = await client.listDeviceOwners();
  t.same(Object.fromEntries(owners), { 'GPU-1234': { pod: 'train-0', namespace: 'ml', container: 'main' } });
  t.equal((await client.lookup()).problem, null);
});

t.test('a missing socket gives no owners and says why', async (t) => {
  const client = new PodResourcesClient(path.join(socketDir(t), 'kubelet.sock'));
  const r = await client.lookup();
  t.equal(r.owners.size, 0);
  t.match(r.problem, /does not exist/);
  t.equal((await client.listDeviceOwners()).size, 0);
});

t.test('a path that is no socket gives no owners and says why', async (t) => {
  const r = await new PodResourcesClient(os.tmpdir()).lookup();
  t.equal(r.owners.size, 0);
  t.match(r.problem, /is not a socket/);
});

t.test('a socket nobody listens on (kubelet gone) gives no owners and says why', async (t) => {
  const socket = path.join(socketDir(t), 'kubelet.sock');
  await makeStaleSocket(socket);
  const r = await new PodResourcesClient(socket).lookup();
  t.equal(r.owners.size, 0);
  t.match(r.problem, /List .* failed/);
});

t.test('a server error gives no owners and carries the details', async (t) => {
  const socket = path.join(socketDir(t), 'kubelet.sock');
  await servePodResources(t, socket, () => ({ code: status.UNAVAILABLE, details: 'pod-resources is shutting down' }));
  const r = await new PodResourcesClient(socket).lookup();
  t.equal(r.owners.size, 0);
  t.match(r.problem, /List .* failed: pod-resources is shutting down/);
});

t.test('a server that does not answer in time gives no owners within the deadline', async (t) => {
  const socket = path.join(socketDir(t), 'kubelet.sock');
  const server = new Server();
  // Never calls back: a hung kubelet.
  server.addService(PodResourcesListerService, { list: () => {} } satisfies PodResourcesListerServer);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  t.teardown(() => server.forceShutdown());
  const started = performance.now();
  const r = await new PodResourcesClient(socket, { deadlineMs: 200 }).lookup();
  t.equal(r.owners.size, 0);
  t.match(r.problem, /failed/);
  t.ok(performance.now() - started < 2000, 'the deadline bounds the wait');
});

t.test('the owner cache asks at most once per TTL and reports changes', async (t) => {
  let now = 0;
  let calls = 0;
  let answer: OwnerLookup = { owners: new Map(), problem: 'no socket' };
  const cache = new DeviceOwnerCache(async () => (calls++, answer), 5000, () => now);

  let r = await cache.get();
  t.same([calls, r.changed, r.problem, r.problemChanged], [1, false, 'no socket', true], 'first lookup: nothing owned, a new problem');
  now = 1000;
  answer = { owners: new Map([['GPU-a', { pod: 'p', namespace: 'n', container: 'c' }]]), problem: null };
  r = await cache.get();
  t.same([calls, r.changed, r.owners.size], [1, false, 0], 'within the TTL the cached owners are reused');
  now = 5000;
  r = await cache.get();
  t.same([calls, r.changed, r.owners.get('GPU-a')?.pod, r.problemChanged], [2, true, 'p', true], 'after the TTL: new owners, problem gone');
  now = 10_000;
  answer = { owners: new Map([['GPU-a', { pod: 'p', namespace: 'n', container: 'c' }]]), problem: null };
  r = await cache.get();
  t.same([calls, r.changed, r.problemChanged], [3, false, false], 'same owners again: no change');
});
