import { NVIDIA_MAJOR } from '../vendors/nvidia/merge.js';

/**
 * Where a device node's major and minor numbers come from when the node on
 * disk cannot say (a host tree where mknod was refused, a node that vanished
 * between discovery and injection). Pure: callers pass the files' text.
 */

export interface NodeNumbers {
  major: number;
  minor: number;
}

/** `/proc/devices`: the "Character devices:" section as driver name → major. */
export function parseCharMajors(text: string): Map<string, number> {
  const majors = new Map<string, number>();
  let inChar = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (/^Character devices:$/i.test(trimmed)) {
      inChar = true;
      continue;
    }
    if (/^Block devices:$/i.test(trimmed)) {
      inChar = false;
      continue;
    }
    const m = /^(\d{1,4})\s+(\S+)$/.exec(trimmed);
    if (inChar && m && !majors.has(m[2]!)) majors.set(m[2]!, Number(m[1]));
  }
  return majors;
}

/** A char device's `uevent` in sysfs: MAJOR=, MINOR=, DEVNAME= (relative to /dev). */
export function parseCharUevent(text: string): { devName: string; numbers: NodeNumbers } | null {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const major = toNumber(fields.get('MAJOR'));
  const minor = toNumber(fields.get('MINOR'));
  const devName = fields.get('DEVNAME');
  if (major === null || minor === null || devName === undefined || devName === '' || devName.split('/').includes('..')) return null;
  return { devName, numbers: { major, minor } };
}

function toNumber(s: string | undefined): number | null {
  if (s === undefined || !/^\d{1,7}$/.test(s)) return null;
  return Number(s);
}

/**
 * The numbers of an NVIDIA node from its name, as the driver assigns them:
 * `/dev/nvidia<N>` is 195:N, `nvidiactl` 195:255, `nvidia-modeset` 195:254,
 * `nvidia-uvm`/`nvidia-uvm-tools` minors 0/1 of the dynamic `nvidia-uvm`
 * major, `nvidia-caps/nvidia-cap<N>` minor N of the `nvidia-caps` major.
 */
export function nvidiaNodeNumbers(nodePath: string, charMajors: ReadonlyMap<string, number>): NodeNumbers | null {
  const frontend = charMajors.get('nvidia-frontend') ?? charMajors.get('nvidia') ?? NVIDIA_MAJOR;
  const gpu = /^\/dev\/nvidia(\d{1,3})$/.exec(nodePath);
  if (gpu) {
    const minor = Number(gpu[1]);
    return minor < 254 ? { major: frontend, minor } : null;
  }
  if (nodePath === '/dev/nvidiactl') return { major: frontend, minor: 255 };
  if (nodePath === '/dev/nvidia-modeset') return { major: frontend, minor: 254 };
  const uvm = charMajors.get('nvidia-uvm');
  if (nodePath === '/dev/nvidia-uvm' && uvm !== undefined) return { major: uvm, minor: 0 };
  if (nodePath === '/dev/nvidia-uvm-tools' && uvm !== undefined) return { major: uvm, minor: 1 };
  const cap = /^\/dev\/nvidia-caps\/nvidia-cap(\d{1,7})$/.exec(nodePath);
  const caps = charMajors.get('nvidia-caps');
  if (cap && caps !== undefined) return { major: caps, minor: Number(cap[1]) };
  return null;
}
