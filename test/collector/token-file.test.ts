import t from 'tap';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { TokenFile, bearerToken, parseTokens } from '../../agent/collector/token-file.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('tokens are lines; blanks and comments are ignored', async (t) => {
  t.same(parseTokens('# fleet tokens\n\n  alpha  \nbeta\n#gamma\n'), ['alpha', 'beta']);
});

t.test('bearer tokens are taken from the Authorization header only in the Bearer form', async (t) => {
  t.equal(bearerToken('Bearer abc.def'), 'abc.def');
  t.equal(bearerToken('bearer   xyz '), 'xyz');
  t.equal(bearerToken('Basic abc'), undefined);
  t.equal(bearerToken('Bearer'), undefined);
  t.equal(bearerToken('Bearer a b'), undefined);
  t.equal(bearerToken(undefined), undefined);
});

t.test('only listed tokens are accepted, and edits take effect without a restart', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'tokens');
  await writeFile(file, 'old-token\n');
  const tokens = new TokenFile(file);
  t.ok(await tokens.accepts('old-token'));
  t.notOk(await tokens.accepts('old-toke'), 'a prefix is not the token');
  t.notOk(await tokens.accepts('old-token2'));
  t.notOk(await tokens.accepts(''));
  t.notOk(await tokens.accepts(undefined));

  // Rotation by atomic replace, as a secret volume update does it.
  await writeFile(path.join(dir, 'tokens.new'), 'new-token\n# old one removed\n');
  await rename(path.join(dir, 'tokens.new'), file);
  t.ok(await tokens.accepts('new-token'));
  t.notOk(await tokens.accepts('old-token'));

  await writeFile(file, '');
  t.notOk(await tokens.accepts('new-token'), 'an empty file accepts nobody');
});

t.test('a missing token file is an authentication error, not an open door', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'tokens');
  await writeFile(file, 'x\n');
  const tokens = new TokenFile(file);
  t.ok(await tokens.accepts('x'));
  await rm(file);
  await t.rejects(tokens.accepts('x'), { code: ErrorCode.COLLECTOR_AUTH });
});
