/**
 * Writes the /sys part of a HostSpec the way the kernel lays it out: each
 * PCI function's directory lives under /sys/devices/pci<domain>:<bus>/ (one
 * level deeper per bridge), and /sys/bus/pci/devices, /sys/bus/pci/drivers,
 * /sys/class and /sys/dev/char hold symlinks into it. Every link is
 * relative, so the tree can be moved or mounted anywhere.
 */
import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import type { HostSpec, PciFunctionSpec, SysfsCharDevice } from './host-spec.js';
import {
  charDeviceDevAttribute,
  charDeviceUevent,
  pciClassAttribute,
  pciIdAttribute,
  pciModalias,
  pciRevisionAttribute,
  pciUevent,
} from './kernel-text.js';
import { mkdirIn, treePath } from './tree-path.js';

/** Host path of a PCI function's own sysfs directory. */
export function pciDevicePath(fn: PciFunctionSpec, byAddress: ReadonlyMap<string, PciFunctionSpec>): string {
  const chain: string[] = [];
  let cur: PciFunctionSpec | undefined = fn;
  for (let depth = 0; cur !== undefined; depth++) {
    if (depth > 32) throw new AccelError(ErrorCode.SIMHOST, `PCI parent chain of ${fn.address} loops`);
    chain.unshift(cur.address);
    if (cur.parent === null) break;
    const parent = byAddress.get(cur.parent);
    if (parent === undefined) throw new AccelError(ErrorCode.SIMHOST, `PCI ${cur.address}: parent ${cur.parent} is not in the spec`);
    cur = parent;
  }
  const top = chain[0]!;
  const hostBridge = `pci${top.slice(0, top.lastIndexOf(':'))}`;
  return `/sys/devices/${hostBridge}/${chain.join('/')}`;
}

/** A relative link target from the directory of `linkPath` to `targetPath` (both host paths). */
export function relativeTarget(linkPath: string, targetPath: string): string {
  return path.posix.relative(path.posix.dirname(linkPath), targetPath);
}

export async function writeSysfs(root: string, spec: HostSpec): Promise<void> {
  const byAddress = new Map(spec.pci.map((fn) => [fn.address, fn]));
  const w = new TreeWriter(root);

  await w.dir('/sys/bus/pci/devices');
  await w.dir('/sys/bus/pci/drivers');
  for (const fn of spec.pci) {
    const dir = pciDevicePath(fn, byAddress);
    await w.dir(dir);
    await w.file(`${dir}/vendor`, pciIdAttribute(fn.vendorId));
    await w.file(`${dir}/device`, pciIdAttribute(fn.deviceId));
    await w.file(`${dir}/subsystem_vendor`, pciIdAttribute(fn.subsystemVendorId));
    await w.file(`${dir}/subsystem_device`, pciIdAttribute(fn.subsystemDeviceId));
    await w.file(`${dir}/class`, pciClassAttribute(fn.classCode));
    await w.file(`${dir}/revision`, pciRevisionAttribute(fn.revision));
    await w.file(`${dir}/numa_node`, `${fn.numaNode}\n`);
    await w.file(`${dir}/irq`, `${fn.irq}\n`);
    await w.file(`${dir}/local_cpulist`, `${fn.localCpuList}\n`);
    await w.file(`${dir}/enable`, '1\n', 0o644);
    await w.file(`${dir}/modalias`, `${pciModalias(fn)}\n`);
    await w.file(`${dir}/uevent`, pciUevent(fn), 0o644);
    await w.link(`${dir}/subsystem`, '/sys/bus/pci');
    await w.link(`/sys/bus/pci/devices/${fn.address}`, dir);
    if (fn.driver !== null) {
      await w.link(`${dir}/driver`, `/sys/bus/pci/drivers/${fn.driver}`);
      await w.dir(`/sys/bus/pci/drivers/${fn.driver}`);
      await w.link(`/sys/bus/pci/drivers/${fn.driver}/${fn.address}`, dir);
    }
    for (const dev of fn.charDevices) await writeCharDevice(w, `${dir}/${dev.className}/${dev.name}`, dev, dir);
    if (fn.hwmon !== null) {
      const hw = `${dir}/hwmon/hwmon${fn.hwmon.index}`;
      await w.dir(hw);
      await w.file(`${hw}/name`, `${fn.hwmon.name}\n`);
      for (const [attr, value] of Object.entries(fn.hwmon.attributes)) await w.file(`${hw}/${safeName(attr)}`, `${value}\n`);
      await w.link(`${hw}/device`, dir);
      await w.link(`${hw}/subsystem`, '/sys/class/hwmon');
      await w.dir('/sys/class/hwmon');
      await w.link(`/sys/class/hwmon/hwmon${fn.hwmon.index}`, hw);
    }
  }
  for (const dev of spec.virtualCharDevices) await writeCharDevice(w, `/sys/devices/virtual/${dev.className}/${dev.name}`, dev, null);

  for (const drv of spec.pciDrivers) {
    const dir = `/sys/bus/pci/drivers/${safeName(drv.name)}`;
    await w.dir(dir);
    await w.file(`${dir}/bind`, '', 0o200);
    await w.file(`${dir}/unbind`, '', 0o200);
    await w.file(`${dir}/uevent`, '', 0o200);
    if (drv.module !== null) {
      await w.dir(`/sys/module/${safeName(drv.module)}/drivers`);
      await w.link(`${dir}/module`, `/sys/module/${drv.module}`);
      await w.link(`/sys/module/${drv.module}/drivers/pci:${drv.name}`, dir);
    }
  }
  for (const mod of spec.modules) {
    const dir = `/sys/module/${safeName(mod.name)}`;
    await w.dir(dir);
    await w.file(`${dir}/version`, `${mod.version}\n`);
    await w.file(`${dir}/initstate`, 'live\n');
  }
}

async function writeCharDevice(w: TreeWriter, dir: string, dev: SysfsCharDevice, parent: string | null): Promise<void> {
  await w.dir(dir);
  await w.file(`${dir}/uevent`, charDeviceUevent(dev), 0o644);
  await w.file(`${dir}/dev`, charDeviceDevAttribute(dev));
  await w.link(`${dir}/subsystem`, `/sys/class/${dev.className}`);
  if (parent !== null) await w.link(`${dir}/device`, parent);
  await w.dir(`/sys/class/${safeName(dev.className)}`);
  await w.link(`/sys/class/${dev.className}/${dev.name}`, dir);
  await w.dir('/sys/dev/char');
  await w.link(`/sys/dev/char/${dev.major}:${dev.minor}`, dir);
}

function safeName(name: string): string {
  if (!/^[A-Za-z0-9_.:+-]+$/.test(name) || name === '.' || name === '..') {
    throw new AccelError(ErrorCode.SIMHOST, `not a usable sysfs name: ${JSON.stringify(name)}`);
  }
  return name;
}

/** Creates entries inside one root; refuses to overwrite, so a duplicate in a spec is an error, not a silent merge. */
export class TreeWriter {
  constructor(readonly root: string) {}

  async dir(hostPath: string): Promise<void> {
    await mkdirIn(this.root, hostPath);
  }

  async file(hostPath: string, content: string | Buffer, mode = 0o444): Promise<void> {
    await this.dir(path.posix.dirname(hostPath));
    await this.create(hostPath, () => writeFile(treePath(this.root, hostPath), content, { mode, flag: 'wx' }));
  }

  /** A relative symlink at `hostPath` pointing at the host path `target`. */
  async link(hostPath: string, target: string): Promise<void> {
    treePath(this.root, target);
    await this.dir(path.posix.dirname(hostPath));
    await this.create(hostPath, () => symlink(relativeTarget(hostPath, target), treePath(this.root, hostPath)));
  }

  private async create(hostPath: string, make: () => Promise<void>): Promise<void> {
    try {
      await make();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new AccelError(ErrorCode.SIMHOST, `${hostPath} would be written twice`, { cause: err });
      }
      throw err;
    }
  }
}
