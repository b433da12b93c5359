import { open, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { isNotFound } from '../host/host-root.js';
import { checkSpec, type LoadedSpec, type SpecProblem } from './cdi-resolve.js';

/** CDI's own default search order: static specs first, dynamic ones override. */
export const DEFAULT_CDI_SPEC_DIRS: readonly string[] = ['/etc/cdi', '/var/run/cdi'];
/** Spec files are small; anything larger is not a spec and is not read whole. */
const MAX_SPEC_BYTES = 4 * 1024 * 1024;

export interface LoadedSpecs {
  specs: LoadedSpec[];
  problems: SpecProblem[];
}

export function isSpecFileName(name: string): boolean {
  // Dot files are the temporaries of writers that rename into place.
  return !name.startsWith('.') && /\.(json|ya?ml)$/.test(name);
}

/** Reads a regular file (never a FIFO or device that could block us) up to a size limit. */
export async function readSmallFile(file: string, limit: number): Promise<Buffer> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > limit) throw new Error(`larger than ${limit} bytes`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

async function parseSpecText(file: string, text: string): Promise<unknown> {
  if (file.endsWith('.json')) return JSON.parse(text) as unknown;
  // Loaded only when a YAML spec exists: the wrapper's start-up time matters.
  const { parse } = await import('yaml');
  return parse(text) as unknown;
}

/**
 * Every spec file in the directories, in priority order. A file that cannot
 * be read or parsed is reported, not fatal: only requests for its devices fail.
 */
export async function loadCdiSpecs(dirs: readonly string[]): Promise<LoadedSpecs> {
  const specs: LoadedSpec[] = [];
  const problems: SpecProblem[] = [];
  for (const [priority, dir] of dirs.entries()) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter(isSpecFileName).sort();
    } catch (err) {
      if (!isNotFound(err)) problems.push({ file: dir, message: (err as Error).message });
      continue;
    }
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        const text = (await readSmallFile(file, MAX_SPEC_BYTES)).toString('utf8');
        specs.push({ file, priority, spec: checkSpec(await parseSpecText(file, text), file) });
      } catch (err) {
        problems.push({ file, message: (err as Error).message });
      }
    }
  }
  return { specs, problems };
}
