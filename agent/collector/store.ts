import { mkdir, open, readFile, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode, describeError } from '../errors.js';
import { syncDirectory } from '../fs/atomic-file.js';
import { silentLogger, type Logger } from '../log.js';
import { decodeDevices, decodeEvent, decodeGap } from '../telemetry/payloads.js';
import { isAgentId } from '../telemetry/protocol.js';
import { encodeRecord, scanRecords, type DecodedRecord } from '../telemetry/record-codec.js';
import { isEpoch } from '../telemetry/spool-layout.js';
import { RecordType, type Sample, type SeqRecord, type TelemetryEvent } from '../telemetry/types.js';
import { decodeSamplesPayload, encodeSamplesPayload, type WireRecord } from '../telemetry/wire-codec.js';
import { SeqRanges } from './seq-ranges.js';

/**
 * The collector's only state: one append-only file per agent and epoch,
 * `<dataDir>/agents/<agentId>/<epoch>.log`, holding records in arrival order
 * with the spool's framing. Records are flushed to disk before anything is
 * acknowledged, and everything in memory (what each stream holds, the latest
 * value of every series, device labels) is rebuilt from these files at start.
 */

const LOG_SUFFIX = '.log';
const RECENT_EVENTS = 20;

export interface LatestValue {
  value: number;
  ts: number;
}

export interface DeviceState {
  deviceId: string;
  labels: Record<string, string>;
  latest: Map<string, LatestValue>;
}

export interface StreamState {
  agentId: string;
  epoch: string;
  file: string;
  /** Sequence numbers with a record in the file. */
  stored: SeqRanges;
  /** Stored numbers plus those gap records (and the agent's hello) declare lost or already settled. */
  covered: SeqRanges;
  duplicates: number;
  lastSeen: number;
  fh: FileHandle | null;
  chain: Promise<unknown>;
}

export interface AgentState {
  agentId: string;
  devices: Map<string, DeviceState>;
  streams: Map<string, StreamState>;
  recentEvents: TelemetryEvent[];
  lastSeen: number;
}

export interface AppendResult {
  stored: number;
  duplicates: number;
}

export interface SeriesPoint {
  ts: number;
  value: number;
}

export interface StoreOptions {
  dataDir: string;
  logger?: Logger;
  now?: () => number;
}

export class Store {
  readonly dataDir: string;
  private readonly agentsDir: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly agentMap = new Map<string, AgentState>();

  private constructor(options: StoreOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.agentsDir = path.join(this.dataDir, 'agents');
    this.log = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  static async open(options: StoreOptions): Promise<Store> {
    const store = new Store(options);
    await store.rebuild();
    return store;
  }

  agents(): AgentState[] {
    return [...this.agentMap.values()];
  }

  agent(agentId: string): AgentState | undefined {
    return this.agentMap.get(agentId);
  }

  stream(agentId: string, epoch: string): StreamState {
    if (!isAgentId(agentId) || !isEpoch(epoch)) throw new AccelError(ErrorCode.PROTOCOL, 'invalid agent id or epoch');
    const agent = this.agentState(agentId);
    let s = agent.streams.get(epoch);
    if (!s) {
      s = {
        agentId,
        epoch,
        file: path.join(this.agentsDir, agentId, epoch + LOG_SUFFIX),
        stored: new SeqRanges(),
        covered: new SeqRanges(),
        duplicates: 0,
        lastSeen: 0,
        fh: null,
        chain: Promise.resolve(),
      };
      agent.streams.set(epoch, s);
    }
    return s;
  }

  /**
   * The acknowledgement for a stream: the end of the unbroken run of settled
   * numbers from 1. `settledBelow` comes from the agent's hello (its oldest
   * held record): numbers below it were acknowledged before or are covered by
   * a gap record the agent still holds, so waiting for them would wait forever.
   */
  ackedSeq(stream: StreamState, settledBelow = 1): number {
    if (settledBelow > 1) stream.covered.addRange(1, settledBelow - 1);
    return stream.covered.contiguousEnd();
  }

  /** Stores the records not already held, flushed to disk before the promise resolves. */
  append(stream: StreamState, records: readonly WireRecord[]): Promise<AppendResult> {
    const run = stream.chain.then(() => this.appendNow(stream, records));
    stream.chain = run.catch(() => undefined);
    return run;
  }

  private async appendNow(stream: StreamState, records: readonly WireRecord[]): Promise<AppendResult> {
    // Sample batches arrive decoded; the view is updated from those rather than from decoding the stored copy again.
    const fresh: { rec: SeqRecord; samples?: readonly Sample[] }[] = [];
    const seen = new Set<number>();
    let duplicates = 0;
    for (const r of records) {
      if (stream.stored.has(r.seq) || seen.has(r.seq)) {
        duplicates++;
        continue;
      }
      seen.add(r.seq);
      if (r.type === RecordType.SAMPLES) fresh.push({ rec: { seq: r.seq, type: r.type, payload: encodeSamplesPayload(r.samples) }, samples: r.samples });
      else fresh.push({ rec: { seq: r.seq, type: r.type, payload: r.payload } });
    }
    if (fresh.length > 0) {
      const buf = Buffer.concat(fresh.map(({ rec }) => encodeRecord(rec.seq, rec.type, rec.payload)));
      try {
        if (!stream.fh) stream.fh = await this.openLog(stream.file);
        await stream.fh.write(buf);
        await stream.fh.datasync();
      } catch (err) {
        await stream.fh?.close().catch(() => undefined);
        stream.fh = null;
        throw new AccelError(ErrorCode.SPOOL_IO, `cannot write ${stream.file}`, { cause: err });
      }
      for (const f of fresh) this.apply(stream, f.rec, f.samples);
    }
    stream.duplicates += duplicates;
    stream.lastSeen = this.now();
    this.agentState(stream.agentId).lastSeen = stream.lastSeen;
    return { stored: fresh.length, duplicates };
  }

  /** The newest `limit` points of every metric of one device, read from the agent's files. */
  async series(agentId: string, deviceId: string, limit = 1000): Promise<Record<string, SeriesPoint[]>> {
    const agent = this.agentMap.get(agentId);
    const out: Record<string, SeriesPoint[]> = {};
    if (!agent) return out;
    for (const stream of agent.streams.values()) {
      let buf: Buffer;
      try {
        buf = await readFile(stream.file);
      } catch {
        continue;
      }
      for (const rec of scanRecords(buf, 0, { increasing: false }).records) {
        if (rec.type !== RecordType.SAMPLES) continue;
        for (const s of this.samplesOf(rec)) {
          if (s.deviceId !== deviceId) continue;
          for (const [metric, value] of Object.entries(s.metrics)) (out[metric] ??= []).push({ ts: s.ts, value });
        }
      }
    }
    for (const metric of Object.keys(out)) out[metric] = out[metric]!.sort((a, b) => a.ts - b.ts).slice(-limit);
    return out;
  }

  async close(): Promise<void> {
    for (const agent of this.agentMap.values()) {
      for (const s of agent.streams.values()) {
        await s.chain;
        await s.fh?.close().catch(() => undefined);
        s.fh = null;
      }
    }
  }

  private agentState(agentId: string): AgentState {
    let a = this.agentMap.get(agentId);
    if (!a) {
      a = { agentId, devices: new Map(), streams: new Map(), recentEvents: [], lastSeen: 0 };
      this.agentMap.set(agentId, a);
    }
    return a;
  }

  private async openLog(file: string): Promise<FileHandle> {
    const dir = path.dirname(file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const fh = await open(file, 'a', 0o600);
    // The new file's directory entry (and the agent directory's) must survive a crash too.
    await syncDirectory(dir);
    await syncDirectory(this.agentsDir);
    return fh;
  }

  private samplesOf(rec: SeqRecord) {
    try {
      return decodeSamplesPayload(rec.payload, ErrorCode.SPOOL_CORRUPT);
    } catch (err) {
      this.log.warn({ seq: rec.seq, err: describeError(err) }, 'stored sample batch unreadable');
      return [];
    }
  }

  /** Folds one stored record into the in-memory view; `samples`, when given, is its payload already decoded. */
  private apply(stream: StreamState, rec: SeqRecord, samples?: readonly Sample[]): void {
    stream.stored.add(rec.seq);
    stream.covered.add(rec.seq);
    const agent = this.agentState(stream.agentId);
    try {
      switch (rec.type) {
        case RecordType.SAMPLES:
          for (const s of samples ?? this.samplesOf(rec)) {
            const dev = deviceState(agent, s.deviceId);
            for (const [metric, value] of Object.entries(s.metrics)) {
              const prev = dev.latest.get(metric);
              if (!prev || prev.ts <= s.ts) dev.latest.set(metric, { value, ts: s.ts });
            }
          }
          break;
        case RecordType.GAP: {
          const gap = decodeGap(rec.payload);
          stream.covered.addRange(gap.from, gap.to);
          break;
        }
        case RecordType.DEVICES:
          for (const d of decodeDevices(rec.payload).devices) deviceState(agent, d.deviceId).labels = d.labels;
          break;
        case RecordType.EVENT:
          agent.recentEvents.push(decodeEvent(rec.payload));
          agent.recentEvents.sort((a, b) => a.ts - b.ts);
          if (agent.recentEvents.length > RECENT_EVENTS) agent.recentEvents.splice(0, agent.recentEvents.length - RECENT_EVENTS);
          break;
      }
    } catch (err) {
      // Kept on disk as received; only this view of it is lost.
      this.log.warn({ agentId: stream.agentId, seq: rec.seq, type: rec.type, err: describeError(err) }, 'stored record not understood');
    }
  }

  private async rebuild(): Promise<void> {
    await mkdir(this.agentsDir, { recursive: true, mode: 0o700 });
    for (const agentId of (await readdir(this.agentsDir)).sort()) {
      if (!isAgentId(agentId)) continue;
      const dir = path.join(this.agentsDir, agentId);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const name of names.sort()) {
        const epoch = name.endsWith(LOG_SUFFIX) ? name.slice(0, -LOG_SUFFIX.length) : '';
        if (!isEpoch(epoch)) continue;
        await this.load(this.stream(agentId, epoch));
      }
    }
  }

  private async load(stream: StreamState): Promise<void> {
    const buf = await readFile(stream.file);
    const scan = scanRecords(buf, 0, { increasing: false });
    if (scan.damage.length > 0) this.log.warn({ file: stream.file, damaged: scan.damage.length }, 'damaged records in store file skipped');
    if (scan.tail !== 'clean') {
      this.log.warn({ file: stream.file, tail: scan.tail, bytes: buf.length - scan.validEnd }, 'store file tail cut off');
      const fh = await open(stream.file, 'r+');
      try {
        await fh.truncate(scan.validEnd);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
    for (const rec of scan.records as DecodedRecord[]) if (!stream.stored.has(rec.seq)) this.apply(stream, rec);
  }
}

function deviceState(agent: AgentState, deviceId: string): DeviceState {
  let d = agent.devices.get(deviceId);
  if (!d) {
    d = { deviceId, labels: {}, latest: new Map() };
    agent.devices.set(deviceId, d);
  }
  return d;
}
