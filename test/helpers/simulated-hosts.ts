/** Simulated hosts for end-to-end discovery tests, built from the native stubs. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { nativeBuildDir } from '../../agent/package-root.js';
import { simhostCreate } from '../../agent/simhost/command.js';
import { mknodUnavailable, tempRoot } from './sysfs-tree.js';

/** Why end-to-end tests cannot run here (native stubs not built, no mknod), or false. */
export function simhostUnavailable(): string | false {
  for (const file of ['libnvidia-ml.so.1', 'nvidia-smi', 'accel_nvml.node']) {
    if (!existsSync(path.join(nativeBuildDir(), file))) return `build/native/${file} is missing: run scripts/build-native.sh`;
  }
  // Without real nodes the hosts get placeholder files, which discovery rightly refuses.
  return mknodUnavailable();
}

export async function simulatedHost(profile: 'vgn5i' | 'gn5' | 'ebman1' | 'empty' | 'gpu16', count?: number): Promise<string> {
  const dir = path.join(await tempRoot(`simhost-${profile}-`), 'host');
  const summary = await simhostCreate({ profile, dir, ...(count === undefined ? {} : { count }) });
  return summary.root;
}
