/**
 * The declarative description of a simulated host: everything the writer
 * puts on disk, as data. Profiles build one; the writer renders it. All paths
 * are host paths (absolute, as the agent would see them on a real node).
 */
import type { NvmlStubState } from './nvml-state.js';

/** A char device a driver registered with the device model, as sysfs shows it. */
export interface SysfsCharDevice {
  /** The class directory name (`hanguang`, `misc`, `infiniband_verbs`). */
  className: string;
  /** The kernel name of the device, the last component of its sysfs directory. */
  name: string;
  major: number;
  minor: number;
  /** `DEVNAME=` in its uevent: the node's path below /dev (`infiniband/uverbs0`). */
  devName: string;
}

/** A hardware monitor a driver registered under a PCI function (`hwmon/hwmonN`). */
export interface HwmonSpec {
  /** Global hwmon number, unique on the host. */
  index: number;
  /** The `name` attribute. */
  name: string;
  /** Attribute file → content without the trailing newline (`temp1_input` → `45000`). */
  attributes: Record<string, string>;
}

export interface PciFunctionSpec {
  /** Canonical `dddd:bb:dd.f`. */
  address: string;
  /** The upstream bridge's address, or null when the function sits on a root bus. */
  parent: string | null;
  vendorId: number;
  deviceId: number;
  /** 24-bit class code. */
  classCode: number;
  subsystemVendorId: number;
  subsystemDeviceId: number;
  revision: number;
  /** -1 when the platform reports no NUMA affinity. */
  numaNode: number;
  irq: number;
  /** CPUs near the function, in the kernel's list format (`0-27`). */
  localCpuList: string;
  /** The bound driver, or null when none is bound. */
  driver: string | null;
  charDevices: SysfsCharDevice[];
  hwmon: HwmonSpec | null;
}

/** A device node under /dev. */
export interface DeviceNodeSpec {
  path: string;
  major: number;
  minor: number;
  /** Permission bits, e.g. 0o666. */
  mode: number;
}

export interface FileSpec {
  path: string;
  content: string;
  mode: number;
}

/** Which built native artifact a library or binary is a copy of. */
export type NativeArtifact =
  | { kind: 'nvml-stub' }
  | { kind: 'fake-lib'; soname: string }
  | { kind: 'nvidia-smi' };

/** One shared library: its real file and the links pointing at it (soname link first). */
export interface LibrarySpec {
  /** Host path of the real file, e.g. /usr/lib/x86_64-linux-gnu/libcuda.so.470.82.01. */
  path: string;
  soname: string;
  /** Link names in the same directory: the soname link points at the real file, any other at the soname link. */
  links: string[];
  artifact: NativeArtifact;
}

/** An executable: a copy of a native artifact, or a small script standing in for a tool we do not simulate. */
export interface BinarySpec {
  path: string;
  artifact: NativeArtifact | null;
}

export interface KernelModuleSpec {
  name: string;
  version: string;
}

/** The NVML stub's state and where the stub will look for it (beside the library). */
export interface NvmlSpec {
  dir: string;
  state: NvmlStubState;
}

export interface HostSpec {
  profile: string;
  description: string;
  pci: PciFunctionSpec[];
  /** Char devices registered without a PCI parent (`/sys/devices/virtual/<class>/<name>`). */
  virtualCharDevices: SysfsCharDevice[];
  modules: KernelModuleSpec[];
  /** Loaded PCI drivers (`/sys/bus/pci/drivers/<name>`) and the module each belongs to. */
  pciDrivers: { name: string; module: string | null }[];
  deviceNodes: DeviceNodeSpec[];
  files: FileSpec[];
  directories: string[];
  libraries: LibrarySpec[];
  binaries: BinarySpec[];
  /** Host paths of unix sockets a daemon would listen on. */
  sockets: string[];
  nvml: NvmlSpec | null;
  /** Host path of the simulated kernel log (a regular file that mutation helpers append to). */
  kmsg: string;
}
