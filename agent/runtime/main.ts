import path from 'node:path';
import { describeError } from '../errors.js';
import { findRunc } from './find-runc.js';
import { refreshLauncherCache } from './launcher-cache.js';
import { loadRuntimeOptions } from './load-runtime-options.js';
import { prepareBundle } from './prepare-bundle.js';
import { editsBundle, parseRuncArgs } from './runtime-args.js';
import { logToRuncFile, reportError } from './runtime-log.js';
import { runRunc } from './spawn-runc.js';

/**
 * accel-runtime: a runc-compatible wrapper. For `create` and `run` it injects
 * the CDI devices the bundle's config.json asks for, then runs the real runc
 * with the original arguments; every other command goes to runc untouched.
 * When anything is wrong it says so in runc's log style and exits 1 without
 * starting runc, leaving config.json as it was.
 */

/** Set in runc's environment so a wrapper that finds itself as "runc" stops instead of looping. */
export const ACTIVE_MARKER = 'ACCEL_RUNTIME_ACTIVE';
/** The native launcher names itself here when it hands over to this program. */
export const LAUNCHER_ENV = 'ACCEL_RUNTIME_LAUNCHER';

export interface MainOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Files that are this wrapper; defaults to the running script and the launcher that started it. */
  self?: string[];
}

export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const args = parseRuncArgs(argv);
  const log = { format: args.logFormat, file: args.log };
  try {
    if (env[ACTIVE_MARKER] !== undefined) {
      throw new Error('accel-runtime was started by itself: its runc setting points back at the wrapper');
    }
    const runtimeOptions = await loadRuntimeOptions(env);
    const self = options.self ?? [process.argv[1], env[LAUNCHER_ENV]].filter((p): p is string => !!p);
    const runc = await findRunc(runtimeOptions.runc, { pathEnv: env.PATH, self });

    if (editsBundle(args)) {
      const bundle = path.resolve(options.cwd ?? process.cwd(), args.bundle ?? '.');
      const result = await prepareBundle(bundle, runtimeOptions);
      if (result.ignoredEnv.length > 0) {
        logToRuncFile(log, 'info', `accel-runtime: ignored ${result.ignoredEnv.join(', ')} (env selection is off)`);
      }
      if (result.devices.length > 0) logToRuncFile(log, 'info', `accel-runtime: injected ${result.devices.join(', ')}`);
    }

    const listenFds = Number.parseInt(env.LISTEN_FDS ?? '0', 10);
    const extraFds = (Number.isInteger(listenFds) && listenFds > 0 ? listenFds : 0) + args.preserveFds;
    const status = runRunc(runc, argv, { env: { ...env, [ACTIVE_MARKER]: '1' }, extraFds });
    // While runc works: bring the launcher's cache up to date so the next container skips Node. Only
    // create/run refresh it: engines may call other commands with another environment (podman
    // deletes with a bare one), and a cache that followed them would miss every next create.
    const refreshed = editsBundle(args)
      ? refreshLauncherCache({ options: runtimeOptions, runc, env }).catch((err: unknown) => {
          logToRuncFile(log, 'warning', `accel-runtime: launcher cache not refreshed: ${describeError(err)}`);
        })
      : undefined;
    const [code] = await Promise.all([status, refreshed]);
    return code;
  } catch (err) {
    reportError(log, `accel-runtime: ${describeError(err)}`);
    return 1;
  }
}
