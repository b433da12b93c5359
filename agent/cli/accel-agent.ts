import { loadConfig, configFlagHelp, configFlagOptions } from '../config/load.js';
import { npuProfile, nvidiaOptions } from '../config/options.js';
import type { AgentConfig } from '../config/schema.js';
import { createLogger, type LogLevel, type Logger } from '../log.js';
import { packageVersion } from '../package-root.js';
import { parseCommandArgs, processIO, runCommand, usage, type CliIO } from './io.js';

const PROGRAM = 'accel-agent';

export const HELP = `Usage: ${PROGRAM} <command> [options]

Host agent for Kubernetes accelerator nodes (NVIDIA GPUs/vGPUs, Hanguang NPUs).

Commands:
  run                         the daemon: discover, serve the local API, keep devices current
  discover [-o table|json]    print the device inventory and exit
  cdi generate [--output DIR] write CDI specs for the devices found and exit
  simhost create --profile NAME DIR [--force] [--count N]
                              build a simulated host tree (no hardware needed)
  simhost profiles            list simulated host profiles
  demo [--profile NAME] [--keep]
                              run the agent on a simulated host and show what it does
  version                     print the version

Common options:
  --config FILE               YAML configuration (version: 1); flags and ACCEL_AGENT_* win over it
  -h, --help                  this help
${configFlagHelp().join('\n')}
`;

interface Context {
  io: CliIO;
  config: AgentConfig;
  log: Logger;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

type Handler = (ctx: Context) => Promise<number>;

/** Options each command accepts besides the configuration flags. */
const COMMAND_OPTIONS = {
  discover: { output: { type: 'string', short: 'o' } },
  'cdi generate': { output: { type: 'string' } },
  'simhost create': { profile: { type: 'string' }, force: { type: 'boolean' }, count: { type: 'string' } },
  'simhost profiles': {},
  run: {},
  demo: { keep: { type: 'boolean' }, profile: { type: 'string' } },
} as const;

type CommandName = keyof typeof COMMAND_OPTIONS;

const handlers: Record<CommandName, Handler> = {
  async discover({ io, config, log, values }) {
    const output = values['output'] ?? 'table';
    if (output !== 'table' && output !== 'json') throw usage(`discover: -o must be table or json, got ${String(output)}`);
    const { runDiscover } = await import('../discovery/command.js');
    io.stdout(await runDiscover({ hostRoot: config.hostRoot, nvidia: nvidiaOptions(config), npu: npuProfile(config), output, log }));
    return 0;
  },

  async 'cdi generate'({ io, config, log, values }) {
    const { generateCdiForConfig } = await import('../inject/cdi-from-config.js');
    const result = await generateCdiForConfig(config, log, {
      outputDir: typeof values['output'] === 'string' ? values['output'] : config.cdiDir,
      print: (line) => io.stdout(line + '\n'),
    });
    return result.vendors.some((v) => v.error !== null) ? 1 : 0;
  },

  async 'simhost create'({ io, log, values, positionals }) {
    const { simhostCreate, formatSummary } = await import('../simhost/command.js');
    if (typeof values['profile'] !== 'string') throw usage('simhost create: --profile NAME is required');
    if (positionals.length !== 1) throw usage('simhost create: exactly one target directory is required');
    let count: number | undefined;
    if (values['count'] !== undefined) {
      count = Number(values['count']);
      if (!Number.isInteger(count) || count < 0) throw usage(`simhost create: --count must be a whole number, got ${String(values['count'])}`);
    }
    const summary = await simhostCreate({
      profile: values['profile'],
      dir: positionals[0]!,
      force: values['force'] === true,
      log,
      ...(count === undefined ? {} : { count }),
    });
    io.stdout(formatSummary(summary));
    return 0;
  },

  async 'simhost profiles'({ io }) {
    const { listProfiles, formatProfiles } = await import('../simhost/command.js');
    io.stdout(formatProfiles(listProfiles()));
    return 0;
  },

  async run({ config, log }) {
    const { runDaemon } = await import('../daemon/run.js');
    return runDaemon(config, log);
  },

  async demo({ io, log, values }) {
    const { runDemo } = await import('../demo/demo.js');
    // The demo's own narration is the output; daemon logs only matter when asked for.
    if (values['log-level'] === undefined && io.env['ACCEL_AGENT_LOG_LEVEL'] === undefined) log = createLogger('error');
    return runDemo({ io, log, keep: values['keep'] === true, ...(typeof values['profile'] === 'string' ? { profile: values['profile'] } : {}) });
  },
};

function commandOf(argv: string[]): { name: CommandName; rest: string[] } | null {
  const [first, second] = argv;
  const two = `${first} ${second}`;
  if (two in COMMAND_OPTIONS) return { name: two as CommandName, rest: argv.slice(2) };
  if (first !== undefined && first in COMMAND_OPTIONS) return { name: first as CommandName, rest: argv.slice(1) };
  return null;
}

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  return runCommand(PROGRAM, io, async () => {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      io.stdout(HELP);
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] === 'version' || argv[0] === '--version') {
      io.stdout(`${PROGRAM} ${packageVersion()}\n`);
      return 0;
    }
    const cmd = commandOf(argv);
    if (!cmd) throw usage(`unknown command: ${argv.slice(0, 2).join(' ')}`);
    if (cmd.rest.includes('--help') || cmd.rest.includes('-h')) {
      io.stdout(HELP);
      return 0;
    }
    const parsed = parseCommandArgs(
      `${PROGRAM} ${cmd.name}`,
      cmd.rest,
      { ...configFlagOptions(), config: { type: 'string' }, ...COMMAND_OPTIONS[cmd.name] },
      cmd.name === 'simhost create',
    );
    const values = parsed.values as Context['values'];
    const positionals = parsed.positionals;
    const config = await loadConfig({
      configPath: typeof values['config'] === 'string' ? values['config'] : io.env['ACCEL_AGENT_CONFIG'],
      env: io.env,
      flags: values,
    });
    const log = createLogger(config.logLevel as LogLevel);
    return handlers[cmd.name]({ io, config, log, values, positionals });
  });
}
