import t from 'tap';
import { AccelError, ErrorCode } from '../../../agent/errors.js';
import { HostRoot } from '../../../agent/host/host-root.js';
import { silentLogger } from '../../../agent/log.js';
import { setDelay, setFailure } from '../../../agent/simhost/nvml-state.js';
import { writeSysfsAttribute } from '../../../agent/simhost/mutate.js';
import type { NvidiaOptions } from '../../../agent/vendors/nvidia/options.js';
import type { NvmlAccess } from '../../../agent/vendors/nvidia/source-nvml.js';
import { createNvidiaVendor } from '../../../agent/vendors/nvidia/vendor.js';
import { defaultNvmlAccess } from '../../../agent/vendors/nvidia/source-nvml.js';
import { simhostUnavailable, simulatedHost } from '../../helpers/simulated-hosts.js';
import { put } from '../../helpers/sysfs-tree.js';

const skip = simhostUnavailable();
const noAddon: NvmlAccess = {
  load: () => ({ available: false, error: new AccelError(ErrorCode.NATIVE_UNAVAILABLE, 'NVML addon unavailable: not built') }),
};

async function discover(root: string, options: Partial<NvidiaOptions> = {}, nvml: NvmlAccess = defaultNvmlAccess) {
  const vendor = createNvidiaVendor(options, { nvml });
  try {
    return await vendor.discover({ host: new HostRoot(root), log: silentLogger });
  } finally {
    await vendor.close();
  }
}

t.test('vgn5i: one GRID P4-2Q vGPU from NVML, with labels operators select on', { skip }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const vendor = createNvidiaVendor({}, { nvml: defaultNvmlAccess });
  const d = await vendor.discover({ host: new HostRoot(root), log: silentLogger });
  t.same(d.warnings, []);
  t.equal(d.devices.length, 1);
  t.match(d.devices[0], {
    vendor: 'nvidia',
    kind: 'vgpu',
    model: 'GRID P4-2Q',
    memoryMiB: 2048,
    pciBusId: '0000:00:07.0',
    numaNode: null,
    deviceNodes: ['/dev/nvidia0'],
    driverVersion: '470.82.01',
    source: 'nvml',
    health: 'Healthy',
  });
  t.match(d.devices[0]!.id, /^GPU-[0-9a-f-]{36}$/);
  t.equal(d.devices[0]!.id, d.devices[0]!.uuid);
  t.equal(d.driver.version, '470.82.01');
  t.same(d.driver.controlNodes, ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset']);
  t.match(d.driver.sources, [{ source: 'nvml', ok: true, detail: /^NVML 11\.470\.82\.01 via .*libnvidia-ml\.so\.1: 1 GPU$/ }]);
  t.equal(d.driver.sources.length, 1, 'the first source that answers ends the search');
  t.match(vendor.labels(d), {
    'aliyun.accelerator/nvidia_count': '1',
    'aliyun.accelerator/nvidia_mem': '2048MiB',
    'aliyun.accelerator/nvidia_name': 'GRID-P4-2Q',
    'nvidia.com/vgpu.present': 'true',
  });
});

t.test('gn5: eight passthrough GPUs, four on each NUMA node', { skip }, async (t) => {
  const d = await discover(await simulatedHost('gn5'));
  t.equal(d.devices.length, 8);
  t.ok(d.devices.every((x) => x.kind === 'gpu' && x.source === 'nvml' && x.model === 'Tesla P100-PCIE-16GB'));
  t.same(d.devices.map((x) => x.numaNode), [0, 0, 0, 0, 1, 1, 1, 1]);
  t.same(new Set(d.devices.flatMap((x) => x.deviceNodes)).size, 8, 'one node each');
});

t.test('without the addon, nvidia-smi answers and the NVML failure is recorded', { skip }, async (t) => {
  const d = await discover(await simulatedHost('vgn5i'), {}, noAddon);
  t.match(d.driver.sources, [
    { source: 'nvml', ok: false, detail: /addon unavailable/ },
    { source: 'nvidia-smi', ok: true },
  ]);
  t.match(d.devices, [{ source: 'nvidia-smi', kind: 'vgpu', model: 'GRID P4-2Q', memoryMiB: 2048, deviceNodes: ['/dev/nvidia0'] }]);
  t.equal(d.driver.version, '470.82.01');
});

t.test('NVML failing to initialise: nvidia-smi (built on NVML) fails too, procfs answers; each says why', { skip }, async (t) => {
  const root = await simulatedHost('vgn5i');
  await setFailure(root, 'nvmlInit_v2', 9);
  const d = await discover(root);
  t.match(d.driver.sources, [
    { source: 'nvml', ok: false, detail: /^NVML is unavailable: nvmlInit_v2 failed: Driver Not Loaded$/ },
    { source: 'nvidia-smi', ok: false, detail: /exited with status 9: NVIDIA-SMI has failed/ },
    { source: 'procfs', ok: true, detail: '/proc/driver/nvidia: driver 470.82.01, 1 GPU' },
  ]);
  t.equal(d.driver.sources.length, 3);
  t.match(d.devices, [{ source: 'procfs', kind: 'vgpu', model: 'GRID P4-2Q' }], 'devices carry the source that found them');
});

t.test('a hanging nvidia-smi is killed at the timeout and procfs answers', { skip }, async (t) => {
  const root = await simulatedHost('vgn5i');
  await setDelay(root, 'nvidia-smi', 60_000);
  const started = Date.now();
  const d = await discover(root, { smiTimeoutMs: 400 }, noAddon);
  t.ok(Date.now() - started < 30_000, 'did not wait for nvidia-smi');
  t.match(d.driver.sources, [
    { source: 'nvml', ok: false },
    { source: 'nvidia-smi', ok: false, detail: /did not answer within 400 ms and was killed/ },
    { source: 'procfs', ok: true },
  ]);
  t.match(d.devices, [{ source: 'procfs', kind: 'vgpu', model: 'GRID P4-2Q', memoryMiB: null, deviceNodes: ['/dev/nvidia0'] }]);
  t.match(d.devices[0]!.uuid, /^GPU-/);
  t.equal(d.driver.version, '470.82.01');
});

t.test('garbage in /proc/driver/nvidia: warnings, and discovery carries on', { skip }, async (t) => {
  const root = await simulatedHost('gn5', 2);
  await put(root, '/proc/driver/nvidia/version', '\x00\x00garbage');
  await put(root, '/proc/driver/nvidia/gpus/0000:01:00.0/information', 'Model: \ttruncat');
  const d = await discover(root, { sources: ['procfs', 'sysfs'] });
  t.match(d.driver.sources, [{ source: 'procfs', ok: true }]);
  t.equal(d.driver.version, null);
  t.equal(d.devices.length, 2);
  t.match(d.warnings.join('\n'), /no "NVRM version:" line/);
  t.match(d.warnings.join('\n'), /0000:01:00\.0.*skipped by procfs/);
  const fromSysfs = d.devices.find((x) => x.source === 'sysfs');
  t.match(fromSysfs, { pciBusId: '0000:01:00.0', uuid: null, health: 'Healthy' }, 'filled in from sysfs, driver bound');
});

t.test('truncated sysfs files: the function is skipped with a warning, the rest found', { skip }, async (t) => {
  const root = await simulatedHost('gn5', 2);
  const host = new HostRoot(root);
  const dir = await host.resolve('/sys/bus/pci/devices/0000:01:00.0');
  await writeSysfsAttribute(root, `${dir}/class`, '0x03');
  const d = await discover(root, { sources: ['sysfs'] });
  t.equal(d.devices.length, 1);
  t.not(d.devices[0]!.pciBusId, '0000:01:00.0');
  t.match(d.warnings.join('\n'), /0000:01:00\.0: class: expected 0x and 6 hex digits/);
});

t.test('empty host: nothing found, every source says why', { skip }, async (t) => {
  const d = await discover(await simulatedHost('empty'));
  t.same(d.devices, []);
  t.equal(d.driver.version, null);
  t.same(d.driver.controlNodes, []);
  t.match(d.driver.sources, [
    { source: 'nvml', ok: false, detail: /libnvidia-ml\.so\.1 not found on the host/ },
    { source: 'nvidia-smi', ok: false, detail: /not found on the host/ },
    { source: 'procfs', ok: false, detail: /not loaded/ },
    { source: 'sysfs', ok: true, detail: 'PCI scan: 0 GPUs' },
  ]);
});
