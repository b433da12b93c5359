import { createServer, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { AccelError, ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { Service } from '../daemon/service.js';
import type { Sample } from './types.js';

export interface DeviceSeries {
  labels: Record<string, string>;
  metrics: Record<string, number>;
}

/** The labels of a device gauge, in dcgm-exporter's spelling plus the agent's own. */
export const SERIES_LABELS = ['gpu', 'UUID', 'pci_bus_id', 'device', 'modelName', 'Hostname', 'vendor', 'kind', 'pod', 'namespace', 'container'] as const;

/**
 * The node's own Prometheus endpoint: the latest reading of every device
 * under dcgm-exporter's metric names, plus the agent's health gauges. A scrape
 * builds its exposition from the last tick, so a slow scraper never costs a
 * sample and a removed device disappears at once.
 */
export class NodeMetrics {
  private latest = new Map<string, DeviceSeries>();
  private readonly extra = new Map<string, () => number>([
    ['accel_agent_resident_memory_bytes', () => process.memoryUsage.rss()],
    ['accel_agent_heap_used_bytes', () => process.memoryUsage().heapUsed],
  ]);

  /** Replaces what /metrics shows with one tick's samples; `labelsOf` gives each device's labels. */
  update(samples: readonly Sample[], labelsOf: (deviceId: string) => Record<string, string> | undefined): void {
    const next = new Map<string, DeviceSeries>();
    for (const s of samples) {
      const labels = labelsOf(s.deviceId);
      if (labels) next.set(s.deviceId, { labels, metrics: s.metrics });
    }
    this.latest = next;
  }

  /** An agent-level gauge read at scrape time (spool size, devices, ...). */
  gauge(name: string, read: () => number): void {
    this.extra.set(name, read);
  }

  async render(): Promise<string> {
    const registry = new Registry();
    const gauges = new Map<string, Gauge<string>>();
    for (const series of this.latest.values()) {
      for (const [name, value] of Object.entries(series.metrics)) {
        let g = gauges.get(name);
        if (!g) {
          g = new Gauge({ name, help: `${name} as last sampled by accel-agent`, labelNames: [...SERIES_LABELS], registers: [registry] });
          gauges.set(name, g);
        }
        g.set(pick(series.labels), value);
      }
    }
    for (const [name, read] of this.extra) {
      new Gauge({ name, help: `${name} (accel-agent)`, registers: [registry] }).set(read());
    }
    return registry.metrics();
  }
}

function pick(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of SERIES_LABELS) out[k] = labels[k] ?? '';
  return out;
}

/** Parses `host:port` (IPv6 in brackets); the port is required so nothing listens by surprise. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new AccelError(ErrorCode.CONFIG_INVALID, `metrics listen address ${JSON.stringify(listen)}: expected host:port`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Serves NodeMetrics at GET /metrics. */
export class MetricsServer implements Service {
  readonly name = 'metrics';
  private server: Server | undefined;
  address: { host: string; port: number } | undefined;

  constructor(
    private readonly metrics: NodeMetrics,
    private readonly listen: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { host, port } = parseListen(this.listen);
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.metrics.render().then(
        (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body),
        (err: unknown) => {
          this.log.error({ err }, 'rendering /metrics failed');
          res.writeHead(500).end();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const addr = server.address();
    this.address = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port };
    this.log.info({ listen: this.address }, 'serving /metrics');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
