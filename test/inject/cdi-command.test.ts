import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import type { HostRoot } from '../../agent/host/host-root.js';
import { silentLogger } from '../../agent/log.js';
import type { Device, DriverInfo } from '../../agent/model/device.js';
import { cdiGenerate, type CdiGenerateOptions } from '../../agent/inject/cdi-command.js';
import type { CdiSpec } from '../../agent/inject/container-edits.js';
import { DEFAULT_NPU_PROFILE } from '../../agent/vendors/hanguang/profile.js';
import { defaultNvmlAccess } from '../../agent/vendors/nvidia/source-nvml.js';
import { createNvidiaVendor } from '../../agent/vendors/nvidia/vendor.js';
import { loadCdiSpecValidator } from '../helpers/cdi-schema.js';
import { DRIVER_VERSION, buildNvidiaTree } from '../helpers/driver-tree.js';
import { missingTools } from '../helpers/native-libs.js';
import { gpu } from '../helpers/sample-inventory.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';

const validator = loadCdiSpecValidator();
const simSkip = simhostUnavailable();
const treeSkip = missingTools() ?? (process.getuid?.() === 0 ? null : 'mknod needs root');

/** NVIDIA discovery through the simulated host's NVML stub, numbered by PCI bus id. */
async function nvidiaDiscover(host: HostRoot): Promise<{ devices: Device[]; drivers: DriverInfo[] }> {
  const vendor = createNvidiaVendor({}, { nvml: defaultNvmlAccess });
  try {
    const found = await vendor.discover({ host, log: silentLogger });
    const devices = [...found.devices].sort((a, b) => a.pciBusId.localeCompare(b.pciBusId)).map((d, index) => ({ ...d, index }));
    return { devices, drivers: [found.driver] };
  } finally {
    await vendor.close();
  }
}

/** A simulated host removed when the test ends (the helper makes one temp dir per host). */
async function simulated(t: Test, profile: 'gn5' | 'ebman1', count?: number): Promise<string> {
  const root = await simulatedHost(profile, count);
  t.teardown(() => rmSync(path.dirname(root), { recursive: true, force: true }));
  return root;
}

function readSpec(file: string): CdiSpec {
  return JSON.parse(readFileSync(file, 'utf8')) as CdiSpec;
}

t.test('gn5 simulated host: one valid spec, every host path real and inside the tree', { skip: simSkip }, async (t) => {
  const root = await simulated(t, 'gn5');
  const outputDir = path.join(t.testdir(), 'cdi');
  const lines: string[] = [];
  const result = await cdiGenerate({ hostRoot: root, outputDir, specHostPrefix: 'root', discover: nvidiaDiscover, npu: false, print: (l) => lines.push(l) });

  const file = path.join(outputDir, 'accel-agent_nvidia.com_gpu.json');
  const spec = readSpec(file);
  if (typeof validator !== 'string') t.same(validator(spec), [], 'the written file validates against the CDI schema');
  t.equal(spec.cdiVersion, '0.5.0');
  const names = spec.devices.map((d) => d.name);
  t.same(names.filter((n) => /^\d+$/.test(n)), ['0', '1', '2', '3', '4', '5', '6', '7']);
  t.equal(names.filter((n) => n.startsWith('GPU-')).length, 8, 'one UUID name per GPU');
  t.equal(names.at(-1), 'all');

  const mounts = spec.containerEdits?.mounts ?? [];
  const containerPaths = mounts.map((m) => m.containerPath);
  t.ok(containerPaths.some((p) => p.endsWith('/libcuda.so.1')), 'libcuda.so.1 is mounted under its soname');
  t.ok(containerPaths.some((p) => p.endsWith('/libnvidia-ml.so.1')), 'libnvidia-ml.so.1 is mounted under its soname');
  t.ok(containerPaths.some((p) => p.endsWith('/libcuda.so.470.82.01')));
  t.ok(containerPaths.includes('/usr/bin/nvidia-smi'));
  for (const m of mounts) {
    t.ok(m.hostPath.startsWith(root + '/'), `${m.hostPath} is inside the simulated host`);
    t.ok(existsSync(m.hostPath), `${m.hostPath} exists`);
    t.notOk(lstatSync(m.hostPath).isSymbolicLink(), `${m.hostPath} is the file itself, not a link`);
  }
  const nodes = [...(spec.containerEdits?.deviceNodes ?? []), ...spec.devices.flatMap((d) => d.containerEdits.deviceNodes ?? [])];
  for (const n of nodes) {
    t.ok(n.hostPath?.startsWith(root + '/dev/'), `${n.path} has a host path in the tree`);
    t.ok(existsSync(n.hostPath!), `${n.hostPath} exists`);
    if (statSync(n.hostPath!).isCharacterDevice()) t.equal(n.type, 'c');
  }
  for (const r of result.refused) t.match(r.reason, /outside the allowed roots/);

  t.ok(lines.includes(`wrote ${file}`), 'the report says what was written');
  t.ok(lines.some((l) => l.startsWith('nvidia.com/gpu: 17 device names')));
  t.ok(lines.includes(`host paths in specs are prefixed with ${root}`));

  const again: string[] = [];
  const second = await cdiGenerate({ hostRoot: root, outputDir, specHostPrefix: 'root', discover: nvidiaDiscover, npu: false, print: (l) => again.push(l) });
  t.same(second.files.unchanged, ['accel-agent_nvidia.com_gpu.json'], 'a second run changes nothing');
  t.ok(again.includes(`unchanged ${file}`));
});

t.test('gn5 with the default prefix: host paths as the host itself sees them', { skip: simSkip }, async (t) => {
  const root = await simulated(t, 'gn5', 2);
  const outputDir = path.join(t.testdir(), 'cdi');
  const result = await cdiGenerate({ hostRoot: root, outputDir, discover: nvidiaDiscover, npu: false });
  t.equal(result.specHostPrefix, '');
  const spec = readSpec(path.join(outputDir, 'accel-agent_nvidia.com_gpu.json'));
  for (const m of spec.containerEdits?.mounts ?? []) t.notOk(m.hostPath.startsWith(root), `${m.hostPath} is a plain host path`);
  t.notOk(JSON.stringify(spec).includes(root), 'the tree path appears nowhere');
});

t.test('ebman1 simulated host: the NPU spec comes from the profile', { skip: simSkip }, async (t) => {
  const root = await simulated(t, 'ebman1', 2);
  const outputDir = path.join(t.testdir(), 'cdi');
  const npus: Device[] = [0, 1].map((i) => ({
    ...gpu(i),
    id: `hanguang-npu${i}`,
    vendor: 'hanguang',
    kind: 'npu',
    uuid: null,
    deviceNodes: [`/dev/hanguang${i}`],
  }));
  const driver: DriverInfo = { vendor: 'hanguang', version: null, controlNodes: [], sources: [] };
  const result = await cdiGenerate({
    hostRoot: root,
    outputDir,
    specHostPrefix: 'root',
    discover: async () => ({ devices: npus, drivers: [driver] }),
    nvidia: false,
    npu: { ...DEFAULT_NPU_PROFILE, controlNodes: ['/dev/hanguang_ctl'] },
  });
  const spec = readSpec(path.join(outputDir, 'accel-agent_aliyun.com_npu.json'));
  if (typeof validator !== 'string') t.same(validator(spec), []);
  t.same(spec.devices.map((d) => d.name), ['0', 'hanguang-npu0', '1', 'hanguang-npu1', 'all']);
  t.same(spec.containerEdits?.deviceNodes?.map((n) => [n.path, n.major, n.minor]), [['/dev/hanguang_ctl', 10, 60]]);
  t.same(spec.devices[0]!.containerEdits.deviceNodes?.map((n) => [n.path, n.major, n.minor]), [['/dev/hanguang0', 240, 0]]);
  const libs = (spec.containerEdits?.mounts ?? []).map((m) => m.containerPath);
  t.same(libs, ['/usr/local/hgai/lib/libhgrt.so', '/usr/local/hgai/lib/libhgrt.so.1', '/usr/local/hgai/lib/libhgrt.so.1.2.0']);
  t.same(result.vendors.map((v) => v.kind), ['aliyun.com/npu']);
});

/** The gcc-built tree plus real device nodes, with two GPUs discovered. */
async function treeHost(t: Test) {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  for (const [name, minor] of [['nvidia0', 0], ['nvidia1', 1], ['nvidiactl', 255]] as const) {
    execFileSync('mkdir', ['-p', path.join(tree.root, 'dev')]);
    execFileSync('mknod', [path.join(tree.root, 'dev', name), 'c', '195', String(minor)]);
  }
  const devices = [gpu(0, { driverVersion: DRIVER_VERSION }), gpu(1, { driverVersion: DRIVER_VERSION })];
  const drivers: DriverInfo[] = [{ vendor: 'nvidia', version: DRIVER_VERSION, controlNodes: ['/dev/nvidiactl'], sources: [] }];
  const base: CdiGenerateOptions = { hostRoot: tree.root, outputDir: path.join(tree.root, 'var/run/cdi'), specHostPrefix: 'root', discover: async () => ({ devices, drivers }), npu: false };
  return { root: tree.root, base };
}

t.test('refused links are printed and never mounted', { skip: treeSkip ?? false }, async (t) => {
  const { root, base } = await treeHost(t);
  const lines: string[] = [];
  const result = await cdiGenerate({ ...base, print: (l) => lines.push(l) });
  t.same(result.refused.map((r) => r.path).sort(), ['/usr/bin/nvidia-persistenced', `/usr/lib64/libnvidia-evil.so.${DRIVER_VERSION}`, `/usr/lib64/libnvidia-sneaky.so.${DRIVER_VERSION}`]);
  t.ok(lines.some((l) => l.startsWith(`refused /usr/lib64/libnvidia-evil.so.${DRIVER_VERSION}: `) && l.includes('/etc/shadow')));
  const text = readFileSync(path.join(root, 'var/run/cdi/accel-agent_nvidia.com_gpu.json'), 'utf8');
  t.notOk(text.includes('shadow'), 'the escaping target is nowhere in the spec');
  t.notOk(text.includes('evil') || text.includes('sneaky'), 'nor the refused names');
});

t.test('a vendor whose inventory fails keeps its previous spec and says so', { skip: treeSkip ?? false }, async (t) => {
  const { root, base } = await treeHost(t);
  await cdiGenerate(base);
  const file = path.join(root, 'var/run/cdi/accel-agent_nvidia.com_gpu.json');
  const before = readFileSync(file, 'utf8');
  const lines: string[] = [];
  const result = await cdiGenerate({ ...base, nvidia: { ldCachePath: 'etc/ld.so.cache' }, print: (l) => lines.push(l) });
  t.match(result.vendors[0]!.error, /not an absolute host path/);
  t.same(result.files.removed, []);
  t.equal(readFileSync(file, 'utf8'), before);
  t.ok(lines.some((l) => l.startsWith('nvidia.com/gpu: not generated, previous spec kept')));
});

t.test('no devices left: the agent’s spec is removed', { skip: treeSkip ?? false }, async (t) => {
  const { root, base } = await treeHost(t);
  await cdiGenerate(base);
  const result = await cdiGenerate({ ...base, discover: async () => ({ devices: [], drivers: [] }) });
  t.same(result.files.removed, ['accel-agent_nvidia.com_gpu.json']);
  t.same(result.vendors, [{ vendor: 'nvidia', kind: 'nvidia.com/gpu', spec: null, error: null }]);
  t.notOk(existsSync(path.join(root, 'var/run/cdi/accel-agent_nvidia.com_gpu.json')));
});

t.test('bad options are refused before anything is discovered or written', async (t) => {
  let discovered = false;
  const base: CdiGenerateOptions = {
    hostRoot: t.testdir(),
    outputDir: path.join(t.testdir(), 'cdi'),
    discover: async () => {
      discovered = true;
      return { devices: [], drivers: [] };
    },
  };
  await t.rejects(cdiGenerate({ ...base, specHostPrefix: 'sideways' }), { code: ErrorCode.CONFIG_INVALID });
  await t.rejects(cdiGenerate({ ...base, containerLibraryDir: 'usr/lib' }), { code: ErrorCode.CONFIG_INVALID });
  await t.rejects(cdiGenerate({ ...base, containerLibraryDir: '/usr/../etc' }), { code: ErrorCode.CONFIG_INVALID });
  await t.rejects(cdiGenerate({ ...base, nvidia: { kind: 'nvidia.com/../gpu' } }), { code: ErrorCode.CDI_INVALID });
  t.notOk(discovered);
  t.notOk(existsSync(base.outputDir!));
});
