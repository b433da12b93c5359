import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AccelError, ErrorCode } from '../../errors.js';
import { nativeBuildDir } from '../../package-root.js';
import { NvmlReturn, nvmlError, nvmlReturnName } from './nvml-codes.js';

/**
 * In-process NVML through the `accel_nvml` addon (native-bindings/nvml).
 * Every query runs on libuv's worker pool, so a slow or hung driver delays
 * only the promise, never the event loop. The addon is optional: without it
 * `loadNvmlBinding` says why, and the agent falls back to other sources.
 */

/** What NVML reported when the session opened. */
export interface NvmlSystemInfo {
  driverVersion: string | null;
  nvmlVersion: string | null;
  /** CUDA driver API version as NVML encodes it (11040 = 11.4). */
  cudaDriverVersion: number | null;
  deviceCount: number;
}

/** One device's failure; the other devices in the same answer are unaffected. */
export interface NvmlDeviceError {
  code: number;
  /** `GPU_IS_LOST`, `UNKNOWN`, … (see NvmlReturn). */
  name: string;
  function: string;
  message: string;
}

/** Fields are null where the device or driver does not support the query. */
export interface NvmlDeviceInfo {
  index: number;
  uuid: string | null;
  name: string | null;
  /** As NVML writes it: `00000000:00:07.0`. */
  pciBusId: string | null;
  /** PCI device id << 16 | vendor id. */
  pciDeviceId: number | null;
  pciSubsystemId: number | null;
  minor: number | null;
  memoryTotalBytes: number | null;
  /** nvmlGpuVirtualizationMode_t: 0 none, 1 pass-through, 2 vGPU, 3 host vGPU, 4 host vSGA. */
  virtualizationMode: number | null;
  error?: NvmlDeviceError;
}

export interface NvmlDeviceSample {
  index: number;
  uuid: string | null;
  utilGpu: number | null;
  utilMemory: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  temperatureC: number | null;
  powerMilliwatts: number | null;
  clockSmMHz: number | null;
  clockMemMHz: number | null;
  /** Volatile (since driver load) ECC error counts. */
  eccCorrected: number | null;
  eccUncorrected: number | null;
  error?: NvmlDeviceError;
}

export type NvmlEventType = 'xid' | 'ecc_single' | 'ecc_double';

export interface NvmlEvent {
  /** Null only if NVML names a device the event set was not registered for. */
  index: number | null;
  uuid: string | null;
  type: NvmlEventType;
  /** The Xid number for `xid`; 0 for ECC events. */
  data: number;
}

/** Longest single wait the addon allows; callers wanting longer loop. */
export const NVML_MAX_WAIT_MS = 1000;

export interface NvmlSession extends NvmlSystemInfo {
  /** The agent-side path the library was loaded from. */
  readonly libraryPath: string;
  readonly closed: boolean;
  devices(): Promise<NvmlDeviceInfo[]>;
  /** Never rejects for one device's failure: that device's entry carries `error`. */
  sample(): Promise<NvmlDeviceSample[]>;
  /**
   * Waits up to `timeoutMs` (capped at NVML_MAX_WAIT_MS) for Xid and ECC
   * events; resolves [] on timeout. The first call registers every device
   * present then, and only events raised after that are seen: call it once
   * (with 0) at start to arm. One wait at a time per session.
   */
  waitEvents(timeoutMs: number): Promise<NvmlEvent[]>;
  /** Shuts NVML down and unloads the library; later calls reject. Safe to call twice. */
  shutdown(): Promise<void>;
}

export interface NvmlBinding {
  /** Where the addon was loaded from. */
  readonly addonPath: string;
  /**
   * Loads the NVML library at an absolute agent-side path and initialises it.
   * Rejects with NVML_UNAVAILABLE (details.nvmlCode says why: 12 no library,
   * 9 no driver, …).
   */
  open(libraryPath: string): Promise<NvmlSession>;
}

export type NvmlBindingLoad =
  | { available: true; binding: NvmlBinding }
  | { available: false; error: AccelError };

export interface LoadNvmlBindingOptions {
  /** The compiled addon; defaults to build/native/accel_nvml.node in the package. */
  addonPath?: string;
}

/** The addon's raw JS surface (see native-bindings/nvml/addon.c). */
/** The addon's opaque session handle. */
interface SessionToken {
  readonly __nvmlSession: unique symbol;
}

interface RawDeviceError {
  code: number;
  function: string;
  message: string;
}

type Raw<T> = Omit<T, 'error'> & { error?: RawDeviceError };

interface NvmlAddon {
  init(libraryPath: string): Promise<NvmlSystemInfo & { session: SessionToken }>;
  devices(session: SessionToken): Promise<Raw<NvmlDeviceInfo>[]>;
  sample(session: SessionToken): Promise<Raw<NvmlDeviceSample>[]>;
  waitEvents(session: SessionToken, timeoutMs: number): Promise<NvmlEvent[]>;
  shutdown(session: SessionToken): Promise<void>;
}

const ADDON_FUNCTIONS = ['init', 'devices', 'sample', 'waitEvents', 'shutdown'] as const;

export function defaultAddonPath(): string {
  return path.join(nativeBuildDir(), 'accel_nvml.node');
}

/** Loads the addon, or explains (NATIVE_UNAVAILABLE) why it cannot be used. Never throws. */
export function loadNvmlBinding(options: LoadNvmlBindingOptions = {}): NvmlBindingLoad {
  const addonPath = path.resolve(options.addonPath ?? defaultAddonPath());
  const unavailable = (why: string, cause?: unknown): NvmlBindingLoad => ({
    available: false,
    error: new AccelError(ErrorCode.NATIVE_UNAVAILABLE, `NVML addon unavailable: ${why}`, {
      cause,
      details: { addonPath },
    }),
  });
  if (!existsSync(addonPath)) {
    return unavailable(`${addonPath} does not exist (build it with scripts/build-native.sh)`);
  }
  let addon: unknown;
  try {
    addon = createRequire(import.meta.url)(addonPath);
  } catch (err) {
    return unavailable(`${addonPath} failed to load: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  const missing = ADDON_FUNCTIONS.filter((fn) => typeof (addon as Record<string, unknown> | null)?.[fn] !== 'function');
  if (missing.length > 0) return unavailable(`${addonPath} lacks ${missing.join(', ')}: not the accel_nvml addon`);
  return { available: true, binding: new AddonBinding(addonPath, addon as NvmlAddon) };
}

class AddonBinding implements NvmlBinding {
  constructor(
    readonly addonPath: string,
    private readonly addon: NvmlAddon,
  ) {}

  async open(libraryPath: string): Promise<NvmlSession> {
    if (!path.isAbsolute(libraryPath) || libraryPath.includes('\0')) {
      throw new AccelError(ErrorCode.NVML_UNAVAILABLE, `NVML library path must be absolute: ${JSON.stringify(libraryPath)}`, {
        details: { libraryPath },
      });
    }
    try {
      const { session, ...info } = await this.addon.init(libraryPath);
      return new AddonNvmlSession(this.addon, session, libraryPath, info);
    } catch (err) {
      throw nvmlError(err, 'init', { libraryPath });
    }
  }
}

class AddonNvmlSession implements NvmlSession {
  readonly driverVersion: string | null;
  readonly nvmlVersion: string | null;
  readonly cudaDriverVersion: number | null;
  readonly deviceCount: number;
  private shutDown = false;
  /** Calls handed to the addon and not yet settled; shutdown lets them finish first. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly addon: NvmlAddon,
    private readonly session: SessionToken,
    readonly libraryPath: string,
    info: NvmlSystemInfo,
  ) {
    this.driverVersion = info.driverVersion;
    this.nvmlVersion = info.nvmlVersion;
    this.cudaDriverVersion = info.cudaDriverVersion;
    this.deviceCount = info.deviceCount;
  }

  get closed(): boolean {
    return this.shutDown;
  }

  async devices(): Promise<NvmlDeviceInfo[]> {
    const raw = await this.call('devices', () => this.addon.devices(this.session));
    return raw.map(withErrorName);
  }

  async sample(): Promise<NvmlDeviceSample[]> {
    const raw = await this.call('sample', () => this.addon.sample(this.session));
    return raw.map(withErrorName);
  }

  waitEvents(timeoutMs: number): Promise<NvmlEvent[]> {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(
        new AccelError(ErrorCode.NVML_CALL, `waitEvents: timeout must be a finite number >= 0, got ${timeoutMs}`),
      );
    }
    return this.call('waitEvents', () => this.addon.waitEvents(this.session, Math.min(timeoutMs, NVML_MAX_WAIT_MS)));
  }

  async shutdown(): Promise<void> {
    if (this.shutDown) return;
    this.shutDown = true;
    // The addon's worker threads take calls in no set order: a shutdown queued behind a
    // wait could run first and fail it, so it is queued only once every earlier call settled.
    await Promise.allSettled(this.running);
    try {
      await this.addon.shutdown(this.session);
    } catch (err) {
      throw nvmlError(err, 'call', { libraryPath: this.libraryPath, method: 'shutdown' });
    }
  }

  private async call<T>(method: string, run: () => Promise<T>): Promise<T> {
    if (this.shutDown) {
      throw new AccelError(ErrorCode.NVML_CALL, `NVML ${method}: the session is shut down`, {
        details: { libraryPath: this.libraryPath, method, nvmlCode: NvmlReturn.UNINITIALIZED },
      });
    }
    let pending: Promise<T> | undefined;
    try {
      pending = run();
      this.running.add(pending);
      return await pending;
    } catch (err) {
      throw nvmlError(err, 'call', { libraryPath: this.libraryPath, method });
    } finally {
      if (pending) this.running.delete(pending);
    }
  }
}

function withErrorName<T extends { error?: RawDeviceError }>(entry: T): Omit<T, 'error'> & { error?: NvmlDeviceError } {
  const { error, ...rest } = entry;
  return error ? { ...rest, error: { ...error, name: nvmlReturnName(error.code) } } : rest;
}
