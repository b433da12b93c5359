import { promises as fs, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { AgentClient } from '../../agent/api/client.js';
import { ApiServer } from '../../agent/api/server.js';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { ErrorCode } from '../../agent/errors.js';
import { gpu, inventory } from '../helpers/sample-inventory.js';
import { makeStaleSocket, socketDir } from '../helpers/unix-sockets.js';

t.test('a missing socket is API_UNAVAILABLE naming the path', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  const client = new AgentClient({ socketPath });
  t.teardown(() => client.close());
  await t.rejects(client.listDevices(), { code: ErrorCode.API_UNAVAILABLE, message: `agent API socket ${socketPath} does not exist (is accel-agent running?)` });
  await t.rejects(client.getHostInfo(), { code: ErrorCode.API_UNAVAILABLE });
  await t.rejects(client.watch().next(), { code: ErrorCode.API_UNAVAILABLE, message: new RegExp(socketPath) });
});

t.test('a regular file at the socket path is API_UNAVAILABLE', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  writeFileSync(socketPath, '');
  const client = new AgentClient({ socketPath });
  t.teardown(() => client.close());
  await t.rejects(client.getDevice('x'), { code: ErrorCode.API_UNAVAILABLE, message: /is not a socket/ });
});

t.test('a stale socket nobody listens on is API_UNAVAILABLE with a hint', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  await makeStaleSocket(socketPath);
  const client = new AgentClient({ socketPath });
  t.teardown(() => client.close());
  await t.rejects(client.listDevices(), { code: ErrorCode.API_UNAVAILABLE, message: new RegExp(`${socketPath}.*nothing is listening`) });
});

t.test('a listener that never answers hits the deadline, reported as unavailable', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  const held: net.Socket[] = [];
  const mute = net.createServer((s) => held.push(s));
  await new Promise<void>((resolve) => mute.listen(socketPath, resolve));
  t.teardown(() => {
    held.forEach((s) => s.destroy());
    mute.close();
  });
  const client = new AgentClient({ socketPath, timeoutMs: 500 });
  t.teardown(() => client.close());
  await t.rejects(client.listDevices(), { code: ErrorCode.API_UNAVAILABLE, message: /did not answer ListDevices within 500 ms|unavailable/ });
});

t.test('watch: an aborted signal ends quietly, breaking out cancels the stream server-side', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  const registry = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const server = new ApiServer({ registry, socketPath, shutdownTimeoutMs: 2000 });
  await server.start();
  const client = new AgentClient({ socketPath });
  t.teardown(async () => {
    client.close();
    await server.stop();
  });

  const ac = new AbortController();
  ac.abort();
  const none = [];
  for await (const e of client.watch({ signal: ac.signal })) none.push(e);
  t.same(none, [], 'an already-aborted watch yields nothing');

  for await (const e of client.watch()) {
    t.equal(e.type, 'snapshot');
    break;
  }
  const until = Date.now() + 10_000;
  while (server.watchCount() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.equal(server.watchCount(), 0, 'leaving the loop cancelled the call');

  const live = new AbortController();
  const seen: string[] = [];
  const loop = (async () => {
    for await (const e of client.watch({ signal: live.signal })) {
      seen.push(e.type);
      if (e.type === 'snapshot') registry.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
      else live.abort();
    }
  })();
  await t.resolves(loop, 'aborting mid-stream is not an error');
  t.same(seen, ['snapshot', 'health']);
});

t.test('the socket path defaults to the agent default', async (t) => {
  const client = new AgentClient();
  t.teardown(() => client.close());
  t.equal(client.socketPath, '/run/accel-agent/agent.sock');
  await fs.access('/run/accel-agent/agent.sock').then(
    () => t.pass('an agent happens to run here'),
    async () => t.rejects(client.listDevices(), { code: ErrorCode.API_UNAVAILABLE, message: /\/run\/accel-agent\/agent\.sock/ }),
  );
});
