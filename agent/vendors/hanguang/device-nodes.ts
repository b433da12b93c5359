import { readdir } from 'node:fs/promises';
import { plainReason } from '../../discovery/reason.js';
import { isNotFound, type HostRoot } from '../../host/host-root.js';
import { deviceNodeProblem } from '../../discovery/device-node.js';
import type { PciFunction } from '../../discovery/pci.js';
import { parseUevent } from '../../discovery/pci-parse.js';
import { readAttribute } from '../../discovery/sysfs-read.js';
import { ueventNode, type UeventNode } from './uevent-node.js';

/** A bound on directories visited per PCI function, against a crafted tree. */
const MAX_DIRS_VISITED = 256;

export interface NodeSearch {
  nodes: string[];
  warnings: string[];
}

/**
 * Finds the char devices a driver registered for one PCI function: every
 * `uevent` with a DEVNAME at most `depth` directories below the function's
 * sysfs directory (e.g. `<fn>/misc/npu0/uevent`). Only real directories are
 * entered, never symlinks, so the search stays inside the function's own
 * tree (sysfs is full of links back up to parents and subsystems). Each node
 * must then exist in the host's /dev as a char device with the numbers the
 * uevent gives.
 */
export async function findUeventNodes(host: HostRoot, fn: PciFunction, depth: number, pattern: RegExp | null): Promise<NodeSearch> {
  const warnings: string[] = [];
  const found: UeventNode[] = [];
  const consider = (values: Record<string, string>, where: string) => {
    const result = ueventNode(values, pattern);
    if (result === null) return;
    if ('rejected' in result) warnings.push(`NPU ${fn.address}: ${where}: ${result.rejected}; ignored`);
    else found.push(result.node);
  };
  consider(fn.uevent, `${fn.sysfsPath}/uevent`);

  let frontier = [fn.sysfsPath];
  let visited = 0;
  for (let level = 1; level <= depth && frontier.length > 0; level++) {
    const next: string[] = [];
    for (const dir of frontier) {
      let entries;
      try {
        entries = await readdir(host.path(dir), { withFileTypes: true });
      } catch (err) {
        if (!isNotFound(err)) warnings.push(`NPU ${fn.address}: cannot list ${dir}: ${plainReason(err)}`);
        continue;
      }
      for (const entry of entries) {
        if (!entry.isDirectory()) continue;
        if (++visited > MAX_DIRS_VISITED) {
          warnings.push(`NPU ${fn.address}: more than ${MAX_DIRS_VISITED} directories under ${fn.sysfsPath}; search stopped`);
          return verify(host, fn, found, warnings);
        }
        const sub = `${dir}/${entry.name}`;
        next.push(sub);
        try {
          const text = await readAttribute(host, `${sub}/uevent`);
          if (text !== null) consider(parseUevent(text).values, `${sub}/uevent`);
        } catch (err) {
          warnings.push(`NPU ${fn.address}: ${plainReason(err)}`);
        }
      }
    }
    frontier = next.sort();
  }
  return verify(host, fn, found, warnings);
}

async function verify(host: HostRoot, fn: PciFunction, found: UeventNode[], warnings: string[]): Promise<NodeSearch> {
  const nodes = new Set<string>();
  for (const node of found) {
    const why = await deviceNodeProblem(host, node.path, node);
    if (why === null) nodes.add(node.path);
    else warnings.push(`NPU ${fn.address}: ${node.path} ${why}; not used`);
  }
  return { nodes: [...nodes].sort(), warnings };
}
