import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { AccelError, ErrorCode } from '../errors.js';
import { Problem, typeName, type Field, type Infer, type Section, type Shape } from './fields.js';
import { CONFIG_VERSION, agentSchema, type AgentConfig } from './schema.js';

export const ENV_PREFIX = 'ACCEL_AGENT_';

export interface ConfigSources {
  /** YAML text of the config file, with its name for messages. */
  file?: { name: string; text: string };
  env?: Record<string, string | undefined>;
  /** Flag values by flag name (without dashes), as util.parseArgs returns them. */
  flags?: Record<string, string | boolean | undefined>;
}

type AnyField = Field<unknown>;
type AnySection = Section<Shape>;

/** Walks the schema, yielding each field with its dotted key. */
function* eachField(shape: Shape, prefix = ''): Generator<[string, AnyField]> {
  for (const [key, node] of Object.entries(shape)) {
    const dotted = prefix + key;
    if (node.kind === 'field') yield [dotted, node];
    else yield* eachField(node.fields, dotted + '.');
  }
}

function defaults<S extends Shape>(shape: S): Infer<S> {
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(shape)) {
    out[key] = node.kind === 'field' ? structuredClone(node.default) : defaults(node.fields);
  }
  return out as Infer<S>;
}

function setDotted(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = target;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[parts.at(-1)!] = value;
}

function applyMapping(shape: Shape, raw: Record<string, unknown>, target: Record<string, unknown>, prefix: string, problems: string[]): void {
  for (const [key, value] of Object.entries(raw)) {
    const dotted = prefix + key;
    const node = shape[key] as AnyField | AnySection | undefined;
    if (!node) {
      problems.push(`${dotted}: unknown key (known here: ${Object.keys(shape).join(', ')})`);
      continue;
    }
    if (node.kind === 'section') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        problems.push(`${dotted}: expected a mapping, got ${typeName(value)}`);
        continue;
      }
      applyMapping(node.fields, value as Record<string, unknown>, target[key] as Record<string, unknown>, dotted + '.', problems);
      continue;
    }
    const parsed = node.fromValue(value);
    if (parsed instanceof Problem) problems.push(`${dotted}: ${parsed.message}`);
    else target[key] = parsed;
  }
}

/**
 * The YAML parser is loaded only when there is a file to parse: it is a
 * megabyte of heap the daemon would otherwise carry for its whole life.
 */
function yaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}

export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/-/g, '_');
}

/**
 * Builds the configuration from defaults, then the file, then the
 * environment, then flags. Every problem is collected and reported at once,
 * each naming its key, so an operator fixes a file in one pass.
 */
export function resolveConfig(sources: ConfigSources): AgentConfig {
  const config = defaults(agentSchema) as Record<string, unknown>;
  const problems: string[] = [];

  if (sources.file) {
    const { name, text } = sources.file;
    const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new AccelError(ErrorCode.CONFIG_INVALID, `${name}: not valid YAML: ${e.message.split('\n')[0]}`, { cause: e });
    }
    const raw: unknown = doc.toJS();
    if (raw !== null && raw !== undefined) {
      if (typeof raw !== 'object' || Array.isArray(raw)) {
        throw new AccelError(ErrorCode.CONFIG_INVALID, `${name}: expected a mapping at the top, got ${typeName(raw)}`);
      }
      const { version, ...rest } = raw as Record<string, unknown>;
      if (version !== CONFIG_VERSION) {
        problems.push(`version: expected ${CONFIG_VERSION}, got ${version === undefined ? 'nothing' : JSON.stringify(version)}`);
      }
      applyMapping(agentSchema, rest, config, '', problems);
    }
  }

  for (const [dotted, f] of eachField(agentSchema)) {
    if (!f.flag) continue;
    const layers: [string, string | boolean | undefined][] = [
      [`environment variable ${envName(f.flag)}`, sources.env?.[envName(f.flag)]],
      [`flag --${f.flag}`, sources.flags?.[f.flag]],
    ];
    for (const [origin, value] of layers) {
      if (value === undefined) continue;
      const parsed = f.fromString(String(value));
      if (parsed instanceof Problem) problems.push(`${dotted} (from ${origin}): ${parsed.message}`);
      else setDotted(config, dotted, parsed);
    }
  }

  if (problems.length > 0) {
    const where = sources.file ? ` in ${sources.file.name}` : '';
    throw new AccelError(ErrorCode.CONFIG_INVALID, `invalid configuration${where}:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }
  return config as AgentConfig;
}

/** Reads the config file (if any) and resolves the configuration. */
export async function loadConfig(opts: { configPath?: string | undefined; env?: Record<string, string | undefined>; flags?: ConfigSources['flags'] }): Promise<AgentConfig> {
  let file: ConfigSources['file'];
  if (opts.configPath) {
    try {
      file = { name: opts.configPath, text: await readFile(opts.configPath, 'utf8') };
    } catch (err) {
      throw new AccelError(ErrorCode.CONFIG_UNREADABLE, `cannot read config file ${opts.configPath}`, { cause: err });
    }
  }
  return resolveConfig({ file, env: opts.env ?? {}, flags: opts.flags ?? {} });
}

/** The flags the schema declares, for util.parseArgs. */
export function configFlagOptions(): Record<string, { type: 'string' }> {
  const out: Record<string, { type: 'string' }> = {};
  for (const [, f] of eachField(agentSchema)) if (f.flag) out[f.flag] = { type: 'string' };
  return out;
}

/** Help lines for every flagged setting: flag, environment variable, default and meaning. */
export function configFlagHelp(): string[] {
  const lines: string[] = [];
  for (const [dotted, f] of eachField(agentSchema)) {
    if (!f.flag) continue;
    const def = f.default === null ? 'auto' : Array.isArray(f.default) ? f.default.join(',') : String(f.default);
    lines.push(`  --${f.flag.padEnd(22)} ${f.doc} [${dotted}, ${envName(f.flag)}, default ${def}]`);
  }
  return lines;
}
