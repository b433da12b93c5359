import { AccelError, ErrorCode } from '../../errors.js';
import { canonicalPciBusId } from '../../model/device.js';
import { virtualizationModeOf, type VirtualizationMode } from './virtualization.js';

/** The fields asked of nvidia-smi, in the order its CSV prints them. */
export const SMI_QUERY_FIELDS = [
  'index',
  'uuid',
  'name',
  'pci.bus_id',
  'memory.total',
  'driver_version',
  'minor_number',
  'virtualization_mode',
] as const;

export const SMI_ARGS: readonly string[] = [`--query-gpu=${SMI_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

export interface SmiGpu {
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  memoryMiB: number | null;
  driverVersion: string | null;
  minor: number | null;
  virtualizationMode: VirtualizationMode | null;
}

/** nvidia-smi's placeholders for a value the GPU or driver cannot give. */
const UNAVAILABLE = new Set(['[N/A]', 'N/A', '[Not Supported]', '[Unknown Error]', '[Insufficient Permissions]']);

/**
 * Parses `--format=csv,noheader,nounits` output of SMI_QUERY_FIELDS. One bad
 * line fails the whole answer: a tool printing something unexpected cannot be
 * trusted for the lines that happen to look right.
 */
export function parseSmiCsv(text: string): SmiGpu[] {
  const gpus: SmiGpu[] = [];
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    gpus.push(parseLine(line, i + 1));
  });
  const seen = new Set<string>();
  for (const g of gpus) {
    if (seen.has(g.pciBusId)) throw bad(`PCI bus id ${g.pciBusId} listed twice`);
    seen.add(g.pciBusId);
  }
  return gpus;
}

function parseLine(line: string, lineNo: number): SmiGpu {
  const cells = line.split(',').map((c) => c.trim());
  if (cells.length !== SMI_QUERY_FIELDS.length) {
    throw bad(`line ${lineNo}: expected ${SMI_QUERY_FIELDS.length} fields, got ${cells.length}: ${preview(line)}`);
  }
  const [index, uuid, name, busId, memory, driver, minor, mode] = cells as [string, string, string, string, string, string, string, string];
  const field = (what: string, value: string) => bad(`line ${lineNo}: ${what} ${preview(value)} is not valid`);

  if (!/^\d{1,4}$/.test(index)) throw field('index', index);
  if (!/^GPU-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/.test(uuid)) throw field('uuid', uuid);
  if (name === '' || UNAVAILABLE.has(name) || /[\x00-\x1f]/.test(name)) throw field('name', name);
  let pciBusId: string;
  try {
    pciBusId = canonicalPciBusId(busId);
  } catch {
    throw field('pci.bus_id', busId);
  }
  return {
    index: Number(index),
    uuid,
    name,
    pciBusId,
    memoryMiB: optionalInt(memory, () => field('memory.total', memory)),
    driverVersion: optional(driver, /^\d+(?:\.\d+){1,3}$/, () => field('driver_version', driver)),
    minor: optionalInt(minor, () => field('minor_number', minor)),
    virtualizationMode: UNAVAILABLE.has(mode) ? null : (virtualizationModeOf(mode) ?? raise(field('virtualization_mode', mode))),
  };
}

function optional(value: string, shape: RegExp, fail: () => Error): string | null {
  if (UNAVAILABLE.has(value)) return null;
  if (!shape.test(value)) throw fail();
  return value;
}

function optionalInt(value: string, fail: () => Error): number | null {
  const v = optional(value, /^\d{1,9}$/, fail);
  return v === null ? null : Number(v);
}

function raise(err: Error): never {
  throw err;
}

function bad(reason: string): AccelError {
  return new AccelError(ErrorCode.NVIDIA_SMI, `unexpected nvidia-smi output: ${reason}`);
}

function preview(text: string): string {
  return JSON.stringify(text.length > 60 ? text.slice(0, 60) + '…' : text);
}
