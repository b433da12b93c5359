import { describeError } from '../errors.js';
import type { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import type { Device } from '../model/device.js';
import type { NvmlSession } from '../vendors/nvidia/nvml-binding.js';
import { Metric, nvidiaMetrics } from './metric-names.js';
import type { Sample } from './types.js';

export interface SamplerOptions {
  host: HostRoot;
  /** Opens the sampler's own NVML session; null when NVML is not to be used. */
  openNvml: (() => Promise<NvmlSession>) | null;
  log: Logger;
}

/**
 * Takes one reading of every device: NVIDIA through one NVML call for all
 * GPUs (in-process, off the event loop; never a process per sample), NPUs
 * from hwmon under their PCI function. The NVML session is kept between
 * ticks and reopened after a failure.
 */
export class Sampler {
  private session: NvmlSession | null = null;
  private opening: Promise<NvmlSession | null> | null = null;

  constructor(private readonly opts: SamplerOptions) {}

  async sample(devices: readonly Device[], ts = Date.now()): Promise<Sample[]> {
    const out: Sample[] = [];
    const gpus = devices.filter((d) => d.vendor === 'nvidia');
    const byUuid = new Map<string, Record<string, number>>();
    if (gpus.length > 0) {
      for (const s of await this.nvidiaSamples()) if (s.uuid !== null) byUuid.set(s.uuid.toLowerCase(), nvidiaMetrics(s));
    }
    for (const d of devices) {
      const metrics: Record<string, number> = d.vendor === 'nvidia' ? { ...(byUuid.get((d.uuid ?? '').toLowerCase()) ?? {}) } : await this.hwmonMetrics(d);
      metrics[Metric.HEALTHY] = d.health === 'Healthy' ? 1 : 0;
      out.push({ ts, deviceId: d.id, metrics });
    }
    return out;
  }

  private async nvidiaSamples() {
    const session = await this.nvml();
    if (!session) return [];
    try {
      return await session.sample();
    } catch (err) {
      this.opts.log.warn({ reason: describeError(err) }, 'NVML sample failed; reopening next tick');
      this.session = null;
      await session.shutdown().catch(() => undefined);
      return [];
    }
  }

  private nvml(): Promise<NvmlSession | null> {
    if (this.session) return Promise.resolve(this.session);
    const open = this.opts.openNvml;
    if (!open) return Promise.resolve(null);
    this.opening ??= open()
      .then((s) => (this.session = s))
      .catch((err: unknown) => {
        this.opts.log.debug({ reason: describeError(err) }, 'NVML unavailable for sampling');
        return null;
      })
      .finally(() => (this.opening = null));
    return this.opening;
  }

  /** hwmon reports millidegrees and microwatts; absent files simply give no value. */
  private async hwmonMetrics(d: Device): Promise<Record<string, number>> {
    const m: Record<string, number> = {};
    const base = `/sys/bus/pci/devices/${d.pciBusId}/hwmon`;
    const hw = (await this.opts.host.list(base)).find((n) => /^hwmon\d+$/.test(n));
    if (!hw) return m;
    const read = async (file: string) => {
      const text = await this.opts.host.readTextIfExists(`${base}/${hw}/${file}`).catch(() => null);
      const n = text === null ? NaN : Number(text.trim());
      return Number.isFinite(n) ? n : null;
    };
    const [temp, power] = await Promise.all([read('temp1_input'), read('power1_average')]);
    if (temp !== null) m[Metric.NPU_TEMP] = temp / 1000;
    if (power !== null) m[Metric.NPU_POWER] = power / 1e6;
    return m;
  }

  async close(): Promise<void> {
    const s = this.session ?? (await this.opening);
    this.session = null;
    await s?.shutdown().catch(() => undefined);
  }
}
