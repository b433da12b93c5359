import t from 'tap';
import { ErrorCode } from '../../../agent/errors.js';
import { parseNvidiaVersionFile } from '../../../agent/vendors/nvidia/version-parse.js';

t.test('the proprietary module line gives the driver version', async (t) => {
  const text =
    'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Wed Oct 27 21:21:55 UTC 2021\n' +
    'GCC version:  gcc version 9.3.0 (Ubuntu 9.3.0-17ubuntu1~20.04)\n';
  t.same(parseNvidiaVersionFile(text), { version: '470.82.01', open: false });
});

t.test('the open module line on aarch64 gives the version and says open', async (t) => {
  const text =
    'NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  550.54.15  Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Mar  5 22:09:54 UTC 2024\n' +
    'GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n';
  t.same(parseNvidiaVersionFile(text), { version: '550.54.15', open: true });
});

t.test('two-part versions of old drivers are accepted', async (t) => {
  t.equal(parseNvidiaVersionFile('NVRM version: NVIDIA UNIX x86_64 Kernel Module  390.144  Wed Jun  2 21:28:21 UTC 2021\n').version, '390.144');
});

t.test('garbage, truncation and missing versions are refused', async (t) => {
  for (const bad of ['', 'garbage\n', 'GCC version:  gcc version 9.3.0\n', 'NVRM version: NVIDIA UNIX x86_64 Kernel Module', 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.', '\0\0\0\0']) {
    t.throws(() => parseNvidiaVersionFile(bad), { code: ErrorCode.HOST_PARSE, message: /\/proc\/driver\/nvidia\/version/ }, JSON.stringify(bad));
  }
});
