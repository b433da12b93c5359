/**
 * Allocate (pure): checks every id kubelet asks for, then answers each
 * container with what the configured strategies need. A request with any
 * bad id is refused whole, so kubelet never gets a partial answer it could
 * start a container with.
 */
import { AccelError, ErrorCode } from '../errors.js';
import { editsFor } from '../inject/cdi-edits.js';
import type { CdiSpec, ContainerEdits } from '../inject/container-edits.js';
import type { Device } from '../model/device.js';
import type { AdvertisedDevice } from './device-list.js';
import type { AllocateRequest, AllocateResponse, ContainerAllocateResponse, DeviceSpec, Mount } from './gen/v1beta1/api.js';
import { annotationKey, type AllocateStrategy, type ResourceOptions } from './options.js';

/** Kubelet asks for devices one container at a time; a few hundred ids is already absurd. */
const MAX_IDS_PER_REQUEST = 4096;
/** Device nodes get read and write; mknod stays denied, as the cgroup default for containers. */
const DEVICE_PERMISSIONS = 'rw';

export interface AllocationContext {
  resource: Pick<ResourceOptions, 'resourceName' | 'cdiKind'>;
  strategies: readonly AllocateStrategy[];
  /** What the plugin advertises right now, by advertised id. */
  advertised: ReadonlyMap<string, AdvertisedDevice>;
  /**
   * The CDI spec of the resource's kind. `undefined` when the plugin has no
   * spec source (names are then handed out unchecked); null when the source
   * has no spec for the kind yet.
   */
  spec: CdiSpec | null | undefined;
}

export type RefusalReason = 'empty' | 'too-many' | 'unknown' | 'unhealthy' | 'duplicate';

function refuse(reason: RefusalReason, message: string, details: Record<string, unknown> = {}): AccelError {
  return new AccelError(ErrorCode.ALLOCATE_INVALID, message, { details: { reason, ...details } });
}

/** The physical devices of each container, in request order, after every id has been checked. */
export function resolveRequest(ctx: Pick<AllocationContext, 'resource' | 'advertised'>, request: AllocateRequest): Device[][] {
  const { resourceName } = ctx.resource;
  const containers = request.containerRequests ?? [];
  if (containers.length === 0) throw refuse('empty', `Allocate for ${resourceName} names no container`);
  const total = containers.reduce((n, c) => n + (c.devicesIds?.length ?? 0), 0);
  if (total > MAX_IDS_PER_REQUEST) throw refuse('too-many', `Allocate for ${resourceName} names ${total} devices, more than ${MAX_IDS_PER_REQUEST}`);

  // Ids are unique across the whole request: kubelet never gives one device to two containers.
  const seen = new Set<string>();
  return containers.map((c, i) => {
    const ids = c.devicesIds ?? [];
    if (ids.length === 0) throw refuse('empty', `Allocate for ${resourceName}: container request ${i} names no device`, { container: i });
    const devices: Device[] = [];
    for (const id of ids) {
      if (seen.has(id)) throw refuse('duplicate', `Allocate for ${resourceName}: device ${JSON.stringify(id)} is requested twice`, { id });
      seen.add(id);
      const entry = ctx.advertised.get(id);
      if (entry === undefined) {
        throw refuse('unknown', `Allocate for ${resourceName}: no device ${JSON.stringify(id.slice(0, 300))} is advertised`, { id: id.slice(0, 300) });
      }
      if (entry.device.health !== 'Healthy') {
        const why = entry.device.healthReason === '' ? '' : ` (${entry.device.healthReason})`;
        throw refuse('unhealthy', `Allocate for ${resourceName}: device ${id} is unhealthy${why}`, { id });
      }
      // Replicas of one device collapse into it: the container gets the device once.
      if (!devices.some((d) => d.id === entry.device.id)) devices.push(entry.device);
    }
    return devices;
  });
}

export function allocate(ctx: AllocationContext, request: AllocateRequest): AllocateResponse {
  const perContainer = resolveRequest(ctx, request);
  return { containerResponses: perContainer.map((devices) => containerResponse(ctx, devices)) };
}

function containerResponse(ctx: AllocationContext, devices: readonly Device[]): ContainerAllocateResponse {
  const { cdiKind, resourceName } = ctx.resource;
  const names = devices.map((d) => d.id);
  const qualified = names.map((n) => `${cdiKind}=${n}`);
  const edits = specEdits(ctx, names);
  const out: ContainerAllocateResponse = { envs: {}, mounts: [], devices: [], annotations: {}, cdiDevices: [] };
  for (const strategy of ctx.strategies) {
    switch (strategy) {
      case 'cdi':
        out.cdiDevices = qualified.map((name) => ({ name }));
        break;
      case 'annotations':
        out.annotations[annotationKey(resourceName)] = qualified.join(',');
        break;
      case 'device-specs': {
        if (edits === null) {
          throw new AccelError(ErrorCode.CDI_INVALID, `Allocate for ${resourceName}: device specs need the CDI spec of ${cdiKind}, and the plugin has no spec source`);
        }
        const spelled = spelledOut(edits, cdiKind);
        out.devices = spelled.devices;
        out.mounts = spelled.mounts;
        out.envs = spelled.envs;
        break;
      }
    }
  }
  return out;
}

/**
 * The merged edits for the devices, as a CDI runtime would apply them; null
 * when there is no spec source. Checking names against the spec before
 * answering turns a device the spec left out (no usable node) into a clear
 * refusal now rather than a container that fails to start later.
 */
function specEdits(ctx: AllocationContext, names: readonly string[]): ContainerEdits | null {
  if (ctx.spec === undefined) return null;
  if (ctx.spec === null) {
    throw new AccelError(ErrorCode.CDI_INVALID, `Allocate for ${ctx.resource.resourceName}: no CDI spec for ${ctx.resource.cdiKind} has been generated`);
  }
  return editsFor(ctx.spec, names);
}

export interface SpelledOutEdits {
  devices: DeviceSpec[];
  mounts: Mount[];
  envs: Record<string, string>;
}

/**
 * CDI edits in the device plugin's own vocabulary. Kubelet's Mount has only
 * a read-only flag, so the spec's nosuid/nodev options cannot travel; hooks
 * and extra groups cannot be expressed at all and are refused rather than
 * silently dropped.
 */
export function spelledOut(edits: ContainerEdits, kind: string): SpelledOutEdits {
  if ((edits.hooks?.length ?? 0) > 0 || (edits.additionalGids?.length ?? 0) > 0) {
    throw new AccelError(ErrorCode.CDI_INVALID, `the CDI spec of ${kind} has hooks or extra groups, which device specs cannot carry; use the cdi strategy`);
  }
  const envs: Record<string, string> = {};
  for (const entry of edits.env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) envs[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return {
    devices: (edits.deviceNodes ?? []).map((n) => ({ containerPath: n.path, hostPath: n.hostPath ?? n.path, permissions: n.permissions ?? DEVICE_PERMISSIONS })),
    mounts: (edits.mounts ?? []).map((m) => ({ containerPath: m.containerPath, hostPath: m.hostPath, readOnly: (m.options ?? []).includes('ro') })),
    envs,
  };
}
