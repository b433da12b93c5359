import t from 'tap';
import { DeviceRegistry, type RegistryEvent } from '../../agent/daemon/device-registry.js';
import { ErrorCode } from '../../agent/errors.js';
import { createLogger } from '../../agent/log.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';

function recording(registry: DeviceRegistry): RegistryEvent[] {
  const seen: RegistryEvent[] = [];
  registry.subscribe((e) => seen.push(e));
  return seen;
}

const summary = (events: RegistryEvent[]) => events.map((e) => `${e.revision} ${e.type} ${e.device.id}`);

t.test('an empty registry has no devices, no host and revision 0', async (t) => {
  const r = new DeviceRegistry();
  t.same(r.list(), []);
  t.equal(r.get('x'), undefined);
  t.equal(r.host(), null);
  t.same(r.drivers(), []);
  t.same(r.labels(), {});
  t.same(r.warnings(), []);
  t.equal(r.hasInventory(), false);
  t.equal(r.revision, 0);
});

t.test('the first inventory adds every device in order with increasing revisions', async (t) => {
  const r = new DeviceRegistry();
  const seen = recording(r);
  const events = r.update(inventory([gpu(0), gpu(1), npu(0)]));
  t.same(summary(events), [`1 added ${gpu(0).id}`, `2 added ${gpu(1).id}`, `3 added ${npu(0).id}`]);
  t.same(seen, events, 'listeners get exactly what update() returns');
  t.equal(r.revision, 3);
  t.same(r.list().map((d) => d.id), [gpu(0).id, gpu(1).id, npu(0).id]);
  t.same(r.get(npu(0).id), npu(0));
  t.equal(r.host()?.hostname, 'node-a');
  t.equal(r.drivers().length, 2);
  t.equal(r.labels()['accel.example.com/nvidia.count'], '2');
  t.equal(r.hasInventory(), true);
});

t.test('an initial inventory given to the constructor is loaded without listeners', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  t.equal(r.list().length, 1);
  t.equal(r.revision, 1);
});

t.test('a rescan with nothing new emits nothing and keeps the revision', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0), gpu(1)]) });
  const seen = recording(r);
  t.same(r.update(inventory([gpu(0), gpu(1)])), []);
  t.same(seen, []);
  t.equal(r.revision, 2);
});

t.test('a rescan reports removals, then additions, then changes', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0), gpu(1)]) });
  const seen = recording(r);
  r.update(inventory([gpu(1, { driverVersion: '555.42.02' }), npu(0)]));
  t.same(summary(seen), [`3 removed ${gpu(0).id}`, `4 added ${npu(0).id}`, `5 updated ${gpu(1).id}`]);
  const updated = seen[2]!;
  t.equal(updated.type, 'updated');
  if (updated.type === 'updated') {
    t.same(updated.fields, ['driverVersion']);
    t.equal(updated.previous.driverVersion, '550.54.15');
    t.equal(updated.device.driverVersion, '555.42.02');
  }
  t.equal(r.get(gpu(0).id), undefined);
});

t.test('a rescan that changes only health emits a health event', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const seen = recording(r);
  r.update(inventory([gpu(0, { health: 'Unhealthy', healthReason: 'NVML: GPU is lost' })]));
  t.same(summary(seen), [`2 health ${gpu(0).id}`]);
  const e = seen[0]!;
  t.equal(e.type === 'health' && e.previous.health, 'Healthy');
  t.equal(e.device.healthReason, 'NVML: GPU is lost');
});

t.test('a rescan changing health and other fields emits health then updated, without health in fields', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const seen = recording(r);
  r.update(inventory([gpu(0, { health: 'Unhealthy', healthReason: 'lost', memoryMiB: 0 })]));
  t.same(seen.map((e) => e.type), ['health', 'updated']);
  t.same(seen[1]!.type === 'updated' && seen[1]!.fields, ['memoryMiB']);
  t.same(seen.map((e) => e.revision), [2, 3]);
});

t.test('setHealth emits a health event and is visible to readers at once', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0), gpu(1)]) });
  const seen: string[] = [];
  r.subscribe((e) => seen.push(`${e.type} ${r.get(e.device.id)?.health}`));
  const e = r.setHealth(gpu(1).id, 'Unhealthy', 'XID 79: fallen off the bus');
  t.equal(e?.type, 'health');
  t.equal(e?.revision, 3);
  t.equal(e?.device.healthReason, 'XID 79: fallen off the bus');
  t.same(seen, ['health Unhealthy'], 'the registry already reflects the change when listeners run');
  t.equal(r.get(gpu(0).id)?.health, 'Healthy');
});

t.test('setHealth that changes nothing emits nothing', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const seen = recording(r);
  t.equal(r.setHealth(gpu(0).id, 'Healthy', ''), null);
  t.ok(r.setHealth(gpu(0).id, 'Unhealthy', 'XID 48'));
  t.equal(r.setHealth(gpu(0).id, 'Unhealthy', 'XID 48'), null);
  t.equal(seen.length, 1);
});

t.test('setHealth with a new reason while still unhealthy is a health event', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  r.setHealth(gpu(0).id, 'Unhealthy', 'XID 48');
  const e = r.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
  t.equal(e?.type === 'health' && e.previous.healthReason, 'XID 48');
  t.equal(r.get(gpu(0).id)?.healthReason, 'XID 79');
});

t.test('setHealth for an unknown device is ignored', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const seen = recording(r);
  t.equal(r.setHealth('GPU-nope', 'Unhealthy', 'x'), null);
  t.same(seen, []);
  t.equal(r.revision, 1);
});

t.test('recovery: Healthy after Unhealthy clears the reason', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  r.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
  const e = r.setHealth(gpu(0).id, 'Healthy', 'recovered');
  t.equal(e?.device.health, 'Healthy');
  t.equal(e?.device.healthReason, '');
});

t.test("a rescan reporting Healthy does not undo the monitor's verdict", async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  r.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
  const seen = recording(r);
  r.update(inventory([gpu(0)]));
  t.same(seen, []);
  t.equal(r.get(gpu(0).id)?.health, 'Unhealthy');
  r.update(inventory([gpu(0, { model: 'renamed' })]));
  t.same(seen.map((e) => e.type), ['updated']);
  t.equal(seen[0]!.device.health, 'Unhealthy', 'the updated device still carries the verdict');
});

t.test('a device that leaves and returns starts without the old verdict', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  r.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
  r.update(inventory([]));
  const seen = recording(r);
  r.update(inventory([gpu(0)]));
  t.equal(seen[0]?.type, 'added');
  t.equal(seen[0]?.device.health, 'Healthy');
});

t.test('host, drivers, labels and warnings follow the latest inventory', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  r.update(inventory([gpu(0)], { labels: { a: 'b' }, warnings: ['skipped /dev/nvidia9: not a char device'], drivers: [] }));
  t.same(r.labels(), { a: 'b' });
  t.same(r.warnings(), ['skipped /dev/nvidia9: not a char device']);
  t.same(r.drivers(), []);
});

t.test('an inventory with duplicate ids is refused and changes nothing', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  r.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
  const seen = recording(r);
  t.throws(() => r.update(inventory([gpu(1), gpu(1)], { labels: { bad: 'yes' } })), { code: ErrorCode.INVENTORY_INVALID });
  t.same(seen, []);
  t.same(r.list().map((d) => d.id), [gpu(0).id]);
  t.same(r.labels()['bad'], undefined);
  t.equal(r.get(gpu(0).id)?.health, 'Unhealthy', 'verdicts survive a refused update');
  t.equal(r.revision, 2);
});

t.test('readers cannot change registry state through what they are given', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const d = r.get(gpu(0).id)!;
  t.throws(() => {
    (d as { health: string }).health = 'Unhealthy';
  }, TypeError);
  t.throws(() => d.deviceNodes.push('/dev/mem'), TypeError);
  r.list().pop();
  r.labels()['x'] = 'y';
  r.drivers().pop();
  t.throws(() => {
    (r.host() as { hostname: string }).hostname = 'evil';
  }, TypeError);
  t.equal(r.list().length, 1);
  t.same(r.labels()['x'], undefined);
  t.equal(r.drivers().length, 2);
});

t.test('the caller mutating its inventory after update() does not leak in', async (t) => {
  const inv = inventory([gpu(0)]);
  const r = new DeviceRegistry({ initial: inv });
  inv.devices[0]!.health = 'Unhealthy';
  inv.labels['late'] = 'x';
  t.equal(r.get(gpu(0).id)?.health, 'Healthy');
  t.same(r.labels()['late'], undefined);
});

t.test('unsubscribe stops delivery, and only for that subscription', async (t) => {
  const r = new DeviceRegistry();
  const a: number[] = [];
  const listener = (e: RegistryEvent) => a.push(e.revision);
  const offFirst = r.subscribe(listener);
  r.subscribe(listener);
  r.update(inventory([gpu(0)]));
  offFirst();
  offFirst();
  r.update(inventory([gpu(0), gpu(1)]));
  t.same(a, [1, 1, 2]);
});

t.test('a throwing listener is logged and does not stop the others', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('warn', { write: (s: string) => void lines.push(s) });
  const r = new DeviceRegistry({ logger });
  r.subscribe(() => {
    throw new Error('listener exploded');
  });
  const seen = recording(r);
  t.doesNotThrow(() => r.update(inventory([gpu(0), gpu(1)])));
  t.equal(seen.length, 2);
  t.equal(lines.length, 2);
  t.match(JSON.parse(lines[0]!), { level: 'warn', err: /listener exploded/, event: 'added', revision: 1 });
});

t.test('a listener that changes the registry does not reorder revisions for others', async (t) => {
  const r = new DeviceRegistry({ initial: inventory([gpu(0), gpu(1)]) });
  r.subscribe((e) => {
    if (e.type === 'health' && e.device.id === gpu(0).id && e.device.health === 'Unhealthy') {
      r.setHealth(gpu(1).id, 'Unhealthy', 'sibling of a failed GPU');
    }
  });
  const seen = recording(r);
  const first = r.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
  t.equal(first?.revision, 3);
  t.same(seen.map((e) => e.revision), [3, 4]);
  t.same(seen.map((e) => e.device.id), [gpu(0).id, gpu(1).id]);
  t.equal(r.get(gpu(1).id)?.health, 'Unhealthy');
});

t.test('a listener subscribing during delivery gets later events only', async (t) => {
  const r = new DeviceRegistry();
  const late: number[] = [];
  let subscribed = false;
  r.subscribe(() => {
    if (!subscribed) {
      subscribed = true;
      r.subscribe((e) => late.push(e.revision));
    }
  });
  r.update(inventory([gpu(0), gpu(1)]));
  t.same(late, [2]);
});

t.test('events themselves are frozen', async (t) => {
  const r = new DeviceRegistry();
  const [e] = r.update(inventory([gpu(0)]));
  t.throws(() => {
    (e as { revision: number }).revision = 99;
  }, TypeError);
});
