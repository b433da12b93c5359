/**
 * Kubernetes node labels, as pure functions: validity rules, turning free
 * text (product names) into label values, and merging what each vendor
 * contributes. The vendors decide which labels they publish.
 */
import type { DiscoveredDevice } from '../vendors/vendor.js';

const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const LABEL_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function isValidLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
}

/** `[prefix/]name`: prefix a DNS subdomain of at most 253 characters, name at most 63. */
export function isValidLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash === -1) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix) && LABEL_NAME.test(key.slice(slash + 1));
}

/**
 * Makes a label value of free text: whitespace becomes `-` (`GRID P4-2Q` →
 * `GRID-P4-2Q`, as operators already select on), other characters a label
 * value cannot hold become `_`, the result is cut to 63 characters and
 * trimmed until it starts and ends with a letter or digit. May return ''.
 */
export function toLabelValue(text: string): string {
  const replaced = text
    .trim()
    .replace(/\s+/g, '-')
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 63);
  return replaced.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
}

export interface DeviceSummary {
  count: number;
  /** Label value of the first device's model ('' when it has no usable characters). */
  product: string;
  /** Memory of the first device, null when unknown. */
  memoryMiB: number | null;
}

/**
 * What a node offers of one vendor. Nodes are homogeneous in practice, so
 * the first device (lowest PCI bus id) speaks for the node, as the labels
 * operators select on (one product, one memory size) assume.
 */
export function summariseDevices(devices: readonly DiscoveredDevice[]): DeviceSummary | null {
  if (devices.length === 0) return null;
  const first = [...devices].sort((a, b) => (a.pciBusId < b.pciBusId ? -1 : a.pciBusId > b.pciBusId ? 1 : 0))[0]!;
  return { count: devices.length, product: toLabelValue(first.model), memoryMiB: first.memoryMiB };
}

export interface LabelMerge {
  labels: Record<string, string>;
  warnings: string[];
}

/**
 * Merges each vendor's labels, dropping (with a warning) invalid keys or
 * values and keys two vendors both claim, so the node object never carries
 * a label the API server would reject or one whose owner is ambiguous.
 */
export function mergeLabels(parts: ReadonlyArray<{ from: string; labels: Record<string, string> }>): LabelMerge {
  const labels: Record<string, string> = {};
  const owner = new Map<string, string>();
  const warnings: string[] = [];
  for (const { from, labels: contributed } of parts) {
    for (const [key, value] of Object.entries(contributed)) {
      if (!isValidLabelKey(key)) {
        warnings.push(`${from}: label key ${JSON.stringify(key)} is not a valid Kubernetes label key; dropped`);
      } else if (!isValidLabelValue(value)) {
        warnings.push(`${from}: label ${key} value ${JSON.stringify(value)} is not a valid label value; dropped`);
      } else if (owner.has(key) && labels[key] !== value) {
        warnings.push(`label ${key} set by both ${owner.get(key)} and ${from}; ${from}'s value dropped`);
      } else {
        owner.set(key, from);
        labels[key] = value;
      }
    }
  }
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) sorted[key] = labels[key]!;
  return { labels: sorted, warnings };
}
