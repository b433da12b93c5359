import { plainReason } from '../../discovery/reason.js';
import { deviceNodeProblem, NO_NODE } from '../../discovery/device-node.js';
import { scanPci, type PciFunction } from '../../discovery/pci.js';
import { readAttribute } from '../../discovery/sysfs-read.js';
import type { DiscoveredDevice, DiscoveryContext, Vendor, VendorDiscovery } from '../vendor.js';
import { findUeventNodes } from './device-nodes.js';
import { npuLabels } from './labels.js';
import { npuMatcher } from './match.js';
import { DEFAULT_NPU_PROFILE, validateNpuProfile, type NpuProfile } from './profile.js';

/**
 * Hanguang NPUs, found from PCI sysfs alone (no management library or tool
 * is public): functions matching the profile, their device nodes from the
 * driver's uevent files, the driver version from the bound module.
 */
export function createHanguangVendor(profile: NpuProfile = DEFAULT_NPU_PROFILE): Vendor {
  const p = validateNpuProfile(profile);
  const isNpu = npuMatcher(p);
  const pattern = p.deviceNodePattern === null ? null : new RegExp(p.deviceNodePattern);
  return {
    name: 'hanguang',
    async discover(ctx: DiscoveryContext): Promise<VendorDiscovery> {
      const scan = ctx.pci ?? (await scanPci(ctx.host));
      const warnings: string[] = ctx.pci ? [] : [...scan.warnings];
      const functions = scan.functions.filter(isNpu);
      const devices: DiscoveredDevice[] = [];
      const versions = new Set<string>();
      for (const fn of functions) {
        const search = await findUeventNodes(ctx.host, fn, p.ueventSearchDepth, pattern);
        warnings.push(...search.warnings);
        const version = await moduleVersion(ctx, fn, warnings);
        if (version !== null) versions.add(version);
        const problem = fn.driver === null ? 'no kernel driver bound' : search.nodes.length === 0 ? 'driver registered no usable device node' : null;
        devices.push({
          id: `hanguang-${fn.address}`,
          vendor: 'hanguang',
          kind: 'npu',
          model: p.modelName,
          uuid: null,
          pciBusId: fn.address,
          numaNode: fn.numaNode,
          memoryMiB: p.memoryMiB,
          deviceNodes: search.nodes,
          driverVersion: version,
          health: problem === null ? 'Healthy' : 'Unhealthy',
          healthReason: problem ?? '',
          source: 'sysfs',
        });
      }
      if (versions.size > 1) warnings.push(`NPU drivers report several versions: ${[...versions].sort().join(', ')}`);
      const controlNodes: string[] = [];
      for (const node of p.controlNodes) {
        const problem = await deviceNodeProblem(ctx.host, node);
        if (problem === null) controlNodes.push(node);
        else if (functions.length > 0 || problem !== NO_NODE) warnings.push(`NPU control node ${node} (profile ${p.name}) ${problem}; not used`);
      }
      return {
        driver: {
          vendor: 'hanguang',
          version: versions.size === 1 ? [...versions][0]! : null,
          controlNodes,
          sources: [
            {
              source: 'sysfs',
              ok: true,
              detail: `PCI scan with profile ${p.name}: ${functions.length} NPU${functions.length === 1 ? '' : 's'}`,
            },
          ],
        },
        devices,
        warnings,
      };
    },
    labels: (discovery) => npuLabels(discovery, p.labelPrefix),
    close: async () => {},
  };
}

/** The bound module's version from /sys/module/<driver>/version, when the module publishes one. */
async function moduleVersion(ctx: DiscoveryContext, fn: PciFunction, warnings: string[]): Promise<string | null> {
  if (fn.driver === null || !/^[A-Za-z0-9_-]+$/.test(fn.driver)) return null;
  try {
    const text = await readAttribute(ctx.host, `/sys/module/${fn.driver}/version`);
    const version = text?.trim() ?? '';
    if (version === '') return null;
    if (!/^[A-Za-z0-9._+~-]{1,64}$/.test(version)) {
      warnings.push(`NPU ${fn.address}: /sys/module/${fn.driver}/version is not a version string; ignored`);
      return null;
    }
    return version;
  } catch (err) {
    warnings.push(`NPU ${fn.address}: ${plainReason(err)}`);
    return null;
  }
}
