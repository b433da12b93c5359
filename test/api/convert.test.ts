import t from 'tap';
import {
  deviceFromProto,
  deviceToProto,
  hostInfoFromProto,
  hostInfoToProto,
  registryEventToProto,
  snapshotToProto,
  watchEventFromProto,
  type HostInfo,
} from '../../agent/api/convert.js';
import * as pb from '../../agent/api/gen/accel/agent/v1/agent.js';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { ErrorCode } from '../../agent/errors.js';
import type { Device } from '../../agent/model/device.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';

/** Through the binary encoding too, so optional fields are proven on the wire, not just in objects. */
function overTheWire(d: Device): Device {
  return deviceFromProto(pb.Device.decode(pb.Device.encode(deviceToProto(d)).finish()));
}

t.test('devices of every vendor, kind and source round-trip exactly', async (t) => {
  const cases: Device[] = [
    gpu(0),
    gpu(1, { kind: 'vgpu', source: 'nvidia-smi', health: 'Unhealthy', healthReason: 'XID 79' }),
    npu(0),
    npu(1, { source: 'procfs' }),
  ];
  for (const d of cases) t.same(overTheWire(d), d, `${d.id}`);
});

t.test('null fields stay null and zero values stay zero', async (t) => {
  const zeros = gpu(0, { numaNode: 0, memoryMiB: 0, index: 0, uuid: '', driverVersion: '' });
  t.same(overTheWire(zeros), zeros, 'present-but-zero is not confused with absent');
  const nulls = npu(0);
  const back = overTheWire(nulls);
  t.equal(back.uuid, null);
  t.equal(back.numaNode, null);
  t.equal(back.memoryMiB, null);
  t.equal(back.driverVersion, null);
});

t.test('a model value the wire has no word for is refused when encoding', async (t) => {
  t.throws(() => deviceToProto(gpu(0, { vendor: 'amd' as Device['vendor'] })), { code: ErrorCode.PROTOCOL, message: /vendor "amd"/ });
  t.throws(() => deviceToProto(gpu(0, { health: 'Degraded' as Device['health'] })), { code: ErrorCode.PROTOCOL });
});

t.test('unknown or unspecified enum values from the wire are refused when decoding', async (t) => {
  const p = deviceToProto(gpu(0));
  t.throws(() => deviceFromProto({ ...p, vendor: pb.Vendor.VENDOR_UNSPECIFIED }), { code: ErrorCode.PROTOCOL, message: /unknown vendor 0/ });
  t.throws(() => deviceFromProto({ ...p, kind: 42 as pb.DeviceKind }), { code: ErrorCode.PROTOCOL, message: /device kind 42/ });
  t.throws(() => deviceFromProto({ ...p, health: pb.Health.HEALTH_UNSPECIFIED }), { code: ErrorCode.PROTOCOL });
  t.throws(() => deviceFromProto({ ...p, source: pb.DiscoverySource.UNRECOGNIZED }), { code: ErrorCode.PROTOCOL });
  t.throws(() => deviceFromProto({ ...p, id: '' }), { code: ErrorCode.PROTOCOL, message: /without an id/ });
});

t.test('host info round-trips, including drivers without a version', async (t) => {
  const inv = inventory([gpu(0)]);
  const info: HostInfo = {
    host: inv.host,
    drivers: inv.drivers,
    labels: inv.labels,
    warnings: ['skipped /dev/nvidia7'],
    agentVersion: '1.2.3',
    revision: 17,
    deviceCount: 1,
  };
  const wire = pb.GetHostInfoResponse.decode(pb.GetHostInfoResponse.encode(hostInfoToProto(info)).finish());
  t.same(hostInfoFromProto(wire), info);
  t.throws(() => hostInfoFromProto({ ...wire, host: undefined }), { code: ErrorCode.PROTOCOL, message: /host facts/ });
});

t.test('registry events become watch messages and back with their revision', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0), gpu(1)]) });
  const events = [
    ...r.update(inventory([gpu(0, { model: 'renamed' }), npu(0)])),
    r.setHealth(gpu(0).id, 'Unhealthy', 'XID 48')!,
  ];
  const decoded = events.map((e) => watchEventFromProto(pb.WatchDevicesResponse.decode(pb.WatchDevicesResponse.encode(registryEventToProto(e)).finish())));
  t.same(
    decoded.map((e) => [e.type, e.revision]),
    [
      ['removed', 3],
      ['added', 4],
      ['updated', 5],
      ['health', 6],
    ],
  );
  const updated = decoded[2]!;
  t.same(updated.type === 'updated' && [updated.device.model, updated.fields], ['renamed', ['model']]);
  const health = decoded[3]!;
  t.same(health.type === 'health' && [health.device.health, health.device.healthReason, health.previousHealth, health.previousReason], [
    'Unhealthy',
    'XID 48',
    'Healthy',
    '',
  ]);
});

t.test('a snapshot carries every device and the revision it was taken at', async (t) => {
  const msg = pb.WatchDevicesResponse.decode(pb.WatchDevicesResponse.encode(snapshotToProto([gpu(0), npu(0)], 9)).finish());
  t.same(watchEventFromProto(msg), { type: 'snapshot', revision: 9, devices: [gpu(0), npu(0)] });
  const empty = pb.WatchDevicesResponse.decode(pb.WatchDevicesResponse.encode(snapshotToProto([], 0)).finish());
  t.same(watchEventFromProto(empty), { type: 'snapshot', revision: 0, devices: [] }, 'an empty snapshot is still a snapshot');
});

t.test('watch messages without an event or without their device are refused', async (t) => {
  t.throws(() => watchEventFromProto({ revision: 1, event: undefined }), { code: ErrorCode.PROTOCOL, message: /watch event/ });
  t.throws(() => watchEventFromProto({ revision: 1, event: { $case: 'healthChanged', value: { device: undefined, previousHealth: 1, previousReason: '' } } }), {
    code: ErrorCode.PROTOCOL,
  });
  t.throws(() => watchEventFromProto({ revision: 1, event: { $case: 'updated', value: { device: undefined, changedFields: [] } } }), {
    code: ErrorCode.PROTOCOL,
  });
});

t.test('truncated bytes do not decode into a device silently', async (t) => {
  const bytes = pb.Device.encode(deviceToProto(gpu(0))).finish();
  t.throws(() => pb.Device.decode(bytes.subarray(0, bytes.length - 3)));
});
