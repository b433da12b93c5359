/** Devices, CDI specs and directories for the device-plugin tests. */
import type { Test } from 'tap';
import { buildCdiSpec, FILE_MOUNT_OPTIONS } from '../../agent/inject/cdi-spec.js';
import type { CdiSpec } from '../../agent/inject/container-edits.js';
import type { Device } from '../../agent/model/device.js';
import { KubeletSim } from '../../agent/kubelet/kubelet-sim.js';
import { tempDir } from './temp-dir.js';

export const LIBCUDA = { hostPath: '/usr/lib64/libcuda.so.470.82.01', containerPath: '/usr/lib64/libcuda.so.1', options: [...FILE_MOUNT_OPTIONS] };
export const NVIDIACTL = { path: '/dev/nvidiactl', type: 'c' as const, major: 195, minor: 255 };

/** A spec like the generator's: each device by index and id, control node, one library and one env in the shared edits. */
export function specFor(kind: string, devices: readonly Device[]): CdiSpec {
  return buildCdiSpec({
    kind,
    devices: devices.map((d) => ({
      names: [String(d.index), d.id],
      deviceNodes: d.deviceNodes.map((p, i) => ({ path: p, hostPath: `/host${p}`, type: 'c' as const, major: 195, minor: d.index + i })),
    })),
    allName: 'all',
    containerEdits: { deviceNodes: [NVIDIACTL], mounts: [LIBCUDA], env: ['NVIDIA_DRIVER_CAPABILITIES=compute,utility'] },
  });
}

/** A short directory for sockets (sun_path holds 107 bytes), removed after the test. */
export function pluginDir(t: Test): Promise<string> {
  return tempDir(t, 'kl-');
}

export async function startKubelet(t: Test, dir?: string): Promise<KubeletSim> {
  const sim = await KubeletSim.start(dir ?? (await pluginDir(t)));
  t.teardown(() => sim.stop());
  return sim;
}
