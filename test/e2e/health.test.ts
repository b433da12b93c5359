import t from 'tap';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { resolveConfig } from '../../agent/config/load.js';
import { AgentDaemon } from '../../agent/daemon/agent.js';
import { KubeletSim } from '../../agent/kubelet/kubelet-sim.js';
import type { RegistryEvent } from '../../agent/daemon/device-registry.js';
import { silentLogger } from '../../agent/log.js';
import { loadNvidiaDriver, removeDeviceNode, restoreDeviceNode, unloadNvidiaDriver } from '../../agent/simhost/mutate.js';
import { appendEvent } from '../../agent/simhost/nvml-state.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';

// The agent runs in-process on a simulated gn5 host; faults are injected the way
// tests change a running host (the NVML stub's event file, sysfs, /dev).
// Latencies are measured by bench/health-latency; here only generous bounds
// apply so a loaded machine does not fail the suite.
const QUIET = '1500ms';

async function startAgent(t: { teardown: (fn: () => Promise<void> | void) => void }) {
  const root = await simulatedHost('gn5');
  const work = await tempDir(t, 'health-');
  await mkdir(path.join(work, 'cdi'));
  await mkdir(path.join(work, 'kubelet'));
  const kubelet = await KubeletSim.start(path.join(work, 'kubelet'));
  t.teardown(() => kubelet.stop());
  const config = resolveConfig({
    flags: {
      'host-root': root,
      socket: path.join(work, 'agent.sock'),
      'cdi-dir': path.join(work, 'cdi'),
      'cdi-host-prefix': 'root',
      'kubelet-dir': path.join(work, 'kubelet'),
      'rescan-interval': '1h',
      'health-quiet-period': QUIET,
    },
  });
  const daemon = new AgentDaemon(config, silentLogger);
  await daemon.start();
  t.teardown(() => daemon.stop());
  const events: RegistryEvent[] = [];
  daemon.registry.subscribe((e) => events.push(e));
  await kubelet.waitForList('nvidia.com/gpu', (list) => list.length === 8);
  return { root, daemon, events, kubelet };
}

t.test('Xid 79 makes a GPU unhealthy, Xid 13 does not, and the GPU recovers after the quiet period', { skip: simhostUnavailable() }, async (t) => {
  const { root, daemon, kubelet } = await startAgent(t);
  const [gpu0, gpu1] = daemon.registry.list();
  const kubeletHealth = (id: string) => kubelet.lists('nvidia.com/gpu').at(-1)?.find((d) => d.ID === id)?.health;
  const health = (id: string) => daemon.registry.get(id)?.health;

  await appendEvent(root, 1, 'xid', 13);
  await appendEvent(root, 0, 'xid', 79);
  const injected = Date.now();
  await waitFor(() => health(gpu0!.id) === 'Unhealthy', 'GPU 0 to turn unhealthy');
  const ms = Date.now() - injected;
  t.ok(ms < 5000, `unhealthy ${ms} ms after the Xid`);
  t.match(daemon.registry.get(gpu0!.id)?.healthReason, /Xid 79/);
  t.equal(health(gpu1!.id), 'Healthy', 'Xid 13 (an application fault), delivered first, left GPU 1 healthy');
  await waitFor(() => kubeletHealth(gpu0!.id) === 'Unhealthy', 'kubelet to hear of it');
  t.equal(kubeletHealth(gpu1!.id), 'Healthy', 'ListAndWatch carries the same verdicts');

  await waitFor(() => health(gpu0!.id) === 'Healthy', 'GPU 0 to recover');
  await waitFor(() => kubeletHealth(gpu0!.id) === 'Healthy', 'kubelet to see the recovery');
  t.pass('recovered without a restart, kubelet included');
});

t.test('a vanished device node makes the GPU unhealthy until it is back and quiet', { skip: simhostUnavailable() }, async (t) => {
  const { root, daemon } = await startAgent(t);
  const gpu = daemon.registry.list()[2]!;
  const node = gpu.deviceNodes[0]!;
  await removeDeviceNode(root, node);
  await waitFor(() => daemon.registry.get(gpu.id)?.health === 'Unhealthy', 'the GPU to turn unhealthy');
  t.match(daemon.registry.get(gpu.id)?.healthReason, /node/);
  await restoreDeviceNode(root, node);
  await waitFor(() => daemon.registry.get(gpu.id)?.health === 'Healthy', 'the GPU to recover');
  t.pass('healthy again once the node returned and the quiet period passed');
});

t.test('an unloaded driver makes every GPU unhealthy with that reason, and they return with it', { skip: simhostUnavailable() }, async (t) => {
  const { root, daemon } = await startAgent(t);
  const gpus = daemon.registry.list();
  t.equal(gpus.length, 8);
  await unloadNvidiaDriver(root);
  await waitFor(() => daemon.registry.list().every((d) => d.health === 'Unhealthy'), 'every GPU to turn unhealthy');
  for (const d of daemon.registry.list()) t.match(d.healthReason, /driver|NVML/i, d.id);
  await loadNvidiaDriver(root);
  await waitFor(() => daemon.registry.list().every((d) => d.health === 'Healthy'), 'every GPU to recover');
  t.pass('all back');
});
