import t from 'tap';
import { AccelError, ErrorCode } from '../../../agent/errors.js';
import { NvmlReturn, nvmlCodeOf, nvmlError, nvmlReturnName } from '../../../agent/vendors/nvidia/nvml-codes.js';

function addonError(message: string, nvmlCode: number, nvmlFunction: string): Error {
  return Object.assign(new Error(message), { nvmlCode, nvmlFunction });
}

t.test('NVML codes have their NVML names; unknown codes are not mislabelled', async (t) => {
  t.equal(nvmlReturnName(NvmlReturn.GPU_IS_LOST), 'GPU_IS_LOST');
  t.equal(nvmlReturnName(9), 'DRIVER_NOT_LOADED');
  t.equal(nvmlReturnName(999), 'UNKNOWN');
  t.equal(nvmlReturnName(4242), 'CODE_4242');
});

t.test('init failures become NVML_UNAVAILABLE, call failures NVML_CALL, with the NVML code kept', async (t) => {
  const raw = addonError('nvmlInit_v2 failed: Driver Not Loaded', 9, 'nvmlInit_v2');
  const init = nvmlError(raw, 'init', { libraryPath: '/x/libnvidia-ml.so.1' });
  t.equal(init.code, ErrorCode.NVML_UNAVAILABLE);
  t.equal(init.cause, raw);
  t.same(init.details, { libraryPath: '/x/libnvidia-ml.so.1', nvmlCode: 9, nvmlError: 'DRIVER_NOT_LOADED', nvmlFunction: 'nvmlInit_v2' });
  t.match(init.message, /Driver Not Loaded/);
  t.equal(nvmlCodeOf(init), 9);

  const call = nvmlError(addonError('nvmlDeviceGetCount_v2 failed: GPU is lost', 15, 'nvmlDeviceGetCount_v2'), 'call');
  t.equal(call.code, ErrorCode.NVML_CALL);
  t.equal(nvmlCodeOf(call), NvmlReturn.GPU_IS_LOST);
});

t.test('errors without NVML fields (or not errors at all) map without inventing a code', async (t) => {
  const typeError = nvmlError(new TypeError('bad session'), 'call');
  t.equal(typeError.code, ErrorCode.NVML_CALL);
  t.equal(nvmlCodeOf(typeError), undefined);
  const half = nvmlError(Object.assign(new Error('x'), { nvmlCode: '9' }), 'init');
  t.equal(nvmlCodeOf(half), undefined, 'a string code is not trusted');
  t.match(nvmlError('plain string', 'init').message, /plain string/);
  t.equal(nvmlCodeOf(new Error('no')), undefined);
  t.equal(nvmlCodeOf(new AccelError(ErrorCode.NVML_CALL, 'x', { details: { nvmlCode: 'x' } })), undefined);
});
