import { createHanguangVendor } from './hanguang/vendor.js';
import type { NpuProfile } from './hanguang/profile.js';
import type { NvidiaOptions } from './nvidia/options.js';
import type { NvmlAccess } from './nvidia/source-nvml.js';
import { createNvidiaVendor } from './nvidia/vendor.js';
import type { Vendor } from './vendor.js';

export interface VendorsOptions {
  nvidia?: Partial<NvidiaOptions>;
  /** The NPU profile (see DEFAULT_NPU_PROFILE); `false` leaves NPUs out. */
  npu?: NpuProfile | false;
  /** Replaces the native NVML binding, for tests and for hosts where it must not load. */
  nvml?: NvmlAccess;
}

/** Every vendor the agent knows, configured; one line per vendor. */
export function createVendors(options: VendorsOptions = {}): Vendor[] {
  const vendors: Vendor[] = [];
  if (options.nvidia?.enabled !== false) vendors.push(createNvidiaVendor(options.nvidia, options.nvml ? { nvml: options.nvml } : undefined));
  if (options.npu !== false) vendors.push(createHanguangVendor(options.npu));
  return vendors;
}
