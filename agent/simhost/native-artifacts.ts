import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import { nativeBuildDir } from '../package-root.js';
import type { HostSpec, NativeArtifact } from './host-spec.js';

/** The file under the native build directory (`build/native`) that an artifact is copied from. */
export function artifactPath(nativeDir: string, artifact: NativeArtifact): string {
  switch (artifact.kind) {
    case 'nvml-stub':
      return path.join(nativeDir, 'libnvidia-ml.so.1');
    case 'nvidia-smi':
      return path.join(nativeDir, 'nvidia-smi');
    case 'fake-lib':
      if (!/^lib[A-Za-z0-9_+-]+\.so\.\d+$/.test(artifact.soname)) {
        throw new AccelError(ErrorCode.SIMHOST, `not a library soname: ${JSON.stringify(artifact.soname)}`);
      }
      return path.join(nativeDir, 'fake-libs', artifact.soname);
  }
}

/** Every native file a spec needs, deduplicated. */
export function requiredArtifacts(spec: HostSpec, nativeDir: string): string[] {
  const all = [...spec.libraries.map((l) => l.artifact), ...spec.binaries.flatMap((b) => (b.artifact === null ? [] : [b.artifact]))];
  return [...new Set(all.map((a) => artifactPath(nativeDir, a)))];
}

/**
 * Fails, naming every missing file, when the native build has not produced
 * what the spec needs: a simulated NVIDIA host without its NVML stub would
 * look like a broken driver, which is not what anyone asked for.
 */
export async function checkArtifacts(spec: HostSpec, nativeDir: string = nativeBuildDir()): Promise<void> {
  const missing: string[] = [];
  for (const file of requiredArtifacts(spec, nativeDir)) {
    try {
      await access(file, constants.R_OK);
    } catch {
      missing.push(file);
    }
  }
  if (missing.length > 0) {
    throw new AccelError(
      ErrorCode.SIMHOST,
      `profile ${spec.profile} needs native artifacts that are not built: ${missing.join(', ')}; run scripts/build-native.sh first`,
      { details: { missing, nativeDir } },
    );
  }
}
