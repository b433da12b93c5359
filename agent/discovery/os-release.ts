/**
 * The human name of an os-release(5) file: PRETTY_NAME, else NAME and
 * VERSION, else null. Values may be quoted with " or ' and use shell escapes.
 */
export function osNameFromOsRelease(text: string): string | null {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) values.set(m[1]!, unquote(m[2]!));
  }
  const pretty = values.get('PRETTY_NAME');
  if (pretty) return pretty;
  const name = values.get('NAME');
  if (!name) return null;
  const version = values.get('VERSION');
  return version ? `${name} ${version}` : name;
}

function unquote(raw: string): string {
  const q = raw[0];
  if ((q === '"' || q === "'") && raw.length >= 2 && raw.endsWith(q)) {
    const inner = raw.slice(1, -1);
    return q === '"' ? inner.replace(/\\(["\\$`])/g, '$1') : inner;
  }
  return raw;
}
