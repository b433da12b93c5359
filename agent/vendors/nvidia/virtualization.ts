import type { DeviceKind } from '../../model/device.js';

/** NVML's nvmlGpuVirtualizationMode_t, in words; nvidia-smi prints the same modes as text. */
export type VirtualizationMode = 'none' | 'passthrough' | 'vgpu' | 'host-vgpu' | 'host-vsga';

const BY_NVML_VALUE: readonly VirtualizationMode[] = ['none', 'passthrough', 'vgpu', 'host-vgpu', 'host-vsga'];

const BY_SMI_TEXT: Readonly<Record<string, VirtualizationMode>> = {
  none: 'none',
  'pass-through': 'passthrough',
  vgpu: 'vgpu',
  'host vgpu': 'host-vgpu',
  'host vsga': 'host-vsga',
};

/** Maps an NVML enum value or an nvidia-smi string to a mode; null when unknown or unavailable. */
export function virtualizationModeOf(raw: number | string | null | undefined): VirtualizationMode | null {
  if (typeof raw === 'number') return Number.isInteger(raw) ? (BY_NVML_VALUE[raw] ?? null) : null;
  if (typeof raw === 'string') return BY_SMI_TEXT[raw.trim().toLowerCase()] ?? null;
  return null;
}

/**
 * vGPU guests see a product name naming the board and the profile:
 * `GRID P4-2Q`, `GRID T4-1B4`, `NVIDIA A10-4Q`, `NVIDIA A100-1-5C` (MIG-backed).
 * The profile is the frame buffer in GiB (optionally after a MIG slice)
 * followed by the series letter A, B, C or Q. A bare `GRID K520` is a
 * physical board and does not match; nor do `NVIDIA A100-PCIE-40GB` or
 * `Tesla P4`.
 */
const VGPU_PROFILE_NAME = /^(?:GRID|NVIDIA)\s+[A-Za-z0-9]+-(?:\d+-)?\d+[ABCQ]\d?$/;

export function isVgpuProfileName(name: string): boolean {
  return VGPU_PROFILE_NAME.test(name.trim());
}

/** `vgpu` when the driver says the GPU is a vGPU, or its name is a vGPU profile; else `gpu`. */
export function nvidiaDeviceKind(name: string, mode: VirtualizationMode | null): DeviceKind {
  return mode === 'vgpu' || isVgpuProfileName(name) ? 'vgpu' : 'gpu';
}
