import t from 'tap';
import { AccelError, ErrorCode } from '../../agent/errors.js';
import { plainReason } from '../../agent/discovery/reason.js';

t.test('the cause chain is joined once, without error codes', async (t) => {
  const inner = new Error('ENOENT: no such file');
  const outer = new AccelError(ErrorCode.HOST_READ, 'cannot read /sys/x', { cause: inner });
  t.equal(plainReason(outer), 'cannot read /sys/x: ENOENT: no such file');
});

t.test('a cause the outer message already quotes is not repeated', async (t) => {
  const inner = new Error('nvmlInit_v2 failed: Driver Not Loaded');
  const outer = new AccelError(ErrorCode.NVML_UNAVAILABLE, `NVML is unavailable: ${inner.message}`, { cause: inner });
  t.equal(plainReason(outer), 'NVML is unavailable: nvmlInit_v2 failed: Driver Not Loaded');
});

t.test('non-errors, empty messages and cause cycles are handled', async (t) => {
  t.equal(plainReason('just text'), 'just text');
  t.equal(plainReason(new Error('')), 'unknown error');
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b;
  t.equal(plainReason(b), 'b: a', 'a cycle ends');
});
