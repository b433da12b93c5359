import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { inspectDeviceNodes } from '../../agent/inject/device-nodes.js';

function canMknod(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function tree(t: Test): string {
  const root = t.testdir({
    dev: { 'nvidiactl': '', 'nvidia-uvm': '', hanguang0: '', mystery: '' },
    etc: { shadow: 'secret' },
    proc: { devices: 'Character devices:\n195 nvidia-frontend\n508 nvidia-uvm\n\nBlock devices:\n  8 sd\n' },
    sys: { devices: { pci0000: { hanguang0: { uevent: 'MAJOR=240\nMINOR=0\nDEVNAME=hanguang0\n' } } }, dev: { char: {} } },
  });
  symlinkSync('../../devices/pci0000/hanguang0', path.join(root, 'sys/dev/char/240:0'));
  symlinkSync('/etc/shadow', path.join(root, 'dev/evil'));
  symlinkSync('../etc/shadow', path.join(root, 'dev/sneaky'));
  return root;
}

t.test('real device nodes are read with stat', { skip: canMknod() ? false : 'mknod needs root' }, async (t) => {
  const root = tree(t);
  execFileSync('mknod', [path.join(root, 'dev/nvidia0'), 'c', '195', '0']);
  execFileSync('mknod', [path.join(root, 'dev/nvidia3'), 'c', '195', '3']);
  execFileSync('mknod', [path.join(root, 'dev/loop9'), 'b', '7', '9']);
  symlinkSync('nvidia3', path.join(root, 'dev/gpu-by-alias'));
  const report = await inspectDeviceNodes(new HostRoot(root), ['/dev/nvidia0', '/dev/gpu-by-alias', '/dev/loop9']);
  t.same(report.nodes.get('/dev/nvidia0'), { path: '/dev/nvidia0', source: '/dev/nvidia0', type: 'c', major: 195, minor: 0, origin: 'stat' });
  t.same(report.nodes.get('/dev/gpu-by-alias'), { path: '/dev/gpu-by-alias', source: '/dev/nvidia3', type: 'c', major: 195, minor: 3, origin: 'stat' });
  t.same(report.nodes.get('/dev/loop9'), { path: '/dev/loop9', source: '/dev/loop9', type: 'b', major: 7, minor: 9, origin: 'stat' });
  t.same(report.refused, []);
  t.same(report.warnings, []);
});

t.test('placeholder files fall back to sysfs, then to NVIDIA rules over /proc/devices', async (t) => {
  const root = tree(t);
  const report = await inspectDeviceNodes(new HostRoot(root), ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/hanguang0', '/dev/mystery']);
  t.same(report.nodes.get('/dev/hanguang0'), { path: '/dev/hanguang0', source: '/dev/hanguang0', type: 'c', major: 240, minor: 0, origin: 'sysfs' });
  t.same(report.nodes.get('/dev/nvidiactl'), { path: '/dev/nvidiactl', source: '/dev/nvidiactl', type: 'c', major: 195, minor: 255, origin: 'procfs' });
  t.same(report.nodes.get('/dev/nvidia-uvm'), { path: '/dev/nvidia-uvm', source: '/dev/nvidia-uvm', type: 'c', major: 508, minor: 0, origin: 'procfs' });
  t.same(report.nodes.get('/dev/mystery'), { path: '/dev/mystery', source: '/dev/mystery', type: null, major: null, minor: null, origin: 'unknown' });
  t.match(report.warnings.join('\n'), /\/dev\/mystery is not a device node and its numbers are unknown/);
});

t.test('nodes that link out of /dev are refused, missing nodes reported, duplicates inspected once', async (t) => {
  const root = tree(t);
  const report = await inspectDeviceNodes(new HostRoot(root), ['/dev/evil', '/dev/sneaky', '/dev/absent', '/dev/nvidiactl', '/dev/nvidiactl']);
  t.same(report.refused.map((r) => r.path), ['/dev/evil', '/dev/sneaky']);
  t.match(report.refused[0]!.reason, /resolves to \/etc\/shadow/);
  t.same([...report.nodes.keys()], ['/dev/nvidiactl']);
  t.same(report.warnings, ['device node /dev/absent is missing']);
});

t.test('a sysfs entry that links outside /sys is not trusted', async (t) => {
  const root = tree(t);
  mkdirSync(path.join(root, 'outside'), { recursive: true });
  writeFileSync(path.join(root, 'outside/uevent'), 'MAJOR=1\nMINOR=1\nDEVNAME=mystery\n');
  symlinkSync('/outside', path.join(root, 'sys/dev/char/1:1'));
  const report = await inspectDeviceNodes(new HostRoot(root), ['/dev/mystery']);
  t.equal(report.nodes.get('/dev/mystery')?.origin, 'unknown');
});
