import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CdiSpec } from '../../agent/inject/container-edits.js';
import type { OciConfig } from '../../agent/inject/oci-edit.js';

/**
 * A bundle, a fake driver directory and a CDI spec for runtime tests that do
 * not need root: device nodes point at /dev/null (which exists everywhere)
 * and the "driver libraries" are plain files in a temporary host directory.
 */

export interface RuntimeFixture {
  dir: string;
  bundle: string;
  rootfs: string;
  configFile: string;
  /** Host directory standing in for the driver's library directory. */
  libDir: string;
  cdiDir: string;
  /** A fake runc that records its argv and environment, then exits with $FAKE_RUNC_EXIT. */
  fakeRunc: string;
  /** Where the fake runc writes its argv (one per line); absent when runc never ran. */
  record: string;
  /** Where the fake runc writes the config.json it saw; proves edits happen before runc runs. */
  recordConfig: string;
  recordEnv: string;
}

export function baseOciConfig(overrides: Partial<OciConfig> = {}): OciConfig {
  return {
    ociVersion: '1.0.2-dev',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['sh'], env: ['PATH=/bin', 'TERM=xterm'], cwd: '/' },
    root: { path: 'rootfs', readonly: true },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { resources: { devices: [{ allow: false, access: 'rwm' }] }, namespaces: [{ type: 'mount' }] },
    ...overrides,
  };
}

export function gpuSpec(libDir: string): CdiSpec {
  return {
    cdiVersion: '0.5.0',
    kind: 'nvidia.com/gpu',
    devices: [
      {
        name: '0',
        containerEdits: { deviceNodes: [{ path: '/dev/nvidia0', hostPath: '/dev/null', type: 'c', major: 195, minor: 0 }] },
      },
      {
        name: '1',
        containerEdits: { deviceNodes: [{ path: '/dev/nvidia1', hostPath: '/dev/null', type: 'c', major: 195, minor: 1 }] },
      },
    ],
    containerEdits: {
      env: ['ACCEL_INJECTED=1'],
      deviceNodes: [{ path: '/dev/nvidiactl', hostPath: '/dev/null', type: 'c', major: 195, minor: 255 }],
      mounts: [
        {
          hostPath: path.join(libDir, 'libcuda.so.1'),
          containerPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
          options: ['ro', 'nosuid', 'nodev', 'rbind'],
        },
      ],
    },
  };
}

const created: string[] = [];
process.once('exit', () => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory removed when the test process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export function makeRuntimeFixture(config: OciConfig = baseOciConfig()): RuntimeFixture {
  const dir = scratchDir('accel-runtime-');
  const bundle = path.join(dir, 'bundle');
  const rootfs = path.join(bundle, 'rootfs');
  const libDir = path.join(dir, 'host/usr/lib/x86_64-linux-gnu');
  const cdiDir = path.join(dir, 'cdi');
  for (const d of [rootfs, libDir, cdiDir]) mkdirSync(d, { recursive: true });
  writeFileSync(path.join(libDir, 'libcuda.so.535.54.03'), 'not really a library\n');
  symlinkSync('libcuda.so.535.54.03', path.join(libDir, 'libcuda.so.1'));
  writeFileSync(path.join(cdiDir, 'nvidia.json'), JSON.stringify(gpuSpec(libDir)));
  const configFile = path.join(bundle, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  writeFileSync(path.join(dir, 'settings.json'), '{}\n');

  const record = path.join(dir, 'runc.argv');
  const recordConfig = path.join(dir, 'runc.config.json');
  const recordEnv = path.join(dir, 'runc.env');
  const fakeRunc = path.join(dir, 'bin/runc');
  mkdirSync(path.dirname(fakeRunc));
  writeFileSync(
    fakeRunc,
    [
      '#!/bin/sh',
      `printf '%s\\n' "$@" > '${record}'`,
      `env > '${recordEnv}'`,
      `cp '${configFile}' '${recordConfig}' 2>/dev/null`,
      'exit "${FAKE_RUNC_EXIT:-0}"',
      '',
    ].join('\n'),
  );
  chmodSync(fakeRunc, 0o755);
  return { dir, bundle, rootfs, configFile, libDir, cdiDir, fakeRunc, record, recordConfig, recordEnv };
}

/** The argv the fake runc received, or null when it never ran. */
export function recordedArgv(fx: RuntimeFixture): string[] | null {
  if (!existsSync(fx.record)) return null;
  const text = readFileSync(fx.record, 'utf8');
  return text === '\n' ? [] : text.replace(/\n$/, '').split('\n');
}

export function recordedConfig(fx: RuntimeFixture): OciConfig {
  return JSON.parse(readFileSync(fx.recordConfig, 'utf8')) as OciConfig;
}

/** The environment for main(): the fake runc, the fixture's spec dir, an empty settings file, no launcher cache. */
export function fixtureEnv(fx: RuntimeFixture, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/bin:/bin',
    ACCEL_RUNTIME_RUNC: fx.fakeRunc,
    ACCEL_RUNTIME_CDI_DIRS: fx.cdiDir,
    ACCEL_RUNTIME_CONFIG: path.join(fx.dir, 'settings.json'),
    ACCEL_RUNTIME_LAUNCHER_CACHE: '',
    ...extra,
  };
}
