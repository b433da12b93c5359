/** The memory lines of `/proc/<pid>/status`, in bytes. */
export interface ProcMemory {
  /** Resident set size now. */
  rssBytes: number;
  /** Peak resident set size ("high water mark"). */
  hwmBytes: number;
  /** The anonymous part of the RSS (heaps, stacks); null on kernels before 4.5. */
  anonBytes: number | null;
  /** The file-backed part (the node binary, shared libraries); null on kernels before 4.5. */
  fileBytes: number | null;
}

const KIB_LINE = /^(VmRSS|VmHWM|RssAnon|RssFile):\s+(\d+) kB$/;

/**
 * Reads the memory figures from the text of `/proc/<pid>/status`. VmRSS and
 * VmHWM must be there, and no line twice, in the kernel's `<n> kB` form: a
 * zombie's status has neither, and a guess would be a wrong figure.
 */
export function parseProcMemory(text: string): ProcMemory {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = KIB_LINE.exec(line.trimEnd());
    if (!m) continue;
    if (found.has(m[1]!)) throw new Error(`${m[1]} appears twice in the process status`);
    found.set(m[1]!, Number(m[2]) * 1024);
  }
  const rss = found.get('VmRSS');
  const hwm = found.get('VmHWM');
  if (rss === undefined || hwm === undefined) throw new Error('process status lacks VmRSS or VmHWM (has the process exited?)');
  return { rssBytes: rss, hwmBytes: hwm, anonBytes: found.get('RssAnon') ?? null, fileBytes: found.get('RssFile') ?? null };
}
