/**
 * Changes a simulated host the way real events change a real one, for tests
 * that watch the agent react: hot-unplug and replug of a PCI function, a
 * device node vanishing, the NVIDIA driver unloading, kernel log lines,
 * sensor readings. Every removal is reversible (see stash.ts).
 */
import { appendFile, lstat, readFile, readdir, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { HostRoot, isWithin } from '../host/host-root.js';
import { canonicalPciBusId } from '../model/device.js';
import { kmsgRecord, xidMessage } from './kernel-text.js';
import { readManifest } from './manifest.js';
import { replaceFile } from './nvml-state.js';
import { Stash, restoreStash } from './stash.js';
import { checkedTreePath } from './tree-path.js';

const PCI_DEVICES = '/sys/bus/pci/devices';
/** Directories whose symlinks point at device directories and vanish with them. */
const LINK_DIRS = [PCI_DEVICES, '/sys/dev/char'];
const LINK_DIR_PARENTS = ['/sys/bus/pci/drivers', '/sys/class'];
const NVIDIA_MODULES = ['nvidia', 'nvidia_uvm', 'nvidia_modeset'];
const NVIDIA_DRIVER_KEY = 'driver-nvidia';

// ---- PCI hot-unplug ----

/**
 * Removes a PCI function (and anything behind it, if it is a bridge) as a
 * surprise removal would: its sysfs directory, every sysfs link into it,
 * and the NVIDIA driver's /proc entry. NVML state is left alone; pair this
 * with `markLost` to simulate what NVML then reports.
 */
export async function unplugPciFunction(root: string, address: string): Promise<void> {
  const addr = canonicalPciBusId(address);
  const host = new HostRoot(root);
  const dir = await host.resolveWithin(`${PCI_DEVICES}/${addr}`, ['/sys/devices']);
  if (dir === null) throw new AccelError(ErrorCode.SIMHOST, `PCI function ${addr} is not present`);
  const stash = await Stash.begin(root, unplugKey(addr));
  for (const link of await linksInto(root, dir)) await stash.move(link);
  await stash.move(dir);
  await stash.move(`/proc/driver/nvidia/gpus/${addr}`);
}

/** Puts back a function removed by `unplugPciFunction`. */
export async function replugPciFunction(root: string, address: string): Promise<void> {
  await restoreStash(root, unplugKey(canonicalPciBusId(address)));
}

function unplugKey(addr: string): string {
  return `unplug-${addr}`;
}

/** Host paths of the symlinks in sysfs's link directories that lead into `dir`. */
async function linksInto(root: string, dir: string): Promise<string[]> {
  const dirs = [...LINK_DIRS];
  for (const parent of LINK_DIR_PARENTS) {
    for (const name of await listDir(root, parent)) dirs.push(`${parent}/${name}`);
  }
  const out: string[] = [];
  for (const linkDir of dirs) {
    for (const name of await listDir(root, linkDir)) {
      const link = `${linkDir}/${name}`;
      const full = await checkedTreePath(root, link);
      if (!(await lstat(full)).isSymbolicLink()) continue;
      const target = path.posix.resolve(linkDir, await readlink(full));
      if (isWithin(target, dir)) out.push(link);
    }
  }
  return out;
}

// ---- device nodes ----

/** Removes a node under /dev, keeping it (still a char device) for `restoreDeviceNode`. */
export async function removeDeviceNode(root: string, hostPath: string): Promise<void> {
  const node = devPath(hostPath);
  if (!(await exists(root, node))) throw new AccelError(ErrorCode.SIMHOST, `${node} does not exist`);
  const stash = await Stash.begin(root, nodeKey(node));
  await stash.move(node);
}

export async function restoreDeviceNode(root: string, hostPath: string): Promise<void> {
  await restoreStash(root, nodeKey(devPath(hostPath)));
}

function devPath(hostPath: string): string {
  const p = path.posix.normalize(hostPath);
  if (!p.startsWith('/dev/') || p.includes('\0')) throw new AccelError(ErrorCode.SIMHOST, `${JSON.stringify(hostPath)} is not under /dev`);
  return p;
}

function nodeKey(node: string): string {
  return `node${node.replaceAll('/', '_')}`;
}

// ---- NVIDIA driver unload ----

/**
 * Unloads the NVIDIA driver: functions lose their `driver` link and
 * `DRIVER=` line, the driver's sysfs, module and /proc entries and its
 * /proc/devices majors go, and the NVML stub loses its state file, so
 * nvmlInit fails with NVML_ERROR_DRIVER_NOT_LOADED and nvidia-smi with it.
 * Device nodes stay, as they do on a real host (nvidia-modprobe made them).
 */
export async function unloadNvidiaDriver(root: string): Promise<void> {
  const manifest = await readManifest(root);
  if (!(await exists(root, '/proc/driver/nvidia')) && !(await exists(root, '/sys/module/nvidia'))) {
    throw new AccelError(ErrorCode.SIMHOST, `no NVIDIA driver is loaded on simulated host ${root} (profile ${manifest.profile})`);
  }
  const host = new HostRoot(root);
  const stash = await Stash.begin(root, NVIDIA_DRIVER_KEY);
  for (const name of await listDir(root, '/sys/bus/pci/drivers/nvidia')) {
    if (pciAddressOrNull(name) === null) continue;
    const fnDir = await host.resolveWithin(`/sys/bus/pci/drivers/nvidia/${name}`, ['/sys/devices']);
    if (fnDir === null) continue;
    await stash.move(`${fnDir}/driver`);
    const uevent = await readFile(await checkedTreePath(root, `${fnDir}/uevent`), 'utf8');
    await stash.replace(`${fnDir}/uevent`, withoutDriverLine(uevent));
  }
  await stash.move('/sys/bus/pci/drivers/nvidia');
  for (const mod of NVIDIA_MODULES) await stash.move(`/sys/module/${mod}`);
  await stash.move('/proc/driver/nvidia');
  const devices = await readFile(await checkedTreePath(root, '/proc/devices'), 'utf8');
  await stash.replace('/proc/devices', withoutNvidiaMajors(devices), 0o444);
  if (manifest.nvml !== null) await stash.move(manifest.nvml.conf);
}

/** Reverses `unloadNvidiaDriver`. */
export async function loadNvidiaDriver(root: string): Promise<void> {
  await restoreStash(root, NVIDIA_DRIVER_KEY);
}

export function withoutDriverLine(uevent: string): string {
  return uevent
    .split('\n')
    .filter((l) => !l.startsWith('DRIVER='))
    .join('\n');
}

export function withoutNvidiaMajors(procDevices: string): string {
  return procDevices
    .split('\n')
    .filter((l) => !/^\s*\d+ nvidia/.test(l))
    .join('\n');
}

// ---- kernel log ----

export interface KmsgOptions {
  /** Syslog level, 3 (err) by default. */
  level?: number;
  /** 0 = kernel (default); a process writing to /dev/kmsg gets 1 (user). */
  facility?: number;
}

/**
 * Appends one record to the simulated kernel log, `/dev/kmsg` in the tree:
 * a regular file holding records exactly as reading the real /dev/kmsg
 * returns them (`prio,seq,usec,flags;message`), with sequence numbers
 * continuing from the last record.
 */
export async function appendKmsg(root: string, message: string, options: KmsgOptions = {}): Promise<void> {
  if (/[\n\0]/.test(message)) throw new AccelError(ErrorCode.SIMHOST, 'a kmsg message is one line');
  const level = options.level ?? 3;
  const facility = options.facility ?? 0;
  if (!Number.isInteger(level) || level < 0 || level > 7 || !Number.isInteger(facility) || facility < 0 || facility > 23) {
    throw new AccelError(ErrorCode.SIMHOST, `bad kmsg level ${level} or facility ${facility}`);
  }
  const file = await checkedTreePath(root, (await readManifest(root)).kmsg);
  const last = lastRecordHeader(await readFile(file, 'utf8'));
  const usec = Math.max((last?.usec ?? 0) + 1, Math.round(os.uptime() * 1e6));
  await appendFile(file, kmsgRecord({ facility, level, seq: (last?.seq ?? -1) + 1, usec, message }), { flag: 'a' });
}

/** Appends the driver's Xid report for the GPU at `address`. */
export async function appendXid(root: string, address: string, xid: number, pid = 0): Promise<void> {
  await appendKmsg(root, xidMessage(canonicalPciBusId(address), xid, pid));
}

function lastRecordHeader(text: string): { seq: number; usec: number } | null {
  const lines = text.split('\n').filter((l) => /^\d+,\d+,\d+,/.test(l));
  const last = lines.at(-1);
  if (last === undefined) return null;
  const [, seq, usec] = last.split(',');
  return { seq: Number(seq), usec: Number(usec) };
}

// ---- sensors and attributes ----

/** Rewrites one hwmon attribute (`temp1_input` in millidegrees, `power1_average` in microwatts) of a PCI function. */
export async function setHwmonAttribute(root: string, address: string, attribute: string, value: number | string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(attribute)) throw new AccelError(ErrorCode.SIMHOST, `bad hwmon attribute ${JSON.stringify(attribute)}`);
  const host = new HostRoot(root);
  const dir = await host.resolveWithin(`${PCI_DEVICES}/${canonicalPciBusId(address)}`, ['/sys/devices']);
  if (dir === null) throw new AccelError(ErrorCode.SIMHOST, `PCI function ${address} is not present`);
  const hwmons = (await listDir(root, `${dir}/hwmon`)).filter((n) => /^hwmon\d+$/.test(n));
  if (hwmons.length === 0) throw new AccelError(ErrorCode.SIMHOST, `PCI function ${address} has no hwmon`);
  await writeSysfsAttribute(root, `${dir}/hwmon/${hwmons[0]}/${attribute}`, String(value));
}

/** Replaces a sysfs attribute file's content; the path may go through sysfs links but must stay in /sys. */
export async function writeSysfsAttribute(root: string, hostPath: string, value: string): Promise<void> {
  const resolved = await new HostRoot(root).resolveWithin(hostPath, ['/sys']);
  if (resolved === null) throw new AccelError(ErrorCode.SIMHOST, `${hostPath} does not exist`);
  const full = await checkedTreePath(root, resolved);
  if (!(await lstat(full)).isFile()) throw new AccelError(ErrorCode.SIMHOST, `${hostPath} is not an attribute file`);
  await replaceFile(full, value.endsWith('\n') ? value : value + '\n', 0o444);
}

function pciAddressOrNull(name: string): string | null {
  try {
    return /^[0-9a-f]{4,8}:/.test(name) ? canonicalPciBusId(name) : null;
  } catch {
    return null;
  }
}

async function listDir(root: string, hostDir: string): Promise<string[]> {
  try {
    const full = await checkedTreePath(root, hostDir);
    if (!(await lstat(full)).isDirectory()) return [];
    return (await readdir(full)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function exists(root: string, hostPath: string): Promise<boolean> {
  try {
    await lstat(await checkedTreePath(root, hostPath));
    return true;
  } catch {
    return false;
  }
}
