import { AccelError, ErrorCode } from '../errors.js';
import { compactEdits, uniqueBy } from './cdi-spec.js';
import type { CdiSpec, ContainerEdits } from './container-edits.js';

/**
 * What a container gets for a set of devices of one kind, merged the way a
 * CDI runtime applies a spec: the spec-level edits once, then each
 * requested device's edits. The runc wrapper and the device plugin use this,
 * so every injection path gives the same result.
 */
export function editsFor(spec: CdiSpec, requestedNames: readonly string[]): ContainerEdits {
  const byName = new Map(spec.devices.map((d) => [d.name, d]));
  const seen = new Set<string>();
  const picked: ContainerEdits[] = [];
  for (const name of requestedNames) {
    if (seen.has(name)) {
      throw new AccelError(ErrorCode.UNKNOWN_DEVICE, `${spec.kind}=${name} is requested twice`, { details: { kind: spec.kind, name } });
    }
    seen.add(name);
    const device = byName.get(name);
    if (device === undefined) {
      throw new AccelError(ErrorCode.UNKNOWN_DEVICE, `${spec.kind} has no device named ${JSON.stringify(name)}`, {
        details: { kind: spec.kind, name, known: [...byName.keys()].slice(0, 32) },
      });
    }
    picked.push(device.containerEdits);
  }
  if (picked.length === 0) return {};
  return mergeEdits([spec.containerEdits ?? {}, ...picked]);
}

/**
 * Merges edits in order: an env variable set twice keeps its last value (a
 * runtime replaces it), a device node or mount for a path already covered
 * is dropped (the first one wins), group ids are unioned.
 */
export function mergeEdits(list: readonly ContainerEdits[]): ContainerEdits {
  const env = new Map<string, string>();
  for (const entry of list.flatMap((e) => e.env ?? [])) {
    const key = entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : entry;
    env.delete(key);
    env.set(key, entry);
  }
  return compactEdits({
    env: [...env.values()],
    deviceNodes: uniqueBy(list.flatMap((e) => e.deviceNodes ?? []), (n) => n.path),
    mounts: uniqueBy(list.flatMap((e) => e.mounts ?? []), (m) => m.containerPath),
    hooks: uniqueBy(list.flatMap((e) => e.hooks ?? []), (h) => JSON.stringify(h)),
    additionalGids: [...new Set(list.flatMap((e) => e.additionalGids ?? []))],
  });
}
