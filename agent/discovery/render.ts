import type { Inventory } from '../model/device.js';

/**
 * The `discover -o table` view of an inventory, for people. Every string
 * that came from the host is stripped of control characters so a crafted
 * model name cannot drive the operator's terminal.
 */
export function renderInventoryTable(inv: Inventory): string {
  const out: string[] = [];
  const h = inv.host;
  out.push(
    `HOST ${clean(h.hostname)}: ${clean(h.os)}, kernel ${clean(h.kernel)}, ${clean(h.arch)}, ` +
      `${clean(h.cpuModel)} (${h.cpuCores} cores), ${h.memoryMiB} MiB`,
  );

  out.push('', 'DRIVERS');
  const driverRows = inv.drivers.flatMap((d) =>
    d.sources.map((s, i) => [
      i === 0 ? d.vendor : '',
      i === 0 ? (d.version ?? '-') : '',
      s.source,
      s.ok ? 'ok' : 'failed',
      clean(s.detail),
    ]),
  );
  out.push(...table(['VENDOR', 'VERSION', 'SOURCE', 'RESULT', 'DETAIL'], driverRows, '(none)'));
  const controls = inv.drivers.filter((d) => d.controlNodes.length > 0);
  for (const d of controls) out.push(`control nodes (${d.vendor}): ${d.controlNodes.map(clean).join(' ')}`);

  out.push('', 'DEVICES');
  const deviceRows = inv.devices.map((d) => [
    d.vendor,
    String(d.index),
    d.kind,
    clean(d.model),
    d.pciBusId,
    d.numaNode === null ? '-' : String(d.numaNode),
    d.memoryMiB === null ? '-' : `${d.memoryMiB} MiB`,
    d.deviceNodes.length === 0 ? '-' : d.deviceNodes.map(clean).join(','),
    d.source,
    d.health === 'Healthy' ? d.health : `${d.health}: ${clean(d.healthReason)}`,
    clean(d.id),
  ]);
  out.push(...table(['VENDOR', 'INDEX', 'KIND', 'MODEL', 'PCI', 'NUMA', 'MEMORY', 'NODES', 'SOURCE', 'HEALTH', 'ID'], deviceRows, '(none)'));

  out.push('', 'LABELS');
  const labelKeys = Object.keys(inv.labels);
  if (labelKeys.length === 0) out.push('(none)');
  for (const key of labelKeys) out.push(`${key}=${inv.labels[key]}`);

  if (inv.warnings.length > 0) {
    out.push('', 'WARNINGS');
    for (const w of inv.warnings) out.push(`- ${clean(w)}`);
  }
  return out.join('\n') + '\n';
}

function table(header: string[], rows: string[][], empty: string): string[] {
  if (rows.length === 0) return [empty];
  const widths = header.map((head, i) => Math.max(head.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}
