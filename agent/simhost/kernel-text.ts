/**
 * The exact text the Linux kernel and the NVIDIA driver put in the files a
 * simulated host imitates. Pure: each function returns a file's content.
 */
import type { PciFunctionSpec, SysfsCharDevice } from './host-spec.js';

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');
const HEX = (n: number, digits: number) => hex(n, digits).toUpperCase();

/** `vendor`, `device`, `subsystem_vendor`, `subsystem_device` (`0x%04x`). */
export function pciIdAttribute(id: number): string {
  return `0x${hex(id, 4)}\n`;
}

/** `class` (`0x%06x`). */
export function pciClassAttribute(classCode: number): string {
  return `0x${hex(classCode, 6)}\n`;
}

/** `revision` (`0x%02x`). */
export function pciRevisionAttribute(revision: number): string {
  return `0x${hex(revision, 2)}\n`;
}

/** `modalias`, the string udev matches drivers against. */
export function pciModalias(fn: PciFunctionSpec): string {
  const [base, sub, prog] = [(fn.classCode >> 16) & 0xff, (fn.classCode >> 8) & 0xff, fn.classCode & 0xff];
  return (
    `pci:v${HEX(fn.vendorId, 8)}d${HEX(fn.deviceId, 8)}sv${HEX(fn.subsystemVendorId, 8)}sd${HEX(fn.subsystemDeviceId, 8)}` +
    `bc${HEX(base, 2)}sc${HEX(sub, 2)}i${HEX(prog, 2)}`
  );
}

/** A PCI function's `uevent`: DRIVER= only while a driver is bound; PCI_CLASS without leading zeros. */
export function pciUevent(fn: PciFunctionSpec): string {
  const lines = [
    ...(fn.driver === null ? [] : [`DRIVER=${fn.driver}`]),
    `PCI_CLASS=${fn.classCode.toString(16).toUpperCase()}`,
    `PCI_ID=${HEX(fn.vendorId, 4)}:${HEX(fn.deviceId, 4)}`,
    `PCI_SUBSYS_ID=${HEX(fn.subsystemVendorId, 4)}:${HEX(fn.subsystemDeviceId, 4)}`,
    `PCI_SLOT_NAME=${fn.address}`,
    `MODALIAS=${pciModalias(fn)}`,
  ];
  return lines.join('\n') + '\n';
}

/** The `uevent` of a registered char device. */
export function charDeviceUevent(dev: SysfsCharDevice): string {
  return `MAJOR=${dev.major}\nMINOR=${dev.minor}\nDEVNAME=${dev.devName}\n`;
}

/** The `dev` attribute of a registered char device (`major:minor`). */
export function charDeviceDevAttribute(dev: SysfsCharDevice): string {
  return `${dev.major}:${dev.minor}\n`;
}

/** `/proc/devices`: majors right-aligned in three columns, char then block. */
export function procDevices(char: readonly (readonly [number, string])[], block: readonly (readonly [number, string])[]): string {
  const rows = (list: readonly (readonly [number, string])[]) =>
    [...list].sort((a, b) => a[0] - b[0]).map(([major, name]) => `${String(major).padStart(3, ' ')} ${name}\n`).join('');
  return `Character devices:\n${rows(char)}\nBlock devices:\n${rows(block)}`;
}

/** `/proc/driver/nvidia/version` of the proprietary kernel module. */
export function nvidiaVersionFile(version: string, buildDate: string): string {
  return (
    `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${version}  ${buildDate}\n` +
    `GCC version:  gcc version 9.3.0 (Ubuntu 9.3.0-17ubuntu1~20.04) \n`
  );
}

export interface GpuInformation {
  model: string;
  irq: number;
  uuid: string;
  videoBios: string;
  address: string;
  minor: number;
  dmaBits: number;
}

/** `/proc/driver/nvidia/gpus/<address>/information`, with the driver's own tab-and-space padding. */
export function gpuInformationFile(info: GpuInformation): string {
  const mask = (2n ** BigInt(info.dmaBits) - 1n).toString(16);
  return [
    `Model: \t\t ${info.model}`,
    `IRQ:   \t\t ${info.irq}`,
    `GPU UUID: \t ${info.uuid}`,
    `Video BIOS: \t ${info.videoBios}`,
    `Bus Type: \t PCIe`,
    `DMA Size: \t ${info.dmaBits} bits`,
    `DMA Mask: \t 0x${mask}`,
    `Bus Location: \t ${info.address}`,
    `Device Minor: \t ${info.minor}`,
    `GPU Excluded:\t No`,
  ].join('\n') + '\n';
}

/** The driver's Xid report, as it appears in the kernel log (bus address without the function). */
export function xidMessage(address: string, xid: number, pid = 0): string {
  const busDevice = address.slice(0, address.lastIndexOf('.'));
  const what = XID_TEXT[xid] ?? 'Graphics Exception';
  return `NVRM: Xid (PCI:${busDevice}): ${xid}, pid=${pid}, ${what}`;
}

const XID_TEXT: Record<number, string> = {
  13: 'Graphics SM Warp Exception',
  31: 'MMU Fault',
  43: 'Ch 00000010, engine type 0',
  48: 'An uncorrectable double bit error (DBE) has been detected on GPU',
  63: 'Row remapping event',
  74: 'NVLink error',
  79: 'GPU has fallen off the bus.',
};

export interface KmsgRecord {
  /** Syslog facility; 0 is the kernel, anything a process writes gets 1 (user). */
  facility: number;
  /** Syslog level, 3 = err. */
  level: number;
  seq: number;
  usec: number;
  message: string;
}

/** One `/dev/kmsg` record: `prio,seq,usec,flags;message`. */
export function kmsgRecord(r: KmsgRecord): string {
  return `${(r.facility << 3) | r.level},${r.seq},${r.usec},-;${r.message}\n`;
}
