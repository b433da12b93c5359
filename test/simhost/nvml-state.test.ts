import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { MANIFEST_FILE } from '../../agent/simhost/manifest.js';
import {
  appendEvent,
  emptyNvmlState,
  formatNvmlEvent,
  markLost,
  NvmlReturn,
  parseNvmlState,
  readNvmlState,
  serialiseNvmlState,
  setDelay,
  setDeviceValue,
  setFailure,
  withDeviceValue,
  type NvmlStubState,
} from '../../agent/simhost/nvml-state.js';
import { tempDir } from './simhost-fixture.js';

const LIB = '/usr/lib/x86_64-linux-gnu';

const full: NvmlStubState = {
  driverVersion: '470.82.01',
  nvmlVersion: '11.470.82.01',
  cudaDriverVersion: 11040,
  failures: { nvmlDeviceGetPowerUsage: 3, nvmlDeviceGetClockInfo: 999 },
  delays: { 'nvidia-smi': 60000, nvmlDeviceGetTemperature: 5 },
  devices: [
    {
      uuid: 'GPU-18efc7be-9f83-899e-dffd-363414234d7d',
      name: 'GRID P4-2Q',
      pci_bus_id: '00000000:00:07.0',
      pci_device_id: 0x1bb310de,
      pci_subsystem_id: 0x120410de,
      minor: 0,
      memory_total_mib: 2048,
      memory_used_mib: 120,
      util_gpu: 37,
      util_memory: 12,
      temperature: 45,
      power_mw: 23000,
      clock_sm: 1328,
      clock_mem: 3003,
      ecc_corrected: 0,
      ecc_uncorrected: 2 ** 50,
      virtualization_mode: 2,
      lost: true,
    },
    { name: 'Tesla P100-PCIE-16GB' },
  ],
};

t.test('a full state survives serialise then parse unchanged', async (t) => {
  const text = serialiseNvmlState(full);
  t.same(parseNvmlState(text), full);
  t.match(text, /^device 0 pci_device_id 0x1bb310de$/m);
  t.match(text, /^device 0 name GRID P4-2Q$/m);
  t.match(text, /^device 0 lost 1$/m);
  t.match(text, /^delay nvidia-smi 60000$/m);
  t.same(parseNvmlState(serialiseNvmlState(emptyNvmlState())), emptyNvmlState());
});

t.test('the documented format parses, with comments, blank lines and either bus id form', async (t) => {
  const text = [
    '# a comment',
    '',
    'driver_version 470.82.01',
    '   # indented comment',
    'device 1 pci_bus_id 0000:00:08.0',
    'device 0 pci_subsystem_id 0x12041',
    'device 0 uuid GPU-1',
    'fail nvmlInit_v2 9',
  ].join('\n');
  const s = parseNvmlState(text);
  t.equal(s.driverVersion, '470.82.01');
  t.equal(s.devices.length, 2);
  t.equal(s.devices[0]!.pci_subsystem_id, 0x12041);
  t.equal(s.devices[1]!.pci_bus_id, '0000:00:08.0');
  t.same(s.failures, { nvmlInit_v2: NvmlReturn.ERROR_DRIVER_NOT_LOADED });
});

t.test('bad lines are refused with the file and line number', async (t) => {
  const cases: [string, RegExp][] = [
    ['frobnicate 1', /conf:2: unknown statement "frobnicate"/],
    ['device 0 colour red', /conf:2: unknown device key "colour"/],
    ['device 64 name X', /conf:2: device index "64" is not 0\.\.63/],
    ['device -1 name X', /conf:2: device index/],
    ['device 01 name X', /conf:2: device index "01"/],
    ['device 0 name', /conf:2: device takes an index, a key and a value/],
    ['device 0 pci_device_id 1bb310de', /conf:2: pci_device_id must be 0x/],
    ['device 0 pci_device_id 0x1bb310de0', /conf:2: pci_device_id must be 0x and 1\.\.8/],
    ['device 0 util_gpu 101', /conf:2: util_gpu 101 is above 100/],
    ['device 0 virtualization_mode 5', /conf:2: virtualization_mode 5 is above 4/],
    ['device 0 minor 4294967296', /conf:2: minor 4294967296 is above/],
    ['device 0 temperature -3', /conf:2: "-3" is not a non-negative integer/],
    ['device 0 temperature 4x', /conf:2: "4x" is not/],
    ['device 0 lost yes', /conf:2: lost must be 0 or 1/],
    ['device 0 pci_bus_id 00:07.0', /conf:2: pci_bus_id must look like/],
    ['device 0 name  two spaces', /conf:2: value must be non-empty without surrounding spaces/],
    [`device 0 name ${'x'.repeat(96)}`, /conf:2: value is longer than 95/],
    ['device 0 name GRID\tP4', /conf:2: control character/],
    ['device 0 name GRID P4\r', /conf:2: control character/],
    ['driver_version 470\u0000', /conf:2: control character/],
    ['fail nvmlInit_v2', /conf:2: fail takes a function name and a number/],
    ['fail nvmlInit_v2 0', /conf:2: return code 0 is not an NVML error/],
    ['fail rm -rf', /conf:2: "rm" is not an NVML function name/],
    ['fail nvidia-smi 3', /conf:2: "nvidia-smi" is not an NVML function name/],
    ['delay nvmlInit_v2 0', /conf:2: delay 0 ms is not 1\.\.600000/],
    ['delay nvmlInit_v2 600001', /conf:2: delay 600001 ms/],
    ['cuda_driver_version 0', /conf:2: cuda_driver_version 0 is not 1\.\.999999/],
    ['cuda_driver_version 11 040', /conf:2: cuda_driver_version takes one number/],
    ['driver_version 1.0', /conf:2: duplicate driver_version \(first at line 1\)/],
  ];
  for (const [line, re] of cases) {
    t.throws(() => parseNvmlState(`driver_version 470.82.01\n${line}\n`, 'conf'), { code: ErrorCode.SIMHOST, message: re }, JSON.stringify(line));
  }
  t.throws(() => parseNvmlState('device 0 name A\ndevice 0 name B\n', 'conf'), /conf:2: duplicate device 0 name \(first at line 1\)/);
  t.throws(() => parseNvmlState('fail nvmlInit 3\nfail nvmlInit 4\n', 'conf'), /conf:2: duplicate fail nvmlInit/);
});

t.test('device indices must be dense, as the stub counts distinct indices', async (t) => {
  t.throws(() => parseNvmlState('device 0 name A\ndevice 2 name C\n', 'conf'), /conf: device indices must run 0\.\.1 without gaps; 1 is missing/);
});

t.test('truncated input: a cut-off last line is judged on what is there', async (t) => {
  t.equal(parseNvmlState('device 0 memory_total_mib 20').devices[0]!.memory_total_mib, 20);
  t.throws(() => parseNvmlState('device 0 memory_tot'), /device takes an index, a key and a value/);
  t.throws(() => parseNvmlState('device 0 pci_device_id 0x'), /pci_device_id must be 0x/);
});

t.test('serialising refuses a state the stub could not read', async (t) => {
  t.throws(() => serialiseNvmlState({ ...emptyNvmlState(), failures: { nvmlInit_v2: 0 } }), /return code for nvmlInit_v2/);
  t.throws(() => serialiseNvmlState({ ...emptyNvmlState(), delays: { 'bad name': 5 } }), /not an NVML function name/);
  t.throws(() => serialiseNvmlState({ ...emptyNvmlState(), driverVersion: 'a\nfail nvmlInit_v2 9' }), /control character/);
  t.throws(() => serialiseNvmlState({ ...emptyNvmlState(), devices: [{ util_gpu: 1.5 }] }), /util_gpu must be a non-negative integer/);
  t.throws(() => serialiseNvmlState({ ...emptyNvmlState(), devices: [{ pci_device_id: 2 ** 33 }] }), /must fit 32 bits/);
  t.throws(() => serialiseNvmlState({ ...emptyNvmlState(), devices: Array.from({ length: 65 }, () => ({})) }), /more than 64 devices/);
});

t.test('withDeviceValue sets, checks and removes a key without touching the input', async (t) => {
  const before = { name: 'X', temperature: 40 };
  const after = withDeviceValue(before, 'temperature', 90);
  t.same(after, { name: 'X', temperature: 90 });
  t.same(before, { name: 'X', temperature: 40 });
  t.same(withDeviceValue(before, 'temperature', null), { name: 'X' });
  t.throws(() => withDeviceValue(before, 'util_gpu', 150), /util_gpu 150 is above 100/);
  t.throws(() => withDeviceValue(before, 'name', 'two\nlines'), /control character/);
});

t.test('event lines are validated', async (t) => {
  t.equal(formatNvmlEvent(0, 'xid', 79), '0 xid 79\n');
  t.equal(formatNvmlEvent(3, 'ecc_double', 0), '3 ecc_double 0\n');
  t.throws(() => formatNvmlEvent(-1, 'xid', 79), /event device index/);
  t.throws(() => formatNvmlEvent(0, 'meltdown' as 'xid', 1), /unknown event type/);
  t.throws(() => formatNvmlEvent(0, 'xid', -5), /not a non-negative integer/);
});

/** A minimal simulated host: a manifest and the two stub files. */
async function nvmlHost(t: Test, state: NvmlStubState = full): Promise<string> {
  const root = await tempDir(t, 'nvml-state-');
  await mkdir(path.join(root, LIB), { recursive: true });
  await writeFile(path.join(root, LIB, 'nvml-stub.conf'), serialiseNvmlState(state));
  await writeFile(path.join(root, LIB, 'nvml-stub.events'), '');
  const manifest = { format: 1, profile: 'test', kmsg: '/dev/kmsg', deviceNodes: [], nvml: { conf: `${LIB}/nvml-stub.conf`, events: `${LIB}/nvml-stub.events` } };
  await writeFile(path.join(root, MANIFEST_FILE), JSON.stringify(manifest));
  return root;
}

t.test('setDeviceValue changes one key by replacing the file, leaving no temp files', async (t) => {
  const root = await nvmlHost(t);
  const conf = path.join(root, LIB, 'nvml-stub.conf');
  const inodeBefore = (await stat(conf)).ino;
  await setDeviceValue(root, 1, 'temperature', 91);
  const s = await readNvmlState(root);
  t.equal(s.devices[1]!.temperature, 91);
  t.same(s.devices[0], full.devices[0], 'other devices untouched');
  t.not((await stat(conf)).ino, inodeBefore, 'a new file was renamed into place');
  t.same((await readdir(path.join(root, LIB))).sort(), ['nvml-stub.conf', 'nvml-stub.events']);
  await setDeviceValue(root, 1, 'temperature', null);
  t.notOk('temperature' in (await readNvmlState(root)).devices[1]!);
  await setDeviceValue(root, 2, 'name', 'Hot-plugged');
  t.equal((await readNvmlState(root)).devices.length, 3, 'index one past the end adds a device');
  await t.rejects(setDeviceValue(root, 9, 'name', 'X'), /device index 9 is not 0\.\.3/);
  await t.rejects(setDeviceValue(root, 0, 'util_gpu', 101), /above 100/);
  t.equal((await readNvmlState(root)).devices[0]!.util_gpu, 37, 'a refused change leaves the file as it was');
});

t.test('setFailure, setDelay and markLost add and clear their lines', async (t) => {
  const root = await nvmlHost(t, { ...emptyNvmlState(), devices: [{ name: 'A' }] });
  await setFailure(root, 'nvmlInit_v2', NvmlReturn.ERROR_DRIVER_NOT_LOADED);
  await setDelay(root, 'nvidia-smi', 60000);
  await markLost(root, 0);
  let s = await readNvmlState(root);
  t.same(s.failures, { nvmlInit_v2: 9 });
  t.same(s.delays, { 'nvidia-smi': 60000 });
  t.equal(s.devices[0]!.lost, true);
  await setFailure(root, 'nvmlInit_v2', null);
  await setDelay(root, 'nvidia-smi', null);
  await markLost(root, 0, false);
  s = await readNvmlState(root);
  t.same(s, { ...emptyNvmlState(), devices: [{ name: 'A' }] });
  await t.rejects(setFailure(root, 'system', 1), /not an NVML function name/);
});

t.test('appendEvent appends whole lines', async (t) => {
  const root = await nvmlHost(t);
  await appendEvent(root, 0, 'xid', 79);
  await appendEvent(root, 1, 'ecc_double', 0);
  t.equal(await readFile(path.join(root, LIB, 'nvml-stub.events'), 'utf8'), '0 xid 79\n1 ecc_double 0\n');
  await t.rejects(appendEvent(root, 0, 'xid', Number.NaN), /not a non-negative integer/);
});

t.test('helpers refuse hosts without NVML, without a manifest, or whose manifest leads through a symlink', async (t) => {
  const bare = await tempDir(t, 'nvml-state-');
  await t.rejects(readNvmlState(bare), /is not a simulated host/);
  await writeFile(path.join(bare, MANIFEST_FILE), JSON.stringify({ format: 1, profile: 'empty', kmsg: '/dev/kmsg', deviceNodes: [], nvml: null }));
  await t.rejects(setFailure(bare, 'nvmlInit_v2', 9), /has no NVML stub/);

  const outside = await tempDir(t, 'nvml-outside-');
  await writeFile(path.join(outside, 'nvml-stub.conf'), 'driver_version 1\n');
  const root = await tempDir(t, 'nvml-state-');
  await symlink(outside, path.join(root, 'lib'));
  await writeFile(
    path.join(root, MANIFEST_FILE),
    JSON.stringify({ format: 1, profile: 'x', kmsg: '/dev/kmsg', deviceNodes: [], nvml: { conf: '/lib/nvml-stub.conf', events: '/lib/e' } }),
  );
  await t.rejects(setFailure(root, 'nvmlInit_v2', 9), { code: ErrorCode.SIMHOST, message: /symlinks are not followed/ });
  t.equal(await readFile(path.join(outside, 'nvml-stub.conf'), 'utf8'), 'driver_version 1\n', 'nothing written outside');

  await writeFile(path.join(root, MANIFEST_FILE), JSON.stringify({ format: 1, profile: 'x', kmsg: '/dev/kmsg', deviceNodes: [], nvml: { conf: '/../x', events: '/e' } }));
  await t.rejects(readNvmlState(root), /nvml must be null or/);
});
