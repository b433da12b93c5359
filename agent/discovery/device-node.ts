import { lstat } from 'node:fs/promises';
import { plainReason } from './reason.js';
import { isNotFound, type HostRoot } from '../host/host-root.js';

/** The problem `deviceNodeProblem` reports for a path that does not exist, for callers that treat absence as normal. */
export const NO_NODE = 'does not exist on the host';

export interface ExpectedNumbers {
  major: number | null;
  minor: number | null;
}

/**
 * Why a host path cannot be handed to containers as a device node, or null
 * when it can: it must exist, be a character device itself (never a symlink,
 * which could lead anywhere) and carry the numbers the driver announced.
 */
export async function deviceNodeProblem(host: HostRoot, hostPath: string, expected: ExpectedNumbers = { major: null, minor: null }): Promise<string | null> {
  let st;
  try {
    st = await lstat(host.path(hostPath), { bigint: true });
  } catch (err) {
    return isNotFound(err) ? NO_NODE : `cannot be examined: ${plainReason(err)}`;
  }
  if (st.isSymbolicLink()) return 'is a symlink';
  if (!st.isCharacterDevice()) return 'is not a character device';
  const { major, minor } = splitDev(st.rdev);
  if ((expected.major !== null && expected.major !== major) || (expected.minor !== null && expected.minor !== minor)) {
    return `is ${major}:${minor}, not ${expected.major ?? '*'}:${expected.minor ?? '*'}`;
  }
  return null;
}

/** Linux's dev_t layout, as glibc's gnu_dev_major and gnu_dev_minor read it. */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}
