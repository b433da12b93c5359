/**
 * Telemetry under load on the gpu16 simulated host (16 GPUs), the agent as a
 * child process (`accel-agent run`) so its CPU and memory are its own, the
 * reference collector in this process on a loopback port:
 *
 * (a) steady state: 1 s sampling streamed to the collector for --seconds;
 *     CPU as a share of one core (utime + stime over wall time) and VmRSS at
 *     the end. Targets: < 1 % of a core, VmRSS ≤ 70 MiB.
 * (b) backlog drain: the collector is down for --outage seconds while the
 *     agent samples every 100 ms into its spool; then the collector starts on
 *     the same port and the clock runs from the agent's reconnection until
 *     the collector acknowledges everything the agent held when it connected.
 *     Reported as records per second; no target.
 *
 *   node dist/bench/telemetry-load.bench.js [--seconds N] [--outage N]
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Collector } from '../agent/collector/server.js';
import { createLogger } from '../agent/log.js';
import { packageRoot } from '../agent/package-root.js';
import { cleanupOnInterrupt } from './lib/cleanup.js';
import { benchMain, printFigures } from './lib/main.js';
import { numberOptions } from './lib/options.js';
import { parseProcMemory } from './lib/proc-status.js';
import { markdownTable } from './lib/report.js';
import { withTempSimhost } from './lib/simhost.js';
import { ready, stopped, cpuTicks } from './lib/agent-process.js';

const TARGET_CPU_PERCENT = 1;
const TARGET_RSS_MIB = 70;
const MIB = 1024 * 1024;
const DEVICES = 16;
const AGENT_ID = 'bench-node';
const TOKEN = 'bench-token-0123456789abcdef';
const DRAIN_INTERVAL_MS = 100;

function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** A free loopback port: bind port 0, note the port, close. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Hello {
  at: number;
  newestSeq: number;
  ackedSeq: number;
}

/**
 * The collector on a fixed loopback port; its log is read for the agent's
 * hello ("agent connected": the agent's newest sequence number and what the
 * collector already held), timed as it arrives.
 */
async function startCollector(port: number, dataDir: string, tokenFile: string, hellos: Hello[]): Promise<Collector> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.includes('agent connected')) continue;
        try {
          const entry = JSON.parse(line) as { newestSeq?: number; ackedSeq?: number };
          if (typeof entry.newestSeq === 'number') hellos.push({ at: performance.now(), newestSeq: entry.newestSeq, ackedSeq: entry.ackedSeq ?? 0 });
        } catch {
          // not a JSON log line
        }
      }
      done();
    },
  });
  return Collector.start({ host: '127.0.0.1', port, dataDir, tokenFile, logger: createLogger('info', sink) });
}

interface Epoch {
  ackedSeq: number;
  records: number;
}

async function collectorEpochs(port: number): Promise<Epoch[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/agents`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`/api/v1/agents answered ${res.status}`);
  const body = (await res.json()) as { agents: { agentId: string; epochs: Epoch[] }[] };
  return body.agents.find((a) => a.agentId === AGENT_ID)?.epochs ?? [];
}

function agentArgs(root: string, work: string, port: number, tokenFile: string, interval: string): string[] {
  const d = (name: string) => path.join(work, name);
  return [path.join(packageRoot(), 'bin/accel-agent.js'), 'run', '--host-root', root, '--socket', d('agent.sock'),
    '--cdi-dir', d('cdi'), '--cdi-host-prefix', 'root', '--state-dir', d('state'), '--kubelet-dir', d('kubelet'), '--nfd-dir', d('nfd'),
    '--rescan-interval', '1h', '--collector-url', `ws://127.0.0.1:${port}/v1/telemetry`, '--collector-token-file', tokenFile,
    '--agent-id', AGENT_ID, '--sample-interval', interval];
}

/** Runs `body` with a fresh gpu16 host, its directories and a token file; the agent child is killed whatever happens. */
async function withAgentHost<T>(body: (h: { root: string; work: string; tokenFile: string; port: number; launch(interval: string): Promise<ChildProcess> }) => Promise<T>): Promise<T> {
  return withTempSimhost('gpu16', async ({ root, work }) => {
    for (const d of ['cdi', 'state', 'kubelet', 'nfd', 'collector']) await mkdir(path.join(work, d));
    const tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
    const port = await freePort();
    const children: ChildProcess[] = [];
    const withdraw = cleanupOnInterrupt(() => children.forEach((c) => c.kill('SIGKILL')));
    const launch = async (interval: string) => {
      const child = spawn(process.execPath, agentArgs(root, work, port, tokenFile, interval), { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      await ready(child, 60_000);
      return child;
    };
    try {
      return await body({ root, work, tokenFile, port, launch });
    } finally {
      await Promise.all(children.map((c) => stopped(c, 20_000)));
      withdraw();
    }
  });
}

interface Steady {
  seconds: number;
  cpuPercent: number;
  rssMiB: number;
  hwmMiB: number;
  recordsStored: number;
}

async function steadyState(seconds: number): Promise<Steady> {
  return withAgentHost(async ({ work, tokenFile, port, launch }) => {
    const collector = await startCollector(port, path.join(work, 'collector'), tokenFile, []);
    try {
      const child = await launch('1s');
      const pid = child.pid!;
      const hz = clockTicksPerSecond();
      // Past start-up: the first connection, the device inventory, the first collections.
      await sleep(3000);
      const t0 = performance.now();
      const c0 = await cpuTicks(pid);
      await sleep(seconds * 1000);
      const c1 = await cpuTicks(pid);
      const wallMs = performance.now() - t0;
      const mem = parseProcMemory(await readFile(`/proc/${pid}/status`, 'utf8'));
      const epochs = await collectorEpochs(port);
      const recordsStored = epochs.reduce((n, e) => n + e.records, 0);
      if (recordsStored === 0) throw new Error('the collector stored nothing from the agent during the steady-state run');
      return {
        seconds: wallMs / 1000,
        cpuPercent: (((c1 - c0) * 1000) / hz / wallMs) * 100,
        rssMiB: mem.rssBytes / MIB,
        hwmMiB: mem.hwmBytes / MIB,
        recordsStored,
      };
    } finally {
      await collector.close();
    }
  });
}

interface Drain {
  outageSeconds: number;
  backlogRecords: number;
  reconnectWaitMs: number;
  drainMs: number;
  recordsPerSecond: number;
}

async function drainBacklog(outage: number): Promise<Drain> {
  return withAgentHost(async ({ work, tokenFile, port, launch }) => {
    await launch(`${DRAIN_INTERVAL_MS}ms`);
    // Nothing listens on the port: the agent spools every sample and retries with backoff.
    await sleep(outage * 1000);
    const hellos: Hello[] = [];
    const collectorUp = performance.now();
    const collector = await startCollector(port, path.join(work, 'collector'), tokenFile, hellos);
    try {
      // The agent's reconnect backoff grows while the collector is away (up to 60 s between tries).
      const connectDeadline = collectorUp + 90_000;
      while (hellos.length === 0) {
        if (performance.now() > connectDeadline) throw new Error('the agent did not reconnect within 90 s of the collector starting');
        await sleep(20);
      }
      const hello = hellos[0]!;
      const target = hello.newestSeq;
      const drainDeadline = hello.at + 120_000;
      let drainedAt = 0;
      while (drainedAt === 0) {
        const acked = (await collectorEpochs(port))[0]?.ackedSeq ?? 0;
        if (acked >= target) drainedAt = performance.now();
        else if (performance.now() > drainDeadline) throw new Error(`backlog not drained within 120 s (acked ${acked} of ${target})`);
        else await sleep(20);
      }
      const backlogRecords = target - hello.ackedSeq;
      const drainMs = drainedAt - hello.at;
      return { outageSeconds: outage, backlogRecords, reconnectWaitMs: hello.at - collectorUp, drainMs, recordsPerSecond: backlogRecords / (drainMs / 1000) };
    } finally {
      await collector.close();
    }
  });
}

await benchMain('telemetry-load', async (argv) => {
  const { seconds, outage } = numberOptions(argv, { seconds: { default: 30 }, outage: { default: 20 } });
  const steady = await steadyState(seconds);
  const drain = await drainBacklog(outage);
  const cpuMet = steady.cpuPercent < TARGET_CPU_PERCENT;
  const rssMet = steady.rssMiB <= TARGET_RSS_MIB;
  // One samples record holds one tick of every GPU (16 GPUs are far below the per-record cap), so the
  // backlog in records is about the number of ticks spooled: at 1 s sampling, that many seconds of data.
  const equivalentHours = drain.backlogRecords / 3600;
  console.log(`(a) accel-agent run on gpu16 (16 GPUs), 1 s sampling streamed to a collector on loopback, measured over ${steady.seconds.toFixed(1)} s after start-up.\n`);
  console.log(
    markdownTable(
      ['measure', { title: 'value', align: 'right' }, { title: 'target', align: 'right' }, 'met'],
      [
        ['CPU, % of one core', steady.cpuPercent.toFixed(2), `< ${TARGET_CPU_PERCENT}`, cpuMet ? 'yes' : 'NO'],
        ['VmRSS at the end, MiB', steady.rssMiB.toFixed(1), `≤ ${TARGET_RSS_MIB}`, rssMet ? 'yes' : 'NO'],
        ['VmHWM, MiB', steady.hwmMiB.toFixed(1), '', ''],
        ['records stored by the collector', String(steady.recordsStored), '', ''],
      ],
    ),
  );
  console.log(
    `\n(b) collector down for ${outage} s while the agent sampled every ${DRAIN_INTERVAL_MS} ms, then started on the same port; ` +
      `the agent kept spooling until its backoff let it reconnect. The backlog of ${drain.backlogRecords} records (one per tick of 16 GPUs) ` +
      `is what 1 s sampling would gather in ${(drain.backlogRecords / 60).toFixed(1)} min (${equivalentHours.toFixed(3)} h).\n`,
  );
  console.log(
    markdownTable(
      ['measure', { title: 'value', align: 'right' }],
      [
        ['backlog at reconnection, records', String(drain.backlogRecords)],
        ['collector start → agent reconnected, s', (drain.reconnectWaitMs / 1000).toFixed(2)],
        ['reconnected → backlog acknowledged, s', (drain.drainMs / 1000).toFixed(2)],
        ['drain rate, records/s', drain.recordsPerSecond.toFixed(0)],
      ],
    ),
  );
  printFigures('telemetry-load', {
    profile: 'gpu16',
    devices: DEVICES,
    steady: { ...steady, targetCpuPercent: TARGET_CPU_PERCENT, targetRssMiB: TARGET_RSS_MIB, cpuMet, rssMet },
    drain: { ...drain, sampleIntervalMs: DRAIN_INTERVAL_MS, equivalentHoursOf1sSampling: equivalentHours },
  });
  const missed = [
    ...(cpuMet ? [] : [`CPU ${steady.cpuPercent.toFixed(2)} % of a core is not under ${TARGET_CPU_PERCENT} %`]),
    ...(rssMet ? [] : [`VmRSS ${steady.rssMiB.toFixed(1)} MiB is over ${TARGET_RSS_MIB} MiB`]),
  ];
  if (missed.length > 0) throw new Error(`target missed: ${missed.join('; ')}`);
});
