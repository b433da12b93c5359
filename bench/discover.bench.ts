/**
 * How long discovery takes on the gn5 (8 GPUs) and gpu16 (16 GPUs) simulated
 * hosts: `accel-agent discover -o json` as an operator runs it (a fresh Node
 * process each time, so start-up is included), and `Discoverer.scan()` inside
 * a running process after one warm-up scan, as the daemon's rescans do.
 *
 *   node dist/bench/discover.bench.js [--spawns N] [--scans N]
 */
import path from 'node:path';
import { resolveConfig } from '../agent/config/load.js';
import { npuProfile, nvidiaOptions } from '../agent/config/options.js';
import { Discoverer } from '../agent/discovery/discoverer.js';
import { silentLogger } from '../agent/log.js';
import { packageRoot } from '../agent/package-root.js';
import { runTool } from '../agent/vendors/run-tool.js';
import { benchMain, printFigures } from './lib/main.js';
import { numberOptions } from './lib/options.js';
import { markdownTable } from './lib/report.js';
import { withTempSimhost } from './lib/simhost.js';
import { summarize, type Summary } from './lib/stats.js';
import { timeRuns } from './lib/timing.js';

const PROFILES = [
  { profile: 'gn5', gpus: 8 },
  { profile: 'gpu16', gpus: 16 },
] as const;

interface ProfileFigures {
  profile: string;
  gpus: number;
  cli: Summary;
  scan: Summary;
}

function expectGpus(what: string, devices: readonly { vendor: string }[], gpus: number): void {
  const found = devices.filter((d) => d.vendor === 'nvidia').length;
  if (found !== gpus) throw new Error(`${what} found ${found} NVIDIA GPUs, expected ${gpus}`);
}

async function cliDiscover(root: string, gpus: number): Promise<void> {
  const bin = path.join(packageRoot(), 'bin/accel-agent.js');
  const out = await runTool(process.execPath, [bin, 'discover', '--host-root', root, '-o', 'json'], { timeoutMs: 60_000, maxOutputBytes: 16 << 20 });
  if (out.kind !== 'exited' || out.exitCode !== 0) throw new Error(`accel-agent discover failed: ${JSON.stringify(out).slice(0, 500)}`);
  expectGpus('accel-agent discover', (JSON.parse(out.stdout) as { devices: { vendor: string }[] }).devices, gpus);
}

async function measure(profile: 'gn5' | 'gpu16', gpus: number, opts: { spawns: number; scans: number }): Promise<ProfileFigures> {
  return withTempSimhost(profile, async ({ root }) => {
    const cli = await timeRuns({ runs: opts.spawns, warmup: 1 }, () => cliDiscover(root, gpus));
    // The same options the daemon derives from its configuration, with nothing but the host root set.
    const config = resolveConfig({ flags: { 'host-root': root } });
    const discoverer = new Discoverer(config.hostRoot, { nvidia: nvidiaOptions(config), npu: npuProfile(config) }, silentLogger);
    try {
      const scans = await timeRuns({ runs: opts.scans, warmup: 1 }, async () => expectGpus('Discoverer.scan()', (await discoverer.scan()).devices, gpus));
      return { profile, gpus, cli: summarize(cli), scan: summarize(scans) };
    } finally {
      await discoverer.close();
    }
  });
}

await benchMain('discover', async (argv) => {
  const opts = numberOptions(argv, { spawns: { default: 10, integer: true }, scans: { default: 20, integer: true } });
  const results: ProfileFigures[] = [];
  for (const { profile, gpus } of PROFILES) results.push(await measure(profile, gpus, opts));
  const ms = (x: number) => x.toFixed(1);
  console.log(`Discovery wall time: ${opts.spawns} CLI runs and ${opts.scans} in-process scans per host, each after one warm-up.\n`);
  console.log(
    markdownTable(
      ['host', { title: 'GPUs', align: 'right' }, { title: 'CLI median ms', align: 'right' }, { title: 'CLI p90 ms', align: 'right' },
        { title: 'scan() median ms', align: 'right' }, { title: 'scan() p90 ms', align: 'right' }, { title: 'CLI vs scan()', align: 'right' }],
      results.map((r) => [r.profile, String(r.gpus), ms(r.cli.median), ms(r.cli.p90), ms(r.scan.median), ms(r.scan.p90), `${(r.cli.median / r.scan.median).toFixed(1)}x`]),
    ),
  );
  printFigures('discover', {
    unit: 'ms',
    hosts: results.map((r) => ({
      profile: r.profile,
      gpus: r.gpus,
      cli: { median: r.cli.median, p90: r.cli.p90, n: r.cli.n },
      scan: { median: r.scan.median, p90: r.scan.p90, n: r.scan.n },
    })),
  });
});
