import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentClient } from '../api/client.js';
import { Collector } from '../collector/server.js';
import type { CliIO } from '../cli/io.js';
import { formatDeviceList } from '../cli/format.js';
import { resolveConfig } from '../config/load.js';
import { AgentDaemon } from '../daemon/agent.js';
import { KubeletSim } from '../kubelet/kubelet-sim.js';
import type { Logger } from '../log.js';
import { simhostCreate } from '../simhost/command.js';
import { appendEvent } from '../simhost/nvml-state.js';

export interface DemoOptions {
  io: CliIO;
  log: Logger;
  /** Simulated host profile; vgn5i (one GRID P4-2Q vGPU) by default. */
  profile?: string;
  /** Leave the temporary directory behind for a look around. */
  keep?: boolean;
}

/**
 * `accel-agent demo`: everything the agent does, on a simulated host in a
 * temporary directory, without any hardware; removes what it made on exit.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const { io } = options;
  const say = (text: string) => io.stdout(text + '\n');
  const work = await mkdtemp(path.join(tmpdir(), 'accel-demo-'));
  const profile = options.profile ?? 'vgn5i';
  let daemon: AgentDaemon | undefined;
  let collector: Collector | undefined;
  let kubelet: KubeletSim | undefined;
  try {
    say(`== 1. a simulated ${profile} host in ${work}/host`);
    const host = await simhostCreate({ profile, dir: path.join(work, 'host'), log: options.log });
    say(`   ${host.description}; ${host.deviceNodes.real} real device nodes, ld.so.cache ${host.ldCache ? 'built by ldconfig' : 'missing'}`);

    const cdiDir = path.join(work, 'cdi');
    await mkdir(cdiDir);
    const tokenFile = path.join(work, 'collector-token');
    await writeFile(tokenFile, randomBytes(24).toString('hex'), { mode: 0o600 });
    await mkdir(path.join(work, 'collector'));
    collector = await Collector.start({ host: '127.0.0.1', port: 0, dataDir: path.join(work, 'collector'), tokenFile, logger: options.log });
    const kubeletDir = path.join(work, 'kubelet');
    await mkdir(kubeletDir);
    kubelet = await KubeletSim.start(kubeletDir);
    const config = resolveConfig({
      file: { name: 'demo', text: 'version: 1\ntelemetry:\n  agentId: demo-node\ndevicePlugin:\n  strategies: [cdi, device-specs]\n' },
      flags: {
        'host-root': host.root,
        socket: path.join(work, 'agent.sock'),
        'cdi-dir': cdiDir,
        'cdi-host-prefix': 'root',
        'state-dir': path.join(work, 'state'),
        'kubelet-dir': kubeletDir,
        'nfd-dir': path.join(work, 'nfd'),
        'health-quiet-period': '2s',
        'collector-url': collector.url,
        'collector-token-file': tokenFile,
        'metrics-listen': '127.0.0.1:0',
        'sample-interval': '500ms',
      },
    });
    say(`\n== 2. the agent starts: discovery, CDI specs, device plugin, local gRPC API, telemetry to a collector at ${collector.url}`);
    daemon = new AgentDaemon(config, options.log);
    await daemon.start();
    await daemon.cdi.settled();

    const client = new AgentClient({ socketPath: config.socket });
    try {
      say(`   accelctl --socket ${config.socket} devices`);
      say(indent(formatDeviceList(await client.listDevices(), 'table')));
      await showInjection(say, cdiDir);
      await showAllocation(say, kubelet);
      const gpu = (await client.listDevices()).devices.find((d) => d.vendor === 'nvidia');
      if (gpu) await showHealth(say, client, host.root, gpu.id, gpu.index);
    } finally {
      client.close();
    }
    await showTelemetry(say, daemon, collector);
    return 0;
  } finally {
    await daemon?.stop();
    await collector?.close();
    await kubelet?.stop();
    if (options.keep) say(`\nleft ${work} in place`);
    else await rm(work, { recursive: true, force: true });
    say('\n== done: the agent stopped and the simulated host was removed');
  }
}

async function showInjection(say: (text: string) => void, cdiDir: string): Promise<void> {
  say('== 3. injection: CDI specs for container runtimes');
  for (const file of (await readdir(cdiDir)).sort()) {
    const spec = JSON.parse(await readFile(path.join(cdiDir, file), 'utf8')) as {
      kind: string;
      cdiVersion: string;
      devices: { name: string }[];
      containerEdits?: { mounts?: unknown[]; deviceNodes?: unknown[] };
    };
    say(`   ${file}: kind ${spec.kind}, cdiVersion ${spec.cdiVersion}`);
    say(`     devices: ${spec.devices.map((d) => `${spec.kind}=${d.name}`).join(', ')}`);
    say(`     shared: ${spec.containerEdits?.deviceNodes?.length ?? 0} control nodes, ${spec.containerEdits?.mounts?.length ?? 0} driver mounts (read-only, no hooks)`);
  }
  say('   podman run --device nvidia.com/gpu=0 ... now gets the GPU, its nodes and its driver libraries');
}

/** A simulated kubelet (real gRPC on unix sockets) takes the registration and allocates a GPU. */
async function showAllocation(say: (text: string) => void, kubelet: KubeletSim): Promise<void> {
  const resource = 'nvidia.com/gpu';
  const reg = await kubelet.waitForRegistration((r) => r.request.resourceName === resource);
  const list = await kubelet.waitForList(resource, (devices) => devices.length > 0);
  say(`\n   kubelet: ${resource} registered from ${reg.request.endpoint}; ListAndWatch offers ${list.map((d) => `${d.ID} (${d.health})`).join(', ')}`);
  const res = await kubelet.allocate(resource, [[list[0]!.ID]]);
  const c = res.containerResponses[0]!;
  say(`   kubelet Allocate(${list[0]!.ID}) ->`);
  say(`     cdi_devices: ${c.cdiDevices.map((d) => d.name).join(', ')}`);
  say(`     devices: ${c.devices.map((d) => `${d.containerPath} (${d.permissions})`).join(', ')}`);
  say(`     mounts: ${c.mounts.length} read-only driver files, e.g. ${c.mounts.slice(0, 2).map((m) => m.containerPath).join(', ')}`);
}

/** Injects Xid 79 through the NVML stub and shows the API's watch stream as the GPU fails and recovers. */
async function showHealth(say: (text: string) => void, client: AgentClient, root: string, id: string, index: number): Promise<void> {
  say('\n== 4. health: the GPU falls off the bus (Xid 79), then recovers after a 2 s quiet period');
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(), 30_000);
  const injectedAt = Date.now();
  try {
    let injected = false;
    for await (const e of client.watch({ signal: abort.signal })) {
      if (!injected) {
        injected = true;
        await appendEvent(root, index, 'xid', 79);
        say(`   injected: NVML event Xid 79 on GPU ${index}`);
        continue;
      }
      if (e.type !== 'health' || e.device.id !== id) continue;
      const after = ((Date.now() - injectedAt) / 1000).toFixed(2);
      say(`   +${after}s watch: ${e.device.id} ${e.previousHealth} -> ${e.device.health}${e.device.healthReason ? ` (${e.device.healthReason})` : ''}`);
      if (e.device.health === 'Healthy') break;
    }
  } finally {
    clearTimeout(timeout);
    abort.abort();
  }
}

/** What reached the collector (acknowledged only after its own durable write) and what /metrics shows. */
async function showTelemetry(say: (text: string) => void, daemon: AgentDaemon, collector: Collector): Promise<void> {
  say('\n== 5. telemetry: samples and health events, spooled on the node and acknowledged by the collector');
  await daemon.telemetry.sampleOnce();
  const deadline = Date.now() + 10_000;
  let agent;
  while (Date.now() < deadline) {
    agent = collector.summary().find((a) => a.agentId === 'demo-node');
    const stats = daemon.telemetry.pipeline?.stats();
    if (agent && stats && stats.spool.ackedSeq >= stats.spool.newestSeq && agent.recentEvents.length >= 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!agent) {
    say('   the collector has heard nothing yet');
    return;
  }
  const stream = agent.epochs[0];
  say(`   collector holds ${stream?.records ?? 0} records from ${agent.agentId} (acknowledged up to #${stream?.ackedSeq ?? 0}, ${stream?.lostSequences ?? 0} lost)`);
  for (const e of agent.recentEvents.slice(-2)) say(`   event [${e.severity}] ${e.message}`);
  for (const d of agent.devices) {
    const show = ['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE'].filter((k) => k in d.latest);
    say(`   ${d.labels['modelName'] ?? d.deviceId}: ${show.map((k) => `${k}=${d.latest[k]!.value}`).join(' ')}`);
  }
  const addr = daemon.telemetry.metricsServer?.address;
  if (addr) say(`   the node served the same readings at http://127.0.0.1:${addr.port}/metrics under dcgm-exporter names`);
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => '   ' + l)
    .join('\n') + '\n';
}
