import { AccelError, ErrorCode } from '../../errors.js';
import { isValidLabelKey } from '../../discovery/labels.js';
import { parseClassPrefix, parseConfiguredPciId } from '../../discovery/pci-parse.js';

/**
 * Everything vendor-specific about an NPU. Little about Hanguang is public
 * (its PCI device id, kernel module, /dev names, library directory and
 * management tool are not documented), so the agent hard-codes none of it:
 * it matches PCI functions by vendor and class, takes device nodes from the
 * `DEVNAME=` lines the driver's char devices publish in sysfs, and reads the
 * rest from this profile, which operators override in the configuration.
 */
export interface NpuProfile {
  /** A short name for logs and reports. */
  name: string;
  /** PCI vendor ids (`0x` and 4 hex digits) whose functions may be NPUs. */
  pciVendorIds: string[];
  /** PCI class prefixes (`0x` and 2, 4 or 6 hex digits) an NPU function must match. */
  pciClasses: string[];
  /** PCI device ids to accept; empty accepts any device id of the vendor and class. */
  pciDeviceIds: string[];
  /** A regular expression a `DEVNAME=` must match to count as the NPU's node; null accepts all. */
  deviceNodePattern: string | null;
  /** How deep below the PCI function's sysfs directory to look for char-device uevent files. */
  ueventSearchDepth: number;
  /** Host device nodes shared by all NPUs (a management node, say), given to every NPU container that exist. */
  controlNodes: string[];
  /** Host directories holding the runtime libraries. */
  libraryDirs: string[];
  /** File-name patterns (`*` wildcards) of the runtime libraries within libraryDirs. */
  libraryGlobs: string[];
  /** Host paths of tools to offer inside containers. */
  binaries: string[];
  /** Other host files a container needs (firmware, configuration). */
  extraFiles: string[];
  /** The extended resource the device plugin advertises. */
  resourceName: string;
  /** CDI `vendor/class` of the generated spec. */
  cdiKind: string;
  /** Environment variable telling the runtime which NPUs are visible; null sets none. */
  visibleDevicesEnv: string | null;
  /** The product name devices report. */
  modelName: string;
  /** Memory per NPU in MiB; null when unknown. */
  memoryMiB: number | null;
  /** Labels are `<labelPrefix>_count`, `_name`, `_mem`. */
  labelPrefix: string;
}

/**
 * ASSUMPTION. The default Hanguang 800 profile. Only these are known: the
 * resource name `aliyun.com/npu`, PCI vendor 0x1ded (Alibaba, whose other
 * functions are eRDMA adapters of class 0x0200 and bridges, hence the class
 * filter on processing accelerators, 0x1200), the runtime library
 * `libhgrt.so` and the product name. The library directories, CDI kind,
 * visible-devices variable and label prefix are educated guesses, and no
 * control nodes are assumed: override them once the real host layout is known.
 */
export const DEFAULT_NPU_PROFILE: Readonly<NpuProfile> = Object.freeze({
  name: 'hanguang-800',
  pciVendorIds: ['0x1ded'],
  pciClasses: ['0x1200'],
  pciDeviceIds: [],
  deviceNodePattern: null,
  ueventSearchDepth: 3,
  controlNodes: [],
  libraryDirs: ['/usr/local/hgai/lib', '/usr/lib64', '/usr/lib/x86_64-linux-gnu'],
  libraryGlobs: ['libhgrt.so*'],
  binaries: [],
  extraFiles: [],
  resourceName: 'aliyun.com/npu',
  cdiKind: 'aliyun.com/npu',
  visibleDevicesEnv: 'HGAI_VISIBLE_DEVICES',
  modelName: 'Hanguang 800',
  memoryMiB: null,
  labelPrefix: 'aliyun.accelerator/npu',
});

const MAX_UEVENT_DEPTH = 6;
const EXTENDED_RESOURCE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\/[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const CDI_KIND = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\/[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/;

type Check = (value: unknown) => string | null;

const str: Check = (v) => (typeof v === 'string' && v.trim() !== '' && !/[\x00-\x1f]/.test(v) ? null : 'expected a non-empty string');
const absPath: Check = (v) => (typeof v === 'string' && /^\/[^\0]*$/.test(v) && !v.split('/').includes('..') ? null : 'expected an absolute path without ".."');

const listOf =
  (item: Check, nonEmpty = false): Check =>
  (v) => {
    if (!Array.isArray(v)) return 'expected a list';
    if (nonEmpty && v.length === 0) return 'expected at least one entry';
    for (const [i, x] of v.entries()) {
      const why = item(x);
      if (why) return `entry ${i}: ${why}`;
    }
    return null;
  };

const parses =
  (parse: (s: string) => unknown): Check =>
  (v) => {
    if (typeof v !== 'string') return 'expected a string';
    try {
      parse(v);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  };

const CHECKS: Record<keyof NpuProfile, Check> = {
  name: str,
  pciVendorIds: listOf(parses(parseConfiguredPciId), true),
  pciClasses: listOf(parses(parseClassPrefix), true),
  pciDeviceIds: listOf(parses(parseConfiguredPciId)),
  deviceNodePattern: (v) => (v === null ? null : parses((s) => new RegExp(s))(v)),
  ueventSearchDepth: (v) =>
    Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_UEVENT_DEPTH ? null : `expected an integer from 1 to ${MAX_UEVENT_DEPTH}`,
  controlNodes: listOf((v) => absPath(v) ?? ((v as string).startsWith('/dev/') ? null : 'expected a path under /dev')),
  libraryDirs: listOf(absPath),
  libraryGlobs: listOf((v) => str(v) ?? ((v as string).includes('/') ? 'expected a file-name pattern without "/"' : null)),
  binaries: listOf(absPath),
  extraFiles: listOf(absPath),
  resourceName: (v) => (typeof v === 'string' && EXTENDED_RESOURCE.test(v) ? null : 'expected an extended resource name like example.com/npu'),
  cdiKind: (v) => (typeof v === 'string' && CDI_KIND.test(v) ? null : 'expected a CDI kind like example.com/npu'),
  visibleDevicesEnv: (v) => (v === null || (typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) ? null : 'expected an environment variable name or null'),
  modelName: (v) => str(v) ?? ((v as string).length > 128 ? 'expected at most 128 characters' : null),
  memoryMiB: (v) => (v === null || (Number.isInteger(v) && (v as number) > 0) ? null : 'expected a positive integer or null'),
  labelPrefix: (v) =>
    typeof v === 'string' && isValidLabelKey(`${v}_count`) && isValidLabelKey(`${v}_name`) ? null : 'expected a label key prefix like example.com/npu',
};

/**
 * Checks a profile from the configuration. Keys left out take the default
 * profile's value; an unknown key or a bad value is refused with an error
 * naming it (`npu.pciClasses: entry 0: ...`), never silently ignored.
 */
export function validateNpuProfile(raw: unknown, where = 'npu'): NpuProfile {
  if (raw === undefined || raw === null) return cloneProfile(DEFAULT_NPU_PROFILE);
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid(where, 'expected a mapping of profile keys');
  const merged: Record<string, unknown> = { ...cloneProfile(DEFAULT_NPU_PROFILE) };
  for (const [key, value] of Object.entries(raw)) {
    if (!Object.hasOwn(CHECKS, key)) throw invalid(`${where}.${key}`, `unknown key; known keys: ${Object.keys(CHECKS).join(', ')}`);
    const why = CHECKS[key as keyof NpuProfile](value);
    if (why !== null) throw invalid(`${where}.${key}`, why);
    merged[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
  }
  return merged as unknown as NpuProfile;
}

function cloneProfile(p: Readonly<NpuProfile>): NpuProfile {
  return {
    ...p,
    pciVendorIds: [...p.pciVendorIds],
    pciClasses: [...p.pciClasses],
    pciDeviceIds: [...p.pciDeviceIds],
    controlNodes: [...p.controlNodes],
    libraryDirs: [...p.libraryDirs],
    libraryGlobs: [...p.libraryGlobs],
    binaries: [...p.binaries],
    extraFiles: [...p.extraFiles],
  };
}

function invalid(key: string, why: string): AccelError {
  return new AccelError(ErrorCode.CONFIG_INVALID, `${key}: ${why}`, { details: { key } });
}
