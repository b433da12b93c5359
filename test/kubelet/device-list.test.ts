import t from 'tap';
import { advertisedDevices, belongsTo, kubeletDevices } from '../../agent/kubelet/device-list.js';
import { gpu, npu } from '../helpers/sample-inventory.js';

const nvidia = { vendor: 'nvidia' as const, replicas: 1 };

t.test('only the resource vendor devices, in index order', async (t) => {
  const list = advertisedDevices([gpu(2), npu(0), gpu(0), gpu(1, { kind: 'vgpu' })], nvidia);
  t.same(
    list.map((a) => [a.id, a.replica]),
    [
      [gpu(0).id, 0],
      [gpu(1).id, 0],
      [gpu(2).id, 0],
    ],
  );
  t.ok(belongsTo(npu(0), { vendor: 'hanguang' }));
  t.notOk(belongsTo(npu(0), nvidia));
  t.same(advertisedDevices([npu(1)], nvidia), []);
});

t.test('replicas repeat each device with its replica number', async (t) => {
  const list = advertisedDevices([gpu(1), gpu(0)], { vendor: 'nvidia', replicas: 2 });
  t.same(
    list.map((a) => [a.id, a.replica, a.device.id]),
    [
      [`${gpu(0).id}::0`, 0, gpu(0).id],
      [`${gpu(0).id}::1`, 1, gpu(0).id],
      [`${gpu(1).id}::0`, 0, gpu(1).id],
      [`${gpu(1).id}::1`, 1, gpu(1).id],
    ],
  );
});

t.test('kubelet devices: exact health strings, NUMA topology only when known', async (t) => {
  const list = advertisedDevices(
    [gpu(0), gpu(1, { health: 'Unhealthy', healthReason: 'Xid 79' }), gpu(2, { numaNode: null }), gpu(3, { numaNode: -1 })],
    nvidia,
  );
  t.same(kubeletDevices(list), [
    { ID: gpu(0).id, health: 'Healthy', topology: { nodes: [{ ID: 0 }] } },
    { ID: gpu(1).id, health: 'Unhealthy', topology: { nodes: [{ ID: 0 }] } },
    { ID: gpu(2).id, health: 'Healthy', topology: undefined },
    { ID: gpu(3).id, health: 'Healthy', topology: undefined },
  ]);
  t.same(kubeletDevices(advertisedDevices([gpu(3)], nvidia))[0]!.topology, { nodes: [{ ID: 1 }] });
});
