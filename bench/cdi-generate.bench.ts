/**
 * How long `cdi generate` takes on the gn5 simulated host (8 GPUs, driver
 * 470.82.01): median and spread over N runs, each writing into a fresh
 * directory, once with NVIDIA discovery through the NVML stub included and
 * once from an inventory discovered beforehand (driver files, nodes, spec,
 * write only).
 *
 *   TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import bench/cdi-generate.bench.ts [runs]
 *
 * Needs the native stubs (scripts/build-native.sh).
 */
import path from 'node:path';
import { HostRoot } from '../agent/host/host-root.js';
import { cdiGenerate } from '../agent/inject/cdi-command.js';
import { silentLogger } from '../agent/log.js';
import type { Device, DriverInfo } from '../agent/model/device.js';
import { defaultNvmlAccess } from '../agent/vendors/nvidia/source-nvml.js';
import { createNvidiaVendor } from '../agent/vendors/nvidia/vendor.js';
import { withTempSimhost } from './lib/simhost.js';
import { summarize } from './lib/stats.js';
import { timeRuns } from './lib/timing.js';

const RUNS = Number(process.argv[2] ?? 20);

async function discover(host: HostRoot): Promise<{ devices: Device[]; drivers: DriverInfo[] }> {
  const vendor = createNvidiaVendor({}, { nvml: defaultNvmlAccess });
  try {
    const found = await vendor.discover({ host, log: silentLogger });
    const devices = [...found.devices].sort((a, b) => a.pciBusId.localeCompare(b.pciBusId)).map((d, index) => ({ ...d, index }));
    return { devices, drivers: [found.driver] };
  } finally {
    await vendor.close();
  }
}

function stats(ms: number[]): string {
  const s = summarize(ms);
  return `median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, p90 ${s.p90.toFixed(1)}, n=${s.n})`;
}

function generateRuns(root: string, work: string, label: string, discoverFn: typeof discover): Promise<number[]> {
  return timeRuns({ runs: RUNS }, async (i) => {
    const outputDir = path.join(work, `cdi-${label}-${i}`);
    const result = await cdiGenerate({ hostRoot: root, outputDir, specHostPrefix: 'root', discover: discoverFn, npu: false });
    if (result.files.written.length !== 1) throw new Error(`run ${i} wrote ${result.files.written.length} specs: ${result.warnings.join('; ')}`);
  });
}

await withTempSimhost('gn5', async ({ root, work }) => {
  // One warm-up run loads the NVML binding and fills the page cache.
  await cdiGenerate({ hostRoot: root, outputDir: path.join(work, 'warm'), specHostPrefix: 'root', discover, npu: false });
  const withDiscovery = await generateRuns(root, work, 'discovery', discover);
  const known = await discover(new HostRoot(root));
  const generationOnly = await generateRuns(root, work, 'given', async () => known);
  console.log(`cdi generate, gn5 (8 GPUs), discovery included: ${stats(withDiscovery)}`);
  console.log(`cdi generate, gn5 (8 GPUs), inventory given:    ${stats(generationOnly)}`);
});
