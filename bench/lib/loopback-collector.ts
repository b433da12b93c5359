/**
 * The reference collector in the benchmark's own process on a loopback port,
 * with each agent's hello timed as the collector logs it.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { Collector } from '../../agent/collector/server.js';
import { createLogger } from '../../agent/log.js';

/** A free loopback port: bind port 0, note the port, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Hello {
  /** performance.now() when the collector logged the connection, just before its welcome. */
  at: number;
  epoch: string;
  newestSeq: number;
  /** What the collector already held of the agent's epoch. */
  ackedSeq: number;
}

/** Starts the collector on `port`; `hellos` fills as agents connect ("agent connected" in its log). */
export async function startCollector(port: number, dataDir: string, tokenFile: string, hellos: Hello[]): Promise<Collector> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.includes('agent connected')) continue;
        try {
          const entry = JSON.parse(line) as { epoch?: string; newestSeq?: number; ackedSeq?: number };
          if (typeof entry.newestSeq === 'number') {
            hellos.push({ at: performance.now(), epoch: entry.epoch ?? '', newestSeq: entry.newestSeq, ackedSeq: entry.ackedSeq ?? 0 });
          }
        } catch {
          // not a JSON log line
        }
      }
      done();
    },
  });
  return Collector.start({ host: '127.0.0.1', port, dataDir, tokenFile, logger: createLogger('info', sink) });
}

/**
 * How far the collector has acknowledged an agent's only epoch, read from
 * its store in memory: polling the HTTP API every few milliseconds would
 * cost the collector more than the reading is worth.
 */
export function ackedSeqOf(collector: Collector, agentId: string): number {
  const streams = [...(collector.store.agent(agentId)?.streams.values() ?? [])];
  if (streams.length > 1) throw new Error(`agent ${agentId} has ${streams.length} epochs at the collector; expected one`);
  return streams[0] ? collector.store.ackedSeq(streams[0]) : 0;
}
