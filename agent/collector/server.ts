import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import {
  CloseCode,
  MAX_CONTROL_BYTES,
  PROTOCOL_VERSION,
  checkDataMessage,
  closeCodeFor,
  encodeControl,
  isAgentId,
  parseHello,
  protocolError,
  type Hello,
} from '../telemetry/protocol.js';
import { SeriesDictionary, decodeDataFrame } from '../telemetry/wire-codec.js';
import { renderMetrics } from './metrics.js';
import { Store, type StreamState } from './store.js';
import { TokenFile, bearerToken } from './token-file.js';

export const TELEMETRY_PATH = '/v1/telemetry';

export interface CollectorOptions {
  host?: string;
  port?: number;
  dataDir: string;
  tokenFile: string;
  /** PEM files; both set means the collector speaks TLS (wss://, https://). */
  tlsCert?: string;
  tlsKey?: string;
  /** Largest binary message accepted; larger ones close the connection with 1009. */
  maxFrameBytes?: number;
  helloTimeoutMs?: number;
  pingIntervalMs?: number;
  staleAfterMs?: number;
  logger?: Logger;
}

interface Session {
  ws: WebSocket;
  hello: Hello | null;
  stream: StreamState | null;
  dict: SeriesDictionary;
  chain: Promise<void>;
  alive: boolean;
  failed: boolean;
}

const DEFAULT_MAX_FRAME = 4 * 1024 * 1024;

/**
 * The reference collector: accepts agents over WebSocket, stores what they
 * send durably before acknowledging it, and serves what it holds as
 * Prometheus metrics and a small JSON API. All state lives in the store.
 */
export class Collector {
  private sessions = new Set<Session>();
  private byAgent = new Map<string, Session>();
  private pinger: NodeJS.Timeout | null = null;

  private constructor(
    private readonly server: http.Server | https.Server,
    private readonly wss: WebSocketServer,
    readonly store: Store,
    private readonly tokens: TokenFile,
    private readonly opts: Required<Pick<CollectorOptions, 'maxFrameBytes' | 'helloTimeoutMs' | 'pingIntervalMs' | 'staleAfterMs'>> & { tls: boolean },
    private readonly log: Logger,
  ) {}

  static async start(options: CollectorOptions): Promise<Collector> {
    const log = options.logger ?? silentLogger;
    const store = await Store.open({ dataDir: options.dataDir, logger: log });
    const tokens = new TokenFile(options.tokenFile);
    await tokens.accepts(undefined);
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    const tls = options.tlsCert !== undefined && options.tlsKey !== undefined;
    const server = tls
      ? https.createServer({ cert: await readFile(options.tlsCert!), key: await readFile(options.tlsKey!) })
      : http.createServer();
    const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, perMessageDeflate: false });
    const c = new Collector(
      server,
      wss,
      store,
      tokens,
      {
        maxFrameBytes,
        helloTimeoutMs: options.helloTimeoutMs ?? 10_000,
        pingIntervalMs: options.pingIntervalMs ?? 20_000,
        staleAfterMs: options.staleAfterMs ?? 600_000,
        tls,
      },
      log,
    );
    server.on('request', (req, res) => void c.handleHttp(req, res));
    server.on('upgrade', (req, socket, head) => void c.handleUpgrade(req, socket, head));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 9400, options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    c.pinger = setInterval(() => c.pingAll(), c.opts.pingIntervalMs);
    c.pinger.unref();
    log.info({ address: c.address, tls }, 'collector listening');
    return c;
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Base URL of the WebSocket endpoint, for clients and tests. */
  get url(): string {
    const { address, port, family } = this.address;
    const host = family === 'IPv6' ? `[${address}]` : address;
    return `${this.opts.tls ? 'wss' : 'ws'}://${host}:${port}${TELEMETRY_PATH}`;
  }

  get connections(): number {
    return this.sessions.size;
  }

  async close(): Promise<void> {
    if (this.pinger) clearInterval(this.pinger);
    for (const s of this.sessions) s.ws.close(CloseCode.GOING_AWAY, 'collector shutting down');
    await Promise.all([...this.sessions].map((s) => s.chain));
    for (const s of this.sessions) s.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.store.close();
  }

  private async handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://collector');
    if (url.pathname !== TELEMETRY_PATH) return rejectUpgrade(socket, 404, 'Not Found');
    let ok = false;
    try {
      ok = await this.tokens.accepts(bearerToken(req.headers.authorization));
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'token file unreadable; refusing agents');
    }
    if (!ok) {
      this.log.warn({ remote: req.socket.remoteAddress }, 'agent refused: missing or wrong token');
      return rejectUpgrade(socket, 401, 'Unauthorized');
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  private accept(ws: WebSocket): void {
    const session: Session = { ws, hello: null, stream: null, dict: new SeriesDictionary(), chain: Promise.resolve(), alive: true, failed: false };
    this.sessions.add(session);
    const helloTimer = setTimeout(() => this.fail(session, protocolError(CloseCode.HELLO_TIMEOUT, 'no hello in time')), this.opts.helloTimeoutMs);
    ws.on('pong', () => (session.alive = true));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = toBuffer(data);
      session.chain = session.chain.then(() => this.onMessage(session, bytes, isBinary, helloTimer)).catch((err) => this.fail(session, err));
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      this.sessions.delete(session);
      if (session.hello && this.byAgent.get(session.hello.agentId) === session) this.byAgent.delete(session.hello.agentId);
    });
    ws.on('error', (err) => {
      this.log.warn({ err: describeError(err), agentId: session.hello?.agentId }, 'agent connection error');
      ws.terminate();
    });
  }

  private async onMessage(session: Session, bytes: Buffer, isBinary: boolean, helloTimer: NodeJS.Timeout): Promise<void> {
    // Frames that arrived before the agent's close are still stored (it will not wait for their ack,
    // but the next connection resumes after them); nothing is read once the connection failed.
    if (session.failed) return;
    if (!isBinary) {
      if (session.hello) throw protocolError(CloseCode.PROTOCOL_ERROR, 'unexpected control frame after hello');
      if (bytes.length > MAX_CONTROL_BYTES) throw protocolError(CloseCode.MESSAGE_TOO_BIG, 'hello too large');
      const hello = parseHello(bytes.toString('utf8'));
      clearTimeout(helloTimer);
      const previous = this.byAgent.get(hello.agentId);
      if (previous && previous !== session) {
        // One live connection per agent: the newer one is the agent that is actually running.
        previous.ws.close(CloseCode.SUPERSEDED, 'superseded by a newer connection');
      }
      this.byAgent.set(hello.agentId, session);
      session.hello = hello;
      session.stream = this.store.stream(hello.agentId, hello.epoch);
      await session.stream.chain;
      const ackedSeq = this.store.ackedSeq(session.stream, hello.oldestSeq);
      this.log.info({ agentId: hello.agentId, epoch: hello.epoch, ackedSeq, oldestSeq: hello.oldestSeq, newestSeq: hello.newestSeq }, 'agent connected');
      session.ws.send(encodeControl({ type: 'welcome', v: PROTOCOL_VERSION, ackedSeq, maxFrameBytes: this.opts.maxFrameBytes }));
      return;
    }
    if (!session.hello || !session.stream) throw protocolError(CloseCode.PROTOCOL_ERROR, 'data before hello');
    checkDataMessage(bytes, this.opts.maxFrameBytes);
    const records = decodeDataFrame(bytes, session.dict);
    await this.store.append(session.stream, records);
    if (session.ws.readyState === session.ws.OPEN) {
      session.ws.send(encodeControl({ type: 'ack', seq: this.store.ackedSeq(session.stream) }));
    }
  }

  private fail(session: Session, err: unknown): void {
    session.failed = true;
    const code = closeCodeFor(err);
    this.log.warn({ agentId: session.hello?.agentId, code, err: describeError(err) }, 'closing agent connection');
    if (session.ws.readyState === session.ws.OPEN || session.ws.readyState === session.ws.CONNECTING) {
      session.ws.close(code, describeError(err).slice(0, 120));
    }
  }

  private pingAll(): void {
    for (const s of this.sessions) {
      if (!s.alive) {
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }

  private async handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://collector');
      if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
      if (url.pathname === '/healthz') return send(res, 200, { ok: true });
      if (url.pathname === '/metrics') {
        const m = await renderMetrics(this.store.agents(), { connections: this.sessions.size }, { staleAfterMs: this.opts.staleAfterMs, now: Date.now() });
        res.writeHead(200, { 'content-type': m.contentType });
        res.end(m.body);
        return;
      }
      if (url.pathname.startsWith('/api/')) {
        if (!(await this.tokens.accepts(bearerToken(req.headers.authorization)))) return send(res, 401, { error: 'unauthorized' });
        if (url.pathname === '/api/v1/agents') return send(res, 200, { agents: this.summary() });
        if (url.pathname === '/api/v1/series') {
          const agent = url.searchParams.get('agent') ?? '';
          const device = url.searchParams.get('device') ?? '';
          const limit = Number(url.searchParams.get('limit') ?? '1000');
          if (!isAgentId(agent) || device.length === 0 || device.length > 256 || !Number.isSafeInteger(limit) || limit < 1 || limit > 100_000) {
            return send(res, 400, { error: 'agent, device and an optional limit (1-100000) are required' });
          }
          return send(res, 200, { agent, device, series: await this.store.series(agent, device, limit) });
        }
      }
      send(res, 404, { error: 'not found' });
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'HTTP request failed');
      send(res, 500, { error: 'internal error' });
    }
  }

  /** What the collector holds per agent (the body of /api/v1/agents). */
  summary() {
    return this.store.agents().map((a) => ({
      agentId: a.agentId,
      connected: this.byAgent.has(a.agentId),
      lastSeen: a.lastSeen || null,
      epochs: [...a.streams.values()].map((s) => ({
        epoch: s.epoch,
        ackedSeq: s.covered.contiguousEnd(),
        records: s.stored.size,
        lostSequences: s.covered.size - s.stored.size,
        duplicates: s.duplicates,
      })),
      devices: [...a.devices.values()].map((d) => ({
        deviceId: d.deviceId,
        labels: d.labels,
        latest: Object.fromEntries([...d.latest].map(([k, v]) => [k, v])),
      })),
      recentEvents: a.recentEvents,
    }));
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
