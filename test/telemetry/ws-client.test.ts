import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { Collector } from '../../agent/collector/server.js';
import { decodeGap, encodeDevices, encodeEvent } from '../../agent/telemetry/payloads.js';
import { CloseCode, PROTOCOL_VERSION, encodeControl } from '../../agent/telemetry/protocol.js';
import { scanRecords } from '../../agent/telemetry/record-codec.js';
import { Spool } from '../../agent/telemetry/spool.js';
import { RecordType, type Sample } from '../../agent/telemetry/types.js';
import { decodeSamplesPayload, encodeSamplesPayload } from '../../agent/telemetry/wire-codec.js';
import { TelemetryClient, type TelemetryClientOptions } from '../../agent/telemetry/ws-client.js';
import { ChaosProxy } from '../helpers/chaos-proxy.js';
import { awkwardTick, gpuSampler } from '../helpers/gpu-samples.js';
import { tempDir } from '../helpers/temp-dir.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const TOKEN = 'agent-token-A';
type Tap = { teardown: (fn: () => unknown) => void };

interface Rig {
  dir: string;
  spool: Spool;
  collector: Collector;
  collectorTokens: string;
  agentToken: string;
  restartCollector: (extra?: Partial<Parameters<typeof Collector.start>[0]>) => Promise<void>;
  client: (extra?: Partial<TelemetryClientOptions>) => TelemetryClient;
}

async function rig(t: Tap, collectorExtra: Partial<Parameters<typeof Collector.start>[0]> = {}): Promise<Rig> {
  const dir = await tempDir(t);
  const collectorTokens = path.join(dir, 'collector-tokens');
  const agentToken = path.join(dir, 'agent-token');
  await writeFile(collectorTokens, `${TOKEN}\n`);
  await writeFile(agentToken, `${TOKEN}\n`);
  const spool = await Spool.open({ dir: path.join(dir, 'spool'), segmentBytes: 16 * 1024, budgetBytes: 4 * 1024 * 1024 });
  const start = (port: number, extra: Partial<Parameters<typeof Collector.start>[0]>) =>
    Collector.start({ host: '127.0.0.1', port, dataDir: path.join(dir, 'collector'), tokenFile: collectorTokens, ...collectorExtra, ...extra });
  const first = await start(0, {});
  const port = first.address.port;
  const r: Rig = {
    dir,
    spool,
    collectorTokens,
    agentToken,
    collector: first,
    restartCollector: async (extra = {}) => {
      await r.collector.close();
      r.collector = await start(port, extra);
    },
    client: (extra = {}) => {
      const c = new TelemetryClient({
        url: r.collector.url,
        agentId: 'node-a',
        spool,
        tokenFile: agentToken,
        lingerMs: 20,
        pingIntervalMs: 500,
        backoff: { baseMs: 20, capMs: 300 },
        ...extra,
      });
      c.start();
      t.teardown(() => c.stop());
      return c;
    },
  };
  t.teardown(async () => {
    await r.collector.close();
    await spool.close();
  });
  return r;
}

const sample = gpuSampler(2, 11);
let clock = Date.now();
async function appendSamples(spool: Spool, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await spool.append(RecordType.SAMPLES, encodeSamplesPayload(sample((clock += 1000))));
}

function event(message: string) {
  return encodeEvent({ ts: Date.now(), kind: 'xid', severity: 'critical', message, deviceId: 'GPU-0' });
}

function streamOf(c: Collector, epoch: string) {
  return c.store.stream('node-a', epoch);
}

async function drained(r: Rig, what = 'the collector to acknowledge everything'): Promise<void> {
  await waitFor(() => r.spool.newestSeq > 0 && r.spool.ackedSeq === r.spool.newestSeq, what);
}

t.test('every record is delivered once and acknowledged records leave the spool', async (t) => {
  const r = await rig(t);
  await appendSamples(r.spool, 150);
  await r.spool.append(RecordType.EVENT, event('Xid 79'));
  await appendSamples(r.spool, 150);
  const client = r.client();
  await drained(r);
  const s = streamOf(r.collector, r.spool.epoch);
  t.equal(s.stored.size, 301);
  t.same(s.stored.list(), [[1, 301]]);
  t.equal(s.duplicates, 0);
  await waitFor(() => r.spool.stats().segments === 1, 'fully acknowledged segments to be deleted');
  t.pass('fully acknowledged segments were deleted');
  t.equal(client.status().connections, 1);
  t.equal(client.status().state, 'streaming');
  await appendSamples(r.spool, 5);
  await drained(r, 'records appended while connected');
  t.equal(streamOf(r.collector, r.spool.epoch).stored.size, 306);
});

t.test('health events overtake the sample backlog', async (t) => {
  const r = await rig(t);
  await appendSamples(r.spool, 200);
  const eventSeq = await r.spool.append(RecordType.EVENT, event('Xid 48'));
  r.client({ maxInflightFrames: 1, maxFrameBytes: 8 * 1024 });
  await drained(r);
  const log = await readFile(path.join(r.dir, 'collector', 'agents', 'node-a', `${r.spool.epoch}.log`));
  const order = scanRecords(log, 0, { increasing: false }).records.map((x) => x.seq);
  t.ok(order.indexOf(eventSeq) < order.indexOf(100), `the event (seq ${eventSeq}) was stored before the middle of the backlog`);
  t.equal(order.length, 201);
});

t.test('the rest of a backlog too large for one frame goes at once; only fresh samples wait to share a frame', async (t) => {
  const r = await rig(t);
  await appendSamples(r.spool, 200);
  // Each frame after the first holds far fewer than lingerRecords, so each would wait out lingerMs if a backlog lingered.
  const client = r.client({ maxFrameBytes: 8 * 1024, lingerRecords: 10_000, lingerMs: 60_000 });
  await waitFor(() => r.spool.ackedSeq === 200, 'the whole backlog', 10_000);
  t.ok(client.status().framesSent > 1, `${client.status().framesSent} frames`);
  await appendSamples(r.spool, 3);
  await sleep(300);
  t.equal(r.spool.ackedSeq, 200, 'samples spooled after the backlog linger');
});

t.test('a collector restart is survived: the client reconnects and resumes without loss or duplicates', async (t) => {
  const r = await rig(t);
  const client = r.client();
  await appendSamples(r.spool, 50);
  await drained(r);
  await r.collector.close();
  await appendSamples(r.spool, 50);
  await sleep(200);
  t.equal(r.spool.ackedSeq, 50, 'nothing is acknowledged while the collector is away');
  await r.restartCollector();
  await drained(r, 'resumption after the restart');
  const s = streamOf(r.collector, r.spool.epoch);
  t.same(s.stored.list(), [[1, 100]]);
  t.ok(client.status().connections >= 2);
});

t.test('a rotated token is read from the file on the next connection', async (t) => {
  const r = await rig(t);
  const proxy = await ChaosProxy.start({ targetPort: r.collector.address.port });
  t.teardown(() => proxy.close());
  const client = r.client({ url: `ws://127.0.0.1:${proxy.port}/v1/telemetry` });
  await appendSamples(r.spool, 10);
  await drained(r);
  await writeFile(r.collectorTokens, 'agent-token-B\n');
  proxy.dropAll();
  await appendSamples(r.spool, 10);
  await waitFor(() => /401/.test(client.status().lastError ?? ''), 'the old token to be refused');
  t.equal(r.spool.ackedSeq, 10, 'nothing more accepted with the old token');
  await writeFile(r.agentToken, 'agent-token-B\n');
  await drained(r, 'delivery with the new token');
  t.same(streamOf(r.collector, r.spool.epoch).stored.list(), [[1, 20]]);
});

t.test('with a wrong token nothing is accepted and the client keeps trying', async (t) => {
  const r = await rig(t);
  await writeFile(r.agentToken, 'not-the-token\n');
  await appendSamples(r.spool, 5);
  const client = r.client();
  await waitFor(() => client.status().attempts >= 3, 'several refused attempts');
  t.match(client.status().lastError, /401/);
  t.equal(r.spool.ackedSeq, 0);
  t.same(r.collector.store.agents(), [], 'the collector holds nothing for the agent');
});

t.test('a missing token file is an error of its own, retried like any other', async (t) => {
  const r = await rig(t);
  const client = r.client({ tokenFile: path.join(r.dir, 'nope') });
  await waitFor(() => client.status().attempts >= 2, 'retries');
  t.match(client.status().lastError, /token file/);
});

t.test('frames stay within the collector’s limit; a record that can never fit is reported as lost', async (t) => {
  const r = await rig(t, { maxFrameBytes: 4096 });
  await appendSamples(r.spool, 60);
  const bigDevices = encodeDevices({
    ts: Date.now(),
    // Random labels: deflate must not be able to squeeze the frame under the limit.
    devices: Array.from({ length: 60 }, (_, i) => ({ deviceId: `GPU-${i}`, labels: { UUID: randomBytes(120).toString('base64'), gpu: String(i) } })),
  });
  const bigSeq = await r.spool.append(RecordType.DEVICES, bigDevices);
  await appendSamples(r.spool, 10);
  const client = r.client({ maxInflightFrames: 2 });
  await drained(r);
  t.equal(client.status().connections, 1, 'never closed for an oversized frame');
  const s = streamOf(r.collector, r.spool.epoch);
  t.notOk(s.stored.has(bigSeq), 'the oversized record was not sent');
  t.ok(s.covered.has(bigSeq), 'but a gap record accounts for it');
  const log = await readFile(path.join(r.dir, 'collector', 'agents', 'node-a', `${r.spool.epoch}.log`));
  const gaps = scanRecords(log, 0, { increasing: false }).records.filter((x) => x.type === RecordType.GAP).map((x) => decodeGap(x.payload));
  t.same(gaps.map((g) => [g.from, g.to, g.reason]), [[bigSeq, bigSeq, 'corrupt']]);
});

t.test('a stalled connection is detected by missed pongs and replaced', async (t) => {
  const r = await rig(t);
  const proxy = await ChaosProxy.start({ targetPort: r.collector.address.port });
  t.teardown(() => proxy.close());
  const client = r.client({ url: `ws://127.0.0.1:${proxy.port}/v1/telemetry`, pingIntervalMs: 100, maxMissedPongs: 2, handshakeTimeoutMs: 500 });
  await appendSamples(r.spool, 5);
  await drained(r);
  proxy.stall(true);
  await appendSamples(r.spool, 5);
  await waitFor(() => /missed/.test(client.status().lastError ?? ''), 'the dead connection to be noticed');
  proxy.stall(false);
  await drained(r, 'delivery after the stall');
  t.same(streamOf(r.collector, r.spool.epoch).stored.list(), [[1, 10]]);
});

t.test('a data frame lost on the way is noticed (no acknowledgement progress) and sent again', async (t) => {
  const r = await rig(t);
  const proxy = await ChaosProxy.start({ targetPort: r.collector.address.port });
  t.teardown(() => proxy.close());
  const client = r.client({ url: `ws://127.0.0.1:${proxy.port}/v1/telemetry`, pingIntervalMs: 150, ackTimeoutMs: 1000, handshakeTimeoutMs: 1000 });
  await appendSamples(r.spool, 5);
  await drained(r);
  proxy.loseChunk('upstream', 64);
  await appendSamples(r.spool, 30);
  await drained(r, 'delivery after the lost frame');
  t.ok(client.status().connections >= 2, 'a new connection was needed');
  const s = streamOf(r.collector, r.spool.epoch);
  t.same(s.stored.list(), [[1, 35]]);
});

t.test('a connection whose dictionary grows too large is replaced by a fresh one', async (t) => {
  const r = await rig(t);
  for (let i = 0; i < 12; i++) {
    await r.spool.append(RecordType.SAMPLES, encodeSamplesPayload([{ ts: Date.now(), deviceId: `MIG-${i}`, metrics: { util: i, mem: i * 2 } }]));
  }
  const client = r.client({ maxDictionaryEntries: 10, lingerRecords: 1, maxFrameBytes: 1024 });
  await drained(r);
  t.ok(client.status().connections >= 2, `${client.status().connections} connections`);
  t.same(streamOf(r.collector, r.spool.epoch).stored.list(), [[1, 12]]);
});

t.test('the client never gives up while nothing listens, and stops promptly when asked', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open({ dir });
  t.teardown(() => spool.close());
  const client = new TelemetryClient({ url: 'ws://127.0.0.1:9/v1/telemetry', agentId: 'node-a', spool, backoff: { baseMs: 5, capMs: 20 } });
  client.start();
  await waitFor(() => client.status().attempts >= 20, '20 attempts');
  const started = Date.now();
  await client.stop();
  t.ok(Date.now() - started < 5000);
  t.equal(client.status().state, 'stopped');
});

t.test('TLS: the collector is verified against the CA bundle and the pin', { skip: hasOpenssl() ? false : 'openssl not installed' }, async (t) => {
  const dir = await tempDir(t);
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=collector', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const spki = new X509Certificate(await readFile(cert)).publicKey.export({ type: 'spki', format: 'der' });
  const pin = `sha256/${createHash('sha256').update(spki).digest('base64')}`;
  const r = await rig(t, { tlsCert: cert, tlsKey: key });
  t.match(r.collector.url, /^wss:/);
  await appendSamples(r.spool, 5);

  const wrongPin = r.client({ caFile: cert, pins: [`sha256/${Buffer.alloc(32).toString('base64')}`] });
  await waitFor(() => wrongPin.status().attempts >= 2, 'refused attempts with a wrong pin');
  t.match(wrongPin.status().lastError, /pins/);
  await wrongPin.stop();

  const untrusted = r.client();
  await waitFor(() => untrusted.status().attempts >= 2, 'refused attempts without the CA');
  t.match(untrusted.status().lastError, /certificate/i);
  await untrusted.stop();
  t.same(r.collector.store.agents(), [], 'nothing reached the collector');

  r.client({ caFile: cert, pins: [pin] });
  await drained(r, 'delivery over verified TLS');
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function fakeCollector(t: Tap, onHello: (ws: import('ws').WebSocket) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.on('listening', () => resolve()));
  wss.on('connection', (ws) => ws.once('message', () => onHello(ws)));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  }));
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/telemetry`;
}

t.test('a collector that breaks the protocol is disconnected with the reason', async (t) => {
  const closes: number[] = [];
  const url = await fakeCollector(t, (ws) => {
    ws.on('close', (code) => closes.push(code));
    ws.send(encodeControl({ type: 'welcome', v: PROTOCOL_VERSION, ackedSeq: 0, maxFrameBytes: 4096 }));
    ws.send(Buffer.from([1, 2, 3]));
  });
  const dir = await tempDir(t);
  const spool = await Spool.open({ dir });
  t.teardown(() => spool.close());
  const client = new TelemetryClient({ url, agentId: 'node-a', spool, backoff: { baseMs: 1000, capMs: 1000 } });
  client.start();
  t.teardown(() => client.stop());
  await waitFor(() => closes.length > 0, 'the client to close');
  t.equal(closes[0], CloseCode.PROTOCOL_ERROR);
  t.match(client.status().lastError, /binary/);
});

t.test('a collector that holds more than the spool ever wrote moves the spool past it', async (t) => {
  const url = await fakeCollector(t, (ws) => ws.send(encodeControl({ type: 'welcome', v: PROTOCOL_VERSION, ackedSeq: 500, maxFrameBytes: 4096 })));
  const dir = await tempDir(t);
  const spool = await Spool.open({ dir });
  t.teardown(() => spool.close());
  await spool.append(RecordType.EVENT, event('before'));
  const client = new TelemetryClient({ url, agentId: 'node-a', spool, backoff: { baseMs: 1000, capMs: 1000 } });
  client.start();
  t.teardown(() => client.stop());
  await waitFor(() => spool.ackedSeq === 500, 'the welcome to be applied');
  t.equal(await spool.append(RecordType.EVENT, event('after')), 501, 'new records never reuse numbers the collector holds');
});

t.test('configuration mistakes are refused up front', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open({ dir });
  t.teardown(() => spool.close());
  t.throws(() => new TelemetryClient({ url: 'http://x/v1/telemetry', agentId: 'a', spool }), /ws:\/\/ or wss:\/\//);
  t.throws(() => new TelemetryClient({ url: 'ws://x/v1/telemetry', agentId: 'a', spool, pins: [`sha256/${Buffer.alloc(32).toString('base64')}`] }), /wss/);
  t.throws(() => new TelemetryClient({ url: 'wss://x/v1/telemetry', agentId: 'a', spool, pins: ['md5/x'] }), /pin/);
});

t.test('a connection made while a record is being written does not get that record acknowledged unsent', async (t) => {
  const r = await rig(t);
  await appendSamples(r.spool, 3);
  const first = r.client();
  await drained(r);
  await first.stop();
  // Hold the next write open until a fresh connection has said hello: at that
  // moment every held record is acknowledged and one more is numbered but not yet indexed.
  const fh = (r.spool as unknown as { fh: { write: (...args: unknown[]) => Promise<unknown> } }).fh;
  const realWrite = fh.write.bind(fh);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let writing = false;
  fh.write = async (...args: unknown[]) => {
    writing = true;
    await held;
    return realWrite(...args);
  };
  const appended = r.spool.append(RecordType.SAMPLES, encodeSamplesPayload(sample((clock += 1000))));
  await waitFor(() => writing, 'the write to start');
  r.client();
  // (The client cannot finish its welcome yet: the spool's acknowledgement queues behind the held write.)
  await waitFor(() => r.collector.summary().some((a) => a.connected), 'the collector to receive the hello');
  await sleep(200);
  t.equal(r.spool.ackedSeq, 3, 'the welcome acknowledges only what the collector stored');
  release();
  t.equal(await appended, 4);
  await drained(r);
  t.same(streamOf(r.collector, r.spool.epoch).stored.list(), [[1, 4]], 'record 4 reached the collector');
});

t.test('a record framed from the samples the pipeline remembered is the same bytes as one framed from its decoded spool copy', async (t) => {
  const batches: Sample[][] = [
    awkwardTick(clock),
    awkwardTick(clock + 1000, 4, 7),
    sample(clock + 2000),
    // Decoding regroups this one, which would put its new series in another order in the dictionary.
    [
      { ts: clock + 3000, deviceId: 'x', metrics: { p: 1 } },
      { ts: clock + 3000, deviceId: 'y', metrics: { p: -0 } },
      { ts: clock + 3000, deviceId: 'x', metrics: { q: 1 / 3 } },
    ],
  ];
  const framesSent = async (remember: boolean) => {
    const frames: Buffer[] = [];
    const url = await fakeCollector(t, (ws) => {
      ws.on('message', (data, isBinary) => isBinary && frames.push(data as Buffer));
      ws.send(encodeControl({ type: 'welcome', v: PROTOCOL_VERSION, ackedSeq: 0, maxFrameBytes: 1024 * 1024 }));
    });
    const spool = await Spool.open({ dir: await tempDir(t) });
    t.teardown(() => spool.close());
    const client = new TelemetryClient({ url, agentId: 'node-a', spool, lingerRecords: 1 });
    for (const samples of batches) {
      const seq = await spool.append(RecordType.SAMPLES, encodeSamplesPayload(samples));
      if (remember) client.remember(seq, samples);
    }
    client.start();
    t.teardown(() => client.stop());
    await waitFor(() => client.status().recordsSent === batches.length && frames.length === client.status().framesSent, 'every record to arrive');
    return Buffer.concat(frames).toString('hex');
  };
  t.equal(await framesSent(true), await framesSent(false));
});

t.test('only remembered records skip decoding: a damaged spool copy nobody remembered is still reported', async (t) => {
  const r = await rig(t);
  const ticks = [1, 2, 3, 4].map((i) => sample(clock + i * 1000));
  clock += 5000;
  const damaged = (samples: Sample[]) => encodeSamplesPayload(samples, 'never').subarray(0, 20);
  const seqs = [
    await r.spool.append(RecordType.SAMPLES, encodeSamplesPayload(ticks[0]!)),
    await r.spool.append(RecordType.SAMPLES, damaged(ticks[1]!)),
    await r.spool.append(RecordType.SAMPLES, damaged(ticks[2]!)),
    await r.spool.append(RecordType.SAMPLES, encodeSamplesPayload(ticks[3]!)),
  ];
  const client = r.client({ lingerRecords: 1 });
  client.remember(seqs[0]!, ticks[0]!);
  // The spool's copy of this one cannot be decoded: it can only arrive if the remembered samples were framed instead.
  client.remember(seqs[2]!, ticks[2]!);
  await drained(r);
  const s = streamOf(r.collector, r.spool.epoch);
  t.notOk(s.stored.has(seqs[1]!), 'the damaged record nobody remembered was not sent');
  const log = await readFile(path.join(r.dir, 'collector', 'agents', 'node-a', `${r.spool.epoch}.log`));
  const stored = scanRecords(log, 0, { increasing: false }).records;
  const gaps = stored.filter((x) => x.type === RecordType.GAP).map((x) => decodeGap(x.payload));
  t.same(gaps.map((g) => [g.from, g.to, g.reason]), [[seqs[1], seqs[1], 'corrupt']], 'but reported as damaged');
  const samplesAt = (seq: number) => decodeSamplesPayload(stored.find((x) => x.seq === seq)!.payload);
  t.same([seqs[0], seqs[2], seqs[3]].map((seq) => samplesAt(seq!)), [ticks[0], ticks[2], ticks[3]]);
});
