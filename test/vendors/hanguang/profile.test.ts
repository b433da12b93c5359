import t from 'tap';
import { ErrorCode } from '../../../agent/errors.js';
import { DEFAULT_NPU_PROFILE, validateNpuProfile } from '../../../agent/vendors/hanguang/profile.js';

t.test('the default profile is valid and carries the known facts', async (t) => {
  const p = validateNpuProfile(DEFAULT_NPU_PROFILE);
  t.same(p.pciVendorIds, ['0x1ded']);
  t.same(p.pciClasses, ['0x1200']);
  t.same(p.pciDeviceIds, [], 'any device id: the real one is not public');
  t.equal(p.resourceName, 'aliyun.com/npu');
  t.equal(p.cdiKind, 'aliyun.com/npu');
  t.equal(p.modelName, 'Hanguang 800');
  t.equal(p.memoryMiB, null);
  t.same(p.libraryGlobs, ['libhgrt.so*']);
  t.same(p.controlNodes, [], 'no node names are assumed');
});

t.test('missing input gives a copy of the default that callers may change freely', async (t) => {
  const p = validateNpuProfile(undefined);
  p.pciVendorIds.push('0x1234');
  t.same(DEFAULT_NPU_PROFILE.pciVendorIds, ['0x1ded']);
  t.same(validateNpuProfile(null), DEFAULT_NPU_PROFILE);
});

t.test('keys left out keep their defaults, given keys replace them', async (t) => {
  const p = validateNpuProfile({ pciDeviceIds: ['0x8000'], deviceNodePattern: '^hgnpu\\d+$', memoryMiB: 16384, resourceName: 'example.com/npu' });
  t.same(p.pciDeviceIds, ['0x8000']);
  t.equal(p.deviceNodePattern, '^hgnpu\\d+$');
  t.equal(p.memoryMiB, 16384);
  t.equal(p.resourceName, 'example.com/npu');
  t.same(p.pciVendorIds, ['0x1ded']);
});

t.test('every bad value is refused with the key named', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ pciVendorIds: ['1ded'] }, 'npu.pciVendorIds'],
    [{ pciVendorIds: [] }, 'npu.pciVendorIds'],
    [{ pciClasses: ['0x12000'] }, 'npu.pciClasses'],
    [{ pciClasses: 'x' }, 'npu.pciClasses'],
    [{ pciDeviceIds: [7] }, 'npu.pciDeviceIds'],
    [{ deviceNodePattern: '([' }, 'npu.deviceNodePattern'],
    [{ ueventSearchDepth: 0 }, 'npu.ueventSearchDepth'],
    [{ ueventSearchDepth: 50 }, 'npu.ueventSearchDepth'],
    [{ controlNodes: ['/etc/passwd'] }, 'npu.controlNodes'],
    [{ controlNodes: ['/dev/../etc/passwd'] }, 'npu.controlNodes'],
    [{ libraryDirs: ['relative/lib'] }, 'npu.libraryDirs'],
    [{ libraryGlobs: ['../lib*.so'] }, 'npu.libraryGlobs'],
    [{ binaries: [''] }, 'npu.binaries'],
    [{ extraFiles: [null] }, 'npu.extraFiles'],
    [{ resourceName: 'npu' }, 'npu.resourceName'],
    [{ cdiKind: 'aliyun.com' }, 'npu.cdiKind'],
    [{ visibleDevicesEnv: 'A-B' }, 'npu.visibleDevicesEnv'],
    [{ modelName: '' }, 'npu.modelName'],
    [{ memoryMiB: -1 }, 'npu.memoryMiB'],
    [{ memoryMiB: '16G' }, 'npu.memoryMiB'],
    [{ labelPrefix: 'Bad Prefix' }, 'npu.labelPrefix'],
    [{ name: 3 }, 'npu.name'],
    [{ pciVendorIDs: ['0x1ded'] }, 'npu.pciVendorIDs'],
  ];
  for (const [raw, key] of cases) {
    t.throws(() => validateNpuProfile(raw), { code: ErrorCode.CONFIG_INVALID, message: new RegExp(`^${key.replace('.', '\\.')}: `) }, JSON.stringify(raw));
  }
  t.throws(() => validateNpuProfile(['a']), { code: ErrorCode.CONFIG_INVALID, message: /^npu: expected a mapping/ });
  t.throws(() => validateNpuProfile('x', 'profiles.npu'), { message: /^profiles\.npu: / }, 'caller chooses the key path');
});

t.test('an unknown key lists the known ones', async (t) => {
  t.throws(() => validateNpuProfile({ devNodes: ['/dev/x'] }), { message: /unknown key; known keys: name, pciVendorIds/ });
});
