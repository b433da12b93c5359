import { parseArgs } from 'node:util';

export interface NumberOption {
  default: number;
  integer?: boolean;
}

/**
 * A benchmark's `--name N` options. Every value must be a positive number
 * (a whole one where `integer` is set); anything else, an unknown flag or a
 * stray argument fails with a message naming the options there are.
 */
export function numberOptions<K extends string>(argv: readonly string[], spec: Readonly<Record<K, NumberOption>>): Record<K, number> {
  const names = Object.keys(spec) as K[];
  const known = names.map((n) => `--${n} N`).join(', ');
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (options: ${known || 'none'})`);
  }
  const out = {} as Record<K, number>;
  for (const name of names) {
    const raw = values[name];
    const { default: fallback, integer = false } = spec[name];
    if (typeof raw !== 'string') {
      out[name] = fallback;
      continue;
    }
    const n = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name} must be a positive ${integer ? 'whole ' : ''}number, got ${JSON.stringify(raw)}`);
    }
    out[name] = n;
  }
  return out;
}
