/** Small hand-made host trees (sysfs PCI functions, procfs, /dev) for discovery tests. */
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';

export async function tempRoot(prefix = 'discovery-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function put(root: string, hostPath: string, content: string): Promise<void> {
  const file = path.join(root, hostPath);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

export async function link(root: string, hostPath: string, target: string): Promise<void> {
  const file = path.join(root, hostPath);
  await mkdir(path.dirname(file), { recursive: true });
  await symlink(target, file);
}

export interface FakeFunction {
  address: string;
  vendor?: string;
  device?: string;
  class?: string;
  subsystemVendor?: string;
  subsystemDevice?: string;
  numa?: string;
  driver?: string | null;
  uevent?: string;
  /** Directory of the function below /sys/devices; defaults to pci0000:00/<address>. */
  under?: string;
}

/** Writes a PCI function the way the kernel lays it out, with the bus link pointing at it. */
export async function pciFunction(root: string, f: FakeFunction): Promise<string> {
  const dir = `/sys/devices/${f.under ?? 'pci0000:00'}/${f.address}`;
  const attrs: Array<[string, string | undefined]> = [
    ['vendor', f.vendor ?? '0x10de\n'],
    ['device', f.device ?? '0x1bb3\n'],
    ['class', f.class ?? '0x030200\n'],
    ['subsystem_vendor', f.subsystemVendor ?? '0x10de\n'],
    ['subsystem_device', f.subsystemDevice ?? '0x1204\n'],
    ['numa_node', f.numa ?? '-1\n'],
    ['uevent', f.uevent ?? `PCI_SLOT_NAME=${f.address}\n`],
  ];
  for (const [name, content] of attrs) if (content !== undefined) await put(root, `${dir}/${name}`, content);
  await mkdir(path.join(root, dir), { recursive: true });
  const depth = dir.split('/').length - 1;
  // Relative links, as the kernel's, so the tree means the same wherever it is rooted.
  await link(root, `/sys/bus/pci/devices/${f.address}`, `../../../../${dir.slice(1)}`);
  if (f.driver !== null && f.driver !== undefined) {
    await mkdir(path.join(root, `/sys/bus/pci/drivers/${f.driver}`), { recursive: true });
    await link(root, `${dir}/driver`, `${'../'.repeat(depth)}sys/bus/pci/drivers/${f.driver}`);
  }
  return dir;
}

let mknodProbe: string | false | undefined;

/**
 * Why char device nodes cannot be made here (mknod needs root and a
 * filesystem that allows device nodes), or false. Tests that need real
 * nodes skip with this reason.
 */
export function mknodUnavailable(): string | false {
  if (mknodProbe !== undefined) return mknodProbe;
  const dir = mkdtempSync(path.join(tmpdir(), 'mknod-probe-'));
  try {
    execFileSync('mknod', [path.join(dir, 'probe'), 'c', '1', '3'], { stdio: 'ignore' });
    mknodProbe = false;
  } catch {
    mknodProbe = 'cannot create char device nodes here (mknod needs root)';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return mknodProbe;
}

/** A char device node; see mknodUnavailable. */
export async function charDevice(root: string, hostPath: string, major: number, minor: number): Promise<void> {
  const file = path.join(root, hostPath);
  await mkdir(path.dirname(file), { recursive: true });
  execFileSync('mknod', [file, 'c', String(major), String(minor)]);
}
