/**
 * A telemetry backlog made ahead of time, through the daemon's own code: the
 * host's devices as discovery and the registry report them, readings taken
 * by the telemetry sampler from the simulated host's NVML stub, and records
 * appended by the telemetry pipeline to the spool in the daemon's state
 * directory. The spool is what an agent that sampled through an outage would
 * leave behind, only with the past hour's timestamps, and a daemon started
 * on that state directory afterwards takes it over as its own (same epoch,
 * same sequence numbers), as it does after a restart.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { fsyncPolicy, npuProfile, nvidiaOptions } from '../../agent/config/options.js';
import type { AgentConfig } from '../../agent/config/schema.js';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { Discoverer } from '../../agent/discovery/discoverer.js';
import { HostRoot } from '../../agent/host/host-root.js';
import { silentLogger } from '../../agent/log.js';
import type { Device } from '../../agent/model/device.js';
import { updateNvmlState, type NvmlStubState } from '../../agent/simhost/nvml-state.js';
import { Metric, deviceLabels } from '../../agent/telemetry/metric-names.js';
import { TelemetryPipeline } from '../../agent/telemetry/pipeline.js';
import { Sampler } from '../../agent/telemetry/sampler.js';
import { openHostNvml } from '../../agent/vendors/nvidia/nvml-session.js';
import { gpuSampler } from '../../test/helpers/gpu-samples.js';

export interface BacklogSpec {
  /** Sampling ticks to spool. */
  ticks: number;
  intervalMs: number;
  /** The last tick's timestamp; the others go back from it one interval apart. */
  lastTs: number;
}

export interface Backlog {
  epoch: string;
  records: number;
  /** One per device per tick. */
  samples: number;
  /** Metric values over all samples. */
  values: number;
  /** Segment files on disk, headers included. */
  bytes: number;
  devices: number;
}

async function discoveredDevices(config: AgentConfig): Promise<Device[]> {
  const discoverer = new Discoverer(config.hostRoot, { nvidia: nvidiaOptions(config), npu: npuProfile(config) }, silentLogger);
  try {
    const registry = new DeviceRegistry();
    registry.update(await discoverer.scan());
    return registry.list();
  } finally {
    await discoverer.close();
  }
}

/**
 * Moves the stub's readings every tick the way busy GPUs move (the shared
 * dcgm-style generator, in the stub's units): a stub answering the same
 * numbers all hour would spool a backlog that packs far tighter than a real one.
 */
function busyGpus(devices: number): (state: NvmlStubState) => NvmlStubState {
  const next = gpuSampler(devices, 7);
  return (state) => {
    const readings = next(0);
    return {
      ...state,
      devices: state.devices.map((d, i) => {
        const m = readings[i]?.metrics;
        if (!m) return d;
        return {
          ...d,
          util_gpu: m[Metric.GPU_UTIL]!,
          util_memory: m[Metric.MEM_COPY_UTIL]!,
          memory_used_mib: m[Metric.FB_USED]!,
          temperature: m[Metric.GPU_TEMP]!,
          power_mw: Math.round(m[Metric.POWER_USAGE]! * 1000),
          clock_sm: m[Metric.SM_CLOCK]!,
        };
      }),
    };
  };
}

/**
 * Fills the spool under `config.stateDir` with `spec.ticks` ticks of every
 * device, preceded by the device labels the daemon spools when it starts.
 * The pipeline's client points at the configured collector, which must not
 * be listening yet: this is the outage.
 */
export async function spoolBacklog(config: AgentConfig, spec: BacklogSpec): Promise<Backlog> {
  const t = config.telemetry;
  if (t.collectorUrl === null) throw new Error('a backlog needs a collector URL in the configuration');
  const devices = await discoveredDevices(config);
  const node = t.agentId ?? hostname();
  const pipeline = await TelemetryPipeline.open({
    agentId: node,
    spool: { dir: path.join(config.stateDir, 'spool'), budgetBytes: t.spoolBudget, fsync: fsyncPolicy(config) },
    collector: { url: t.collectorUrl, ...(t.collectorTokenFile !== null && { tokenFile: t.collectorTokenFile }) },
  });
  const host = new HostRoot(config.hostRoot);
  const sampler = new Sampler({ host, openNvml: async () => (await openHostNvml(host, config.nvidia.nvmlLibrary)).session, log: silentLogger });
  const move = busyGpus(devices.length);
  const firstTs = spec.lastTs - (spec.ticks - 1) * spec.intervalMs;
  let samples = 0;
  let values = 0;
  try {
    await pipeline.describeDevices(
      devices.map((d) => ({ deviceId: d.id, labels: deviceLabels(d, node) })),
      firstTs - spec.intervalMs,
    );
    for (let tick = 0; tick < spec.ticks; tick++) {
      await updateNvmlState(config.hostRoot, move);
      const readings = await sampler.sample(devices, firstTs + tick * spec.intervalMs);
      await pipeline.addSamples(readings);
      samples += readings.length;
      for (const r of readings) values += Object.keys(r.metrics).length;
    }
  } finally {
    await sampler.close();
    await pipeline.close();
  }
  const spool = pipeline.stats().spool;
  return { epoch: spool.epoch, records: spool.newestSeq, samples, values, bytes: spool.bytes, devices: devices.length };
}
