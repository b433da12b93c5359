/**
 * A simulated agent for load on the collector: one WebSocket speaking the
 * agent's protocol with the agent's own pieces (hello and welcome from
 * protocol.ts, data frames and the per-connection dictionary from
 * wire-codec.ts, the in-flight limit from send-window.ts), sending
 * generated GPU samples as fast as the acknowledgements let it. There is no
 * spool behind it: a spool would put its own fsyncs on the same disk as the
 * collector's and measure those too.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket, { type RawData } from 'ws';
import { PROTOCOL_VERSION, encodeControl, parseCollectorMessage } from '../../agent/telemetry/protocol.js';
import { SendWindow } from '../../agent/telemetry/send-window.js';
import { RecordType, type Sample } from '../../agent/telemetry/types.js';
import { SeriesDictionary, encodeDataFrame, type WireRecord } from '../../agent/telemetry/wire-codec.js';
import { gpuSampler } from '../../test/helpers/gpu-samples.js';
import { AckClock, type AckedFrame } from './ack-clock.js';

export interface IngestAgentOptions {
  url: string;
  token: string;
  agentId: string;
  devices: number;
  recordsPerFrame: number;
  maxInflightFrames: number;
  seed: number;
  /** Called once if the connection fails or closes while the agent still has work. */
  onFail: (err: Error) => void;
}

/** The sampler's clock: each record is the next one-second tick. */
const FIRST_TICK_MS = Date.UTC(2025, 0, 1);
const TICK_MS = 1000;
/** What the agent accepts from the collector (ws-client.ts). */
const MAX_CONTROL_PAYLOAD = 64 * 1024;

export class IngestAgent {
  readonly agentId: string;
  /** Resolves on the collector's welcome. */
  readonly welcomed: Promise<void>;
  /** Every acknowledged frame with its send time and wait, in ack order. */
  readonly ackedFrames: AckedFrame[] = [];
  /** Sequence numbers are 1..recordsSent. */
  recordsSent = 0;
  recordsAcked = 0;
  bytesSent = 0;

  private readonly ws: WebSocket;
  private readonly window: SendWindow;
  private readonly dict = new SeriesDictionary();
  private readonly clock = new AckClock();
  private readonly sample: (ts: number) => Sample[];
  private sending = true;
  private closing = false;
  private drained: (() => void) | null = null;

  constructor(private readonly opts: IngestAgentOptions) {
    this.agentId = opts.agentId;
    this.window = new SendWindow(opts.maxInflightFrames);
    this.sample = gpuSampler(opts.devices, opts.seed);
    this.ws = new WebSocket(opts.url, { headers: { authorization: `Bearer ${opts.token}` }, perMessageDeflate: false, maxPayload: MAX_CONTROL_PAYLOAD });
    this.welcomed = new Promise((resolve) => {
      this.ws.on('message', (data: RawData, isBinary: boolean) => {
        try {
          if (this.onMessage(data, isBinary)) resolve();
        } catch (err) {
          this.fail(err);
        }
      });
    });
    this.ws.on('open', () => {
      // A fresh epoch with nothing held: the collector must answer ackedSeq 0.
      const epoch = randomBytes(16).toString('hex');
      this.ws.send(encodeControl({ type: 'hello', v: PROTOCOL_VERSION, agentId: opts.agentId, epoch, oldestSeq: 1, newestSeq: 0 }));
    });
    this.ws.on('error', (err) => this.fail(err));
    this.ws.on('close', (code, reason) => {
      if (!this.closing) this.fail(new Error(`the collector closed the connection: ${code} ${reason.toString()}`.trim()));
    });
  }

  /** Stops starting frames; resolves once every record sent is acknowledged. */
  finish(): Promise<void> {
    this.sending = false;
    return new Promise((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close(1000, 'benchmark done');
    return closed;
  }

  private fail(err: unknown): void {
    if (this.closing) return;
    this.closing = true;
    this.opts.onFail(new Error(`${this.agentId}: ${err instanceof Error ? err.message : String(err)}`));
    this.ws.terminate();
  }

  /** Returns true for the welcome. */
  private onMessage(data: RawData, isBinary: boolean): boolean {
    if (isBinary) throw new Error('the collector sent a binary message');
    const msg = parseCollectorMessage(data.toString());
    const now = performance.now();
    if (msg.type === 'welcome') {
      if (msg.ackedSeq !== 0) throw new Error(`welcome for a new epoch acknowledges ${msg.ackedSeq}`);
      this.window.reset(0);
      this.pump();
      return true;
    }
    if (this.window.onAck(msg.seq)) {
      this.recordsAcked = msg.seq;
      this.ackedFrames.push(...this.clock.acked(msg.seq, now));
    }
    this.pump();
    this.checkDrained();
    return false;
  }

  private pump(): void {
    while (this.sending && this.ws.readyState === WebSocket.OPEN && this.window.canSendBulk()) {
      const records: WireRecord[] = [];
      for (let i = 0; i < this.opts.recordsPerFrame; i++) {
        const seq = this.recordsSent + 1 + i;
        records.push({ seq, type: RecordType.SAMPLES, samples: this.sample(FIRST_TICK_MS + seq * TICK_MS) });
      }
      this.window.takeBulk(records.map((r) => r.seq));
      const frame = encodeDataFrame(records, this.dict);
      this.ws.send(frame);
      this.recordsSent += records.length;
      this.bytesSent += frame.length;
      this.clock.sent(this.recordsSent, performance.now());
    }
  }

  private checkDrained(): void {
    if (this.drained && this.window.ackedSeq === this.recordsSent) {
      this.drained();
      this.drained = null;
    }
  }
}
