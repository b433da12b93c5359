import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatRuncLogLine, logToRuncFile } from '../../agent/runtime/runtime-log.js';
import { scratchDir } from '../helpers/runtime-fixtures.js';

const now = new Date('2025-03-04T05:06:07.891Z');

t.test("lines look like runc's own logrus text and JSON lines", async (t) => {
  t.equal(formatRuncLogLine('text', 'error', 'bad "thing"', now), 'time="2025-03-04T05:06:07Z" level=error msg="bad \\"thing\\""\n');
  const json = formatRuncLogLine('json', 'info', 'ok\nnext', now);
  t.equal(json.split('\n').length, 2, 'one line even when the message has a newline');
  t.same(JSON.parse(json), { level: 'info', msg: 'ok\nnext', time: '2025-03-04T05:06:07Z' });
});

t.test('the --log file gets appended lines; no file, or an unwritable one, is not an error', async (t) => {
  const file = path.join(scratchDir('runc-log-'), 'log.json');
  logToRuncFile({ format: 'json', file }, 'info', 'one');
  logToRuncFile({ format: 'json', file }, 'error', 'two');
  t.same(readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg), ['one', 'two']);
  t.doesNotThrow(() => logToRuncFile({ format: 'text', file: null }, 'info', 'x'));
  t.doesNotThrow(() => logToRuncFile({ format: 'text', file: '/proc/accel-no-such/dir/log' }, 'info', 'x'));
});
