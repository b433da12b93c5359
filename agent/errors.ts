/**
 * The one error catalogue. Every error the agent raises on purpose carries a
 * stable code from here, so logs, the gRPC API and tests can match on the code
 * rather than on message text that may be reworded.
 */
export const ErrorCode = {
  // configuration and command line
  CONFIG_INVALID: 'ACCEL_ERR_CONFIG_INVALID',
  CONFIG_UNREADABLE: 'ACCEL_ERR_CONFIG_UNREADABLE',
  USAGE: 'ACCEL_ERR_USAGE',

  // host access
  HOST_PATH_ESCAPE: 'ACCEL_ERR_HOST_PATH_ESCAPE',
  HOST_READ: 'ACCEL_ERR_HOST_READ',
  HOST_PARSE: 'ACCEL_ERR_HOST_PARSE',
  NFD_WRITE: 'ACCEL_ERR_NFD_WRITE',

  // native binding and NVML
  NATIVE_UNAVAILABLE: 'ACCEL_ERR_NATIVE_UNAVAILABLE',
  NVML_UNAVAILABLE: 'ACCEL_ERR_NVML_UNAVAILABLE',
  NVML_CALL: 'ACCEL_ERR_NVML_CALL',
  NVIDIA_SMI: 'ACCEL_ERR_NVIDIA_SMI',

  // simulated hosts
  SIMHOST: 'ACCEL_ERR_SIMHOST',

  // driver inventory and injection
  LDCACHE_CORRUPT: 'ACCEL_ERR_LDCACHE_CORRUPT',
  DRIVER_NOT_FOUND: 'ACCEL_ERR_DRIVER_NOT_FOUND',
  SYMLINK_ESCAPE: 'ACCEL_ERR_SYMLINK_ESCAPE',
  CDI_INVALID: 'ACCEL_ERR_CDI_INVALID',
  CDI_WRITE: 'ACCEL_ERR_CDI_WRITE',
  OCI_CONFIG_INVALID: 'ACCEL_ERR_OCI_CONFIG_INVALID',
  UNKNOWN_DEVICE: 'ACCEL_ERR_UNKNOWN_DEVICE',
  DEVICE_REQUEST_INVALID: 'ACCEL_ERR_DEVICE_REQUEST_INVALID',
  RUNTIME_EXEC: 'ACCEL_ERR_RUNTIME_EXEC',

  // kubelet device plugin
  PLUGIN_REGISTER: 'ACCEL_ERR_PLUGIN_REGISTER',
  ALLOCATE_INVALID: 'ACCEL_ERR_ALLOCATE_INVALID',

  // health
  HEALTH_SOURCE: 'ACCEL_ERR_HEALTH_SOURCE',

  // telemetry
  SPOOL_CORRUPT: 'ACCEL_ERR_SPOOL_CORRUPT',
  SPOOL_IO: 'ACCEL_ERR_SPOOL_IO',
  PROTOCOL: 'ACCEL_ERR_PROTOCOL',
  COLLECTOR_AUTH: 'ACCEL_ERR_COLLECTOR_AUTH',
  TELEMETRY_INPUT: 'ACCEL_ERR_TELEMETRY_INPUT',

  // local API
  API_UNAVAILABLE: 'ACCEL_ERR_API_UNAVAILABLE',
  NOT_FOUND: 'ACCEL_ERR_NOT_FOUND',
  API_SOCKET: 'ACCEL_ERR_API_SOCKET',
  API_CALL: 'ACCEL_ERR_API_CALL',
  API_DESCRIPTORS: 'ACCEL_ERR_API_DESCRIPTORS',
  INVENTORY_INVALID: 'ACCEL_ERR_INVENTORY_INVALID',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface AccelErrorOptions {
  cause?: unknown;
  /** Structured context for logs (paths, keys, ids); never secrets. */
  details?: Record<string, unknown>;
}

export class AccelError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AccelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AccelError';
    this.code = code;
    this.details = options.details;
  }
}

export function isAccelError(err: unknown, code?: ErrorCode): err is AccelError {
  return err instanceof AccelError && (code === undefined || err.code === code);
}

/** A one-line reason for logs and CLI output, following the `cause` chain. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof Error) {
      const code = (cur as { code?: unknown }).code;
      parts.push(typeof code === 'string' && !cur.message.includes(code) ? `${cur.message} (${code})` : cur.message);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(': ');
}
