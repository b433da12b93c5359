/**
 * accelctl's output, pure: tables for people, JSON and YAML for programs.
 * Device strings come from the host (sysfs, NVML) and are not trusted: table
 * output escapes control characters so a crafted model name cannot drive the
 * terminal; JSON and YAML escape them by their own rules.
 */
import { stringify } from 'yaml';
import type { DeviceList } from '../api/client.js';
import type { HostInfo, WatchEvent } from '../api/convert.js';
import type { Device } from '../model/device.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function isOutputFormat(s: string): s is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(s);
}

/** Control characters (C0, DEL, C1) and line/paragraph separators, shown as \u escapes. */
export function sanitize(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const cell = (v: string | number | null | undefined): string => (v === null || v === undefined || v === '' ? '-' : sanitize(String(v)));

/** Columns padded to their widest cell, separated by two spaces; the last column is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

const DEVICE_HEADERS = ['ID', 'VENDOR', 'KIND', 'INDEX', 'PCI BUS ID', 'NUMA', 'MEMORY MIB', 'HEALTH', 'MODEL'];

function deviceRow(d: Device): string[] {
  return [d.id, d.vendor, d.kind, d.index, d.pciBusId, d.numaNode, d.memoryMiB, d.health, d.model].map(cell);
}

function keyValues(pairs: readonly [string, string | number | null][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${cell(v)}`).join('\n') + '\n';
}

function structured(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : stringify(value);
}

export function formatDeviceList(list: DeviceList, format: OutputFormat): string {
  if (format !== 'table') return structured(list, format);
  if (list.devices.length === 0) return 'No devices.\n';
  return renderTable(DEVICE_HEADERS, list.devices.map(deviceRow));
}

export function formatDevice(d: Device, format: OutputFormat): string {
  if (format !== 'table') return structured(d, format);
  return keyValues([
    ['ID', d.id],
    ['Vendor', d.vendor],
    ['Kind', d.kind],
    ['Index', d.index],
    ['Model', d.model],
    ['UUID', d.uuid],
    ['PCI bus ID', d.pciBusId],
    ['NUMA node', d.numaNode],
    ['Memory MiB', d.memoryMiB],
    ['Device nodes', d.deviceNodes.join(', ')],
    ['Driver version', d.driverVersion],
    ['Health', d.health],
    ['Health reason', d.healthReason],
    ['Source', d.source],
  ]);
}

export function formatHostInfo(info: HostInfo, format: OutputFormat): string {
  if (format !== 'table') return structured(info, format);
  const h = info.host;
  const sections = [
    keyValues([
      ['Hostname', h.hostname],
      ['OS', h.os],
      ['Kernel', h.kernel],
      ['Arch', h.arch],
      ['CPU', `${h.cpuModel} (${h.cpuCores} cores)`],
      ['Memory MiB', h.memoryMiB],
      ['Agent version', info.agentVersion],
      ['Devices', info.deviceCount],
      ['Revision', info.revision],
    ]),
  ];
  if (info.drivers.length > 0) {
    sections.push(
      renderTable(
        ['DRIVER', 'VERSION', 'CONTROL NODES', 'SOURCES'],
        info.drivers.map((d) => [
          cell(d.vendor),
          cell(d.version),
          cell(d.controlNodes.join(',')),
          cell(d.sources.map((s) => `${s.source}:${s.ok ? 'ok' : 'failed'}`).join(',')),
        ]),
      ),
    );
  }
  const labels = Object.entries(info.labels).sort(([a], [b]) => a.localeCompare(b));
  if (labels.length > 0) sections.push(renderTable(['LABEL', 'VALUE'], labels.map(([k, v]) => [cell(k), cell(v)])));
  if (info.warnings.length > 0) sections.push(renderTable(['WARNING'], info.warnings.map((w) => [cell(w)])));
  return sections.join('\n');
}

/** Fixed widths, since a stream cannot be measured ahead. */
const WATCH_WIDTHS = [8, 9, 40, 10];
export const WATCH_TABLE_HEADER = watchLine(['REVISION', 'EVENT', 'ID', 'HEALTH', 'DETAIL']);

function watchLine(cells: readonly string[]): string {
  return cells.map((c, i) => (i < WATCH_WIDTHS.length ? c.padEnd(WATCH_WIDTHS[i]!) : c)).join('  ').trimEnd() + '\n';
}

/**
 * One event: table lines (one per device, so a snapshot takes one line per
 * device), one compact JSON line, or one YAML document.
 */
export function formatWatchEvent(e: WatchEvent, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(e) + '\n';
  if (format === 'yaml') return '---\n' + stringify(e);
  const row = (event: string, d: Device, detail: string) => watchLine([String(e.revision), event, cell(d.id), d.health, cell(detail)]);
  switch (e.type) {
    case 'snapshot':
      return e.devices.length === 0 ? watchLine([String(e.revision), 'snapshot', '-', '-', 'no devices']) : e.devices.map((d) => row('snapshot', d, d.model)).join('');
    case 'added':
    case 'removed':
      return row(e.type, e.device, e.device.model);
    case 'health':
      return row('health', e.device, e.device.health === 'Healthy' ? `was ${e.previousHealth}` : e.device.healthReason);
    case 'updated':
      return row('updated', e.device, `changed: ${e.fields.join(', ')}`);
  }
}
