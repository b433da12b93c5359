import { Problem, absolutePath, boolean, byteSize, custom, duration, integer, integerList, optionalString, section, string, stringList, type Infer } from './fields.js';
import { DEFAULT_HEALTH_OPTIONS, DEFAULT_IGNORED_XIDS } from '../health/options.js';
import { describeError } from '../errors.js';
import { DEFAULT_NPU_PROFILE, validateNpuProfile, type NpuProfile } from '../vendors/hanguang/profile.js';
import { NVIDIA_SOURCES } from '../vendors/nvidia/options.js';
import { LOG_LEVELS } from '../log.js';

/** The configuration file format version this agent reads. */
export const CONFIG_VERSION = 1;

/**
 * Every setting the agent has. Keys with a `flag` can also be set by
 * `--<flag>` and by the environment variable `ACCEL_AGENT_<FLAG>`, which win
 * over the file in that order (defaults < file < environment < flags).
 */
export const agentSchema = {
  hostRoot: absolutePath('/', { flag: 'host-root', doc: 'Where the host filesystem is visible (/host in the DaemonSet).' }),
  socket: absolutePath('/run/accel-agent/agent.sock', { flag: 'socket', doc: 'Unix socket of the local gRPC API.' }),
  kubeletDir: absolutePath('/var/lib/kubelet/device-plugins', { flag: 'kubelet-dir', doc: 'Kubelet device-plugin directory.' }),
  podResourcesSocket: absolutePath('/var/lib/kubelet/pod-resources/kubelet.sock', {
    flag: 'pod-resources-socket',
    doc: "Kubelet's pod-resources socket, read to label telemetry with the pod using each device; absent means no owner labels.",
  }),
  cdiDir: absolutePath('/var/run/cdi', { flag: 'cdi-dir', doc: 'Directory the agent writes CDI specs to.' }),
  stateDir: absolutePath('/var/lib/accel-agent', { flag: 'state-dir', doc: 'Durable agent state (a host directory, never an emptyDir).' }),
  nfdDir: absolutePath('/etc/kubernetes/node-feature-discovery/features.d', { flag: 'nfd-dir', doc: 'Node Feature Discovery local feature directory.' }),
  rescanInterval: duration(30_000, { flag: 'rescan-interval', minMs: 1000, doc: 'How often the daemon rescans for hot-plugged devices.' }),
  logLevel: string('info', { flag: 'log-level', oneOf: LOG_LEVELS, doc: 'Log level.' }),
  nvidia: section('NVIDIA GPUs and vGPUs.', {
    enabled: boolean(true, { doc: 'Discover NVIDIA devices.' }),
    nvmlLibrary: optionalString({ flag: 'nvml-library', doc: 'Host path of libnvidia-ml.so.1; found automatically when unset.' }),
    smiPath: absolutePath('/usr/bin/nvidia-smi', { doc: 'Host path of nvidia-smi, the first fallback when NVML fails.' }),
    smiTimeout: duration(5000, { minMs: 100, maxMs: 120_000, doc: 'How long nvidia-smi may take before it is killed.' }),
    sources: stringList(NVIDIA_SOURCES, {
      doc: 'Discovery sources to try, best first; leaving one out disables it.',
      item: (s) => ((NVIDIA_SOURCES as readonly string[]).includes(s) ? s : new Problem(`expected one of ${NVIDIA_SOURCES.join(', ')}, got ${JSON.stringify(s)}`)),
    }),
  }),
  npu: section('Hanguang NPUs, described by a vendor profile.', {
    enabled: boolean(true, { doc: 'Discover NPUs.' }),
    profile: custom<NpuProfile>(structuredClone(DEFAULT_NPU_PROFILE) as NpuProfile, { doc: 'PCI ids, nodes, libraries and names of the NPU stack; keys left out keep the default (an assumption, see docs).' }, (raw) => {
      try {
        return validateNpuProfile(raw, 'npu.profile');
      } catch (err) {
        return new Problem(describeError(err));
      }
    }),
  }),
  health: section('Device health monitoring and recovery (docs/health.md).', {
    quietPeriod: duration(DEFAULT_HEALTH_OPTIONS.quietPeriodMs, {
      flag: 'health-quiet-period',
      minMs: 1000,
      doc: 'How long an unhealthy device must stay quiet (and pass a probe) before it is healthy again.',
    }),
    maxQuietPeriod: duration(DEFAULT_HEALTH_OPTIONS.maxQuietPeriodMs, { minMs: 1000, doc: 'Cap of the quiet period once flapping has doubled it.' }),
    ignoredXids: integerList(DEFAULT_IGNORED_XIDS, { min: 0, max: 0xffff, doc: 'Xids caused by applications, not the device; replaces the default list.' }),
    fatalXids: integerList([], { min: 0, max: 0xffff, doc: 'Xids always treated as critical.' }),
    temperatureLimit: integer(0, { min: 0, max: 150, doc: 'Degrees Celsius above which a device is unhealthy; 0 turns the check off.' }),
    pollInterval: duration(DEFAULT_HEALTH_OPTIONS.pollIntervalMs, { minMs: 100, maxMs: 60_000, doc: 'Interval of presence checks and kernel log polling.' }),
    kmsg: string(DEFAULT_HEALTH_OPTIONS.kmsg, { oneOf: ['auto', 'on', 'off'], doc: 'Read Xids from the kernel log: auto (when NVML events are unavailable), on, off.' }),
  }),
  devicePlugin: section('Kubelet device plugins (v1beta1), one per resource.', {
    strategies: stringList(['cdi'], {
      doc: 'What Allocate returns: cdi (CDI device names), device-specs (nodes, mounts, env for runtimes without CDI), annotations (for accel-runtime).',
      item: (s) => (['cdi', 'device-specs', 'annotations'].includes(s) ? s : new Problem(`expected cdi, device-specs or annotations, got ${JSON.stringify(s)}`)),
    }),
    nvidiaResource: string('nvidia.com/gpu', { doc: 'Resource name for NVIDIA GPUs; empty to advertise none.' }),
    npuResource: optionalString({ doc: "Resource name for NPUs; unset takes the NPU profile's, empty advertises none (when another plugin owns it)." }),
    replicas: integer(1, { min: 1, max: 64, doc: 'Advertise each device this many times (time-slicing).' }),
  }),
  telemetry: section('Sampling, the node /metrics endpoint and streaming to a collector (docs/protocol.md).', {
    sampleInterval: duration(1000, { flag: 'sample-interval', minMs: 100, maxMs: 3_600_000, doc: 'How often every device is sampled.' }),
    metricsListen: optionalString({ flag: 'metrics-listen', doc: 'host:port to serve Prometheus /metrics on (dcgm-exporter names); unset serves none.' }),
    collectorUrl: optionalString({ flag: 'collector-url', doc: 'ws:// or wss:// URL of the collector; unset streams nothing.' }),
    collectorTokenFile: optionalString({ flag: 'collector-token-file', doc: 'File holding the bearer token, read on every connect.' }),
    collectorCa: optionalString({ flag: 'collector-ca', doc: 'PEM bundle of CAs trusted for the collector.' }),
    collectorPins: stringList([], { doc: 'Certificate pins (sha256/<base64 SPKI> or cert-sha256/<hex>) checked on top of the CAs.' }),
    agentId: optionalString({ flag: 'agent-id', doc: "This node's name at the collector (the DaemonSet passes spec.nodeName); the host name when unset." }),
    spoolBudget: byteSize(256 * 1024 ** 2, { min: 1024 ** 2, doc: 'Bytes the spool may hold before the oldest unacknowledged data is evicted (and a gap recorded).' }),
    fsync: string('1s', { pattern: /^(always|never|\d+(ms|s))$/, doc: 'When the spool fsyncs: always, never, or an interval such as 1s.' }),
  }),
  cdi: section('CDI spec generation.', {
    hostPrefix: string('strip', {
      flag: 'cdi-host-prefix',
      pattern: /^(strip|root|\/.*)$/,
      doc: 'Prefix for host paths in specs: strip (the runtime sees the host itself), root (the host root, for simulated hosts) or an absolute path.',
    }),
  }),
};

export type AgentConfig = Infer<typeof agentSchema>;
