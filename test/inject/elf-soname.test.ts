import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { EM_X86_64, readElfInfo, type ByteSource } from '../../agent/inject/elf-soname.js';
import { buildExecutable, buildSharedObject, missingTools } from '../helpers/native-libs.js';

const malformed = { code: ErrorCode.HOST_PARSE };
const bufferSource = (data: Uint8Array): ByteSource => ({ size: data.length, read: async (offset, length) => data.subarray(offset, offset + length) });
const soname = async (bytes: Uint8Array) => (await readElfInfo(bufferSource(bytes))).soname;
const skip = missingTools();
const dir = mkdtempSync(path.join(os.tmpdir(), 'accel-elf-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('gcc-built shared objects report the soname given at link time', { skip: skip ?? false }, async (t) => {
  const lib64 = path.join(dir, 'libcuda.so.550.54.15');
  buildSharedObject(lib64, 'libcuda.so.1');
  t.equal(await soname(readFileSync(lib64)), 'libcuda.so.1');

  const lib32 = path.join(dir, 'lib32/libnvidia-ml.so.550.54.15');
  buildSharedObject(lib32, 'libnvidia-ml.so.1', ['-m32']);
  t.same(await readElfInfo(bufferSource(readFileSync(lib32))), { bits: 32, machine: 3, soname: 'libnvidia-ml.so.1' });
});

t.test('class and machine are reported so other architectures can be skipped', { skip: skip ?? false }, async (t) => {
  const lib = path.join(dir, 'libmachine.so.1.0');
  buildSharedObject(lib, 'libmachine.so.1');
  const info = await readElfInfo(bufferSource(readFileSync(lib)));
  t.equal(info.bits, 64);
  if (process.arch === 'x64') t.equal(info.machine, EM_X86_64);
  const patched = readFileSync(lib);
  patched.writeUInt16LE(183, 18);
  t.equal((await readElfInfo(bufferSource(patched))).machine, 183);
});

t.test('objects without a soname and executables give null', { skip: skip ?? false }, async (t) => {
  const plain = path.join(dir, 'libplain.so');
  buildSharedObject(plain, null);
  t.equal(await soname(readFileSync(plain)), null);
  const exe = path.join(dir, 'prog');
  buildExecutable(exe);
  t.equal(await soname(readFileSync(exe)), null);
});

const hostLibc = ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/lib64/libc.so.6'].find((p) => existsSync(p));

t.test('the host’s own libc reports libc.so.6', { skip: hostLibc === undefined ? 'no libc at the usual paths' : false }, async (t) => {
  t.equal(await soname(readFileSync(hostLibc!)), 'libc.so.6');
});

t.test('only small ranges of a large file are read', { skip: skip ?? false }, async (t) => {
  const lib = path.join(dir, 'libbig.so.1.0');
  buildSharedObject(lib, 'libbig.so.1');
  const bytes = readFileSync(lib);
  let total = 0;
  const counting: ByteSource = {
    size: bytes.length,
    read: async (offset, length) => {
      total += length;
      return bytes.subarray(offset, offset + length);
    },
  };
  t.equal((await readElfInfo(counting)).soname, 'libbig.so.1');
  t.ok(total < 4096 + 1024, `read ${total} bytes`);
});

interface SynthOptions {
  is64?: boolean;
  little?: boolean;
  soname?: string;
  /** Dynamic entries to write instead of the default STRTAB/STRSZ/SONAME/NULL. */
  dynamic?: [number, number][];
}

/**
 * A minimal ELF shared object: header, PT_LOAD (whole file at vaddr 0x10000),
 * PT_DYNAMIC, the dynamic table, then the string table.
 */
function synth(o: SynthOptions = {}): Buffer {
  const is64 = o.is64 ?? true;
  const little = o.little ?? true;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const dynEnt = is64 ? 16 : 8;
  const base = 0x10000;
  const strtab = Buffer.from(`\0${o.soname ?? 'libsynth.so.3'}\0`);
  const phoff = ehsize;
  const dynoff = phoff + 2 * phentsize;
  const dynamic = o.dynamic ?? [
    [5, 0], // DT_STRTAB, patched below
    [10, strtab.length],
    [14, 1],
    [0, 0],
  ];
  const stroff = dynoff + dynamic.length * dynEnt;
  const size = stroff + strtab.length;
  const b = Buffer.alloc(size);
  const w16 = (v: number, at: number) => (little ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const w32 = (v: number, at: number) => (little ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  const wAddr = (v: number, at: number) =>
    is64 ? (little ? b.writeBigUInt64LE(BigInt(v), at) : b.writeBigUInt64BE(BigInt(v), at)) : w32(v, at);
  b.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, little ? 1 : 2, 1], 0);
  w16(3, 16);
  w16(0x4242, 18);
  if (is64) {
    wAddr(phoff, 0x20);
    w16(phentsize, 0x36);
    w16(2, 0x38);
  } else {
    w32(phoff, 0x1c);
    w16(phentsize, 0x2a);
    w16(2, 0x2c);
  }
  const phdr = (i: number, type: number, offset: number, vaddr: number, filesz: number) => {
    const at = phoff + i * phentsize;
    w32(type, at);
    if (is64) {
      wAddr(offset, at + 8);
      wAddr(vaddr, at + 16);
      wAddr(filesz, at + 32);
    } else {
      w32(offset, at + 4);
      w32(vaddr, at + 8);
      w32(filesz, at + 16);
    }
  };
  phdr(0, 1, 0, base, size);
  phdr(1, 2, dynoff, base + dynoff, dynamic.length * dynEnt);
  dynamic.forEach(([tag, val], i) => {
    const at = dynoff + i * dynEnt;
    wAddr(tag, at);
    wAddr(tag === 5 && o.dynamic === undefined ? base + stroff : val, at + (is64 ? 8 : 4));
  });
  strtab.copy(b, stroff);
  return b;
}

t.test('every class and byte order is read: ELF64/ELF32, little- and big-endian', async (t) => {
  for (const is64 of [true, false]) {
    for (const little of [true, false]) {
      t.same(
        await readElfInfo(bufferSource(synth({ is64, little, soname: 'libhgrt.so.2' }))),
        { bits: is64 ? 64 : 32, machine: 0x4242, soname: 'libhgrt.so.2' },
        `is64=${is64} little=${little}`,
      );
    }
  }
});

t.test('a file that is not ELF is refused with a reason', async (t) => {
  await t.rejects(soname(Buffer.from('/* GNU ld script */ GROUP ( libc.so.6 )')), { ...malformed, message: /not an ELF file/ });
  await t.rejects(soname(Buffer.alloc(0)), malformed);
  const badClass = synth();
  badClass[4] = 7;
  await t.rejects(soname(badClass), { ...malformed, message: /ELF class 7/ });
  const badData = synth();
  badData[5] = 0;
  await t.rejects(soname(badData), { ...malformed, message: /data encoding 0/ });
});

t.test('truncation anywhere is refused, never read past the end', async (t) => {
  const whole = synth();
  for (let cut = 0; cut < whole.length; cut += 3) {
    await t.rejects(soname(whole.subarray(0, cut)), malformed, `cut at ${cut}`);
  }
});

t.test('hostile header fields are refused', async (t) => {
  const hugePhoff = synth();
  hugePhoff.writeBigUInt64LE(0xffffffffffff0000n, 0x20);
  await t.rejects(soname(hugePhoff), { ...malformed, message: /e_phoff/ });

  const phoffPastEnd = synth();
  phoffPastEnd.writeBigUInt64LE(BigInt(phoffPastEnd.length), 0x20);
  await t.rejects(soname(phoffPastEnd), { ...malformed, message: /program headers/ });

  const tinyEntries = synth();
  tinyEntries.writeUInt16LE(8, 0x36);
  await t.rejects(soname(tinyEntries), { ...malformed, message: /entry size 8/ });

  const xnum = synth();
  xnum.writeUInt16LE(0xffff, 0x38);
  await t.rejects(soname(xnum), { ...malformed, message: /section 0/ });

  const noHeaders = synth();
  noHeaders.writeUInt16LE(0, 0x38);
  t.equal(await soname(noHeaders), null, 'no program headers: no dynamic section, no soname');
});

t.test('hostile dynamic sections are refused', async (t) => {
  await t.rejects(soname(synth({ dynamic: [[14, 1], [10, 5]] })), { ...malformed, message: /DT_NULL/ });
  await t.rejects(soname(synth({ dynamic: [[14, 1], [0, 0]] })), { ...malformed, message: /without DT_STRTAB/ });
  await t.rejects(soname(synth({ dynamic: [[5, 0x999999], [14, 1], [0, 0]] })), { ...malformed, message: /no loaded segment/ });
  await t.rejects(soname(synth({ dynamic: [[5, 0x10000], [10, 4], [14, 9], [0, 0]] })), { ...malformed, message: /past DT_STRSZ/ });
  await t.rejects(soname(synth({ dynamic: [[5, 0x10000], [14, 0x7fffff], [0, 0]] })), { ...malformed, message: /past the end/ });
  t.equal(await soname(synth({ dynamic: [[10, 1], [0, 0]] })), null, 'no DT_SONAME');
});

t.test('an unterminated or empty soname is refused', async (t) => {
  const unterminated = synth({ soname: 'libx.so.1' });
  unterminated[unterminated.length - 1] = 0x41;
  await t.rejects(soname(unterminated), { ...malformed, message: /NUL-terminated/ });
  await t.rejects(soname(synth({ soname: '' })), { ...malformed, message: /empty/ });
});

t.test('a short read from the source is reported, not trusted', async (t) => {
  const bytes = synth();
  const lying: ByteSource = { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + Math.max(0, length - 1)) };
  await t.rejects(readElfInfo(lying), { ...malformed, message: /short read/ });
});
