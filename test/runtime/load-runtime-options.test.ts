import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { loadRuntimeOptions } from '../../agent/runtime/load-runtime-options.js';
import { scratchDir } from '../helpers/runtime-fixtures.js';

const dir = scratchDir('runtime-settings-');

t.test('YAML and JSON settings files are read, and the environment still wins', async (t) => {
  const yaml = path.join(dir, 'runtime.yaml');
  writeFileSync(yaml, 'runc: /usr/sbin/runc\nallowEnvSelection: true\ncdiSpecDirs: [/etc/cdi]\n');
  const fromYaml = await loadRuntimeOptions({ ACCEL_RUNTIME_CONFIG: yaml });
  t.equal(fromYaml.runc, '/usr/sbin/runc');
  t.equal(fromYaml.allowEnvSelection, true);
  t.same(fromYaml.cdiSpecDirs, ['/etc/cdi']);
  const json = path.join(dir, 'runtime.json');
  writeFileSync(json, '{"allowEnvSelection": true}');
  t.equal((await loadRuntimeOptions({ ACCEL_RUNTIME_CONFIG: json, ACCEL_RUNTIME_ALLOW_ENV_SELECTION: 'false' })).allowEnvSelection, false);
});

t.test('a named settings file must exist and parse', async (t) => {
  await t.rejects(loadRuntimeOptions({ ACCEL_RUNTIME_CONFIG: path.join(dir, 'absent.yaml') }), {
    code: ErrorCode.CONFIG_UNREADABLE,
    message: /absent\.yaml/,
  });
  const broken = path.join(dir, 'broken.json');
  writeFileSync(broken, '{"runc": ');
  await t.rejects(loadRuntimeOptions({ ACCEL_RUNTIME_CONFIG: broken }), { code: ErrorCode.CONFIG_UNREADABLE });
  const wrong = path.join(dir, 'wrong.yaml');
  writeFileSync(wrong, 'runc: 5\n');
  await t.rejects(loadRuntimeOptions({ ACCEL_RUNTIME_CONFIG: wrong }), { code: ErrorCode.CONFIG_INVALID });
});
