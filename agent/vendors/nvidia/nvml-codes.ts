import { AccelError, ErrorCode } from '../../errors.js';

/** NVML's nvmlReturn_t values that the agent reacts to or reports by name. */
export const NvmlReturn = {
  SUCCESS: 0,
  UNINITIALIZED: 1,
  INVALID_ARGUMENT: 2,
  NOT_SUPPORTED: 3,
  NO_PERMISSION: 4,
  ALREADY_INITIALIZED: 5,
  NOT_FOUND: 6,
  INSUFFICIENT_SIZE: 7,
  INSUFFICIENT_POWER: 8,
  DRIVER_NOT_LOADED: 9,
  TIMEOUT: 10,
  IRQ_ISSUE: 11,
  LIBRARY_NOT_FOUND: 12,
  FUNCTION_NOT_FOUND: 13,
  CORRUPTED_INFOROM: 14,
  GPU_IS_LOST: 15,
  RESET_REQUIRED: 16,
  OPERATING_SYSTEM: 17,
  LIB_RM_VERSION_MISMATCH: 18,
  IN_USE: 19,
  MEMORY: 20,
  NO_DATA: 21,
  VGPU_ECC_NOT_SUPPORTED: 22,
  INSUFFICIENT_RESOURCES: 23,
  FREQ_NOT_SUPPORTED: 24,
  ARGUMENT_VERSION_MISMATCH: 25,
  DEPRECATED: 26,
  NOT_READY: 27,
  GPU_NOT_FOUND: 28,
  INVALID_STATE: 29,
  UNKNOWN: 999,
} as const;

export type NvmlReturnName = keyof typeof NvmlReturn;

const NAMES = new Map<number, NvmlReturnName>(
  (Object.entries(NvmlReturn) as [NvmlReturnName, number][]).map(([name, code]) => [code, name]),
);

/** `GPU_IS_LOST` for 15; codes newer than this table read as `CODE_<n>` rather than being mislabelled. */
export function nvmlReturnName(code: number): string {
  return NAMES.get(code) ?? `CODE_${code}`;
}

/** What the addon attaches to the Errors it rejects with. */
export interface NvmlFailureFields {
  nvmlCode: number;
  nvmlFunction: string;
}

function failureFields(err: unknown): NvmlFailureFields | null {
  if (!(err instanceof Error)) return null;
  const { nvmlCode, nvmlFunction } = err as Error & Partial<NvmlFailureFields>;
  if (typeof nvmlCode !== 'number' || typeof nvmlFunction !== 'string') return null;
  return { nvmlCode, nvmlFunction };
}

/**
 * Turns an addon rejection into the agent's error: `NVML_UNAVAILABLE` when
 * NVML could not be brought up at all (no library, no driver), `NVML_CALL`
 * for a failed query on a working NVML. The NVML code stays in `details` so
 * callers can tell a lost GPU from a timeout without parsing text.
 */
export function nvmlError(
  err: unknown,
  stage: 'init' | 'call',
  context: Record<string, unknown> = {},
): AccelError {
  const fields = failureFields(err);
  const code = stage === 'init' ? ErrorCode.NVML_UNAVAILABLE : ErrorCode.NVML_CALL;
  const reason = err instanceof Error ? err.message : String(err);
  const details: Record<string, unknown> = { ...context };
  if (fields) {
    details.nvmlCode = fields.nvmlCode;
    details.nvmlError = nvmlReturnName(fields.nvmlCode);
    details.nvmlFunction = fields.nvmlFunction;
  }
  const prefix = stage === 'init' ? 'NVML is unavailable' : 'NVML call failed';
  return new AccelError(code, `${prefix}: ${reason}`, { cause: err, details });
}

/** The NVML return code behind an error from this module, if there is one. */
export function nvmlCodeOf(err: unknown): number | undefined {
  if (!(err instanceof AccelError)) return undefined;
  const code = err.details?.nvmlCode;
  return typeof code === 'number' ? code : undefined;
}
