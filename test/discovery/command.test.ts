import t from 'tap';
import { silentLogger } from '../../agent/log.js';
import type { HostFacts } from '../../agent/model/device.js';
import { inventoryJson, runDiscover } from '../../agent/discovery/command.js';
import { validateNpuProfile } from '../../agent/vendors/hanguang/profile.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';
import { inventory, gpu } from '../helpers/sample-inventory.js';

const skip = simhostUnavailable();
const FACTS: HostFacts = { hostname: 'sim', os: 'Simulated', kernel: '6.1.0', arch: 'x64', cpuModel: 'Sim CPU', cpuCores: 4, memoryMiB: 16384 };

t.test('JSON output has exactly host, drivers, devices, labels and warnings', async (t) => {
  const parsed = JSON.parse(inventoryJson({ ...inventory([gpu(0)]), extra: 'dropped' } as never)) as Record<string, unknown>;
  t.same(Object.keys(parsed), ['host', 'drivers', 'devices', 'labels', 'warnings']);
});

t.test('vgn5i end to end: one vGPU from NVML and the vGPU node labels', { skip }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const out = JSON.parse(await runDiscover({ hostRoot: root, output: 'json', log: silentLogger, hostFacts: FACTS }));
  t.same(out.host, FACTS);
  t.same(out.warnings, []);
  t.match(out.devices, [{ vendor: 'nvidia', kind: 'vgpu', index: 0, model: 'GRID P4-2Q', memoryMiB: 2048, source: 'nvml', deviceNodes: ['/dev/nvidia0'] }]);
  t.equal(out.devices.length, 1);
  t.match(out.drivers, [
    { vendor: 'nvidia', version: '470.82.01', sources: [{ source: 'nvml', ok: true }] },
    { vendor: 'hanguang', version: null, sources: [{ source: 'sysfs', ok: true }] },
  ]);
  t.same(out.labels, {
    'aliyun.accelerator/nvidia_count': '1',
    'aliyun.accelerator/nvidia_mem': '2048MiB',
    'aliyun.accelerator/nvidia_name': 'GRID-P4-2Q',
    'nvidia.com/gpu.count': '1',
    'nvidia.com/gpu.memory': '2048',
    'nvidia.com/gpu.product': 'GRID-P4-2Q',
    'nvidia.com/vgpu.present': 'true',
  });
});

t.test('gn5 end to end as a table: eight GPUs indexed 0..7 across two NUMA nodes', { skip }, async (t) => {
  const text = await runDiscover({ hostRoot: await simulatedHost('gn5'), output: 'table', log: silentLogger, hostFacts: FACTS });
  const rows = text.split('\n').filter((l) => /^nvidia\s+\d+\s+gpu\s/.test(l));
  t.equal(rows.length, 8);
  t.same(rows.map((r) => r.split(/\s+/)[1]), ['0', '1', '2', '3', '4', '5', '6', '7']);
  t.same(rows.map((r) => r.match(/0000:\S+\s+(\d)\s/)?.[1]), ['0', '0', '0', '0', '1', '1', '1', '1']);
  t.match(text, /nvidia\.com\/gpu\.count=8/);
});

t.test('ebman1 end to end: NPUs with nodes from uevent, no GPU, eRDMA not an NPU', { skip }, async (t) => {
  const out = JSON.parse(
    await runDiscover({
      hostRoot: await simulatedHost('ebman1'),
      output: 'json',
      log: silentLogger,
      hostFacts: FACTS,
      npu: validateNpuProfile({ controlNodes: ['/dev/hanguang_ctl'] }),
    }),
  );
  t.same(
    out.devices.map((d: { index: number; deviceNodes: string[]; kind: string }) => [d.kind, d.index, d.deviceNodes]),
    [0, 1, 2, 3].map((i) => ['npu', i, [`/dev/hanguang${i}`]]),
  );
  t.match(out.drivers, [{ vendor: 'nvidia', version: null }, { vendor: 'hanguang', version: '1.2.0', controlNodes: ['/dev/hanguang_ctl'] }]);
  t.same(out.labels, { 'aliyun.accelerator/npu_count': '4', 'aliyun.accelerator/npu_name': 'Hanguang-800' });
});

t.test('empty host end to end: no devices, no labels, no warnings', { skip }, async (t) => {
  const out = JSON.parse(await runDiscover({ hostRoot: await simulatedHost('empty'), output: 'json', log: silentLogger, hostFacts: FACTS }));
  t.same(out.devices, []);
  t.same(out.labels, {});
  t.same(out.warnings, []);
});

t.test('vendors can be turned off', { skip }, async (t) => {
  const out = JSON.parse(
    await runDiscover({ hostRoot: await simulatedHost('vgn5i'), output: 'json', log: silentLogger, hostFacts: FACTS, nvidia: { enabled: false }, npu: false }),
  );
  t.same(out.drivers, []);
  t.same(out.devices, []);
});

t.test('a host root that does not exist gives an empty inventory, not a crash', async (t) => {
  const out = JSON.parse(
    await runDiscover({ hostRoot: '/nonexistent/host/root', output: 'json', log: silentLogger, hostFacts: FACTS, nvidia: { sources: ['procfs', 'sysfs'] } }),
  );
  t.same(out.devices, []);
  t.match(out.drivers[0].sources, [{ source: 'procfs', ok: false }, { source: 'sysfs', ok: true }]);
});
