/**
 * What a plugin advertises to kubelet for one resource (pure): the
 * resource's devices in index order, each once or once per time-slicing
 * replica, with kubelet's health strings and NUMA topology.
 */
import type { Device } from '../model/device.js';
import type { Device as KubeletDevice } from './gen/v1beta1/api.js';
import type { ResourceOptions } from './options.js';
import { replicaIds } from './replicas.js';

export interface AdvertisedDevice {
  /** The id kubelet sees: the device id, or `<device id>::<n>` for a replica. */
  id: string;
  replica: number;
  device: Device;
}

export function belongsTo(device: Device, resource: Pick<ResourceOptions, 'vendor'>): boolean {
  return device.vendor === resource.vendor;
}

export function advertisedDevices(devices: readonly Device[], resource: Pick<ResourceOptions, 'vendor' | 'replicas'>): AdvertisedDevice[] {
  return devices
    .filter((d) => belongsTo(d, resource))
    .sort((a, b) => a.index - b.index || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .flatMap((device) => replicaIds(device.id, resource.replicas).map((id, replica) => ({ id, replica, device })));
}

export function kubeletDevices(list: readonly AdvertisedDevice[]): KubeletDevice[] {
  return list.map(({ id, device }) => ({
    ID: id,
    // The model only has these two values, which are exactly kubelet's strings.
    health: device.health === 'Healthy' ? 'Healthy' : 'Unhealthy',
    // A device without a known NUMA node carries no topology, so kubelet's
    // topology manager does not pin it to node 0.
    topology: device.numaNode !== null && Number.isInteger(device.numaNode) && device.numaNode >= 0 ? { nodes: [{ ID: device.numaNode }] } : undefined,
  }));
}
