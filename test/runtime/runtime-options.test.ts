import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { parseRuntimeOptions } from '../../agent/runtime/runtime-options.js';

t.test('defaults: runc from PATH, the standard CDI directories, env selection off', async (t) => {
  t.same(parseRuntimeOptions(null, {}), {
    runc: 'runc',
    cdiSpecDirs: ['/etc/cdi', '/var/run/cdi'],
    allowEnvSelection: false,
    envSelectors: [{ variable: 'NVIDIA_VISIBLE_DEVICES', kind: 'nvidia.com/gpu' }],
    launcherCacheDir: '/run/accel-agent/runtime-edits',
  });
});

t.test('the file sets everything and the environment wins over it', async (t) => {
  const file = {
    runc: '/usr/sbin/runc',
    cdiSpecDirs: ['/etc/cdi'],
    allowEnvSelection: true,
    envSelectors: [{ variable: 'ACCEL_NPU_VISIBLE', kind: 'alibaba.com/npu' }],
  };
  const fromFile = parseRuntimeOptions(file, {});
  t.same(fromFile, { ...file, launcherCacheDir: '/run/accel-agent/runtime-edits' });
  const overridden = parseRuntimeOptions(file, {
    ACCEL_RUNTIME_RUNC: '/opt/runc',
    ACCEL_RUNTIME_CDI_DIRS: '/a::/b',
    ACCEL_RUNTIME_ALLOW_ENV_SELECTION: 'no',
    ACCEL_RUNTIME_LAUNCHER_CACHE: '/run/x',
  });
  t.same(overridden.runc, '/opt/runc');
  t.same(overridden.cdiSpecDirs, ['/a', '/b']);
  t.equal(overridden.allowEnvSelection, false);
  t.equal(overridden.launcherCacheDir, '/run/x');
  t.equal(parseRuntimeOptions(null, { ACCEL_RUNTIME_LAUNCHER_CACHE: '' }).launcherCacheDir, null, 'empty turns the cache off');
  t.equal(parseRuntimeOptions(null, { ACCEL_RUNTIME_ALLOW_ENV_SELECTION: '1' }).allowEnvSelection, true);
});

t.test('bad settings are refused, naming the setting', async (t) => {
  const bad: Array<[unknown, Record<string, string>, RegExp]> = [
    [[], {}, /must be a mapping/],
    [{ runtime: 'runc' }, {}, /runtime is not a known setting/],
    [{ runc: 'bin/runc' }, {}, /runc must be absolute or a bare command name/],
    [{ runc: '' }, {}, /runc must be a path/],
    [{ cdiSpecDirs: '/etc/cdi' }, {}, /cdiSpecDirs must be a list/],
    [{ cdiSpecDirs: ['etc/cdi'] }, {}, /cdiSpecDirs\[0\] must be an absolute path/],
    [{ allowEnvSelection: 'maybe' }, {}, /allowEnvSelection must be true or false/],
    [{ envSelectors: {} }, {}, /envSelectors must be a list/],
    [{ envSelectors: [null] }, {}, /envSelectors\[0\]/],
    [{ envSelectors: [{ variable: 'A=B', kind: 'nvidia.com/gpu' }] }, {}, /envSelectors\[0\]\.variable/],
    [{ envSelectors: [{ variable: 'A', kind: 'gpu' }] }, {}, /envSelectors\[0\]\.kind/],
    [{ launcherCacheDir: '/run/x' }, {}, /launcherCacheDir is not a known setting/],
    [null, { ACCEL_RUNTIME_CDI_DIRS: 'relative' }, /ACCEL_RUNTIME_CDI_DIRS/],
    [null, { ACCEL_RUNTIME_ALLOW_ENV_SELECTION: 'yes please' }, /ACCEL_RUNTIME_ALLOW_ENV_SELECTION/],
    [null, { ACCEL_RUNTIME_RUNC: './runc' }, /ACCEL_RUNTIME_RUNC/],
  ];
  for (const [file, env, why] of bad) {
    t.throws(() => parseRuntimeOptions(file, env), { code: ErrorCode.CONFIG_INVALID, message: why }, why.source);
  }
});
