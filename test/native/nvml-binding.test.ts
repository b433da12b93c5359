import t from 'tap';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../../agent/errors.js';
import { loadNvmlBinding, type NvmlBinding, type NvmlSession } from '../../agent/vendors/nvidia/nvml-binding.js';
import { NvmlReturn, nvmlCodeOf } from '../../agent/vendors/nvidia/nvml-codes.js';
import { tempDir } from '../helpers/temp-dir.js';
import { GPU0_UUID, GPU1_UUID, requireNative, stubDriver, twoGpuConf, type TestLike } from './stub-fixture.js';

const MIB = 1024 * 1024;

if (requireNative(t, ['accel_nvml.node', 'libnvidia-ml.so.1', 'fake-libs/libcuda.so.1'])) {
  const load = loadNvmlBinding();
  if (load.available) run(load.binding);
  else t.fail(`the built addon does not load: ${load.error.message}`);
}

async function openFresh(
  tt: TestLike,
  binding: NvmlBinding,
  conf: string,
): Promise<{ session: NvmlSession; driver: Awaited<ReturnType<typeof stubDriver>> }> {
  const driver = await stubDriver(tt, conf);
  const session = await binding.open(driver.lib);
  tt.teardown(() => session.shutdown());
  return { session, driver };
}

function run(binding: NvmlBinding): void {
  t.test('open reports the driver, and devices() lists each GPU as the driver describes it', async (t) => {
    const { session } = await openFresh(t, binding, twoGpuConf());
    t.equal(session.driverVersion, '470.82.01');
    t.equal(session.nvmlVersion, '11.470.82.01');
    t.equal(session.cudaDriverVersion, 11040);
    t.equal(session.deviceCount, 2);
    const devices = await session.devices();
    t.same(devices, [
      {
        index: 0,
        uuid: GPU0_UUID,
        name: 'GRID P4-2Q',
        pciBusId: '00000000:00:07.0',
        pciDeviceId: 0x1bb310de,
        pciSubsystemId: 0x120410de,
        minor: 0,
        memoryTotalBytes: 2048 * MIB,
        virtualizationMode: 2,
      },
      {
        index: 1,
        uuid: GPU1_UUID,
        name: 'Tesla T4',
        pciBusId: '00000000:00:08.0',
        pciDeviceId: 0x1eb810de,
        pciSubsystemId: 0, // part of the PCI record NVML always fills; this conf left it unset
        minor: 1,
        memoryTotalBytes: 15360 * MIB,
        virtualizationMode: 1,
      },
    ]);
    t.notOk('error' in devices[0]!, 'a healthy device carries no error');
  });

  t.test('sample() returns live values and follows the driver changing under a loaded library', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    const [gpu0, gpu1] = await session.sample();
    t.same(gpu0, {
      index: 0,
      uuid: GPU0_UUID,
      utilGpu: 37,
      utilMemory: 12,
      memoryUsedBytes: 120 * MIB,
      memoryTotalBytes: 2048 * MIB,
      temperatureC: 45,
      powerMilliwatts: 23000,
      clockSmMHz: 1328,
      clockMemMHz: 3003,
      eccCorrected: 0,
      eccUncorrected: 0,
    });
    t.equal(gpu1?.eccCorrected, 2);

    await driver.writeConf(twoGpuConf('device 0 util_gpu 91\ndevice 0 temperature 83\ndevice 0 memory_used_mib 2000\n'));
    const [after] = await session.sample();
    t.equal(after?.utilGpu, 91, 'the new conf is read without reloading the library');
    t.equal(after?.temperatureC, 83);
    t.equal(after?.memoryUsedBytes, 2000 * MIB);
  });

  t.test('a conf rewritten in place, or moved away and back, is followed without reloading', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    const conf = path.join(driver.dir, 'nvml-stub.conf');
    await writeFile(conf, twoGpuConf('device 0 util_gpu 55\n'));
    t.equal((await session.sample())[0]?.utilGpu, 55, 'written in place');
    await rename(conf, `${conf}.away`);
    t.equal((await session.sample())[0]?.utilGpu, 55, 'while it is away, the last good state stands');
    await writeFile(`${conf}.away`, twoGpuConf('device 0 util_gpu 66\n'));
    await rename(`${conf}.away`, conf);
    t.equal((await session.sample())[0]?.utilGpu, 66, 'moved back with new values');
  });

  t.test('a conf directory replaced under a loaded library is still followed', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    t.equal((await session.sample())[0]?.utilGpu, 37);
    // The library stays mapped from the old directory; the conf path now names a new one.
    t.teardown(() => rm(`${driver.dir}.old`, { recursive: true, force: true }));
    await rename(driver.dir, `${driver.dir}.old`);
    await mkdir(driver.dir);
    await writeFile(path.join(driver.dir, 'nvml-stub.conf'), twoGpuConf('device 0 util_gpu 77\n'));
    t.equal((await session.sample())[0]?.utilGpu, 77);
    await writeFile(path.join(driver.dir, 'nvml-stub.conf'), twoGpuConf('device 0 util_gpu 78\n'));
    t.equal((await session.sample())[0]?.utilGpu, 78, 'and every change after that');
  });

  t.test('a failing query marks that device with an error and nulls, and never rejects the sample', async (t) => {
    const { session } = await openFresh(t, binding, twoGpuConf('fail nvmlDeviceGetUtilizationRates 999\n'));
    const samples = await session.sample();
    t.equal(samples.length, 2);
    for (const s of samples) {
      t.equal(s.utilGpu, null);
      t.equal(s.utilMemory, null);
      t.same(s.error, { code: 999, name: 'UNKNOWN', function: 'nvmlDeviceGetUtilizationRates', message: 'Unknown Error' });
    }
    t.equal(samples[0]?.temperatureC, 45, 'the other queries still answered');
    t.equal(samples[1]?.powerMilliwatts, 9000);
  });

  t.test('a lost GPU becomes an error entry while the other GPU still answers', async (t) => {
    const { session } = await openFresh(t, binding, twoGpuConf('device 1 lost 1\n'));
    const devices = await session.devices();
    t.equal(devices.length, 2);
    t.notOk(devices[0]?.error, 'GPU 0 is unaffected');
    t.equal(devices[0]?.uuid, GPU0_UUID);
    t.equal(devices[1]?.error?.code, NvmlReturn.GPU_IS_LOST);
    t.equal(devices[1]?.error?.name, 'GPU_IS_LOST');
    t.equal(devices[1]?.error?.message, 'GPU is lost');
    t.equal(devices[1]?.uuid, null);
    const samples = await session.sample();
    t.equal(samples[0]?.utilGpu, 37);
    t.equal(samples[1]?.error?.code, NvmlReturn.GPU_IS_LOST);
    t.equal(samples[1]?.temperatureC, null);
  });

  t.test('queries a device does not support come back as null, not as errors', async (t) => {
    const conf = `driver_version 535.54.03
device 0 uuid ${GPU0_UUID}
device 0 name NVIDIA A10-4Q
device 0 pci_bus_id 0000:00:09.0
`;
    const { session } = await openFresh(t, binding, conf);
    t.equal(session.nvmlVersion, null);
    t.equal(session.cudaDriverVersion, null);
    const [device] = await session.devices();
    t.equal(device?.pciBusId, '00000000:00:09.0', 'the short sysfs form is widened as NVML reports it');
    t.equal(device?.memoryTotalBytes, null);
    t.equal(device?.virtualizationMode, null);
    t.notOk(device?.error);
    const [sample] = await session.sample();
    t.equal(sample?.powerMilliwatts, null);
    t.equal(sample?.eccUncorrected, null);
    t.notOk(sample?.error);
  });

  t.test('a hostile conf is survived: bad lines are skipped, good ones kept', async (t) => {
    const junk = [
      'device 0 name GRID P4-2Q',
      'device 99999999999 name overflow',
      'device -1 name negative',
      'device 0 util_gpu 150',
      'device 0 memory_total_mib lots',
      'device 300 name index too large',
      'device 5 no_such_key 1',
      'fail nvmlInit_v2 0',
      'delay nvmlInit_v2 99999999',
      'device 0 pci_bus_id zz:00:07.0',
      'mystery statement',
      'x'.repeat(5000),
      'device 0 uuid ' + GPU0_UUID + '\u0000trailing',
      'device 1 name Only Good Line',
      '',
    ].join('\n');
    const { session } = await openFresh(t, binding, junk);
    t.equal(session.deviceCount, 2, 'rejected lines create no devices');
    const devices = await session.devices();
    t.equal(devices[0]?.name, 'GRID P4-2Q');
    t.equal(devices[0]?.uuid, null, 'the NUL-poisoned line was dropped');
    t.equal(devices[0]?.pciBusId, null);
    t.equal(devices[1]?.name, 'Only Good Line');
  });

  t.test('without the driver conf, open rejects with NVML_UNAVAILABLE and DRIVER_NOT_LOADED', async (t) => {
    const driver = await stubDriver(t, null);
    const err = await binding.open(driver.lib).catch((e: unknown) => e);
    t.type(err, AccelError);
    t.equal((err as AccelError).code, ErrorCode.NVML_UNAVAILABLE);
    t.equal(nvmlCodeOf(err), NvmlReturn.DRIVER_NOT_LOADED);
    t.equal((err as AccelError).details?.nvmlFunction, 'nvmlInit_v2');
    t.match((err as AccelError).message, /Driver Not Loaded/);
  });

  t.test('an injected init failure is reported with its NVML code', async (t) => {
    const driver = await stubDriver(t, twoGpuConf('fail nvmlInit_v2 18\n'));
    const err = await binding.open(driver.lib).catch((e: unknown) => e);
    t.equal((err as AccelError).code, ErrorCode.NVML_UNAVAILABLE);
    t.equal(nvmlCodeOf(err), NvmlReturn.LIB_RM_VERSION_MISMATCH);
    t.equal((err as AccelError).details?.nvmlError, 'LIB_RM_VERSION_MISMATCH');
  });

  t.test('a missing, non-ELF or relative library is a clean NVML_UNAVAILABLE, not a crash', async (t) => {
    const dir = await tempDir(t, 'accel-nvml-missing-');
    const missing = await binding.open(path.join(dir, 'libnvidia-ml.so.1')).catch((e: unknown) => e);
    t.equal((missing as AccelError).code, ErrorCode.NVML_UNAVAILABLE);
    t.equal(nvmlCodeOf(missing), NvmlReturn.LIBRARY_NOT_FOUND);
    t.equal((missing as AccelError).details?.nvmlFunction, 'dlopen');

    const garbage = path.join(dir, 'libgarbage.so.1');
    await writeFile(garbage, '\x7fELF but not really');
    const notElf = await binding.open(garbage).catch((e: unknown) => e);
    t.equal(nvmlCodeOf(notElf), NvmlReturn.LIBRARY_NOT_FOUND);

    await t.rejects(binding.open('libnvidia-ml.so.1'), { code: ErrorCode.NVML_UNAVAILABLE }, 'no search by bare name');
    await t.rejects(binding.open('/usr/lib/libnvidia-ml.so.1\0x'), { code: ErrorCode.NVML_UNAVAILABLE });
  });

  t.test('a library without NVML entry points is refused with FUNCTION_NOT_FOUND', async (t) => {
    const err = await binding.open(path.join(path.dirname(binding.addonPath), 'fake-libs', 'libcuda.so.1')).catch((e: unknown) => e);
    t.equal((err as AccelError).code, ErrorCode.NVML_UNAVAILABLE);
    t.equal(nvmlCodeOf(err), NvmlReturn.FUNCTION_NOT_FOUND);
    t.match((err as AccelError).message, /nvmlInit_v2/);
  });

  t.test('a failure of the whole call rejects with NVML_CALL and the failing function', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    await driver.writeConf(twoGpuConf('fail nvmlDeviceGetCount_v2 17\n'));
    const err = await session.devices().catch((e: unknown) => e);
    t.equal((err as AccelError).code, ErrorCode.NVML_CALL);
    t.equal(nvmlCodeOf(err), NvmlReturn.OPERATING_SYSTEM);
    t.equal((err as AccelError).details?.nvmlFunction, 'nvmlDeviceGetCount_v2');
  });

  t.test('events: only those raised after arming, only registered devices and types', async (t) => {
    // GPU 1 supports Xid events only, as vGPU guests without ECC reporting do.
    const { session, driver } = await openFresh(t, binding, twoGpuConf('device 1 event_types 0x8\n'));
    await driver.appendEvents('0 xid 79\n');
    t.same(await session.waitEvents(0), [], 'an event from before the set existed is not delivered');

    await driver.appendEvents(
      [
        '0 xid 48',
        '1 ecc_single 0', // GPU 1 did not register ECC events
        '1 xid 13',
        '9 xid 31', // no such device
        'garbage line',
        '0 pstate 1', // a type the driver file format does not have
        '0 ecc_double 0',
        '',
      ].join('\n'),
    );
    const events = await session.waitEvents(500);
    t.same(events, [
      { index: 0, uuid: GPU0_UUID, type: 'xid', data: 48 },
      { index: 1, uuid: GPU1_UUID, type: 'xid', data: 13 },
      { index: 0, uuid: GPU0_UUID, type: 'ecc_double', data: 0 },
    ]);

    await driver.appendEvents('0 xid 6');
    t.same(await session.waitEvents(50), [], 'half a line is not an event yet');
    await driver.appendEvents('2\n');
    t.same(await session.waitEvents(500), [{ index: 0, uuid: GPU0_UUID, type: 'xid', data: 62 }]);
  });

  t.test('a truncated or replaced events file holds new events, read from its start', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    await driver.appendEvents('0 xid 31\n0 xid 32\n');
    await session.waitEvents(0);
    await writeFile(path.join(driver.dir, 'nvml-stub.events'), '1 xid 79\n');
    t.same(await session.waitEvents(500), [{ index: 1, uuid: GPU1_UUID, type: 'xid', data: 79 }]);
  });

  t.test('a flood of events is delivered in bounded batches without losing any', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    await session.waitEvents(0);
    await driver.appendEvents(Array.from({ length: 100 }, (_, i) => `0 xid ${i}\n`).join(''));
    const first = await session.waitEvents(500);
    const second = await session.waitEvents(500);
    t.ok(first.length < 100, `one wait returned ${first.length}, not everything at once`);
    t.same([...first, ...second].map((e) => e.data), Array.from({ length: 100 }, (_, i) => i));
  });

  t.test('waiting with nothing to deliver times out with an empty list', async (t) => {
    const { session } = await openFresh(t, binding, twoGpuConf());
    const started = Date.now();
    t.same(await session.waitEvents(120), []);
    t.ok(Date.now() - started >= 100, 'the wait really waited');
    await t.rejects(session.waitEvents(-1), { code: ErrorCode.NVML_CALL });
  });

  t.test('an event appended during a wait is delivered by that wait', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    await session.waitEvents(0);
    const pending = session.waitEvents(1000);
    setTimeout(() => void driver.appendEvents('1 xid 79\n'), 50);
    t.same(await pending, [{ index: 1, uuid: GPU1_UUID, type: 'xid', data: 79 }]);
  });

  t.test('an events directory replaced during a wait is still followed by that wait', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    await session.waitEvents(0);
    t.teardown(() => rm(`${driver.dir}.old`, { recursive: true, force: true }));
    const pending = session.waitEvents(1000);
    // The wait's watch follows the moved directory, where nothing more happens; the event lands in the new one.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await rename(driver.dir, `${driver.dir}.old`);
    await mkdir(driver.dir);
    await writeFile(path.join(driver.dir, 'nvml-stub.conf'), twoGpuConf());
    await new Promise((resolve) => setTimeout(resolve, 50));
    await driver.appendEvents('1 xid 79\n');
    t.same(await pending, [{ index: 1, uuid: GPU1_UUID, type: 'xid', data: 79 }]);
  });

  t.test('only one wait at a time per session', async (t) => {
    const { session } = await openFresh(t, binding, twoGpuConf());
    const first = session.waitEvents(200);
    const second = await session.waitEvents(200).catch((e: unknown) => e);
    t.equal((second as AccelError).code, ErrorCode.NVML_CALL);
    t.equal(nvmlCodeOf(second), NvmlReturn.IN_USE);
    t.same(await first, []);
  });

  t.test('after shutdown every call is rejected and a second shutdown is harmless', async (t) => {
    const { session } = await openFresh(t, binding, twoGpuConf());
    await session.shutdown();
    t.ok(session.closed);
    for (const call of [() => session.devices(), () => session.sample(), () => session.waitEvents(0)]) {
      const err = await call().catch((e: unknown) => e);
      t.equal((err as AccelError).code, ErrorCode.NVML_CALL);
      t.equal(nvmlCodeOf(err), NvmlReturn.UNINITIALIZED);
    }
    await session.shutdown();
  });

  t.test('shutdown waits for a running wait instead of unloading the library under it', async (t) => {
    const { session, driver } = await openFresh(t, binding, twoGpuConf());
    await session.waitEvents(0);
    const waiting = session.waitEvents(300);
    const closing = session.shutdown();
    await driver.appendEvents('0 xid 79\n');
    const events = await waiting;
    await closing;
    t.ok(Array.isArray(events), 'the wait finished normally');
  });

  t.test('a shutdown called right behind calls lets every one of them finish, however the pool orders them', async (t) => {
    // libuv's four pool threads pick queued calls up in parallel, so with several calls ahead of it
    // a shutdown often reaches the session's lock first unless it waits for them.
    for (let round = 0; round < 20; round++) {
      const { session } = await openFresh(t, binding, twoGpuConf());
      await session.waitEvents(0);
      const calls: Promise<unknown>[] = [session.waitEvents(10)];
      for (let i = 0; i < 6; i++) calls.push(i % 2 === 0 ? session.sample() : session.devices());
      const closing = session.shutdown();
      const failed = (await Promise.allSettled(calls)).filter((o) => o.status === 'rejected');
      await closing;
      t.same(failed, [], `round ${round}: no call failed`);
    }
  });

  t.test('the event loop keeps running while NVML is slow', async (t) => {
    const { session } = await openFresh(t, binding, twoGpuConf('delay nvmlDeviceGetUtilizationRates 300\n'));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    const samples = await session.sample();
    const elapsed = Date.now() - started;
    clearInterval(timer);
    t.equal(samples[0]?.utilGpu, 37);
    t.ok(elapsed >= 550, `two delayed calls took ${elapsed} ms`);
    t.ok(ticks >= 5, `a 20 ms timer fired ${ticks} times during the slow sample`);
  });

  t.test('two drivers loaded side by side keep their own state', async (t) => {
    const a = await openFresh(t, binding, twoGpuConf());
    const b = await openFresh(t, binding, twoGpuConf('device 0 util_gpu 5\ndevice 1 lost 1\n'));
    const [sa, sb] = await Promise.all([a.session.sample(), b.session.sample()]);
    t.equal(sa[0]?.utilGpu, 37);
    t.notOk(sa[1]?.error);
    t.equal(sb[0]?.utilGpu, 5);
    t.equal(sb[1]?.error?.code, NvmlReturn.GPU_IS_LOST);
  });

  t.test('an absent or foreign addon is reported as NATIVE_UNAVAILABLE', async (t) => {
    const dir = await tempDir(t, 'accel-nvml-addon-');
    const absent = loadNvmlBinding({ addonPath: path.join(dir, 'accel_nvml.node') });
    t.equal(absent.available, false);
    if (!absent.available) {
      t.equal(absent.error.code, ErrorCode.NATIVE_UNAVAILABLE);
      t.match(absent.error.message, /does not exist/);
    }
    const corrupt = path.join(dir, 'corrupt.node');
    await writeFile(corrupt, 'not a shared object');
    const broken = loadNvmlBinding({ addonPath: corrupt });
    t.equal(broken.available, false);
    if (!broken.available) t.equal(broken.error.code, ErrorCode.NATIVE_UNAVAILABLE);
  });
}
