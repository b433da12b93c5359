import { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import type { HostFacts, Inventory } from '../model/device.js';
import { createVendors } from '../vendors/index.js';
import type { NpuProfile } from '../vendors/hanguang/profile.js';
import type { NvidiaOptions } from '../vendors/nvidia/options.js';
import type { NvmlAccess } from '../vendors/nvidia/source-nvml.js';
import { discoverInventory } from './inventory.js';
import { renderInventoryTable } from './render.js';

export type DiscoverOutput = 'table' | 'json';

export interface RunDiscoverOptions {
  /** Where the host filesystem is visible (`/`, `/host`, a simulated host). */
  hostRoot: string;
  nvidia?: Partial<NvidiaOptions>;
  /** NPU profile; `false` leaves NPUs out. */
  npu?: NpuProfile | false;
  output: DiscoverOutput;
  log: Logger;
  /** Stand-ins for tests; the native binding and systeminformation otherwise. */
  nvml?: NvmlAccess;
  hostFacts?: HostFacts | (() => Promise<HostFacts>);
  signal?: AbortSignal;
}

/** `accel-agent discover`: one discovery run, rendered; returns the text to print. */
export async function runDiscover(options: RunDiscoverOptions): Promise<string> {
  const inventory = await discoverOnce(options);
  return options.output === 'json' ? inventoryJson(inventory) : renderInventoryTable(inventory);
}

async function discoverOnce(options: RunDiscoverOptions): Promise<Inventory> {
  const vendors = createVendors({
    ...(options.nvidia ? { nvidia: options.nvidia } : {}),
    ...(options.npu !== undefined ? { npu: options.npu } : {}),
    ...(options.nvml ? { nvml: options.nvml } : {}),
  });
  try {
    return await discoverInventory({
      host: new HostRoot(options.hostRoot),
      vendors,
      log: options.log,
      ...(options.hostFacts ? { hostFacts: options.hostFacts } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    await Promise.all(vendors.map((v) => v.close()));
  }
}

/** The JSON form: exactly host, drivers, devices, labels and warnings, in that order. */
export function inventoryJson(inv: Inventory): string {
  const { host, drivers, devices, labels, warnings } = inv;
  return JSON.stringify({ host, drivers, devices, labels, warnings }, null, 2) + '\n';
}
