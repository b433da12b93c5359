/**
 * Settings of the kubelet device plugins, with defaults, checked once so the
 * servers can trust them. The integrator maps configuration keys and flags
 * onto `DevicePluginSettingsInput`.
 */
import { AccelError, ErrorCode } from '../errors.js';
import { CDI_ANNOTATION_PREFIX, parseKind } from '../inject/device-request.js';
import type { VendorName } from '../model/device.js';

export const DEFAULT_KUBELET_DIR = '/var/lib/kubelet/device-plugins';
export const KUBELET_SOCKET = 'kubelet.sock';
export const API_VERSION = 'v1beta1';

/**
 * How Allocate tells the runtime what a container gets; several may be
 * combined (the runtime applies each one it understands):
 * - `cdi`: fully-qualified CDI device names, resolved by a CDI-aware runtime
 *   against the generated spec (which carries the driver's shared edits).
 * - `device-specs`: device nodes, read-only mounts and env spelled out for
 *   runtimes without CDI, from the same edits the CDI spec holds.
 * - `annotations`: a `cdi.k8s.io/...` annotation for accel-runtime or any
 *   runtime that reads the CDI annotation convention.
 */
export type AllocateStrategy = 'cdi' | 'device-specs' | 'annotations';
export const ALLOCATE_STRATEGIES: readonly AllocateStrategy[] = ['cdi', 'device-specs', 'annotations'];

export interface ResourceOptions {
  /** Extended resource advertised to kubelet, e.g. nvidia.com/gpu. */
  resourceName: string;
  /** Whose devices this resource counts. */
  vendor: VendorName;
  /** CDI kind of the spec describing these devices; defaults to the vendor's default kind. */
  cdiKind: string;
  /** Time-slicing: each device is advertised this many times; 1 turns it off. */
  replicas: number;
}

export interface DevicePluginSettings {
  kubeletDir: string;
  strategies: AllocateStrategy[];
  resources: ResourceOptions[];
}

export type ResourceInput = Pick<ResourceOptions, 'resourceName' | 'vendor'> & Partial<Pick<ResourceOptions, 'cdiKind' | 'replicas'>>;

export interface DevicePluginSettingsInput {
  /** Default /var/lib/kubelet/device-plugins. */
  kubeletDir?: string;
  /** Default ['cdi']. */
  strategies?: readonly string[];
  /**
   * Default nvidia.com/gpu for NVIDIA and aliyun.com/npu for Hanguang. An
   * operator whose node already runs Alibaba's own NPU plugin leaves the NPU
   * resource out (or renames it) so the two never advertise the same name.
   */
  resources?: readonly ResourceInput[];
}

export const DEFAULT_RESOURCES: readonly ResourceOptions[] = Object.freeze([
  Object.freeze({ resourceName: 'nvidia.com/gpu', vendor: 'nvidia', cdiKind: 'nvidia.com/gpu', replicas: 1 }),
  Object.freeze({ resourceName: 'aliyun.com/npu', vendor: 'hanguang', cdiKind: 'aliyun.com/npu', replicas: 1 }),
] as const);

const MAX_REPLICAS = 1024;
const VENDORS: readonly VendorName[] = ['nvidia', 'hanguang'];
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const RESOURCE_LOCAL_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const ANNOTATION_KEY_MAX = 63;

/** Why kubelet would refuse `name` as an extended resource, or null when it is acceptable. */
export function resourceNameProblem(name: string): string | null {
  if (typeof name !== 'string') return 'is not a string';
  const slash = name.indexOf('/');
  if (slash < 0 || slash !== name.lastIndexOf('/')) return 'must be domain/name';
  const domain = name.slice(0, slash);
  const local = name.slice(slash + 1);
  if (domain.length > 253 || !domain.includes('.') || !domain.split('.').every((l) => DNS_LABEL.test(l))) {
    return 'must have a lower-case DNS domain with a dot before the "/"';
  }
  // Names under kubernetes.io are native resources, never extended ones.
  if (domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io')) return 'must not be in the kubernetes.io domain';
  if (!RESOURCE_LOCAL_NAME.test(local)) return 'must end in a name of up to 63 letters, digits, "-", "_" or "."';
  return null;
}

/** `accel-nvidia-com-gpu.sock` for nvidia.com/gpu: one socket per resource, safe as a file name. */
export function pluginSocketName(resourceName: string): string {
  return `accel-${resourceName.replace(/[/.]/g, '-')}.sock`;
}

/** The annotation key the `annotations` strategy writes for a resource. */
export function annotationKey(resourceName: string): string {
  return `${CDI_ANNOTATION_PREFIX}accel-agent_${resourceName.replace('/', '_')}`;
}

function invalid(message: string, key: string): AccelError {
  return new AccelError(ErrorCode.CONFIG_INVALID, message, { details: { key } });
}

export function resolvePluginSettings(input: DevicePluginSettingsInput = {}): DevicePluginSettings {
  const kubeletDir = input.kubeletDir ?? DEFAULT_KUBELET_DIR;
  if (!kubeletDir.startsWith('/') || kubeletDir.includes('\0') || kubeletDir.split('/').includes('..')) {
    throw invalid(`kubelet directory ${JSON.stringify(kubeletDir)}: expected an absolute path without ".."`, 'kubeletDir');
  }

  const strategies: AllocateStrategy[] = [];
  for (const s of input.strategies ?? ['cdi']) {
    if (!(ALLOCATE_STRATEGIES as readonly string[]).includes(s)) {
      throw invalid(`allocate strategy ${JSON.stringify(s)}: expected one of ${ALLOCATE_STRATEGIES.join(', ')}`, 'strategies');
    }
    if (!strategies.includes(s as AllocateStrategy)) strategies.push(s as AllocateStrategy);
  }
  if (strategies.length === 0) throw invalid('at least one allocate strategy is needed', 'strategies');

  const resources: ResourceOptions[] = [];
  for (const [i, r] of (input.resources ?? DEFAULT_RESOURCES).entries()) {
    const where = `resources[${i}]`;
    const problem = resourceNameProblem(r.resourceName);
    if (problem !== null) throw invalid(`${where}: resource name ${JSON.stringify(r.resourceName)} ${problem}`, where);
    if (resources.some((x) => x.resourceName === r.resourceName)) throw invalid(`${where}: resource ${r.resourceName} is listed twice`, where);
    if (!VENDORS.includes(r.vendor)) throw invalid(`${where}: vendor ${JSON.stringify(r.vendor)}: expected one of ${VENDORS.join(', ')}`, where);
    if (resources.some((x) => x.vendor === r.vendor)) throw invalid(`${where}: vendor ${r.vendor} already has a resource`, where);
    // Renaming a resource (e.g. to nvidia.com/gpu.shared for time-slicing) does not rename the spec's kind.
    const cdiKind = r.cdiKind ?? DEFAULT_RESOURCES.find((d) => d.vendor === r.vendor)!.cdiKind;
    try {
      parseKind(cdiKind);
    } catch {
      throw invalid(`${where}: CDI kind ${JSON.stringify(cdiKind)}: expected vendor.com/class`, where);
    }
    const replicas = r.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
      throw invalid(`${where}: replicas ${JSON.stringify(replicas)}: expected an integer from 1 to ${MAX_REPLICAS}`, where);
    }
    if (strategies.includes('annotations')) {
      const key = annotationKey(r.resourceName).slice(CDI_ANNOTATION_PREFIX.length);
      // The key holds only characters a resource name allows, so length is the one limit left.
      if (key.length > ANNOTATION_KEY_MAX) {
        throw invalid(`${where}: resource ${r.resourceName} is too long for a CDI annotation key (${key.length} > ${ANNOTATION_KEY_MAX})`, where);
      }
    }
    resources.push({ resourceName: r.resourceName, vendor: r.vendor, cdiKind, replicas });
  }
  return { kubeletDir, strategies, resources };
}
