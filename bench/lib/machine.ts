import os from 'node:os';

/** What a figure was measured on; load matters as much as the hardware on a shared machine. */
export interface MachineFacts {
  node: string;
  cpus: number;
  cpuModel: string;
  /** One-minute load average when the figures were taken. */
  loadAverage: number;
}

export function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  return { node: process.version, cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown', loadAverage: os.loadavg()[0] ?? 0 };
}

export function describeMachine(m: MachineFacts): string {
  return `Node ${m.node}, ${m.cpus} CPUs (${m.cpuModel}), load average ${m.loadAverage.toFixed(1)}`;
}
