import t from 'tap';
import { MAX_LINE_LENGTH, parseKernelLogLine, parseKmsgRecord, parseXidMessage } from '../../agent/health/kmsg-parser.js';

const XID79 = 'NVRM: Xid (PCI:0000:00:07): 79, pid=1234, name=python3, GPU has fallen off the bus.';

t.test('a /dev/kmsg record from the kernel yields the Xid and canonical bus id', async (t) => {
  t.same(parseKmsgRecord(`3,5121,48712345678,-;${XID79}\n`), { pciBusId: '0000:00:07.0', xid: 79, raw: XID79 });
  t.match(parseKmsgRecord(`4,77,1,c;NVRM: Xid (PCI:0000:3B:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error`), {
    pciBusId: '0000:3b:00.0',
    xid: 48,
  });
});

t.test('continuation lines of a record are metadata, not messages', async (t) => {
  const record = `3,9,10,-;${XID79}\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:07.0\n`;
  t.match(parseKmsgRecord(record), { xid: 79, raw: XID79 });
  t.equal(parseKernelLogLine(' SUBSYSTEM=pci'), null);
  t.equal(parseKernelLogLine(' NVRM: Xid (PCI:0000:00:07): 79, pid=1'), null, 'an indented copy is a continuation line');
});

t.test('records written by processes (user facility) cannot forge an Xid', async (t) => {
  // Anything written to /dev/kmsg gets facility 1 or higher: prio >= 8.
  t.equal(parseKmsgRecord(`12,100,200,-;${XID79}`), null);
  t.equal(parseKmsgRecord(`14,100,200,-;${XID79}`), null);
  t.equal(parseKernelLogLine(`13,100,200,-;${XID79}`), null);
  t.not(parseKmsgRecord(`7,100,200,-;${XID79}`), null, 'kernel facility, any level');
});

t.test('dmesg, syslog and journal forms are understood', async (t) => {
  const lines = [
    `[ 1234.567890] ${XID79}`,
    `[Wed Jul 31 23:14:18 2024] ${XID79}`,
    `Aug  5 03:54:13 node4 kernel: ${XID79}`,
    `Aug  5 03:54:13 node4 kernel: [ 1234.567890] ${XID79}`,
    `kernel: ${XID79}`,
    XID79,
  ];
  for (const line of lines) t.match(parseKernelLogLine(line), { pciBusId: '0000:00:07.0', xid: 79 }, line);
});

t.test('variants of the bus id inside the parentheses', async (t) => {
  const cases: [string, string | null][] = [
    ['NVRM: Xid (0000:03:00): 13, pid=1', '0000:03:00.0'],
    ['NVRM: Xid (PCI:0000:03:00.1): 13, pid=1', '0000:03:00.1'],
    ['NVRM: Xid (PCI:00000001:cb:00): 13, pid=1', '0001:cb:00.0'],
    ['NVRM: Xid (PCI:0000:cb:00 GPU-I:05): 43, pid=1', '0000:cb:00.0'],
    ['NVRM: Xid (PCI:0000:cb:00): 94, pid=\'<unknown>\', name=<unknown>, Contained: SM (0x1). RST: No, D-RST: No', '0000:cb:00.0'],
    ['NVRM: Xid (PCI:zzzz:00:07): 79, pid=1', null],
    ['NVRM: Xid (PCI:0000:00:07.9): 79, pid=1', null],
    ['NVRM: Xid (PCI:0000:000:07): 79, pid=1', null],
    ['NVRM: Xid (PCI:0000:00:07: 79, pid=1', null],
  ];
  for (const [msg, bus] of cases) {
    const r = parseXidMessage(msg);
    if (bus === null) t.equal(r, null, msg);
    else t.equal(r?.pciBusId, bus, msg);
  }
});

t.test('the Xid number must be a plain small integer', async (t) => {
  t.equal(parseXidMessage('NVRM: Xid (PCI:0000:00:07): 79')?.xid, 79, 'end of line after the number is fine');
  t.equal(parseXidMessage('NVRM: Xid (PCI:0000:00:07): -79, pid=1'), null);
  t.equal(parseXidMessage('NVRM: Xid (PCI:0000:00:07): 0x4f, pid=1'), null);
  t.equal(parseXidMessage('NVRM: Xid (PCI:0000:00:07): 123456, pid=1'), null);
  t.equal(parseXidMessage('NVRM: Xid (PCI:0000:00:07): 79abc, pid=1'), null);
  t.equal(parseXidMessage('NVRM: Xid (PCI:0000:00:07):79, pid=1'), null);
});

t.test('other driver and kernel messages are not Xids', async (t) => {
  for (const line of [
    '[    5.1] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.183.01',
    '[Mon Aug  5 03:54:13 2024] NVRM: GPU at PCI:0000:00:07: GPU-3b6ec030-5adc-1847-e155-79f635584b4e',
    '6,1,2,-;usb 1-1: new high-speed USB device number 2',
    'NVRM: Xid',
    'nvrm: xid (PCI:0000:00:07): 79, pid=1',
    '',
  ]) {
    t.equal(parseKernelLogLine(line), null, JSON.stringify(line));
  }
});

t.test('an Xid line from a userspace syslog tag is not trusted', async (t) => {
  t.equal(parseKernelLogLine(`Aug  5 03:54:13 node4 myapp[123]: ${XID79}`), null);
  t.equal(parseKernelLogLine(`Aug  5 03:54:13 node4 evil: kernel: x ${XID79}`), null);
  t.equal(parseKernelLogLine(`something ${XID79}`), null);
  t.equal(parseKernelLogLine(`[1.0] prefix ${XID79}`), null, 'text between the timestamp and the marker');
});

t.test('hostile input is ignored quickly and never throws', async (t) => {
  const hostile: unknown[] = [
    `3,1,1,-;${XID79}\u0000`,
    `3,1,1,-;NVRM: Xid (PCI:0000:00:07): 79, pid=1, name=\u001b[31mred`,
    `[1.0] NVRM: Xid (PCI:0000:00:07): 79, pid=1\r`,
    `3,1,1,-;NVRM: Xid (PCI:0000:00:07): 79, name=\ufffd\ufffd`,
    `3,1,1,-;${XID79}${'A'.repeat(MAX_LINE_LENGTH)}`,
    `${'['.repeat(50_000)}${XID79}`,
    `3,1,1,-;NVRM: Xid (${' '.repeat(100_000)}`,
    `3,1,1,-;NVRM: Xid (PCI:0000:00:07 ${'x'.repeat(500)}): 79, pid=1`,
    Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 256)).toString('latin1'),
    '9'.repeat(5000) + ',1,1,-;' + XID79,
    `3,1,1,-;NVRM: Xid (PCI:0000:00:07): 79, pid=1\n3,2,2,-;${XID79}`.repeat(3000),
    undefined,
    null,
    42,
  ];
  const started = process.hrtime.bigint();
  for (const h of hostile) {
    t.equal(parseKernelLogLine(h as string), null);
    t.equal(parseKmsgRecord(h as string), null);
  }
  // Generous: catastrophic backtracking would take seconds or hang, not tens of milliseconds.
  t.ok(process.hrtime.bigint() - started < 2_000_000_000n, 'bounded work per line');
});

t.test('an escaped control byte (as the kernel writes it) is just text', async (t) => {
  t.match(parseKmsgRecord('3,1,1,-;NVRM: Xid (PCI:0000:00:07): 79, pid=1, name=a\\x1bb'), { xid: 79 });
});
