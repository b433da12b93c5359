/**
 * accelctl: read the local agent's devices and host facts over its API socket.
 * `main` runs in-process so tests drive it with captured output; the binary
 * only passes the process streams and sets the exit code.
 */
import { AgentClient } from '../api/client.js';
import { DEFAULT_SOCKET_PATH } from '../api/defaults.js';
import { packageVersion } from '../package-root.js';
import { parseCommandArgs, runCommand, usage, type CliIO } from './io.js';
import { OUTPUT_FORMATS, WATCH_TABLE_HEADER, formatDevice, formatDeviceList, formatHostInfo, formatWatchEvent, isOutputFormat, type OutputFormat } from './format.js';

const PROGRAM = 'accelctl';

export interface AccelctlIO extends CliIO {
  /** Ends `watch`; without one, SIGINT and SIGTERM do. */
  signal?: AbortSignal;
}

export const HELP = `Usage: ${PROGRAM} [options] <command>

Commands:
  devices          List the devices the agent knows of
  device <id>      Show one device
  host             Show host facts, driver stacks, labels and the agent version
  watch            Print device changes as they happen, until interrupted

Options:
  -s, --socket <path>   Agent API socket (default: $ACCELCTL_SOCKET, else ${DEFAULT_SOCKET_PATH})
  -o, --output <fmt>    Output format: ${OUTPUT_FORMATS.join(', ')} (default: table)
  -h, --help            Show this help
  -V, --version         Show the version

Exit status: 0 on success, 1 when the agent cannot be reached or the request fails, 2 on a usage error.
`;

const OPTIONS = {
  socket: { type: 'string', short: 's' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

interface Invocation {
  command: 'devices' | 'device' | 'host' | 'watch';
  id: string;
  format: OutputFormat;
  socketPath: string;
}

export async function main(argv: string[], io: AccelctlIO): Promise<number> {
  return runCommand(PROGRAM, io, async () => {
    const { values, positionals } = parseCommandArgs(PROGRAM, argv, OPTIONS, true);
    if (values.help) {
      io.stdout(HELP);
      return 0;
    }
    if (values.version) {
      io.stdout(`${PROGRAM} ${packageVersion()}\n`);
      return 0;
    }
    const inv = interpret(positionals, values.output, values.socket ?? nonEmpty(io.env['ACCELCTL_SOCKET']) ?? DEFAULT_SOCKET_PATH);
    const client = new AgentClient({ socketPath: inv.socketPath });
    try {
      return await run(inv, client, io);
    } finally {
      client.close();
    }
  });
}

function interpret(positionals: string[], output: string | undefined, socketPath: string): Invocation {
  const format = output ?? 'table';
  if (!isOutputFormat(format)) throw usage(`unknown output format ${JSON.stringify(format)}; use one of ${OUTPUT_FORMATS.join(', ')}`);
  if (socketPath === '') throw usage('--socket needs a path');
  const [command, ...rest] = positionals;
  switch (command) {
    case undefined:
      throw usage('a command is required: devices, device <id>, host or watch');
    case 'device':
      if (rest.length !== 1 || rest[0] === '') throw usage('device takes exactly one device id');
      return { command, id: rest[0]!, format, socketPath };
    case 'devices':
    case 'host':
    case 'watch':
      if (rest.length > 0) throw usage(`${command} takes no arguments, got ${JSON.stringify(rest.join(' '))}`);
      return { command, id: '', format, socketPath };
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`);
  }
}

async function run(inv: Invocation, client: AgentClient, io: AccelctlIO): Promise<number> {
  switch (inv.command) {
    case 'devices':
      io.stdout(formatDeviceList(await client.listDevices(), inv.format));
      return 0;
    case 'device':
      io.stdout(formatDevice(await client.getDevice(inv.id), inv.format));
      return 0;
    case 'host':
      io.stdout(formatHostInfo(await client.getHostInfo(), inv.format));
      return 0;
    case 'watch':
      return watch(inv, client, io);
  }
}

async function watch(inv: Invocation, client: AgentClient, io: AccelctlIO): Promise<number> {
  const { signal, release } = io.signal ? { signal: io.signal, release: () => undefined } : interruptSignal();
  try {
    let first = true;
    for await (const event of client.watch({ signal })) {
      if (first && inv.format === 'table') io.stdout(WATCH_TABLE_HEADER);
      first = false;
      io.stdout(formatWatchEvent(event, inv.format));
    }
    if (signal.aborted) return 0;
    io.stderr(`${PROGRAM}: the agent ended the watch (is it shutting down?)\n`);
    return 1;
  } finally {
    release();
  }
}

/** An AbortSignal raised by SIGINT or SIGTERM, with a way to stop listening. */
function interruptSignal(): { signal: AbortSignal; release: () => void } {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
