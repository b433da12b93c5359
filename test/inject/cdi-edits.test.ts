import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { editsFor, mergeEdits } from '../../agent/inject/cdi-edits.js';
import { buildCdiSpec, OWNER_ENV } from '../../agent/inject/cdi-spec.js';

const unknown = { code: ErrorCode.UNKNOWN_DEVICE };
const lib = { hostPath: '/usr/lib64/libcuda.so.550', containerPath: '/usr/lib64/libcuda.so.1', options: ['ro', 'nosuid', 'nodev', 'rbind'] };
const spec = buildCdiSpec({
  kind: 'nvidia.com/gpu',
  devices: [
    { names: ['0', 'GPU-a'], deviceNodes: [{ path: '/dev/nvidia0', type: 'c', major: 195, minor: 0 }] },
    { names: ['1', 'GPU-b'], deviceNodes: [{ path: '/dev/nvidia1', type: 'c', major: 195, minor: 1 }] },
  ],
  allName: 'all',
  containerEdits: { deviceNodes: [{ path: '/dev/nvidiactl', type: 'c', major: 195, minor: 255 }], mounts: [lib] },
});

t.test('one device: shared edits plus its own node', async (t) => {
  t.same(editsFor(spec, ['1']), {
    env: [OWNER_ENV],
    deviceNodes: [
      { path: '/dev/nvidiactl', type: 'c', major: 195, minor: 255 },
      { path: '/dev/nvidia1', type: 'c', major: 195, minor: 1 },
    ],
    mounts: [lib],
  });
});

t.test('several devices: shared edits once, nodes in request order', async (t) => {
  const edits = editsFor(spec, ['GPU-b', '0']);
  t.same(edits.deviceNodes?.map((n) => n.path), ['/dev/nvidiactl', '/dev/nvidia1', '/dev/nvidia0']);
  t.equal(edits.mounts?.length, 1);
  t.equal(edits.env?.length, 1);
});

t.test('overlapping requests (all plus one) do not duplicate nodes', async (t) => {
  t.same(editsFor(spec, ['all', '0']).deviceNodes?.map((n) => n.path), ['/dev/nvidiactl', '/dev/nvidia0', '/dev/nvidia1']);
});

t.test('nothing requested gives no edits', async (t) => {
  t.same(editsFor(spec, []), {});
});

t.test('an unknown or repeated name is refused, naming the device', async (t) => {
  t.throws(() => editsFor(spec, ['7']), { ...unknown, message: /nvidia.com\/gpu has no device named "7"/ });
  t.throws(() => editsFor(spec, ['../0']), unknown);
  t.throws(() => editsFor(spec, ['nvidia.com/gpu=0']), unknown, 'names are plain, not qualified');
  t.throws(() => editsFor(spec, ['0', '0']), { ...unknown, message: /requested twice/ });
});

t.test('merging: last env value wins, first node and mount per path, hooks and gids de-duplicated', async (t) => {
  const hook = { hookName: 'createContainer' as const, path: '/usr/bin/true' };
  const merged = mergeEdits([
    { env: ['A=1', 'B=2', 'FLAG'], deviceNodes: [{ path: '/dev/a', major: 1 }], mounts: [{ hostPath: '/x', containerPath: '/c' }], hooks: [hook], additionalGids: [44] },
    { env: ['A=3'], deviceNodes: [{ path: '/dev/a', major: 2 }], mounts: [{ hostPath: '/y', containerPath: '/c' }], hooks: [{ ...hook }], additionalGids: [44, 45] },
  ]);
  t.same(merged, {
    env: ['B=2', 'FLAG', 'A=3'],
    deviceNodes: [{ path: '/dev/a', major: 1 }],
    mounts: [{ hostPath: '/x', containerPath: '/c' }],
    hooks: [hook],
    additionalGids: [44, 45],
  });
  t.same(mergeEdits([{}, { env: [] }]), {}, 'empty lists are dropped');
});

t.test('the result is a copy: editing it leaves the spec alone', async (t) => {
  const edits = editsFor(spec, ['0']);
  edits.deviceNodes![0]!.path = '/dev/changed';
  edits.mounts![0]!.options!.push('rw');
  t.equal(spec.containerEdits?.deviceNodes?.[0]?.path, '/dev/nvidiactl');
  t.same(spec.containerEdits?.mounts?.[0]?.options, ['ro', 'nosuid', 'nodev', 'rbind']);
});
