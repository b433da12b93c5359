import type { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import type { Device, DriverInfo, VendorName } from '../model/device.js';
import type { PciScan } from '../discovery/pci.js';

/**
 * The one narrow interface every accelerator vendor implements. Adding a
 * vendor means one new folder exporting a factory that returns a `Vendor`,
 * plus one line in `agent/vendors/index.ts`; nothing else in discovery knows
 * vendor names. Vendor-specific settings go to the factory, never here.
 *
 * Later capabilities (injection, health, telemetry) extend this interface
 * with optional members so existing vendors keep compiling.
 */
export interface Vendor {
  readonly name: VendorName;
  /**
   * Finds the vendor's driver and devices on the host. Must not throw for
   * anything the host can get wrong (missing driver, garbage files, hung
   * tools): those become `SourceReport`s and warnings. A throw is treated by
   * the caller as a bug in the vendor and reported as a warning.
   */
  discover(ctx: DiscoveryContext): Promise<VendorDiscovery>;
  /** Node labels describing what `discover` found (pure; values already valid label values). */
  labels(discovery: VendorDiscovery): Record<string, string>;
  /** Releases anything `discover` kept open (libraries, child processes). Safe to call twice. */
  close(): Promise<void>;
}

export interface DiscoveryContext {
  host: HostRoot;
  log: Logger;
  /** Aborts slow work (child processes, long scans) when the agent shuts down. */
  signal?: AbortSignal;
  /**
   * A PCI scan shared by every vendor in one discovery run, so the bus is
   * walked once; a vendor scans by itself when it is absent.
   */
  pci?: PciScan;
}

/** A device as a vendor reports it: `index` is assigned across the inventory afterwards. */
export type DiscoveredDevice = Omit<Device, 'index'>;

export interface VendorDiscovery {
  driver: DriverInfo;
  devices: DiscoveredDevice[];
  /** Host problems the vendor worked around, in words an operator can act on. */
  warnings: string[];
}
