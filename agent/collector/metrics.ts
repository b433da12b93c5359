import { Gauge, Registry } from 'prom-client';
import type { AgentState } from './store.js';

/**
 * Fleet-wide Prometheus exposition of the latest value of every series, with
 * the metric names and labels dashboards built for dcgm-exporter already use
 * (`DCGM_FI_DEV_GPU_UTIL{gpu,UUID,Hostname,...}`). Labels come from the
 * agent's device description records; `Hostname` defaults to the agent id.
 * A fresh registry per scrape keeps no state beyond the store's.
 */

export const DEVICE_LABELS = ['Hostname', 'gpu', 'UUID', 'pci_bus_id', 'device', 'modelName', 'pod', 'namespace', 'container'] as const;
type DeviceLabel = (typeof DEVICE_LABELS)[number];

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A metric key as a valid Prometheus name (invalid characters become '_'). */
export function metricName(key: string): string {
  if (NAME_RE.test(key)) return key;
  const cleaned = key.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

export interface FleetStats {
  connections: number;
}

export interface ExpositionOptions {
  /** Series whose newest sample is older than this (by sample time) are left out; 0 keeps everything. */
  staleAfterMs: number;
  now: number;
}

export async function renderMetrics(agents: readonly AgentState[], fleet: FleetStats, opts: ExpositionOptions): Promise<{ contentType: string; body: string }> {
  const registry = new Registry();
  const gauges = new Map<string, Gauge<DeviceLabel>>();
  const gauge = (name: string) => {
    let g = gauges.get(name);
    if (!g) {
      g = new Gauge({ name, help: `Latest ${name} reported by accel-agent`, labelNames: [...DEVICE_LABELS], registers: [registry] });
      gauges.set(name, g);
    }
    return g;
  };

  let records = 0;
  let duplicates = 0;
  let lost = 0;
  for (const agent of agents) {
    for (const s of agent.streams.values()) {
      records += s.stored.size;
      duplicates += s.duplicates;
      lost += s.covered.size - s.stored.size;
    }
    for (const dev of agent.devices.values()) {
      const labels: Record<DeviceLabel, string> = {
        Hostname: dev.labels.Hostname ?? agent.agentId,
        gpu: dev.labels.gpu ?? '',
        UUID: dev.labels.UUID ?? '',
        pci_bus_id: dev.labels.pci_bus_id ?? '',
        device: dev.labels.device ?? dev.deviceId,
        modelName: dev.labels.modelName ?? '',
        pod: dev.labels.pod ?? '',
        namespace: dev.labels.namespace ?? '',
        container: dev.labels.container ?? '',
      };
      for (const [key, latest] of dev.latest) {
        if (opts.staleAfterMs > 0 && opts.now - latest.ts > opts.staleAfterMs) continue;
        gauge(metricName(key)).set(labels, latest.value);
      }
    }
  }

  const self = (name: string, help: string, value: number) => {
    new Gauge({ name, help, registers: [registry] }).set(value);
  };
  self('accel_collector_agents', 'Agents the collector holds data for', agents.length);
  self('accel_collector_connections', 'Open agent connections', fleet.connections);
  self('accel_collector_records_stored', 'Records durably stored, all agents and epochs', records);
  self('accel_collector_duplicate_records', 'Records received again and dropped as duplicates since start', duplicates);
  self('accel_collector_lost_sequences', 'Sequence numbers agents reported lost (gap records) or settled without a record', lost);
  return { contentType: registry.contentType, body: await registry.metrics() };
}
