/**
 * Assembles a HostSpec piece by piece (pure). Profiles call it to lay down
 * the skeleton every host has, then add their vendor stacks; the builder
 * keeps the shared tables (/proc/devices, ld.so.conf.d, hwmon numbering)
 * consistent across the pieces.
 */
import { AccelError, ErrorCode } from '../errors.js';
import type {
  BinarySpec,
  DeviceNodeSpec,
  FileSpec,
  HostSpec,
  HwmonSpec,
  KernelModuleSpec,
  LibrarySpec,
  NvmlSpec,
  PciFunctionSpec,
  SysfsCharDevice,
} from './host-spec.js';
import { procDevices } from './kernel-text.js';

export const MULTIARCH_LIB_DIR = '/usr/lib/x86_64-linux-gnu';
export const KMSG_PATH = '/dev/kmsg';

/** Where a function goes on the PCI topology and which CPUs are near it. */
export interface Placement {
  address: string;
  parent: string | null;
  numaNode: number;
  localCpuList: string;
}

export interface MachineShape {
  cpus: number;
  /** 0 when the platform exposes no NUMA information (functions report -1). */
  numaNodes: number;
}

export type PciFunctionInput = Omit<PciFunctionSpec, 'address' | 'parent' | 'numaNode' | 'localCpuList' | 'charDevices' | 'hwmon' | 'irq'> &
  Partial<Pick<PciFunctionSpec, 'charDevices' | 'hwmon'>>;

export class SpecBuilder {
  private readonly pci: PciFunctionSpec[] = [];
  private readonly virtualCharDevices: SysfsCharDevice[] = [];
  private readonly modules = new Map<string, KernelModuleSpec>();
  private readonly pciDrivers = new Map<string, string | null>();
  private readonly deviceNodes: DeviceNodeSpec[] = [];
  private readonly files: FileSpec[] = [];
  private readonly directories = new Set<string>();
  private readonly libraries: LibrarySpec[] = [];
  private readonly binaries: BinarySpec[] = [];
  private readonly sockets: string[] = [];
  private readonly charMajors: [number, string][] = [];
  private readonly blockMajors: [number, string][] = [];
  private readonly ldConf = new Map<string, string[]>();
  private nvml: NvmlSpec | null = null;
  private nextIrq = 24;
  private nextHwmon = 0;

  constructor(
    readonly profile: string,
    readonly description: string,
    readonly machine: MachineShape,
  ) {}

  addPciFunction(placement: Placement, fn: PciFunctionInput): PciFunctionSpec {
    if (this.pci.some((p) => p.address === placement.address)) {
      throw new AccelError(ErrorCode.SIMHOST, `profile ${this.profile}: PCI address ${placement.address} used twice`);
    }
    const spec: PciFunctionSpec = { charDevices: [], hwmon: null, ...fn, ...placement, irq: this.nextIrq++ };
    this.pci.push(spec);
    if (spec.driver !== null && !this.pciDrivers.has(spec.driver)) this.pciDrivers.set(spec.driver, null);
    return spec;
  }

  /** Registers a PCI driver's module (for the `module` link under /sys/bus/pci/drivers/<name>). */
  pciDriverModule(driver: string, module: string): void {
    this.pciDrivers.set(driver, module);
  }

  hwmon(name: string, attributes: Record<string, string>): HwmonSpec {
    return { index: this.nextHwmon++, name, attributes };
  }

  addVirtualCharDevice(dev: SysfsCharDevice): void {
    this.virtualCharDevices.push(dev);
  }

  addModule(name: string, version: string): void {
    this.modules.set(name, { name, version });
  }

  addDeviceNode(path: string, major: number, minor: number, mode = 0o666): void {
    this.deviceNodes.push({ path, major, minor, mode });
  }

  addFile(path: string, content: string, mode = 0o644): void {
    this.files.push({ path, content, mode });
  }

  addDirectory(path: string): void {
    this.directories.add(path);
  }

  addLibrary(lib: LibrarySpec): void {
    this.libraries.push(lib);
  }

  addBinary(bin: BinarySpec): void {
    this.binaries.push(bin);
  }

  addSocket(path: string): void {
    this.sockets.push(path);
  }

  addCharMajor(major: number, name: string): void {
    this.charMajors.push([major, name]);
  }

  /** Lists `dirs` in `/etc/ld.so.conf.d/<name>.conf`. */
  addLdConf(name: string, dirs: string[]): void {
    this.ldConf.set(name, dirs);
    for (const d of dirs) this.directories.add(d);
  }

  setNvml(nvml: NvmlSpec): void {
    this.nvml = nvml;
  }

  /** CPUs near a NUMA node, evenly split; every CPU when the platform has no NUMA information. */
  cpuList(numaNode: number): string {
    const { cpus, numaNodes } = this.machine;
    if (numaNode < 0 || numaNodes === 0) return `0-${cpus - 1}`;
    const per = Math.floor(cpus / numaNodes);
    return `${numaNode * per}-${(numaNode + 1) * per - 1}`;
  }

  /** A function on root bus 00 of domain 0000 at `slot`, as a VM's emulated devices are. */
  rootBus(slot: number, fn = 0): Placement {
    if (slot < 0 || slot > 0x1f) throw new AccelError(ErrorCode.SIMHOST, `profile ${this.profile}: PCI slot ${slot} out of range`);
    return { address: `0000:00:${slot.toString(16).padStart(2, '0')}.${fn}`, parent: null, numaNode: -1, localCpuList: this.cpuList(-1) };
  }

  /**
   * `count` endpoints spread over the NUMA nodes, each behind its own root
   * port, as on servers: node n's host bridge owns buses from n*0x80, root
   * ports sit at slots 0x10.. on that bus (clear of the emulated devices)
   * and each leads to the next bus.
   */
  behindRootPorts(count: number, rootPort: Omit<PciFunctionInput, 'driver'>): Placement[] {
    const nodes = Math.max(1, this.machine.numaNodes);
    const perNode = new Array<number>(nodes).fill(0);
    const out: Placement[] = [];
    for (let i = 0; i < count; i++) {
      const node = Math.floor((i * nodes) / count);
      const k = perNode[node]!++;
      if (k > 0x0f) throw new AccelError(ErrorCode.SIMHOST, `profile ${this.profile}: too many functions on NUMA node ${node}`);
      const rootBus = node * 0x80;
      const numa = this.machine.numaNodes === 0 ? -1 : node;
      const portAddress = `0000:${hex2(rootBus)}:${hex2(0x10 + k)}.0`;
      this.addPciFunction(
        { address: portAddress, parent: null, numaNode: numa, localCpuList: this.cpuList(numa) },
        { ...rootPort, driver: 'pcieport' },
      );
      out.push({ address: `0000:${hex2(rootBus + 1 + k)}:00.0`, parent: portAddress, numaNode: numa, localCpuList: this.cpuList(numa) });
    }
    return out;
  }

  build(): HostSpec {
    const files = [...this.files];
    files.push({ path: '/proc/devices', content: procDevices(this.charMajors, this.blockMajors), mode: 0o444 });
    files.push({ path: '/etc/ld.so.conf', content: 'include /etc/ld.so.conf.d/*.conf\n', mode: 0o644 });
    for (const [name, dirs] of [...this.ldConf].sort((a, b) => a[0].localeCompare(b[0]))) {
      files.push({ path: `/etc/ld.so.conf.d/${name}.conf`, content: dirs.join('\n') + '\n', mode: 0o644 });
    }
    return {
      profile: this.profile,
      description: this.description,
      pci: [...this.pci].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)),
      virtualCharDevices: [...this.virtualCharDevices],
      modules: [...this.modules.values()],
      pciDrivers: [...this.pciDrivers].map(([name, module]) => ({ name, module })),
      deviceNodes: [...this.deviceNodes],
      files,
      directories: [...this.directories].sort(),
      libraries: [...this.libraries],
      binaries: [...this.binaries],
      sockets: [...this.sockets],
      nvml: this.nvml,
      kmsg: KMSG_PATH,
    };
  }

  /**
   * What every host has whatever its accelerators: a KVM guest's emulated
   * PCI devices (including a non-NVIDIA VGA controller and a virtio NIC that
   * discovery must pass over), the usual /dev nodes and majors, library
   * directories and an os-release.
   */
  addSkeleton(): void {
    const qemu = { subsystemVendorId: 0x1af4, subsystemDeviceId: 0x1100, revision: 0 };
    this.addPciFunction(this.rootBus(0), { ...qemu, vendorId: 0x8086, deviceId: 0x1237, classCode: 0x060000, revision: 2, driver: null });
    this.addPciFunction(this.rootBus(1), { ...qemu, vendorId: 0x8086, deviceId: 0x7000, classCode: 0x060100, driver: null });
    this.addPciFunction(this.rootBus(1, 1), { ...qemu, vendorId: 0x8086, deviceId: 0x7010, classCode: 0x010180, driver: 'ata_piix' });
    this.addPciFunction(this.rootBus(2), { ...qemu, vendorId: 0x1013, deviceId: 0x00b8, classCode: 0x030000, driver: null });
    const virtio = (deviceId: number, classCode: number, sub: number): PciFunctionInput => ({
      vendorId: 0x1af4,
      deviceId,
      classCode,
      subsystemVendorId: 0x1af4,
      subsystemDeviceId: sub,
      revision: 0,
      driver: 'virtio-pci',
    });
    this.addPciFunction(this.rootBus(3), virtio(0x1000, 0x020000, 0x0001));
    this.addPciFunction(this.rootBus(4), virtio(0x1001, 0x010000, 0x0002));
    this.addPciFunction(this.rootBus(5), virtio(0x1002, 0x00ff00, 0x0005));
    this.pciDriverModule('virtio-pci', 'virtio_pci');
    this.pciDriverModule('ata_piix', 'ata_piix');
    this.pciDriverModule('pcieport', 'pcieportdrv');

    for (const [name, minor] of [['null', 3], ['zero', 5], ['full', 7], ['random', 8], ['urandom', 9]] as const) {
      this.addDeviceNode(`/dev/${name}`, 1, minor);
    }
    for (const [major, name] of BASE_CHAR_MAJORS) this.charMajors.push([major, name]);
    for (const [major, name] of BASE_BLOCK_MAJORS) this.blockMajors.push([major, name]);
    this.addFile(KMSG_PATH, '', 0o644);

    this.addLdConf('libc', ['/usr/local/lib']);
    this.addLdConf('x86_64-linux-gnu', ['/usr/local/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', MULTIARCH_LIB_DIR]);
    this.addDirectory('/usr/bin');
    this.addDirectory('/run');
    this.addDirectory('/tmp');
    this.addFile('/etc/os-release', OS_RELEASE);
    this.addFile('/etc/hostname', `simhost-${this.profile}\n`);
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

const BASE_CHAR_MAJORS: readonly (readonly [number, string])[] = [
  [1, 'mem'],
  [4, '/dev/vc/0'],
  [4, 'tty'],
  [4, 'ttyS'],
  [5, '/dev/tty'],
  [5, '/dev/console'],
  [5, '/dev/ptmx'],
  [7, 'vcs'],
  [10, 'misc'],
  [13, 'input'],
  [29, 'fb'],
  [128, 'ptm'],
  [136, 'pts'],
  [180, 'usb'],
  [189, 'usb_device'],
  [202, 'cpu/msr'],
  [203, 'cpu/cpuid'],
  [226, 'drm'],
  [249, 'hidraw'],
  [252, 'bsg'],
  [253, 'watchdog'],
  [254, 'rtc'],
];

const BASE_BLOCK_MAJORS: readonly (readonly [number, string])[] = [
  [7, 'loop'],
  [8, 'sd'],
  [9, 'md'],
  [11, 'sr'],
  [65, 'sd'],
  [253, 'device-mapper'],
  [254, 'virtblk'],
];

const OS_RELEASE = [
  'NAME="Ubuntu"',
  'VERSION="20.04.6 LTS (Focal Fossa)"',
  'ID=ubuntu',
  'ID_LIKE=debian',
  'PRETTY_NAME="Ubuntu 20.04.6 LTS"',
  'VERSION_ID="20.04"',
  'VERSION_CODENAME=focal',
  '',
].join('\n');
