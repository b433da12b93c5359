import t from 'tap';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../helpers/temp-dir.js';
import { GPU0_UUID, GPU1_UUID, NATIVE_DIR, requireNative, stubDriver, twoGpuConf, type TestLike } from './stub-fixture.js';

const LIB_DIR = 'usr/lib/x86_64-linux-gnu';

/** Only what the tool needs: no LD_LIBRARY_PATH or stub overrides leaking in from the test runner. */
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** A simulated host root with nvidia-smi in usr/bin and the stub where its rpath looks. */
async function smiHost(tt: TestLike, conf: string | null): Promise<string> {
  const driver = await stubDriver(tt, conf, { libDir: LIB_DIR });
  const smi = path.join(driver.root, 'usr/bin/nvidia-smi');
  await mkdir(path.dirname(smi), { recursive: true });
  await copyFile(path.join(NATIVE_DIR, 'nvidia-smi'), smi);
  return smi;
}

function smi(binary: string, args: string[], timeout = 20_000) {
  return execa(binary, args, { env: ENV, extendEnv: false, reject: false, timeout });
}

const ALL_FIELDS =
  'index,uuid,name,pci.bus_id,driver_version,memory.total,memory.used,memory.free,utilization.gpu,' +
  'utilization.memory,temperature.gpu,power.draw,clocks.sm,clocks.mem,ecc.errors.corrected.volatile.total,' +
  'ecc.errors.uncorrected.volatile.total,minor_number,virtualization_mode';

if (requireNative(t, ['nvidia-smi', 'libnvidia-ml.so.1'])) {
  t.test('CSV with header and units, as the real tool prints them', async (t) => {
    const bin = await smiHost(t, twoGpuConf());
    const r = await smi(bin, [`--query-gpu=${ALL_FIELDS}`, '--format=csv']);
    t.equal(r.exitCode, 0, r.stderr);
    const lines = r.stdout.split('\n');
    t.equal(
      lines[0],
      'index, uuid, name, pci.bus_id, driver_version, memory.total [MiB], memory.used [MiB], memory.free [MiB], ' +
        'utilization.gpu [%], utilization.memory [%], temperature.gpu, power.draw [W], clocks.sm [MHz], clocks.mem [MHz], ' +
        'ecc.errors.corrected.volatile.total, ecc.errors.uncorrected.volatile.total, minor_number, virtualization_mode',
    );
    t.equal(
      lines[1],
      `0, ${GPU0_UUID}, GRID P4-2Q, 00000000:00:07.0, 470.82.01, 2048 MiB, 120 MiB, 1928 MiB, 37 %, 12 %, 45, ` +
        '23.00 W, 1328 MHz, 3003 MHz, 0, 0, 0, VGPU',
    );
    t.match(lines[2], /^1, GPU-7d6c5b4a-.*, Tesla T4, 00000000:00:08\.0, .*, 15360 MiB, .*, 9\.00 W, .*, 2, 0, 1, Pass-Through$/);
    t.equal(lines.length, 3);
  });

  t.test('noheader and nounits, in both argument spellings', async (t) => {
    const bin = await smiHost(t, twoGpuConf());
    const joined = await smi(bin, ['--query-gpu=index,gpu_name,memory.total,power.draw,utilization.gpu', '--format=csv,noheader,nounits']);
    t.equal(joined.exitCode, 0, joined.stderr);
    t.equal(joined.stdout, '0, GRID P4-2Q, 2048, 23.00, 37\n1, Tesla T4, 15360, 9.00, 0');
    const split = await smi(bin, ['--query-gpu', 'uuid,memory.used', '--format', 'csv,nounits']);
    t.equal(split.exitCode, 0, split.stderr);
    t.equal(split.stdout, `uuid, memory.used [MiB]\n${GPU0_UUID}, 120\n${GPU1_UUID}, 0`, 'header keeps its unit without values');
  });

  t.test('-i selects devices by index or UUID; a missing one exits 6', async (t) => {
    const bin = await smiHost(t, twoGpuConf());
    const byIndex = await smi(bin, ['-i', '1', '--query-gpu=index,name', '--format=csv,noheader']);
    t.equal(byIndex.stdout, '1, Tesla T4');
    const byUuid = await smi(bin, [`--id=${GPU0_UUID}`, '--query-gpu=index', '--format=csv,noheader']);
    t.equal(byUuid.stdout, '0');
    const missing = await smi(bin, ['-i', '7', '-L']);
    t.equal(missing.exitCode, 6);
    t.match(missing.stderr, /No devices were found/);
    const garbage = await smi(bin, ['-i', '1x', '-L']);
    t.equal(garbage.exitCode, 2);
  });

  t.test('-L lists GPUs with name and UUID', async (t) => {
    const bin = await smiHost(t, twoGpuConf());
    const r = await smi(bin, ['-L']);
    t.equal(r.exitCode, 0);
    t.equal(r.stdout, `GPU 0: GRID P4-2Q (UUID: ${GPU0_UUID})\nGPU 1: Tesla T4 (UUID: ${GPU1_UUID})`);
  });

  t.test('values the driver cannot give print as [N/A]', async (t) => {
    const bin = await smiHost(t, `driver_version 470.82.01\ndevice 0 name GRID P4-2Q\ndevice 0 uuid ${GPU0_UUID}\n`);
    const r = await smi(bin, ['--query-gpu=name,memory.total,power.draw,virtualization_mode,pci.bus_id', '--format=csv,noheader']);
    t.equal(r.exitCode, 0);
    t.equal(r.stdout, 'GRID P4-2Q, [N/A], [N/A], [N/A], [N/A]');
  });

  t.test('a lost GPU is reported on stderr with exit 15 while the others still print', async (t) => {
    const bin = await smiHost(t, twoGpuConf('device 1 lost 1\n'));
    const r = await smi(bin, ['--query-gpu=index,name', '--format=csv,noheader']);
    t.equal(r.exitCode, 15);
    t.equal(r.stdout, '0, GRID P4-2Q');
    t.match(r.stderr, /GPU 1: GPU is lost/);
  });

  t.test('without the driver it prints the well-known failure and exits 9', async (t) => {
    const bin = await smiHost(t, null);
    const r = await smi(bin, ['-L']);
    t.equal(r.exitCode, 9);
    t.match(r.stdout, /^NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\./);
  });

  t.test('bad arguments exit 2 with a reason', async (t) => {
    const bin = await smiHost(t, twoGpuConf());
    const cases: [string[], RegExp][] = [
      [['--bogus'], /Unknown option: --bogus/],
      [['--query-gpu=index,not.a.field', '--format=csv'], /Field "not\.a\.field" is not a valid field to query/],
      [['--query-gpu=index', '--format=json'], /not a valid format/],
      [['--query-gpu=index', '--format=csv,fancy'], /not a valid format/],
      [['--query-gpu=index'], /requires --format/],
      [['--format=csv'], /only valid with/],
      [['-i'], /Invalid combination/],
      [['-L', '--query-gpu=index', '--format=csv'], /Invalid combination/],
    ];
    for (const [args, message] of cases) {
      const r = await smi(bin, args);
      t.equal(r.exitCode, 2, args.join(' '));
      t.match(r.stderr, message, args.join(' '));
      t.equal(r.stdout, '', 'nothing half-printed');
    }
  });

  t.test('a conf delay makes it hang until the caller times it out', async (t) => {
    const bin = await smiHost(t, twoGpuConf('delay nvidia-smi 60000\n'));
    const started = Date.now();
    const r = await smi(bin, ['-L'], 500);
    t.ok(r.timedOut, 'killed by the timeout');
    t.ok(Date.now() - started < 30_000, 'did not wait for the full delay');
  });

  const systemNvml = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64'].some((d) =>
    existsSync(path.join(d, 'libnvidia-ml.so.1')),
  );
  t.test('without any libnvidia-ml.so.1 it exits 12', { skip: systemNvml && 'this machine has a real NVML' }, async (t) => {
    const dir = await tempDir(t, 'accel-smi-alone-');
    const bin = path.join(dir, 'nvidia-smi');
    await copyFile(path.join(NATIVE_DIR, 'nvidia-smi'), bin);
    const r = await smi(bin, ['-L']);
    t.equal(r.exitCode, 12);
    t.match(r.stderr, /couldn't find libnvidia-ml\.so/);
  });
}
