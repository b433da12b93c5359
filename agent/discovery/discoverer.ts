import { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import type { HostFacts, Inventory } from '../model/device.js';
import { createVendors, type VendorsOptions } from '../vendors/index.js';
import type { Vendor } from '../vendors/vendor.js';
import { collectHostFacts } from './host-facts.js';
import { discoverInventory } from './inventory.js';

/**
 * Discovery that lives as long as the daemon: the vendors are made once and
 * reused by every rescan, and host facts, which do not change while the
 * agent runs, are collected once.
 */
export class Discoverer {
  readonly host: HostRoot;
  private readonly vendors: Vendor[];
  private hostFacts: Promise<HostFacts> | undefined;

  constructor(
    hostRoot: string,
    vendorOptions: VendorsOptions,
    private readonly log: Logger,
  ) {
    this.host = new HostRoot(hostRoot);
    this.vendors = createVendors(vendorOptions);
  }

  scan(signal?: AbortSignal): Promise<Inventory> {
    this.hostFacts ??= collectHostFacts();
    return discoverInventory({
      host: this.host,
      vendors: this.vendors,
      log: this.log,
      hostFacts: () => this.hostFacts!,
      ...(signal ? { signal } : {}),
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.vendors.map((v) => v.close()));
  }
}
