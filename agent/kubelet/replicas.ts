/**
 * Time-slicing: a device shared by N containers is advertised N times as
 * `<device id>::<n>` (n from 0), so kubelet can hand out N "devices" that
 * all map back to the same physical one. With one replica the device id is
 * advertised as it is.
 */
export const REPLICA_SEPARATOR = '::';

export function replicaIds(deviceId: string, replicas: number): string[] {
  if (replicas <= 1) return [deviceId];
  return Array.from({ length: replicas }, (_, n) => `${deviceId}${REPLICA_SEPARATOR}${n}`);
}
