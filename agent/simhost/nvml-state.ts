/**
 * The NVML stub's state file (`nvml-stub.conf`) and event file
 * (`nvml-stub.events`): a strict codec, and the helpers tests use to change
 * a running simulated host. The stub re-reads the state file when it
 * changes, so the file is only ever replaced whole (temp file + rename),
 * never rewritten in place where the stub could read half of it.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { AccelError, ErrorCode } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic-file.js';
import { readManifest } from './manifest.js';
import { checkedTreePath } from './tree-path.js';

export const NVML_CONF_FILE = 'nvml-stub.conf';
export const NVML_EVENTS_FILE = 'nvml-stub.events';

/** NVML return codes tests commonly inject (values from NVML's `nvmlReturn_t`). */
export const NvmlReturn = {
  SUCCESS: 0,
  ERROR_UNINITIALIZED: 1,
  ERROR_INVALID_ARGUMENT: 2,
  ERROR_NOT_SUPPORTED: 3,
  ERROR_NO_PERMISSION: 4,
  ERROR_DRIVER_NOT_LOADED: 9,
  ERROR_TIMEOUT: 10,
  ERROR_GPU_IS_LOST: 15,
  ERROR_UNKNOWN: 999,
} as const;

/** `nvmlGpuVirtualizationMode_t`. */
export const VirtualizationMode = { NONE: 0, PASSTHROUGH: 1, VGPU: 2, HOST_VGPU: 3, HOST_VSGA: 4 } as const;

const TEXT_KEYS = ['uuid', 'name', 'pci_bus_id'] as const;
const HEX_KEYS = ['pci_device_id', 'pci_subsystem_id'] as const;
const UINT_KEYS = [
  'minor',
  'memory_total_mib',
  'memory_used_mib',
  'util_gpu',
  'util_memory',
  'temperature',
  'power_mw',
  'clock_sm',
  'clock_mem',
  'ecc_corrected',
  'ecc_uncorrected',
  'virtualization_mode',
] as const;

type TextKey = (typeof TEXT_KEYS)[number];
type HexKey = (typeof HEX_KEYS)[number];
type UintKey = (typeof UINT_KEYS)[number];
export type NvmlDeviceKey = TextKey | HexKey | UintKey | 'lost';

/** One device's state; a missing key makes the stub answer NVML_ERROR_NOT_SUPPORTED for that query. */
export type NvmlStubDevice = { [K in TextKey]?: string } & { [K in HexKey | UintKey]?: number } & { lost?: boolean };

/** Every device key in the order the serialiser writes them. */
export const NVML_DEVICE_KEYS: readonly NvmlDeviceKey[] = [...TEXT_KEYS, ...HEX_KEYS, ...UINT_KEYS, 'lost'];

export type NvmlEventType = 'xid' | 'ecc_single' | 'ecc_double';
export const NVML_EVENT_TYPES: readonly NvmlEventType[] = ['xid', 'ecc_single', 'ecc_double'];

/** The target `nvidia-smi` in a delay line delays the fake tool rather than an NVML function. */
export const SMI_DELAY_TARGET = 'nvidia-smi';

export interface NvmlStubState {
  driverVersion: string | null;
  nvmlVersion: string | null;
  cudaDriverVersion: number | null;
  /** NVML function → return code it must give. */
  failures: Record<string, number>;
  /** NVML function (or `nvidia-smi`) → milliseconds to sleep before answering. */
  delays: Record<string, number>;
  /** Indexed by NVML device index; dense (the stub counts distinct indices). */
  devices: NvmlStubDevice[];
}

/** Bounds that keep a state file something the stub's fixed-size tables and parser accept. */
export const MAX_DEVICES = 64;
const MAX_TEXT = 95;
const MAX_DELAY_MS = 600_000;
const MAX_RETURN_CODE = 999;
const MAX_CUDA_VERSION = 999_999;
/** Largest value per numeric key; the rest are 32-bit. */
const UINT_LIMITS: Partial<Record<UintKey, number>> = {
  memory_total_mib: 2 ** 40,
  memory_used_mib: 2 ** 40,
  ecc_corrected: Number.MAX_SAFE_INTEGER,
  ecc_uncorrected: Number.MAX_SAFE_INTEGER,
  util_gpu: 100,
  util_memory: 100,
  virtualization_mode: VirtualizationMode.HOST_VSGA,
};
/** sysfs's four-digit or NVML's eight-digit domain form. */
const BUS_ID = /^(?:[0-9a-fA-F]{4}|[0-9a-fA-F]{8}):[0-9a-fA-F]{2}:[01][0-9a-fA-F]\.[0-7]$/;

export function emptyNvmlState(): NvmlStubState {
  return { driverVersion: null, nvmlVersion: null, cudaDriverVersion: null, failures: {}, delays: {}, devices: [] };
}

/** Parses a state file, refusing any line it does not understand, with the line number in the message. */
export function parseNvmlState(text: string, file = NVML_CONF_FILE): NvmlStubState {
  const state = emptyNvmlState();
  const seen = new Map<string, number>();
  const sparse = new Map<number, NvmlStubDevice>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    const fail = (reason: string): never => {
      throw new AccelError(ErrorCode.SIMHOST, `${file}:${lineNo}: ${reason}`, { details: { file, line: lineNo } });
    };
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    if (/[\x00-\x1f\x7f]/.test(line)) fail('control character in line');
    const once = (key: string) => {
      const first = seen.get(key);
      if (first !== undefined) fail(`duplicate ${key} (first at line ${first})`);
      seen.set(key, lineNo);
    };
    const [statement, ...rest] = line.split(' ');
    switch (statement) {
      case 'driver_version':
      case 'nvml_version': {
        once(statement);
        const value = checkText(rest.join(' '), fail);
        if (statement === 'driver_version') state.driverVersion = value;
        else state.nvmlVersion = value;
        return;
      }
      case 'cuda_driver_version':
        once(statement);
        if (rest.length !== 1) fail('cuda_driver_version takes one number');
        state.cudaDriverVersion = checkCudaVersion(rest[0]!, fail);
        return;
      case 'fail':
      case 'delay': {
        if (rest.length !== 2) fail(`${statement} takes a function name and a number`);
        const [fn, raw] = rest as [string, string];
        checkFunctionName(fn, statement === 'delay', fail);
        once(`${statement} ${fn}`);
        const n = checkUint(raw, fail);
        if (statement === 'fail') {
          if (n < 1 || n > MAX_RETURN_CODE) fail(`return code ${n} is not an NVML error (1..${MAX_RETURN_CODE})`);
          state.failures[fn] = n;
        } else {
          if (n < 1 || n > MAX_DELAY_MS) fail(`delay ${n} ms is not 1..${MAX_DELAY_MS}`);
          state.delays[fn] = n;
        }
        return;
      }
      case 'device': {
        if (rest.length < 3) fail('device takes an index, a key and a value');
        const [rawIndex, key, ...valueParts] = rest as [string, string, ...string[]];
        if (!/^(0|[1-9]\d{0,2})$/.test(rawIndex) || Number(rawIndex) >= MAX_DEVICES) {
          fail(`device index ${JSON.stringify(rawIndex)} is not 0..${MAX_DEVICES - 1}`);
        }
        const index = Number(rawIndex);
        if (!isDeviceKey(key)) fail(`unknown device key ${JSON.stringify(key)}`);
        once(`device ${index} ${key}`);
        const device = sparse.get(index) ?? {};
        sparse.set(index, device);
        assignDeviceValue(device, key as NvmlDeviceKey, decodeDeviceValue(key as NvmlDeviceKey, valueParts.join(' '), fail));
        return;
      }
      default:
        fail(`unknown statement ${JSON.stringify(statement)}`);
    }
  });
  for (let i = 0; i < sparse.size; i++) {
    if (!sparse.has(i)) {
      throw new AccelError(ErrorCode.SIMHOST, `${file}: device indices must run 0..${sparse.size - 1} without gaps; ${i} is missing`);
    }
    state.devices.push(sparse.get(i)!);
  }
  return state;
}

/** Writes the canonical text of a state; `parseNvmlState(serialiseNvmlState(s))` gives `s` back. */
export function serialiseNvmlState(state: NvmlStubState): string {
  const problem = (reason: string): never => {
    throw new AccelError(ErrorCode.SIMHOST, `NVML stub state: ${reason}`);
  };
  const out: string[] = ['# NVML stub state of a simulated host; the stub re-reads this file when it changes.'];
  if (state.driverVersion !== null) out.push(`driver_version ${checkText(state.driverVersion, problem)}`);
  if (state.nvmlVersion !== null) out.push(`nvml_version ${checkText(state.nvmlVersion, problem)}`);
  if (state.cudaDriverVersion !== null) out.push(`cuda_driver_version ${checkCudaVersion(String(state.cudaDriverVersion), problem)}`);
  for (const [fn, code] of Object.entries(state.failures).sort(byKey)) {
    checkFunctionName(fn, false, problem);
    if (!Number.isInteger(code) || code < 1 || code > MAX_RETURN_CODE) problem(`return code for ${fn} must be 1..${MAX_RETURN_CODE}`);
    out.push(`fail ${fn} ${code}`);
  }
  for (const [fn, ms] of Object.entries(state.delays).sort(byKey)) {
    checkFunctionName(fn, true, problem);
    if (!Number.isInteger(ms) || ms < 1 || ms > MAX_DELAY_MS) problem(`delay for ${fn} must be 1..${MAX_DELAY_MS} ms`);
    out.push(`delay ${fn} ${ms}`);
  }
  if (state.devices.length > MAX_DEVICES) problem(`more than ${MAX_DEVICES} devices`);
  state.devices.forEach((device, index) => {
    for (const key of NVML_DEVICE_KEYS) {
      const value = device[key];
      if (value === undefined) continue;
      out.push(`device ${index} ${key} ${encodeDeviceValue(key, value, problem)}`);
    }
  });
  return out.join('\n') + '\n';
}

/** Returns a copy of `device` with `key` set, or removed when `value` is null (the stub then answers NOT_SUPPORTED). */
export function withDeviceValue<K extends NvmlDeviceKey>(device: NvmlStubDevice, key: K, value: NonNullable<NvmlStubDevice[K]> | null): NvmlStubDevice {
  const next: NvmlStubDevice = { ...device };
  if (value === null) {
    delete next[key];
    return next;
  }
  const fail = (reason: string): never => {
    throw new AccelError(ErrorCode.SIMHOST, `device ${key}: ${reason}`);
  };
  // Round-trip through the text form so a value the stub could not read is refused here.
  assignDeviceValue(next, key, decodeDeviceValue(key, encodeDeviceValue(key, value, fail), fail));
  return next;
}

/** One line of the event file. */
export function formatNvmlEvent(index: number, type: NvmlEventType, data: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_DEVICES) {
    throw new AccelError(ErrorCode.SIMHOST, `event device index ${index} is not 0..${MAX_DEVICES - 1}`);
  }
  if (!NVML_EVENT_TYPES.includes(type)) throw new AccelError(ErrorCode.SIMHOST, `unknown event type ${JSON.stringify(type)}`);
  if (!Number.isSafeInteger(data) || data < 0) throw new AccelError(ErrorCode.SIMHOST, `event data ${data} is not a non-negative integer`);
  return `${index} ${type} ${data}\n`;
}

// ---- helpers that change a simulated host's NVML state in place ----

/** Agent-side paths of the state and event files of the simulated host at `root`. */
export async function nvmlFiles(root: string): Promise<{ conf: string; events: string }> {
  const manifest = await readManifest(root);
  if (manifest.nvml === null) {
    throw new AccelError(ErrorCode.SIMHOST, `simulated host ${root} (profile ${manifest.profile}) has no NVML stub`);
  }
  return { conf: await checkedTreePath(root, manifest.nvml.conf), events: await checkedTreePath(root, manifest.nvml.events) };
}

export async function readNvmlState(root: string): Promise<NvmlStubState> {
  const { conf } = await nvmlFiles(root);
  return parseNvmlState(await readFile(conf, 'utf8'), conf);
}

/** Replaces the state file atomically. */
export async function writeNvmlState(root: string, state: NvmlStubState): Promise<void> {
  const { conf } = await nvmlFiles(root);
  await replaceFile(conf, serialiseNvmlState(state));
}

/** Reads, changes and atomically rewrites the state file. */
export async function updateNvmlState(root: string, change: (state: NvmlStubState) => NvmlStubState): Promise<NvmlStubState> {
  const next = change(await readNvmlState(root));
  await writeNvmlState(root, next);
  return next;
}

/** Sets (or with null removes) one device value; index may be one past the last device to add a device. */
export async function setDeviceValue<K extends NvmlDeviceKey>(
  root: string,
  index: number,
  key: K,
  value: NonNullable<NvmlStubDevice[K]> | null,
): Promise<void> {
  await updateNvmlState(root, (state) => {
    if (!Number.isInteger(index) || index < 0 || index > state.devices.length) {
      throw new AccelError(ErrorCode.SIMHOST, `device index ${index} is not 0..${state.devices.length}`);
    }
    const devices = [...state.devices];
    devices[index] = withDeviceValue(devices[index] ?? {}, key, value);
    return { ...state, devices };
  });
}

/** Makes an NVML function return `code` from now on, or with null answer normally again. */
export async function setFailure(root: string, fn: string, code: number | null): Promise<void> {
  await updateNvmlState(root, (state) => {
    const failures = { ...state.failures };
    if (code === null) delete failures[fn];
    else failures[fn] = code;
    return { ...state, failures };
  });
}

/** Makes an NVML function (or `nvidia-smi`) sleep `ms` before answering, or with null stops that. */
export async function setDelay(root: string, fn: string, ms: number | null): Promise<void> {
  await updateNvmlState(root, (state) => {
    const delays = { ...state.delays };
    if (ms === null) delete delays[fn];
    else delays[fn] = ms;
    return { ...state, delays };
  });
}

/** Marks a device lost: every NVML call on it returns NVML_ERROR_GPU_IS_LOST. */
export async function markLost(root: string, index: number, lost = true): Promise<void> {
  await setDeviceValue(root, index, 'lost', lost ? true : null);
}

/**
 * Appends one event. The event file is append-only (the stub remembers how
 * far it has read), so this is a single O_APPEND write of a whole line.
 */
export async function appendEvent(root: string, index: number, type: NvmlEventType, data: number): Promise<void> {
  const { events } = await nvmlFiles(root);
  await appendFile(events, formatNvmlEvent(index, type, data), { flag: 'a' });
}

/** Replaces a file of the simulated host whole, for the reason given at the top. */
export async function replaceFile(file: string, content: string, mode = 0o644): Promise<void> {
  try {
    await writeFileAtomic(file, content, { mode });
  } catch (err) {
    throw new AccelError(ErrorCode.SIMHOST, `cannot replace ${file}`, { cause: err });
  }
}

// ---- value codecs ----

function isDeviceKey(key: string): key is NvmlDeviceKey {
  return (NVML_DEVICE_KEYS as readonly string[]).includes(key);
}

type Fail = (reason: string) => never;

function decodeDeviceValue(key: NvmlDeviceKey, raw: string, fail: Fail): string | number | boolean {
  if (key === 'pci_bus_id' && !BUS_ID.test(raw)) fail(`pci_bus_id must look like 00000000:00:07.0, got ${JSON.stringify(raw)}`);
  if ((TEXT_KEYS as readonly string[]).includes(key)) return checkText(raw, fail);
  if ((HEX_KEYS as readonly string[]).includes(key)) {
    if (!/^0x[0-9a-fA-F]{1,8}$/.test(raw)) fail(`${key} must be 0x and 1..8 hex digits, got ${JSON.stringify(raw)}`);
    return parseInt(raw.slice(2), 16);
  }
  if (key === 'lost') {
    if (raw !== '0' && raw !== '1') fail(`lost must be 0 or 1, got ${JSON.stringify(raw)}`);
    return raw === '1';
  }
  const n = checkUint(raw, fail);
  const max = UINT_LIMITS[key as UintKey] ?? 0xffffffff;
  if (n > max) fail(`${key} ${n} is above ${max}`);
  return n;
}

function encodeDeviceValue(key: NvmlDeviceKey, value: string | number | boolean, fail: Fail): string {
  if ((TEXT_KEYS as readonly string[]).includes(key)) {
    if (typeof value !== 'string') fail(`${key} must be text`);
    return checkText(value as string, fail);
  }
  if (key === 'lost') {
    if (typeof value !== 'boolean') fail('lost must be a boolean');
    return value ? '1' : '0';
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(`${key} must be a non-negative integer`);
  const n = value as number;
  if ((HEX_KEYS as readonly string[]).includes(key)) {
    if (n > 0xffffffff) fail(`${key} must fit 32 bits`);
    return '0x' + n.toString(16).padStart(8, '0');
  }
  return String(n);
}

function assignDeviceValue(device: NvmlStubDevice, key: NvmlDeviceKey, value: string | number | boolean): void {
  (device as Record<string, string | number | boolean>)[key] = value;
}

function checkText(value: string, fail: Fail): string {
  if (value === '' || value !== value.trim()) fail('value must be non-empty without surrounding spaces');
  if (value.length > MAX_TEXT) fail(`value is longer than ${MAX_TEXT} characters`);
  if (/[\x00-\x1f\x7f]/.test(value)) fail('value contains a control character');
  return value;
}

function checkUint(raw: string, fail: Fail): number {
  if (!/^(0|[1-9]\d*)$/.test(raw) || !Number.isSafeInteger(Number(raw))) fail(`${JSON.stringify(raw)} is not a non-negative integer`);
  return Number(raw);
}

function checkCudaVersion(raw: string, fail: Fail): number {
  const n = checkUint(raw, fail);
  if (n < 1 || n > MAX_CUDA_VERSION) fail(`cuda_driver_version ${n} is not 1..${MAX_CUDA_VERSION}`);
  return n;
}

function checkFunctionName(fn: string, allowSmi: boolean, fail: Fail): void {
  if (allowSmi && fn === SMI_DELAY_TARGET) return;
  if (!/^nvml[A-Za-z0-9_]{1,80}$/.test(fn)) fail(`${JSON.stringify(fn)} is not an NVML function name`);
}

function byKey(a: [string, number], b: [string, number]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
