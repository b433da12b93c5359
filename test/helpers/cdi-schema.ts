import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';

/**
 * The official CDI JSON schema (draft-07, schema.json referencing defs.json),
 * read from the shared schema folder next to the repository, never copied
 * into it. Returns the reason instead when the folder is absent, so a test
 * can say why it skipped.
 */
export const CDI_SCHEMA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/schemas/cdi');

export type SpecValidator = (spec: unknown) => string[];

export function loadCdiSpecValidator(): SpecValidator | string {
  const main = path.join(CDI_SCHEMA_DIR, 'schema.json');
  const defs = path.join(CDI_SCHEMA_DIR, 'defs.json');
  if (!existsSync(main) || !existsSync(defs)) return `CDI schemas not found at ${CDI_SCHEMA_DIR} (schema.json and defs.json)`;
  // strict off: defs.json carries a misspelt "ref" keyword that strict mode rejects.
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema(JSON.parse(readFileSync(defs, 'utf8')) as object, 'defs.json');
  const validate = ajv.compile(JSON.parse(readFileSync(main, 'utf8')) as object);
  return (spec) => (validate(spec) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`));
}
