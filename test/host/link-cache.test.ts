import t from 'tap';
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from '../../agent/errors.js';
import { HostRoot } from '../../agent/host/host-root.js';
import { LinkCache } from '../../agent/host/link-cache.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Counts the full resolutions, the expensive walk the cache exists to avoid. */
class CountingHost extends HostRoot {
  walks = 0;
  override async resolveWithin(hostPath: string, allowedRoots: readonly string[]): Promise<string | null> {
    this.walks++;
    return super.resolveWithin(hostPath, allowedRoots);
  }
}

/** A PCI function's directory and its bus entry, as sysfs lays them out. */
async function sysfs(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t, 'linkcache-');
  const p = (hostPath: string) => path.join(root, hostPath);
  await mkdir(p('/sys/devices/pci0000:00/0000:00:07.0'), { recursive: true });
  await mkdir(p('/sys/devices/pci0000:00/0000:00:08.0'), { recursive: true });
  await mkdir(p('/sys/bus/pci/devices'), { recursive: true });
  await symlink('../../../devices/pci0000:00/0000:00:07.0', p('/sys/bus/pci/devices/0000:00:07.0'));
  const host = new CountingHost(root);
  return { root, p, host, cache: new LinkCache(host, { within: ['/sys'], revalidateAfter: 3 }) };
}

const BUS = '/sys/bus/pci/devices/0000:00:07.0';

t.test('answers what a full resolution answers', async (t) => {
  const { host, cache } = await sysfs(t);
  t.equal(await cache.resolve(BUS), await host.resolveWithin(BUS, ['/sys']));
  t.equal(await cache.resolve(BUS), '/sys/devices/pci0000:00/0000:00:07.0', 'and the same from memory');
});

t.test('an unchanged link is answered from memory, and walked in full again after revalidateAfter answers', async (t) => {
  const { host, cache } = await sysfs(t);
  await cache.resolve(BUS);
  t.equal(host.walks, 1);
  for (let i = 0; i < 3; i++) await cache.resolve(BUS);
  t.equal(host.walks, 1, 'three answers from memory');
  await cache.resolve(BUS);
  t.equal(host.walks, 2, 'the fourth walks the path again');
});

t.test('a re-pointed link is resolved afresh at once', async (t) => {
  const { p, cache } = await sysfs(t);
  await cache.resolve(BUS);
  await rm(p(BUS));
  await symlink('../../../devices/pci0000:00/0000:00:08.0', p(BUS));
  t.equal(await cache.resolve(BUS), '/sys/devices/pci0000:00/0000:00:08.0');
});

t.test('a link re-pointed out of the allowed roots is refused, not taken from memory', async (t) => {
  const { p, cache } = await sysfs(t);
  await cache.resolve(BUS);
  await mkdir(p('/outside/gpu'), { recursive: true });
  await rm(p(BUS));
  await symlink('/outside/gpu', p(BUS));
  await t.rejects(cache.resolve(BUS), { code: ErrorCode.SYMLINK_ESCAPE });
  await t.rejects(cache.resolve(BUS), { code: ErrorCode.SYMLINK_ESCAPE }, 'and again: a refusal is never remembered');
});

t.test('a target that vanished under an unchanged link gives null', async (t) => {
  const { p, cache } = await sysfs(t);
  await cache.resolve(BUS);
  await rename(p('/sys/devices/pci0000:00/0000:00:07.0'), p('/sys/devices/pci0000:00/moved'));
  t.equal(await cache.resolve(BUS), null);
});

t.test('a removed link gives null, and a path that is no link is walked every time', async (t) => {
  const { p, host, cache } = await sysfs(t);
  await cache.resolve(BUS);
  await rm(p(BUS));
  t.equal(await cache.resolve(BUS), null);
  const before = host.walks;
  t.equal(await cache.resolve('/sys/devices/pci0000:00/0000:00:08.0'), '/sys/devices/pci0000:00/0000:00:08.0');
  t.equal(await cache.resolve('/sys/devices/pci0000:00/0000:00:08.0'), '/sys/devices/pci0000:00/0000:00:08.0');
  t.equal(host.walks, before + 2);
});
