import { rm, symlink, writeFile } from 'node:fs/promises';
import t from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { createProbe, type NvmlDeviceLister, type NvmlListedDevice } from '../../agent/health/probe.js';
import { gpuAndNpuHost } from './sys-tree.js';

async function setup(t: { teardown(fn: () => unknown): void }, nvml?: NvmlDeviceLister) {
  const h = await gpuAndNpuHost();
  t.teardown(() => h.tree.destroy());
  return { ...h, probe: createProbe({ host: new HostRoot(h.tree.root), devices: [h.gpu, h.npu], nvml: nvml ?? null }) };
}

t.test('a present device with readable sysfs passes', async (t) => {
  const { probe, gpu, npu } = await setup(t);
  t.same(await probe(gpu.id), { ok: true, detail: 'nodes present, sysfs readable' });
  t.same(await probe(npu.id), { ok: true, detail: 'nodes present, sysfs readable' });
});

t.test('a missing node, a missing function or unreadable sysfs fails with the reason', async (t) => {
  const { probe, tree, gpu, npu } = await setup(t);
  await tree.removeNode('/dev/nvidia0');
  t.same(await probe(gpu.id), { ok: false, detail: 'device node /dev/nvidia0 is missing' });
  await tree.removeFunction(npu.pciBusId);
  t.same(await probe(npu.id), { ok: false, detail: 'PCI function 0000:00:08.0 is not on the bus' });
  await tree.addFunction(npu.pciBusId, '0x1ded', 'hgnpu');
  await writeFile(tree.p(`/sys/devices/pci0000:00/${npu.pciBusId}/vendor`), '\u0000\u0001garbage');
  t.same(await probe(npu.id), { ok: false, detail: 'sysfs of 0000:00:08.0 does not answer (vendor id unreadable)' });
});

t.test('a bus entry pointing out of /sys fails instead of being followed', async (t) => {
  const { probe, tree, npu } = await setup(t);
  await rm(tree.p(`/sys/bus/pci/devices/${npu.pciBusId}`));
  await symlink('/', tree.p(`/sys/bus/pci/devices/${npu.pciBusId}`));
  const r = await probe(npu.id);
  t.equal(r.ok, false);
  t.match(r.detail, /outside the allowed roots/);
});

t.test('with NVML, an NVIDIA device must also be listed by NVML', async (t) => {
  let listed: NvmlListedDevice[] = [{ uuid: 'gpu-AAAA' }, { uuid: null }];
  let calls = 0;
  const nvml: NvmlDeviceLister = {
    devices: async () => {
      calls++;
      return listed;
    },
  };
  const { probe, gpu, npu } = await setup(t, nvml);
  t.same(await probe(gpu.id), { ok: true, detail: 'nodes present, sysfs readable, NVML lists the device' }, 'UUIDs compare case-insensitively');
  listed = [{ uuid: 'GPU-bbbb' }];
  t.same(await probe(gpu.id), { ok: false, detail: 'NVML does not list GPU-aaaa' });
  listed = [{ uuid: 'GPU-aaaa', error: { name: 'GPU_IS_LOST', message: 'GPU is lost' } }];
  t.same(await probe(gpu.id), { ok: false, detail: 'NVML cannot query GPU-aaaa: GPU_IS_LOST' }, 'listed but failing is not answering');
  const before = calls;
  t.equal((await probe(npu.id)).ok, true, 'NPUs are not asked of NVML');
  t.equal(calls, before);
});

t.test('an NVML failure during the probe is a failed probe, not a crash', async (t) => {
  const { probe, gpu } = await setup(t, {
    devices: () => {
      throw new Error('NVML_ERROR_GPU_IS_LOST');
    },
  });
  t.same(await probe(gpu.id), { ok: false, detail: 'NVML_ERROR_GPU_IS_LOST' });
});

t.test('an unknown device id fails', async (t) => {
  const { probe } = await setup(t);
  t.same(await probe('GPU-nope'), { ok: false, detail: 'unknown device GPU-nope' });
});
