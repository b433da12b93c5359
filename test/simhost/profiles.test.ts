import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import type { HostSpec, PciFunctionSpec } from '../../agent/simhost/host-spec.js';
import { buildHostSpec, isProfileName, listProfiles } from '../../agent/simhost/profiles.js';

const gpus = (spec: HostSpec) => spec.pci.filter((f) => f.vendorId === 0x10de);
const npus = (spec: HostSpec) => spec.pci.filter((f) => f.vendorId === 0x1ded && f.classCode >> 16 === 0x12);
const node = (spec: HostSpec, p: string) => spec.deviceNodes.find((n) => n.path === p);
const file = (spec: HostSpec, p: string) => spec.files.find((f) => f.path === p)?.content;

t.test('every listed profile builds, and only listed names are profiles', async (t) => {
  const names = listProfiles().map((p) => p.name);
  t.same(names.sort(), ['ebman1', 'empty', 'gn5', 'gpu16', 'vgn5i']);
  for (const name of names) {
    t.equal(isProfileName(name), true);
    t.equal(buildHostSpec(name).profile, name);
  }
  t.equal(isProfileName('vgn5i '), false);
  t.equal(isProfileName('__proto__'), false);
});

t.test('an unknown profile is refused and the known ones are named', async (t) => {
  t.throws(() => buildHostSpec('gn6'), { code: ErrorCode.SIMHOST, message: /known: .*vgn5i/ });
});

t.test('vgn5i is one GRID P4-2Q vGPU at 0000:00:07.0 with no NUMA node', async (t) => {
  const spec = buildHostSpec('vgn5i');
  const [gpu, ...rest] = gpus(spec);
  t.equal(rest.length, 0);
  t.match(gpu, { address: '0000:00:07.0', parent: null, deviceId: 0x1bb3, classCode: 0x030200, driver: 'nvidia', numaNode: -1 });
  const dev = spec.nvml!.state.devices;
  t.equal(dev.length, 1);
  t.match(dev[0], { name: 'GRID P4-2Q', memory_total_mib: 2048, virtualization_mode: 2, pci_bus_id: '00000000:00:07.0', minor: 0 });
  t.equal(dev[0]!.pci_device_id, 0x1bb310de);
  t.notOk('ecc_corrected' in dev[0]!, 'a vGPU guest has no ECC counters, so the stub must answer NOT_SUPPORTED');
  t.equal(spec.nvml!.state.driverVersion, '470.82.01');
  t.same(node(spec, '/dev/nvidia0'), { path: '/dev/nvidia0', major: 195, minor: 0, mode: 0o666 });
  t.match(node(spec, '/dev/nvidiactl'), { major: 195, minor: 255 });
  t.match(node(spec, '/dev/nvidia-modeset'), { major: 195, minor: 254 });
  t.match(node(spec, '/dev/nvidia-uvm'), { major: 511, minor: 0 });
  t.match(node(spec, '/dev/nvidia-uvm-tools'), { major: 511, minor: 1 });
  t.match(file(spec, '/proc/devices'), /^195 nvidia-frontend$/m);
  t.match(file(spec, '/proc/devices'), /^511 nvidia-uvm$/m);
  t.match(file(spec, '/proc/driver/nvidia/gpus/0000:00:07.0/information'), /^Model: \t\t GRID P4-2Q$/m);
  t.equal(spec.files.filter((f) => f.path.startsWith('/lib/firmware/')).length, 0, 'Pascal has no GSP firmware');
});

t.test('gn5 has 8 P100s behind their own root ports, 4 per NUMA node, minors in PCI order', async (t) => {
  const spec = buildHostSpec('gn5');
  const list = gpus(spec);
  t.equal(list.length, 8);
  t.same(list.map((g) => g.numaNode), [0, 0, 0, 0, 1, 1, 1, 1]);
  const byAddress = new Map(spec.pci.map((f) => [f.address, f]));
  for (const g of list) {
    t.equal(g.deviceId, 0x15f8);
    const port = byAddress.get(g.parent!);
    t.ok(port, `${g.address} has its bridge`);
    t.equal(port!.classCode, 0x060400);
    t.equal(port!.numaNode, g.numaNode, 'a GPU sits on its root port\'s node');
  }
  const devices = spec.nvml!.state.devices;
  t.same(devices.map((d) => d.minor), [0, 1, 2, 3, 4, 5, 6, 7]);
  t.same(
    devices.map((d) => d.pci_bus_id!.slice(4).toLowerCase()),
    list.map((g) => g.address),
    'NVML index order is PCI order',
  );
  const uuids = devices.map((d) => d.uuid!);
  t.equal(new Set(uuids).size, 8);
  for (const u of uuids) t.match(u, /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.equal(devices[0]!.virtualization_mode, 1, 'passthrough');
  t.equal(devices[0]!.ecc_uncorrected, 0);
});

t.test('ebman1 has NPUs with char-device children and an eRDMA function that is not an NPU', async (t) => {
  const spec = buildHostSpec('ebman1');
  const list = npus(spec);
  t.equal(list.length, 4);
  t.same(list.map((n) => n.numaNode), [0, 0, 1, 1]);
  list.forEach((n, i) => {
    t.equal(n.classCode, 0x120000);
    t.equal(n.driver, 'hanguang');
    t.same(n.charDevices, [{ className: 'hanguang', name: `hanguang${i}`, major: 240, minor: i, devName: `hanguang${i}` }]);
    t.match(node(spec, `/dev/hanguang${i}`), { major: 240, minor: i });
    t.ok(n.hwmon && /^\d+$/.test(n.hwmon.attributes.temp1_input!), 'hwmon temperature in millidegrees');
  });
  const erdma = spec.pci.filter((f) => f.vendorId === 0x1ded && f.classCode === 0x020000);
  t.equal(erdma.length, 1);
  t.match(erdma[0], { deviceId: 0x107f, driver: 'erdma' });
  t.equal(erdma[0]!.charDevices[0]!.devName, 'infiniband/uverbs0', 'a same-vendor function with a char node, for discovery to pass over');
  const ports = spec.pci.filter((f) => f.vendorId === 0x1ded && f.classCode === 0x060400);
  t.equal(ports.length, 4, 'same-vendor root ports are bridges, not NPUs');
  t.same(spec.virtualCharDevices.map((d) => d.name), ['hanguang_ctl']);
  t.equal(spec.nvml, null);
  t.same(spec.libraries.map((l) => [l.path, l.soname]), [['/usr/local/hgai/lib/libhgrt.so.1.2.0', 'libhgrt.so.1']]);
  t.equal(file(spec, '/etc/ld.so.conf.d/hgai.conf'), '/usr/local/hgai/lib\n');
  t.equal(gpus(spec).length, 0);
});

t.test('empty has the emulated devices and nothing an accelerator stack would add', async (t) => {
  const spec = buildHostSpec('empty');
  t.equal(gpus(spec).length, 0);
  t.equal(npus(spec).length, 0);
  t.ok(spec.pci.some((f) => f.vendorId === 0x1af4 && f.classCode === 0x020000), 'virtio NIC');
  t.ok(spec.pci.some((f) => f.classCode === 0x030000 && f.vendorId !== 0x10de), 'a non-NVIDIA VGA controller');
  t.equal(spec.nvml, null);
  t.same(spec.libraries, []);
  t.notOk(spec.files.some((f) => f.path.startsWith('/proc/driver/')));
  t.notMatch(file(spec, '/proc/devices'), /nvidia|hanguang/);
  t.match(file(spec, '/proc/devices'), /^Character devices:\n  1 mem\n/);
});

t.test('gpu16 has 16 GPUs, 8 per node, and GSP firmware for its driver', async (t) => {
  const spec = buildHostSpec('gpu16');
  const list = gpus(spec);
  t.equal(list.length, 16);
  t.equal(list.filter((g) => g.numaNode === 0).length, 8);
  t.equal(spec.nvml!.state.devices.length, 16);
  const fw = spec.files.filter((f) => f.path.startsWith('/lib/firmware/')).map((f) => f.path);
  t.same(fw.sort(), ['/lib/firmware/nvidia/535.129.03/gsp_ga10x.bin', '/lib/firmware/nvidia/535.129.03/gsp_tu10x.bin']);
  t.ok(spec.libraries.every((l) => l.path.endsWith('.so.535.129.03')));
});

t.test('count overrides the accelerator number within the profile\'s bounds', async (t) => {
  const three = buildHostSpec('gn5', { count: 3 });
  t.same(gpus(three).map((g) => g.numaNode), [0, 0, 1]);
  t.equal(buildHostSpec('gpu16', { count: 32 }).nvml!.state.devices.length, 32);
  t.equal(npus(buildHostSpec('ebman1', { count: 1 })).length, 1);
  t.equal(gpus(buildHostSpec('vgn5i', { count: 2 })).map((g) => g.address).join(), '0000:00:07.0,0000:00:08.0');
  for (const bad of [0, -1, 33, 1.5, Number.NaN]) {
    t.throws(() => buildHostSpec('gn5', { count: bad }), /count must be an integer from 1 to 32/, String(bad));
  }
  t.throws(() => buildHostSpec('empty', { count: 1 }), /has no accelerators/);
});

t.test('specs are deterministic and internally consistent', async (t) => {
  for (const { name } of listProfiles()) {
    const spec = buildHostSpec(name);
    t.same(buildHostSpec(name), spec, `${name} builds the same twice`);
    const addresses = spec.pci.map((f) => f.address);
    t.equal(new Set(addresses).size, addresses.length, `${name}: addresses unique`);
    for (const f of spec.pci) {
      t.match(f.address, /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/);
      if (f.parent !== null) t.ok(addresses.includes(f.parent), `${name}: parent of ${f.address} exists`);
    }
    const paths = [...spec.files.map((f) => f.path), ...spec.deviceNodes.map((n) => n.path), ...spec.libraries.map((l) => l.path)];
    t.equal(new Set(paths).size, paths.length, `${name}: no path written twice`);
    for (const p of paths) t.ok(p.startsWith('/') && !p.split('/').includes('..'), `${name}: ${p} is a clean host path`);
    const majors = spec.deviceNodes.map((n) => `${n.major}:${n.minor}`);
    t.equal(new Set(majors).size, majors.length, `${name}: device numbers unique`);
    const irqs = spec.pci.map((f: PciFunctionSpec) => f.irq);
    t.equal(new Set(irqs).size, irqs.length, `${name}: irqs unique`);
  }
});

t.test('listProfiles describes each profile and marks the NPU guesses as assumptions', async (t) => {
  const ebman1 = listProfiles().find((p) => p.name === 'ebman1')!;
  t.equal(ebman1.defaultCount, 4);
  t.ok(ebman1.assumptions.some((a) => /device id 0x1000/.test(a)));
  const empty = listProfiles().find((p) => p.name === 'empty')!;
  t.equal(empty.maxCount, 0);
  ebman1.assumptions.push('mutated');
  t.notOk(listProfiles().find((p) => p.name === 'ebman1')!.assumptions.includes('mutated'), 'callers get copies');
});
