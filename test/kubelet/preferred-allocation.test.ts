import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { pciBusKey, preferredAllocation, type Placement } from '../../agent/kubelet/preferred-allocation.js';
import { seededRandom } from '../helpers/seeded-random.js';

/** gn5-like: four GPUs per NUMA node, on buses 01-04 and 81-84. */
const gn5: Placement[] = [0x01, 0x02, 0x03, 0x04, 0x81, 0x82, 0x83, 0x84].map((bus, i) => ({
  id: `gpu-${bus.toString(16).padStart(2, '0')}`,
  deviceId: `gpu-${bus.toString(16).padStart(2, '0')}`,
  replica: 0,
  numaNode: i < 4 ? 0 : 1,
  pciBusId: `0000:${bus.toString(16).padStart(2, '0')}:00.0`,
}));

function lookup(list: readonly Placement[]) {
  const byId = new Map(list.map((p) => [p.id, p]));
  return (id: string) => byId.get(id);
}

function prefer(list: readonly Placement[], size: number, mustInclude: string[] = [], available = list.map((p) => p.id)) {
  return preferredAllocation({ available, mustInclude, size }, lookup(list));
}

const invalid = { code: ErrorCode.ALLOCATE_INVALID };

t.test('packs onto one NUMA node, adjacent on the bus', async (t) => {
  t.same(prefer(gn5, 2), ['gpu-01', 'gpu-02']);
  t.same(prefer(gn5, 4), ['gpu-01', 'gpu-02', 'gpu-03', 'gpu-04']);
  t.same(prefer(gn5, 1), ['gpu-01']);
});

t.test('must-include devices are always in the answer and pull the rest to their NUMA node', async (t) => {
  t.same(prefer(gn5, 2, ['gpu-83']), ['gpu-82', 'gpu-83'], 'nearest neighbour on the same node');
  t.same(prefer(gn5, 3, ['gpu-84']), ['gpu-82', 'gpu-83', 'gpu-84']);
  t.same(prefer(gn5, 2, ['gpu-04', 'gpu-81']), ['gpu-04', 'gpu-81'], 'exactly the must-include set when it fills the size');
  const spanning = prefer(gn5, 4, ['gpu-01', 'gpu-84']);
  t.same(spanning, ['gpu-01', 'gpu-02', 'gpu-03', 'gpu-84'], 'nearest on the bus to either must-include device, earliest on a tie');
});

t.test('chooses the NUMA node that fits the request most tightly', async (t) => {
  // Node 0 has three free devices, node 1 four.
  const available = gn5.map((p) => p.id).filter((id) => id !== 'gpu-02');
  t.same(prefer(gn5, 3, [], available), ['gpu-01', 'gpu-03', 'gpu-04'], 'three fit node 0 exactly');
  t.same(prefer(gn5, 4, [], available), ['gpu-81', 'gpu-82', 'gpu-83', 'gpu-84'], 'four fit only node 1');
  t.same(prefer(gn5, 5, [], available), ['gpu-01', 'gpu-81', 'gpu-82', 'gpu-83', 'gpu-84'], 'too many for one node: the largest node first');
});

t.test('the answer depends on the set, never on the order ids arrive in', async (t) => {
  const random = seededRandom(7);
  const ids = gn5.map((p) => p.id);
  for (const [size, must] of [
    [3, []],
    [5, ['gpu-83']],
    [6, ['gpu-02', 'gpu-84']],
  ] as Array<[number, string[]]>) {
    const expected = prefer(gn5, size, must);
    for (let i = 0; i < 20; i++) {
      const shuffled = [...ids].sort(() => random() - 0.5);
      t.same(prefer(gn5, size, [...must].reverse(), shuffled), expected);
    }
  }
  t.pass('stable under 60 shuffles');
});

t.test('PCI locality decides when no NUMA node is known', async (t) => {
  const npus: Placement[] = [0x10, 0x11, 0x40, 0x41, 0x42].map((bus) => ({
    id: `npu-${bus.toString(16)}`,
    deviceId: `npu-${bus.toString(16)}`,
    replica: 0,
    numaNode: null,
    pciBusId: `0000:${bus.toString(16)}:00.0`,
  }));
  t.same(prefer(npus, 3), ['npu-40', 'npu-41', 'npu-42'], 'the tightest run, not the first three');
  t.same(prefer(npus, 2), ['npu-10', 'npu-11'], 'earliest among equally tight runs');
  t.same(prefer(npus, 2, ['npu-42']), ['npu-41', 'npu-42']);
});

t.test('time-slicing: distinct devices first, then the least shared', async (t) => {
  const replicas: Placement[] = gn5.slice(0, 2).flatMap((p) =>
    [0, 1, 2, 3].map((n) => ({ ...p, id: `${p.deviceId}::${n}`, replica: n })),
  );
  t.same(prefer(replicas, 2), ['gpu-01::0', 'gpu-02::0']);
  t.same(prefer(replicas, 3, ['gpu-01::2']), ['gpu-01::0', 'gpu-01::2', 'gpu-02::0']);
  const busy = replicas.map((p) => p.id).filter((id) => !['gpu-02::0', 'gpu-02::1'].includes(id));
  t.same(prefer(replicas, 3, [], busy), ['gpu-01::0', 'gpu-01::1', 'gpu-02::2'], 'shares the device with more replicas free');
});

t.test('ids without a known placement (a device that just left) are usable, ranked last', async (t) => {
  const available = [...gn5.slice(0, 1).map((p) => p.id), 'ghost-a', 'ghost-b'];
  t.same(prefer(gn5, 2, [], available), ['gpu-01', 'ghost-a']);
  t.same(prefer(gn5, 1, ['ghost-b'], available), ['ghost-b']);
});

t.test('impossible requests are refused', async (t) => {
  t.throws(() => prefer(gn5, 9), { ...invalid, message: /larger than the 8 available/ });
  t.throws(() => prefer(gn5, 2, [], ['gpu-01', 'gpu-01']), { ...invalid, message: /larger than the 1 available/ }, 'duplicates count once');
  t.throws(() => prefer(gn5, 0), { ...invalid, message: /positive integer/ });
  t.throws(() => prefer(gn5, -1), invalid);
  t.throws(() => prefer(gn5, 1.5), invalid);
  t.throws(() => prefer(gn5, 1, ['gpu-01', 'gpu-02']), { ...invalid, message: /2 devices must be included in an allocation of 1/ });
  t.throws(() => prefer(gn5, 2, ['gpu-99']), { ...invalid, message: /not among the available/ });
});

t.test('PCI bus keys order by domain, bus, device, function; garbage sorts last', async (t) => {
  t.ok(pciBusKey('0000:01:00.0') < pciBusKey('0000:01:00.1'));
  t.ok(pciBusKey('0000:01:1f.7') < pciBusKey('0000:02:00.0'));
  t.ok(pciBusKey('0000:ff:1f.7') < pciBusKey('0001:00:00.0'));
  t.equal(pciBusKey('00000000:81:00.0'), pciBusKey('0000:81:00.0'), 'NVML spelling');
  t.equal(pciBusKey('garbage'), Number.MAX_SAFE_INTEGER);
  t.equal(pciBusKey(''), Number.MAX_SAFE_INTEGER);
});
