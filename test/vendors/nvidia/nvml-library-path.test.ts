import t from 'tap';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from '../../../agent/errors.js';
import { HostRoot } from '../../../agent/host/host-root.js';
import { findNvmlLibrary } from '../../../agent/vendors/nvidia/nvml-library-path.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function hostTree(t: Parameters<typeof tempDir>[0], files: Record<string, string | { link: string }>): Promise<HostRoot> {
  const root = await tempDir(t, 'accel-nvml-lib-');
  for (const [hostPath, content] of Object.entries(files)) {
    const file = path.join(root, hostPath);
    await mkdir(path.dirname(file), { recursive: true });
    if (typeof content === 'string') await writeFile(file, content, { mode: 0o644 });
    else await symlink(content.link, file);
  }
  return new HostRoot(root);
}

t.test('finds the soname link in the first standard directory and resolves it to the versioned file', async (t) => {
  const host = await hostTree(t, {
    '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.470.82.01': 'ELF',
    '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1': { link: 'libnvidia-ml.so.470.82.01' },
    '/usr/lib64/libnvidia-ml.so.1': 'ELF other',
  });
  const { found, refused } = await findNvmlLibrary(host);
  t.same(found, {
    hostPath: '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1',
    resolvedHostPath: '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.470.82.01',
    agentPath: path.join(host.root, 'usr/lib/x86_64-linux-gnu/libnvidia-ml.so.470.82.01'),
  });
  t.same(refused, []);
});

t.test('explicit candidates come first; an empty directory list searches nothing else', async (t) => {
  const host = await hostTree(t, {
    '/usr/local/nvidia/lib64/libnvidia-ml.so.1': 'ELF gke',
    '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1': 'ELF distro',
  });
  const preferred = await findNvmlLibrary(host, { candidates: ['/usr/local/nvidia/lib64/libnvidia-ml.so.1'] });
  t.equal(preferred.found?.resolvedHostPath, '/usr/local/nvidia/lib64/libnvidia-ml.so.1');
  const only = await findNvmlLibrary(host, { candidates: ['/opt/none/libnvidia-ml.so.1'], libraryDirs: [] });
  t.equal(only.found, null);
});

t.test('a link escaping the allowed roots is refused, reported, and the search goes on', async (t) => {
  const host = await hostTree(t, {
    '/tmp/evil.so': 'ELF evil',
    '/var/lib/containers/rootfs/usr/lib/libnvidia-ml.so.1': 'ELF from an image',
    '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1': { link: '/tmp/evil.so' },
    '/usr/lib64/libnvidia-ml.so.1': { link: '../../var/lib/containers/rootfs/usr/lib/libnvidia-ml.so.1' },
    '/usr/lib/libnvidia-ml.so.1': 'ELF good',
  });
  const { found, refused } = await findNvmlLibrary(host);
  t.equal(found?.resolvedHostPath, '/usr/lib/libnvidia-ml.so.1');
  t.same(
    refused.map((r) => r.candidate),
    ['/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1', '/usr/lib64/libnvidia-ml.so.1'],
  );
  t.match(refused[0]?.reason, /\/tmp\/evil\.so/);
  t.match(refused[0]?.reason, new RegExp(ErrorCode.SYMLINK_ESCAPE));
});

t.test('directories, world-writable files and relative candidates are refused', async (t) => {
  const host = await hostTree(t, {
    '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1/keep': 'a directory by that name',
    '/usr/lib64/libnvidia-ml.so.1': 'ELF writable by all',
  });
  await chmod(host.path('/usr/lib64/libnvidia-ml.so.1'), 0o666);
  const { found, refused } = await findNvmlLibrary(host, { candidates: ['relative/libnvidia-ml.so.1'] });
  t.equal(found, null);
  t.same(
    refused.map((r) => r.candidate),
    ['relative/libnvidia-ml.so.1', '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1', '/usr/lib64/libnvidia-ml.so.1'],
  );
  t.match(refused[1]?.reason, /not a regular file/);
  t.match(refused[2]?.reason, /writable by every user/);
});

t.test('a host without the driver yields nothing and refuses nothing', async (t) => {
  const host = await hostTree(t, { '/usr/lib/x86_64-linux-gnu/libc.so.6': 'ELF' });
  t.same(await findNvmlLibrary(host), { found: null, refused: [] });
});
