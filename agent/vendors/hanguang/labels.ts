import { summariseDevices } from '../../discovery/labels.js';
import type { VendorDiscovery } from '../vendor.js';

/**
 * `<labelPrefix>_count`, `_name` and, when the profile knows it, `_mem`,
 * in the style of the `aliyun.accelerator/nvidia_*` labels. Nothing when
 * the node has no NPU.
 */
export function npuLabels(discovery: VendorDiscovery, labelPrefix: string): Record<string, string> {
  const summary = summariseDevices(discovery.devices);
  if (summary === null) return {};
  const labels: Record<string, string> = { [`${labelPrefix}_count`]: String(summary.count) };
  if (summary.product !== '') labels[`${labelPrefix}_name`] = summary.product;
  if (summary.memoryMiB !== null) labels[`${labelPrefix}_mem`] = `${summary.memoryMiB}MiB`;
  return labels;
}
