import t from 'tap';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { NATIVE_DIR, requireNative, stubDriver, twoGpuConf } from './stub-fixture.js';

const PROBE = path.join(NATIVE_DIR, 'ldso-probe');
const FAKE_LIBS = path.join(NATIVE_DIR, 'fake-libs');

function probe(what: string, libraryPath: string | null) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (libraryPath !== null) env.LD_LIBRARY_PATH = libraryPath;
  return execa(PROBE, [what], { env, extendEnv: false, reject: false, timeout: 20_000 });
}

if (requireNative(t, ['ldso-probe', 'libnvidia-ml.so.1', 'fake-libs/libcuda.so.1'])) {
  t.test('loads NVML and CUDA by soname through the loader search path', async (t) => {
    const driver = await stubDriver(t, twoGpuConf());
    const nvml = await probe('nvml', `${driver.dir}:${FAKE_LIBS}`);
    t.equal(nvml.exitCode, 0, nvml.stderr);
    t.equal(nvml.stdout, 'nvml ok driver=470.82.01');
    const cuda = await probe('cuda', `${driver.dir}:${FAKE_LIBS}`);
    t.equal(cuda.exitCode, 0, cuda.stderr);
    t.equal(cuda.stdout, 'cuda ok version=11040', 'no conf beside this libcuda: its built-in default');
  });

  t.test('libcuda reports the CUDA version of the driver conf beside it', async (t) => {
    const driver = await stubDriver(t, twoGpuConf().replace('cuda_driver_version 11040', 'cuda_driver_version 12020'), {
      extraLibs: ['fake-libs/libcuda.so.1'],
    });
    const cuda = await probe('cuda', driver.dir);
    t.equal(cuda.stdout, 'cuda ok version=12020');
  });

  t.test('a library loaded without its driver state fails loudly, not with a fake success', async (t) => {
    const driver = await stubDriver(t, null);
    const r = await probe('nvml', driver.dir);
    t.not(r.exitCode, 0);
    t.match(r.stderr, /nvmlInit_v2 failed: Driver Not Loaded/);
  });

  const systemNvml = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64'].some((d) =>
    existsSync(path.join(d, 'libnvidia-ml.so.1')),
  );
  t.test('nothing on the search path: a clear load failure', { skip: systemNvml && 'this machine has a real NVML' }, async (t) => {
    const r = await probe('nvml', null);
    t.not(r.exitCode, 0);
    t.match(r.stderr, /cannot load libnvidia-ml\.so\.1/);
    const cuda = await probe('cuda', null);
    t.not(cuda.exitCode, 0);
    t.match(cuda.stderr, /cannot load libcuda\.so\.1/);
  });

  t.test('usage errors exit 2', async (t) => {
    for (const args of [[], ['opencl'], ['nvml', 'extra']]) {
      const r = await execa(PROBE, args, { reject: false });
      t.equal(r.exitCode, 2, JSON.stringify(args));
      t.match(r.stderr, /usage: ldso-probe nvml\|cuda/);
    }
  });
}
