import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { OWNER_ENV } from '../../agent/inject/cdi-spec.js';
import type { CdiSpec } from '../../agent/inject/container-edits.js';
import { allocate, resolveRequest, spelledOut, type AllocationContext } from '../../agent/kubelet/allocate.js';
import { advertisedDevices } from '../../agent/kubelet/device-list.js';
import type { AllocateStrategy } from '../../agent/kubelet/options.js';
import { LIBCUDA, NVIDIACTL, specFor } from '../helpers/kubelet-fixtures.js';
import { gpu } from '../helpers/sample-inventory.js';

const KIND = 'nvidia.com/gpu';
const devices = [gpu(0), gpu(1), gpu(2, { health: 'Unhealthy', healthReason: 'Xid 79' })];
const ids = devices.map((d) => d.id);

function ctx(strategies: AllocateStrategy[], o: { replicas?: number; spec?: CdiSpec | null } = {}): AllocationContext {
  const advertised = advertisedDevices(devices, { vendor: 'nvidia', replicas: o.replicas ?? 1 });
  return {
    resource: { resourceName: KIND, cdiKind: KIND },
    strategies,
    advertised: new Map(advertised.map((a) => [a.id, a])),
    spec: o.spec === undefined ? specFor(KIND, devices) : o.spec,
  };
}

const request = (...containers: string[][]) => ({ containerRequests: containers.map((devicesIds) => ({ devicesIds })) });
const refused = (reason: string) => ({ code: ErrorCode.ALLOCATE_INVALID, details: { reason } });

t.test('cdi: one qualified name per device, per container', async (t) => {
  const res = allocate(ctx(['cdi']), request([ids[1]!], [ids[0]!]));
  t.same(
    res.containerResponses.map((c) => c.cdiDevices),
    [[{ name: `${KIND}=${ids[1]}` }], [{ name: `${KIND}=${ids[0]}` }]],
  );
  t.same(res.containerResponses[0]!.devices, []);
  t.same(res.containerResponses[0]!.mounts, []);
});

t.test('device-specs: the same nodes, mounts and env a CDI runtime would apply', async (t) => {
  const [c] = allocate(ctx(['device-specs']), request([ids[0]!, ids[1]!])).containerResponses;
  t.same(c!.devices, [
    { containerPath: '/dev/nvidiactl', hostPath: '/dev/nvidiactl', permissions: 'rw' },
    { containerPath: '/dev/nvidia0', hostPath: '/host/dev/nvidia0', permissions: 'rw' },
    { containerPath: '/dev/nvidia1', hostPath: '/host/dev/nvidia1', permissions: 'rw' },
  ]);
  t.same(c!.mounts, [{ containerPath: LIBCUDA.containerPath, hostPath: LIBCUDA.hostPath, readOnly: true }]);
  t.same(c!.envs, { ACCEL_AGENT_CDI_GENERATOR: OWNER_ENV.split('=')[1], NVIDIA_DRIVER_CAPABILITIES: 'compute,utility' });
  t.same(c!.cdiDevices, []);
  t.same(c!.annotations, {});
});

t.test('replicas: several replicas of one device give that device once', async (t) => {
  const c = ctx(['cdi', 'device-specs'], { replicas: 2 });
  const [r] = allocate(c, request([`${ids[0]}::1`, `${ids[0]}::0`, `${ids[1]}::0`])).containerResponses;
  t.same(r!.cdiDevices, [{ name: `${KIND}=${ids[0]}` }, { name: `${KIND}=${ids[1]}` }]);
  t.same(
    r!.devices.map((d) => d.containerPath),
    ['/dev/nvidiactl', '/dev/nvidia0', '/dev/nvidia1'],
  );
  t.same(resolveRequest(c, request([`${ids[1]}::1`])).map((l) => l.map((d) => d.id)), [[ids[1]]]);
  t.throws(() => resolveRequest(c, request([`${ids[1]}::1`, `${ids[1]}::1`])), refused('duplicate'), 'the same replica twice');
  t.throws(() => resolveRequest(c, request([`${ids[1]}::2`])), refused('unknown'));
  t.throws(() => resolveRequest(c, request([`${ids[1]}::01`])), refused('unknown'), 'one spelling per replica');
});

t.test('every bad request is refused whole, with the reason in the details', async (t) => {
  const c = ctx(['cdi']);
  t.throws(() => allocate(c, request([ids[0]!], ['GPU-missing'])), refused('unknown'));
  t.throws(() => allocate(c, request([ids[2]!])), { ...refused('unhealthy'), message: /unhealthy \(Xid 79\)/ });
  t.throws(() => allocate(c, request([ids[0]!], [ids[0]!])), refused('duplicate'));
  t.throws(() => allocate(c, request([])), refused('empty'));
  t.throws(() => allocate(c, { containerRequests: [] }), refused('empty'));
  t.throws(() => allocate(c, {} as never), refused('empty'), 'a request without the field (proto default) is empty');
  t.throws(() => allocate(c, request(Array.from({ length: 5000 }, (_, i) => `x${i}`))), refused('too-many'));
  t.throws(() => allocate(c, request([''])), refused('unknown'));
  const long = 'G'.repeat(100_000);
  const err = t.throws(() => allocate(c, request([long]))) as Error;
  t.ok(err.message.length < 1000, 'a hostile id is not echoed in full');
});

t.test('the spec decides: missing device or missing spec refuses; no spec source hands names out unchecked', async (t) => {
  const partial = specFor(KIND, devices.slice(1));
  t.throws(() => allocate(ctx(['cdi'], { spec: partial }), request([ids[0]!])), { code: ErrorCode.UNKNOWN_DEVICE });
  t.throws(() => allocate(ctx(['cdi'], { spec: null }), request([ids[0]!])), { code: ErrorCode.CDI_INVALID, message: /no CDI spec/ });
  const unchecked = { ...ctx(['cdi']), spec: undefined };
  t.same(allocate(unchecked, request([ids[0]!])).containerResponses[0]!.cdiDevices, [{ name: `${KIND}=${ids[0]}` }]);
  t.throws(() => allocate({ ...unchecked, strategies: ['device-specs'] }, request([ids[0]!])), { code: ErrorCode.CDI_INVALID, message: /no spec source/ });
});

t.test('spelledOut refuses what device specs cannot carry and keeps mount writability', async (t) => {
  t.throws(() => spelledOut({ hooks: [{ hookName: 'createContainer', path: '/bin/true' }] }, KIND), { code: ErrorCode.CDI_INVALID, message: /hooks/ });
  t.throws(() => spelledOut({ additionalGids: [44] }, KIND), { code: ErrorCode.CDI_INVALID });
  const out = spelledOut(
    {
      env: ['A=1=2', 'NOVALUE', '=x'],
      deviceNodes: [{ ...NVIDIACTL, permissions: 'r' }],
      mounts: [{ hostPath: '/h', containerPath: '/c', options: ['rbind'] }, { hostPath: '/h2', containerPath: '/c2' }],
    },
    KIND,
  );
  t.same(out.envs, { A: '1=2' }, 'value keeps its "=", entries without a name are dropped');
  t.same(out.devices, [{ containerPath: '/dev/nvidiactl', hostPath: '/dev/nvidiactl', permissions: 'r' }]);
  t.same(
    out.mounts.map((m) => m.readOnly),
    [false, false],
    'writable unless the spec says ro',
  );
});
