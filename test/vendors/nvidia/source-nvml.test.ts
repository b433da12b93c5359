import t from 'tap';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../../../agent/errors.js';
import { HostRoot } from '../../../agent/host/host-root.js';
import { silentLogger } from '../../../agent/log.js';
import type { NvmlBinding, NvmlDeviceInfo, NvmlSession } from '../../../agent/vendors/nvidia/nvml-binding.js';
import { queryNvml, type NvmlAccess } from '../../../agent/vendors/nvidia/source-nvml.js';
import { link, put, tempRoot } from '../../helpers/sysfs-tree.js';

const P4: NvmlDeviceInfo = {
  index: 0,
  uuid: 'GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b',
  name: 'GRID P4-2Q',
  pciBusId: '00000000:00:07.0',
  pciDeviceId: 0x1bb310de,
  pciSubsystemId: 0x120410de,
  minor: 0,
  memoryTotalBytes: 2048 * 1024 * 1024,
  virtualizationMode: 2,
};

interface Fake {
  access: NvmlAccess;
  opened: string[];
  shutdowns: number;
}

function fakeNvml(devices: NvmlDeviceInfo[] | Error, deviceCount = Array.isArray(devices) ? devices.length : 0): Fake {
  const fake: Fake = { opened: [], shutdowns: 0, access: { load: () => ({ available: true, binding }) } };
  const binding: NvmlBinding = {
    addonPath: '/fake/accel_nvml.node',
    open: async (libraryPath) => {
      fake.opened.push(libraryPath);
      const session: NvmlSession = {
        libraryPath,
        closed: false,
        driverVersion: '470.82.01',
        nvmlVersion: '11.470.82.01',
        cudaDriverVersion: 11040,
        deviceCount,
        devices: async () => {
          if (devices instanceof Error) throw devices;
          return devices;
        },
        sample: async () => [],
        waitEvents: async () => [],
        shutdown: async () => {
          fake.shutdowns++;
        },
      };
      return session;
    },
  };
  return fake;
}

async function hostWithLibrary(at = '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1'): Promise<HostRoot> {
  const root = await tempRoot('nvml-');
  await put(root, at, 'ELF');
  return new HostRoot(root);
}

t.test('the host library is opened by its agent-side path, devices listed, the session shut', async (t) => {
  const host = await hostWithLibrary();
  const fake = fakeNvml([P4]);
  const answer = await queryNvml({ host, log: silentLogger }, null, fake.access);
  t.same(fake.opened, [path.join(host.root, '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1')]);
  t.equal(fake.shutdowns, 1);
  t.equal(answer.driverVersion, '470.82.01');
  t.equal(answer.detail, 'NVML 11.470.82.01 via /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: 1 GPU');
  t.same(answer.gpus, [
    {
      pciBusId: '0000:00:07.0',
      uuid: P4.uuid,
      name: 'GRID P4-2Q',
      memoryMiB: 2048,
      minor: 0,
      virtualizationMode: 'vgpu',
      source: 'nvml',
      problem: null,
    },
  ]);
  t.same(answer.warnings, []);
});

t.test('a configured library path is the only one tried', async (t) => {
  const host = await hostWithLibrary('/usr/local/nvidia/lib64/libnvidia-ml.so.1');
  await put(host.root, '/usr/lib64/libnvidia-ml.so.1', 'ELF');
  const fake = fakeNvml([]);
  await queryNvml({ host, log: silentLogger }, '/usr/local/nvidia/lib64/libnvidia-ml.so.1', fake.access);
  t.same(fake.opened, [path.join(host.root, '/usr/local/nvidia/lib64/libnvidia-ml.so.1')]);
  await t.rejects(queryNvml({ host, log: silentLogger }, '/opt/none/libnvidia-ml.so.1', fake.access), {
    code: ErrorCode.NVML_UNAVAILABLE,
    message: /^\/opt\/none\/libnvidia-ml\.so\.1 not found on the host$/,
  });
});

t.test('no library on the host: fails before the addon is even loaded', async (t) => {
  let loaded = false;
  const access: NvmlAccess = {
    load: () => {
      loaded = true;
      return fakeNvml([]).access.load();
    },
  };
  await t.rejects(queryNvml({ host: new HostRoot(await tempRoot()), log: silentLogger }, null, access), { message: /libnvidia-ml\.so\.1 not found on the host/ });
  t.notOk(loaded);
});

t.test('an untrusted library is refused and the refusal is part of the reason', async (t) => {
  const root = await tempRoot('nvml-');
  await put(root, '/tmp/libnvidia-ml.so.1', 'ELF');
  await link(root, '/usr/lib64/libnvidia-ml.so.1', '/tmp/libnvidia-ml.so.1');
  await put(root, '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1', 'ELF');
  await chmod(path.join(root, '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1'), 0o666);
  const fake = fakeNvml([]);
  await t.rejects(queryNvml({ host: new HostRoot(root), log: silentLogger }, null, fake.access), {
    message: /not found on the host; .*writable by every user.*; \/usr\/lib64\/libnvidia-ml\.so\.1 refused: .*outside the allowed roots/,
  });
  t.same(fake.opened, []);
});

t.test('the addon being unavailable is the reason given', async (t) => {
  const access: NvmlAccess = { load: () => ({ available: false, error: new AccelError(ErrorCode.NATIVE_UNAVAILABLE, 'NVML addon unavailable: not built') }) };
  await t.rejects(queryNvml({ host: await hostWithLibrary(), log: silentLogger }, null, access), { code: ErrorCode.NATIVE_UNAVAILABLE });
});

t.test('a listing failure fails the source and still shuts NVML down', async (t) => {
  const fake = fakeNvml(new AccelError(ErrorCode.NVML_CALL, 'NVML call failed: Unknown Error'));
  await t.rejects(queryNvml({ host: await hostWithLibrary(), log: silentLogger }, null, fake.access), { code: ErrorCode.NVML_CALL });
  t.equal(fake.shutdowns, 1);
});

t.test('odd records: no bus id skipped, bad UUID and name tolerated, device errors become problems', async (t) => {
  const lost = { code: 15, name: 'GPU_IS_LOST', function: 'nvmlDeviceGetPciInfo_v3', message: 'GPU is lost' };
  const fake = fakeNvml(
    [
      { ...P4, index: 0, pciBusId: null, error: lost },
      { ...P4, index: 1, pciBusId: '00000000:00:08.0', uuid: 'not-a-uuid', name: null, memoryTotalBytes: null, virtualizationMode: 77 },
      { ...P4, index: 2, pciBusId: '00000000:00:09.0', error: { ...lost, function: 'nvmlDeviceGetMemoryInfo' } },
    ],
    4,
  );
  const answer = await queryNvml({ host: await hostWithLibrary(), log: silentLogger }, null, fake.access);
  t.same(answer.gpus.map((g) => g.pciBusId), ['0000:00:08.0', '0000:00:09.0']);
  t.match(answer.gpus[0], { uuid: null, name: 'NVIDIA GPU', memoryMiB: null, virtualizationMode: null, problem: null });
  t.equal(answer.gpus[1]!.problem, 'NVML nvmlDeviceGetMemoryInfo: GPU_IS_LOST');
  t.match(answer.warnings.join('\n'), /NVML device 0: no valid PCI bus id \(null\): GPU_IS_LOST in nvmlDeviceGetPciInfo_v3; skipped/);
  t.match(answer.warnings.join('\n'), /NVML counts 4 devices but listed 3/);
});
