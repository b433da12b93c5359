/**
 * Just enough of runc's command line to find the command and the bundle.
 *
 * runc parses flags the Go way: `-x` and `--x` are the same flag, a value
 * comes as `--x=v` or as the next word, `--` ends the flags, and a command's
 * flags may also follow its positional arguments. The wrapper never rewrites
 * the arguments; it only needs to know which command runs and where the
 * bundle is, so unknown flags are assumed to be booleans (runc's newer
 * global flags are) and runc itself stays the judge of what is valid.
 */

/** Global flags that take a value (runc 1.1). */
const GLOBAL_VALUE_FLAGS = new Set(['log', 'log-format', 'root', 'criu', 'rootless']);
/** `create` and `run` flags that take a value. */
const COMMAND_VALUE_FLAGS = new Set(['bundle', 'b', 'console-socket', 'pid-file', 'preserve-fds']);
const HELP_FLAGS = new Set(['help', 'h', 'version', 'v']);

export type LogFormat = 'text' | 'json';

export interface RuncArgs {
  /** The command word (`create`, `run`, `kill`, ...), or null when there is none. */
  command: string | null;
  /** The bundle directory as given (`--bundle`/`-b`), or null for the default (the working directory). */
  bundle: string | null;
  /** runc's `--log` file, if any. */
  log: string | null;
  logFormat: LogFormat;
  /** `--preserve-fds N`: extra descriptors (after fd 2 and $LISTEN_FDS) runc hands to the container. */
  preserveFds: number;
  /** `--help`/`--version` anywhere: runc only prints something. */
  help: boolean;
  /** Set when the words could not be understood (a value flag at the end, say); runc will complain itself. */
  problem: string | null;
}

interface Flag {
  name: string;
  value: string | null;
}

function asFlag(word: string): Flag | null {
  if (word.length < 2 || !word.startsWith('-') || word === '--') return null;
  const body = word.startsWith('--') ? word.slice(2) : word.slice(1);
  if (body === '' || body.startsWith('-')) return null;
  const eq = body.indexOf('=');
  return eq < 0 ? { name: body, value: null } : { name: body.slice(0, eq), value: body.slice(eq + 1) };
}

/** Reads runc's argv (without the program name). */
export function parseRuncArgs(argv: readonly string[]): RuncArgs {
  const out: RuncArgs = {
    command: null,
    bundle: null,
    log: null,
    logFormat: 'text',
    preserveFds: 0,
    help: false,
    problem: null,
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      i++;
      break;
    }
    const flag = asFlag(word);
    if (flag === null) break;
    if (HELP_FLAGS.has(flag.name)) out.help = true;
    if (!GLOBAL_VALUE_FLAGS.has(flag.name)) continue;
    let value = flag.value;
    if (value === null) {
      if (i + 1 >= argv.length) {
        out.problem = `flag --${flag.name} needs a value`;
        return out;
      }
      value = argv[++i]!;
    }
    if (flag.name === 'log') out.log = value;
    else if (flag.name === 'log-format') out.logFormat = value === 'json' ? 'json' : 'text';
  }
  if (i >= argv.length) return out;
  out.command = argv[i]!;
  for (i++; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') break;
    const flag = asFlag(word);
    if (flag === null) continue;
    if (HELP_FLAGS.has(flag.name)) out.help = true;
    if (!COMMAND_VALUE_FLAGS.has(flag.name)) continue;
    let value = flag.value;
    if (value === null) {
      if (i + 1 >= argv.length) {
        out.problem = `flag --${flag.name} needs a value`;
        return out;
      }
      value = argv[++i]!;
    }
    if (flag.name === 'bundle' || flag.name === 'b') out.bundle = value;
    else if (flag.name === 'preserve-fds' && /^\d{1,4}$/.test(value)) out.preserveFds = Number(value);
  }
  return out;
}

/** True when this invocation creates a container from a bundle, so its config.json is to be edited. */
export function editsBundle(args: RuncArgs): boolean {
  return (args.command === 'create' || args.command === 'run') && !args.help && args.problem === null;
}
