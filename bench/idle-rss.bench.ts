/**
 * Memory of the daemon at rest: `accel-agent run` on the gn5 simulated host
 * (8 GPUs), left idle for 60 s after it reports "agent running"; VmRSS and
 * VmHWM from /proc/<pid>/status. Fails when VmRSS after the idle period is
 * over the 70 MiB target.
 *
 *   node dist/bench/idle-rss.bench.js [--seconds N]   (N < 60 for a quick check)
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../agent/package-root.js';
import { cleanupOnInterrupt } from './lib/cleanup.js';
import { DEPLOYED_ENV } from './lib/deployed-env.js';
import { benchMain, printFigures } from './lib/main.js';
import { numberOptions } from './lib/options.js';
import { parseProcMemory, type ProcMemory } from './lib/proc-status.js';
import { markdownTable } from './lib/report.js';
import { withTempSimhost } from './lib/simhost.js';
import { summarize } from './lib/stats.js';
import { READY_LINE, ready, stopped } from './lib/agent-process.js';

const TARGET_MIB = 70;
const MIB = 1024 * 1024;

async function memoryOf(pid: number): Promise<ProcMemory> {
  return parseProcMemory(await readFile(`/proc/${pid}/status`, 'utf8'));
}

/** A bare Node process doing nothing: the floor any Node agent starts from. */
async function bareNodeMemory(settleMs: number): Promise<ProcMemory> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  const withdraw = cleanupOnInterrupt(() => child.kill('SIGKILL'));
  try {
    await sleep(settleMs);
    return await memoryOf(child.pid!);
  } finally {
    await stopped(child, 20_000);
    withdraw();
  }
}

await benchMain('idle-rss', async (argv) => {
  const { seconds } = numberOptions(argv, { seconds: { default: 60 } });
  const bare = await bareNodeMemory(Math.min(seconds, 5) * 1000);
  await withTempSimhost('gn5', async ({ root, work }) => {
    const dirs = Object.fromEntries(['cdi', 'state', 'kubelet', 'nfd'].map((d) => [d, path.join(work, d)]));
    await Promise.all(Object.values(dirs).map((d) => mkdir(d)));
    const child = spawn(
      process.execPath,
      [path.join(packageRoot(), 'bin/accel-agent.js'), 'run', '--host-root', root, '--socket', path.join(work, 'agent.sock'),
        '--cdi-dir', dirs['cdi']!, '--cdi-host-prefix', 'root', '--state-dir', dirs['state']!, '--kubelet-dir', dirs['kubelet']!, '--nfd-dir', dirs['nfd']!],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...DEPLOYED_ENV } },
    );
    const withdraw = cleanupOnInterrupt(() => child.kill('SIGKILL'));
    try {
      await ready(child, 60_000);
      const pid = child.pid!;
      const atReady = await memoryOf(pid);
      const rssDuringIdle: number[] = [];
      const deadline = Date.now() + seconds * 1000;
      while (Date.now() < deadline) {
        await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
        rssDuringIdle.push((await memoryOf(pid)).rssBytes);
      }
      const end = await memoryOf(pid);
      const idle = summarize(rssDuringIdle);
      const exit = await stopped(child, 20_000);
      const pass = end.rssBytes <= TARGET_MIB * MIB;
      const mib = (b: number | null) => (b === null ? 'n/a' : (b / MIB).toFixed(1));
      const row = (what: string, m: ProcMemory) => [what, mib(m.rssBytes), mib(m.anonBytes), mib(m.fileBytes), mib(m.hwmBytes), `${(m.rssBytes / bare.rssBytes).toFixed(2)}x`];
      console.log(`accel-agent run on the gn5 simulated host (8 GPUs), idle for ${seconds} s after "${READY_LINE}"; stopped with SIGTERM (exit ${exit}).\n`);
      console.log(
        markdownTable(
          ['process', ...['VmRSS MiB', 'RssAnon MiB', 'RssFile MiB', 'VmHWM MiB', 'VmRSS vs bare Node'].map((title) => ({ title, align: 'right' as const }))],
          [row('bare Node, idle (baseline)', bare), row('accel-agent run, when ready', atReady), row(`accel-agent run, after ${seconds} s idle`, end)],
        ),
      );
      console.log(
        `\nVmRSS during the idle period: median ${mib(idle.median)} MiB, max ${mib(idle.max)} MiB (${idle.n} readings). ` +
          `Target: ≤ ${TARGET_MIB} MiB after idle: ${pass ? 'met' : 'MISSED'}.`,
      );
      const figures = (m: ProcMemory) => ({ rss: m.rssBytes / MIB, anon: m.anonBytes === null ? null : m.anonBytes / MIB, file: m.fileBytes === null ? null : m.fileBytes / MIB, hwm: m.hwmBytes / MIB });
      printFigures('idle-rss', {
        profile: 'gn5',
        idleSeconds: seconds,
        unit: 'MiB',
        bareNode: figures(bare),
        ready: figures(atReady),
        afterIdle: figures(end),
        rssIdleMedian: idle.median / MIB,
        rssIdleMax: idle.max / MIB,
        targetMiB: TARGET_MIB,
        met: pass,
        exit,
      });
      if (!pass) throw new Error(`VmRSS after ${seconds} s idle is ${mib(end.rssBytes)} MiB, over the ${TARGET_MIB} MiB target`);
    } finally {
      await stopped(child, 20_000);
      withdraw();
    }
  });
});
