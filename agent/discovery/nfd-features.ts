/**
 * The text of a Node Feature Discovery local feature file: one `key=value`
 * per line, sorted so the same labels always give the same bytes (and an
 * unchanged file is never rewritten). nfd-worker ignores a file larger than
 * 64 KiB entirely, so labels that would push it past that are left out
 * rather than losing every label at once.
 */
import { isValidLabelKey, isValidLabelValue } from './labels.js';

/** nfd-worker skips feature files larger than this. */
export const NFD_MAX_FILE_BYTES = 64 * 1024;

/** A comment for operators who find the file; nfd-worker skips `#` lines that are not `# +` directives. */
export const NFD_FILE_HEADER = '# Node labels published by accel-agent; rewritten on every change, do not edit.\n';

export interface FeatureFile {
  text: string;
  /** Keys that were written, sorted. */
  keys: string[];
  /** One line per label left out, saying why. */
  dropped: string[];
}

/**
 * Renders labels as a feature file. Keys and values must be valid
 * Kubernetes label keys and values: anything else could not become a node
 * label, and a newline or `=` in either would corrupt the line format.
 */
export function renderFeatureFile(labels: Readonly<Record<string, string>>, maxBytes = NFD_MAX_FILE_BYTES): FeatureFile {
  const dropped: string[] = [];
  const keys: string[] = [];
  let text = NFD_FILE_HEADER;
  let size = Buffer.byteLength(text);
  for (const key of Object.keys(labels).sort()) {
    const value = labels[key];
    if (!isValidLabelKey(key)) {
      dropped.push(`label key ${JSON.stringify(key)} is not a valid Kubernetes label key`);
      continue;
    }
    if (typeof value !== 'string' || !isValidLabelValue(value)) {
      dropped.push(`label ${key}: value ${JSON.stringify(value)} is not a valid Kubernetes label value`);
      continue;
    }
    const line = `${key}=${value}\n`;
    const lineBytes = Buffer.byteLength(line);
    if (size + lineBytes > maxBytes) {
      dropped.push(`label ${key}: the feature file would exceed ${maxBytes} bytes, which nfd-worker ignores`);
      continue;
    }
    text += line;
    size += lineBytes;
    keys.push(key);
  }
  return { text, keys, dropped };
}
