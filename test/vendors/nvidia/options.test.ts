import t from 'tap';
import { ErrorCode } from '../../../agent/errors.js';
import { DEFAULT_NVIDIA_OPTIONS, resolveNvidiaOptions } from '../../../agent/vendors/nvidia/options.js';

t.test('defaults: every source in order, smi at /usr/bin with a 5 s timeout', async (t) => {
  t.same(resolveNvidiaOptions(), {
    enabled: true,
    nvmlLibraryPath: null,
    smiPath: '/usr/bin/nvidia-smi',
    smiTimeoutMs: 5000,
    sources: ['nvml', 'nvidia-smi', 'procfs', 'sysfs'],
  });
  const a = resolveNvidiaOptions();
  a.sources.pop();
  t.equal(DEFAULT_NVIDIA_OPTIONS.sources.length, 4, 'callers get their own copy');
});

t.test('given values replace defaults', async (t) => {
  const o = resolveNvidiaOptions({ smiTimeoutMs: 200, sources: ['procfs'], nvmlLibraryPath: '/usr/lib64/libnvidia-ml.so.1' });
  t.equal(o.smiTimeoutMs, 200);
  t.same(o.sources, ['procfs']);
  t.equal(o.nvmlLibraryPath, '/usr/lib64/libnvidia-ml.so.1');
});

t.test('bad values are refused with the key named', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ enabled: 'yes' }, /^nvidia\.enabled:/],
    [{ nvmlLibraryPath: 'lib/libnvidia-ml.so.1' }, /^nvidia\.nvmlLibraryPath:/],
    [{ smiPath: 'nvidia-smi' }, /^nvidia\.smiPath:/],
    [{ smiTimeoutMs: 0 }, /^nvidia\.smiTimeoutMs:/],
    [{ smiTimeoutMs: 1.5 }, /^nvidia\.smiTimeoutMs:/],
    [{ sources: ['nvml', 'dcgm'] }, /^nvidia\.sources: unknown source "dcgm"/],
    [{ sources: ['nvml', 'nvml'] }, /^nvidia\.sources: nvml listed twice/],
    [{ sources: 'nvml' }, /^nvidia\.sources:/],
  ];
  for (const [raw, message] of cases) t.throws(() => resolveNvidiaOptions(raw as never), { code: ErrorCode.CONFIG_INVALID, message }, JSON.stringify(raw));
});
