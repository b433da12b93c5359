import { readFileSync, existsSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { FLAG_ELF, findSoname, ldCacheArchOf, parseLdCache } from '../../agent/inject/ldcache.js';
import { buildLdCache, buildSharedObject, missingTools } from '../helpers/native-libs.js';

const corrupt = { code: ErrorCode.LDCACHE_CORRUPT };
const NEW_HEADER = 48;
const ENTRY = 24;

/** A tree with a 64-bit and a 32-bit libcuda, their soname links, and a library in a second dir. */
function buildTree(root: string): string {
  buildSharedObject(path.join(root, 'usr/lib64/libcuda.so.550.54.15'), 'libcuda.so.1');
  symlinkSync('libcuda.so.550.54.15', path.join(root, 'usr/lib64/libcuda.so.1'));
  buildSharedObject(path.join(root, 'usr/lib64/libnvidia-ml.so.550.54.15'), 'libnvidia-ml.so.1');
  symlinkSync('libnvidia-ml.so.550.54.15', path.join(root, 'usr/lib64/libnvidia-ml.so.1'));
  buildSharedObject(path.join(root, 'usr/lib/libcuda.so.550.54.15'), 'libcuda.so.1', ['-m32']);
  symlinkSync('libcuda.so.550.54.15', path.join(root, 'usr/lib/libcuda.so.1'));
  buildSharedObject(path.join(root, 'opt/vendor/lib/libhgrt.so.2.1'), 'libhgrt.so.2');
  symlinkSync('libhgrt.so.2.1', path.join(root, 'opt/vendor/lib/libhgrt.so.2'));
  return root;
}

const skip = missingTools();

t.test('a cache written by ldconfig -r lists every library with soname, path and arch', { skip: skip ?? false }, async (t) => {
  const root = buildTree(t.testdir());
  const entries = parseLdCache(readFileSync(buildLdCache(root, ['/usr/lib64', '/usr/lib', '/opt/vendor/lib'])));
  const byKey = new Map(entries.map((e) => [`${e.soname} ${e.path}`, e]));
  t.equal(byKey.get('libcuda.so.1 /usr/lib64/libcuda.so.1')?.arch, 'x86_64');
  t.equal(byKey.get('libcuda.so.1 /usr/lib/libcuda.so.1')?.arch, 'none', '32-bit x86 carries no required-ABI bits');
  t.equal(byKey.get('libnvidia-ml.so.1 /usr/lib64/libnvidia-ml.so.1')?.arch, 'x86_64');
  t.equal(byKey.get('libhgrt.so.2 /opt/vendor/lib/libhgrt.so.2')?.arch, 'x86_64');
  for (const e of entries) t.ok(e.flags & FLAG_ELF, `${e.path} is flagged ELF`);
  t.same(
    findSoname(entries, 'libcuda.so.1', 'x86_64').map((e) => e.path),
    ['/usr/lib64/libcuda.so.1'],
    'lookup by arch keeps the 64-bit entry only',
  );
  t.same(findSoname(entries, 'libcuda.so.1', 'aarch64'), []);
});

t.test('a compat cache (legacy table first) parses to the same entries as a new one', { skip: skip ?? false }, async (t) => {
  const root = buildTree(t.testdir());
  const dirs = ['/usr/lib64', '/usr/lib', '/opt/vendor/lib'];
  const fresh = parseLdCache(readFileSync(buildLdCache(root, dirs, 'new')));
  const compatBytes = readFileSync(buildLdCache(root, dirs, 'compat'));
  t.equal(compatBytes.toString('latin1', 0, 11), 'ld.so-1.7.0', 'the file really starts with the legacy table');
  t.same(parseLdCache(compatBytes), fresh);
});

t.test('the host machine’s own /etc/ld.so.cache parses and resolves libc', { skip: existsSync('/etc/ld.so.cache') ? false : 'no /etc/ld.so.cache' }, async (t) => {
  const entries = parseLdCache(readFileSync('/etc/ld.so.cache'));
  t.ok(entries.length > 0);
  const arch = ldCacheArchOf(process.arch);
  const libc = findSoname(entries, 'libc.so.6', arch);
  t.ok(libc.length >= 1, 'libc.so.6 is in the cache for this machine');
  t.ok(libc.every((e) => e.path.startsWith('/') && e.path.endsWith('/libc.so.6')));
});

t.test('ldCacheArchOf maps Node architecture names', async (t) => {
  t.equal(ldCacheArchOf('x64'), 'x86_64');
  t.equal(ldCacheArchOf('arm64'), 'aarch64');
  t.equal(ldCacheArchOf('riscv64'), 'other');
});

/** A hand-built new-format cache, for the damage tests below. */
function synth(entries: { flags: number; soname: string; path: string; hwcap?: bigint }[]): Buffer {
  const strings: Buffer[] = [];
  let strOff = NEW_HEADER + entries.length * ENTRY;
  const offsets = entries.map((e) => {
    const key = strOff;
    strings.push(Buffer.from(e.soname + '\0'));
    strOff += e.soname.length + 1;
    const value = strOff;
    strings.push(Buffer.from(e.path + '\0'));
    strOff += e.path.length + 1;
    return { key, value };
  });
  const strTable = Buffer.concat(strings);
  const out = Buffer.alloc(NEW_HEADER + entries.length * ENTRY + strTable.length);
  out.write('glibc-ld.so.cache1.1', 0, 'latin1');
  out.writeUInt32LE(entries.length, 20);
  out.writeUInt32LE(strTable.length, 24);
  out[28] = 2;
  entries.forEach((e, i) => {
    const at = NEW_HEADER + i * ENTRY;
    out.writeInt32LE(e.flags, at);
    out.writeUInt32LE(offsets[i]!.key, at + 4);
    out.writeUInt32LE(offsets[i]!.value, at + 8);
    out.writeBigUInt64LE(e.hwcap ?? 0n, at + 16);
  });
  strTable.copy(out, NEW_HEADER + entries.length * ENTRY);
  return out;
}

const sample = () =>
  synth([
    { flags: 0x0303, soname: 'libcuda.so.1', path: '/usr/lib64/libcuda.so.1' },
    { flags: 0x0a03, soname: 'libcuda.so.1', path: '/usr/lib/aarch64-linux-gnu/libcuda.so.1' },
    { flags: 0x0f03, soname: 'libx.so.1', path: '/usr/lib/riscv/libx.so.1', hwcap: (1n << 62n) | 2n },
  ]);

t.test('arch names and hwcap come from the entry fields', async (t) => {
  const entries = parseLdCache(sample());
  t.same(entries.map((e) => e.arch), ['x86_64', 'aarch64', 'other']);
  t.equal(entries[2]!.hwcap, (1n << 62n) | 2n);
  t.same(findSoname(entries, 'libcuda.so.1', 'aarch64').map((e) => e.path), ['/usr/lib/aarch64-linux-gnu/libcuda.so.1']);
});

t.test('an empty cache (no libraries) is valid', async (t) => {
  t.same(parseLdCache(synth([])), []);
});

t.test('truncation at every header and entry boundary is reported, never read past', async (t) => {
  const whole = sample();
  const cuts = [0, 5, 16, 17, 19, 20, 24, 28, 32, 47, NEW_HEADER, NEW_HEADER + 1, NEW_HEADER + ENTRY, NEW_HEADER + 3 * ENTRY - 1, NEW_HEADER + 3 * ENTRY, whole.length - 1];
  for (const cut of cuts) {
    t.throws(() => parseLdCache(whole.subarray(0, cut)), corrupt, `cut at ${cut}`);
  }
});

t.test('a bad magic is refused', async (t) => {
  const buf = sample();
  buf.write('glibc-ld.so.cache1.0', 0, 'latin1');
  t.throws(() => parseLdCache(buf), { ...corrupt, message: /bad magic/ });
  t.throws(() => parseLdCache(Buffer.from('\x7fELF not a cache at all, just bytes')), { ...corrupt, message: /bad magic/ });
});

t.test('a big-endian or invalid byte-order marker is refused', async (t) => {
  for (const marker of [1, 3, 255]) {
    const buf = sample();
    buf[28] = marker;
    t.throws(() => parseLdCache(buf), { ...corrupt, message: /byte order/ }, `marker ${marker}`);
  }
});

t.test('string offsets past the end, inside the entry table or unterminated are refused', async (t) => {
  const pastEnd = sample();
  pastEnd.writeUInt32LE(pastEnd.length + 100, NEW_HEADER + 4);
  t.throws(() => parseLdCache(pastEnd), { ...corrupt, message: /entry 0: soname offset/ });

  const intoEntries = sample();
  intoEntries.writeUInt32LE(8, NEW_HEADER + ENTRY + 8);
  t.throws(() => parseLdCache(intoEntries), { ...corrupt, message: /entry 1: path offset 8/ });

  const unterminated = sample();
  unterminated[unterminated.length - 1] = 0x41;
  t.throws(() => parseLdCache(unterminated), { ...corrupt, message: /not NUL-terminated/ });
});

t.test('an entry count too large for the file is refused before any allocation', async (t) => {
  for (const count of [9, 0x0aaaaaab, 0xffffffff]) {
    const buf = sample();
    buf.writeUInt32LE(count, 20);
    t.throws(() => parseLdCache(buf), { ...corrupt, message: new RegExp(`${count} entries`) }, `nlibs=${count}`);
  }
});

t.test('a string-table length past the end is refused', async (t) => {
  const buf = sample();
  buf.writeUInt32LE(0xffffffff, 24);
  t.throws(() => parseLdCache(buf), { ...corrupt, message: /string table/ });
});

t.test('a legacy table that is truncated, oversized or not followed by a new table is refused', async (t) => {
  const legacyHeader = (count: number) => {
    const b = Buffer.alloc(16);
    b.write('ld.so-1.7.0', 0, 'latin1');
    b.writeUInt32LE(count, 12);
    return b;
  };
  t.throws(() => parseLdCache(legacyHeader(0).subarray(0, 14)), { ...corrupt, message: /truncated legacy header/ });
  t.throws(() => parseLdCache(legacyHeader(0xffffffff)), { ...corrupt, message: /legacy table of 4294967295 entries/ });
  const legacyOnly = Buffer.concat([legacyHeader(1), Buffer.alloc(12)]);
  t.throws(() => parseLdCache(legacyOnly), { ...corrupt, message: /legacy-only/ });
  // A correct compat layout: 16 + 12 = 28 bytes, new table at the next 8-byte boundary (32).
  const compat = Buffer.concat([legacyHeader(1), Buffer.alloc(12), Buffer.alloc(4), sample()]);
  const fixedStrings = sample();
  t.same(parseLdCache(compat), parseLdCache(fixedStrings), 'string offsets count from the new header');
});

t.test('random damage never escapes as anything but LDCACHE_CORRUPT', async (t) => {
  const base = sample();
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < 500; i++) {
    const buf = Buffer.from(base);
    for (let k = 0; k < 4; k++) buf[20 + (rand() % (buf.length - 20))] = rand() & 0xff;
    try {
      parseLdCache(buf.subarray(0, rand() % (buf.length + 1)));
      parsed++;
    } catch (err) {
      if ((err as { code?: string }).code !== ErrorCode.LDCACHE_CORRUPT) throw err;
      refused++;
    }
  }
  t.equal(parsed + refused, 500);
  t.ok(refused > 0, 'some damage was detected');
});
