import { AccelError, ErrorCode } from '../errors.js';

/**
 * Which devices a container asks for, decided from its OCI config alone.
 *
 * The trusted channel is the CDI annotation convention: kubelet's device
 * plugin answer (or a runtime) writes `cdi.k8s.io/<key>` =
 * `vendor.com/class=name[,vendor.com/class=name...]`. Selecting devices
 * through environment variables such as NVIDIA_VISIBLE_DEVICES lets any pod
 * bypass the scheduler, so it is only honoured when the operator opts in.
 */

export const CDI_ANNOTATION_PREFIX = 'cdi.k8s.io/';
/** The annotation key after the prefix, as the CDI convention bounds it. */
const ANNOTATION_NAME_MAX = 63;

const VENDOR_RE = /^[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const CLASS_RE = /^[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/;
const DEVICE_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?$/;
const ANNOTATION_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
/** Device names longer than this are refused; real ones (indices, UUIDs, MIG ids) are far shorter. */
const DEVICE_NAME_MAX = 256;

export interface QualifiedDeviceName {
  vendor: string;
  class: string;
  /** `vendor/class`, the CDI spec's `kind`. */
  kind: string;
  name: string;
  /** `vendor/class=name`. */
  qualified: string;
}

/** Maps an environment variable to the CDI kind whose devices it selects. */
export interface EnvSelector {
  variable: string;
  kind: string;
}

export const DEFAULT_ENV_SELECTORS: readonly EnvSelector[] = [
  { variable: 'NVIDIA_VISIBLE_DEVICES', kind: 'nvidia.com/gpu' },
];

export interface DeviceRequestOptions {
  /** Honour the selector variables in the container's environment. Off unless the operator enables it. */
  allowEnvSelection?: boolean;
  envSelectors?: readonly EnvSelector[];
}

export interface DeviceRequestInput {
  annotations?: Readonly<Record<string, string>>;
  /** The container's `process.env` (`KEY=VALUE` strings). */
  env?: readonly string[];
}

export interface DeviceRequest {
  /** Fully qualified names, de-duplicated, annotation requests first. */
  devices: string[];
  /** Selector variables that were set but ignored because env selection is off (for logs). */
  ignoredEnv: string[];
}

function invalid(message: string, details?: Record<string, unknown>): AccelError {
  return new AccelError(ErrorCode.DEVICE_REQUEST_INVALID, message, details ? { details } : {});
}

/** True when `name` is a valid CDI device name (the part after `=`). */
export function isValidDeviceName(name: string): boolean {
  return name.length <= DEVICE_NAME_MAX && DEVICE_RE.test(name);
}

/** Parses `vendor/class`, refusing anything the CDI naming rules do not allow. */
export function parseKind(kind: string): { vendor: string; class: string } {
  const slash = kind.indexOf('/');
  const vendor = slash < 0 ? '' : kind.slice(0, slash);
  const cls = slash < 0 ? '' : kind.slice(slash + 1);
  if (!VENDOR_RE.test(vendor) || !CLASS_RE.test(cls)) {
    throw invalid(`invalid CDI kind ${JSON.stringify(kind)}: want vendor.com/class`, { kind });
  }
  return { vendor, class: cls };
}

/** Parses `vendor.com/class=name`; anything else (paths, `..`, blanks) is refused. */
export function parseQualifiedName(text: string): QualifiedDeviceName {
  const eq = text.indexOf('=');
  if (eq < 0) {
    throw invalid(`invalid CDI device name ${JSON.stringify(text)}: want vendor.com/class=name`, { name: text });
  }
  const kind = text.slice(0, eq);
  const name = text.slice(eq + 1);
  let parsed;
  try {
    parsed = parseKind(kind);
  } catch {
    throw invalid(`invalid CDI device name ${JSON.stringify(text)}: bad vendor/class ${JSON.stringify(kind)}`, {
      name: text,
    });
  }
  if (!isValidDeviceName(name)) {
    throw invalid(`invalid CDI device name ${JSON.stringify(text)}: bad device name ${JSON.stringify(name)}`, {
      name: text,
    });
  }
  return { vendor: parsed.vendor, class: parsed.class, kind, name, qualified: text };
}

/** Devices requested through `cdi.k8s.io/*` annotations, in key order then list order. */
export function annotationRequests(annotations: Readonly<Record<string, string>> | undefined): string[] {
  if (annotations === undefined) return [];
  const out: string[] = [];
  for (const key of Object.keys(annotations).sort()) {
    if (!key.startsWith(CDI_ANNOTATION_PREFIX)) continue;
    const suffix = key.slice(CDI_ANNOTATION_PREFIX.length);
    if (suffix.length > ANNOTATION_NAME_MAX || !ANNOTATION_NAME_RE.test(suffix)) {
      throw invalid(`invalid CDI annotation key ${JSON.stringify(key)}`, { key });
    }
    const value = annotations[key];
    if (typeof value !== 'string') throw invalid(`CDI annotation ${key} is not a string`, { key });
    for (const item of value.split(',')) {
      try {
        out.push(parseQualifiedName(item).qualified);
      } catch (err) {
        throw invalid(`CDI annotation ${key}: ${(err as Error).message}`, { key, value });
      }
    }
  }
  return out;
}

/** The single value of `variable` in an env list; null when unset. Conflicting repeats are refused. */
export function envValue(env: readonly string[] | undefined, variable: string): string | null {
  let found: string | null = null;
  for (const entry of env ?? []) {
    if (typeof entry !== 'string') continue;
    const eq = entry.indexOf('=');
    if (eq < 0 || entry.slice(0, eq) !== variable) continue;
    const value = entry.slice(eq + 1);
    if (found !== null && found !== value) {
      throw invalid(`${variable} is set more than once with different values`, { variable });
    }
    found = value;
  }
  return found;
}

/**
 * Devices named by one selector variable. `all` selects every device of the
 * kind; `none`, `void` and an empty value select nothing; otherwise a comma
 * list of indices, UUIDs or other CDI device names.
 */
export function envSelection(value: string, selector: EnvSelector): string[] {
  parseKind(selector.kind);
  const trimmed = value.trim();
  if (trimmed === '' || trimmed === 'none' || trimmed === 'void') return [];
  const items = trimmed.split(',').map((s) => s.trim());
  if (items.includes('all') && items.length > 1) {
    throw invalid(`${selector.variable}: "all" cannot be combined with other devices`, { value });
  }
  return items.map((item) => {
    if (!isValidDeviceName(item)) {
      throw invalid(`${selector.variable}: invalid device ${JSON.stringify(item)}`, { value });
    }
    return `${selector.kind}=${item}`;
  });
}

/** Everything the container asks for, annotations first, each name once. */
export function requestedDevices(input: DeviceRequestInput, options: DeviceRequestOptions = {}): DeviceRequest {
  const names = annotationRequests(input.annotations);
  const ignoredEnv: string[] = [];
  for (const selector of options.envSelectors ?? DEFAULT_ENV_SELECTORS) {
    if (options.allowEnvSelection !== true) {
      // Not even parsed: a malformed value must not fail a container that never opted in.
      if ((input.env ?? []).some((e) => typeof e === 'string' && e.startsWith(`${selector.variable}=`))) {
        ignoredEnv.push(selector.variable);
      }
      continue;
    }
    const value = envValue(input.env, selector.variable);
    if (value !== null) names.push(...envSelection(value, selector));
  }
  return { devices: [...new Set(names)], ignoredEnv };
}
