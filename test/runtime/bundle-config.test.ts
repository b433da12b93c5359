import t from 'tap';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { readBundleConfig } from '../../agent/runtime/bundle-config.js';
import { scratchDir } from '../helpers/runtime-fixtures.js';

function bundle(content: string, mode = 0o600): string {
  const dir = scratchDir('bundle-');
  writeFileSync(path.join(dir, 'config.json'), content, { mode });
  chmodSync(path.join(dir, 'config.json'), mode);
  return dir;
}

t.test('a valid config is read with its permission bits', async (t) => {
  const dir = bundle(JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' } }), 0o640);
  const read = await readBundleConfig(dir);
  t.equal(read.file, path.join(dir, 'config.json'));
  t.equal(read.config.root?.path, 'rootfs');
  t.equal(read.mode, 0o640);
});

t.test('unreadable, malformed or misshapen configs are OCI_CONFIG_INVALID', async (t) => {
  const invalid = { code: ErrorCode.OCI_CONFIG_INVALID };
  await t.rejects(readBundleConfig(bundle('{"ociVersion":')), { ...invalid, message: /not valid JSON/ });
  await t.rejects(readBundleConfig(bundle('"just a string"')), { ...invalid, message: /top level/ });
  await t.rejects(readBundleConfig(bundle('{"ociVersion":"1","process":{"env":{}}}')), { ...invalid, message: /process\.env/ });
  await t.rejects(readBundleConfig(path.join(scratchDir('bundle-'), 'no-such-bundle-dir')), { ...invalid, message: /cannot read/ });
  const dir = scratchDir('bundle-');
  mkdirSync(path.join(dir, 'config.json'));
  await t.rejects(readBundleConfig(dir), { ...invalid, message: /not a regular file/ });
  const linked = scratchDir('bundle-');
  symlinkSync('/etc/hostname', path.join(linked, 'config.json'));
  await t.rejects(readBundleConfig(linked), { ...invalid, message: /not a regular file/ }, 'a symlinked config.json is not followed');
});
