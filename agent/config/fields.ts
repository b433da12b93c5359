/**
 * A small declarative schema for the configuration: each field knows its
 * default, how to check a YAML value and how to read the string form that
 * environment variables and flags carry. The config type is inferred from the
 * schema, so the two cannot drift apart.
 */

export interface Field<T> {
  readonly kind: 'field';
  readonly default: T;
  readonly doc: string;
  /** Long flag name without dashes; also gives the env variable name. */
  readonly flag: string | undefined;
  /** Checks a value from the YAML file; returns an error message or the value. */
  fromValue(raw: unknown): T | Problem;
  /** Parses the string form used by flags and environment variables. */
  fromString(raw: string): T | Problem;
}

export interface Section<S extends Shape> {
  readonly kind: 'section';
  readonly doc: string;
  readonly fields: S;
}

export type Shape = { readonly [key: string]: Field<unknown> | Section<Shape> };

export type Infer<S extends Shape> = {
  -readonly [K in keyof S]: S[K] extends Field<infer T> ? T : S[K] extends Section<infer F> ? Infer<F> : never;
};

/** A rejected value, with the reason in words that name what was expected. */
export class Problem {
  constructor(readonly message: string) {}
}

interface FieldOptions {
  doc: string;
  flag?: string;
}

function field<T>(def: T, opts: FieldOptions, fromValue: (raw: unknown) => T | Problem, fromString?: (raw: string) => T | Problem): Field<T> {
  return {
    kind: 'field',
    default: def,
    doc: opts.doc,
    flag: opts.flag,
    fromValue,
    fromString: fromString ?? ((raw) => fromValue(raw)),
  };
}

export function section<S extends Shape>(doc: string, fields: S): Section<S> {
  return { kind: 'section', doc, fields };
}

export function string(def: string, opts: FieldOptions & { oneOf?: readonly string[]; pattern?: RegExp }): Field<string> {
  return field(def, opts, (raw) => {
    if (typeof raw !== 'string') return new Problem(`expected a string, got ${typeName(raw)}`);
    if (opts.oneOf && !opts.oneOf.includes(raw)) return new Problem(`expected one of ${opts.oneOf.join(', ')}, got ${JSON.stringify(raw)}`);
    if (opts.pattern && !opts.pattern.test(raw)) return new Problem(`${JSON.stringify(raw)} does not match ${opts.pattern}`);
    return raw;
  });
}

export function optionalString(opts: FieldOptions): Field<string | null> {
  return field<string | null>(
    null,
    opts,
    (raw) => (raw === null || typeof raw === 'string' ? raw : new Problem(`expected a string or null, got ${typeName(raw)}`)),
    (raw) => (raw === '' ? null : raw),
  );
}

/** An absolute path; relative paths are refused so behaviour never depends on the working directory. */
export function absolutePath(def: string, opts: FieldOptions): Field<string> {
  return field(def, opts, (raw) => {
    if (typeof raw !== 'string') return new Problem(`expected an absolute path, got ${typeName(raw)}`);
    if (!raw.startsWith('/') || raw.includes('\0')) return new Problem(`expected an absolute path, got ${JSON.stringify(raw)}`);
    return raw;
  });
}

export function integer(def: number, opts: FieldOptions & { min?: number; max?: number }): Field<number> {
  const check = (n: number): number | Problem => {
    if (!Number.isSafeInteger(n)) return new Problem(`expected an integer, got ${n}`);
    if (opts.min !== undefined && n < opts.min) return new Problem(`must be at least ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) return new Problem(`must be at most ${opts.max}, got ${n}`);
    return n;
  };
  return field(
    def,
    opts,
    (raw) => (typeof raw === 'number' ? check(raw) : new Problem(`expected an integer, got ${typeName(raw)}`)),
    (raw) => (/^-?\d+$/.test(raw.trim()) ? check(Number(raw)) : new Problem(`expected an integer, got ${JSON.stringify(raw)}`)),
  );
}

export function boolean(def: boolean, opts: FieldOptions): Field<boolean> {
  return field(
    def,
    opts,
    (raw) => (typeof raw === 'boolean' ? raw : new Problem(`expected true or false, got ${typeName(raw)}`)),
    (raw) => {
      const v = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return new Problem(`expected true or false, got ${JSON.stringify(raw)}`);
    },
  );
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "250ms", "30s", "5m", "1h" or a bare number of milliseconds. */
export function parseDuration(raw: string): number | Problem {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) return new Problem(`expected a duration such as 500ms, 30s, 5m or 1h, got ${JSON.stringify(raw)}`);
  const ms = Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!;
  return Number.isFinite(ms) ? Math.round(ms) : new Problem(`duration out of range: ${raw}`);
}

/** A duration in milliseconds. */
export function duration(defMs: number, opts: FieldOptions & { minMs?: number; maxMs?: number }): Field<number> {
  const check = (ms: number | Problem): number | Problem => {
    if (ms instanceof Problem) return ms;
    if (opts.minMs !== undefined && ms < opts.minMs) return new Problem(`must be at least ${opts.minMs} ms, got ${ms} ms`);
    if (opts.maxMs !== undefined && ms > opts.maxMs) return new Problem(`must be at most ${opts.maxMs} ms, got ${ms} ms`);
    return ms;
  };
  return field(
    defMs,
    opts,
    (raw) => {
      if (typeof raw === 'number') return check(raw >= 0 ? Math.round(raw) : new Problem(`expected a non-negative duration, got ${raw}`));
      if (typeof raw === 'string') return check(parseDuration(raw));
      return new Problem(`expected a duration, got ${typeName(raw)}`);
    },
    (raw) => check(parseDuration(raw)),
  );
}

/** A byte size: a number of bytes or "64KiB", "512MiB", "2GiB". */
export function byteSize(def: number, opts: FieldOptions & { min?: number }): Field<number> {
  const units: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
  const parse = (raw: string): number | Problem => {
    const m = /^(\d+)\s*(B|KiB|MiB|GiB)?$/.exec(raw.trim());
    if (!m) return new Problem(`expected a size such as 512MiB, got ${JSON.stringify(raw)}`);
    const n = Number(m[1]) * units[m[2] ?? '']!;
    if (opts.min !== undefined && n < opts.min) return new Problem(`must be at least ${opts.min} bytes`);
    return n;
  };
  return field(def, opts, (raw) => {
    if (typeof raw === 'number') return parse(String(raw));
    if (typeof raw === 'string') return parse(raw);
    return new Problem(`expected a size, got ${typeName(raw)}`);
  }, parse);
}

export function stringList(def: readonly string[], opts: FieldOptions & { item?: (s: string) => string | Problem }): Field<string[]> {
  const check = (items: unknown[]): string[] | Problem => {
    const out: string[] = [];
    for (const [i, it] of items.entries()) {
      if (typeof it !== 'string') return new Problem(`item ${i}: expected a string, got ${typeName(it)}`);
      const v = opts.item ? opts.item(it) : it;
      if (v instanceof Problem) return new Problem(`item ${i}: ${v.message}`);
      out.push(v);
    }
    return out;
  };
  return field(
    [...def],
    opts,
    (raw) => (Array.isArray(raw) ? check(raw) : new Problem(`expected a list, got ${typeName(raw)}`)),
    (raw) => check(raw.split(',').map((s) => s.trim()).filter(Boolean)),
  );
}

export function integerList(def: readonly number[], opts: FieldOptions & { min?: number; max?: number }): Field<number[]> {
  const one = integer(0, { doc: '', ...(opts.min !== undefined && { min: opts.min }), ...(opts.max !== undefined && { max: opts.max }) });
  const check = (items: unknown[], fromString: boolean): number[] | Problem => {
    const out: number[] = [];
    for (const [i, it] of items.entries()) {
      const v = fromString ? one.fromString(String(it)) : one.fromValue(it);
      if (v instanceof Problem) return new Problem(`item ${i}: ${v.message}`);
      out.push(v);
    }
    return out;
  };
  return field(
    [...def],
    opts,
    (raw) => (Array.isArray(raw) ? check(raw, false) : new Problem(`expected a list of integers, got ${typeName(raw)}`)),
    (raw) => check(raw.split(',').map((s) => s.trim()).filter(Boolean), true),
  );
}

/** A field whose value is checked by a validator owned by the module that uses it. */
export function custom<T>(def: T, opts: FieldOptions, validate: (raw: unknown) => T | Problem): Field<T> {
  return field(def, opts, validate, (raw) => new Problem(`cannot be set from a flag or environment variable (${raw.length} characters given)`));
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}
