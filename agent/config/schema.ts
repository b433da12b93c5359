import { absolutePath, boolean, duration, optionalString, section, string, type Infer } from './fields.js';
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
  }),
};

export type AgentConfig = Infer<typeof agentSchema>;
