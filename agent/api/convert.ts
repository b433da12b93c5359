/**
 * Translation between the device model and the accel.agent.v1 messages, both
 * ways. Pure. The model uses null for "unknown" and string unions; the wire
 * uses proto3 optional fields and enums. Decoding refuses values the model has
 * no word for rather than inventing one.
 */
import type { RegistryEvent } from '../daemon/device-registry.js';
import { AccelError, ErrorCode } from '../errors.js';
import type { Device, DeviceKind, DiscoverySource, DriverInfo, Health, HostFacts, VendorName } from '../model/device.js';
import * as pb from './gen/accel/agent/v1/agent.js';

/** What GetHostInfo tells a client. */
export interface HostInfo {
  host: HostFacts;
  drivers: DriverInfo[];
  labels: Record<string, string>;
  warnings: string[];
  agentVersion: string;
  revision: number;
  deviceCount: number;
}

/** One message of a device watch, in model terms. */
export type WatchEvent =
  | { type: 'snapshot'; revision: number; devices: Device[] }
  | { type: 'added'; revision: number; device: Device }
  | { type: 'removed'; revision: number; device: Device }
  | { type: 'health'; revision: number; device: Device; previousHealth: Health; previousReason: string }
  | { type: 'updated'; revision: number; device: Device; fields: string[] };

export type WatchEventType = WatchEvent['type'];

const VENDORS: ReadonlyMap<VendorName, pb.Vendor> = new Map([
  ['nvidia', pb.Vendor.VENDOR_NVIDIA],
  ['hanguang', pb.Vendor.VENDOR_HANGUANG],
]);
const KINDS: ReadonlyMap<DeviceKind, pb.DeviceKind> = new Map([
  ['gpu', pb.DeviceKind.DEVICE_KIND_GPU],
  ['vgpu', pb.DeviceKind.DEVICE_KIND_VGPU],
  ['npu', pb.DeviceKind.DEVICE_KIND_NPU],
]);
const HEALTHS: ReadonlyMap<Health, pb.Health> = new Map([
  ['Healthy', pb.Health.HEALTH_HEALTHY],
  ['Unhealthy', pb.Health.HEALTH_UNHEALTHY],
]);
const SOURCES: ReadonlyMap<DiscoverySource, pb.DiscoverySource> = new Map([
  ['nvml', pb.DiscoverySource.DISCOVERY_SOURCE_NVML],
  ['nvidia-smi', pb.DiscoverySource.DISCOVERY_SOURCE_NVIDIA_SMI],
  ['procfs', pb.DiscoverySource.DISCOVERY_SOURCE_PROCFS],
  ['sysfs', pb.DiscoverySource.DISCOVERY_SOURCE_SYSFS],
]);

function encode<M extends string, P>(table: ReadonlyMap<M, P>, value: M, what: string): P {
  const wire = table.get(value);
  if (wire === undefined) throw new AccelError(ErrorCode.PROTOCOL, `cannot encode ${what} ${JSON.stringify(value)}`);
  return wire;
}

function decode<M extends string, P>(table: ReadonlyMap<M, P>, wire: P, what: string): M {
  for (const [model, w] of table) if (w === wire) return model;
  throw new AccelError(ErrorCode.PROTOCOL, `unknown ${what} ${String(wire)} from the agent`, { details: { what, value: wire } });
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new AccelError(ErrorCode.PROTOCOL, `the agent sent no ${what}`);
  return value;
}

export function deviceToProto(d: Device): pb.Device {
  return {
    id: d.id,
    vendor: encode(VENDORS, d.vendor, 'vendor'),
    kind: encode(KINDS, d.kind, 'device kind'),
    index: d.index,
    model: d.model,
    uuid: d.uuid ?? undefined,
    pciBusId: d.pciBusId,
    numaNode: d.numaNode ?? undefined,
    memoryMib: d.memoryMiB ?? undefined,
    deviceNodes: [...d.deviceNodes],
    driverVersion: d.driverVersion ?? undefined,
    health: encode(HEALTHS, d.health, 'health'),
    healthReason: d.healthReason,
    source: encode(SOURCES, d.source, 'discovery source'),
  };
}

export function deviceFromProto(p: pb.Device): Device {
  if (p.id === '') throw new AccelError(ErrorCode.PROTOCOL, 'the agent sent a device without an id');
  return {
    id: p.id,
    vendor: decode(VENDORS, p.vendor, 'vendor'),
    kind: decode(KINDS, p.kind, 'device kind'),
    index: p.index,
    model: p.model,
    uuid: p.uuid ?? null,
    pciBusId: p.pciBusId,
    numaNode: p.numaNode ?? null,
    memoryMiB: p.memoryMib ?? null,
    deviceNodes: [...p.deviceNodes],
    driverVersion: p.driverVersion ?? null,
    health: decode(HEALTHS, p.health, 'health'),
    healthReason: p.healthReason,
    source: decode(SOURCES, p.source, 'discovery source'),
  };
}

function driverToProto(d: DriverInfo): pb.DriverInfo {
  return {
    vendor: encode(VENDORS, d.vendor, 'vendor'),
    version: d.version ?? undefined,
    controlNodes: [...d.controlNodes],
    sources: d.sources.map((s) => ({ source: encode(SOURCES, s.source, 'discovery source'), ok: s.ok, detail: s.detail })),
  };
}

function driverFromProto(p: pb.DriverInfo): DriverInfo {
  return {
    vendor: decode(VENDORS, p.vendor, 'vendor'),
    version: p.version ?? null,
    controlNodes: [...p.controlNodes],
    sources: p.sources.map((s) => ({ source: decode(SOURCES, s.source, 'discovery source'), ok: s.ok, detail: s.detail })),
  };
}

export function hostInfoToProto(info: HostInfo): pb.GetHostInfoResponse {
  return {
    host: { ...info.host, memoryMib: info.host.memoryMiB },
    drivers: info.drivers.map(driverToProto),
    labels: { ...info.labels },
    warnings: [...info.warnings],
    agentVersion: info.agentVersion,
    revision: info.revision,
    deviceCount: info.deviceCount,
  };
}

export function hostInfoFromProto(p: pb.GetHostInfoResponse): HostInfo {
  const h = required(p.host, 'host facts');
  return {
    host: {
      hostname: h.hostname,
      os: h.os,
      kernel: h.kernel,
      arch: h.arch,
      cpuModel: h.cpuModel,
      cpuCores: h.cpuCores,
      memoryMiB: h.memoryMib,
    },
    drivers: p.drivers.map(driverFromProto),
    labels: { ...p.labels },
    warnings: [...p.warnings],
    agentVersion: p.agentVersion,
    revision: p.revision,
    deviceCount: p.deviceCount,
  };
}

export function snapshotToProto(devices: readonly Device[], revision: number): pb.WatchDevicesResponse {
  return { revision, event: { $case: 'snapshot', value: { devices: devices.map(deviceToProto) } } };
}

export function registryEventToProto(e: RegistryEvent): pb.WatchDevicesResponse {
  const device = deviceToProto(e.device);
  switch (e.type) {
    case 'added':
      return { revision: e.revision, event: { $case: 'added', value: device } };
    case 'removed':
      return { revision: e.revision, event: { $case: 'removed', value: device } };
    case 'health':
      return {
        revision: e.revision,
        event: {
          $case: 'healthChanged',
          value: { device, previousHealth: encode(HEALTHS, e.previous.health, 'health'), previousReason: e.previous.healthReason },
        },
      };
    case 'updated':
      return { revision: e.revision, event: { $case: 'updated', value: { device, changedFields: [...e.fields] } } };
  }
}

export function watchEventFromProto(p: pb.WatchDevicesResponse): WatchEvent {
  const event = required(p.event, 'watch event');
  const revision = p.revision;
  switch (event.$case) {
    case 'snapshot':
      return { type: 'snapshot', revision, devices: event.value.devices.map(deviceFromProto) };
    case 'added':
      return { type: 'added', revision, device: deviceFromProto(event.value) };
    case 'removed':
      return { type: 'removed', revision, device: deviceFromProto(event.value) };
    case 'healthChanged':
      return {
        type: 'health',
        revision,
        device: deviceFromProto(required(event.value.device, 'device in a health change')),
        previousHealth: decode(HEALTHS, event.value.previousHealth, 'health'),
        previousReason: event.value.previousReason,
      };
    case 'updated':
      return {
        type: 'updated',
        revision,
        device: deviceFromProto(required(event.value.device, 'device in an update')),
        fields: [...event.value.changedFields],
      };
  }
}
