import { AccelError, ErrorCode } from '../../errors.js';

export interface NvidiaKernelModule {
  /** Driver version, e.g. `470.82.01`. */
  version: string;
  /** True for the open GPU kernel modules ("Open Kernel Module"). */
  open: boolean;
}

/**
 * Parses /proc/driver/nvidia/version, whose first line looks like
 *   NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Wed Oct 27 21:21:55 UTC 2021
 *   NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  535.104.05  Release Build  (...)
 * The version is the first dotted-number word after the `NVRM version:` label.
 */
export function parseNvidiaVersionFile(text: string): NvidiaKernelModule {
  const line = text.split('\n').find((l) => l.startsWith('NVRM version:'));
  if (line === undefined) throw bad('no "NVRM version:" line');
  const words = line.slice('NVRM version:'.length).trim().split(/\s+/);
  const version = words.find((w) => /^\d{2,4}\.\d{1,3}(?:\.\d{1,3})?$/.test(w));
  if (version === undefined) throw bad(`no version number in ${JSON.stringify(line.slice(0, 100))}`);
  return { version, open: /\bOpen Kernel Module\b/.test(line) };
}

function bad(reason: string): AccelError {
  return new AccelError(ErrorCode.HOST_PARSE, `/proc/driver/nvidia/version: ${reason}`);
}
