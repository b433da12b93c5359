import { constants } from 'node:fs';
import { appendFile, mkdir, open, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { isAccelError, ErrorCode } from '../../agent/errors.js';
import { HostRoot } from '../../agent/host/host-root.js';
import { KmsgSource, type KmsgSourceOptions } from '../../agent/health/kmsg-source.js';
import type { HealthSignal, HealthTarget } from '../../agent/health/signals.js';
import { createLogger } from '../../agent/log.js';
import { FakeClock, eventually } from './fake-clock.js';
import { SysTree } from './sys-tree.js';

const gpu0: HealthTarget = { id: 'GPU-0', vendor: 'nvidia', index: 0, uuid: 'GPU-0', pciBusId: '0000:00:07.0', deviceNodes: [] };
const gpu1: HealthTarget = { id: 'GPU-1', vendor: 'nvidia', index: 1, uuid: 'GPU-1', pciBusId: '0000:3b:00.1', deviceNodes: [] };
const npu: HealthTarget = { id: 'npu-0', vendor: 'hanguang', index: 0, uuid: null, pciBusId: '0000:00:08.0', deviceNodes: [] };

const kernelXid = (seq: number, bus: string, xid: number) => `3,${seq},${seq * 1000},-;NVRM: Xid (PCI:${bus}): ${xid}, pid=99, name=train, details\n`;
const xidSignal = (deviceId: string, xid: number) => ({ type: 'event', deviceId, event: { kind: 'xid', xid }, source: 'kmsg' });

async function fileHost(t: Test, initial: string, over: Partial<KmsgSourceOptions> = {}) {
  const tree = await SysTree.create('kmsg-');
  t.teardown(() => tree.destroy());
  await writeFile(tree.p('/dev/kmsg'), initial);
  const signals: HealthSignal[] = [];
  const clock = new FakeClock();
  const source = new KmsgSource({ host: new HostRoot(tree.root), devices: [gpu0, gpu1, npu], clock, ...over });
  t.teardown(() => source.stop());
  await source.start((s) => signals.push(s));
  const append = (text: string) => appendFile(tree.p('/dev/kmsg'), text);
  return { tree, source, signals, clock, append };
}

async function startError(source: KmsgSource): Promise<unknown> {
  try {
    await source.start(() => undefined);
    return null;
  } catch (err) {
    return err;
  }
}

t.test('a regular kmsg file is read from its end: old Xids are history, new ones are news', async (t) => {
  const h = await fileHost(t, kernelXid(1, '0000:00:07', 79) + '6,2,2,-;unrelated\n');
  t.equal(await h.source.pollOnce(), false);
  t.same(h.signals, [], 'what was there before start is not reported');
  await h.append(kernelXid(3, '0000:00:07', 79));
  await h.append('[ 99.000001] NVRM: Xid (PCI:0000:3b:00): 48, pid=1, name=x, DBE\n');
  await h.source.pollOnce();
  t.same(h.signals, [xidSignal('GPU-0', 79), xidSignal('GPU-1', 48)], 'the function-less bus id matches the GPU in that slot');
  t.same(h.source.stats, { records: 2, xids: 2, unmatched: 0 });
});

t.test('forged, foreign and unknown-device lines produce nothing', async (t) => {
  const h = await fileHost(t, '');
  await h.append(`12,5,5,-;NVRM: Xid (PCI:0000:00:07): 79, pid=1, name=x\n`); // written by a process
  await h.append(`Aug  5 03:54:13 node4 evil[1]: NVRM: Xid (PCI:0000:00:07): 79, pid=1\n`);
  await h.append(kernelXid(6, '0000:00:08', 79)); // the NPU's slot: NVIDIA Xids only name NVIDIA devices
  await h.append(kernelXid(7, '0000:99:00', 79));
  await h.append(` DEVICE=+pci:0000:00:07.0\n`);
  await h.append(`${'A'.repeat(10_000)}\n`);
  await h.append(Buffer.from([0xff, 0xfe, 0x00, 0x0a]).toString('latin1'));
  await h.source.pollOnce();
  t.same(h.signals, []);
  t.equal(h.source.stats.unmatched, 2);
});

t.test('a line arriving in pieces is reported once complete', async (t) => {
  const h = await fileHost(t, '');
  const line = kernelXid(1, '0000:00:07', 79);
  await h.append(line.slice(0, 20));
  await h.source.pollOnce();
  t.same(h.signals, []);
  await h.append(line.slice(20));
  await h.source.pollOnce();
  t.same(h.signals, [xidSignal('GPU-0', 79)]);
});

t.test('a truncated or replaced file is read again from its start', async (t) => {
  const h = await fileHost(t, 'old history that is long enough to matter\n'.repeat(20));
  await truncate(h.tree.p('/dev/kmsg'), 0);
  await h.append(kernelXid(1, '0000:00:07', 79));
  await h.source.pollOnce();
  t.same(h.signals.splice(0), [xidSignal('GPU-0', 79)], 'after truncation');
  await writeFile(h.tree.p('/dev/kmsg.new'), kernelXid(2, '0000:3b:00', 62));
  await rename(h.tree.p('/dev/kmsg.new'), h.tree.p('/dev/kmsg'));
  await h.source.pollOnce();
  t.same(h.signals, [xidSignal('GPU-1', 62)], 'after replacement');
});

t.test('a file swapped for a symlink is not followed', async (t) => {
  const h = await fileHost(t, '');
  await mkdir(h.tree.p('/etc'), { recursive: true });
  await writeFile(h.tree.p('/etc/secret'), kernelXid(1, '0000:00:07', 79));
  await rename(h.tree.p('/dev/kmsg'), h.tree.p('/dev/kmsg.old'));
  await symlink('/etc/secret', h.tree.p('/dev/kmsg'));
  await t.rejects(h.source.pollOnce(), { code: 'ELOOP' });
  t.same(h.signals, []);
});

t.test('a flood is read in bounded slices, and every Xid still arrives', async (t) => {
  const h = await fileHost(t, '');
  const filler = '6,1,1,-;' + 'x'.repeat(200) + '\n';
  await h.append(filler.repeat(3000) + kernelXid(9, '0000:00:07', 79));
  let rounds = 0;
  while (await h.source.pollOnce()) rounds++;
  t.ok(rounds >= 2, `took ${rounds + 1} polls`);
  t.same(h.signals, [xidSignal('GPU-0', 79)]);
});

t.test('polls never overlap, however they are triggered', async (t) => {
  const h = await fileHost(t, '');
  await h.append(kernelXid(1, '0000:00:07', 79));
  h.clock.advance(250); // the timer's poll starts...
  await Promise.all([h.source.pollOnce(), h.source.pollOnce()]); // ...and two more are asked for
  await eventually(() => h.clock.pendingTimers === 1);
  t.same(h.signals, [xidSignal('GPU-0', 79)], 'the line is reported exactly once');
});

t.test('polling follows the clock and stops with the source', async (t) => {
  const h = await fileHost(t, '', { pollIntervalMs: 250 });
  await h.append(kernelXid(1, '0000:00:07', 79));
  h.clock.advance(250);
  await eventually(() => h.signals.length === 1);
  await eventually(() => h.clock.pendingTimers === 1);
  await h.source.stop();
  t.equal(h.clock.pendingTimers, 0);
  await h.append(kernelXid(2, '0000:00:07', 79));
  h.clock.advance(1000);
  t.equal(h.signals.length, 1);
  t.equal(await h.source.pollOnce(), false, 'a stopped source reads nothing');
});

t.test('a missing, escaping or odd kernel log refuses to start with a health-source error', async (t) => {
  const tree = await SysTree.create('kmsg-bad-');
  t.teardown(() => tree.destroy());
  const host = new HostRoot(tree.root);
  const missing = await startError(new KmsgSource({ host, devices: [gpu0] }));
  t.ok(isAccelError(missing, ErrorCode.HEALTH_SOURCE), 'missing');
  t.match((missing as Error).message, /does not exist/);

  await mkdir(tree.p('/etc'), { recursive: true });
  await writeFile(tree.p('/etc/shadow'), kernelXid(1, '0000:00:07', 79));
  await symlink('/etc/shadow', tree.p('/dev/kmsg'));
  const escaping = await startError(new KmsgSource({ host, devices: [gpu0] }));
  t.ok(isAccelError(escaping, ErrorCode.HEALTH_SOURCE), 'escaping link');
  t.ok(isAccelError((escaping as Error).cause, ErrorCode.SYMLINK_ESCAPE), 'caused by the refused link');

  await mkdir(tree.p('/dev/dir'));
  const dir = await startError(new KmsgSource({ host, devices: [gpu0], path: '/dev/dir' }));
  t.ok(isAccelError(dir, ErrorCode.HEALTH_SOURCE), 'directory');
  t.match((dir as Error).message, /neither a character device nor a file/);
});

t.test('character devices: an empty one is quiet, an endless garbage one cannot stall the agent', async (t) => {
  const host = new HostRoot('/');
  const empty = new KmsgSource({ host, devices: [gpu0], path: '/dev/null', clock: new FakeClock() });
  const seen: HealthSignal[] = [];
  await empty.start((s) => seen.push(s));
  t.equal(await empty.pollOnce(), false);
  await empty.stop();

  const lines: string[] = [];
  const log = createLogger('warn', new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) as never);
  const endless = new KmsgSource({ host, devices: [gpu0], path: '/dev/zero', maxBacklogReads: 50, log, clock: new FakeClock() });
  await endless.start((s) => seen.push(s));
  t.ok(lines.some((l) => l.includes('backlog did not run dry')), 'the skipped backlog is bounded and logged');
  t.equal(await endless.pollOnce(), true, 'one poll stops at its budget and says more is waiting');
  t.equal(endless.stats.records, 1024);
  t.equal(endless.stats.xids, 0);
  await endless.stop();
  t.same(seen, []);
});

/** Whether this machine lets us read its kernel log at all (containers and dmesg_restrict may not). */
const kmsgOpenable = await open('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK).then(
  (fh) => fh.close().then(() => true),
  () => false,
);

t.test('the real /dev/kmsg opens non-blocking and is read from its end', { skip: kmsgOpenable ? false : '/dev/kmsg cannot be opened here' }, async (t) => {
  const source = new KmsgSource({ host: new HostRoot('/'), devices: [gpu0], clock: new FakeClock() });
  t.teardown(() => source.stop());
  t.equal(await startError(source), null);
  t.equal(source.stats.records, 0, 'the backlog was skipped, not examined');
  t.equal(await source.pollOnce(), false, 'caught up: the read would block, so the poll returns');
});
