import t from 'tap';
import net from 'node:net';
import { ChaosProxy } from '../helpers/chaos-proxy.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

/** An echo server and a client through the proxy, to check each fault does what it claims. */
async function setup(t: { teardown: (fn: () => unknown) => void }) {
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => echo.close(() => r())));
  const proxy = await ChaosProxy.start({ targetPort: (echo.address() as net.AddressInfo).port });
  t.teardown(() => proxy.close());
  const connect = async () => {
    const sock = net.connect(proxy.port, '127.0.0.1');
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let received = '';
    sock.on('data', (d) => (received += d.toString()));
    t.teardown(() => sock.destroy());
    return { sock, received: () => received };
  };
  return { proxy, connect };
}

t.test('forwards faithfully when no fault is set', async (t) => {
  const { connect, proxy } = await setup(t);
  const c = await connect();
  c.sock.write('hello');
  await waitFor(() => c.received() === 'hello', 'echo', 5000);
  t.equal(proxy.openConnections, 1);
  t.equal(proxy.port > 0, true);
});

t.test('dropAll cuts open connections', async (t) => {
  const { connect, proxy } = await setup(t);
  const c = await connect();
  const closed = new Promise<void>((r) => c.sock.once('close', () => r()));
  proxy.dropAll();
  await closed;
  t.equal(proxy.openConnections, 0);
});

t.test('a stall holds bytes until it is lifted', async (t) => {
  const { connect, proxy } = await setup(t);
  const c = await connect();
  proxy.stall(true);
  c.sock.write('held');
  await sleep(200);
  t.equal(c.received(), '', 'nothing moves while stalled');
  proxy.stall(false);
  await waitFor(() => c.received() === 'held', 'release', 5000);
});

t.test('delay holds every chunk back but keeps the order', async (t) => {
  const { connect, proxy } = await setup(t);
  const c = await connect();
  proxy.delay(150);
  const started = Date.now();
  c.sock.write('a');
  await sleep(10);
  c.sock.write('b');
  await waitFor(() => c.received() === 'ab', 'both chunks', 5000);
  t.ok(Date.now() - started >= 150);
});

t.test('a lost chunk never arrives, and later chunks do', async (t) => {
  const { connect, proxy } = await setup(t);
  const c = await connect();
  proxy.loseChunk('upstream', 4);
  c.sock.write('xy');
  await sleep(50);
  c.sock.write('lost');
  await sleep(50);
  c.sock.write('kept');
  await waitFor(() => c.received() === 'xykept', 'the chunks after the lost one', 5000);
  t.pass('only the chunk of at least 4 bytes was lost');
});

t.test('refusing closes new connections at once', async (t) => {
  const { proxy } = await setup(t);
  proxy.refuse(true);
  const sock = net.connect(proxy.port, '127.0.0.1');
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('close', () => r()));
  t.equal(proxy.counts.connections, 0);
});

t.test('the proxy stops itself after its lifetime', async (t) => {
  const proxy = await ChaosProxy.start({ targetPort: 9, lifetimeMs: 100 });
  const port = proxy.port;
  await sleep(300);
  await t.rejects(
    new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => resolve(s.destroy()));
      s.on('error', reject);
    }),
    { code: 'ECONNREFUSED' },
  );
});
