import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { createVendors } from '../../agent/vendors/index.js';
import { DEFAULT_NPU_PROFILE } from '../../agent/vendors/hanguang/profile.js';

t.test('both vendors by default, each one can be left out', async (t) => {
  t.same(createVendors().map((v) => v.name), ['nvidia', 'hanguang']);
  t.same(createVendors({ nvidia: { enabled: false } }).map((v) => v.name), ['hanguang']);
  t.same(createVendors({ npu: false }).map((v) => v.name), ['nvidia']);
  t.same(createVendors({ nvidia: { enabled: false }, npu: false }), []);
});

t.test('bad vendor options are refused when the vendors are made, not at discovery', async (t) => {
  t.throws(() => createVendors({ nvidia: { smiTimeoutMs: -5 } }), { code: ErrorCode.CONFIG_INVALID, message: /nvidia\.smiTimeoutMs/ });
  t.throws(() => createVendors({ npu: { ...DEFAULT_NPU_PROFILE, resourceName: 'bad' } }), { code: ErrorCode.CONFIG_INVALID, message: /npu\.resourceName/ });
});
