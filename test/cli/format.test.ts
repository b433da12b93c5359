import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import type { HostInfo, WatchEvent } from '../../agent/api/convert.js';
import {
  WATCH_TABLE_HEADER,
  formatDevice,
  formatDeviceList,
  formatHostInfo,
  formatWatchEvent,
  isOutputFormat,
  renderTable,
  sanitize,
} from '../../agent/cli/format.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';

const hostile = gpu(0, { model: 'A100\u001b]0;pwned\u0007\u001b[2J\r\nfake line\u2028', healthReason: 'tab\there' });

function hostInfo(): HostInfo {
  const inv = inventory([gpu(0)]);
  return { host: inv.host, drivers: inv.drivers, labels: inv.labels, warnings: ['skipped /dev/nvidia9'], agentVersion: '0.1.0', revision: 4, deviceCount: 1 };
}

/** Splits table lines at the header's column starts. */
function parseTable(text: string): Record<string, string>[] {
  const [header, ...rows] = text.trimEnd().split('\n');
  const starts = [...header!.matchAll(/\S+(?: \S+)*/g)].map((m) => [m[0], m.index!] as const);
  return rows.map((row) =>
    Object.fromEntries(starts.map(([name, start], i) => [name, row.slice(start, i + 1 < starts.length ? starts[i + 1]![1] : undefined).trim()])),
  );
}

t.test('only the three formats are accepted', async (t) => {
  t.ok(isOutputFormat('table') && isOutputFormat('json') && isOutputFormat('yaml'));
  t.notOk(isOutputFormat('xml'));
  t.notOk(isOutputFormat('JSON'));
  t.notOk(isOutputFormat(''));
});

t.test('sanitize escapes control characters and keeps ordinary text', async (t) => {
  t.equal(sanitize('NVIDIA A100-SXM4-40GB (rev a1) µ'), 'NVIDIA A100-SXM4-40GB (rev a1) µ');
  t.equal(sanitize('a\u001b[31mb\n\u0085\u2028'), 'a\\u001b[31mb\\u000a\\u0085\\u2028');
});

t.test('renderTable pads columns to the widest cell', async (t) => {
  t.equal(renderTable(['A', 'BB'], [['xxx', 'y'], ['z', 'wwww']]), 'A    BB\nxxx  y\nz    wwww\n');
});

t.test('a device list as a table has one row per device, readable by column', async (t) => {
  const out = formatDeviceList({ revision: 3, devices: [gpu(0), npu(0)] }, 'table');
  const rows = parseTable(out);
  t.same(rows.map((r) => r['ID']), [gpu(0).id, npu(0).id]);
  t.same(rows.map((r) => r['MODEL']), ['NVIDIA A100-SXM4-40GB', 'Hanguang 800']);
  t.same(rows.map((r) => r['NUMA']), ['0', '-'], 'null shows as a dash');
  t.same(rows.map((r) => r['MEMORY MIB']), ['40960', '-']);
  t.equal(formatDeviceList({ revision: 0, devices: [] }, 'table'), 'No devices.\n');
});

t.test('a device list in JSON and YAML parses back to the same data', async (t) => {
  const list = { revision: 3, devices: [gpu(0), npu(0), hostile] };
  t.same(JSON.parse(formatDeviceList(list, 'json')), list);
  t.same(parse(formatDeviceList(list, 'yaml')), list);
});

t.test('hostile strings cannot reach the terminal raw in a table, and survive JSON and YAML exactly', async (t) => {
  for (const out of [formatDeviceList({ revision: 1, devices: [hostile] }, 'table'), formatDevice(hostile, 'table')]) {
    t.notMatch(out, /[\u0000-\u0009\u000b-\u001f\u007f\u2028]/, 'no control character but the line ends');
    t.match(out, /\\u001b\]0;pwned/);
  }
  t.equal(out(formatDeviceList({ revision: 1, devices: [hostile] }, 'table')), 2, 'the embedded newline did not add a row');
  t.equal(JSON.parse(formatDevice(hostile, 'json')).model, hostile.model);
  t.equal(parse(formatDevice(hostile, 'yaml')).model, hostile.model);
  function out(s: string) {
    return s.trimEnd().split('\n').length;
  }
});

t.test('one device as a table lists every field by name', async (t) => {
  const text = formatDevice(npu(0, { health: 'Unhealthy', healthReason: 'heartbeat lost' }), 'table');
  const fields = Object.fromEntries(text.trimEnd().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
  t.equal(fields['ID'], npu(0).id);
  t.equal(fields['UUID'], '-');
  t.equal(fields['Device nodes'], '/dev/alinpu0');
  t.equal(fields['Health'], 'Unhealthy');
  t.equal(fields['Health reason'], 'heartbeat lost');
  t.equal(Object.keys(fields).length, 14);
});

t.test('host info in JSON and YAML parses back; the table shows facts, drivers, labels and warnings', async (t) => {
  const info = hostInfo();
  t.same(JSON.parse(formatHostInfo(info, 'json')), info);
  t.same(parse(formatHostInfo(info, 'yaml')), info);
  const text = formatHostInfo(info, 'table');
  t.match(text, /^Hostname:\s+node-a$/m);
  t.match(text, /^CPU:\s+AMD EPYC 7763 64-Core Processor \(128 cores\)$/m);
  t.match(text, /^Agent version:\s+0\.1\.0$/m);
  t.match(text, /^nvidia\s+550\.54\.15\s+\/dev\/nvidiactl,\/dev\/nvidia-uvm\s+nvml:ok$/m);
  t.match(text, /^hanguang\s+-\s+-\s+procfs:failed,sysfs:ok$/m);
  t.match(text, /^accel\.example\.com\/nvidia\.count\s+1$/m);
  t.match(text, /^skipped \/dev\/nvidia9$/m);
  const bare = formatHostInfo({ ...info, drivers: [], labels: {}, warnings: [] }, 'table');
  t.notMatch(bare, /DRIVER|LABEL|WARNING/, 'empty sections are left out');
  t.match(bare, /^Hostname:\s+node-a$/m);
});

const events: WatchEvent[] = [
  { type: 'snapshot', revision: 2, devices: [gpu(0), npu(0)] },
  { type: 'health', revision: 3, device: gpu(0, { health: 'Unhealthy', healthReason: 'XID 79' }), previousHealth: 'Healthy', previousReason: '' },
  { type: 'health', revision: 4, device: gpu(0), previousHealth: 'Unhealthy', previousReason: 'XID 79' },
  { type: 'added', revision: 5, device: gpu(1) },
  { type: 'removed', revision: 6, device: npu(0) },
  { type: 'updated', revision: 7, device: gpu(1, { driverVersion: '555.42.02' }), fields: ['driverVersion'] },
];

t.test('watch events as JSON are one parseable line each', async (t) => {
  const text = events.map((e) => formatWatchEvent(e, 'json')).join('');
  const lines = text.trimEnd().split('\n');
  t.equal(lines.length, events.length);
  t.same(lines.map((l) => JSON.parse(l)), events);
});

t.test('watch events as YAML are one document each', async (t) => {
  const text = events.map((e) => formatWatchEvent(e, 'yaml')).join('');
  const docs = parseAllDocuments(text);
  t.same(Array.isArray(docs) ? docs.map((d) => d.toJS()) : [], events);
});

t.test('watch events as a table: a line per device, columns under the header', async (t) => {
  const text = WATCH_TABLE_HEADER + events.map((e) => formatWatchEvent(e, 'table')).join('');
  const rows = parseTable(text);
  t.same(
    rows.map((r) => [r['REVISION'], r['EVENT'], r['ID'], r['HEALTH'], r['DETAIL']]),
    [
      ['2', 'snapshot', gpu(0).id, 'Healthy', 'NVIDIA A100-SXM4-40GB'],
      ['2', 'snapshot', npu(0).id, 'Healthy', 'Hanguang 800'],
      ['3', 'health', gpu(0).id, 'Unhealthy', 'XID 79'],
      ['4', 'health', gpu(0).id, 'Healthy', 'was Unhealthy'],
      ['5', 'added', gpu(1).id, 'Healthy', 'NVIDIA A100-SXM4-40GB'],
      ['6', 'removed', npu(0).id, 'Healthy', 'Hanguang 800'],
      ['7', 'updated', gpu(1).id, 'Healthy', 'changed: driverVersion'],
    ],
  );
  t.match(formatWatchEvent({ type: 'snapshot', revision: 0, devices: [] }, 'table'), /^0\s+snapshot\s+-\s+-\s+no devices$/m);
});
