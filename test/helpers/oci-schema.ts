import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';

/**
 * The official OCI runtime-spec config schema, read from the shared schema
 * folder next to the repository (never copied into it). Returns null with the
 * reason when the folder is absent, so a test can say why it skipped.
 */
export const OCI_SCHEMA_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../shared/schemas/oci-runtime-spec',
);

export type ConfigValidator = (config: unknown) => string[];

export function loadOciConfigValidator(): ConfigValidator | string {
  const entry = path.join(OCI_SCHEMA_DIR, 'config-schema.json');
  if (!existsSync(entry)) return `OCI runtime-spec schemas not found at ${OCI_SCHEMA_DIR}`;
  // The files are draft-04; none uses a keyword whose meaning changed since,
  // so they load as draft-07 once their $schema line is dropped.
  const ajv = new Ajv({ strict: false, allErrors: true });
  for (const file of readdirSync(OCI_SCHEMA_DIR).filter((f) => f.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(path.join(OCI_SCHEMA_DIR, file), 'utf8')) as Record<string, unknown>;
    delete schema.$schema;
    ajv.addSchema(schema, file);
  }
  const validate = ajv.getSchema('config-schema.json');
  if (validate === undefined) return 'config-schema.json did not compile';
  return (config) => {
    if (validate(config)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
  };
}
