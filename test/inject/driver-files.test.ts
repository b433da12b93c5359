import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { npuDriverFiles, nvidiaDriverFiles, type DriverFiles } from '../../agent/inject/driver-files.js';
import { DRIVER_VERSION, buildNvidiaTree } from '../helpers/driver-tree.js';
import { buildSharedObject, missingTools } from '../helpers/native-libs.js';

const v = DRIVER_VERSION;
const skip = missingTools() ?? (process.arch !== 'x64' ? 'the test tree is built for x86-64' : null);
const byPath = (files: DriverFiles) => new Map(files.libraries.map((l) => [l.path, l]));

t.test('NVIDIA inventory from a genuine ld.so.cache', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: v });

  t.equal(files.version, v);
  t.same(files.libraryDirs, ['/usr/lib64'], 'the 64-bit cache entries name the directory');
  const libs = byPath(files);
  t.same(libs.get(`/usr/lib64/libcuda.so.${v}`), { path: `/usr/lib64/libcuda.so.${v}`, source: `/usr/lib64/libcuda.so.${v}`, soname: 'libcuda.so.1' });
  t.equal(libs.get(`/usr/lib64/libnvidia-ml.so.${v}`)?.soname, 'libnvidia-ml.so.1');
  t.equal(libs.get(`/usr/lib64/libnvidia-glcore.so.${v}`)?.soname, `libnvidia-glcore.so.${v}`);
  t.same(
    libs.get(`/usr/lib64/libnvidia-cfg.so.${v}`),
    { path: `/usr/lib64/libnvidia-cfg.so.${v}`, source: `/usr/lib/nvidia/libnvidia-cfg.so.${v}`, soname: 'libnvidia-cfg.so.1' },
    'a relative link inside the roots is followed',
  );
  t.equal(libs.get(`/usr/lib64/libnvidia-opencl.so.${v}`)?.source, `/usr/lib/nvidia/libnvidia-opencl.so.${v}`, 'an absolute link resolves inside the host root');
  t.notOk(libs.has('/usr/lib64/libz.so.1.2.13'), 'other libraries are left alone');
  t.notOk(libs.has('/usr/lib64/libcuda.so'), 'the development link is not a versioned library');
  t.notOk([...libs.values()].some((l) => l.source.startsWith('/usr/lib/libcuda')), 'the 32-bit copy is not taken');

  const refused = files.refused.map((r) => r.path).sort();
  t.same(refused, [`/usr/bin/nvidia-persistenced`, `/usr/lib64/libnvidia-evil.so.${v}`, `/usr/lib64/libnvidia-sneaky.so.${v}`]);
  t.match(files.refused.find((r) => r.path.includes('evil'))?.reason, /resolves to \/etc\/shadow, outside the allowed roots/);
  t.notOk([...libs.values()].some((l) => l.source.includes('shadow')), 'an escaping link is never a mount source');

  t.same(files.binaries, [
    { path: '/usr/bin/nvidia-smi', source: '/usr/bin/nvidia-smi' },
    { path: '/usr/local/bin/nvidia-debugdump', source: '/usr/local/bin/nvidia-debugdump' },
    { path: '/usr/bin/nvidia-cuda-mps-control', source: '/usr/bin/nvidia-cuda-mps-control' },
  ]);
  t.same(files.firmware.map((f) => f.path), [`/lib/firmware/nvidia/${v}/gsp_ga10x.bin`, `/lib/firmware/nvidia/${v}/gsp_tu10x.bin`]);
  t.same(files.sockets, [{ path: '/run/nvidia-persistenced/socket', source: '/run/nvidia-persistenced/socket' }]);
});

t.test('an unknown driver version is read from the library libcuda.so.1 resolves to', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: null });
  t.equal(files.version, v);
  t.ok(byPath(files).has(`/usr/lib64/libcuda.so.${v}`));
});

t.test('a version that is not a version number is ignored, never used in a path', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: '../../../etc' });
  t.equal(files.version, v, 'falls back to the version the libraries carry');
  t.match(files.warnings.join('\n'), /not a version number/);
});

t.test('without ld.so.cache the standard directories are searched', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  rmSync(path.join(tree.root, 'etc/ld.so.cache'));
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: null });
  t.equal(files.version, v);
  t.same(files.libraryDirs, ['/usr/lib64', '/usr/lib'], 'both dirs hold *.so.<ver> names');
  t.ok(byPath(files).has(`/usr/lib64/libcuda.so.${v}`));
  t.notOk(byPath(files).has(`/usr/lib/libcuda.so.${v}`), 'a 32-bit library in a searched dir is skipped by its ELF machine');
  t.match(files.warnings.join('\n'), /ld\.so\.cache is missing/);
  t.match(files.warnings.join('\n'), /libcuda\.so\.550\.54\.15 is built for ELF machine 3/);
});

t.test('a corrupt ld.so.cache is reported and the standard directories searched', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  writeFileSync(path.join(tree.root, 'etc/ld.so.cache'), 'glibc-ld.so.cache1.1 garbage');
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: v });
  t.match(files.warnings.join('\n'), /ld\.so\.cache unusable: ld\.so\.cache: truncated header/);
  t.ok(byPath(files).has(`/usr/lib64/libcuda.so.${v}`));
});

t.test('a cache entry whose link escapes the roots is refused and not used as a directory', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  const link = path.join(tree.root, 'usr/lib64/libnvidia-ml.so.1');
  rmSync(link);
  mkdirSync(path.join(tree.root, 'opt/planted'), { recursive: true });
  buildSharedObject(path.join(tree.root, `opt/planted/libnvidia-ml.so.${v}`), 'libnvidia-ml.so.1');
  symlinkSync(`/opt/planted/libnvidia-ml.so.${v}`, link);
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: v });
  t.ok(files.refused.some((r) => r.path === '/usr/lib64/libnvidia-ml.so.1'));
  t.notOk(files.libraryDirs.includes('/opt/planted'));
  t.notOk(files.libraries.some((l) => l.source.startsWith('/opt')));
});

t.test('a library directory that is itself an escaping link is refused', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  rmSync(path.join(tree.root, 'etc/ld.so.cache'));
  mkdirSync(path.join(tree.root, 'opt/fake-lib'), { recursive: true });
  buildSharedObject(path.join(tree.root, `opt/fake-lib/libcuda.so.${v}`), 'libcuda.so.1');
  symlinkSync('/opt/fake-lib', path.join(tree.root, 'usr/lib/x86_64-linux-gnu'));
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: v });
  t.ok(files.refused.some((r) => r.path === '/usr/lib/x86_64-linux-gnu'), 'the directory link is refused');
  t.notOk(files.libraries.some((l) => l.source.startsWith('/opt')));
});

t.test('allowed roots are configurable: narrowing them refuses what they no longer cover', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: v, allowedRoots: ['/usr/lib64', '/usr/bin', '/etc'] });
  t.ok(files.refused.some((r) => r.path === `/usr/lib64/libnvidia-cfg.so.${v}`), '/usr/lib/nvidia is no longer allowed');
  t.notOk(files.libraries.some((l) => l.source === '/etc/shadow'), 'even an allowed non-library is not taken as a library');
  t.equal(files.firmware.length, 0, 'firmware under /lib is refused');
  t.ok(files.refused.some((r) => r.path === `/lib/firmware/nvidia/${v}`));
});

t.test('a non-ELF file with a versioned library name is skipped with a warning', { skip: skip ?? false }, async (t) => {
  const tree = await buildNvidiaTree();
  t.teardown(tree.close);
  writeFileSync(path.join(tree.root, `usr/lib64/libnvidia-script.so.${v}`), 'GROUP ( libc.so.6 )\n');
  const files = await nvidiaDriverFiles(new HostRoot(tree.root), { version: v });
  t.notOk(byPath(files).has(`/usr/lib64/libnvidia-script.so.${v}`));
  t.match(files.warnings.join('\n'), /libnvidia-script\.so\.550\.54\.15 is not a usable shared object/);
});

t.test('a host without any driver gives an empty inventory that says why', async (t) => {
  const root = t.testdir({ etc: {}, usr: { lib64: {} } });
  const files = await nvidiaDriverFiles(new HostRoot(root), { version: null });
  t.equal(files.version, null);
  t.same([files.libraries, files.binaries, files.firmware, files.sockets, files.refused], [[], [], [], [], []]);
  t.match(files.warnings.join('\n'), /driver version unknown/);
});

t.test('NPU inventory follows the profile and refuses links out of its directories', { skip: skip ?? false }, async (t) => {
  const root = t.testdir({ etc: { hgai: { 'config.json': '{}' } }, secret: { key: 'k' } });
  const at = (p: string) => path.join(root, p);
  buildSharedObject(at('/opt/hgai/lib/libhgrt.so.2.1'), 'libhgrt.so.2');
  symlinkSync('libhgrt.so.2.1', at('/opt/hgai/lib/libhgrt.so.2'));
  symlinkSync('libhgrt.so.2', at('/opt/hgai/lib/libhgrt.so'));
  buildSharedObject(at('/opt/hgai/lib/libother.so.1'), 'libother.so.1');
  symlinkSync('/secret/key', at('/opt/hgai/lib/libhgrt_evil.so'));
  mkdirSync(at('/opt/hgai/bin'), { recursive: true });
  writeFileSync(at('/opt/hgai/bin/hgtool'), '#!/bin/sh\n');
  mkdirSync(at('/usr/bin'), { recursive: true });
  writeFileSync(at('/usr/bin/hgsmi'), '#!/bin/sh\n');

  const files = await npuDriverFiles(
    new HostRoot(root),
    {
      libraryDirs: ['/opt/hgai/lib'],
      libraryGlobs: ['libhgrt*.so*'],
      binaries: ['hgsmi', '/opt/hgai/bin/hgtool', 'missing-tool'],
      extraFiles: ['/etc/hgai/config.json', '/etc/hgai/absent.json'],
    },
    { arch: 'x86_64' },
  );
  t.equal(files.vendor, 'hanguang');
  t.same(
    files.libraries.map((l) => [l.path, l.source, l.soname]),
    [
      ['/opt/hgai/lib/libhgrt.so', '/opt/hgai/lib/libhgrt.so.2.1', 'libhgrt.so.2'],
      ['/opt/hgai/lib/libhgrt.so.2', '/opt/hgai/lib/libhgrt.so.2.1', 'libhgrt.so.2'],
      ['/opt/hgai/lib/libhgrt.so.2.1', '/opt/hgai/lib/libhgrt.so.2.1', 'libhgrt.so.2'],
    ],
  );
  t.same(files.refused.map((r) => r.path), ['/opt/hgai/lib/libhgrt_evil.so']);
  t.same(files.binaries.map((b) => b.path), ['/usr/bin/hgsmi', '/opt/hgai/bin/hgtool']);
  t.same(files.otherFiles, [{ path: '/etc/hgai/config.json', source: '/etc/hgai/config.json' }]);
  t.match(files.warnings.join('\n'), /missing-tool not found/);
  t.match(files.warnings.join('\n'), /\/etc\/hgai\/absent\.json does not exist/);
});

t.test('an NPU profile naming a missing directory warns instead of failing', async (t) => {
  const root = t.testdir({});
  const files = await npuDriverFiles(new HostRoot(root), { libraryDirs: ['/opt/none'], libraryGlobs: ['*'], binaries: [], extraFiles: [] });
  t.same(files.libraries, []);
  t.match(files.warnings.join('\n'), /\/opt\/none is missing/);
});
