import t from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { silentLogger } from '../../agent/log.js';
import type { HostFacts } from '../../agent/model/device.js';
import { discoverInventory, numberDevices } from '../../agent/discovery/inventory.js';
import type { DiscoveredDevice, DiscoveryContext, Vendor, VendorDiscovery } from '../../agent/vendors/vendor.js';
import { pciFunction, tempRoot } from '../helpers/sysfs-tree.js';

const FACTS: HostFacts = { hostname: 'node-a', os: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0', arch: 'x64', cpuModel: 'AMD EPYC', cpuCores: 8, memoryMiB: 32000 };

const device = (vendor: 'nvidia' | 'hanguang', pciBusId: string, id = `${vendor}-${pciBusId}`): DiscoveredDevice => ({
  id,
  vendor,
  kind: vendor === 'nvidia' ? 'gpu' : 'npu',
  model: vendor === 'nvidia' ? 'Tesla T4' : 'Hanguang 800',
  uuid: null,
  pciBusId,
  numaNode: null,
  memoryMiB: null,
  deviceNodes: [],
  driverVersion: null,
  health: 'Healthy',
  healthReason: '',
  source: 'sysfs',
});

function fakeVendor(name: 'nvidia' | 'hanguang', discover: (ctx: DiscoveryContext) => Promise<VendorDiscovery>, labels?: (d: VendorDiscovery) => Record<string, string>): Vendor {
  return {
    name,
    discover,
    labels: labels ?? ((d) => ({ [`example.com/${name}.count`]: String(d.devices.length) })),
    close: async () => {},
  };
}

const result = (name: 'nvidia' | 'hanguang', devices: DiscoveredDevice[], warnings: string[] = []): VendorDiscovery => ({
  driver: { vendor: name, version: null, controlNodes: [], sources: [{ source: 'sysfs', ok: true, detail: 'test' }] },
  devices,
  warnings,
});

t.test('each vendor\'s devices are numbered from 0 in PCI bus id order', async (t) => {
  const inv = await discoverInventory({
    host: new HostRoot(await tempRoot()),
    log: silentLogger,
    hostFacts: FACTS,
    vendors: [
      fakeVendor('nvidia', async () => result('nvidia', [device('nvidia', '0000:88:00.0'), device('nvidia', '0000:00:07.0'), device('nvidia', '0000:81:00.0')])),
      fakeVendor('hanguang', async () => result('hanguang', [device('hanguang', '0000:21:00.0'), device('hanguang', '0000:11:00.0')])),
    ],
  });
  t.same(inv.devices.map((d) => [d.vendor, d.pciBusId, d.index]), [
    ['nvidia', '0000:00:07.0', 0],
    ['nvidia', '0000:81:00.0', 1],
    ['nvidia', '0000:88:00.0', 2],
    ['hanguang', '0000:11:00.0', 0],
    ['hanguang', '0000:21:00.0', 1],
  ]);
  t.same(inv.host, FACTS);
  t.same(inv.drivers.map((d) => d.vendor), ['nvidia', 'hanguang']);
  t.same(inv.labels, { 'example.com/hanguang.count': '2', 'example.com/nvidia.count': '3' });
  t.same(inv.warnings, []);
});

t.test('a vendor that throws costs a warning, not the run', async (t) => {
  const inv = await discoverInventory({
    host: new HostRoot(await tempRoot()),
    log: silentLogger,
    hostFacts: FACTS,
    vendors: [
      fakeVendor('nvidia', async () => {
        throw new Error('boom');
      }),
      fakeVendor('hanguang', async () => result('hanguang', [device('hanguang', '0000:11:00.0')], ['odd thing'])),
    ],
  });
  t.same(inv.devices.map((d) => d.id), ['hanguang-0000:11:00.0']);
  t.same(inv.drivers.map((d) => d.vendor), ['hanguang']);
  t.same(inv.warnings, ['nvidia: discovery failed: boom', 'hanguang: odd thing']);
});

t.test('labels that throw or are invalid become warnings', async (t) => {
  const inv = await discoverInventory({
    host: new HostRoot(await tempRoot()),
    log: silentLogger,
    hostFacts: FACTS,
    vendors: [
      fakeVendor('nvidia', async () => result('nvidia', []), () => {
        throw new Error('label bug');
      }),
      fakeVendor('hanguang', async () => result('hanguang', []), () => ({ 'x.example/name': 'has spaces' })),
    ],
  });
  t.same(inv.labels, {});
  t.match(inv.warnings.join('\n'), /nvidia: labels failed: label bug/);
  t.match(inv.warnings.join('\n'), /hanguang: label x\.example\/name value "has spaces" is not a valid label value/);
});

t.test('a device id two vendors both claim is kept once', async (t) => {
  const inv = await discoverInventory({
    host: new HostRoot(await tempRoot()),
    log: silentLogger,
    hostFacts: FACTS,
    vendors: [
      fakeVendor('nvidia', async () => result('nvidia', [device('nvidia', '0000:01:00.0', 'same')])),
      fakeVendor('hanguang', async () => result('hanguang', [device('hanguang', '0000:02:00.0', 'same'), device('hanguang', '0000:03:00.0')])),
    ],
  });
  t.same(inv.devices.map((d) => [d.id, d.index]), [['same', 0], ['hanguang-0000:03:00.0', 0]]);
  t.match(inv.warnings, ['hanguang: device id same already taken; the duplicate dropped']);
});

t.test('vendors run concurrently and share one PCI scan, whose warnings are kept', async (t) => {
  const root = await tempRoot();
  await pciFunction(root, { address: '0000:00:07.0' });
  await pciFunction(root, { address: '0000:00:08.0', vendor: 'junk' });
  let release!: () => void;
  const bothStarted = new Promise<void>((resolve) => (release = resolve));
  let started = 0;
  const seen: number[] = [];
  const waiting = (name: 'nvidia' | 'hanguang') =>
    fakeVendor(name, async (ctx) => {
      seen.push(ctx.pci?.functions.length ?? -1);
      if (++started === 2) release();
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('ran one after the other')), 20_000).unref());
      await Promise.race([bothStarted, timeout]);
      return result(name, []);
    });
  const inv = await discoverInventory({ host: new HostRoot(root), log: silentLogger, hostFacts: FACTS, vendors: [waiting('nvidia'), waiting('hanguang')] });
  t.same(seen, [1, 1], 'each vendor got the same scan');
  t.same(inv.drivers.length, 2);
  t.match(inv.warnings, [/0000:00:08\.0: vendor: expected 0x/]);
});

t.test('host facts: a function is called, and its failure falls back to node:os', async (t) => {
  const host = new HostRoot(await tempRoot());
  const ok = await discoverInventory({ host, log: silentLogger, vendors: [], hostFacts: async () => ({ ...FACTS, hostname: 'from-fn' }) });
  t.equal(ok.host.hostname, 'from-fn');
  const failed = await discoverInventory({
    host,
    log: silentLogger,
    vendors: [],
    hostFacts: async () => {
      throw new Error('no facts');
    },
  });
  t.ok(failed.host.cpuCores > 0);
  t.ok(failed.host.memoryMiB > 0);
});

t.test('numbering leaves the input alone', async (t) => {
  const input = [device('nvidia', '0000:02:00.0'), device('nvidia', '0000:01:00.0')];
  const numbered = numberDevices(input);
  t.same(numbered.map((d) => d.index), [0, 1]);
  t.equal(input[0]!.pciBusId, '0000:02:00.0');
  t.notOk('index' in input[0]!);
});
