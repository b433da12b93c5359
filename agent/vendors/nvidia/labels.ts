import { summariseDevices } from '../../discovery/labels.js';
import type { VendorDiscovery } from '../vendor.js';

/**
 * The labels Alibaba Cloud vGPU nodes already carry (`aliyun.accelerator/nvidia_*`)
 * and the ones NVIDIA's own labeller publishes (`nvidia.com/gpu.*`), so
 * existing node selectors keep working. Nothing when the node has no GPU.
 */
export function nvidiaLabels(discovery: VendorDiscovery): Record<string, string> {
  const summary = summariseDevices(discovery.devices);
  if (summary === null) return {};
  const labels: Record<string, string> = {
    'aliyun.accelerator/nvidia_count': String(summary.count),
    'nvidia.com/gpu.count': String(summary.count),
    'nvidia.com/vgpu.present': String(discovery.devices.some((d) => d.kind === 'vgpu')),
  };
  if (summary.product !== '') {
    labels['aliyun.accelerator/nvidia_name'] = summary.product;
    labels['nvidia.com/gpu.product'] = summary.product;
  }
  if (summary.memoryMiB !== null) {
    labels['aliyun.accelerator/nvidia_mem'] = `${summary.memoryMiB}MiB`;
    labels['nvidia.com/gpu.memory'] = String(summary.memoryMiB);
  }
  return labels;
}
