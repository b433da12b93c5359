/**
 * What `accel-agent simhost create|profiles` does, for the CLI to call:
 * build a profile's spec, write it, and say what was made.
 */
import { silentLogger, type Logger } from '../log.js';
import { NVIDIA_VENDOR_ID } from './nvidia-stack.js';
import { buildHostSpec, listProfiles, type ProfileInfo } from './profiles.js';
import { writeHost } from './writer.js';

export { listProfiles };

export interface SimhostCreateOptions {
  profile: string;
  dir: string;
  /** Replace an earlier simulated host in `dir`. */
  force?: boolean;
  /** Accelerator count instead of the profile's own. */
  count?: number;
  /** Fail rather than leave placeholder files where char devices cannot be made. */
  strictDevices?: boolean;
  /** The native build directory; `build/native` of this package by default. */
  nativeDir?: string;
  log?: Logger;
}

export interface SimhostSummary {
  root: string;
  profile: string;
  description: string;
  pciFunctions: number;
  accelerators: number;
  deviceNodes: { real: number; placeholder: number };
  libraries: number;
  nvml: boolean;
  ldCache: boolean;
  warnings: string[];
}

export async function simhostCreate(options: SimhostCreateOptions): Promise<SimhostSummary> {
  const spec = buildHostSpec(options.profile, options.count === undefined ? {} : { count: options.count });
  const { root, manifest } = await writeHost(spec, options.dir, {
    force: options.force === true,
    strictDevices: options.strictDevices === true,
    requestedCount: options.count ?? null,
    log: options.log ?? silentLogger,
    ...(options.nativeDir === undefined ? {} : { nativeDir: options.nativeDir }),
  });
  const real = manifest.deviceNodes.filter((n) => n.real).length;
  return {
    root,
    profile: spec.profile,
    description: spec.description,
    pciFunctions: spec.pci.length,
    accelerators: spec.pci.filter((fn) => fn.vendorId === NVIDIA_VENDOR_ID || fn.classCode >> 16 === 0x12).length,
    deviceNodes: { real, placeholder: manifest.deviceNodes.length - real },
    libraries: manifest.libraries.length,
    nvml: manifest.nvml !== null,
    ldCache: manifest.ldCache.built,
    warnings: manifest.warnings,
  };
}

/** Human-readable lines for the CLI. */
export function formatSummary(s: SimhostSummary): string {
  const lines = [
    `simulated host ${s.profile} written to ${s.root}`,
    `  ${s.description}`,
    `  ${s.pciFunctions} PCI functions, ${s.accelerators} accelerators, ${s.libraries} driver libraries`,
    `  device nodes: ${s.deviceNodes.real} real, ${s.deviceNodes.placeholder} placeholder files`,
    `  NVML stub: ${s.nvml ? 'yes' : 'no'}; ld.so.cache: ${s.ldCache ? 'built' : 'NOT built'}`,
    ...s.warnings.map((w) => `  warning: ${w}`),
  ];
  return lines.join('\n') + '\n';
}

export function formatProfiles(profiles: readonly ProfileInfo[]): string {
  return (
    profiles
      .map((p) => {
        const count = p.maxCount === 0 ? 'no accelerators' : `${p.defaultCount} accelerators by default, up to ${p.maxCount}`;
        return [`${p.name}: ${p.description} (${count})`, ...p.assumptions.map((a) => `    assumption: ${a}`)].join('\n');
      })
      .join('\n') + '\n'
  );
}
