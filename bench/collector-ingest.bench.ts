/**
 * Collector ingest on one core: the reference collector (`accel-collector`,
 * its real CLI) in a child process pinned to one CPU, and N simulated agents
 * with 16 GPUs each in this process, pinned to the other CPUs. Every agent
 * streams frames of --records-per-frame records (one record is one tick of
 * all its GPUs, 14 metrics each) as fast as the collector's acknowledgements
 * allow within the agent's send window. Over --seconds after a warm-up:
 * samples (records × GPUs) and records stored and acknowledged per second,
 * the collector's CPU as a share of its core, acknowledgement latency seen
 * by the agents, and bytes on the wire. At the end the collector's
 * /api/v1/agents must hold exactly what every agent sent, or the run fails.
 *
 *   node dist/bench/collector-ingest.bench.js [--agents N] [--seconds N] [--records-per-frame N]
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { clockTicksPerSecond, cpuTicks } from './lib/agent-process.js';
import { cleanupOnInterrupt } from './lib/cleanup.js';
import { startCollectorProcess, type CollectorProcess } from './lib/collector-process.js';
import { IngestAgent } from './lib/ingest-agent.js';
import { benchMain, printFigures } from './lib/main.js';
import { numberOptions } from './lib/options.js';
import { pinLoadAwayFromServer } from './lib/pinning.js';
import { parseProcMemory } from './lib/proc-status.js';
import { markdownTable } from './lib/report.js';
import { summarize } from './lib/stats.js';

const DEVICES = 16;
const METRICS_PER_DEVICE = 14;
/** The agent's default window (ws-client.ts). */
const MAX_INFLIGHT_FRAMES = 8;
/** Connections opened, files created and code compiled before the clock starts. */
const WARMUP_MS = 2000;
const CONNECT_TIMEOUT_MS = 30_000;
/** As long as a real agent waits for acknowledgement progress before reconnecting (ws-client.ts). */
const DRAIN_TIMEOUT_MS = 60_000;
const MIB = 1024 * 1024;

interface Mark {
  at: number;
  collectorTicks: number;
  self: NodeJS.CpuUsage;
  recordsAcked: number;
  bytesSent: number;
}

interface EpochSummary {
  ackedSeq: number;
  records: number;
  lostSequences: number;
  duplicates: number;
}

async function mark(collector: CollectorProcess, agents: readonly IngestAgent[]): Promise<Mark> {
  const collectorTicks = await cpuTicks(collector.pid);
  return {
    at: performance.now(),
    collectorTicks,
    self: process.cpuUsage(),
    recordsAcked: agents.reduce((n, a) => n + a.recordsAcked, 0),
    bytesSent: agents.reduce((n, a) => n + a.bytesSent, 0),
  };
}

/** Every agent's epoch must hold each record it sent exactly once, with nothing lost. */
async function verify(port: number, token: string, agents: readonly IngestAgent[]): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`/api/v1/agents answered ${res.status}`);
  const body = (await res.json()) as { agents: Array<{ agentId: string; epochs: EpochSummary[] }> };
  const held = new Map(body.agents.map((a) => [a.agentId, a.epochs]));
  const wrong: string[] = [];
  for (const a of agents) {
    const epochs = held.get(a.agentId) ?? [];
    const e = epochs[0];
    const whole = epochs.length === 1 && e !== undefined && e.ackedSeq === a.recordsSent && e.records === a.recordsSent && e.lostSequences === 0 && e.duplicates === 0;
    if (!whole) wrong.push(`${a.agentId} sent ${a.recordsSent}, collector holds ${JSON.stringify(epochs)}`);
  }
  if (wrong.length > 0) throw new Error(`the collector does not hold what ${wrong.length} agent(s) sent: ${wrong.slice(0, 3).join('; ')}`);
}

await benchMain('collector-ingest', async (argv) => {
  const opts = numberOptions(argv, {
    agents: { default: 50, integer: true },
    seconds: { default: 20 },
    'records-per-frame': { default: 10, integer: true },
  });
  const recordsPerFrame = opts['records-per-frame'];
  const pinning = pinLoadAwayFromServer('collector', 'agents (this process)');
  const hz = clockTicksPerSecond();
  const work = await mkdtemp(path.join(os.tmpdir(), 'accel-bench-ingest-'));
  const withdraw = cleanupOnInterrupt(() => rmSync(work, { recursive: true, force: true }));
  const agents: IngestAgent[] = [];
  let collector: CollectorProcess | null = null;
  try {
    const token = randomBytes(16).toString('hex');
    const tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, token + '\n', { mode: 0o600 });
    const dataDir = path.join(work, 'data');
    await mkdir(dataDir);
    collector = await startCollectorProcess({ prefix: pinning.serverPrefix, dataDir, tokenFile, startTimeoutMs: 30_000 });
    const running = collector;

    // Any agent failing, or the collector ending, fails whatever the run is waiting for.
    let fail: (err: Error) => void = () => undefined;
    const failure = new Promise<never>((_, reject) => (fail = reject));
    failure.catch(() => undefined);
    void running.exited.then((how) => fail(new Error(`the collector exited (${how}):\n${running.logTail()}`)));
    const within = async <T>(task: Promise<T>, ms: number, what: string): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms)));
      try {
        return await Promise.race([task, late, failure]);
      } finally {
        clearTimeout(timer);
      }
    };

    const url = `ws://127.0.0.1:${running.port}/v1/telemetry`;
    for (let i = 0; i < opts.agents; i++) {
      const agentId = `bench-node-${String(i + 1).padStart(4, '0')}`;
      agents.push(new IngestAgent({ url, token, agentId, devices: DEVICES, recordsPerFrame, maxInflightFrames: MAX_INFLIGHT_FRAMES, seed: i + 1, onFail: fail }));
    }
    await within(Promise.all(agents.map((a) => a.welcomed)), CONNECT_TIMEOUT_MS, 'connecting the agents');
    await within(sleep(WARMUP_MS, undefined, { ref: false }), WARMUP_MS * 2, 'the warm-up');
    const start = await mark(running, agents);
    await within(sleep(opts.seconds * 1000, undefined, { ref: false }), opts.seconds * 2000, 'the measurement');
    const end = await mark(running, agents);
    const memory = parseProcMemory(await readFile(`/proc/${running.pid}/status`, 'utf8'));
    await within(Promise.all(agents.map((a) => a.finish())), DRAIN_TIMEOUT_MS, 'waiting for the last acknowledgements');
    await within(verify(running.port, token, agents), DRAIN_TIMEOUT_MS, 'reading /api/v1/agents');

    const seconds = (end.at - start.at) / 1000;
    const records = end.recordsAcked - start.recordsAcked;
    const waits = agents.flatMap((a) => a.ackedFrames.filter((f) => f.sentAt >= start.at && f.sentAt < end.at).map((f) => f.waited));
    if (records === 0 || waits.length === 0) throw new Error('no frame was acknowledged during the measurement');
    const latency = summarize(waits);
    const selfMicros = end.self.user + end.self.system - start.self.user - start.self.system;
    const figures = {
      agents: opts.agents,
      devicesPerAgent: DEVICES,
      metricsPerDevice: METRICS_PER_DEVICE,
      recordsPerFrame,
      maxInflightFrames: MAX_INFLIGHT_FRAMES,
      seconds,
      samplesPerSecond: (records * DEVICES) / seconds,
      recordsPerSecond: records / seconds,
      collectorCpuPercent: ((end.collectorTicks - start.collectorTicks) / hz / seconds) * 100,
      agentsCpuPercent: (selfMicros / 1e6 / seconds) * 100,
      ackLatencyMs: { frames: latency.n, p50: latency.median, p99: latency.p99, max: latency.max },
      wireBytesPerSecond: (end.bytesSent - start.bytesSent) / seconds,
      collectorRssMiB: memory.rssBytes / MIB,
      recordsVerified: agents.reduce((n, a) => n + a.recordsSent, 0),
      pinned: pinning.serverPrefix.length > 0,
    };

    console.log(
      `Collector ingest: ${opts.agents} simulated agents × ${DEVICES} GPUs (${METRICS_PER_DEVICE} metrics each; one record is one tick of every GPU, ` +
        `one sample one GPU's tick) on loopback, each sending frames of ${recordsPerFrame} records as fast as acknowledgements allow, ` +
        `at most ${MAX_INFLIGHT_FRAMES} frames in flight; measured over ${seconds.toFixed(1)} s after a ${WARMUP_MS / 1000} s warm-up. ` +
        `The collector stores on ${os.tmpdir()} and flushes each frame before acknowledging it.`,
    );
    console.log(`${pinning.note} This machine has ${pinning.cpus} CPUs available${pinning.cpus === 2 ? ', so the agents have one core and the kernel\'s loopback and disk work is shared between the two' : ''}.\n`);
    console.log(
      markdownTable(
        [
          { title: 'agents', align: 'right' },
          { title: 'samples/s', align: 'right' },
          { title: 'records/s', align: 'right' },
          { title: 'collector CPU, % of core', align: 'right' },
          { title: 'ack p50, ms', align: 'right' },
          { title: 'ack p99, ms', align: 'right' },
          { title: 'wire, KiB/s', align: 'right' },
          { title: 'agents CPU, %', align: 'right' },
        ],
        [
          [
            String(opts.agents),
            figures.samplesPerSecond.toFixed(0),
            figures.recordsPerSecond.toFixed(0),
            figures.collectorCpuPercent.toFixed(0),
            latency.median.toFixed(1),
            latency.p99.toFixed(1),
            (figures.wireBytesPerSecond / 1024).toFixed(0),
            figures.agentsCpuPercent.toFixed(0),
          ],
        ],
      ),
    );
    console.log(
      `\nEvery agent keeps its window full, so a frame mostly waits behind the others in flight: at saturation the ack latency is about ` +
        `agents × ${MAX_INFLIGHT_FRAMES} frames × ${recordsPerFrame} records ÷ records/s (${((opts.agents * MAX_INFLIGHT_FRAMES * recordsPerFrame * 1000) / figures.recordsPerSecond).toFixed(0)} ms here), ` +
        `a queueing time rather than the cost of one frame. ` +
        `All ${figures.recordsVerified} records sent were acknowledged and are held once each (checked through /api/v1/agents). ` +
        `Collector VmRSS at the end of the window: ${figures.collectorRssMiB.toFixed(1)} MiB.`,
    );
    printFigures('collector-ingest', figures);
  } finally {
    await Promise.all(agents.map((a) => a.close()));
    await collector?.stop();
    await rm(work, { recursive: true, force: true });
    withdraw();
  }
});
