import type { DeviceOwner } from '../kubelet/pod-resources.js';
import type { Device } from '../model/device.js';
import type { NvmlDeviceSample } from '../vendors/nvidia/nvml-binding.js';

/**
 * Metric names. NVIDIA readings use dcgm-exporter's field names so dashboards
 * operators already have keep working; NPU readings and the agent's own
 * gauges use an `accel_` prefix.
 */
export const Metric = {
  GPU_UTIL: 'DCGM_FI_DEV_GPU_UTIL',
  MEM_COPY_UTIL: 'DCGM_FI_DEV_MEM_COPY_UTIL',
  FB_USED: 'DCGM_FI_DEV_FB_USED',
  FB_FREE: 'DCGM_FI_DEV_FB_FREE',
  GPU_TEMP: 'DCGM_FI_DEV_GPU_TEMP',
  POWER_USAGE: 'DCGM_FI_DEV_POWER_USAGE',
  SM_CLOCK: 'DCGM_FI_DEV_SM_CLOCK',
  MEM_CLOCK: 'DCGM_FI_DEV_MEM_CLOCK',
  ECC_SBE_VOL_TOTAL: 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL',
  ECC_DBE_VOL_TOTAL: 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
  XID_ERRORS: 'DCGM_FI_DEV_XID_ERRORS',
  NPU_TEMP: 'accel_npu_temperature_celsius',
  NPU_POWER: 'accel_npu_power_watts',
  HEALTHY: 'accel_device_healthy',
} as const;

const MIB = 1024 * 1024;

/** One NVML sample as metric values: MiB for framebuffer, watts for power, as dcgm-exporter reports them. */
export function nvidiaMetrics(s: NvmlDeviceSample): Record<string, number> {
  const m: Record<string, number> = {};
  const put = (name: string, v: number | null) => {
    if (v !== null && Number.isFinite(v)) m[name] = v;
  };
  put(Metric.GPU_UTIL, s.utilGpu);
  put(Metric.MEM_COPY_UTIL, s.utilMemory);
  put(Metric.FB_USED, s.memoryUsedBytes === null ? null : Math.round(s.memoryUsedBytes / MIB));
  put(Metric.FB_FREE, s.memoryUsedBytes === null || s.memoryTotalBytes === null ? null : Math.round((s.memoryTotalBytes - s.memoryUsedBytes) / MIB));
  put(Metric.GPU_TEMP, s.temperatureC);
  put(Metric.POWER_USAGE, s.powerMilliwatts === null ? null : s.powerMilliwatts / 1000);
  put(Metric.SM_CLOCK, s.clockSmMHz);
  put(Metric.MEM_CLOCK, s.clockMemMHz);
  put(Metric.ECC_SBE_VOL_TOTAL, s.eccCorrected);
  put(Metric.ECC_DBE_VOL_TOTAL, s.eccUncorrected);
  return m;
}

/**
 * The labels a device is described by at the collector and on /metrics, in
 * dcgm-exporter's spelling. The owner labels are always present (empty for a
 * device no pod holds), so a series keeps one label set whether owned or not.
 */
export function deviceLabels(d: Device, hostname: string, owner?: DeviceOwner): Record<string, string> {
  return {
    gpu: String(d.index),
    UUID: d.uuid ?? d.id,
    pci_bus_id: d.pciBusId,
    device: d.vendor === 'nvidia' ? `nvidia${d.index}` : `${d.vendor}${d.index}`,
    modelName: d.model,
    Hostname: hostname,
    vendor: d.vendor,
    kind: d.kind,
    pod: owner?.pod ?? '',
    namespace: owner?.namespace ?? '',
    container: owner?.container ?? '',
  };
}
