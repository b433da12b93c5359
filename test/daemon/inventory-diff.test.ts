import t from 'tap';
import { changedFields, diffDevices, isHealthOnly } from '../../agent/daemon/inventory-diff.js';
import { ErrorCode, isAccelError } from '../../agent/errors.js';
import { gpu, npu } from '../helpers/sample-inventory.js';

t.test('identical lists produce an empty diff', async (t) => {
  const list = [gpu(0), gpu(1), npu(0)];
  t.same(diffDevices(list, structuredClone(list)), { added: [], removed: [], changed: [] });
});

t.test('an empty previous list reports every device as added, in the new order', async (t) => {
  const diff = diffDevices([], [gpu(1), gpu(0)]);
  t.same(diff.added.map((d) => d.index), [1, 0]);
  t.same(diff.removed, []);
  t.same(diff.changed, []);
});

t.test('devices that vanished are removed, in the old order', async (t) => {
  const diff = diffDevices([gpu(0), npu(0), gpu(1)], [gpu(1)]);
  t.same(diff.removed.map((d) => d.id), [gpu(0).id, npu(0).id]);
  t.same(diff.added, []);
});

t.test('add, remove and change in one diff are told apart', async (t) => {
  const diff = diffDevices([gpu(0), gpu(1)], [gpu(1, { memoryMiB: 81920 }), npu(0)]);
  t.same(diff.added.map((d) => d.id), [npu(0).id]);
  t.same(diff.removed.map((d) => d.id), [gpu(0).id]);
  t.equal(diff.changed.length, 1);
  t.equal(diff.changed[0]!.previous.memoryMiB, 40960);
  t.equal(diff.changed[0]!.current.memoryMiB, 81920);
  t.same(diff.changed[0]!.fields, ['memoryMiB']);
});

t.test('a health change lists exactly the health fields', async (t) => {
  const diff = diffDevices([gpu(0)], [gpu(0, { health: 'Unhealthy', healthReason: 'XID 79' })]);
  t.same(diff.changed[0]!.fields, ['health', 'healthReason']);
  t.ok(isHealthOnly(diff.changed[0]!.fields));
});

t.test('arrays are compared by content, not identity', async (t) => {
  t.same(changedFields(gpu(0), gpu(0, { deviceNodes: ['/dev/nvidia0'] })), []);
  t.same(changedFields(gpu(0), gpu(0, { deviceNodes: ['/dev/nvidia0', '/dev/nvidia-caps/nvidia-cap1'] })), ['deviceNodes']);
  t.same(changedFields(gpu(0), gpu(0, { deviceNodes: [] })), ['deviceNodes']);
});

t.test('null and a value differ, null and null do not', async (t) => {
  t.same(changedFields(npu(0), npu(0, { numaNode: 0 })), ['numaNode']);
  t.same(changedFields(npu(0), npu(0)), []);
  t.same(changedFields(gpu(0), gpu(0, { uuid: null })), ['uuid']);
});

t.test('changed fields follow the device key order and include non-health fields', async (t) => {
  const fields = changedFields(gpu(0), gpu(0, { model: 'NVIDIA H100', health: 'Unhealthy', index: 3 }));
  t.same(fields, ['index', 'model', 'health']);
  t.notOk(isHealthOnly(fields));
});

t.test('a key present on only one side counts as a change', async (t) => {
  const extra = { ...gpu(0), vendorExtra: 'x' } as unknown as ReturnType<typeof gpu>;
  t.same(changedFields(gpu(0), extra), ['vendorExtra']);
  t.same(changedFields(extra, gpu(0)), ['vendorExtra']);
});

t.test('nested objects are compared by content', async (t) => {
  const a = { ...gpu(0), extra: { a: [1, 2] } } as unknown as ReturnType<typeof gpu>;
  const b = { ...gpu(0), extra: { a: [1, 2] } } as unknown as ReturnType<typeof gpu>;
  const c = { ...gpu(0), extra: { a: [1, 3] } } as unknown as ReturnType<typeof gpu>;
  t.same(changedFields(a, b), []);
  t.same(changedFields(a, c), ['extra']);
});

t.test('isHealthOnly is false when any non-health field is present', async (t) => {
  t.ok(isHealthOnly(['health']));
  t.ok(isHealthOnly(['healthReason']));
  t.notOk(isHealthOnly(['health', 'driverVersion']));
});

t.test('a duplicate id in the new list is refused with its id', async (t) => {
  t.throws(() => diffDevices([], [gpu(0), gpu(0, { index: 5 })]), { code: ErrorCode.INVENTORY_INVALID, message: /GPU-00000000.*twice in the new/ });
});

t.test('a duplicate id in the previous list is refused too', async (t) => {
  try {
    diffDevices([npu(1), npu(1)], []);
    t.fail('should throw');
  } catch (err) {
    t.ok(isAccelError(err, ErrorCode.INVENTORY_INVALID));
    t.match((err as Error).message, /previous/);
  }
});

t.test('a device without an id is refused', async (t) => {
  t.throws(() => diffDevices([], [gpu(0, { id: '' })]), { code: ErrorCode.INVENTORY_INVALID, message: /no id/ });
  t.throws(() => diffDevices([], [gpu(0, { id: undefined as unknown as string })]), { code: ErrorCode.INVENTORY_INVALID });
});

t.test('the inputs are not modified', async (t) => {
  const before = [gpu(0), gpu(1)];
  const after = [gpu(1, { health: 'Unhealthy' }), npu(0)];
  const copies = structuredClone([before, after]);
  diffDevices(before, after);
  t.same([before, after], copies);
});
