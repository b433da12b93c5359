import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ProfileName } from '../../agent/simhost/profiles.js';
import { tempSimhost, withTempSimhost } from '../../bench/lib/simhost.js';
import { simhostUnavailable } from '../helpers/simulated-hosts.js';

const leftovers = (prefix: string) => readdirSync(os.tmpdir()).filter((n) => n.startsWith(prefix));

t.test('tempSimhost builds a complete host in its own temp directory and remove() takes it all away', { skip: simhostUnavailable() }, async (t) => {
  const host = await tempSimhost('vgn5i');
  t.teardown(() => host.remove());
  t.ok(host.root.startsWith(host.work + path.sep), 'the host lives inside the work directory');
  t.ok(existsSync(path.join(host.root, '.simhost.json')), 'the manifest, written last, is there');
  t.ok(existsSync(path.join(host.root, 'usr/bin/nvidia-smi')));
  await host.remove();
  t.notOk(existsSync(host.work));
  await host.remove();
  t.pass('removing twice is harmless');
});

t.test('withTempSimhost removes the host even when the body fails', { skip: simhostUnavailable() }, async (t) => {
  let work = '';
  await t.rejects(
    withTempSimhost('empty', async (host) => {
      work = host.work;
      throw new Error('the benchmark broke');
    }),
    /the benchmark broke/,
  );
  t.ok(work !== '' && !existsSync(work));
});

t.test('a host that cannot be built fails with the reason and leaves no temp directory', { skip: simhostUnavailable() }, async (t) => {
  await t.rejects(tempSimhost('no-such-profile' as ProfileName), /no-such-profile/);
  t.same(leftovers('accel-bench-no-such-profile-'), []);
});
