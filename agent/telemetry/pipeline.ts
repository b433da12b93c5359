import { AccelError, ErrorCode } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { checkSample, chunkSamples } from './input-check.js';
import { encodeDevices, encodeEvent } from './payloads.js';
import { Spool, type SpoolOptions, type SpoolStats } from './spool.js';
import { RecordType, type DeviceDescription, type Sample, type TelemetryEvent } from './types.js';
import { encodeSamplesPayload } from './wire-codec.js';
import { TelemetryClient, type ClientStatus, type TelemetryClientOptions } from './ws-client.js';

export interface TelemetryPipelineOptions {
  /** The node's identity at the collector (host name by convention). */
  agentId: string;
  spool?: Omit<SpoolOptions, 'logger'>;
  collector: Omit<TelemetryClientOptions, 'spool' | 'agentId' | 'logger'>;
  /** Metric values per spool record; a larger tick is split over several records. */
  maxValuesPerRecord?: number;
  logger?: Logger;
}

export interface PipelineStats {
  spool: SpoolStats;
  client: ClientStatus;
}

/**
 * The telemetry entry point for the daemon: samplers hand in samples, health
 * hands in events, discovery hands in device labels. Each call resolves once
 * its records are in the spool (flushed, under the default fsync policy), and
 * from there delivery to the collector is the spool's and the client's job.
 */
export class TelemetryPipeline {
  private constructor(
    private readonly spool: Spool,
    private readonly client: TelemetryClient,
    private readonly maxValues: number,
  ) {}

  static async open(opts: TelemetryPipelineOptions): Promise<TelemetryPipeline> {
    const logger = opts.logger ?? silentLogger;
    const spool = await Spool.open({ ...opts.spool, logger: logger.child({ component: 'telemetry-spool' }) });
    let client: TelemetryClient;
    try {
      client = new TelemetryClient({ ...opts.collector, agentId: opts.agentId, spool, logger: logger.child({ component: 'telemetry-client' }) });
    } catch (err) {
      await spool.close();
      throw err;
    }
    client.start();
    return new TelemetryPipeline(spool, client, opts.maxValuesPerRecord ?? 16_384);
  }

  get epoch(): string {
    return this.spool.epoch;
  }

  /**
   * One sampling tick (any number of devices and instants). Resolves with the
   * records' sequence numbers. The samples are kept until sent and must not be
   * modified afterwards.
   */
  async addSamples(samples: readonly Sample[]): Promise<number[]> {
    samples.forEach(checkSample);
    return Promise.all(chunkSamples(samples, this.maxValues).map((chunk) => this.spoolSamples(chunk)));
  }

  /** The client is handed the samples as well, so it need not decode the record it is about to send. */
  private async spoolSamples(samples: readonly Sample[]): Promise<number> {
    const seq = await this.spool.append(RecordType.SAMPLES, encodeSamplesPayload(samples));
    this.client.remember(seq, samples);
    return seq;
  }

  /** A discrete event; it travels ahead of any sample backlog. */
  async addEvent(event: TelemetryEvent): Promise<number> {
    return this.spool.append(RecordType.EVENT, asInput(() => encodeEvent(event)));
  }

  /** Labels of the node's devices (index, UUID, model, pod...), sent again whenever they change. */
  async describeDevices(devices: readonly DeviceDescription[], ts = Date.now()): Promise<number> {
    return this.spool.append(RecordType.DEVICES, asInput(() => encodeDevices({ ts, devices: [...devices] })));
  }

  stats(): PipelineStats {
    return { spool: this.spool.stats(), client: this.client.status() };
  }

  /** Stops sending and flushes the spool; unsent records wait there for the next start. */
  async close(): Promise<void> {
    await this.client.stop();
    await this.spool.close();
  }
}

function asInput(encode: () => Uint8Array): Uint8Array {
  try {
    return encode();
  } catch (err) {
    throw new AccelError(ErrorCode.TELEMETRY_INPUT, err instanceof Error ? err.message : String(err), { cause: err });
  }
}
