import { lstat } from 'node:fs/promises';
import { ErrorCode, isAccelError } from '../errors.js';
import { isNotFound, type HostRoot } from '../host/host-root.js';
import { splitDev } from '../discovery/device-node.js';
import { nvidiaNodeNumbers, parseCharMajors, parseCharUevent, type NodeNumbers } from './device-numbers.js';
import type { RefusedPath } from './driver-files.js';

/**
 * Type, major and minor of the device nodes a spec names. The node itself
 * is the truth; when it is not a device (a host tree without mknod), sysfs's
 * registered char devices and then the NVIDIA naming rules over
 * /proc/devices stand in. Nodes must resolve inside /dev.
 */

export interface DeviceNodeInfo {
  /** Host path as named, which is also the path inside the container. */
  path: string;
  /** The node itself, links followed inside /dev. */
  source: string;
  type: 'c' | 'b' | null;
  major: number | null;
  minor: number | null;
  origin: 'stat' | 'sysfs' | 'procfs' | 'unknown';
}

export interface DeviceNodeReport {
  nodes: Map<string, DeviceNodeInfo>;
  refused: RefusedPath[];
  warnings: string[];
}

const DEV_ROOT = ['/dev'];
/** Real hosts register a few hundred char devices; this bounds a hostile tree. */
const MAX_SYSFS_ENTRIES = 8192;

export async function inspectDeviceNodes(host: HostRoot, paths: readonly string[]): Promise<DeviceNodeReport> {
  const report: DeviceNodeReport = { nodes: new Map(), refused: [], warnings: [] };
  let fallback: Fallback | null = null;
  for (const p of new Set(paths)) {
    let source: string | null;
    try {
      source = await host.resolveWithin(p, DEV_ROOT);
    } catch (err) {
      if (!isAccelError(err, ErrorCode.SYMLINK_ESCAPE) && !isAccelError(err, ErrorCode.HOST_PATH_ESCAPE)) throw err;
      report.refused.push({ path: p, reason: err.message });
      continue;
    }
    const st = source === null ? null : await lstatOrNull(host.path(source));
    if (source === null || st === null) {
      report.warnings.push(`device node ${p} is missing`);
      continue;
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      report.nodes.set(p, { path: p, source, type: st.isCharacterDevice() ? 'c' : 'b', ...splitDev(st.rdev), origin: 'stat' });
      continue;
    }
    fallback ??= await loadFallback(host);
    const fromSysfs = fallback.sysfs.get(source.slice('/dev/'.length));
    const fromProc = fromSysfs === undefined ? nvidiaNodeNumbers(source, fallback.charMajors) : null;
    const numbers = fromSysfs ?? fromProc;
    if (numbers === null) {
      report.warnings.push(`${p} is not a device node and its numbers are unknown; the runtime will have to stat it`);
      report.nodes.set(p, { path: p, source, type: null, major: null, minor: null, origin: 'unknown' });
    } else {
      report.nodes.set(p, { path: p, source, type: 'c', ...numbers, origin: fromSysfs !== undefined ? 'sysfs' : 'procfs' });
    }
  }
  return report;
}

interface Fallback {
  sysfs: Map<string, NodeNumbers>;
  charMajors: Map<string, number>;
}

async function loadFallback(host: HostRoot): Promise<Fallback> {
  const sysfs = new Map<string, NodeNumbers>();
  const entries = (await host.list('/sys/dev/char')).slice(0, MAX_SYSFS_ENTRIES);
  for (const entry of entries) {
    const uevent = await readWithin(host, `/sys/dev/char/${entry}/uevent`, ['/sys']);
    const parsed = uevent === null ? null : parseCharUevent(uevent);
    if (parsed !== null && !sysfs.has(parsed.devName)) sysfs.set(parsed.devName, parsed.numbers);
  }
  const procDevices = await readWithin(host, '/proc/devices', ['/proc']);
  return { sysfs, charMajors: parseCharMajors(procDevices ?? '') };
}

/** A small host file's text, or null when it is missing, unreadable or leads outside `roots`. */
async function readWithin(host: HostRoot, hostPath: string, roots: readonly string[]): Promise<string | null> {
  try {
    const resolved = await host.resolveWithin(hostPath, roots);
    return resolved === null ? null : await host.readTextIfExists(resolved);
  } catch {
    return null;
  }
}

async function lstatOrNull(agentPath: string) {
  try {
    return await lstat(agentPath, { bigint: true });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
