import type { Sample } from '../../agent/telemetry/types.js';
import { seededRandom } from './seeded-random.js';

/** The 14 per-GPU metrics a dcgm-exporter-style sampler reports, in its units. */
export const GPU_METRICS = [
  'DCGM_FI_DEV_GPU_UTIL',
  'DCGM_FI_DEV_MEM_COPY_UTIL',
  'DCGM_FI_DEV_ENC_UTIL',
  'DCGM_FI_DEV_DEC_UTIL',
  'DCGM_FI_DEV_FB_USED',
  'DCGM_FI_DEV_FB_FREE',
  'DCGM_FI_DEV_GPU_TEMP',
  'DCGM_FI_DEV_MEMORY_TEMP',
  'DCGM_FI_DEV_POWER_USAGE',
  'DCGM_FI_DEV_SM_CLOCK',
  'DCGM_FI_DEV_MEM_CLOCK',
  'DCGM_FI_DEV_PCIE_TX_THROUGHPUT',
  'DCGM_FI_DEV_PCIE_RX_THROUGHPUT',
  'DCGM_FI_DEV_XID_ERRORS',
] as const;

interface GpuState {
  util: number;
  fbUsed: number;
  temp: number;
  clock: number;
}

/**
 * Plausible GPU telemetry: utilisation that holds a level with jitter and
 * changes phase now and then, memory that moves in steps, temperature that
 * drifts, power in milliwatt resolution. Deterministic for a seed, so byte
 * counts measured on it are reproducible.
 */
export function gpuSampler(devices: number, seed = 1): (ts: number) => Sample[] {
  const rand = seededRandom(seed);
  const jitter = (n: number) => Math.round((rand() * 2 - 1) * n);
  const ids = Array.from({ length: devices }, (_, i) => `GPU-${(0x1f2e3d4c + i * 7919).toString(16)}-8a7b-4c6d-9e0f-${(1e11 + i).toString(16)}`);
  const states: GpuState[] = ids.map(() => ({ util: 60, fbUsed: 20_000, temp: 55, clock: 1410 }));
  const totalFb = 81_920;
  return (ts: number) =>
    ids.map((deviceId, i) => {
      const s = states[i]!;
      if (rand() < 0.02) s.util = Math.floor(rand() * 100);
      if (rand() < 0.01) s.fbUsed = Math.min(totalFb, Math.max(0, s.fbUsed + jitter(8000)));
      if (rand() < 0.1) s.temp += jitter(1);
      if (rand() < 0.01) s.clock = rand() < 0.5 ? 1410 : 1980;
      const util = Math.max(0, Math.min(100, s.util + jitter(3)));
      const power = Math.round((80 + util * 3.2) * 1000 + jitter(1500)) / 1000;
      return {
        ts,
        deviceId,
        metrics: {
          DCGM_FI_DEV_GPU_UTIL: util,
          DCGM_FI_DEV_MEM_COPY_UTIL: Math.max(0, Math.min(100, Math.round(util / 3) + jitter(2))),
          DCGM_FI_DEV_ENC_UTIL: 0,
          DCGM_FI_DEV_DEC_UTIL: 0,
          DCGM_FI_DEV_FB_USED: s.fbUsed,
          DCGM_FI_DEV_FB_FREE: totalFb - s.fbUsed,
          DCGM_FI_DEV_GPU_TEMP: s.temp,
          DCGM_FI_DEV_MEMORY_TEMP: s.temp + 6,
          DCGM_FI_DEV_POWER_USAGE: power,
          DCGM_FI_DEV_SM_CLOCK: s.clock,
          DCGM_FI_DEV_MEM_CLOCK: 1593,
          DCGM_FI_DEV_PCIE_TX_THROUGHPUT: Math.max(0, 20_000 + util * 400 + jitter(2000)),
          DCGM_FI_DEV_PCIE_RX_THROUGHPUT: Math.max(0, 50_000 + util * 900 + jitter(5000)),
          DCGM_FI_DEV_XID_ERRORS: 0,
        },
      };
    });
}

/** Values each encoding has to carry exactly: decimal scales, raw floats, signed zero, the scaled-integer bounds. */
export const AWKWARD_VALUES = [0, -0, NaN, Infinity, -Infinity, 1 / 3, 1e300, -1e-300, 5e-324, 2 ** 50, -(2 ** 50) - 1, Number.MAX_SAFE_INTEGER, 0.1, 71.25, 123.456789, -7] as const;

/** One instant of `devices` devices whose metrics take the awkward values in turn, shifted by `offset`. */
export function awkwardTick(ts: number, devices = 3, offset = 0): Sample[] {
  return Array.from({ length: devices }, (_, d) => {
    const metrics: Record<string, number> = {};
    for (let m = 0; m < 6; m++) metrics[`metric_${m}`] = AWKWARD_VALUES[(offset + d * 6 + m) % AWKWARD_VALUES.length]!;
    return { ts, deviceId: `dev-${d}-ü`, metrics };
  });
}
