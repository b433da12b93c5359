import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { MANIFEST_FILE, manifestProblem, readManifest } from '../../agent/simhost/manifest.js';
import { tempDir } from './simhost-fixture.js';

const good = { format: 1, profile: 'vgn5i', kmsg: '/dev/kmsg', deviceNodes: [], nvml: { conf: '/usr/lib/x/nvml-stub.conf', events: '/usr/lib/x/nvml-stub.events' } };

t.test('the shape check names what is wrong', async (t) => {
  t.equal(manifestProblem(good), null);
  t.equal(manifestProblem({ ...good, nvml: null }), null);
  t.equal(manifestProblem([]), 'not a JSON object');
  t.equal(manifestProblem(null), 'not a JSON object');
  t.match(manifestProblem({ ...good, format: 2 }), /unsupported format 2/);
  t.match(manifestProblem({ ...good, profile: 3 }), /profile/);
  t.match(manifestProblem({ ...good, kmsg: 'dev/kmsg' }), /kmsg/);
  t.match(manifestProblem({ ...good, kmsg: '/dev/../etc/shadow' }), /kmsg/);
  t.match(manifestProblem({ ...good, nvml: { conf: '/a' } }), /nvml must be/);
  t.match(manifestProblem({ ...good, nvml: 'yes' }), /nvml must be/);
  t.match(manifestProblem({ ...good, deviceNodes: {} }), /deviceNodes/);
});

t.test('readManifest refuses missing, unparsable and malformed manifests', async (t) => {
  const root = await tempDir(t);
  await t.rejects(readManifest(root), { code: ErrorCode.SIMHOST, message: /is not a simulated host/ });
  await writeFile(path.join(root, MANIFEST_FILE), '{"format": 1,');
  await t.rejects(readManifest(root), /is not valid JSON/);
  await writeFile(path.join(root, MANIFEST_FILE), JSON.stringify({ ...good, format: 0 }));
  await t.rejects(readManifest(root), /unsupported format/);
  await writeFile(path.join(root, MANIFEST_FILE), JSON.stringify(good));
  t.same(await readManifest(root), good);
});
