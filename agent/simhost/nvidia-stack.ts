/**
 * The NVIDIA driver as a host shows it (pure): GPUs on PCI bound to
 * `nvidia`, their /proc entries and device nodes, the kernel module, the
 * user-space libraries and tools, and the NVML stub state that stands in
 * for the hardware.
 */
import { createHash } from 'node:crypto';
import type { NvmlStubDevice } from './nvml-state.js';
import { gpuInformationFile, nvidiaVersionFile } from './kernel-text.js';
import { MULTIARCH_LIB_DIR, type Placement, type SpecBuilder } from './spec-builder.js';

export const NVIDIA_VENDOR_ID = 0x10de;
export const NVIDIA_MAJOR = 195;
/** nvidia-uvm's major is dynamic; the kernel hands out dynamic majors from the top of its range. */
export const NVIDIA_UVM_MAJOR = 511;

export interface GpuModel {
  /** What NVML and /proc call it (`Tesla P4`, `GRID P4-2Q`). */
  name: string;
  deviceId: number;
  subsystemDeviceId: number;
  classCode: number;
  memoryMiB: number;
  videoBios: string;
  /** False for vGPU guests, which do not expose ECC counters. */
  ecc: boolean;
  powerMw: number;
  clockSmMHz: number;
  clockMemMHz: number;
}

export interface NvidiaDriver {
  version: string;
  buildDate: string;
  nvmlVersion: string;
  cudaDriverVersion: number;
  /** GSP firmware files shipped by this driver for this GPU generation; none before Turing. */
  gspFirmware: string[];
}

export interface NvidiaStackSpec {
  gpu: GpuModel;
  driver: NvidiaDriver;
  virtualizationMode: number;
  placements: Placement[];
}

/** Driver libraries besides NVML: file stem → soname, copied from the built fake libraries. */
const DRIVER_LIBRARIES: readonly { stem: string; soname: string; devLink: boolean }[] = [
  { stem: 'libcuda', soname: 'libcuda.so.1', devLink: true },
  { stem: 'libnvidia-ptxjitcompiler', soname: 'libnvidia-ptxjitcompiler.so.1', devLink: false },
  { stem: 'libnvidia-allocator', soname: 'libnvidia-allocator.so.1', devLink: false },
  { stem: 'libnvidia-cfg', soname: 'libnvidia-cfg.so.1', devLink: false },
  { stem: 'libnvidia-opencl', soname: 'libnvidia-opencl.so.1', devLink: false },
  { stem: 'libnvidia-nvvm', soname: 'libnvidia-nvvm.so.4', devLink: false },
];

/** Tools a driver installs that the simulation does not need to run; each becomes a small script. */
const PLACEHOLDER_TOOLS = ['nvidia-debugdump', 'nvidia-persistenced', 'nvidia-cuda-mps-control', 'nvidia-cuda-mps-server'];

export function addNvidiaStack(b: SpecBuilder, spec: NvidiaStackSpec): void {
  const { gpu, driver } = spec;
  const devices: NvmlStubDevice[] = [];
  // Minor numbers follow PCI order, as the driver assigns them at probe time.
  const placements = [...spec.placements].sort((x, y) => (x.address < y.address ? -1 : 1));
  placements.forEach((placement, minor) => {
    const fn = b.addPciFunction(placement, {
      vendorId: NVIDIA_VENDOR_ID,
      deviceId: gpu.deviceId,
      classCode: gpu.classCode,
      subsystemVendorId: NVIDIA_VENDOR_ID,
      subsystemDeviceId: gpu.subsystemDeviceId,
      revision: 0xa1,
      driver: 'nvidia',
    });
    const uuid = gpuUuid(b.profile, fn.address);
    b.addDeviceNode(`/dev/nvidia${minor}`, NVIDIA_MAJOR, minor);
    b.addFile(
      `/proc/driver/nvidia/gpus/${fn.address}/information`,
      gpuInformationFile({ model: gpu.name, irq: fn.irq, uuid, videoBios: gpu.videoBios, address: fn.address, minor, dmaBits: 47 }),
      0o444,
    );
    devices.push({
      uuid,
      name: gpu.name,
      pci_bus_id: nvmlBusId(fn.address),
      pci_device_id: ((gpu.deviceId << 16) | NVIDIA_VENDOR_ID) >>> 0,
      pci_subsystem_id: ((gpu.subsystemDeviceId << 16) | NVIDIA_VENDOR_ID) >>> 0,
      minor,
      memory_total_mib: gpu.memoryMiB,
      memory_used_mib: Math.min(gpu.memoryMiB, 120 + 7 * minor),
      util_gpu: (37 + 11 * minor) % 100,
      util_memory: (12 + 5 * minor) % 100,
      temperature: 45 + (minor % 7),
      power_mw: gpu.powerMw,
      clock_sm: gpu.clockSmMHz,
      clock_mem: gpu.clockMemMHz,
      ...(gpu.ecc ? { ecc_corrected: 0, ecc_uncorrected: 0 } : {}),
      virtualization_mode: spec.virtualizationMode,
    });
  });

  b.pciDriverModule('nvidia', 'nvidia');
  b.addModule('nvidia', driver.version);
  b.addModule('nvidia_uvm', driver.version);
  b.addModule('nvidia_modeset', driver.version);
  b.addCharMajor(NVIDIA_MAJOR, 'nvidia-frontend');
  b.addCharMajor(NVIDIA_UVM_MAJOR, 'nvidia-uvm');
  b.addDeviceNode('/dev/nvidiactl', NVIDIA_MAJOR, 255);
  b.addDeviceNode('/dev/nvidia-modeset', NVIDIA_MAJOR, 254);
  b.addDeviceNode('/dev/nvidia-uvm', NVIDIA_UVM_MAJOR, 0);
  b.addDeviceNode('/dev/nvidia-uvm-tools', NVIDIA_UVM_MAJOR, 1);
  b.addFile('/proc/driver/nvidia/version', nvidiaVersionFile(driver.version, driver.buildDate), 0o444);

  const lib = (stem: string) => `${MULTIARCH_LIB_DIR}/${stem}.so.${driver.version}`;
  b.addLibrary({ path: lib('libnvidia-ml'), soname: 'libnvidia-ml.so.1', links: ['libnvidia-ml.so.1', 'libnvidia-ml.so'], artifact: { kind: 'nvml-stub' } });
  for (const l of DRIVER_LIBRARIES) {
    b.addLibrary({
      path: lib(l.stem),
      soname: l.soname,
      links: l.devLink ? [l.soname, `${l.stem}.so`] : [l.soname],
      artifact: { kind: 'fake-lib', soname: l.soname },
    });
  }
  b.addBinary({ path: '/usr/bin/nvidia-smi', artifact: { kind: 'nvidia-smi' } });
  for (const tool of PLACEHOLDER_TOOLS) b.addBinary({ path: `/usr/bin/${tool}`, artifact: null });
  for (const fw of driver.gspFirmware) {
    b.addFile(`/lib/firmware/nvidia/${driver.version}/${fw}`, `simulated GSP firmware ${fw} for driver ${driver.version}\n`);
  }
  b.addSocket('/run/nvidia-persistenced/socket');
  b.setNvml({
    dir: MULTIARCH_LIB_DIR,
    state: {
      driverVersion: driver.version,
      nvmlVersion: driver.nvmlVersion,
      cudaDriverVersion: driver.cudaDriverVersion,
      failures: {},
      delays: {},
      devices,
    },
  });
}

/** A stable, UUID-shaped GPU id derived from the profile and address, so every run of a profile agrees. */
export function gpuUuid(profile: string, address: string): string {
  const h = createHash('sha256').update(`${profile}/${address}`).digest('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** NVML's bus id form: eight-digit domain, upper-case hex (`00000000:00:07.0`). */
export function nvmlBusId(address: string): string {
  return `0000${address}`.toUpperCase();
}
