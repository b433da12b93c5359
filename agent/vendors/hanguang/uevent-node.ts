/** A char device a driver registered for a PCI function, as its uevent file names it. */
export interface UeventNode {
  /** Host path, `/dev/<DEVNAME>`. */
  path: string;
  major: number | null;
  minor: number | null;
}

export type UeventNodeResult = { node: UeventNode } | { rejected: string } | null;

/** DEVNAME is relative to /dev and may name a subdirectory (`dri/card0`), never climb out of it. */
const DEVNAME = /^[A-Za-z0-9_.+:-]+(?:\/[A-Za-z0-9_.+:-]+)*$/;

/**
 * Reads the node a uevent describes. Null when it describes none (no
 * DEVNAME: a plain sysfs object); `rejected` when the name is unsafe or the
 * numbers malformed, so a crafted uevent cannot point the agent at an
 * arbitrary host path; null also when `pattern` does not match the name.
 */
export function ueventNode(values: Readonly<Record<string, string>>, pattern: RegExp | null): UeventNodeResult {
  const name = values['DEVNAME'];
  if (name === undefined) return null;
  if (!DEVNAME.test(name) || name.split('/').some((part) => part === '.' || part === '..')) {
    return { rejected: `DEVNAME ${JSON.stringify(name)} is not a safe /dev name` };
  }
  if (pattern !== null && !pattern.test(name)) return null;
  const number = (key: 'MAJOR' | 'MINOR'): number | null | string => {
    const raw = values[key];
    if (raw === undefined) return null;
    return /^\d{1,7}$/.test(raw) ? Number(raw) : `${key} ${JSON.stringify(raw)} is not a number`;
  };
  const major = number('MAJOR');
  const minor = number('MINOR');
  if (typeof major === 'string') return { rejected: major };
  if (typeof minor === 'string') return { rejected: minor };
  return { node: { path: `/dev/${name}`, major, minor } };
}
