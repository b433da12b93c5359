import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nativeBuildDir } from '../../agent/package-root.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Simulated NVIDIA driver directories for the native tests: a private copy
 * of the NVML stub (its state lives beside it, so every test gets its own
 * "driver") plus the conf and events files the stub reads.
 */

export const NATIVE_DIR = nativeBuildDir();

export interface TestLike {
  teardown(fn: () => Promise<void> | void): void;
  fail(message: string): void;
}

/** Fails loudly, saying how to fix it, when the native build is missing; CI builds before testing. */
export function requireNative(t: TestLike, files: readonly string[]): boolean {
  const missing = files.filter((f) => !existsSync(path.join(NATIVE_DIR, f)));
  if (missing.length === 0) return true;
  t.fail(
    `native build missing: ${missing.map((f) => `build/native/${f}`).join(', ')}; ` +
      'run `bash scripts/build-native.sh` before these tests',
  );
  return false;
}

export const GPU0_UUID = 'GPU-3b9a2f4e-5c1d-4e8f-9a0b-1c2d3e4f5a6b';
export const GPU1_UUID = 'GPU-7d6c5b4a-3f2e-4d1c-8b0a-9f8e7d6c5b4a';

/** A vGPU guest (GRID P4-2Q) and a passthrough T4, every key set. */
export function twoGpuConf(overrides = ''): string {
  return `# two GPUs
driver_version 470.82.01
nvml_version 11.470.82.01
cuda_driver_version 11040
device 0 uuid ${GPU0_UUID}
device 0 name GRID P4-2Q
device 0 pci_bus_id 00000000:00:07.0
device 0 pci_device_id 0x1bb310de          # P4 on NVIDIA's vendor id
device 0 pci_subsystem_id 0x120410de
device 0 minor 0
device 0 memory_total_mib 2048
device 0 memory_used_mib 120
device 0 util_gpu 37
device 0 util_memory 12
device 0 temperature 45
device 0 power_mw 23000
device 0 clock_sm 1328
device 0 clock_mem 3003
device 0 ecc_corrected 0
device 0 ecc_uncorrected 0
device 0 virtualization_mode 2
device 1 uuid ${GPU1_UUID}
device 1 name Tesla T4
device 1 pci_bus_id 00000000:00:08.0
device 1 pci_device_id 0x1eb810de
device 1 minor 1
device 1 memory_total_mib 15360
device 1 memory_used_mib 0
device 1 util_gpu 0
device 1 util_memory 0
device 1 temperature 31
device 1 power_mw 9000
device 1 clock_sm 300
device 1 clock_mem 405
device 1 ecc_corrected 2
device 1 ecc_uncorrected 0
device 1 virtualization_mode 1
${overrides}`;
}

export interface StubDriver {
  /** The directory holding the stub copy, conf and events file. */
  dir: string;
  /** The stub copy's path: what the addon loads. */
  lib: string;
  /** Replaces the conf the way a careful writer does (write, then rename), so the stub never sees half a file. */
  writeConf(text: string): Promise<void>;
  appendEvents(text: string): Promise<void>;
}

/**
 * A fresh driver directory. `conf` null leaves the conf out ("driver not
 * loaded"); `libDir` places the files in a subdirectory (e.g. a simulated
 * root's usr/lib/x86_64-linux-gnu) and `extraLibs` copies more built files
 * (paths relative to build/native) beside the stub.
 */
export async function stubDriver(
  t: TestLike,
  conf: string | null,
  options: { libDir?: string; extraLibs?: readonly string[] } = {},
): Promise<StubDriver & { root: string }> {
  const root = await tempDir(t, 'accel-nvml-stub-');
  const dir = path.join(root, options.libDir ?? '');
  await mkdir(dir, { recursive: true });
  const lib = path.join(dir, 'libnvidia-ml.so.1');
  await copyFile(path.join(NATIVE_DIR, 'libnvidia-ml.so.1'), lib);
  for (const extra of options.extraLibs ?? []) {
    await copyFile(path.join(NATIVE_DIR, extra), path.join(dir, path.basename(extra)));
  }
  let generation = 0;
  const driver = {
    root,
    dir,
    lib,
    async writeConf(text: string) {
      const tmp = path.join(dir, `.nvml-stub.conf.${generation++}`);
      await writeFile(tmp, text);
      await rename(tmp, path.join(dir, 'nvml-stub.conf'));
    },
    async appendEvents(text: string) {
      await appendFile(path.join(dir, 'nvml-stub.events'), text);
    },
  };
  if (conf !== null) await driver.writeConf(conf);
  return driver;
}
