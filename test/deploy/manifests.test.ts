import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { ApiServer } from '../../agent/api/server.js';
import { main as accelctl } from '../../agent/cli/accelctl.js';
import { configFlagOptions, resolveConfig } from '../../agent/config/load.js';
import { CONFIG_VERSION, agentSchema } from '../../agent/config/schema.js';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { packageRoot, packageVersion } from '../../agent/package-root.js';
import { DEPLOYED_ENV } from '../../bench/lib/deployed-env.js';
import { gpu, inventory } from '../helpers/sample-inventory.js';
import { socketDir } from '../helpers/unix-sockets.js';

/** The slice of Kubernetes objects these tests read; everything else stays unknown. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface HostPathVolume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
  emptyDir?: unknown;
}
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  mountPropagation?: string;
}
interface Probe {
  exec: { command: string[] };
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}
interface Container {
  name: string;
  image: string;
  ports: Array<{ name: string; containerPort: number; protocol: string }>;
  args: string[];
  securityContext: { privileged?: boolean; readOnlyRootFilesystem?: boolean };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  startupProbe: Probe;
  readinessProbe: Probe;
  livenessProbe: Probe;
  volumeMounts: Mount[];
}
interface MatchExpression {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  priorityClassName: string;
  terminationGracePeriodSeconds: number;
  hostPID: boolean;
  hostNetwork: boolean;
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Array<{ matchExpressions: MatchExpression[] }> } } };
  tolerations: Array<{ key: string; operator: string; effect?: string }>;
  containers: Container[];
  volumes: HostPathVolume[];
}

const DEPLOY = path.join(packageRoot(), 'deploy');

function loadFile(name: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(path.join(DEPLOY, name), 'utf8'), { uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${name}: no documents`);
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`${name}: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  });
}

function only(name: string, kind: string): K8sObject {
  const objs = loadFile(name).filter((o) => o.kind === kind);
  if (objs.length !== 1) throw new Error(`${name}: expected one ${kind}, found ${objs.length}`);
  return objs[0]!;
}

const daemonSet = only('daemonset.yaml', 'DaemonSet') as K8sObject & {
  spec: { selector: { matchLabels: Record<string, string> }; updateStrategy: { type: string; rollingUpdate: Record<string, unknown> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
};
const pod = daemonSet.spec.template.spec;
const agent = pod.containers[0]!;
const mountOf = (volume: string) => agent.volumeMounts.find((m) => m.name === volume);
const hostPathVolumes = pod.volumes.filter((v) => v.hostPath !== undefined);
const volumeAt = (hostPath: string) => hostPathVolumes.find((v) => v.hostPath!.path === hostPath);
/** The flags after `run`, parsed the way the agent's CLI parses them. */
const runFlags: Record<string, string | boolean | undefined> = parseArgs({
  args: agent.args.slice(1),
  options: { ...configFlagOptions(), config: { type: 'string' } },
  strict: true,
}).values;

t.test('every YAML file in deploy/ parses, one known kind per file', async (t) => {
  const expected: Record<string, [string, string]> = {
    'namespace.yaml': ['v1', 'Namespace'],
    'serviceaccount.yaml': ['v1', 'ServiceAccount'],
    'resourcequota.yaml': ['v1', 'ResourceQuota'],
    'configmap.yaml': ['v1', 'ConfigMap'],
    'daemonset.yaml': ['apps/v1', 'DaemonSet'],
    'runtimeclass.yaml': ['node.k8s.io/v1', 'RuntimeClass'],
    'kustomization.yaml': ['kustomize.config.k8s.io/v1beta1', 'Kustomization'],
  };
  const files = readdirSync(DEPLOY).filter((f) => /\.ya?ml$/.test(f)).sort();
  t.same(files, Object.keys(expected).sort(), 'no manifest goes untested');
  for (const file of files) {
    const objs = loadFile(file);
    t.equal(objs.length, 1, `${file}: one object`);
    t.same([objs[0]!.apiVersion, objs[0]!.kind], expected[file], file);
    t.ok(objs[0]!.kind === 'Kustomization' || objs[0]!.metadata.name, `${file}: named`);
  }
});

t.test('the agent needs no API server access: no RBAC objects, no token', async (t) => {
  const kinds = readdirSync(DEPLOY)
    .filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) => loadFile(f).map((o) => o.kind));
  for (const rbac of ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']) t.notOk(kinds.includes(rbac), `no ${rbac}`);
  const sa = only('serviceaccount.yaml', 'ServiceAccount') as K8sObject & { automountServiceAccountToken: boolean };
  t.equal(sa.automountServiceAccountToken, false);
  t.equal(pod.automountServiceAccountToken, false);
  t.equal(pod.serviceAccountName, sa.metadata.name);
});

t.test('kustomization lists every namespaced manifest and pins the package version', async (t) => {
  const k = only('kustomization.yaml', 'Kustomization') as K8sObject & { namespace: string; resources: string[]; images: Array<{ name: string; newTag: string }> };
  t.same([...k.resources].sort(), ['configmap.yaml', 'daemonset.yaml', 'namespace.yaml', 'resourcequota.yaml', 'serviceaccount.yaml']);
  for (const file of k.resources) t.ok(existsSync(path.join(DEPLOY, file)), `${file} exists`);
  const ns = only('namespace.yaml', 'Namespace');
  t.equal(k.namespace, ns.metadata.name);
  for (const file of k.resources.filter((f) => f !== 'namespace.yaml')) {
    t.equal(loadFile(file)[0]!.metadata.namespace, ns.metadata.name, `${file} is in the agent namespace`);
  }
  t.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged', 'Pod Security admits a privileged agent');
  const [imageName, imageTag] = agent.image.split(':');
  t.same(k.images, [{ name: imageName, newTag: packageVersion() }]);
  t.equal(imageTag, packageVersion(), 'the DaemonSet image tag is this release');
});

t.test('the ConfigMap holds a valid agent config, and with the container flags the agent reads the host at /host', async (t) => {
  const cm = only('configmap.yaml', 'ConfigMap') as K8sObject & { data: Record<string, string> };
  const configVolume = pod.volumes.find((v) => v.configMap?.name === cm.metadata.name);
  t.ok(configVolume, 'the ConfigMap is mounted');
  const mount = mountOf(configVolume!.name)!;
  const [key] = Object.keys(cm.data);
  t.equal(runFlags['config'], path.posix.join(mount.mountPath, key!), '--config names the mounted key');
  t.equal(mount.readOnly, true);

  const text = cm.data[key!]!;
  const fromFile = resolveConfig({ file: { name: key!, text } });
  t.match(text, new RegExp(`^version: ${CONFIG_VERSION}$`, 'm'));
  t.equal(fromFile.cdi.hostPrefix, 'strip', 'specs name host paths as the runtime sees them');
  const effective = resolveConfig({ file: { name: key!, text }, flags: runFlags });
  t.equal(agent.args[0], 'run');
  t.equal(effective.hostRoot, '/host');
  t.equal(mountOf('host-root')?.mountPath, effective.hostRoot);

  const listen = /^0\.0\.0\.0:(\d+)$/.exec(effective.telemetry.metricsListen ?? '');
  t.ok(listen, '/metrics listens on every pod address');
  t.same(agent.ports, [{ name: 'metrics', containerPort: Number(listen![1]), protocol: 'TCP' }], 'the declared port is the one served');
});

t.test('the config check above is strict: a misspelt key is refused, not ignored', async (t) => {
  t.throws(() => resolveConfig({ file: { name: 'x', text: 'version: 1\nhostRot: /host\n' } }), { code: 'ACCEL_ERR_CONFIG_INVALID' });
});

t.test('every directory the agent uses by default is a hostPath mounted at the same path', async (t) => {
  const dirKeys = Object.keys(agentSchema).filter((k) => k.endsWith('Dir')) as Array<keyof typeof agentSchema>;
  t.ok(dirKeys.length >= 4, `schema directories: ${dirKeys.join(', ')}`);
  const wanted = new Map<string, string>(dirKeys.map((k) => [k, (agentSchema[k] as { default: string }).default]));
  wanted.set('socket (its directory)', path.posix.dirname(agentSchema.socket.default));
  for (const [key, dir] of wanted) {
    const volume = volumeAt(dir);
    t.ok(volume, `${key}: hostPath ${dir}`);
    const mount = mountOf(volume?.name ?? '');
    t.equal(mount?.mountPath, dir, `${key}: mounted where the agent looks by default`);
    t.notOk(mount?.readOnly, `${key}: writable`);
  }
  t.equal(volumeAt(agentSchema.stateDir.default)?.hostPath?.type, 'DirectoryOrCreate');
  t.notOk(pod.volumes.some((v) => v.emptyDir !== undefined), 'no emptyDir: state must outlive the pod');
  t.notOk(
    Object.values(runFlags).some((v) => typeof v === 'string' && [...wanted.values()].some((d) => v.startsWith(d))),
    'no flag moves a directory away from its mount',
  );

  // Besides those: the host root, and kubelet's pod-resources socket (read-only, for telemetry's pod attribution).
  const expectedPaths = new Set([...wanted.values(), '/', '/var/lib/kubelet/pod-resources']);
  t.same(new Set(hostPathVolumes.map((v) => v.hostPath!.path)), expectedPaths, 'no unexplained host path');
  t.equal(mountOf(volumeAt('/var/lib/kubelet/pod-resources')!.name)?.readOnly, true);
});

t.test('the host root is read-only at /host and sees later host mounts', async (t) => {
  const volume = volumeAt('/')!;
  const mount = mountOf(volume.name)!;
  t.equal(mount.mountPath, '/host');
  t.equal(mount.readOnly, true);
  t.equal(mount.mountPropagation, 'HostToContainer');
  t.equal(runFlags['host-root'], '/host');
});

t.test('every volume is mounted and every mount has a volume', async (t) => {
  t.same(agent.volumeMounts.map((m) => m.name).sort(), pod.volumes.map((v) => v.name).sort());
  t.equal(new Set(agent.volumeMounts.map((m) => m.mountPath)).size, agent.volumeMounts.length, 'mount paths are distinct');
});

t.test('pod security posture: privileged for devices, nothing shared with the host it does not need', async (t) => {
  t.equal(agent.securityContext.privileged, true);
  t.equal(agent.securityContext.readOnlyRootFilesystem, true);
  t.equal(pod.hostPID, false);
  t.equal(pod.hostNetwork, false);
  t.equal(pod.priorityClassName, 'system-node-critical');
  t.ok(pod.terminationGracePeriodSeconds >= 10);
  const quota = only('resourcequota.yaml', 'ResourceQuota') as K8sObject & {
    spec: { scopeSelector: { matchExpressions: Array<{ scopeName: string; values?: string[] }> } };
  };
  t.ok(quota.spec.scopeSelector.matchExpressions.some((e) => e.scopeName === 'PriorityClass' && e.values?.includes(pod.priorityClassName)), 'the quota admits the priority class');
});

t.test('rolling updates never run two agents on one node', async (t) => {
  t.equal(daemonSet.spec.updateStrategy.type, 'RollingUpdate');
  t.equal(daemonSet.spec.updateStrategy.rollingUpdate['maxSurge'], 0);
  t.same(daemonSet.spec.selector.matchLabels, { 'app.kubernetes.io/name': daemonSet.spec.template.metadata.labels['app.kubernetes.io/name'] });
});

t.test('requests and limits are set, with room for a probe process beside the agent', async (t) => {
  const mib = (q: string) => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q);
    if (!m) throw new Error(`unexpected quantity ${q}`);
    return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
  };
  t.ok(agent.resources.requests['cpu']);
  t.ok(mib(agent.resources.limits['memory']!) >= mib(agent.resources.requests['memory']!));
  t.ok(mib(agent.resources.limits['memory']!) >= 85 + 2 * 60, 'agent plus two overlapping probes fit');
});

t.test('tolerations cover the accelerator taints whatever their effect', async (t) => {
  for (const key of ['nvidia.com/gpu', 'aliyun.com/npu']) {
    const tol = pod.tolerations.find((x) => x.key === key);
    t.equal(tol?.operator, 'Exists', key);
    t.equal(tol?.effect, undefined, `${key}: every effect`);
  }
});

/** Kubernetes node affinity: terms are ORed, expressions within a term ANDed. */
function schedulable(labels: Record<string, string>): boolean {
  const terms = pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
  return terms.some((term) =>
    term.matchExpressions.every((e) => {
      const v = labels[e.key];
      switch (e.operator) {
        case 'In':
          return v !== undefined && e.values!.includes(v);
        case 'NotIn':
          return v === undefined || !e.values!.includes(v);
        case 'Exists':
          return v !== undefined;
        case 'DoesNotExist':
          return v === undefined;
      }
    }),
  );
}

t.test('node affinity: GPU nodes, Hanguang instances and opted-in nodes; opt-out wins; plain nodes never', async (t) => {
  t.ok(schedulable({ 'aliyun.accelerator/nvidia_count': '1' }), 'an Alibaba Cloud GPU node');
  t.ok(schedulable({ 'node.kubernetes.io/instance-type': 'ecs.ebman1.26xlarge' }), 'a Hanguang instance');
  t.ok(schedulable({ 'accel-agent.io/enabled': 'true' }), 'an opted-in node');
  t.notOk(schedulable({ 'aliyun.accelerator/nvidia_count': '1', 'accel-agent.io/enabled': 'false' }), 'opted out');
  t.notOk(schedulable({ 'node.kubernetes.io/instance-type': 'ecs.ebman1.26xlarge', 'accel-agent.io/enabled': 'false' }), 'opted out');
  t.notOk(schedulable({ 'node.kubernetes.io/instance-type': 'ecs.g7.large' }), 'a plain node');
  t.notOk(schedulable({}), 'no labels at all');
});

t.test('probes run accelctl from the image against the default socket', async (t) => {
  const dockerfile = readFileSync(path.join(packageRoot(), 'Dockerfile'), 'utf8');
  const workdir = [...dockerfile.matchAll(/^WORKDIR\s+(\S+)/gm)].at(-1)?.[1];
  t.ok(workdir, 'the runtime stage has a WORKDIR');
  t.match(dockerfile, /^COPY --from=build \/src\/bin \.\/bin$/m, 'the image carries bin/');
  for (const probe of [agent.startupProbe, agent.readinessProbe, agent.livenessProbe]) {
    const [node, script, ...args] = probe.exec.command;
    t.equal(node, 'node');
    t.equal(script, path.posix.join(workdir!, 'bin/accelctl.js'));
    t.ok(existsSync(path.join(packageRoot(), 'bin/accelctl.js')));
    t.same(args, ['--socket', agentSchema.socket.default, 'host']);
    t.ok(probe.timeoutSeconds >= 5, 'a slow node does not fail the probe');
  }
  t.ok(agent.startupProbe.periodSeconds * agent.startupProbe.failureThreshold >= 120, 'the first scan has minutes');
  t.ok(agent.livenessProbe.periodSeconds * agent.livenessProbe.failureThreshold >= 60, 'one slow answer does not restart the agent');
});

t.test("the probe's accelctl arguments succeed against a live agent API and fail without one", async (t) => {
  const dir = socketDir(t);
  const socketPath = path.join(dir, 'agent.sock');
  const args = agent.livenessProbe.exec.command.slice(2).map((a) => (a === agentSchema.socket.default ? socketPath : a));
  const io = () => {
    const out = { text: '', err: '' };
    return { out, io: { stdout: (s: string) => void (out.text += s), stderr: (s: string) => void (out.err += s), env: {} } };
  };
  const down = io();
  t.equal(await accelctl(args, down.io), 1, 'no agent: the probe fails');

  const server = new ApiServer({ registry: new DeviceRegistry({ initial: inventory([gpu(0)]) }), socketPath, shutdownTimeoutMs: 2000 });
  await server.start();
  t.teardown(() => server.stop());
  const up = io();
  t.equal(await accelctl(args, up.io), 0, up.out.err);
  t.match(up.out.text, /node-a/, 'the agent answered with its host view');
});

t.test('the RuntimeClass names the accel-runtime handler', async (t) => {
  const rc = only('runtimeclass.yaml', 'RuntimeClass') as K8sObject & { handler: string };
  t.equal(rc.handler, 'accel-runtime');
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const noKubectl = kubectl.error || kubectl.status !== 0 ? 'kubectl is not installed; kustomize rendering not checked' : false;

t.test('kubectl kustomize renders the set with the DaemonSet in the agent namespace', { skip: noKubectl }, async (t) => {
  const out = spawnSync('kubectl', ['kustomize', DEPLOY], { encoding: 'utf8', timeout: 60_000 });
  t.equal(out.status, 0, out.stderr);
  const rendered = parseAllDocuments(out.stdout).map((d) => d.toJS() as K8sObject);
  t.same(rendered.map((o) => o.kind).sort(), ['ConfigMap', 'DaemonSet', 'Namespace', 'ResourceQuota', 'ServiceAccount']);
  const ds = rendered.find((o) => o.kind === 'DaemonSet') as typeof daemonSet;
  t.equal(ds.metadata.namespace, 'accel-agent');
  t.equal(ds.spec.template.spec.containers[0]!.image, `accel-agent:${packageVersion()}`);
});

t.test('the image gives the daemon the environment the benchmarks measure it in', async (t) => {
  const dockerfile = readFileSync(path.join(packageRoot(), 'Dockerfile'), 'utf8');
  const env = new Map([...dockerfile.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  for (const [name, value] of Object.entries(DEPLOYED_ENV)) t.equal(env.get(name), value, name);
});
