import type { CdiSpec, ContainerEdits } from './container-edits.js';

/**
 * The lowest `cdiVersion` a spec's fields allow. Runtimes refuse a version
 * they do not know (podman 4.3 and early containerd 1.7 stop at 0.5.0) and a
 * version lower than the fields need, so the agent writes exactly this.
 *
 *   0.3.0  the oldest version consumers still accept
 *   0.4.0  a mount `type`
 *   0.5.0  a device name not starting with a letter; a device node `hostPath`
 *   0.6.0  annotations (spec or device); a dot in the kind's class
 *   0.7.0  additionalGids (intelRdt too, which these types do not carry)
 */
export const CDI_VERSIONS = ['0.3.0', '0.4.0', '0.5.0', '0.6.0', '0.7.0'] as const;
export type CdiVersion = (typeof CDI_VERSIONS)[number];

export function minimumCdiVersion(spec: Omit<CdiSpec, 'cdiVersion'>): CdiVersion {
  const edits: ContainerEdits[] = [spec.containerEdits ?? {}, ...spec.devices.map((d) => d.containerEdits)];
  if (edits.some((e) => (e.additionalGids?.length ?? 0) > 0)) return '0.7.0';
  const hasAnnotations = (a: Record<string, string> | undefined) => a !== undefined && Object.keys(a).length > 0;
  const cls = spec.kind.split('/')[1] ?? '';
  if (hasAnnotations(spec.annotations) || spec.devices.some((d) => hasAnnotations(d.annotations)) || cls.includes('.')) return '0.6.0';
  if (spec.devices.some((d) => !/^[A-Za-z]/.test(d.name))) return '0.5.0';
  if (edits.some((e) => e.deviceNodes?.some((n) => n.hostPath !== undefined && n.hostPath !== ''))) return '0.5.0';
  if (edits.some((e) => e.mounts?.some((m) => m.type !== undefined && m.type !== ''))) return '0.4.0';
  return '0.3.0';
}
