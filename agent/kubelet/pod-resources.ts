/**
 * Which pod holds each device, read from kubelet's pod-resources API
 * (`v1.PodResourcesLister/List` on the pod-resources socket), so telemetry
 * can carry the owner the way dcgm-exporter does. The mapping is pure
 * (`deviceOwners`); the client only fetches, and never throws: a node without
 * kubelet, or with the directory not mounted, simply has no owners.
 */
import { stat } from 'node:fs/promises';
import { Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import { describeError } from '../errors.js';
import { PodResourcesListerClient, type ListPodResourcesResponse } from './gen/podresources/v1/api.js';
import { REPLICA_SEPARATOR } from './replicas.js';

export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';

export interface DeviceOwner {
  pod: string;
  namespace: string;
  container: string;
}

/** Owners by device id (the physical device, replica suffixes removed). */
export type DeviceOwners = Map<string, DeviceOwner>;

export interface OwnerLookup {
  owners: DeviceOwners;
  /** Why the owners are empty when the lookup failed; null when kubelet answered. */
  problem: string | null;
}

/** `<id>::<n>` (a time-slicing replica, see replicas.ts) back to `<id>`; other ids as they are. */
export function physicalDeviceId(advertisedId: string): string {
  const at = advertisedId.lastIndexOf(REPLICA_SEPARATOR);
  return at > 0 && /^\d+$/.test(advertisedId.slice(at + REPLICA_SEPARATOR.length)) ? advertisedId.slice(0, at) : advertisedId;
}

/**
 * Maps kubelet's answer to one owner per device. With time-slicing several
 * containers share a device; their names are then joined with commas in the
 * same (sorted) order in every label, so the n-th pod, namespace and
 * container still belong together and the labels do not flap between ticks.
 * Kubelet also lists devices of other plugins; they are kept, since their ids
 * never match one of ours and cost nothing.
 */
export function deviceOwners(response: ListPodResourcesResponse): DeviceOwners {
  const holders = new Map<string, Map<string, DeviceOwner>>();
  for (const pod of response.podResources) {
    for (const container of pod.containers) {
      for (const devices of container.devices) {
        for (const id of devices.deviceIds) {
          const owner = { pod: pod.name, namespace: pod.namespace, container: container.name };
          const key = physicalDeviceId(id);
          let byOwner = holders.get(key);
          if (!byOwner) holders.set(key, (byOwner = new Map()));
          // Two replicas of one device in the same container count once.
          byOwner.set(`${owner.namespace}\0${owner.pod}\0${owner.container}`, owner);
        }
      }
    }
  }
  const owners: DeviceOwners = new Map();
  for (const [id, byOwner] of holders) {
    const sorted = [...byOwner.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
    owners.set(id, {
      pod: sorted.map((o) => o.pod).join(','),
      namespace: sorted.map((o) => o.namespace).join(','),
      container: sorted.map((o) => o.container).join(','),
    });
  }
  return owners;
}

export interface PodResourcesClientOptions {
  /** How long one List may take; a hung kubelet must not stall the sampling tick for long. */
  deadlineMs?: number;
}

export class PodResourcesClient {
  private readonly deadlineMs: number;

  constructor(
    readonly socketPath: string,
    options: PodResourcesClientOptions = {},
  ) {
    this.deadlineMs = options.deadlineMs ?? 2000;
  }

  /** Owners by device id; empty when kubelet cannot be asked (see `lookup` for why). */
  async listDeviceOwners(): Promise<DeviceOwners> {
    return (await this.lookup()).owners;
  }

  /** Owners, or empty owners and the reason; never rejects. */
  async lookup(): Promise<OwnerLookup> {
    try {
      const s = await stat(this.socketPath);
      if (!s.isSocket()) return { owners: new Map(), problem: `${this.socketPath} is not a socket` };
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      return {
        owners: new Map(),
        problem: missing
          ? `pod-resources socket ${this.socketPath} does not exist (no kubelet on this node, or its pod-resources directory is not mounted)`
          : `pod-resources socket ${this.socketPath}: ${describeError(err)}`,
      };
    }
    try {
      return { owners: deviceOwners(await this.list()), problem: null };
    } catch (err) {
      return { owners: new Map(), problem: `pod-resources List on ${this.socketPath} failed: ${(err as ServiceError).details || describeError(err)}` };
    }
  }

  /**
   * One List on a fresh channel, closed afterwards. Lookups are seconds apart,
   * and a long-lived channel would sit in reconnect backoff for up to minutes
   * after kubelet restarts and recreates the socket.
   */
  private list(): Promise<ListPodResourcesResponse> {
    const client = new PodResourcesListerClient(`unix:${this.socketPath}`, credentials.createInsecure());
    return new Promise<ListPodResourcesResponse>((resolve, reject) => {
      client.list({}, new Metadata(), { deadline: Date.now() + this.deadlineMs }, (err, response) => (err ? reject(err) : resolve(response)));
    }).finally(() => client.close());
  }
}

/**
 * Owners refreshed at most once per `ttlMs`, so a fast sampling interval does
 * not turn into a List call on kubelet every tick. `changed` tells the caller
 * when the owners differ from the last refresh (to re-describe devices).
 */
export class DeviceOwnerCache {
  private owners: DeviceOwners = new Map();
  private fetchedAt = -Infinity;
  private lastProblem: string | null = null;

  constructor(
    private readonly lookup: () => Promise<OwnerLookup>,
    private readonly ttlMs = 5000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async get(): Promise<{ owners: DeviceOwners; changed: boolean; problem: string | null; problemChanged: boolean }> {
    if (this.now() - this.fetchedAt < this.ttlMs) return { owners: this.owners, changed: false, problem: this.lastProblem, problemChanged: false };
    const result = await this.lookup();
    this.fetchedAt = this.now();
    const changed = !sameOwners(this.owners, result.owners);
    const problemChanged = result.problem !== this.lastProblem;
    this.owners = result.owners;
    this.lastProblem = result.problem;
    return { owners: this.owners, changed, problem: result.problem, problemChanged };
  }
}

export function sameOwners(a: DeviceOwners, b: DeviceOwners): boolean {
  if (a.size !== b.size) return false;
  for (const [id, o] of a) {
    const p = b.get(id);
    if (!p || p.pod !== o.pod || p.namespace !== o.namespace || p.container !== o.container) return false;
  }
  return true;
}
