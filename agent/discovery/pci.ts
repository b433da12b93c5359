import { plainReason } from './reason.js';
import type { HostRoot } from '../host/host-root.js';
import { parseNumaNode, parsePciClass, parsePciId, parseUevent, pciAddressOf } from './pci-parse.js';
import { linkBasename, readAttribute } from './sysfs-read.js';

export const PCI_DEVICES_DIR = '/sys/bus/pci/devices';
/** Where the entries of PCI_DEVICES_DIR may lead; a link anywhere else is refused. */
const PCI_ALLOWED_ROOTS = ['/sys/devices', PCI_DEVICES_DIR];

/** One PCI function as sysfs describes it. */
export interface PciFunction {
  /** Canonical `dddd:bb:dd.f`. */
  address: string;
  /** Host path of the function's own sysfs directory, symlinks resolved inside the host root. */
  sysfsPath: string;
  vendorId: number;
  deviceId: number;
  /** 24-bit class code: base class, subclass, programming interface. */
  classCode: number;
  subsystemVendorId: number | null;
  subsystemDeviceId: number | null;
  numaNode: number | null;
  /** Name of the bound kernel driver, null when none is bound. */
  driver: string | null;
  uevent: Record<string, string>;
}

export interface PciScan {
  functions: PciFunction[];
  warnings: string[];
}

export interface PciScanOptions {
  /** A bound on the work one scan may do, against a tree that lists absurd numbers of entries. */
  maxFunctions?: number;
  /** How many functions are read at once. */
  concurrency?: number;
}

const DEFAULTS: Required<PciScanOptions> = { maxFunctions: 4096, concurrency: 16 };

/**
 * Reads every function under /sys/bus/pci/devices. A function whose identity
 * files (vendor, device, class) are missing or malformed is skipped with a
 * warning; problems in the optional files leave that field null and warn.
 * Nothing the host tree contains makes the scan throw.
 */
export async function scanPci(host: HostRoot, options: PciScanOptions = {}): Promise<PciScan> {
  const opts = { ...DEFAULTS, ...options };
  const warnings: string[] = [];
  let entries: string[];
  try {
    entries = await host.list(PCI_DEVICES_DIR);
  } catch (err) {
    return { functions: [], warnings: [`PCI scan: ${plainReason(err)}`] };
  }
  if (entries.length > opts.maxFunctions) {
    warnings.push(`PCI scan: ${entries.length} entries under ${PCI_DEVICES_DIR}, only the first ${opts.maxFunctions} read`);
    entries = entries.slice(0, opts.maxFunctions);
  }
  const results = await mapLimit(entries, opts.concurrency, (name) => readFunction(host, name));
  const functions: PciFunction[] = [];
  for (const r of results) {
    warnings.push(...r.warnings);
    if (r.fn) functions.push(r.fn);
  }
  functions.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return { functions, warnings };
}

interface FunctionRead {
  fn: PciFunction | null;
  warnings: string[];
}

async function readFunction(host: HostRoot, name: string): Promise<FunctionRead> {
  const address = pciAddressOf(name);
  if (address === null) return { fn: null, warnings: [`PCI ${name}: not a PCI address, skipped`] };
  let dir: string | null;
  try {
    dir = await host.resolveWithin(`${PCI_DEVICES_DIR}/${name}`, PCI_ALLOWED_ROOTS);
  } catch (err) {
    return { fn: null, warnings: [`PCI ${address}: ${plainReason(err)}, skipped`] };
  }
  if (dir === null) return { fn: null, warnings: [`PCI ${address}: dangling entry, skipped`] };

  const warnings: string[] = [];
  const required = async (file: string, parse: (text: string) => number): Promise<number> => {
    const text = await readAttribute(host, `${dir}/${file}`);
    if (text === null) throw new Error(`${file} is missing`);
    return parse(text);
  };
  let vendorId: number, deviceId: number, classCode: number;
  try {
    vendorId = await required('vendor', (t) => parsePciId(t, 'vendor'));
    deviceId = await required('device', (t) => parsePciId(t, 'device'));
    classCode = await required('class', parsePciClass);
  } catch (err) {
    return { fn: null, warnings: [`PCI ${address}: ${plainReason(err)}, skipped`] };
  }

  const optional = async <T>(file: string, read: () => Promise<T | null>): Promise<T | null> => {
    try {
      return await read();
    } catch (err) {
      warnings.push(`PCI ${address}: ${file}: ${plainReason(err)}`);
      return null;
    }
  };
  const optionalId = (file: string) =>
    optional(file, async () => {
      const text = await readAttribute(host, `${dir}/${file}`);
      return text === null ? null : parsePciId(text, file);
    });

  const subsystemVendorId = await optionalId('subsystem_vendor');
  const subsystemDeviceId = await optionalId('subsystem_device');
  const numaNode = await optional('numa_node', async () => {
    const text = await readAttribute(host, `${dir}/numa_node`);
    return text === null ? null : parseNumaNode(text);
  });
  const driver = await optional('driver', () => linkBasename(host, `${dir}/driver`));
  const uevent =
    (await optional('uevent', async () => {
      const text = await readAttribute(host, `${dir}/uevent`);
      if (text === null) return null;
      const parsed = parseUevent(text);
      if (parsed.rejected.length > 0) {
        warnings.push(`PCI ${address}: uevent: ignored ${parsed.rejected.length} malformed line(s)`);
      }
      return parsed.values;
    })) ?? {};

  return {
    fn: { address, sysfsPath: dir, vendorId, deviceId, classCode, subsystemVendorId, subsystemDeviceId, numaNode, driver, uevent },
    warnings,
  };
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
