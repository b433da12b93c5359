import type { ContainerEdits } from '../inject/container-edits.js';
import { applyContainerEdits, ociDeviceFor, ociMountFor } from '../inject/oci-edit.js';

/**
 * The file the native launcher reads to inject devices without starting
 * Node: every edit already validated and rendered as the JSON the wrapper
 * itself would write, in a line format a small C program parses without a
 * JSON parser of its own. The header records what the content was derived
 * from (settings, spec files); the launcher trusts the file only while all
 * of that is unchanged and hands anything else to the Node wrapper.
 *
 *   accel-runtime-launcher-cache 1
 *   runc <absolute path>
 *   envselect 0|1
 *   setting NAME=value | unset NAME
 *   stat <dev> <ino> <size> <mtime s> <mtime ns> <path> | absent <path>
 *   device <vendor/class=name>
 *   node <path> TAB <host path> TAB <type> <major> <minor> TAB <linux.devices JSON> TAB <cgroup rule JSON>
 *   mount <destination> TAB <host path> TAB <destination JSON> TAB <options JSON>
 *   env <KEY> TAB <"KEY=VALUE" JSON>
 *   end
 *
 * Raw fields are printable ASCII without quotes, backslashes or tabs, so the
 * launcher can compare them byte for byte with strings in config.json.
 */

export const CACHE_MAGIC = 'accel-runtime-launcher-cache 1';
export const CACHE_FILE = 'launcher.cache';

export interface SettingValue {
  name: string;
  /** undefined when the variable is unset. */
  value: string | undefined;
}

export interface FileStamp {
  path: string;
  /** `dev ino size mtime-s mtime-ns`, or null when the path does not exist. */
  stamp: string | null;
}

export interface CacheHeader {
  runc: string;
  envSelection: boolean;
  settings: SettingValue[];
  files: FileStamp[];
}

export interface CacheNode {
  path: string;
  hostPath: string;
  /** `c 195 0`: lets the launcher spot an allow rule the config already has. */
  numbers: string;
  deviceJson: string;
  ruleJson: string;
}

export interface CacheMount {
  destination: string;
  hostPath: string;
  destinationJson: string;
  optionsJson: string;
}

export interface CacheEnv {
  key: string;
  entryJson: string;
}

export interface CacheDevice {
  name: string;
  nodes: CacheNode[];
  mounts: CacheMount[];
  env: CacheEnv[];
}

const RAW_RE = /^[\x20-\x7e]*$/;

/** True for a value that can stand raw on a cache line. */
export function isRawSafe(value: string): boolean {
  return RAW_RE.test(value) && !/["\\]/.test(value);
}

/** The header lines; null when some value cannot be written safely (the cache is then not used). */
export function renderHeader(h: CacheHeader): string | null {
  const lines = [CACHE_MAGIC, `runc ${h.runc}`, `envselect ${h.envSelection ? 1 : 0}`];
  for (const s of h.settings) lines.push(s.value === undefined ? `unset ${s.name}` : `setting ${s.name}=${s.value}`);
  for (const f of h.files) lines.push(f.stamp === null ? `absent ${f.path}` : `stat ${f.stamp} ${f.path}`);
  if (!lines.every((l) => RAW_RE.test(l))) return null;
  return lines.join('\n') + '\n';
}

/**
 * The cache entry for one requested name, or null when the launcher could
 * not apply these edits exactly as the wrapper would (hooks, extra groups,
 * device numbers the spec leaves to be read from the host, unusual
 * characters, invalid edits): such names are left to the wrapper.
 */
export function cacheDeviceFor(name: string, edits: ContainerEdits): CacheDevice | null {
  if ((edits.hooks ?? []).length > 0 || (edits.additionalGids ?? []).length > 0) return null;
  if (!isRawSafe(name)) return null;
  try {
    applyContainerEdits({ ociVersion: '1.0.2' }, edits);
  } catch {
    return null;
  }
  const nodes: CacheNode[] = [];
  for (const edit of edits.deviceNodes ?? []) {
    if (edit.type === undefined || edit.major === undefined || edit.minor === undefined) return null;
    const { device, rule } = ociDeviceFor(edit);
    const hostPath = edit.hostPath ?? edit.path;
    if (!isRawSafe(device.path) || !isRawSafe(hostPath)) return null;
    nodes.push({
      path: device.path,
      hostPath,
      numbers: `${device.type} ${device.major} ${device.minor}`,
      deviceJson: JSON.stringify(device),
      ruleJson: JSON.stringify(rule),
    });
  }
  const mounts: CacheMount[] = [];
  for (const edit of edits.mounts ?? []) {
    const mount = ociMountFor(edit);
    if (!isRawSafe(mount.destination) || !isRawSafe(edit.hostPath)) return null;
    mounts.push({
      destination: mount.destination,
      hostPath: edit.hostPath,
      destinationJson: JSON.stringify(mount.destination),
      optionsJson: JSON.stringify(mount.options ?? []),
    });
  }
  const env: CacheEnv[] = [];
  for (const entry of edits.env ?? []) {
    const key = entry.slice(0, entry.indexOf('='));
    if (!isRawSafe(key)) return null;
    env.push({ key, entryJson: JSON.stringify(entry) });
  }
  return { name, nodes, mounts, env };
}

export function renderDevice(d: CacheDevice): string {
  const lines = [`device ${d.name}`];
  for (const n of d.nodes) lines.push(`node ${n.path}\t${n.hostPath}\t${n.numbers}\t${n.deviceJson}\t${n.ruleJson}`);
  for (const m of d.mounts) lines.push(`mount ${m.destination}\t${m.hostPath}\t${m.destinationJson}\t${m.optionsJson}`);
  for (const e of d.env) lines.push(`env ${e.key}\t${e.entryJson}`);
  lines.push('end');
  return lines.join('\n') + '\n';
}
