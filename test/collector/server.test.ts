import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Collector } from '../../agent/collector/server.js';
import { CloseCode, PROTOCOL_VERSION, encodeControl } from '../../agent/telemetry/protocol.js';
import { encodeEvent } from '../../agent/telemetry/payloads.js';
import { RecordType } from '../../agent/telemetry/types.js';
import { SeriesDictionary, encodeDataFrame } from '../../agent/telemetry/wire-codec.js';
import { opened, rawPeer } from '../helpers/raw-ws.js';
import { tempDir } from '../helpers/temp-dir.js';

const EPOCH = 'cd'.repeat(16);
const TOKEN = 'fleet-secret-1';

async function startCollector(t: Tap, extra: Partial<Parameters<typeof Collector.start>[0]> = {}) {
  const dir = await tempDir(t);
  const tokenFile = path.join(dir, 'tokens');
  await writeFile(tokenFile, `${TOKEN}\n`);
  const c = await Collector.start({ host: '127.0.0.1', port: 0, dataDir: path.join(dir, 'data'), tokenFile, maxFrameBytes: 64 * 1024, ...extra });
  t.teardown(() => c.close());
  return { c, dir, tokenFile };
}
type Tap = { teardown: (fn: () => unknown) => void };

function hello(agentId = 'node-1', oldestSeq = 1, newestSeq = 0) {
  return encodeControl({ type: 'hello', v: PROTOCOL_VERSION, agentId, epoch: EPOCH, oldestSeq, newestSeq });
}

function eventFrame(dict: SeriesDictionary, seq: number) {
  return encodeDataFrame([{ seq, type: RecordType.EVENT, payload: encodeEvent({ ts: Date.now(), kind: 'test', severity: 'info', message: `e${seq}` }) }], dict);
}

async function api(c: Collector, pathAndQuery: string, token: string | undefined = TOKEN) {
  const res = await fetch(`http://127.0.0.1:${c.address.port}${pathAndQuery}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

t.test('hello gets a welcome; data gets acknowledged after it is stored', async (t) => {
  const { c } = await startCollector(t);
  const peer = rawPeer(c.url, TOKEN);
  await opened(peer.ws);
  peer.ws.send(hello('node-1', 1, 2));
  t.same(await peer.next(), { type: 'welcome', v: PROTOCOL_VERSION, ackedSeq: 0, maxFrameBytes: 64 * 1024 });
  const dict = new SeriesDictionary();
  peer.ws.send(encodeDataFrame([{ seq: 1, type: RecordType.SAMPLES, samples: [{ ts: Date.now(), deviceId: 'GPU-1', metrics: { DCGM_FI_DEV_GPU_UTIL: 50 } }] }], dict));
  t.same(await peer.next(), { type: 'ack', seq: 1 });
  peer.ws.send(eventFrame(dict, 2));
  t.same(await peer.next(), { type: 'ack', seq: 2 });
  peer.ws.send(eventFrame(dict, 2));
  t.same(await peer.next(), { type: 'ack', seq: 2 }, 'a duplicate is acknowledged, not stored twice');
  const agents = await api(c, '/api/v1/agents');
  t.equal(agents.status, 200);
  t.match(agents.body, { agents: [{ agentId: 'node-1', connected: true, epochs: [{ epoch: EPOCH, ackedSeq: 2, records: 2, duplicates: 1 }] }] });
  const series = await api(c, '/api/v1/series?agent=node-1&device=GPU-1');
  t.match(series.body, { series: { DCGM_FI_DEV_GPU_UTIL: [{ value: 50 }] } });
  const metrics = await fetch(`http://127.0.0.1:${c.address.port}/metrics`);
  t.match(await metrics.text(), /DCGM_FI_DEV_GPU_UTIL\{Hostname="node-1"[^}]*device="GPU-1"[^}]*\} 50/);
  peer.ws.close();
});

t.test('a reconnecting agent is told where to resume', async (t) => {
  const { c } = await startCollector(t);
  const first = rawPeer(c.url, TOKEN);
  await opened(first.ws);
  first.ws.send(hello());
  await first.next();
  const dict = new SeriesDictionary();
  for (const seq of [1, 2, 3]) {
    first.ws.send(eventFrame(dict, seq));
    await first.next();
  }
  first.ws.close();
  await first.closed;
  const second = rawPeer(c.url, TOKEN);
  await opened(second.ws);
  second.ws.send(hello('node-1', 2, 5));
  t.match(await second.next(), { type: 'welcome', ackedSeq: 3 });
  second.ws.close();
});

t.test('a wrong or missing token gets 401 and nothing is stored', async (t) => {
  const { c } = await startCollector(t);
  t.equal(await rawPeer(c.url, 'wrong').refused, 401);
  t.equal(await rawPeer(c.url).refused, 401);
  t.equal(await rawPeer(c.url.replace('/v1/telemetry', '/other'), TOKEN).refused, 404);
  t.same((await api(c, '/api/v1/agents')).body, { agents: [] });
  t.equal((await api(c, '/api/v1/agents', 'wrong')).status, 401, 'the query API wants the token too');
});

t.test('a rotated token file applies to the next connection', async (t) => {
  const { c, tokenFile } = await startCollector(t);
  await writeFile(tokenFile, 'rotated-token-2\n');
  t.equal(await rawPeer(c.url, TOKEN).refused, 401);
  t.equal(await rawPeer(c.url, 'rotated-token-2').refused, null);
});

const violations: Array<[string, (peer: ReturnType<typeof rawPeer>) => void, number]> = [
  ['data before hello', (p) => p.ws.send(eventFrame(new SeriesDictionary(), 1)), CloseCode.PROTOCOL_ERROR],
  ['non-JSON control frame', (p) => p.ws.send('hello?'), CloseCode.PROTOCOL_ERROR],
  ['unknown control type', (p) => p.ws.send(JSON.stringify({ type: 'gimme' })), CloseCode.PROTOCOL_ERROR],
  ['future protocol version', (p) => p.ws.send(JSON.stringify({ type: 'hello', v: 99, agentId: 'a', epoch: EPOCH, oldestSeq: 1, newestSeq: 0 })), CloseCode.UNSUPPORTED_VERSION],
  ['agent id that is a path', (p) => p.ws.send(JSON.stringify({ type: 'hello', v: 1, agentId: '../../etc', epoch: EPOCH, oldestSeq: 1, newestSeq: 0 })), CloseCode.PROTOCOL_ERROR],
  [
    'second hello',
    (p) => {
      p.ws.send(hello());
      p.ws.send(hello());
    },
    CloseCode.PROTOCOL_ERROR,
  ],
  [
    'binary junk after hello',
    (p) => {
      p.ws.send(hello());
      p.ws.send(Buffer.from([0x01, 0x00, 0xff, 0xff, 0xff]));
    },
    CloseCode.PROTOCOL_ERROR,
  ],
  [
    'frame over the size limit',
    (p) => {
      p.ws.send(hello());
      p.ws.send(Buffer.alloc(65 * 1024, 1));
    },
    CloseCode.MESSAGE_TOO_BIG,
  ],
];

for (const [name, act, code] of violations) {
  t.test(`protocol violation closes with ${code}: ${name}`, async (t) => {
    const { c } = await startCollector(t);
    const peer = rawPeer(c.url, TOKEN);
    await opened(peer.ws);
    act(peer);
    const closed = await peer.closed;
    t.equal(closed.code, code, closed.reason);
    const agents = (await api(c, '/api/v1/agents')).body.agents as Array<{ epochs: Array<{ records: number }> }>;
    t.same(agents.flatMap((a) => a.epochs).filter((e) => e.records > 0), [], 'nothing stored');
  });
}

t.test('an agent that never says hello is disconnected', async (t) => {
  const { c } = await startCollector(t, { helloTimeoutMs: 200 });
  const peer = rawPeer(c.url, TOKEN);
  await opened(peer.ws);
  t.equal((await peer.closed).code, CloseCode.HELLO_TIMEOUT);
});

t.test('a second connection from the same agent supersedes the first', async (t) => {
  const { c } = await startCollector(t);
  const a = rawPeer(c.url, TOKEN);
  await opened(a.ws);
  a.ws.send(hello());
  await a.next();
  const b = rawPeer(c.url, TOKEN);
  await opened(b.ws);
  b.ws.send(hello());
  await b.next();
  t.equal((await a.closed).code, CloseCode.SUPERSEDED);
  t.equal(b.ws.readyState, b.ws.OPEN);
  b.ws.close();
});

t.test('the HTTP API checks its parameters', async (t) => {
  const { c } = await startCollector(t);
  t.equal((await api(c, '/api/v1/series?agent=../x&device=a')).status, 400);
  t.equal((await api(c, '/api/v1/series?agent=a')).status, 400);
  t.equal((await api(c, '/api/v1/series?agent=a&device=b&limit=0')).status, 400);
  t.equal((await api(c, '/nope')).status, 404);
  t.equal((await api(c, '/healthz', undefined)).status, 200);
  const post = await fetch(`http://127.0.0.1:${c.address.port}/metrics`, { method: 'POST' });
  t.equal(post.status, 405);
});
