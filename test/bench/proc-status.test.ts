import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseProcMemory } from '../../bench/lib/proc-status.js';

const STATUS = ['Name:\tnode', 'State:\tS (sleeping)', 'VmPeak:\t  999999 kB', 'VmHWM:\t   84000 kB', 'VmRSS:\t   81920 kB',
  'RssAnon:\t   38000 kB', 'RssFile:\t   43920 kB', 'RssShmem:\t       0 kB', 'Threads:\t11', ''].join('\n');

t.test('reads VmRSS, VmHWM, RssAnon and RssFile in bytes', async (t) => {
  t.same(parseProcMemory(STATUS), { rssBytes: 81920 * 1024, hwmBytes: 84000 * 1024, anonBytes: 38000 * 1024, fileBytes: 43920 * 1024 });
});

t.test('reads this very process’s status', async (t) => {
  const m = parseProcMemory(readFileSync('/proc/self/status', 'utf8'));
  t.ok(m.rssBytes > 1024 * 1024, 'a Node process holds more than 1 MiB');
  t.ok(m.hwmBytes >= m.rssBytes, 'the peak is never below the current figure');
});

t.test('a kernel without the RssAnon/RssFile split gives null for them, not zero', async (t) => {
  const old = STATUS.split('\n').filter((l) => !l.startsWith('Rss')).join('\n');
  t.same(parseProcMemory(old), { rssBytes: 81920 * 1024, hwmBytes: 84000 * 1024, anonBytes: null, fileBytes: null });
});

t.test('a status without VmRSS (a zombie), with a line twice or with other units is refused', async (t) => {
  t.throws(() => parseProcMemory('Name:\tnode\nState:\tZ (zombie)\n'), /lacks VmRSS or VmHWM/);
  t.throws(() => parseProcMemory(STATUS + 'VmRSS:\t 1 kB\n'), /VmRSS appears twice/);
  t.throws(() => parseProcMemory(STATUS.replace('VmRSS:\t   81920 kB', 'VmRSS:\t   80 MB')), /lacks VmRSS/);
  t.throws(() => parseProcMemory(STATUS.replace('VmHWM:\t   84000 kB', 'VmHWM:\t   -5 kB')), /lacks VmRSS or VmHWM/);
  t.throws(() => parseProcMemory(''), /lacks/);
});
