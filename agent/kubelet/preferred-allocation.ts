/**
 * GetPreferredAllocation (pure): which of the available ids a container
 * should get. Kubelet's must-include ids are always in the answer; the rest
 * are packed onto as few NUMA nodes as possible, then kept close on the PCI
 * bus (devices behind nearby bus numbers usually share a switch or root
 * complex). With time-slicing, distinct physical devices come first, and a
 * device is shared only when there are not enough of them, the least shared
 * first. The answer depends only on the set of ids, never on their order.
 */
import { AccelError, ErrorCode } from '../errors.js';
import { canonicalPciBusId } from '../model/device.js';

/** Where an advertised id sits. */
export interface Placement {
  id: string;
  /** The physical device; equal to `id` without time-slicing. */
  deviceId: string;
  replica: number;
  numaNode: number | null;
  pciBusId: string;
}

export interface PreferenceRequest {
  available: readonly string[];
  mustInclude: readonly string[];
  size: number;
}

interface Unit {
  first: Placement;
  /** False for an id without a placement: it is chosen only when known devices run out. */
  known: boolean;
  /** Available ids of this device not yet chosen, lowest replica first. */
  free: Placement[];
  bus: number;
  numa: string;
}

const UNKNOWN_BUS = Number.MAX_SAFE_INTEGER;
const NO_NUMA = 'none';

function refuse(message: string): AccelError {
  return new AccelError(ErrorCode.ALLOCATE_INVALID, message);
}

/** A number ordering PCI addresses so that neighbours on a bus are close; unknown addresses sort last. */
export function pciBusKey(pciBusId: string): number {
  try {
    const [domain, bus, devfn] = canonicalPciBusId(pciBusId).split(':') as [string, string, string];
    const [dev, fn] = devfn.split('.') as [string, string];
    return parseInt(domain, 16) * 65536 + parseInt(bus, 16) * 256 + parseInt(dev, 16) * 8 + Number(fn);
  } catch {
    return UNKNOWN_BUS;
  }
}

const numaKey = (p: Placement): string => (p.numaNode === null || !Number.isInteger(p.numaNode) || p.numaNode < 0 ? NO_NUMA : String(p.numaNode));
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const compareUnits = (a: Unit, b: Unit) => a.bus - b.bus || compareText(a.first.deviceId, b.first.deviceId);
const comparePlacements = (a: Placement, b: Placement) =>
  pciBusKey(a.pciBusId) - pciBusKey(b.pciBusId) || compareText(a.deviceId, b.deviceId) || a.replica - b.replica || compareText(a.id, b.id);
/** Known NUMA nodes in number order, devices without one last. */
const compareNuma = (a: string, b: string) => (a === b ? 0 : a === NO_NUMA ? 1 : b === NO_NUMA ? -1 : Number(a) - Number(b));

function distance(a: number, b: number): number {
  return a === UNKNOWN_BUS || b === UNKNOWN_BUS ? UNKNOWN_BUS : Math.abs(a - b);
}

/**
 * The preferred ids, sorted in bus order. `placementOf` describes an id; an
 * id it does not know (a device that just left) is still usable, but has no
 * topology to rank it by.
 */
export function preferredAllocation(request: PreferenceRequest, placementOf: (id: string) => Placement | undefined): string[] {
  const available = [...new Set(request.available)];
  const must = [...new Set(request.mustInclude)];
  const size = request.size;
  if (!Number.isInteger(size) || size < 1) throw refuse(`allocation size ${size} is not a positive integer`);
  if (size > available.length) throw refuse(`allocation size ${size} is larger than the ${available.length} available devices`);
  if (must.length > size) throw refuse(`${must.length} devices must be included in an allocation of ${size}`);
  const availableSet = new Set(available);
  const stray = must.find((id) => !availableSet.has(id));
  if (stray !== undefined) throw refuse(`must-include device ${JSON.stringify(stray.slice(0, 300))} is not among the available devices`);

  const unknown = new Set<string>();
  const place = (id: string): Placement => {
    const found = placementOf(id);
    if (found !== undefined) return found;
    unknown.add(id);
    return { id, deviceId: id, replica: 0, numaNode: null, pciBusId: '' };
  };
  const chosen = must.map(place);
  const anchors = new Map<string, Placement>(chosen.map((p) => [p.deviceId, p]));

  const units = new Map<string, Unit>();
  const mustSet = new Set(must);
  for (const p of available.filter((id) => !mustSet.has(id)).map(place).sort(comparePlacements)) {
    const unit = units.get(p.deviceId);
    if (unit === undefined) units.set(p.deviceId, { first: p, known: !unknown.has(p.id), free: [p], bus: pciBusKey(p.pciBusId), numa: numaKey(p) });
    else unit.free.push(p);
  }

  let need = size - chosen.length;
  // Distinct physical devices first, known ones before those without a placement.
  const fresh = [...units.values()].filter((u) => !anchors.has(u.first.deviceId)).sort(compareUnits);
  for (const group of [fresh.filter((u) => u.known), fresh.filter((u) => !u.known)]) {
    for (const unit of packDevices(group, [...anchors.values()], need)) {
      const p = unit.free.shift()!;
      chosen.push(p);
      anchors.set(p.deviceId, p);
      need--;
    }
  }
  // Then share devices, the ones with the most replicas still free first.
  while (need > 0) {
    const unit = [...units.values()].filter((u) => u.free.length > 0).sort((a, b) => b.free.length - a.free.length || compareUnits(a, b))[0]!;
    chosen.push(unit.free.shift()!);
    need--;
  }
  return chosen.sort(comparePlacements).map((p) => p.id);
}

/**
 * Picks `count` devices: next to the anchors' NUMA nodes first (closest on
 * the bus), otherwise from the NUMA node that fits what is still needed most
 * tightly (or the largest one when none fits), as a run of devices spanning
 * the fewest bus numbers.
 */
function packDevices(units: readonly Unit[], anchors: readonly Placement[], count: number): Unit[] {
  const picked: Unit[] = [];
  const pool = [...units];
  const anchorList = anchors.map((p) => ({ numa: numaKey(p), bus: pciBusKey(p.pciBusId) }));
  const take = (unit: Unit) => {
    picked.push(unit);
    pool.splice(pool.indexOf(unit), 1);
    anchorList.push({ numa: unit.numa, bus: unit.bus });
  };

  while (picked.length < count && pool.length > 0) {
    const left = count - picked.length;
    const usedNuma = new Set(anchorList.map((a) => a.numa));
    const near = pool.filter((u) => usedNuma.has(u.numa));
    if (near.length > 0) {
      const gap = (u: Unit) => Math.min(...anchorList.filter((a) => a.numa === u.numa).map((a) => distance(a.bus, u.bus)));
      take(near.reduce((best, u) => (gap(u) < gap(best) ? u : best)));
      continue;
    }
    const groups = new Map<string, Unit[]>();
    for (const u of pool) groups.set(u.numa, [...(groups.get(u.numa) ?? []), u]);
    const ranked = [...groups.entries()].sort(([a], [b]) => compareNuma(a, b));
    const fitting = ranked.filter(([, g]) => g.length >= left).sort(([, a], [, b]) => a.length - b.length);
    const group = fitting[0]?.[1] ?? ranked.sort(([, a], [, b]) => b.length - a.length)[0]![1];
    for (const unit of tightestRun(group, Math.min(left, group.length))) take(unit);
  }
  return picked;
}

/** The `n` consecutive devices (in bus order) spanning the fewest bus numbers; the earliest on a tie. */
function tightestRun(sorted: readonly Unit[], n: number): Unit[] {
  let start = 0;
  let best = Infinity;
  for (let i = 0; i + n <= sorted.length; i++) {
    const span = distance(sorted[i]!.bus, sorted[i + n - 1]!.bus);
    if (span < best) {
      best = span;
      start = i;
    }
  }
  return sorted.slice(start, start + n);
}
