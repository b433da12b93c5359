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
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { HostRoot } from '../agent/host/host-root.js';
import { cdiGenerate } from '../agent/inject/cdi-command.js';
import { silentLogger } from '../agent/log.js';
import type { Device, DriverInfo } from '../agent/model/device.js';
import { simhostCreate } from '../agent/simhost/command.js';
import { defaultNvmlAccess } from '../agent/vendors/nvidia/source-nvml.js';
import { createNvidiaVendor } from '../agent/vendors/nvidia/vendor.js';

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
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5).toFixed(1)} ms (min ${sorted[0]!.toFixed(1)}, p90 ${at(0.9).toFixed(1)}, n=${sorted.length})`;
}

async function timeRuns(root: string, work: string, label: string, discoverFn: typeof discover): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const outputDir = path.join(work, `cdi-${label}-${i}`);
    const start = performance.now();
    const result = await cdiGenerate({ hostRoot: root, outputDir, specHostPrefix: 'root', discover: discoverFn, npu: false });
    times.push(performance.now() - start);
    if (result.files.written.length !== 1) throw new Error(`run ${i} wrote ${result.files.written.length} specs: ${result.warnings.join('; ')}`);
  }
  return times;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'bench-cdi-'));
try {
  const { root } = await simhostCreate({ profile: 'gn5', dir: path.join(work, 'host') });
  // One warm-up run loads the NVML binding and fills the page cache.
  await cdiGenerate({ hostRoot: root, outputDir: path.join(work, 'warm'), specHostPrefix: 'root', discover, npu: false });
  const withDiscovery = await timeRuns(root, work, 'discovery', discover);
  const known = await discover(new HostRoot(root));
  const generationOnly = await timeRuns(root, work, 'given', async () => known);
  console.log(`cdi generate, gn5 (8 GPUs), discovery included: ${stats(withDiscovery)}`);
  console.log(`cdi generate, gn5 (8 GPUs), inventory given:    ${stats(generationOnly)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
