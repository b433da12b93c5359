import { plainReason } from './reason.js';
import type { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import type { Device, DriverInfo, HostFacts, Inventory } from '../model/device.js';
import type { Vendor, VendorDiscovery } from '../vendors/vendor.js';
import { collectHostFacts, fromNodeOs } from './host-facts.js';
import { mergeLabels } from './labels.js';
import { scanPci, type PciScanOptions } from './pci.js';

export interface DiscoverInventoryOptions {
  host: HostRoot;
  vendors: readonly Vendor[];
  log: Logger;
  /** Facts already known, or a function producing them; collected with systeminformation when absent. */
  hostFacts?: HostFacts | (() => Promise<HostFacts>);
  signal?: AbortSignal;
  pci?: PciScanOptions;
}

/**
 * One discovery run: the PCI bus is scanned once and shared, vendors run
 * concurrently, each vendor's devices are numbered 0..n-1 in PCI bus id
 * order, and labels are merged. A vendor that throws costs its own devices
 * and a warning, never the run.
 */
export async function discoverInventory(options: DiscoverInventoryOptions): Promise<Inventory> {
  const { host, log } = options;
  const [pci, hostFacts] = await Promise.all([scanPci(host, options.pci), resolveHostFacts(options)]);
  const warnings = [...pci.warnings];
  const ctxBase = { host, pci, ...(options.signal ? { signal: options.signal } : {}) };

  const outcomes = await Promise.all(
    options.vendors.map(async (vendor) => {
      try {
        return { vendor, discovery: await vendor.discover({ ...ctxBase, log: log.child({ vendor: vendor.name }) }) };
      } catch (err) {
        const reason = plainReason(err);
        log.error({ vendor: vendor.name, reason }, 'vendor discovery failed');
        warnings.push(`${vendor.name}: discovery failed: ${reason}`);
        return null;
      }
    }),
  );

  const drivers: DriverInfo[] = [];
  const devices: Device[] = [];
  const labelParts: Array<{ from: string; labels: Record<string, string> }> = [];
  const ids = new Set<string>();
  for (const outcome of outcomes) {
    if (outcome === null) continue;
    const { vendor, discovery } = outcome;
    warnings.push(...discovery.warnings.map((w) => `${vendor.name}: ${w}`));
    const kept = discovery.devices.filter((d) => {
      if (!ids.has(d.id)) return ids.add(d.id);
      warnings.push(`${vendor.name}: device id ${d.id} already taken; the duplicate dropped`);
      return false;
    });
    const numbered = numberDevices(kept);
    devices.push(...numbered);
    drivers.push(discovery.driver);
    const settled: VendorDiscovery = { ...discovery, devices: numbered };
    try {
      labelParts.push({ from: vendor.name, labels: vendor.labels(settled) });
    } catch (err) {
      warnings.push(`${vendor.name}: labels failed: ${plainReason(err)}`);
    }
  }
  const labels = mergeLabels(labelParts);
  warnings.push(...labels.warnings);
  return { host: hostFacts, drivers, devices, labels: labels.labels, warnings };
}

/** Indexes one vendor's devices by PCI bus id, the order nvidia-smi and NVML use. */
export function numberDevices(devices: VendorDiscovery['devices']): Device[] {
  return [...devices]
    .sort((a, b) => (a.pciBusId < b.pciBusId ? -1 : a.pciBusId > b.pciBusId ? 1 : 0))
    .map((d, index) => ({ ...d, index }));
}

async function resolveHostFacts(options: DiscoverInventoryOptions): Promise<HostFacts> {
  const given = options.hostFacts;
  if (typeof given === 'function') {
    try {
      return await given();
    } catch (err) {
      options.log.warn({ reason: plainReason(err) }, 'host facts failed; using node:os');
      return fromNodeOs();
    }
  }
  if (given) return given;
  return collectHostFacts({ host: options.host, log: options.log });
}
