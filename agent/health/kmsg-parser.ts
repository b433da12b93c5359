/**
 * Finds NVIDIA Xid reports in kernel log text. Pure, and deliberately
 * suspicious: the kernel log is fed by many parties, so anything that does
 * not look exactly like the driver's own line is ignored rather than guessed
 * at, and every call does bounded work.
 */
import { canonicalPciBusId } from '../model/device.js';

export interface XidReport {
  /** Canonical `dddd:bb:dd.f`; the driver omits the function, which is then `.0`. */
  pciBusId: string;
  xid: number;
  /** The message text the report was read from (without record header). */
  raw: string;
}

/** Longer lines are not something the driver writes (the kernel caps records near 1 KiB). */
export const MAX_LINE_LENGTH = 4096;

const KMSG_HEADER = /^(\d{1,4}),(\d{1,20}),(\d{1,20}),([^;]{0,32});/;
/** `[  123.456789] ` or `[Tue Aug  5 03:54:13 2024] ` as dmesg prints them. */
const DMESG_PREFIX = /^\[[ 0-9A-Za-z.:+-]{1,40}\] ?$/;
/** Syslog and journal lines from the kernel end their prefix with `kernel: ` (maybe plus a printk time). */
const SYSLOG_PREFIX = /(?:^|\s)kernel: (?:\[[ 0-9.]{1,20}\] )?$/;
const XID_MARK = 'NVRM: Xid (';
/** `(PCI:0000:3b:00): 79,` and variants: optional `PCI:` tag, optional function, optional MIG tags. */
const XID_BODY = /^\((?:PCI:)?((?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(?:\.[0-7])?)(?: [^()]{1,64})?\): (\d{1,5})(?:,|$)/;

/**
 * One record as read from `/dev/kmsg`: `prio,seq,usec,flags;message` and
 * optional continuation lines (starting with a space) carrying key=value
 * metadata. Only records with the kernel facility count: anything a process
 * writes to `/dev/kmsg` gets the user facility, so it cannot forge an Xid.
 */
export function parseKmsgRecord(record: string): XidReport | null {
  if (typeof record !== 'string' || record.length > MAX_LINE_LENGTH * 2) return null;
  const nl = record.indexOf('\n');
  const first = nl === -1 ? record : record.slice(0, nl);
  const m = KMSG_HEADER.exec(first);
  if (m === null) return null;
  const prio = Number(m[1]);
  if (prio >> 3 !== 0) return null;
  return parseXidMessage(first.slice(m[0].length));
}

/**
 * One line of kernel log text in any of the forms operators meet: a raw
 * kmsg record, `dmesg` output (with or without timestamps), or a syslog /
 * journal line whose tag is `kernel`. Continuation lines yield null.
 */
export function parseKernelLogLine(line: string): XidReport | null {
  if (typeof line !== 'string' || line.length === 0 || line.length > MAX_LINE_LENGTH) return null;
  if (line.startsWith(' ')) return null;
  if (KMSG_HEADER.test(line)) return parseKmsgRecord(line);
  const at = line.indexOf(XID_MARK);
  if (at === -1) return null;
  const prefix = line.slice(0, at);
  if (prefix !== '' && !DMESG_PREFIX.test(prefix) && !SYSLOG_PREFIX.test(prefix)) return null;
  return parseXidMessage(line.slice(at));
}

/** The message part alone: must start with the driver's `NVRM: Xid (` marker. */
export function parseXidMessage(message: string): XidReport | null {
  const text = message.endsWith('\n') ? message.slice(0, -1) : message;
  if (text.length > MAX_LINE_LENGTH || !text.startsWith(XID_MARK) || hasControlCharacters(text)) return null;
  const m = XID_BODY.exec(text.slice(XID_MARK.length - 1));
  if (m === null) return null;
  const bus = m[1]!.includes('.') ? m[1]! : `${m[1]}.0`;
  let pciBusId: string;
  try {
    pciBusId = canonicalPciBusId(bus);
  } catch {
    return null;
  }
  return { pciBusId, xid: Number(m[2]), raw: text };
}

/** The kernel escapes unprintable bytes as `\xNN`; raw control bytes mean this is not its text. */
function hasControlCharacters(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c === 0xfffd) return true;
  }
  return false;
}
