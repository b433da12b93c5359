import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';

/** The manifest at the root of every simulated host; its presence is what marks a tree as one. */
export const MANIFEST_FILE = '.simhost.json';
export const MANIFEST_FORMAT = 1;

export interface ManifestDeviceNode {
  path: string;
  major: number;
  minor: number;
  /** False when mknod was refused and a regular file stands in for the node. */
  real: boolean;
}

export interface SimhostManifest {
  format: typeof MANIFEST_FORMAT;
  profile: string;
  description: string;
  agentVersion: string;
  createdAt: string;
  options: { count: number | null; strictDevices: boolean };
  pciFunctions: { address: string; vendorId: string; deviceId: string; classCode: string; driver: string | null }[];
  deviceNodes: ManifestDeviceNode[];
  libraries: { path: string; soname: string; links: string[] }[];
  binaries: { path: string; copyOf: string | null }[];
  sockets: { path: string; real: boolean }[];
  /** Host paths of the NVML stub's state and event files, null on hosts without NVIDIA. */
  nvml: { conf: string; events: string } | null;
  /** Host path of the simulated kernel log. */
  kmsg: string;
  ldCache: { built: boolean; detail: string };
  /** Host paths of everything that stands in for something a real host has in another form. */
  placeholders: string[];
  warnings: string[];
}

/** Reads and shape-checks the manifest of the simulated host at `root`. */
export async function readManifest(root: string): Promise<SimhostManifest> {
  const file = path.join(root, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AccelError(ErrorCode.SIMHOST, `${root} is not a simulated host: cannot read ${MANIFEST_FILE}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AccelError(ErrorCode.SIMHOST, `${file} is not valid JSON`, { cause: err });
  }
  const problem = manifestProblem(raw);
  if (problem !== null) throw new AccelError(ErrorCode.SIMHOST, `${file}: ${problem}`);
  return raw as SimhostManifest;
}

/** Why `raw` is not a manifest this code can use, or null. Checks only what the helpers rely on. */
export function manifestProblem(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not a JSON object';
  const m = raw as Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) return `unsupported format ${JSON.stringify(m.format)} (expected ${MANIFEST_FORMAT})`;
  if (typeof m.profile !== 'string') return 'profile is not a string';
  if (!isHostPath(m.kmsg)) return 'kmsg is not an absolute path';
  if (m.nvml !== null) {
    const n = m.nvml as Record<string, unknown> | undefined;
    if (typeof n !== 'object' || !isHostPath(n.conf) || !isHostPath(n.events)) return 'nvml must be null or { conf, events } absolute paths';
  }
  if (!Array.isArray(m.deviceNodes)) return 'deviceNodes is not a list';
  return null;
}

function isHostPath(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith('/') && !v.split('/').includes('..') && !v.includes('\0');
}
