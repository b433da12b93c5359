import { readFile } from 'node:fs/promises';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import WebSocket, { type ClientOptions, type RawData } from 'ws';
import { AccelError, ErrorCode, describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff.js';
import { CloseCode, PROTOCOL_VERSION, closeCodeFor, encodeControl, parseCollectorMessage, protocolError, type Welcome } from './protocol.js';
import { RecentSamples } from './recent-samples.js';
import { SendWindow } from './send-window.js';
import type { Spool } from './spool.js';
import { parsePins, pinMatches, type Pins } from './tls-pins.js';
import { RecordType, type Sample, type SeqRecord } from './types.js';
import { SeriesDictionary, decodeSamplesPayload, decodesAsGiven, encodeDataFrame, type Compression, type WireRecord } from './wire-codec.js';

export interface TelemetryClientOptions {
  /** `wss://collector:9400/v1/telemetry` (or `ws://` on a trusted network). */
  url: string;
  agentId: string;
  spool: Spool;
  /** Bearer token file, read again on every connection attempt so a rotated secret is picked up. */
  tokenFile?: string;
  /** PEM bundle of CAs trusted for the collector (read on every attempt); system CAs when unset. */
  caFile?: string;
  /** `sha256/<base64 SPKI digest>` or `cert-sha256/<hex>` pins, checked on top of CA validation. */
  pins?: string[];
  handshakeTimeoutMs?: number;
  /** How long to wait for the welcome after sending hello. */
  welcomeTimeoutMs?: number;
  pingIntervalMs?: number;
  /** Pings in a row without a pong before the connection is declared dead. */
  maxMissedPongs?: number;
  /** With frames in flight and no acknowledgement progress for this long, reconnect. */
  ackTimeoutMs?: number;
  maxInflightFrames?: number;
  /** Upper bound for a data frame; the collector's welcome may lower it. */
  maxFrameBytes?: number;
  /** Samples wait up to this long to share a frame (deflate works better on more)... */
  lingerMs?: number;
  /** ...unless this many records are waiting. */
  lingerRecords?: number;
  backoff?: BackoffOptions;
  compression?: Compression;
  /**
   * Past this many dictionary entries (device ids, metric names, series) the
   * connection is closed and a new one starts with an empty dictionary, well
   * before the collector's limit; device ids that come and go would otherwise
   * grow it for as long as the connection lives.
   */
  maxDictionaryEntries?: number;
  logger?: Logger;
  random?: () => number;
}

export type ClientState = 'idle' | 'connecting' | 'streaming' | 'backoff' | 'stopped';

export interface ClientStatus {
  state: ClientState;
  attempts: number;
  connections: number;
  lastError: string | null;
  framesSent: number;
  recordsSent: number;
}

/** The collector only ever sends small control frames. */
const CLIENT_MAX_PAYLOAD = 64 * 1024;

type Settings = Required<Omit<TelemetryClientOptions, 'tokenFile' | 'caFile' | 'pins' | 'logger'>>;

/**
 * Streams the spool to the collector and moves the spool's acknowledgement
 * forward as the collector confirms durable storage. It reconnects forever
 * with capped, jittered backoff; every connection starts with a resume
 * handshake, so anything unacknowledged is simply sent again.
 */
export class TelemetryClient {
  private readonly s: Settings;
  private readonly log: Logger;
  private readonly pins: Pins | null;
  private state: ClientState = 'idle';
  private stopped = false;
  private loop: Promise<void> | null = null;
  private current: Connection | null = null;
  private wake: (() => void) | null = null;
  private attempt = 0;
  private stats = { connections: 0, framesSent: 0, recordsSent: 0, lastError: null as string | null };
  private readonly recent = new RecentSamples();

  constructor(private readonly opts: TelemetryClientOptions) {
    this.s = {
      url: opts.url,
      agentId: opts.agentId,
      spool: opts.spool,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10_000,
      welcomeTimeoutMs: opts.welcomeTimeoutMs ?? 10_000,
      pingIntervalMs: opts.pingIntervalMs ?? 20_000,
      maxMissedPongs: opts.maxMissedPongs ?? 2,
      ackTimeoutMs: opts.ackTimeoutMs ?? 60_000,
      maxInflightFrames: opts.maxInflightFrames ?? 8,
      maxFrameBytes: opts.maxFrameBytes ?? 1024 * 1024,
      lingerMs: opts.lingerMs ?? 10_000,
      lingerRecords: opts.lingerRecords ?? 10,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      compression: opts.compression ?? 'auto',
      maxDictionaryEntries: opts.maxDictionaryEntries ?? 60_000,
      random: opts.random ?? Math.random,
    };
    this.log = opts.logger ?? silentLogger;
    this.pins = opts.pins && opts.pins.length > 0 ? parsePins(opts.pins) : null;
    if (!/^wss?:\/\//.test(opts.url)) throw new AccelError(ErrorCode.CONFIG_INVALID, `collector URL must be ws:// or wss://, got ${opts.url}`);
    if (this.pins && !opts.url.startsWith('wss://')) throw new AccelError(ErrorCode.CONFIG_INVALID, 'certificate pins need a wss:// collector URL');
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.current?.close(CloseCode.GOING_AWAY, 'agent stopping');
    await this.loop;
    this.state = 'stopped';
  }

  status(): ClientStatus {
    return { state: this.state, attempts: this.attempt, ...this.stats };
  }

  /**
   * The samples that were encoded into the spool record `seq`, so that it can
   * be framed without decoding the spool's copy. Only batches the decoder
   * would give back unchanged are kept: a frame must not depend on which copy
   * it was made from. The samples must not be modified afterwards.
   */
  remember(seq: number, samples: readonly Sample[]): void {
    if (seq > this.s.spool.ackedSeq && decodesAsGiven(samples)) this.recent.remember(seq, samples);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.state = 'connecting';
      let welcomed = false;
      try {
        welcomed = await this.connectOnce();
      } catch (err) {
        this.stats.lastError = describeError(err);
        this.log.warn({ err: this.stats.lastError, url: this.s.url }, 'collector connection failed');
      }
      if (this.stopped) break;
      if (welcomed) this.attempt = 0;
      const delay = backoffDelay(this.attempt++, this.s.backoff, this.s.random);
      this.state = 'backoff';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    this.state = 'stopped';
  }

  private async connectOnce(): Promise<boolean> {
    const headers: Record<string, string> = {};
    if (this.opts.tokenFile) {
      const token = (await readFile(this.opts.tokenFile, 'utf8').catch((err) => {
        throw new AccelError(ErrorCode.COLLECTOR_AUTH, `cannot read token file ${this.opts.tokenFile}`, { cause: err });
      })).trim();
      if (!token) throw new AccelError(ErrorCode.COLLECTOR_AUTH, `token file ${this.opts.tokenFile} is empty`);
      headers.authorization = `Bearer ${token}`;
    }
    // ws hands these options to tls.connect, whose checkServerIdentity returns an
    // Error or undefined; @types/ws declares an older boolean signature.
    const wsOptions: Omit<ClientOptions, 'checkServerIdentity'> & Pick<ConnectionOptions, 'checkServerIdentity'> = {
      headers,
      handshakeTimeout: this.s.handshakeTimeoutMs,
      maxPayload: CLIENT_MAX_PAYLOAD,
      perMessageDeflate: false,
      followRedirects: false,
    };
    if (this.s.url.startsWith('wss://')) {
      if (this.opts.caFile) wsOptions.ca = await readFile(this.opts.caFile);
      const pins = this.pins;
      if (pins) {
        wsOptions.checkServerIdentity = (host: string, cert: PeerCertificate) => {
          const err = checkServerIdentity(host, cert);
          if (err) return err;
          if (!pinMatches(pins, cert)) return new Error(`collector certificate for ${host} matches none of the configured pins`);
          return undefined;
        };
      }
    }
    this.stats.connections++;
    const hooks: ConnectionHooks = {
      welcomed: () => (this.state = 'streaming'),
      sent: (records) => {
        this.stats.framesSent++;
        this.stats.recordsSent += records;
      },
    };
    const conn = new Connection(new WebSocket(this.s.url, wsOptions as ClientOptions), this.s, hooks, this.recent, this.log);
    this.current = conn;
    if (this.stopped) conn.close(CloseCode.GOING_AWAY, 'agent stopping');
    const result = await conn.done;
    this.current = null;
    if (result.error) throw result.error;
    return result.welcomed;
  }

}

/** What a connection reports back to its client. */
interface ConnectionHooks {
  welcomed(): void;
  sent(records: number): void;
}

interface ConnectionResult {
  welcomed: boolean;
  error: Error | null;
}

/** One WebSocket from open to close. */
class Connection {
  readonly done: Promise<ConnectionResult>;
  private welcomed = false;
  private error: Error | null = null;
  private readonly window: SendWindow;
  private readonly dict = new SeriesDictionary();
  private frameLimit: number;
  private pumping = false;
  private pumpAgain = false;
  private pendingSince: number | null = 0;
  private missedPongs = 0;
  private lastProgress = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private lingerTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly s: Settings,
    private readonly hooks: ConnectionHooks,
    private readonly recent: RecentSamples,
    private readonly log: Logger,
  ) {
    this.window = new SendWindow(s.maxInflightFrames);
    this.frameLimit = s.maxFrameBytes;
    this.done = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.cleanup();
        if (!this.error && code !== CloseCode.NORMAL && code !== CloseCode.GOING_AWAY) {
          this.error = new Error(`collector closed the connection: ${code} ${reason.toString()}`.trim());
        }
        resolve({ welcomed: this.welcomed, error: this.error });
      });
    });
    ws.on('open', () => this.onOpen());
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('pong', () => (this.missedPongs = 0));
    ws.on('error', (err) => {
      this.error ??= err;
      ws.terminate();
    });
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    else this.ws.terminate();
  }

  private fail(err: unknown): void {
    this.error ??= err instanceof Error ? err : new Error(String(err));
    this.log.warn({ err: describeError(err) }, 'dropping collector connection');
    this.close(closeCodeFor(err), describeError(err).slice(0, 120));
  }

  private kill(reason: string): void {
    this.error ??= new Error(reason);
    this.log.warn({ reason }, 'collector connection dead; reconnecting');
    this.ws.terminate();
  }

  private cleanup(): void {
    for (const t of this.timers) clearTimeout(t);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private onOpen(): void {
    const spool = this.s.spool;
    this.ws.send(
      encodeControl({ type: 'hello', v: PROTOCOL_VERSION, agentId: this.s.agentId, epoch: spool.epoch, oldestSeq: spool.oldestSeq, newestSeq: spool.newestSeq }),
    );
    this.timers.push(setTimeout(() => !this.welcomed && this.kill('no welcome from the collector in time'), this.s.welcomeTimeoutMs));
    this.timers.push(setInterval(() => this.heartbeat(), this.s.pingIntervalMs));
  }

  private heartbeat(): void {
    if (this.missedPongs >= this.s.maxMissedPongs) return this.kill(`collector missed ${this.missedPongs} pings`);
    if (this.window.inflightFrames > 0 && Date.now() - this.lastProgress > this.s.ackTimeoutMs) return this.kill('no acknowledgement progress');
    this.missedPongs++;
    this.ws.ping();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    try {
      if (isBinary) throw protocolError(CloseCode.PROTOCOL_ERROR, 'collector sent a binary message');
      const msg = parseCollectorMessage(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'));
      if (msg.type === 'welcome') return void this.onWelcome(msg).catch((err) => this.fail(err));
      if (!this.welcomed) throw protocolError(CloseCode.PROTOCOL_ERROR, 'acknowledgement before welcome');
      if (this.window.onAck(msg.seq)) {
        this.lastProgress = Date.now();
        this.recent.forgetThrough(msg.seq);
        void this.s.spool.ack(msg.seq).catch((err) => this.log.error({ err: describeError(err) }, 'cannot persist acknowledgement'));
      }
      this.pump();
    } catch (err) {
      this.fail(err);
    }
  }

  private async onWelcome(msg: Welcome): Promise<void> {
    if (this.welcomed) throw protocolError(CloseCode.PROTOCOL_ERROR, 'second welcome');
    const spool = this.s.spool;
    if (msg.ackedSeq > spool.newestSeq) await spool.advancePast(msg.ackedSeq);
    else await spool.ack(msg.ackedSeq);
    this.recent.forgetThrough(msg.ackedSeq);
    this.welcomed = true;
    this.window.reset(msg.ackedSeq);
    this.frameLimit = Math.min(this.s.maxFrameBytes, msg.maxFrameBytes);
    this.pendingSince = 0;
    this.lastProgress = Date.now();
    this.hooks.welcomed();
    this.log.info({ ackedSeq: msg.ackedSeq, newestSeq: spool.newestSeq }, 'collector connection resumed');
    this.unsubscribe = spool.onDurable(() => this.pump());
    this.pump();
  }

  private get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends whatever the window allows; calls arriving meanwhile make it run once more. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.pumpAgain = false;
          await this.pumpOnce();
        } while (this.pumpAgain && this.open);
      } catch (err) {
        this.fail(err);
      } finally {
        this.pumping = false;
      }
    })();
  }

  private async pumpOnce(): Promise<void> {
    const spool = this.s.spool;
    while (this.open && this.welcomed) {
      if (this.dict.size > this.s.maxDictionaryEntries) {
        // Retire the connection once what it carried is acknowledged; the next starts with an empty dictionary.
        if (this.window.inflightFrames === 0) this.close(CloseCode.NORMAL, 'dictionary full; starting a fresh one');
        return;
      }
      const p = this.window.nextPriority(spool.prioritySeqs());
      if (p !== undefined) {
        this.window.markPrioritySent(p);
        const [rec] = await spool.readFrom(p, 1);
        if (rec && rec.seq === p) this.sendRecords([rec]);
        continue;
      }
      if (!this.window.canSendBulk()) return;
      const available = spool.durableSeq - this.window.bulkCursor + 1;
      if (available <= 0) {
        this.pendingSince = null;
        return;
      }
      const now = Date.now();
      this.pendingSince ??= now;
      const waited = now - this.pendingSince;
      if (available < this.s.lingerRecords && waited < this.s.lingerMs) {
        this.scheduleLinger(this.s.lingerMs - waited);
        return;
      }
      const durable = spool.durableSeq;
      const recs = await spool.readFrom(this.window.bulkCursor, Math.floor(this.frameLimit / 2));
      if (recs.length === 0) return;
      const fresh = new Set(this.window.takeBulk(recs.map((r) => r.seq)));
      // Records a frame limit left behind have waited as long as those sent: only a stream that has caught up lingers again.
      if (recs[recs.length - 1]!.seq >= durable) this.pendingSince = null;
      const toSend = recs.filter((r) => fresh.has(r.seq));
      if (toSend.length > 0) {
        if (this.window.inflightFrames === 1) this.lastProgress = Date.now();
        this.sendRecords(toSend);
      }
    }
  }

  private scheduleLinger(ms: number): void {
    if (this.lingerTimer) return;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = null;
      this.pump();
    }, ms);
  }

  private toWire(rec: SeqRecord): WireRecord | null {
    if (rec.type !== RecordType.SAMPLES) return { seq: rec.seq, type: rec.type, payload: rec.payload };
    const remembered = this.recent.get(rec.seq);
    if (remembered) return { seq: rec.seq, type: rec.type, samples: remembered };
    try {
      return { seq: rec.seq, type: rec.type, samples: decodeSamplesPayload(rec.payload) };
    } catch (err) {
      this.s.spool.reportDamaged(rec.seq, describeError(err));
      return null;
    }
  }

  /** Encodes and sends records, halving a frame that comes out larger than the collector accepts. */
  private sendRecords(recs: readonly SeqRecord[]): void {
    const wire = recs.map((r) => this.toWire(r)).filter((r): r is WireRecord => r !== null);
    if (wire.length === 0) return;
    const undo = this.dict.checkpoint();
    const frame = encodeDataFrame(wire, this.dict, this.s.compression);
    if (frame.length > this.frameLimit) {
      undo();
      if (recs.length === 1) {
        this.s.spool.reportDamaged(recs[0]!.seq, `record does not fit the collector's ${this.frameLimit} byte frame limit`);
        return;
      }
      const half = Math.ceil(recs.length / 2);
      this.sendRecords(recs.slice(0, half));
      this.sendRecords(recs.slice(half));
      return;
    }
    this.ws.send(frame);
    this.hooks.sent(wire.length);
  }
}
