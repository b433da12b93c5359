import { AccelError, ErrorCode } from '../errors.js';

/**
 * Reads a shared object's DT_SONAME the way the dynamic loader finds it:
 * program headers → PT_DYNAMIC → DT_STRTAB (a virtual address, mapped back to
 * a file offset through the PT_LOAD segments) + DT_SONAME. Section headers are
 * ignored because stripped libraries may not have them.
 *
 * Only the few byte ranges needed are read, through a `ByteSource`, so a
 * 100 MiB driver library costs four small reads. Every offset comes from the
 * file and is checked against its size before it is used.
 */
export interface ByteSource {
  readonly size: number;
  /** Returns exactly `length` bytes at `offset`; callers only ask for ranges inside `size`. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_SONAME = 14n;
/** e_phnum's escape value meaning "the count is in section header 0": never seen on a shared object. */
const PN_XNUM = 0xffff;
/** Real dynamic sections hold a few dozen entries; this bounds a hostile PT_DYNAMIC's read. */
const MAX_DYNAMIC_ENTRIES = 4096;
/** Longer than any real soname; bounds the string read. */
const MAX_SONAME = 4096;

interface Layout {
  is64: boolean;
  little: boolean;
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

export interface ElfInfo {
  bits: 32 | 64;
  /** e_machine: 62 x86-64, 183 AArch64, 3 i386, ... */
  machine: number;
  /** null for a valid ELF file that has none (executables, unversioned objects). */
  soname: string | null;
}

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

export async function readElfInfo(src: ByteSource): Promise<ElfInfo> {
  const ident = await readRange(src, 0, 20, 'ELF identification');
  if (ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) malformed('not an ELF file');
  if (ident[4] !== 1 && ident[4] !== 2) malformed(`unknown ELF class ${ident[4]}`);
  if (ident[5] !== 1 && ident[5] !== 2) malformed(`unknown ELF data encoding ${ident[5]}`);
  const layout: Layout = { is64: ident[4] === 2, little: ident[5] === 1 };
  const bits = layout.is64 ? 64 : 32;
  const machine = u16(view(ident), 18, layout);
  return { bits, machine, soname: await readSoname(src, layout) };
}

async function readSoname(src: ByteSource, layout: Layout): Promise<string | null> {
  const segments = await readSegments(src, layout);
  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  if (dynamic === undefined) return null;

  const tags = await readDynamic(src, layout, dynamic);
  const sonameOffset = tags.get(DT_SONAME);
  if (sonameOffset === undefined) return null;
  const strtabAddr = tags.get(DT_STRTAB);
  if (strtabAddr === undefined) malformed('DT_SONAME without DT_STRTAB');
  const strsz = tags.get(DT_STRSZ);
  if (strsz !== undefined && sonameOffset >= strsz) malformed(`DT_SONAME offset ${sonameOffset} past DT_STRSZ ${strsz}`);

  const strtab = fileOffsetOf(segments, strtabAddr);
  const at = toNumber(BigInt(strtab) + sonameOffset, 'soname offset');
  if (at >= src.size) malformed(`soname at ${at} is past the end of the file`);
  const limit = Math.min(src.size - at, MAX_SONAME, strsz === undefined ? MAX_SONAME : Number(strsz - sonameOffset));
  const bytes = Buffer.from(await readRange(src, at, limit, 'soname'));
  const nul = bytes.indexOf(0);
  if (nul < 0) malformed('soname is not NUL-terminated');
  if (nul === 0) malformed('soname is empty');
  return bytes.toString('utf8', 0, nul);
}

async function readSegments(src: ByteSource, layout: Layout): Promise<Segment[]> {
  const header = view(await readRange(src, 0, layout.is64 ? 64 : 52, 'ELF header'));
  const phoff = layout.is64 ? u64(header, 0x20, layout) : BigInt(u32(header, 0x1c, layout));
  const phentsize = u16(header, layout.is64 ? 0x36 : 0x2a, layout);
  const phnum = u16(header, layout.is64 ? 0x38 : 0x2c, layout);
  if (phnum === 0) return [];
  if (phnum === PN_XNUM) malformed('program header count escapes to section 0');
  const minEntry = layout.is64 ? 56 : 32;
  if (phentsize < minEntry) malformed(`program header entry size ${phentsize} is below ${minEntry}`);
  const table = view(await readRange(src, toNumber(phoff, 'e_phoff'), phnum * phentsize, 'program headers'));
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    const type = u32(table, at, layout);
    segments.push(
      layout.is64
        ? {
            type,
            offset: toNumber(u64(table, at + 8, layout), 'p_offset'),
            vaddr: toNumber(u64(table, at + 16, layout), 'p_vaddr'),
            filesz: toNumber(u64(table, at + 32, layout), 'p_filesz'),
          }
        : {
            type,
            offset: u32(table, at + 4, layout),
            vaddr: u32(table, at + 8, layout),
            filesz: u32(table, at + 16, layout),
          },
    );
  }
  return segments;
}

/** The dynamic tags up to DT_NULL; the first occurrence of a tag wins, as in the loader. */
async function readDynamic(src: ByteSource, layout: Layout, dynamic: Segment): Promise<Map<bigint, bigint>> {
  const entrySize = layout.is64 ? 16 : 8;
  const count = Math.min(Math.floor(dynamic.filesz / entrySize), MAX_DYNAMIC_ENTRIES);
  const table = view(await readRange(src, dynamic.offset, count * entrySize, 'dynamic section'));
  const tags = new Map<bigint, bigint>();
  for (let i = 0; i < count; i++) {
    const at = i * entrySize;
    const tag = layout.is64 ? u64(table, at, layout) : BigInt(u32(table, at, layout));
    if (tag === DT_NULL) return tags;
    const value = layout.is64 ? u64(table, at + 8, layout) : BigInt(u32(table, at + 4, layout));
    if (!tags.has(tag)) tags.set(tag, value);
  }
  malformed('dynamic section has no DT_NULL terminator');
}

function fileOffsetOf(segments: readonly Segment[], addr: bigint): number {
  const a = toNumber(addr, 'DT_STRTAB');
  const seg = segments.find((s) => s.type === PT_LOAD && a >= s.vaddr && a < s.vaddr + s.filesz);
  if (seg === undefined) malformed(`DT_STRTAB address 0x${a.toString(16)} is in no loaded segment`);
  return a - seg.vaddr + seg.offset;
}

async function readRange(src: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  if (offset < 0 || length < 0 || offset + length > src.size) {
    malformed(`${what} (${length} bytes at ${offset}) lies outside the ${src.size}-byte file`);
  }
  const bytes = await src.read(offset, length);
  if (bytes.length !== length) malformed(`short read of ${what}`);
  return bytes;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
function u16(v: DataView, at: number, l: Layout): number {
  return v.getUint16(at, l.little);
}
function u32(v: DataView, at: number, l: Layout): number {
  return v.getUint32(at, l.little);
}
function u64(v: DataView, at: number, l: Layout): bigint {
  return v.getBigUint64(at, l.little);
}

function toNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`${what} 0x${value.toString(16)} is implausibly large`);
  return Number(value);
}

function malformed(message: string): never {
  throw new AccelError(ErrorCode.HOST_PARSE, `ELF: ${message}`);
}
