import { AccelError, ErrorCode } from '../errors.js';
import { canonicalPciBusId } from '../model/device.js';

/**
 * Parsers for the PCI attribute files the kernel writes under
 * /sys/bus/pci/devices/<address>/. The kernel prints them with fixed formats
 * (`0x%04x`, `0x%06x`, `%d`), so anything else is a torn read, a truncated
 * file or a hostile tree, and is refused rather than guessed at.
 */

/** `vendor`, `device`, `subsystem_vendor`, `subsystem_device`: four hex digits. */
export function parsePciId(text: string, file: string): number {
  return parseFixedHex(text, 4, file);
}

/** `class`: six hex digits, base class, subclass, programming interface. */
export function parsePciClass(text: string, file = 'class'): number {
  return parseFixedHex(text, 6, file);
}

function parseFixedHex(text: string, digits: number, file: string): number {
  const m = /^0x([0-9a-fA-F]+)\n?$/.exec(text);
  if (!m || m[1]!.length !== digits) {
    throw new AccelError(ErrorCode.HOST_PARSE, `${file}: expected 0x and ${digits} hex digits, got ${preview(text)}`);
  }
  return parseInt(m[1]!, 16);
}

/** Highest NUMA node id accepted; the kernel's MAX_NUMNODES is at most 1024. */
const MAX_NUMA_NODE = 1023;

/** `numa_node`: a node id, or -1 when the platform has no NUMA information (→ null). */
export function parseNumaNode(text: string): number | null {
  const m = /^(-?\d{1,5})\n?$/.exec(text);
  if (!m) throw new AccelError(ErrorCode.HOST_PARSE, `numa_node: expected an integer, got ${preview(text)}`);
  const n = Number(m[1]);
  if (n === -1) return null;
  if (n < 0 || n > MAX_NUMA_NODE) throw new AccelError(ErrorCode.HOST_PARSE, `numa_node: ${n} is out of range`);
  return n;
}

export interface UeventParse {
  values: Record<string, string>;
  /** Lines that were not `KEY=value`, kept so the caller can warn about them. */
  rejected: string[];
}

/**
 * A `uevent` file: one `KEY=value` per line. Bad lines are set aside rather
 * than failing the whole file, because the good lines (DRIVER=, DEVNAME=)
 * are still worth having.
 */
export function parseUevent(text: string): UeventParse {
  const values: Record<string, string> = Object.create(null) as Record<string, string>;
  const rejected: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    if (!/^[A-Z][A-Z0-9_]*$/.test(key) || line.includes('\0')) {
      rejected.push(line.length > 80 ? line.slice(0, 80) + '…' : line);
      continue;
    }
    values[key] = line.slice(eq + 1);
  }
  return { values, rejected };
}

/** The canonical form of a /sys/bus/pci/devices entry name, or null when it is not a PCI address. */
export function pciAddressOf(entryName: string): string | null {
  // sysfs always names functions with the full domain; anything shorter is not the kernel's.
  if (!/^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(entryName)) return null;
  return canonicalPciBusId(entryName);
}

/**
 * True when a 24-bit class code starts with `prefix`: `0x03` matches the
 * base class (any display controller), `0x1200` base class and subclass,
 * `0x030000` the exact code. The prefix must have 2, 4 or 6 hex digits.
 */
export function pciClassMatches(classCode: number, prefix: string): boolean {
  const digits = parseClassPrefix(prefix);
  const shift = (6 - digits.length) * 4;
  return classCode >>> shift === parseInt(digits, 16);
}

/** Checks a class prefix and returns its hex digits; throws with the reason when malformed. */
export function parseClassPrefix(prefix: string): string {
  const m = /^0x([0-9a-fA-F]{2}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6})$/.exec(prefix);
  if (!m) throw new AccelError(ErrorCode.HOST_PARSE, `PCI class prefix must be 0x and 2, 4 or 6 hex digits, got ${JSON.stringify(prefix)}`);
  return m[1]!.toLowerCase();
}

/** Parses a `0x`-prefixed four-digit PCI vendor or device id as written in configuration. */
export function parseConfiguredPciId(text: string): number {
  const m = /^0x([0-9a-fA-F]{4})$/.exec(text);
  if (!m) throw new AccelError(ErrorCode.HOST_PARSE, `PCI id must be 0x and 4 hex digits, got ${JSON.stringify(text)}`);
  return parseInt(m[1]!, 16);
}

export function formatPciId(id: number): string {
  return '0x' + id.toString(16).padStart(4, '0');
}

function preview(text: string): string {
  return JSON.stringify(text.length > 40 ? text.slice(0, 40) + '…' : text);
}
