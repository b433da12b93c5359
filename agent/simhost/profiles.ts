/**
 * The simulated host profiles (pure): each names a real machine shape and
 * turns into a HostSpec. Values a public source does not give are marked as
 * assumptions in the profile's `assumptions`, which `simhost profiles` prints.
 */
import { AccelError, ErrorCode } from '../errors.js';
import type { HostSpec } from './host-spec.js';
import { addNpuStack } from './npu-stack.js';
import { addNvidiaStack, type GpuModel, type NvidiaDriver } from './nvidia-stack.js';
import { VirtualizationMode } from './nvml-state.js';
import { SpecBuilder, type MachineShape, type Placement } from './spec-builder.js';

export type ProfileName = 'vgn5i' | 'gn5' | 'ebman1' | 'empty' | 'gpu16';

export interface ProfileOptions {
  /** How many accelerators instead of the profile's own number. */
  count?: number;
}

export interface ProfileInfo {
  name: ProfileName;
  description: string;
  /** The profile's own accelerator count; 0 for hosts without accelerators (no override accepted). */
  defaultCount: number;
  maxCount: number;
  assumptions: string[];
}

interface ProfileDefinition extends ProfileInfo {
  machine: MachineShape;
  build(b: SpecBuilder, count: number): void;
}

/** GRID 13.1 (vGPU software for the 470 branch) ships guest driver 470.82.01. */
const DRIVER_470: NvidiaDriver = {
  version: '470.82.01',
  buildDate: 'Wed Oct 27 21:21:55 UTC 2021',
  nvmlVersion: '11.470.82.01',
  cudaDriverVersion: 11040,
  gspFirmware: [],
};

const DRIVER_535: NvidiaDriver = {
  version: '535.129.03',
  buildDate: 'Thu Oct 19 18:56:32 UTC 2023',
  nvmlVersion: '12.535.129.03',
  cudaDriverVersion: 12020,
  gspFirmware: ['gsp_ga10x.bin', 'gsp_tu10x.bin'],
};

const GRID_P4_2Q: GpuModel = {
  name: 'GRID P4-2Q',
  deviceId: 0x1bb3,
  subsystemDeviceId: 0x1204,
  classCode: 0x030200,
  memoryMiB: 2048,
  videoBios: '00.00.00.00.00',
  ecc: false,
  powerMw: 23_000,
  clockSmMHz: 1328,
  clockMemMHz: 3003,
};

const TESLA_P100: GpuModel = {
  name: 'Tesla P100-PCIE-16GB',
  deviceId: 0x15f8,
  subsystemDeviceId: 0x118f,
  classCode: 0x030200,
  memoryMiB: 16280,
  videoBios: '86.00.4d.00.01',
  ecc: true,
  powerMw: 31_000,
  clockSmMHz: 1189,
  clockMemMHz: 715,
};

const A100_PCIE_80GB: GpuModel = {
  name: 'NVIDIA A100 80GB PCIe',
  deviceId: 0x20b5,
  subsystemDeviceId: 0x1533,
  classCode: 0x030200,
  memoryMiB: 81920,
  videoBios: '92.00.90.00.04',
  ecc: true,
  powerMw: 44_000,
  clockSmMHz: 1410,
  clockMemMHz: 1512,
};

/** Intel Xeon root port, for servers whose GPUs sit behind one each. */
const XEON_ROOT_PORT = { vendorId: 0x8086, deviceId: 0x2030, classCode: 0x060400, subsystemVendorId: 0x8086, subsystemDeviceId: 0x0000, revision: 4 };

const DEFINITIONS: readonly ProfileDefinition[] = [
  {
    name: 'vgn5i',
    description: 'ecs.vgn5i-m2.xlarge: one GRID P4-2Q vGPU (2048 MiB) in a KVM guest, GRID guest driver 470.82.01',
    defaultCount: 1,
    maxCount: 24,
    machine: { cpus: 4, numaNodes: 0 },
    assumptions: [
      'driver 470.82.01 is the GRID 13.1 guest driver; the exact build an instance image carries may differ',
      'vGPU subsystem device id 0x1204 is plausible, not taken from a real instance',
    ],
    build(b, count) {
      const placements: Placement[] = Array.from({ length: count }, (_, i) => b.rootBus(7 + i));
      addNvidiaStack(b, { gpu: GRID_P4_2Q, driver: DRIVER_470, virtualizationMode: VirtualizationMode.VGPU, placements });
    },
  },
  {
    name: 'gn5',
    description: 'ecs.gn5 class: 8 Tesla P100-PCIE-16GB passed through to a VM, 4 per NUMA node, driver 470.82.01',
    defaultCount: 8,
    maxCount: 32,
    machine: { cpus: 56, numaNodes: 2 },
    assumptions: ['PCI topology (one root port per GPU, buses from 0x01 and 0x81) is typical, not copied from an instance'],
    build(b, count) {
      addNvidiaStack(b, {
        gpu: TESLA_P100,
        driver: DRIVER_470,
        virtualizationMode: VirtualizationMode.PASSTHROUGH,
        placements: b.behindRootPorts(count, XEON_ROOT_PORT),
      });
    },
  },
  {
    name: 'ebman1',
    description: 'ecs.ebman1.26xlarge: 4 Hanguang NPUs over 2 NUMA nodes plus an Elastic RDMA adapter of the same PCI vendor',
    defaultCount: 4,
    maxCount: 32,
    machine: { cpus: 104, numaNodes: 2 },
    assumptions: [
      'NPU PCI device id 0x1000, driver/module "hanguang", nodes /dev/hanguang<N> (major 240) and /dev/hanguang_ctl (misc 10:60) are assumptions',
      'HanGuangAI runtime libhgrt.so.1 in /usr/local/hgai/lib is an assumed location',
      'hwmon temp1_input/power1_average under each NPU function are assumed to exist',
    ],
    build(b, count) {
      addNpuStack(b, { count, erdmaSlot: 6 });
    },
  },
  {
    name: 'empty',
    description: 'a KVM guest without accelerators: emulated VGA, virtio NIC and disk only',
    defaultCount: 0,
    maxCount: 0,
    machine: { cpus: 2, numaNodes: 0 },
    assumptions: [],
    build() {},
  },
  {
    name: 'gpu16',
    description: 'a benchmark host: 16 A100 80GB PCIe GPUs, 8 per NUMA node, driver 535.129.03 with GSP firmware',
    defaultCount: 16,
    maxCount: 32,
    machine: { cpus: 128, numaNodes: 2 },
    assumptions: ['16 PCIe A100s in one host is a load shape for benchmarks, not a specific instance type'],
    build(b, count) {
      addNvidiaStack(b, {
        gpu: A100_PCIE_80GB,
        driver: DRIVER_535,
        virtualizationMode: VirtualizationMode.NONE,
        placements: b.behindRootPorts(count, XEON_ROOT_PORT),
      });
    },
  },
];

export function listProfiles(): ProfileInfo[] {
  return DEFINITIONS.map(({ name, description, defaultCount, maxCount, assumptions }) => ({
    name,
    description,
    defaultCount,
    maxCount,
    assumptions: [...assumptions],
  }));
}

export function isProfileName(name: string): name is ProfileName {
  return DEFINITIONS.some((d) => d.name === name);
}

/** The HostSpec of a profile; refuses unknown profiles and counts the profile cannot lay out. */
export function buildHostSpec(name: string, options: ProfileOptions = {}): HostSpec {
  const def = DEFINITIONS.find((d) => d.name === name);
  if (def === undefined) {
    throw new AccelError(ErrorCode.SIMHOST, `unknown simhost profile ${JSON.stringify(name)}; known: ${DEFINITIONS.map((d) => d.name).join(', ')}`);
  }
  let count = def.defaultCount;
  if (options.count !== undefined) {
    if (def.maxCount === 0) throw new AccelError(ErrorCode.SIMHOST, `profile ${name} has no accelerators; a count cannot be given`);
    if (!Number.isInteger(options.count) || options.count < 1 || options.count > def.maxCount) {
      throw new AccelError(ErrorCode.SIMHOST, `profile ${name}: count must be an integer from 1 to ${def.maxCount}, got ${options.count}`);
    }
    count = options.count;
  }
  const b = new SpecBuilder(def.name, def.description, def.machine);
  b.addSkeleton();
  def.build(b, count);
  return b.build();
}
