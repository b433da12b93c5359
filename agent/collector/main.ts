import { parseArgs } from 'node:util';
import { AccelError, ErrorCode, describeError } from '../errors.js';
import { LOG_LEVELS, createLogger, type LogLevel } from '../log.js';
import { Collector } from './server.js';

const USAGE = `usage: accel-collector --listen HOST:PORT --data-dir DIR --token-file FILE
                       [--tls-cert PEM --tls-key PEM] [--max-frame-bytes N] [--log-level LEVEL]

Receives telemetry from accel-agent nodes over WebSocket (/v1/telemetry), stores it
durably under DIR, and serves /metrics (Prometheus) and /api/v1/{agents,series}.`;

export interface CollectorArgs {
  host: string;
  port: number;
  dataDir: string;
  tokenFile: string;
  tlsCert?: string;
  tlsKey?: string;
  maxFrameBytes?: number;
  logLevel: LogLevel;
}

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new AccelError(ErrorCode.USAGE, `--listen must be HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function parseCollectorArgs(argv: readonly string[]): CollectorArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string' },
        'data-dir': { type: 'string' },
        'token-file': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'max-frame-bytes': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new AccelError(ErrorCode.USAGE, (err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  for (const required of ['listen', 'data-dir', 'token-file'] as const) {
    if (!v[required]) throw new AccelError(ErrorCode.USAGE, `--${required} is required`);
  }
  if ((v['tls-cert'] === undefined) !== (v['tls-key'] === undefined)) throw new AccelError(ErrorCode.USAGE, '--tls-cert and --tls-key go together');
  const logLevel = (v['log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new AccelError(ErrorCode.USAGE, `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  let maxFrameBytes: number | undefined;
  if (v['max-frame-bytes'] !== undefined) {
    maxFrameBytes = Number(v['max-frame-bytes']);
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 4096) throw new AccelError(ErrorCode.USAGE, '--max-frame-bytes must be an integer >= 4096');
  }
  const { host, port } = parseListen(v.listen!);
  return { host, port, dataDir: v['data-dir']!, tokenFile: v['token-file']!, tlsCert: v['tls-cert'], tlsKey: v['tls-key'], maxFrameBytes, logLevel };
}

export interface MainIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: MainIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * Runs the collector until SIGINT or SIGTERM. Resolves with the exit code;
 * `onListening` receives the collector (tests use it to learn the port).
 */
export async function main(argv: readonly string[], onListening?: (c: Collector) => void, io: MainIo = processIo): Promise<number> {
  let args: CollectorArgs | 'help';
  try {
    args = parseCollectorArgs(argv);
  } catch (err) {
    io.err(`accel-collector: ${describeError(err)}\n${USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    io.out(USAGE + '\n');
    return 0;
  }
  const log = createLogger(args.logLevel).child({ component: 'accel-collector' });
  let collector: Collector;
  try {
    collector = await Collector.start({ ...args, logger: log });
  } catch (err) {
    log.fatal({ err: describeError(err) }, 'collector failed to start');
    return 1;
  }
  onListening?.(collector);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await collector.close();
  return 0;
}
