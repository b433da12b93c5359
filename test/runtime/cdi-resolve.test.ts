import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import type { CdiSpec } from '../../agent/inject/container-edits.js';
import { checkSpec, expandAll, indexSpecs, resolveEdits, type LoadedSpec } from '../../agent/runtime/cdi-resolve.js';

function spec(kind: string, names: string[], shared?: CdiSpec['containerEdits']): CdiSpec {
  return {
    cdiVersion: '0.5.0',
    kind,
    devices: names.map((name) => ({ name, containerEdits: { env: [`DEV_${name.replace(/\W/g, '_')}=${kind}`] } })),
    ...(shared ? { containerEdits: shared } : {}),
  };
}

const loaded = (s: CdiSpec, file: string, priority = 0): LoadedSpec => ({ spec: s, file, priority });

t.test("a spec's own edits come once, before each requested device's edits", async (t) => {
  const index = indexSpecs([loaded(spec('nvidia.com/gpu', ['0', '1'], { env: ['SHARED=1'] }), '/etc/cdi/nv.json')]);
  const r = resolveEdits(index, ['nvidia.com/gpu=1', 'nvidia.com/gpu=0']);
  t.same(r.devices, ['nvidia.com/gpu=1', 'nvidia.com/gpu=0']);
  t.same(r.edits.env, ['SHARED=1', 'DEV_1=nvidia.com/gpu', 'DEV_0=nvidia.com/gpu']);
});

t.test('devices of several kinds merge', async (t) => {
  const index = indexSpecs([
    loaded(spec('nvidia.com/gpu', ['0']), 'a.json'),
    loaded(spec('alibaba.com/npu', ['0'], { env: ['NPU=1'] }), 'b.json'),
  ]);
  t.same(resolveEdits(index, ['alibaba.com/npu=0', 'nvidia.com/gpu=0']).edits.env, ['NPU=1', 'DEV_0=alibaba.com/npu', 'DEV_0=nvidia.com/gpu']);
});

t.test('a later directory overrides a name; the same directory twice makes it ambiguous', async (t) => {
  const override = indexSpecs([
    loaded(spec('nvidia.com/gpu', ['0'], { env: ['FROM=etc'] }), '/etc/cdi/a.json', 0),
    loaded(spec('nvidia.com/gpu', ['0'], { env: ['FROM=run'] }), '/var/run/cdi/a.json', 1),
  ]);
  t.same(resolveEdits(override, ['nvidia.com/gpu=0']).edits.env?.[0], 'FROM=run');
  const clash = indexSpecs([loaded(spec('nvidia.com/gpu', ['0']), '/x/a.json'), loaded(spec('nvidia.com/gpu', ['0']), '/x/b.json')]);
  t.throws(() => resolveEdits(clash, ['nvidia.com/gpu=0']), {
    code: ErrorCode.UNKNOWN_DEVICE,
    message: /more than one spec: \/x\/a.json, \/x\/b.json/,
  });
});

t.test('all expands to every device of the kind unless a device is named all', async (t) => {
  const index = indexSpecs([loaded(spec('nvidia.com/gpu', ['1', '0']), 'a'), loaded(spec('alibaba.com/npu', ['0']), 'b')]);
  t.same(expandAll(['nvidia.com/gpu=all'], index), ['nvidia.com/gpu=0', 'nvidia.com/gpu=1']);
  const named = indexSpecs([loaded(spec('nvidia.com/gpu', ['0', 'all']), 'a')]);
  t.same(expandAll(['nvidia.com/gpu=all'], named), ['nvidia.com/gpu=all']);
  t.throws(() => expandAll(['example.com/fpga=all'], index), { code: ErrorCode.UNKNOWN_DEVICE });
});

t.test('an unknown device names the unreadable specs that might have defined it', async (t) => {
  const index = indexSpecs([], [{ file: '/etc/cdi/broken.json', message: 'bad JSON' }]);
  t.throws(() => resolveEdits(index, ['nvidia.com/gpu=0']), /unresolvable CDI device nvidia.com\/gpu=0 \(unreadable specs: \/etc\/cdi\/broken.json\)/);
});

t.test('spec structure is checked, naming the file and the field', async (t) => {
  t.same(checkSpec(spec('nvidia.com/gpu', ['0']), 'f.json').kind, 'nvidia.com/gpu');
  const cases: Array<[unknown, RegExp]> = [
    [null, /not an object/],
    [{ kind: 'nvidia.com/gpu', devices: [] }, /cdiVersion/],
    [{ cdiVersion: '0.5.0', devices: [] }, /kind must be a string/],
    [{ cdiVersion: '0.5.0', kind: 'gpu', devices: [] }, /invalid CDI kind/],
    [{ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu' }, /devices must be a list/],
    [{ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [7] }, /devices\[0\] must be an object/],
    [{ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [{ name: '../0' }] }, /devices\[0\]\.name/],
    [{ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [{ name: '0', containerEdits: [] }] }, /containerEdits must be an object/],
    [{ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [{ name: '0', containerEdits: { mounts: {} } }] }, /mounts must be a list/],
    [{ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [], containerEdits: { deviceNodes: ['/dev/x'] } }, /deviceNodes\[0\] must be an object/],
  ];
  for (const [value, why] of cases) {
    t.throws(() => checkSpec(value, '/etc/cdi/f.json'), { code: ErrorCode.CDI_INVALID, message: why }, JSON.stringify(value));
  }
  t.throws(() => checkSpec(null, '/etc/cdi/f.json'), /CDI spec \/etc\/cdi\/f.json/);
});
