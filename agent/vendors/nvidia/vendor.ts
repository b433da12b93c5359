import { plainReason } from '../../discovery/reason.js';
import { deviceNodeProblem, NO_NODE } from '../../discovery/device-node.js';
import { scanPci, type PciFunction } from '../../discovery/pci.js';
import type { SourceReport } from '../../model/device.js';
import type { DiscoveryContext, Vendor, VendorDiscovery } from '../vendor.js';
import { nvidiaLabels } from './labels.js';
import { gpuDeviceNode, mergeNvidia, NVIDIA_CONTROL_NODES, NVIDIA_MAJOR } from './merge.js';
import { resolveNvidiaOptions, type NvidiaOptions, type NvidiaSourceName } from './options.js';
import { defaultNvmlAccess, queryNvml, type NvmlAccess } from './source-nvml.js';
import { queryProcfs, readProcDriverVersion } from './source-procfs.js';
import { querySmi } from './source-smi.js';
import { querySysfs } from './source-sysfs.js';
import type { SourceAnswer } from './source.js';

export interface NvidiaVendorDeps {
  /** The native NVML addon by default; a stand-in in tests. */
  nvml: NvmlAccess;
}

/**
 * NVIDIA GPUs and vGPUs. Sources are asked in the configured order (NVML,
 * nvidia-smi, procfs, sysfs by default) and the first that answers wins;
 * every source asked is recorded with why it did or did not answer. The
 * winner's GPUs are then completed from PCI sysfs (NUMA node) and /dev.
 */
export function createNvidiaVendor(options: Partial<NvidiaOptions> = {}, deps: NvidiaVendorDeps = { nvml: defaultNvmlAccess }): Vendor {
  const opts = resolveNvidiaOptions(options);
  const ask = (source: NvidiaSourceName, ctx: DiscoveryContext, pci: readonly PciFunction[]): Promise<SourceAnswer> => {
    switch (source) {
      case 'nvml':
        return queryNvml(ctx, opts.nvmlLibraryPath, deps.nvml);
      case 'nvidia-smi':
        return querySmi(ctx, opts);
      case 'procfs':
        return queryProcfs(ctx);
      case 'sysfs':
        return Promise.resolve(querySysfs(pci));
    }
  };

  return {
    name: 'nvidia',
    async discover(ctx: DiscoveryContext): Promise<VendorDiscovery> {
      const scan = ctx.pci ?? (await scanPci(ctx.host));
      const warnings: string[] = ctx.pci ? [] : [...scan.warnings];
      const sources: SourceReport[] = [];
      let winner: { source: NvidiaSourceName; answer: SourceAnswer } | null = null;
      for (const source of opts.sources) {
        try {
          const answer = await ask(source, ctx, scan.functions);
          sources.push({ source, ok: true, detail: answer.detail });
          warnings.push(...answer.warnings);
          winner = { source, answer };
          break;
        } catch (err) {
          const detail = plainReason(err);
          ctx.log.debug({ source, reason: detail }, 'NVIDIA discovery source did not answer');
          sources.push({ source, ok: false, detail });
        }
      }

      let driverVersion = winner?.answer.driverVersion ?? null;
      if (driverVersion === null && !sources.some((s) => s.source === 'procfs')) {
        driverVersion = await readProcDriverVersion(ctx, warnings);
      }
      const controlNodes: string[] = [];
      for (const node of NVIDIA_CONTROL_NODES) {
        const problem = await deviceNodeProblem(ctx.host, node);
        if (problem === null) controlNodes.push(node);
        else if (problem !== NO_NODE) warnings.push(`control node ${node} ${problem}; not used`);
      }

      let devices: VendorDiscovery['devices'] = [];
      if (winner !== null) {
        const nodeProblems = new Map<string, string | null>();
        for (const gpu of winner.answer.gpus) {
          const node = gpuDeviceNode(gpu.minor);
          if (node !== null) nodeProblems.set(node, await deviceNodeProblem(ctx.host, node, { major: NVIDIA_MAJOR, minor: gpu.minor }));
        }
        const merged = mergeNvidia({
          answer: winner.answer,
          source: winner.source,
          pci: scan.functions,
          driverVersion,
          nodeProblems,
          fillFromPci: winner.source === 'procfs',
        });
        devices = merged.devices;
        warnings.push(...merged.warnings);
      }
      return { driver: { vendor: 'nvidia', version: driverVersion, controlNodes, sources }, devices, warnings };
    },
    labels: nvidiaLabels,
    close: async () => {},
  };
}
