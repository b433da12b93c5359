import type { PciFunction } from '../../discovery/pci.js';
import { parseConfiguredPciId, pciClassMatches } from '../../discovery/pci-parse.js';
import type { NpuProfile } from './profile.js';

export interface NpuMatcher {
  (fn: PciFunction): boolean;
}

/**
 * A predicate for the PCI functions a profile calls NPUs: vendor id listed,
 * class matching one of the class prefixes, and device id listed when the
 * profile lists any. The class test is what keeps Alibaba's eRDMA network
 * functions (same vendor, class 0x0200) out.
 */
export function npuMatcher(profile: Pick<NpuProfile, 'pciVendorIds' | 'pciClasses' | 'pciDeviceIds'>): NpuMatcher {
  const vendors = new Set(profile.pciVendorIds.map(parseConfiguredPciId));
  const devices = new Set(profile.pciDeviceIds.map(parseConfiguredPciId));
  const classes = [...profile.pciClasses];
  return (fn) =>
    vendors.has(fn.vendorId) &&
    classes.some((c) => pciClassMatches(fn.classCode, c)) &&
    (devices.size === 0 || devices.has(fn.deviceId));
}
