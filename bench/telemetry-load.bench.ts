/**
 * Telemetry under load on the gpu16 simulated host (16 GPUs), the agent as a
 * child process (`accel-agent run`) so its CPU and memory are its own, the
 * reference collector in this process on a loopback port:
 *
 * (a) steady state: 1 s sampling streamed to the collector. The first
 *     --warmup seconds are measured on their own: V8 is still compiling the
 *     sampling path (it runs once a second, so it gets hot slowly). The
 *     targets are judged on the --seconds that follow: CPU as a share of one
 *     core (utime + stime over wall time) < 1 %, VmRSS at the end ≤ 70 MiB.
 * (b) backlog drain: before the agent starts, its spool is filled with
 *     --backlog-hours of 1 s samples of the host's GPUs, through the daemon's
 *     own sampler, pipeline and spool, timestamped over that past stretch, as
 *     an agent restarted after an outage finds it. Then the collector and the
 *     agent start; the clock runs from the agent's hello until the collector
 *     acknowledges the whole backlog. No target.
 *
 *   node dist/bench/telemetry-load.bench.js [--warmup N] [--seconds N] [--backlog-hours N]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveConfig } from '../agent/config/load.js';
import { clockTicksPerSecond, cpuTicks } from './lib/agent-process.js';
import { withDaemonHost, type DaemonFlags, type DaemonHost } from './lib/daemon-host.js';
import { ackedSeqOf, freePort, startCollector, type Hello } from './lib/loopback-collector.js';
import { benchMain, printFigures } from './lib/main.js';
import { numberOptions } from './lib/options.js';
import { parseProcMemory } from './lib/proc-status.js';
import { markdownTable } from './lib/report.js';
import { spoolBacklog, type Backlog } from './lib/spool-backlog.js';

const TARGET_CPU_PERCENT = 1;
const TARGET_RSS_MIB = 70;
const MIB = 1024 * 1024;
const DEVICES = 16;
const AGENT_ID = 'bench-node';
const TOKEN = 'bench-token-0123456789abcdef';
const SAMPLE_INTERVAL_MS = 1000;

interface Streaming {
  port: number;
  dataDir: string;
  tokenFile: string;
  /** The daemon's telemetry flags: this collector, this agent id, 1 s sampling. */
  flags: DaemonFlags;
}

/** A token file, a collector directory and a free port beside the host; nothing listens on the port yet. */
async function prepareStreaming(host: DaemonHost): Promise<Streaming> {
  const dataDir = path.join(host.work, 'collector');
  await mkdir(dataDir);
  const tokenFile = path.join(host.work, 'token');
  await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
  const port = await freePort();
  const flags = {
    'collector-url': `ws://127.0.0.1:${port}/v1/telemetry`,
    'collector-token-file': tokenFile,
    'agent-id': AGENT_ID,
    'sample-interval': `${SAMPLE_INTERVAL_MS}ms`,
  };
  return { port, dataDir, tokenFile, flags };
}

async function collectorEpochs(port: number): Promise<{ ackedSeq: number; records: number }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/agents`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`/api/v1/agents answered ${res.status}`);
  const body = (await res.json()) as { agents: { agentId: string; epochs: { ackedSeq: number; records: number }[] }[] };
  return body.agents.find((a) => a.agentId === AGENT_ID)?.epochs ?? [];
}

interface Steady {
  warmupSeconds: number;
  warmupCpuPercent: number;
  seconds: number;
  cpuPercent: number;
  rssMiB: number;
  hwmMiB: number;
  recordsStored: number;
}

async function steadyState(warmup: number, seconds: number): Promise<Steady> {
  return withDaemonHost('gpu16', async (host) => {
    const s = await prepareStreaming(host);
    const collector = await startCollector(s.port, s.dataDir, s.tokenFile, []);
    try {
      const child = await host.launch(s.flags);
      const pid = child.pid!;
      const hz = clockTicksPerSecond();
      // Past start-up: the first connection, the device inventory, the first collections.
      await sleep(3000);
      const share = (ticks: number, wallMs: number) => ((ticks * 1000) / hz / wallMs) * 100;
      const w0 = performance.now();
      const cw = await cpuTicks(pid);
      await sleep(warmup * 1000);
      const t0 = performance.now();
      const c0 = await cpuTicks(pid);
      await sleep(seconds * 1000);
      const c1 = await cpuTicks(pid);
      const wallMs = performance.now() - t0;
      const mem = parseProcMemory(await readFile(`/proc/${pid}/status`, 'utf8'));
      const epochs = await collectorEpochs(s.port);
      const recordsStored = epochs.reduce((n, e) => n + e.records, 0);
      if (recordsStored === 0) throw new Error('the collector stored nothing from the agent during the steady-state run');
      return {
        warmupSeconds: (t0 - w0) / 1000,
        warmupCpuPercent: share(c0 - cw, t0 - w0),
        seconds: wallMs / 1000,
        cpuPercent: share(c1 - c0, wallMs),
        rssMiB: mem.rssBytes / MIB,
        hwmMiB: mem.hwmBytes / MIB,
        recordsStored,
      };
    } finally {
      await collector.close();
    }
  });
}

async function waitFor<T>(what: string, timeoutMs: number, poll: () => T | undefined): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = poll();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s`);
    await sleep(5);
  }
}

interface Drain {
  backlog: Backlog;
  buildSeconds: number;
  /** Agent process started → its first hello at the collector. */
  connectWaitMs: number;
  /** Records the agent held at its hello beyond what the collector had: the backlog plus what it spooled on starting. */
  heldRecords: number;
  drainMs: number;
  recordsPerSecond: number;
}

async function drainBacklog(hours: number): Promise<Drain> {
  return withDaemonHost('gpu16', async (host) => {
    const s = await prepareStreaming(host);
    const config = resolveConfig({ flags: { ...host.flags, ...s.flags } });
    const built = performance.now();
    const backlog = await spoolBacklog(config, { ticks: Math.round((hours * 3_600_000) / SAMPLE_INTERVAL_MS), intervalMs: SAMPLE_INTERVAL_MS, lastTs: Date.now() });
    const buildSeconds = (performance.now() - built) / 1000;
    const hellos: Hello[] = [];
    const collector = await startCollector(s.port, s.dataDir, s.tokenFile, hellos);
    try {
      const launched = performance.now();
      await host.launch(s.flags);
      const hello = await waitFor('no hello from the agent', 60_000, () => hellos[0]);
      if (hello.epoch !== backlog.epoch) throw new Error(`the agent connected with epoch ${hello.epoch}, not the backlog's ${backlog.epoch}`);
      if (hello.newestSeq < backlog.records) throw new Error(`the agent's hello names ${hello.newestSeq} records; the backlog alone has ${backlog.records}`);
      // The backlog's own records, not what the agent spooled since it started: a fresh sample may
      // rightly wait (lingerMs) to share a frame with the next ones, which is not the drain.
      const drainedAt = await waitFor(`backlog of ${backlog.records} records not acknowledged`, 300_000, () =>
        ackedSeqOf(collector, AGENT_ID) >= backlog.records ? performance.now() : undefined,
      );
      const drainMs = drainedAt - hello.at;
      return { backlog, buildSeconds, connectWaitMs: hello.at - launched, heldRecords: hello.newestSeq - hello.ackedSeq, drainMs, recordsPerSecond: backlog.records / (drainMs / 1000) };
    } finally {
      await collector.close();
    }
  });
}

await benchMain('telemetry-load', async (argv) => {
  const opts = numberOptions(argv, { warmup: { default: 60 }, seconds: { default: 60 }, 'backlog-hours': { default: 1 } });
  const hours = opts['backlog-hours'];
  const steady = await steadyState(opts.warmup, opts.seconds);
  const drain = await drainBacklog(hours);
  const cpuMet = steady.cpuPercent < TARGET_CPU_PERCENT;
  const rssMet = steady.rssMiB <= TARGET_RSS_MIB;
  console.log(
    `(a) accel-agent run on gpu16 (16 GPUs), 1 s sampling streamed to a collector on loopback: the first ${steady.warmupSeconds.toFixed(0)} s ` +
      `after start-up (JIT warm-up), then ${steady.seconds.toFixed(1)} s of steady state, on which the targets are judged.\n`,
  );
  console.log(
    markdownTable(
      ['measure', { title: 'value', align: 'right' }, { title: 'target', align: 'right' }, 'met'],
      [
        ['CPU during warm-up, % of one core', steady.warmupCpuPercent.toFixed(2), '', ''],
        ['CPU in steady state, % of one core', steady.cpuPercent.toFixed(2), `< ${TARGET_CPU_PERCENT}`, cpuMet ? 'yes' : 'NO'],
        ['VmRSS at the end, MiB', steady.rssMiB.toFixed(1), `≤ ${TARGET_RSS_MIB}`, rssMet ? 'yes' : 'NO'],
        ['VmHWM, MiB', steady.hwmMiB.toFixed(1), '', ''],
        ['records stored by the collector', String(steady.recordsStored), '', ''],
      ],
    ),
  );
  const b = drain.backlog;
  console.log(
    `\n(b) ${hours} h of 1 s samples of ${b.devices} GPUs spooled ahead (built in ${drain.buildSeconds.toFixed(1)} s through the daemon's sampler, ` +
      `pipeline and spool), then the collector and the agent started; the agent took the spool over and drained it.\n`,
  );
  console.log(
    markdownTable(
      ['measure', { title: 'value', align: 'right' }],
      [
        ['backlog records (device labels + one per tick)', String(b.records)],
        ['backlog samples (one per GPU per tick)', String(b.samples)],
        ['backlog metric values', String(b.values)],
        ['backlog spool bytes', String(b.bytes)],
        ['records held at the hello', String(drain.heldRecords)],
        ['agent started → first hello, s', (drain.connectWaitMs / 1000).toFixed(2)],
        ['hello → backlog acknowledged, s', (drain.drainMs / 1000).toFixed(2)],
        ['drain rate, records/s', drain.recordsPerSecond.toFixed(0)],
      ],
    ),
  );
  printFigures('telemetry-load', {
    profile: 'gpu16',
    devices: DEVICES,
    steady: { ...steady, targetCpuPercent: TARGET_CPU_PERCENT, targetRssMiB: TARGET_RSS_MIB, cpuMet, rssMet },
    drain: { backlogHours: hours, sampleIntervalMs: SAMPLE_INTERVAL_MS, ...drain, backlog: b },
  });
  const missed = [
    ...(cpuMet ? [] : [`CPU ${steady.cpuPercent.toFixed(2)} % of a core is not under ${TARGET_CPU_PERCENT} %`]),
    ...(rssMet ? [] : [`VmRSS ${steady.rssMiB.toFixed(1)} MiB is over ${TARGET_RSS_MIB} MiB`]),
  ];
  if (missed.length > 0) throw new Error(`target missed: ${missed.join('; ')}`);
});
