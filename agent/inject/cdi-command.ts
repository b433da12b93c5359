import path from 'node:path';
import { AccelError, ErrorCode, describeError } from '../errors.js';
import { HostRoot } from '../host/host-root.js';
import { silentLogger, type Logger } from '../log.js';
import type { Device, DriverInfo, Inventory, VendorName } from '../model/device.js';
import type { NpuProfile } from '../vendors/hanguang/profile.js';
import { checkKind, vendorSpec } from './cdi-spec.js';
import { writeCdiSpecs, type WriteSpecsResult } from './cdi-writer.js';
import type { CdiSpec } from './container-edits.js';
import { inspectDeviceNodes } from './device-nodes.js';
import { npuDriverFiles, nvidiaDriverFiles, type DriverFiles, type NvidiaDriverFilesOptions, type RefusedPath } from './driver-files.js';
import { resolveSpecHostPrefix } from './spec-host-prefix.js';

/**
 * `accel-agent cdi generate`: discover, inventory each vendor's driver
 * files, build one spec per kind, write them atomically, and say what was
 * written and what was refused. The daemon runs the same function on every
 * inventory change (one call at a time).
 */

export const DEFAULT_CDI_DIR = '/var/run/cdi';
export const NVIDIA_CDI_KIND = 'nvidia.com/gpu';

export interface NvidiaCdiOptions extends Omit<NvidiaDriverFilesOptions, 'version' | 'allowedRoots'> {
  kind?: string;
}

export type NpuCdiProfile = Pick<NpuProfile, 'cdiKind' | 'controlNodes' | 'libraryDirs' | 'libraryGlobs' | 'binaries' | 'extraFiles'>;

export interface CdiGenerateOptions {
  /** Where the agent sees the host filesystem (`/`, `/host`, a simulated host tree). */
  hostRoot: string;
  /** Directory the specs go to; `/var/run/cdi` by default. */
  outputDir?: string;
  /** `strip` (default), `root` or an absolute prefix for host paths in specs; see spec-host-prefix.ts. */
  specHostPrefix?: string;
  /** Runs discovery on the host; the integrator passes the discovery module's entry point. */
  discover: (host: HostRoot) => Promise<Pick<Inventory, 'devices' | 'drivers'>>;
  /** NVIDIA options, or false to generate no NVIDIA spec. */
  nvidia?: NvidiaCdiOptions | false;
  /** The NPU profile, or false (the default) to generate no NPU spec. */
  npu?: NpuCdiProfile | false;
  /** Host directories driver files may resolve into (defaults in driver-paths.ts). */
  allowedRoots?: readonly string[];
  /** Container directory for driver libraries; null (default) keeps each library's host directory. */
  containerLibraryDir?: string | null;
  log?: Logger;
  /** Receives the human-readable report, one line at a time; nothing is printed when absent. */
  print?: (line: string) => void;
}

export interface VendorOutcome {
  vendor: VendorName;
  kind: string;
  /** null when no spec was generated (no devices, or the inventory failed). */
  spec: CdiSpec | null;
  /** Set when the vendor's inventory failed; its previous spec is kept. */
  error: string | null;
}

export interface CdiGenerateResult {
  outputDir: string;
  specHostPrefix: string;
  vendors: VendorOutcome[];
  files: WriteSpecsResult;
  refused: RefusedPath[];
  warnings: string[];
}

interface VendorPlan {
  vendor: VendorName;
  kind: string;
  files: (host: HostRoot, driver: DriverInfo | undefined, devices: Device[]) => Promise<DriverFiles>;
  extraControlNodes: readonly string[];
}

export async function cdiGenerate(options: CdiGenerateOptions): Promise<CdiGenerateResult> {
  const log = options.log ?? silentLogger;
  const host = new HostRoot(options.hostRoot);
  const prefix = resolveSpecHostPrefix(host.root, options.specHostPrefix);
  const containerLibraryDir = checkContainerLibraryDir(options.containerLibraryDir ?? null);
  const outputDir = path.resolve(options.outputDir ?? DEFAULT_CDI_DIR);
  const vendorPlans = plans(options);
  for (const plan of vendorPlans) checkKind(plan.kind);
  const inventory = await options.discover(host);

  const result: CdiGenerateResult = { outputDir, specHostPrefix: prefix, vendors: [], files: { written: [], unchanged: [], removed: [], foreign: [] }, refused: [], warnings: [] };
  for (const plan of vendorPlans) {
    const devices = inventory.devices.filter((d) => d.vendor === plan.vendor);
    const driver = inventory.drivers.find((d) => d.vendor === plan.vendor);
    const outcome: VendorOutcome = { vendor: plan.vendor, kind: plan.kind, spec: null, error: null };
    result.vendors.push(outcome);
    if (devices.length === 0) continue;
    try {
      const files = await plan.files(host, driver, devices);
      const controlNodes = [...new Set([...(driver?.controlNodes ?? []), ...plan.extraControlNodes])];
      const nodes = await inspectDeviceNodes(host, [...devices.flatMap((d) => d.deviceNodes), ...controlNodes]);
      const built = vendorSpec({ kind: plan.kind, devices, controlNodes, files, nodes: nodes.nodes, mountOptions: { prefix, containerLibraryDir } });
      outcome.spec = built.spec;
      result.refused.push(...files.refused, ...nodes.refused);
      result.warnings.push(...[...files.warnings, ...nodes.warnings, ...built.warnings].map((w) => `${plan.vendor}: ${w}`));
    } catch (err) {
      outcome.error = describeError(err);
      result.warnings.push(`${plan.vendor}: inventory failed, keeping its previous spec: ${outcome.error}`);
    }
  }

  const specs = result.vendors.flatMap((v) => (v.spec === null ? [] : [v.spec]));
  const keepKinds = result.vendors.filter((v) => v.error !== null).map((v) => v.kind);
  result.files = await writeCdiSpecs(outputDir, specs, { keepKinds });

  for (const r of result.refused) log.warn({ path: r.path, reason: r.reason }, 'driver path refused');
  for (const w of result.warnings) log.warn(w);
  log.info({ outputDir, written: result.files.written, removed: result.files.removed }, 'CDI specs generated');
  if (options.print) for (const line of formatCdiReport(result)) options.print(line);
  return result;
}

function plans(options: CdiGenerateOptions): VendorPlan[] {
  const out: VendorPlan[] = [];
  if (options.nvidia !== false) {
    const { kind, ...fileOptions } = options.nvidia ?? {};
    out.push({
      vendor: 'nvidia',
      kind: kind ?? NVIDIA_CDI_KIND,
      extraControlNodes: [],
      files: (host, driver, devices) =>
        nvidiaDriverFiles(host, {
          ...fileOptions,
          version: driver?.version ?? devices.find((d) => d.driverVersion !== null)?.driverVersion ?? null,
          ...(options.allowedRoots ? { allowedRoots: options.allowedRoots } : {}),
        }),
    });
  }
  const npu = options.npu ?? false;
  if (npu !== false) {
    out.push({
      vendor: 'hanguang',
      kind: npu.cdiKind,
      extraControlNodes: npu.controlNodes,
      files: (host) => npuDriverFiles(host, npu, options.allowedRoots ? { allowedRoots: options.allowedRoots } : {}),
    });
  }
  return out;
}

function checkContainerLibraryDir(dir: string | null): string | null {
  if (dir === null) return null;
  if (!dir.startsWith('/') || dir.includes('\0') || dir.split('/').includes('..')) {
    throw new AccelError(ErrorCode.CONFIG_INVALID, `container library directory ${JSON.stringify(dir)}: expected an absolute path without ".."`, {
      details: { key: 'containerLibraryDir' },
    });
  }
  return path.posix.normalize(dir).replace(/(.)\/+$/, '$1');
}

/** The report `cdi generate` prints: what was written, kept, removed, refused, and why. */
export function formatCdiReport(result: CdiGenerateResult): string[] {
  const lines: string[] = [];
  const where = (name: string) => path.join(result.outputDir, name);
  for (const v of result.vendors) {
    if (v.spec !== null) {
      const mounts = v.spec.containerEdits?.mounts?.length ?? 0;
      lines.push(`${v.kind}: ${v.spec.devices.length} device names, ${mounts} mounts, cdiVersion ${v.spec.cdiVersion}`);
    } else if (v.error !== null) {
      lines.push(`${v.kind}: not generated, previous spec kept (${v.error})`);
    } else {
      lines.push(`${v.kind}: no devices, no spec`);
    }
  }
  for (const name of result.files.written) lines.push(`wrote ${where(name)}`);
  for (const name of result.files.unchanged) lines.push(`unchanged ${where(name)}`);
  for (const name of result.files.removed) lines.push(`removed stale ${where(name)}`);
  for (const name of result.files.foreign) lines.push(`left alone ${where(name)} (not written by this agent)`);
  for (const r of result.refused) lines.push(`refused ${r.path}: ${r.reason}`);
  for (const w of result.warnings) lines.push(`warning: ${w}`);
  if (result.specHostPrefix !== '') lines.push(`host paths in specs are prefixed with ${result.specHostPrefix}`);
  return lines;
}
