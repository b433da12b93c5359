import t, { type Test } from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { Collector } from '../../agent/collector/server.js';
import { resolveConfig } from '../../agent/config/load.js';
import { AgentDaemon } from '../../agent/daemon/agent.js';
import { silentLogger } from '../../agent/log.js';
import { setDeviceValue } from '../../agent/simhost/nvml-state.js';
import { tempDir } from '../helpers/temp-dir.js';
import { podHolding, servePodResources } from '../helpers/fake-pod-resources.js';
import { socketDir } from '../helpers/unix-sockets.js';
import { waitForValue } from '../helpers/wait-for.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';

const TOKEN = 'node-token-0123456789';

/**
 * A collector on a loopback port with its own token, and the daemon
 * configuration that streams `root`'s devices to it: 200 ms sampling,
 * /metrics on a free port, no CDI or kubelet directories.
 */
async function streamingSetup(t: Test, root: string, agentId: string, podResourcesSocket?: string) {
  const work = await tempDir(t, 'tele-');
  const tokenFile = path.join(work, 'token');
  await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
  await mkdir(path.join(work, 'collector'));
  const collector = await Collector.start({ host: '127.0.0.1', port: 0, dataDir: path.join(work, 'collector'), tokenFile });
  t.teardown(() => collector.close());
  const config = resolveConfig({
    flags: {
      'host-root': root,
      socket: path.join(work, 'agent.sock'),
      'cdi-dir': path.join(work, 'no-cdi'),
      'kubelet-dir': path.join(work, 'no-kubelet'),
      'state-dir': path.join(work, 'state'),
      'pod-resources-socket': podResourcesSocket ?? path.join(work, 'no-pod-resources.sock'),
      'collector-url': collector.url,
      'collector-token-file': tokenFile,
      'metrics-listen': '127.0.0.1:0',
      'sample-interval': '200ms',
    },
    file: { name: 'test.yaml', text: `version: 1\ntelemetry:\n  agentId: ${agentId}\n` },
  });
  return { collector, config };
}

t.test('the daemon samples the GPU through NVML, serves dcgm-style /metrics and streams to the collector', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const { collector, config } = await streamingSetup(t, root, 'node-a');
  await setDeviceValue(root, 0, 'util_gpu', 64);
  const daemon = new AgentDaemon(config, silentLogger);
  await daemon.start();
  t.teardown(() => daemon.stop());
  const [gpu] = daemon.registry.list();

  const { port } = daemon.telemetry.metricsServer!.address!;
  const body = await waitForValue(async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return /^DCGM_FI_DEV_GPU_UTIL\{/m.test(text) ? text : undefined;
  }, 'a sample on /metrics');
  t.match(body, new RegExp(`DCGM_FI_DEV_GPU_UTIL\\{[^}]*UUID="${gpu!.uuid}"[^}]*\\} 64`), 'the stub utilisation, under dcgm-exporter name and labels');
  t.match(body, /accel_device_healthy\{[^}]*\} 1/);
  t.match(body, /^accel_agent_devices 1$/m);
  // promtool exits 3 for style advice and 1 for broken expositions. Its only advice here
  // is about UUID/modelName/Hostname: dcgm-exporter's label names, kept on purpose so
  // existing dashboards work.
  const check = await execa('promtool', ['check', 'metrics'], { input: body, reject: false });
  const advice = `${check.stdout}${check.stderr}`.split('\n').filter((l) => l.trim() !== '');
  t.ok(check.exitCode === 0 || check.exitCode === 3, `promtool parses the exposition (exit ${check.exitCode}): ${advice.join('; ')}`);
  t.same(advice.filter((l) => !/label names should be written in 'snake_case' not 'camelCase'/.test(l)), [], 'no advice beyond the dcgm-exporter label names');

  const headers = { authorization: `Bearer ${TOKEN}` };
  const series = await waitForValue(async () => {
    const res = await fetch(`${collector.url.replace(/^ws/, 'http').replace(/\/v1\/.*$/, '')}/api/v1/series?agent=node-a&device=${encodeURIComponent(gpu!.id)}`, { headers });
    const json = (await res.json()) as { series: Record<string, { v: number }[] | undefined> };
    const points = json.series['DCGM_FI_DEV_GPU_UTIL'];
    return points && points.length > 0 ? json.series : undefined;
  }, 'samples stored at the collector');
  t.ok(JSON.stringify(series['DCGM_FI_DEV_GPU_UTIL']).includes('64'), 'the collector holds the sampled value');
});

t.test('a pod taking the GPU shows up as pod, namespace and container on /metrics and at the collector', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const podResourcesSocket = path.join(socketDir(t), 'kubelet.sock');
  let daemon: AgentDaemon | undefined;
  let scheduled = false;
  // Answers from the registry at call time; the replica suffix is what kubelet reports
  // under time-slicing. Nothing is owned until the pod is "scheduled" below.
  await servePodResources(t, podResourcesSocket, () => ({
    podResources: scheduled ? (daemon?.registry.list() ?? []).map((d) => podHolding('train-0', 'ml', 'trainer', [`${d.id}::0`])) : [],
  }));
  await setDeviceValue(root, 0, 'util_gpu', 31);
  const { collector, config } = await streamingSetup(t, root, 'node-b', podResourcesSocket);
  daemon = new AgentDaemon(config, silentLogger);
  await daemon.start();
  t.teardown(() => daemon!.stop());
  const [gpu] = daemon.registry.list();
  const { port } = daemon.telemetry.metricsServer!.address!;
  const utilLine = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split('\n').find((l) => l.startsWith('DCGM_FI_DEV_GPU_UTIL{'));

  const unowned = await waitForValue(utilLine, 'a sample on /metrics');
  t.match(unowned, 'pod="",namespace="",container=""', 'no pod yet: the owner labels are empty');

  scheduled = true;
  // The owners are cached for a few seconds, so this waits for the next List.
  const line = await waitForValue(async () => {
    const l = await utilLine();
    return l?.includes('pod="train-0"') ? l : undefined;
  }, 'an owned sample on /metrics');
  t.match(line, `UUID="${gpu!.uuid}"`);
  t.match(line, 'namespace="ml"');
  t.match(line, 'container="trainer"');
  t.match(line, / 31$/, 'the sampled value');

  const headers = { authorization: `Bearer ${TOKEN}` };
  const labels = await waitForValue(async () => {
    const res = await fetch(`${collector.url.replace(/^ws/, 'http').replace(/\/v1\/.*$/, '')}/api/v1/agents`, { headers });
    const json = (await res.json()) as { agents: { devices: { labels: Record<string, string> }[] }[] };
    return json.agents.flatMap((a) => a.devices).map((d) => d.labels).find((x) => x['pod'] === 'train-0');
  }, 'the device re-described at the collector with its owner');
  t.match(labels, { pod: 'train-0', namespace: 'ml', container: 'trainer', UUID: gpu!.uuid });
});
