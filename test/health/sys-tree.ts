import { mkdtemp, mkdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HealthTarget } from '../../agent/health/signals.js';

/**
 * A throw-away host tree laid out like sysfs, /dev and /proc: PCI functions
 * live under /sys/devices and are reached through relative symlinks in
 * /sys/bus/pci/devices, drivers bind through a `driver` link, as on a node.
 */
export class SysTree {
  private constructor(readonly root: string) {}

  static async create(prefix = 'health-tree-'): Promise<SysTree> {
    const tree = new SysTree(await mkdtemp(path.join(tmpdir(), prefix)));
    await mkdir(tree.p('/sys/bus/pci/devices'), { recursive: true });
    await mkdir(tree.p('/dev'), { recursive: true });
    return tree;
  }

  p(hostPath: string): string {
    return path.join(this.root, hostPath);
  }

  async addFunction(bdf: string, vendorId: string, driver: string | null): Promise<void> {
    const dir = this.p(`/sys/devices/pci0000:00/${bdf}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'vendor'), `${vendorId}\n`);
    await writeFile(path.join(dir, 'class'), '0x030200\n');
    await symlink(`../../../devices/pci0000:00/${bdf}`, this.p(`/sys/bus/pci/devices/${bdf}`));
    if (driver !== null) await this.bind(bdf, driver);
  }

  async removeFunction(bdf: string): Promise<void> {
    await this.unbind(bdf);
    await rm(this.p(`/sys/bus/pci/devices/${bdf}`), { force: true });
    await rm(this.p(`/sys/devices/pci0000:00/${bdf}`), { recursive: true, force: true });
  }

  /** As the kernel binds: the function's `driver` link, and the function listed in the driver's directory. */
  async bind(bdf: string, driver: string): Promise<void> {
    await mkdir(this.p(`/sys/bus/pci/drivers/${driver}`), { recursive: true });
    await symlink(`../../../bus/pci/drivers/${driver}`, this.p(`/sys/devices/pci0000:00/${bdf}/driver`));
    await symlink(`../../../../devices/pci0000:00/${bdf}`, this.p(`/sys/bus/pci/drivers/${driver}/${bdf}`));
  }

  async unbind(bdf: string): Promise<void> {
    const link = this.p(`/sys/devices/pci0000:00/${bdf}/driver`);
    const target = await readlink(link).catch(() => null);
    if (target !== null) await rm(this.p(`/sys/bus/pci/drivers/${path.posix.basename(target)}/${bdf}`), { force: true });
    await rm(link, { force: true });
  }

  async setTemperature(bdf: string, millidegrees: string, hwmon = 'hwmon3'): Promise<void> {
    const dir = this.p(`/sys/devices/pci0000:00/${bdf}/hwmon/${hwmon}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'temp1_input'), millidegrees);
  }

  async addNode(hostPath: string): Promise<void> {
    await mkdir(path.dirname(this.p(hostPath)), { recursive: true });
    await writeFile(this.p(hostPath), '');
  }

  async removeNode(hostPath: string): Promise<void> {
    await rm(this.p(hostPath), { force: true });
  }

  async loadNvidiaDriver(): Promise<void> {
    await mkdir(this.p('/proc/driver/nvidia'), { recursive: true });
    await writeFile(this.p('/proc/driver/nvidia/version'), 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01\n');
  }

  async unloadNvidiaDriver(): Promise<void> {
    await rm(this.p('/proc/driver/nvidia'), { recursive: true, force: true });
  }

  async destroy(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** One NVIDIA GPU and one NPU, both present and bound, as most tests start. */
export async function gpuAndNpuHost(): Promise<{ tree: SysTree; gpu: HealthTarget; npu: HealthTarget }> {
  const tree = await SysTree.create();
  const gpu: HealthTarget = { id: 'GPU-aaaa', vendor: 'nvidia', index: 0, uuid: 'GPU-aaaa', pciBusId: '0000:00:07.0', deviceNodes: ['/dev/nvidia0'] };
  const npu: HealthTarget = { id: 'hanguang-0000:00:08.0', vendor: 'hanguang', index: 0, uuid: null, pciBusId: '0000:00:08.0', deviceNodes: ['/dev/npu0'] };
  await tree.addFunction(gpu.pciBusId, '0x10de', 'nvidia');
  await tree.addFunction(npu.pciBusId, '0x1ded', 'hgnpu');
  await tree.addNode('/dev/nvidia0');
  await tree.addNode('/dev/npu0');
  await tree.loadNvidiaDriver();
  return { tree, gpu, npu };
}
