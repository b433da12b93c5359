/**
 * What a benchmark prints: a markdown table for people and one
 * `BENCH_JSON {...}` line with the raw figures for tools.
 */

export interface Column {
  title: string;
  /** Figures read best right-aligned. */
  align?: 'left' | 'right';
}

export const BENCH_JSON_PREFIX = 'BENCH_JSON ';

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** A markdown table padded so it also reads well as plain text. */
export function markdownTable(columns: readonly (string | Column)[], rows: readonly (readonly string[])[]): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { title: c } : c));
  if (cols.length === 0) throw new RangeError('a table needs at least one column');
  rows.forEach((row, i) => {
    if (row.length !== cols.length) throw new RangeError(`row ${i} has ${row.length} cells for ${cols.length} columns`);
  });
  const body = rows.map((row) => row.map(cell));
  const titles = cols.map((c) => cell(c.title));
  const widths = cols.map((_, i) => Math.max(3, titles[i]!.length, ...body.map((r) => r[i]!.length)));
  const pad = (text: string, i: number) => (cols[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!));
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${cols.map((c, i) => (c.align === 'right' ? `${'-'.repeat(widths[i]! + 1)}:` : '-'.repeat(widths[i]! + 2))).join('|')}|`;
  return [line(titles), rule, ...body.map(line)].join('\n');
}

/**
 * The machine-readable line. A figure that is not a finite number is a broken
 * measurement: it is refused rather than silently written as null.
 */
export function benchJsonLine(bench: string, figures: Readonly<Record<string, unknown>>): string {
  const json = JSON.stringify({ bench, ...figures }, (key, value: unknown) => {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`figure ${key} is not a finite number: ${value}`);
    return value;
  });
  return BENCH_JSON_PREFIX + json;
}
