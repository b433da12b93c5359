import { AccelError, ErrorCode } from '../errors.js';

/**
 * Reader for glibc's `/etc/ld.so.cache`, the table the dynamic loader uses to
 * turn a soname (`libcuda.so.1`) into a path. Layout, all little-endian on the
 * machines the agent supports:
 *
 *   [optional legacy table] "ld.so-1.7.0" magic (11 bytes, padded to 12),
 *     nlibs u32, nlibs × {flags i32, key u32, value u32}; the new header then
 *     starts at the next 8-byte boundary.
 *   new header (48 bytes): "glibc-ld.so.cache" + "1.1", nlibs u32,
 *     string-table length u32, endianness u8 + 3 padding bytes,
 *     extension offset u32, 3 unused u32.
 *   nlibs × 24-byte entries {flags i32, key u32, value u32, osversion u32, hwcap u64},
 *     key/value being offsets of NUL-terminated strings counted from the new header.
 *
 * The file comes from the host, so every offset is checked before use and a
 * damaged cache is reported with what is wrong, never read past its end.
 */

/** The architecture an entry is built for, from the flags' required-ABI byte. */
export type LdCacheArch = 'x86_64' | 'aarch64' | 'x32' | 'none' | 'other';

export interface LdCacheEntry {
  soname: string;
  path: string;
  flags: number;
  arch: LdCacheArch;
  osVersion: number;
  /** Hardware-capability bits; values with bit 62 set index glibc-hwcaps subdirectories. */
  hwcap: bigint;
}

export const FLAG_ELF = 0x0001;
const FLAG_ARCH_MASK = 0xff00;
const ARCH_BY_FLAG: ReadonlyMap<number, LdCacheArch> = new Map([
  [0x0000, 'none'],
  [0x0300, 'x86_64'],
  [0x0800, 'x32'],
  [0x0a00, 'aarch64'],
]);

const OLD_MAGIC = 'ld.so-1.7.0';
const OLD_HEADER_SIZE = 16;
const OLD_ENTRY_SIZE = 12;
const NEW_MAGIC = 'glibc-ld.so.cache1.1';
const NEW_HEADER_SIZE = 48;
const NEW_ENTRY_SIZE = 24;
const NEW_ALIGN = 8;
const ENDIAN_OFFSET = 28;
const ENDIAN_UNSET = 0;
const ENDIAN_LITTLE = 2;

export function parseLdCache(data: Uint8Array): LdCacheEntry[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const start = newHeaderOffset(buf);
  if (buf.length - start < NEW_HEADER_SIZE) {
    corrupt(`truncated header: ${buf.length - start} bytes where the header needs ${NEW_HEADER_SIZE}`);
  }
  const nlibs = buf.readUInt32LE(start + 20);
  const stringsLength = buf.readUInt32LE(start + 24);
  const endian = buf[start + ENDIAN_OFFSET];
  if (endian !== ENDIAN_UNSET && endian !== ENDIAN_LITTLE) {
    corrupt(`byte order marker ${endian} is not little-endian`);
  }
  const entriesEnd = NEW_HEADER_SIZE + nlibs * NEW_ENTRY_SIZE;
  const available = buf.length - start;
  if (entriesEnd > available) {
    corrupt(`${nlibs} entries need ${entriesEnd} bytes but only ${available} follow the header`);
  }
  if (entriesEnd + stringsLength > available) {
    corrupt(`string table of ${stringsLength} bytes runs past the end of the file`);
  }

  const readString = (offset: number, what: string, entry: number): string => {
    if (offset < entriesEnd || offset >= available) {
      corrupt(`entry ${entry}: ${what} offset ${offset} is outside the string table`);
    }
    const from = start + offset;
    const nul = buf.indexOf(0, from);
    if (nul < 0) corrupt(`entry ${entry}: ${what} at offset ${offset} is not NUL-terminated`);
    return buf.toString('utf8', from, nul);
  };

  const entries: LdCacheEntry[] = [];
  for (let i = 0; i < nlibs; i++) {
    const at = start + NEW_HEADER_SIZE + i * NEW_ENTRY_SIZE;
    const flags = buf.readInt32LE(at);
    entries.push({
      flags,
      arch: ARCH_BY_FLAG.get(flags & FLAG_ARCH_MASK) ?? 'other',
      soname: readString(buf.readUInt32LE(at + 4), 'soname', i),
      path: readString(buf.readUInt32LE(at + 8), 'path', i),
      osVersion: buf.readUInt32LE(at + 12),
      hwcap: buf.readBigUInt64LE(at + 16),
    });
  }
  return entries;
}

/** Where the new-format header starts: 0, or after the legacy table a compat cache carries. */
function newHeaderOffset(buf: Buffer): number {
  if (hasMagic(buf, 0, NEW_MAGIC)) return 0;
  if (!hasMagic(buf, 0, OLD_MAGIC)) {
    if (isPrefixOf(buf, NEW_MAGIC) || isPrefixOf(buf, OLD_MAGIC)) corrupt(`truncated header: ${buf.length} bytes`);
    corrupt('bad magic: neither glibc-ld.so.cache1.1 nor ld.so-1.7.0');
  }
  if (buf.length < OLD_HEADER_SIZE) corrupt(`truncated legacy header: ${buf.length} bytes`);
  const oldCount = buf.readUInt32LE(12);
  const oldEnd = OLD_HEADER_SIZE + oldCount * OLD_ENTRY_SIZE;
  if (oldEnd > buf.length) {
    corrupt(`legacy table of ${oldCount} entries needs ${oldEnd} bytes but the file has ${buf.length}`);
  }
  const start = Math.ceil(oldEnd / NEW_ALIGN) * NEW_ALIGN;
  if (!hasMagic(buf, start, NEW_MAGIC)) {
    corrupt(`no glibc-ld.so.cache1.1 table after the legacy table at offset ${start} (legacy-only caches are not supported)`);
  }
  return start;
}

function hasMagic(buf: Buffer, at: number, magic: string): boolean {
  return buf.length >= at + magic.length && buf.toString('latin1', at, at + magic.length) === magic;
}

function isPrefixOf(buf: Buffer, magic: string): boolean {
  return buf.length < magic.length && buf.toString('latin1') === magic.slice(0, buf.length);
}

function corrupt(message: string): never {
  throw new AccelError(ErrorCode.LDCACHE_CORRUPT, `ld.so.cache: ${message}`);
}

/** The cache architecture of the machine the agent runs on (Node's `process.arch` names). */
export function ldCacheArchOf(nodeArch: string): LdCacheArch {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  return 'other';
}

/** ELF entries for a soname built for `arch`, in cache order (the loader's preference). */
export function findSoname(entries: readonly LdCacheEntry[], soname: string, arch: LdCacheArch): LdCacheEntry[] {
  return entries.filter((e) => e.soname === soname && e.arch === arch && (e.flags & FLAG_ELF) !== 0);
}
