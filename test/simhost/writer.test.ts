import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readlink, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { isWithin } from '../../agent/host/host-root.js';
import { MANIFEST_FILE, type SimhostManifest } from '../../agent/simhost/manifest.js';
import { parseNvmlState } from '../../agent/simhost/nvml-state.js';
import { buildHostSpec } from '../../agent/simhost/profiles.js';
import { writeHost } from '../../agent/simhost/writer.js';
import { deviceNumbers, isRoot, listTree, nativeMissing, tempDir } from './simhost-fixture.js';

const run = promisify(execFile);
const missing = await nativeMissing();

async function read(root: string, hostPath: string): Promise<string> {
  return readFile(path.join(root, hostPath), 'utf8');
}

async function manifestOf(root: string): Promise<SimhostManifest> {
  return JSON.parse(await read(root, MANIFEST_FILE)) as SimhostManifest;
}

/** Every symlink in the tree is relative and, resolved lexically, stays inside the tree. */
async function checkLinks(t: Test, root: string): Promise<number> {
  let count = 0;
  for (const [hostPath, entry] of await listTree(root)) {
    if (entry.type !== 'link') continue;
    count++;
    if (path.isAbsolute(entry.detail)) t.fail(`${hostPath} -> ${entry.detail} is absolute`);
    const target = path.posix.resolve(path.posix.dirname(hostPath), entry.detail);
    if (!isWithin(target, '/')) t.fail(`${hostPath} leaves the tree`);
    const real = await realpath(path.join(root, hostPath)).catch(() => null);
    if (real === null || !isWithin(real, root)) t.fail(`${hostPath} -> ${entry.detail} dangles or escapes (${real})`);
  }
  return count;
}

t.test('native artifacts are built (the NVIDIA and NPU profiles copy them)', async (t) => {
  t.equal(missing, null, missing ?? '');
});

t.test('a profile needing native artifacts fails before touching the target when they are missing', async (t) => {
  const dir = path.join(await tempDir(t), 'host');
  await t.rejects(writeHost(buildHostSpec('vgn5i'), dir, { nativeDir: path.join(dir, 'nowhere') }), {
    code: ErrorCode.SIMHOST,
    message: /needs native artifacts that are not built: .*libnvidia-ml\.so\.1.*run scripts\/build-native\.sh/,
  });
  await t.rejects(lstat(dir), { code: 'ENOENT' }, 'target not created');
});

t.test('empty: kernel formats, relative links, real char devices, a real cache, a manifest', async (t) => {
  const root = await realpath(await tempDir(t));
  const { root: written, manifest } = await writeHost(buildHostSpec('empty'), root);
  t.equal(written, root);
  const nic = '/sys/bus/pci/devices/0000:00:03.0';
  t.equal(await readlink(path.join(root, nic)), '../../../devices/pci0000:00/0000:00:03.0');
  t.equal(await read(root, `${nic}/vendor`), '0x1af4\n');
  t.equal(await read(root, `${nic}/class`), '0x020000\n');
  t.equal(await read(root, `${nic}/numa_node`), '-1\n');
  t.equal(await readlink(path.join(root, `${nic}/driver`)), '../../../bus/pci/drivers/virtio-pci');
  t.match(await read(root, `${nic}/uevent`), /^DRIVER=virtio-pci\nPCI_CLASS=20000\nPCI_ID=1AF4:1000\n/);
  t.equal(await readlink(path.join(root, '/sys/bus/pci/drivers/virtio-pci/0000:00:03.0')), '../../../../devices/pci0000:00/0000:00:03.0');
  t.ok((await checkLinks(t, root)) > 10);
  await t.rejects(lstat(path.join(root, 'proc/driver/nvidia')), { code: 'ENOENT' });
  t.equal((await lstat(path.join(root, 'dev/kmsg'))).isFile(), true, 'the simulated kernel log is a regular file');
  if (isRoot) {
    t.same(await deviceNumbers(path.join(root, 'dev/null')), { major: 1, minor: 3 });
    t.ok((await lstat(path.join(root, 'dev/null'))).isCharacterDevice());
  }
  t.equal(manifest.profile, 'empty');
  t.equal(manifest.nvml, null);
  t.equal(manifest.ldCache.built, true, manifest.ldCache.detail);
  t.same(await manifestOf(root), manifest, 'the manifest on disk is what was returned');
});

t.test('vgn5i: sysfs, /proc, device nodes, libraries, ld.so.cache and a working nvidia-smi', { skip: missing ?? false }, async (t) => {
  const root = await realpath(await tempDir(t));
  const { manifest } = await writeHost(buildHostSpec('vgn5i'), root);
  const gpu = '/sys/bus/pci/devices/0000:00:07.0';
  t.equal(await read(root, `${gpu}/vendor`), '0x10de\n');
  t.equal(await read(root, `${gpu}/device`), '0x1bb3\n');
  t.equal(await read(root, `${gpu}/class`), '0x030200\n');
  t.equal(await read(root, `${gpu}/subsystem_vendor`), '0x10de\n');
  t.equal(await read(root, `${gpu}/numa_node`), '-1\n');
  t.match(await read(root, `${gpu}/irq`), /^\d+\n$/);
  t.equal(path.basename(await readlink(path.join(root, `${gpu}/driver`))), 'nvidia');
  t.equal(await read(root, '/sys/module/nvidia/version'), '470.82.01\n');
  t.match(await read(root, '/proc/driver/nvidia/version'), /^NVRM version: NVIDIA UNIX x86_64 Kernel Module  470\.82\.01  /);
  t.match(await read(root, '/proc/driver/nvidia/gpus/0000:00:07.0/information'), /^Model: \t\t GRID P4-2Q\n[^]*^Bus Location: \t 0000:00:07\.0$/m);
  const devices = await read(root, '/proc/devices');
  t.match(devices, /^195 nvidia-frontend$/m);
  t.match(devices, /^511 nvidia-uvm$/m);
  if (isRoot) {
    for (const [p, major, minor] of [
      ['dev/nvidia0', 195, 0],
      ['dev/nvidiactl', 195, 255],
      ['dev/nvidia-modeset', 195, 254],
      ['dev/nvidia-uvm', 511, 0],
      ['dev/nvidia-uvm-tools', 511, 1],
    ] as const) {
      t.ok((await lstat(path.join(root, p))).isCharacterDevice(), `${p} is a char device`);
      t.same(await deviceNumbers(path.join(root, p)), { major, minor }, p);
    }
    t.ok(manifest.deviceNodes.every((n) => n.real));
    t.same(manifest.placeholders.filter((p) => p.startsWith('/dev/')), []);
  }
  const lib = path.join(root, 'usr/lib/x86_64-linux-gnu');
  t.equal(await readlink(path.join(lib, 'libnvidia-ml.so.1')), 'libnvidia-ml.so.470.82.01');
  t.equal(await readlink(path.join(lib, 'libnvidia-ml.so')), 'libnvidia-ml.so.1');
  t.equal(await readlink(path.join(lib, 'libcuda.so')), 'libcuda.so.1');
  t.equal(await readlink(path.join(lib, 'libcuda.so.1')), 'libcuda.so.470.82.01');
  t.equal(await readlink(path.join(lib, 'libnvidia-nvvm.so.4')), 'libnvidia-nvvm.so.470.82.01');
  t.equal((await readFile(path.join(lib, 'libcuda.so.470.82.01'))).subarray(0, 4).toString('latin1'), '\x7fELF');
  const state = parseNvmlState(await readFile(path.join(lib, 'nvml-stub.conf'), 'utf8'));
  t.equal(state.devices[0]!.name, 'GRID P4-2Q');
  t.equal(await readFile(path.join(lib, 'nvml-stub.events'), 'utf8'), '');
  t.same(manifest.nvml, { conf: '/usr/lib/x86_64-linux-gnu/nvml-stub.conf', events: '/usr/lib/x86_64-linux-gnu/nvml-stub.events' });

  t.equal(await read(root, '/etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
  t.match(await read(root, '/etc/ld.so.conf.d/x86_64-linux-gnu.conf'), /^\/usr\/lib\/x86_64-linux-gnu$/m);
  t.equal(manifest.ldCache.built, true, manifest.ldCache.detail);
  const { stdout: cache } = await run('/usr/sbin/ldconfig', ['-p', '-C', path.join(root, 'etc/ld.so.cache')]);
  t.match(cache, /libnvidia-ml\.so\.1 \(libc6,x86-64\) => \/usr\/lib\/x86_64-linux-gnu\/libnvidia-ml\.so\.1/);
  t.match(cache, /libcuda\.so\.1 \(libc6,x86-64\) => \/usr\/lib\/x86_64-linux-gnu\/libcuda\.so\.1/);

  const smi = path.join(root, 'usr/bin/nvidia-smi');
  t.equal((await stat(smi)).mode & 0o111, 0o111);
  const { stdout } = await run(smi, ['--query-gpu=name,memory.total,pci.bus_id', '--format=csv,noheader,nounits'], { timeout: 30_000 });
  t.equal(stdout.trim(), 'GRID P4-2Q, 2048, 00000000:00:07.0', 'the copied nvidia-smi finds the copied stub and its state');
  t.match(await read(root, '/usr/bin/nvidia-persistenced'), /^#!\/bin\/sh\n/);
  t.ok(manifest.placeholders.includes('/usr/bin/nvidia-persistenced'));
  const socket = await lstat(path.join(root, 'run/nvidia-persistenced/socket'));
  t.ok(socket.isSocket() || manifest.placeholders.includes('/run/nvidia-persistenced/socket'), 'a socket, or recorded as a placeholder');
  await t.rejects(lstat(path.join(root, 'lib/firmware')), { code: 'ENOENT' }, 'no GSP firmware for a Pascal GPU');
  await checkLinks(t, root);
});

t.test('gn5: two NUMA nodes, GPUs nested under their root ports', { skip: missing ?? false }, async (t) => {
  const root = await realpath(await tempDir(t));
  await writeHost(buildHostSpec('gn5'), root);
  t.equal(await read(root, '/sys/bus/pci/devices/0000:01:00.0/numa_node'), '0\n');
  t.equal(await read(root, '/sys/bus/pci/devices/0000:84:00.0/numa_node'), '1\n');
  t.equal(await readlink(path.join(root, '/sys/bus/pci/devices/0000:84:00.0')), '../../../devices/pci0000:80/0000:80:13.0/0000:84:00.0');
  t.equal(await read(root, '/sys/bus/pci/devices/0000:80:13.0/class'), '0x060400\n');
  t.equal(await readlink(path.join(root, '/sys/devices/pci0000:80/0000:80:13.0/0000:84:00.0/driver')), '../../../../bus/pci/drivers/nvidia');
  for (let i = 0; i < 8; i++) {
    if (isRoot) t.same(await deviceNumbers(path.join(root, `dev/nvidia${i}`)), { major: 195, minor: i });
  }
  t.match(await read(root, '/proc/driver/nvidia/gpus/0000:84:00.0/information'), /^Device Minor: \t 7$/m);
  await checkLinks(t, root);
});

t.test('ebman1: NPU char-device children, eRDMA function, NPU library in the cache', { skip: missing ?? false }, async (t) => {
  const root = await realpath(await tempDir(t));
  const { manifest } = await writeHost(buildHostSpec('ebman1'), root);
  const npu = '/sys/bus/pci/devices/0000:01:00.0';
  t.equal(await read(root, `${npu}/vendor`), '0x1ded\n');
  t.equal(await read(root, `${npu}/class`), '0x120000\n');
  t.match(await read(root, `${npu}/uevent`), /^DRIVER=hanguang\nPCI_CLASS=120000\nPCI_ID=1DED:1000\n/);
  t.equal(await read(root, `${npu}/hanguang/hanguang0/uevent`), 'MAJOR=240\nMINOR=0\nDEVNAME=hanguang0\n');
  t.equal(await read(root, `${npu}/hanguang/hanguang0/dev`), '240:0\n');
  t.equal(await readlink(path.join(root, '/sys/dev/char/240:0')), '../../devices/pci0000:00/0000:00:10.0/0000:01:00.0/hanguang/hanguang0');
  t.equal(await read(root, `${npu}/hwmon/hwmon0/temp1_input`), '42000\n');
  t.equal(await read(root, '/sys/devices/virtual/misc/hanguang_ctl/uevent'), 'MAJOR=10\nMINOR=60\nDEVNAME=hanguang_ctl\n');

  const erdma = '/sys/bus/pci/devices/0000:00:06.0';
  t.equal(await read(root, `${erdma}/vendor`), '0x1ded\n');
  t.equal(await read(root, `${erdma}/class`), '0x020000\n');
  t.match(await read(root, `${erdma}/uevent`), /^DRIVER=erdma\n/);
  t.equal(await read(root, `${erdma}/infiniband_verbs/uverbs0/uevent`), 'MAJOR=231\nMINOR=192\nDEVNAME=infiniband/uverbs0\n');
  if (isRoot) {
    t.same(await deviceNumbers(path.join(root, 'dev/hanguang3')), { major: 240, minor: 3 });
    t.same(await deviceNumbers(path.join(root, 'dev/infiniband/uverbs0')), { major: 231, minor: 192 });
  }
  t.equal(manifest.nvml, null);
  const { stdout: cache } = await run('/usr/sbin/ldconfig', ['-p', '-C', path.join(root, 'etc/ld.so.cache')]);
  t.match(cache, /libhgrt\.so\.1 \(libc6,x86-64\) => \/usr\/local\/hgai\/lib\/libhgrt\.so\.1/);
  t.notMatch(cache, /nvidia/);
  t.equal(await readlink(path.join(root, 'usr/local/hgai/lib/libhgrt.so')), 'libhgrt.so.1');
  await checkLinks(t, root);
});

t.test('gpu16: sixteen GPUs and GSP firmware under /lib/firmware/nvidia/<version>', { skip: missing ?? false }, async (t) => {
  const root = await realpath(await tempDir(t));
  const { manifest } = await writeHost(buildHostSpec('gpu16'), root);
  t.equal(manifest.pciFunctions.filter((f) => f.vendorId === '0x10de').length, 16);
  t.match(await read(root, '/lib/firmware/nvidia/535.129.03/gsp_ga10x.bin'), /simulated/);
  t.ok(manifest.placeholders.includes('/lib/firmware/nvidia/535.129.03/gsp_ga10x.bin'));
  t.equal(await readlink(path.join(root, 'usr/lib/x86_64-linux-gnu/libcuda.so.1')), 'libcuda.so.535.129.03');
});

t.test('a non-empty target is refused; force replaces only an earlier simulated host', async (t) => {
  const root = await realpath(await tempDir(t));
  await writeFile(path.join(root, 'precious.txt'), 'keep me');
  await t.rejects(writeHost(buildHostSpec('empty'), root), { code: ErrorCode.SIMHOST, message: /is not empty/ });
  await t.rejects(writeHost(buildHostSpec('empty'), root, { force: true }), /not a simulated host \(no \.simhost\.json\); refusing to clear it/);
  t.equal(await readFile(path.join(root, 'precious.txt'), 'utf8'), 'keep me');

  const sim = await realpath(await tempDir(t));
  await writeHost(buildHostSpec('empty'), sim);
  await writeFile(path.join(sim, 'leftover'), '');
  await t.rejects(writeHost(buildHostSpec('empty'), sim), /is not empty/);
  const outside = await tempDir(t);
  await writeFile(path.join(outside, 'victim'), 'safe');
  await symlink(outside, path.join(sim, 'trap'));
  await writeHost(buildHostSpec('empty'), sim, { force: true });
  await t.rejects(lstat(path.join(sim, 'leftover')), { code: 'ENOENT' }, 'old content gone');
  await t.rejects(lstat(path.join(sim, 'trap')), { code: 'ENOENT' }, 'old link gone');
  t.equal(await readFile(path.join(outside, 'victim'), 'utf8'), 'safe', 'clearing did not follow the link');
});

t.test('targets that are symlinks or files are refused', async (t) => {
  const base = await realpath(await tempDir(t));
  await mkdir(path.join(base, 'real'));
  await symlink('real', path.join(base, 'link'));
  await t.rejects(writeHost(buildHostSpec('empty'), path.join(base, 'link')), /is a symlink/);
  await writeFile(path.join(base, 'file'), '');
  await t.rejects(writeHost(buildHostSpec('empty'), path.join(base, 'file')), /is not a directory/);
});

t.test('a spec cannot write outside the target or through a link it made', async (t) => {
  const base = await realpath(await tempDir(t));
  const escape = buildHostSpec('empty');
  escape.files.push({ path: '/../escaped', content: 'x', mode: 0o644 });
  await t.rejects(writeHost(escape, path.join(base, 'a')), /contains \.\./);
  await t.rejects(lstat(path.join(base, 'escaped')), { code: 'ENOENT' });

  const through = buildHostSpec('empty');
  through.files.push({ path: '/sys/bus/pci/devices/0000:00:03.0/planted', content: 'x', mode: 0o644 });
  await t.rejects(writeHost(through, path.join(base, 'b')), /symlinks are not followed/);

  const twice = buildHostSpec('empty');
  twice.files.push({ path: '/etc/hostname', content: 'again', mode: 0o644 });
  await t.rejects(writeHost(twice, path.join(base, 'c')), /\/etc\/hostname would be written twice/);
});

t.test('when mknod is unavailable, nodes become recorded placeholders, or an error with strictDevices', async (t) => {
  const savedPath = process.env.PATH;
  const emptyBin = await tempDir(t);
  process.env.PATH = emptyBin;
  t.teardown(() => {
    process.env.PATH = savedPath;
  });
  const base = await realpath(await tempDir(t));
  const { manifest } = await writeHost(buildHostSpec('empty'), path.join(base, 'loose'));
  t.ok(manifest.deviceNodes.length > 0);
  t.ok(manifest.deviceNodes.every((n) => !n.real));
  t.ok(manifest.placeholders.includes('/dev/null'));
  t.ok(manifest.warnings.includes('/dev/null: mknod 1:3 refused: mknod not found; a regular file stands in for it'), manifest.warnings[0]);
  t.ok((await lstat(path.join(base, 'loose/dev/null'))).isFile());
  await t.rejects(writeHost(buildHostSpec('empty'), path.join(base, 'strict'), { strictDevices: true }), {
    code: ErrorCode.SIMHOST,
    message: /cannot make \/dev\/null a char device \(strictDevices\)/,
  });
});

t.test('a missing ldconfig is reported in the manifest rather than silently skipped', async (t) => {
  const root = await realpath(await tempDir(t));
  const { manifest } = await writeHost(buildHostSpec('empty'), root, { ldconfig: path.join(root, 'no-such-ldconfig') });
  t.equal(manifest.ldCache.built, false);
  t.match(manifest.ldCache.detail, /no-such-ldconfig failed: .*no-such-ldconfig not found$/);
  t.ok(manifest.warnings.includes(manifest.ldCache.detail));
});
