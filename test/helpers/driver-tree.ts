import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildLdCache, buildSharedObject } from './native-libs.js';

/**
 * A host tree with an NVIDIA driver laid out as the installer does it
 * (versioned libraries plus soname links, binaries, GSP firmware, the
 * persistenced socket), a genuine ld.so.cache, and a few planted symlinks
 * that point out of the driver directories.
 */
export const DRIVER_VERSION = '550.54.15';

export interface DriverTree {
  root: string;
  /** Closes the persistenced socket's listener and removes the tree. */
  close(): Promise<void>;
}

export async function buildNvidiaTree(): Promise<DriverTree> {
  // A short path under the system temp dir: a unix socket path must fit in 108 bytes.
  const root = mkdtempSync(path.join(os.tmpdir(), 'accel-drv-'));
  const at = (p: string) => path.join(root, p);
  const v = DRIVER_VERSION;
  const lib64 = '/usr/lib64';

  for (const [name, soname] of [
    ['libcuda', 'libcuda.so.1'],
    ['libnvidia-ml', 'libnvidia-ml.so.1'],
    ['libnvidia-ptxjitcompiler', 'libnvidia-ptxjitcompiler.so.1'],
  ] as const) {
    buildSharedObject(at(`${lib64}/${name}.so.${v}`), soname);
    symlinkSync(`${name}.so.${v}`, at(`${lib64}/${soname}`));
  }
  // A library whose soname is its own file name: no second mount.
  buildSharedObject(at(`${lib64}/libnvidia-glcore.so.${v}`), `libnvidia-glcore.so.${v}`);
  // Versioned names that are links inside the allowed roots: relative and absolute.
  buildSharedObject(at(`/usr/lib/nvidia/libnvidia-cfg.so.${v}`), 'libnvidia-cfg.so.1');
  symlinkSync(`../lib/nvidia/libnvidia-cfg.so.${v}`, at(`${lib64}/libnvidia-cfg.so.${v}`));
  buildSharedObject(at(`/usr/lib/nvidia/libnvidia-opencl.so.${v}`), 'libnvidia-opencl.so.1');
  symlinkSync(`/usr/lib/nvidia/libnvidia-opencl.so.${v}`, at(`${lib64}/libnvidia-opencl.so.${v}`));
  // Planted links that leave the driver roots: absolute and relative.
  mkdirSync(at('/etc'), { recursive: true });
  writeFileSync(at('/etc/shadow'), 'root:*:19000:0:99999:7:::\n');
  symlinkSync('/etc/shadow', at(`${lib64}/libnvidia-evil.so.${v}`));
  symlinkSync('../../etc/shadow', at(`${lib64}/libnvidia-sneaky.so.${v}`));
  // Unrelated files the inventory must leave alone.
  symlinkSync('libcuda.so.1', at(`${lib64}/libcuda.so`));
  buildSharedObject(at(`${lib64}/libz.so.1.2.13`), 'libz.so.1');
  // A 32-bit copy, which ldconfig files under another arch.
  buildSharedObject(at(`/usr/lib/libcuda.so.${v}`), 'libcuda.so.1', ['-m32']);
  symlinkSync(`libcuda.so.${v}`, at('/usr/lib/libcuda.so.1'));

  for (const bin of ['/usr/bin/nvidia-smi', '/usr/local/bin/nvidia-debugdump', '/usr/bin/nvidia-cuda-mps-control']) {
    mkdirSync(path.dirname(at(bin)), { recursive: true });
    writeFileSync(at(bin), '#!/bin/sh\n', { mode: 0o755 });
  }
  mkdirSync(at('/opt/elsewhere'), { recursive: true });
  writeFileSync(at('/opt/elsewhere/tool'), '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync('/opt/elsewhere/tool', at('/usr/bin/nvidia-persistenced'));

  const fw = at(`/lib/firmware/nvidia/${v}`);
  mkdirSync(fw, { recursive: true });
  writeFileSync(path.join(fw, 'gsp_ga10x.bin'), 'fw');
  writeFileSync(path.join(fw, 'gsp_tu10x.bin'), 'fw');
  writeFileSync(path.join(fw, 'README'), 'not firmware');

  mkdirSync(at('/run/nvidia-persistenced'), { recursive: true });
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(at('/run/nvidia-persistenced/socket'), resolve));

  buildLdCache(root, [lib64, '/usr/lib']);
  return {
    root,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
