import { stat } from 'node:fs/promises';

/** True when `p` exists and is a directory (following links); any error counts as no. */
export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
