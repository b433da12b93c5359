import t from 'tap';
import {
  defaultLibraryDirs,
  elfMachineFor,
  globMatcher,
  isGspFirmware,
  isPlausibleVersion,
  isVersionedLibrary,
  versionFromLibraryPath,
} from '../../agent/inject/driver-paths.js';

t.test('versioned library names match only the exact driver version', async (t) => {
  t.ok(isVersionedLibrary('libcuda.so.550.54.15', '550.54.15'));
  t.ok(isVersionedLibrary('libnvidia-ml.so.550.54.15', '550.54.15'));
  t.notOk(isVersionedLibrary('libcuda.so.1', '550.54.15'));
  t.notOk(isVersionedLibrary('libcuda.so.550.54.150', '550.54.15'));
  t.notOk(isVersionedLibrary('libcuda.so.1550.54.15', '550.54.15'), 'the version must follow ".so."');
  t.notOk(isVersionedLibrary('nvidia.so.550.54.15', '550.54.15'), 'library names start with lib');
  t.notOk(isVersionedLibrary('lib.so.550.54.15', '550.54.15'), 'a bare "lib" has no name');
});

t.test('only dotted numbers are driver versions', async (t) => {
  for (const good of ['550.54.15', '470.82.01', '535.129.03', '1.0']) t.ok(isPlausibleVersion(good), good);
  for (const bad of ['', '../..', '550.54.15/..', '550 54', '550.', '.550', '5.5.5.5.5', '550.54.15\0']) t.notOk(isPlausibleVersion(bad), JSON.stringify(bad));
});

t.test('the version is read from the file an anchor soname resolves to', async (t) => {
  t.equal(versionFromLibraryPath('/usr/lib64/libcuda.so.550.54.15', 'libcuda.so.1'), '550.54.15');
  t.equal(versionFromLibraryPath('/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.470.82.01', 'libnvidia-ml.so.1'), '470.82.01');
  t.equal(versionFromLibraryPath('/usr/lib64/libcuda.so.1', 'libcuda.so.1'), null, 'a soname is not a version');
  t.equal(versionFromLibraryPath('/usr/lib64/libcudart.so.12.1.55', 'libcuda.so.1'), null, 'another library');
  t.equal(versionFromLibraryPath('/usr/lib64/libcuda.so.x.y', 'libcuda.so.1'), null);
});

t.test('globs match whole file names with * and ? and nothing else', async (t) => {
  const m = globMatcher(['libhgrt*.so*', 'libhg?.so']);
  t.ok(m('libhgrt.so'));
  t.ok(m('libhgrt.so.2.1'));
  t.ok(m('libhgrt_core.so.1'));
  t.ok(m('libhga.so'));
  t.notOk(m('libhgab.so'));
  t.notOk(m('xlibhgrt.so'), 'anchored at the start');
  t.notOk(m('libhgrtXso'), 'a dot in the glob is literal');
  t.notOk(globMatcher(['lib(a|b).so'])('liba.so'), 'regex syntax is literal');
  t.notOk(globMatcher([])('anything'));
});

t.test('GSP firmware names', async (t) => {
  t.ok(isGspFirmware('gsp_ga10x.bin'));
  t.ok(isGspFirmware('gsp_tu10x.bin'));
  t.notOk(isGspFirmware('gsp_ga10x.bin.bak'));
  t.notOk(isGspFirmware('README'));
});

t.test('standard library dirs and ELF machines follow the architecture', async (t) => {
  t.ok(defaultLibraryDirs('x86_64').includes('/usr/lib/x86_64-linux-gnu'));
  t.ok(defaultLibraryDirs('aarch64').includes('/usr/lib/aarch64-linux-gnu'));
  t.ok(defaultLibraryDirs('aarch64').includes('/usr/lib64'));
  t.equal(elfMachineFor('x86_64'), 62);
  t.equal(elfMachineFor('aarch64'), 183);
  t.equal(elfMachineFor('other'), null);
});
