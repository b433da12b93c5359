import { AccelError, ErrorCode } from '../errors.js';
import { editsFor } from '../inject/cdi-edits.js';
import type { CdiDevice, CdiSpec, ContainerEdits } from '../inject/container-edits.js';
import { isValidDeviceName, parseKind, parseQualifiedName } from '../inject/device-request.js';

/**
 * Resolves requested CDI device names against the spec files a runtime sees.
 *
 * Specs come in priority order (the dynamic `/var/run/cdi` after the static
 * `/etc/cdi`); a later directory wins a name clash, while two specs of one
 * directory defining the same name make that name unusable, as CDI says.
 * `<kind>=all` selects every device of the kind unless a spec defines a
 * device literally named `all`.
 */

export interface LoadedSpec {
  /** Where the spec was read from, for messages. */
  file: string;
  /** Index of its directory in the search order; higher wins. */
  priority: number;
  spec: CdiSpec;
}

export interface SpecProblem {
  file: string;
  message: string;
}

interface Entry {
  spec: LoadedSpec;
  device: CdiDevice;
}

export interface CdiIndex {
  devices: Map<string, Entry>;
  /** Names defined twice at the same priority, with the files involved. */
  ambiguous: Map<string, string[]>;
  problems: SpecProblem[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkEditsShape(edits: unknown, where: string): void {
  if (edits === undefined) return;
  if (!isObject(edits)) throw new Error(`${where} must be an object`);
  for (const key of ['env', 'deviceNodes', 'mounts', 'hooks', 'additionalGids']) {
    const v = edits[key];
    if (v !== undefined && !Array.isArray(v)) throw new Error(`${where}.${key} must be a list`);
  }
  for (const key of ['deviceNodes', 'mounts', 'hooks']) {
    const list = edits[key] as unknown[] | undefined;
    list?.forEach((item, i) => {
      if (!isObject(item)) throw new Error(`${where}.${key}[${i}] must be an object`);
    });
  }
}

/**
 * Checks the structure of a parsed spec file; the values inside the edits are
 * judged later, when they are applied. Throws CDI_INVALID naming the file.
 */
export function checkSpec(value: unknown, file: string): CdiSpec {
  try {
    if (!isObject(value)) throw new Error('not an object');
    if (typeof value.cdiVersion !== 'string') throw new Error('cdiVersion must be a string');
    if (typeof value.kind !== 'string') throw new Error('kind must be a string');
    parseKind(value.kind);
    if (!Array.isArray(value.devices)) throw new Error('devices must be a list');
    value.devices.forEach((d, i) => {
      if (!isObject(d)) throw new Error(`devices[${i}] must be an object`);
      if (typeof d.name !== 'string' || !isValidDeviceName(d.name)) {
        throw new Error(`devices[${i}].name ${JSON.stringify(d.name)} is not a valid device name`);
      }
      checkEditsShape(d.containerEdits, `devices[${i}].containerEdits`);
    });
    checkEditsShape(value.containerEdits, 'containerEdits');
  } catch (err) {
    throw new AccelError(ErrorCode.CDI_INVALID, `CDI spec ${file}: ${(err as Error).message}`, { details: { file } });
  }
  return value as unknown as CdiSpec;
}

export function indexSpecs(specs: readonly LoadedSpec[], problems: readonly SpecProblem[] = []): CdiIndex {
  const devices = new Map<string, Entry>();
  const ambiguous = new Map<string, string[]>();
  for (const loaded of specs) {
    for (const device of loaded.spec.devices) {
      const name = `${loaded.spec.kind}=${device.name}`;
      const prior = devices.get(name);
      if (prior === undefined || prior.spec.priority < loaded.priority) {
        devices.set(name, { spec: loaded, device });
        ambiguous.delete(name);
      } else if (prior.spec.priority === loaded.priority) {
        ambiguous.set(name, [...(ambiguous.get(name) ?? [prior.spec.file]), loaded.file]);
      }
    }
  }
  return { devices, ambiguous, problems: [...problems] };
}

function unknownDevice(name: string, index: CdiIndex): AccelError {
  const clash = index.ambiguous.get(name);
  if (clash) {
    return new AccelError(ErrorCode.UNKNOWN_DEVICE, `CDI device ${name} is defined by more than one spec: ${clash.join(', ')}`, {
      details: { name },
    });
  }
  const broken = index.problems.length > 0 ? ` (unreadable specs: ${index.problems.map((p) => p.file).join(', ')})` : '';
  return new AccelError(ErrorCode.UNKNOWN_DEVICE, `unresolvable CDI device ${name}${broken}`, { details: { name } });
}

/** Replaces `<kind>=all` by every device of that kind, unless a device is literally named `all`. */
export function expandAll(names: readonly string[], index: CdiIndex): string[] {
  const out: string[] = [];
  for (const name of names) {
    const q = parseQualifiedName(name);
    if (q.name !== 'all' || index.devices.has(name)) {
      out.push(name);
      continue;
    }
    const all = [...index.devices.keys()].filter((n) => n.startsWith(`${q.kind}=`) && !index.ambiguous.has(n)).sort();
    if (all.length === 0) throw unknownDevice(name, index);
    out.push(...all);
  }
  return [...new Set(out)];
}

export interface ResolvedEdits {
  /** The device names actually injected, after `all` was expanded. */
  devices: string[];
  edits: ContainerEdits;
}

/**
 * The edits for the requested names. Within one spec file they merge the
 * way every injection path of the agent merges them (`editsFor`: the spec's
 * own edits once, then each device's); across files they are only
 * concatenated, so the OCI edit step folds exact repeats and refuses two
 * kinds that claim one container path differently.
 */
export function resolveEdits(index: CdiIndex, requested: readonly string[]): ResolvedEdits {
  const devices = expandAll(requested, index);
  const bySpec = new Map<LoadedSpec, string[]>();
  for (const name of devices) {
    const entry = index.devices.get(name);
    if (entry === undefined || index.ambiguous.has(name)) throw unknownDevice(name, index);
    bySpec.set(entry.spec, [...(bySpec.get(entry.spec) ?? []), entry.device.name]);
  }
  const merged: Required<ContainerEdits> = { env: [], deviceNodes: [], mounts: [], hooks: [], additionalGids: [] };
  for (const [loaded, names] of bySpec) {
    const edits = editsFor(loaded.spec, names);
    merged.env.push(...(edits.env ?? []));
    merged.deviceNodes.push(...(edits.deviceNodes ?? []));
    merged.mounts.push(...(edits.mounts ?? []));
    merged.hooks.push(...(edits.hooks ?? []));
    merged.additionalGids.push(...(edits.additionalGids ?? []));
  }
  return { devices, edits: merged };
}
