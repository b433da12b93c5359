import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AccelError, ErrorCode, describeError, isAccelError } from '../errors.js';

/** Where a command writes; tests pass buffers, the binaries pass the process streams. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
}

export const processIO: CliIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  env: process.env,
};

/** util.parseArgs with its errors turned into usage errors that name the command. */
export function parseCommandArgs<T extends ParseArgsConfig['options']>(command: string, args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new AccelError(ErrorCode.USAGE, `${command}: ${(err as Error).message}`, { cause: err });
  }
}

export function usage(message: string): AccelError {
  return new AccelError(ErrorCode.USAGE, message);
}

/**
 * Runs a command body and turns failures into exit codes: 2 for usage
 * errors, 1 for everything else, with one clear line on stderr.
 */
export async function runCommand(program: string, io: CliIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (isAccelError(err, ErrorCode.USAGE)) {
      io.stderr(`${program}: ${err.message}\nTry '${program} --help'.\n`);
      return 2;
    }
    // describeError already appends each error's code.
    io.stderr(`${program}: ${describeError(err)}\n`);
    return 1;
  }
}
