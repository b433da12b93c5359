/**
 * The edits that give a container its devices, in CDI's vocabulary. The CDI
 * spec writer, the device plugin's non-CDI responses and the runc wrapper all
 * consume this one shape, so every path injects exactly the same things.
 */
export interface DeviceNodeEdit {
  /** Path inside the container. */
  path: string;
  /** Path on the host as the container runtime sees it; defaults to `path`. */
  hostPath?: string;
  type?: 'c' | 'b';
  major?: number;
  minor?: number;
  fileMode?: number;
  permissions?: string;
  uid?: number;
  gid?: number;
}

export interface MountEdit {
  hostPath: string;
  containerPath: string;
  type?: string;
  options?: string[];
}

export interface HookEdit {
  hookName: 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop' | 'prestart';
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface ContainerEdits {
  env?: string[];
  deviceNodes?: DeviceNodeEdit[];
  mounts?: MountEdit[];
  hooks?: HookEdit[];
  additionalGids?: number[];
}

export interface CdiDevice {
  name: string;
  annotations?: Record<string, string>;
  containerEdits: ContainerEdits;
}

export interface CdiSpec {
  cdiVersion: string;
  kind: string;
  annotations?: Record<string, string>;
  devices: CdiDevice[];
  containerEdits?: ContainerEdits;
}
