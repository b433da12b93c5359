/**
 * What one telemetry sample per device costs through the NVML addon
 * (`session.sample()`) versus spawning nvidia-smi for the same fields, on the
 * gn5 simulated host (8 GPUs; the NVML stub stands in for the driver and the
 * fake nvidia-smi is a C program calling that same stub). Both answer for all
 * devices at once; per device-sample figures divide a call by the device count.
 * The two paths alternate in rounds so that a change in machine load during
 * the run weighs on both.
 *
 *   node dist/bench/sample-cost.bench.js [--samples N] [--spawns N] [--rounds N]
 */
import { HostRoot } from '../agent/host/host-root.js';
import { runTool } from '../agent/vendors/run-tool.js';
import { loadNvmlBinding, type NvmlSession } from '../agent/vendors/nvidia/nvml-binding.js';
import { findNvmlLibrary } from '../agent/vendors/nvidia/nvml-library-path.js';
import { benchMain, printFigures } from './lib/main.js';
import { numberOptions } from './lib/options.js';
import { markdownTable } from './lib/report.js';
import { withTempSimhost } from './lib/simhost.js';
import { summarize } from './lib/stats.js';
import { timeRuns } from './lib/timing.js';

const DEVICES = 8;
/** The telemetry fields session.sample() returns, as nvidia-smi names them. */
const SMI_SAMPLE_ARGS = [
  '--query-gpu=index,uuid,utilization.gpu,utilization.memory,memory.used,memory.total,temperature.gpu,power.draw,' +
    'clocks.sm,clocks.mem,ecc.errors.corrected.volatile.total,ecc.errors.uncorrected.volatile.total',
  '--format=csv,noheader,nounits',
];
/** Published costs on real drivers, quoted for context (per call). */
const REAL_SMI_SPAWN_US = 13_600;
const REAL_NVML_QUERY_US = 90;

async function openStubSession(host: HostRoot): Promise<NvmlSession> {
  const lookup = await findNvmlLibrary(host);
  if (!lookup.found) throw new Error(`no NVML library on the simulated host (${lookup.refused.map((r) => r.reason).join('; ') || 'none found'})`);
  const load = loadNvmlBinding();
  if (!load.available) throw load.error;
  return load.binding.open(lookup.found.agentPath);
}

async function addonSample(session: NvmlSession): Promise<void> {
  const samples = await session.sample();
  const bad = samples.find((s) => s.error !== undefined || s.utilGpu === null);
  if (samples.length !== DEVICES || bad) throw new Error(`sample() gave ${samples.length} devices${bad ? `, device ${bad.index} failed` : ''}`);
}

async function smiSample(smiPath: string): Promise<void> {
  const out = await runTool(smiPath, SMI_SAMPLE_ARGS, { timeoutMs: 30_000 });
  if (out.kind !== 'exited' || out.exitCode !== 0) throw new Error(`nvidia-smi did not answer: ${JSON.stringify(out)}`);
  const lines = out.stdout.trim().split('\n');
  if (lines.length !== DEVICES || lines.some((l) => l.split(',').length !== 12 || l.includes('['))) {
    throw new Error(`nvidia-smi printed an unexpected answer: ${out.stdout.slice(0, 300)}`);
  }
}

const us = (ms: number) => (ms * 1000).toFixed(1);

await benchMain('sample-cost', async (argv) => {
  const opts = numberOptions(argv, {
    samples: { default: 2000, integer: true },
    spawns: { default: 100, integer: true },
    rounds: { default: 5, integer: true },
  });
  const perRound = (n: number) => Math.max(1, Math.round(n / opts.rounds));
  await withTempSimhost('gn5', async ({ root }) => {
    const host = new HostRoot(root);
    const smi = await host.resolve('/usr/bin/nvidia-smi');
    if (smi === null) throw new Error('the simulated host has no /usr/bin/nvidia-smi');
    const smiPath = host.path(smi);
    const session = await openStubSession(host);
    const addonMs: number[] = [];
    const smiMs: number[] = [];
    try {
      for (let round = 0; round < opts.rounds; round++) {
        const warmup = round === 0 ? 20 : 0;
        addonMs.push(...(await timeRuns({ runs: perRound(opts.samples), warmup }, () => addonSample(session))));
        smiMs.push(...(await timeRuns({ runs: perRound(opts.spawns), warmup: round === 0 ? 2 : 0 }, () => smiSample(smiPath))));
      }
    } finally {
      await session.shutdown();
    }
    const addon = summarize(addonMs);
    const spawn = summarize(smiMs);
    const ratio = spawn.median / addon.median;
    console.log(`One telemetry sample of ${DEVICES} GPUs on the gn5 simulated host (NVML stub), ${addon.n} addon calls and ${spawn.n} nvidia-smi spawns.\n`);
    console.log(
      markdownTable(
        ['path', { title: 'per call median µs', align: 'right' }, { title: 'per call p99 µs', align: 'right' },
          { title: 'per device-sample median µs', align: 'right' }, { title: 'ratio vs addon', align: 'right' }],
        [
          ['addon: session.sample()', us(addon.median), us(addon.p99), us(addon.median / DEVICES), '1.0x'],
          ['spawn nvidia-smi --query-gpu', us(spawn.median), us(spawn.p99), us(spawn.median / DEVICES), `${ratio.toFixed(1)}x`],
        ],
      ),
    );
    console.log(
      `\nFor context, published figures on real drivers: nvidia-smi ~${REAL_SMI_SPAWN_US} µs per spawn, ` +
        `an NVML query ~${REAL_NVML_QUERY_US} µs (${Math.round(REAL_SMI_SPAWN_US / REAL_NVML_QUERY_US)}x).`,
    );
    printFigures('sample-cost', {
      profile: 'gn5',
      devices: DEVICES,
      unit: 'us',
      addonPerCall: { median: addon.median * 1000, p99: addon.p99 * 1000, n: addon.n },
      smiPerCall: { median: spawn.median * 1000, p99: spawn.p99 * 1000, n: spawn.n },
      addonPerDeviceSampleMedian: (addon.median / DEVICES) * 1000,
      smiPerDeviceSampleMedian: (spawn.median / DEVICES) * 1000,
      ratioSmiToAddon: ratio,
      reference: { realSmiPerSpawn: REAL_SMI_SPAWN_US, realNvmlPerQuery: REAL_NVML_QUERY_US },
    });
  });
});
