import path from 'node:path';
import { AccelError, ErrorCode } from '../errors.js';
import type { ContainerEdits, DeviceNodeEdit, HookEdit, MountEdit } from './container-edits.js';

/**
 * Applies CDI container edits to an OCI runtime config (`config.json`).
 *
 * Rules, chosen so a wrapper can run twice on one bundle and so nothing in
 * the container can redirect an edit:
 * - the input is never mutated; a new config is returned;
 * - every container path must be absolute with no `..`; every mount source
 *   must be an absolute host path (sources only ever come from the edits);
 * - an edit identical to what the config already has is a no-op, a
 *   different one at the same path is refused;
 * - an injected env variable replaces every same-named entry of the
 *   container's env, so an image cannot override what its device assignment says;
 * - hooks are only added when the edits carry them, always with an explicit
 *   env (never the runtime's) and a timeout.
 */

export const HOOK_NAMES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type OciHookName = (typeof HOOK_NAMES)[number];

export interface OciDevice {
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface OciProcess {
  env?: string[];
  user?: { uid?: number; gid?: number; additionalGids?: number[]; [key: string]: unknown };
  [key: string]: unknown;
}

export interface OciLinux {
  devices?: OciDevice[];
  resources?: { devices?: OciDeviceRule[]; [key: string]: unknown };
  [key: string]: unknown;
}

export interface OciConfig {
  ociVersion: string;
  process?: OciProcess;
  root?: { path: string; readonly?: boolean };
  mounts?: OciMount[];
  hooks?: Partial<Record<OciHookName, OciHook[]>>;
  annotations?: Record<string, string>;
  linux?: OciLinux;
  [key: string]: unknown;
}

export interface ApplyEditsOptions {
  /** Seconds a hook may run when the edits give no timeout. */
  defaultHookTimeout?: number;
  /** The env a hook gets when the edits give none; never the container's or the runtime's. */
  defaultHookEnv?: readonly string[];
}

const DEFAULT_HOOK_TIMEOUT = 10;
const DEFAULT_HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
const MAX_ID = 0xfffffffe;
const ACCESS_RE = /^(?!.*(.).*\1)[rwm]{1,3}$/;
const ENV_RE = /^[^=\0]+=[^\0]*$/;

// ---------------------------------------------------------------- validation

function configError(field: string, problem: string): AccelError {
  return new AccelError(ErrorCode.OCI_CONFIG_INVALID, `config.json: ${field} ${problem}`, { details: { field } });
}

function editError(message: string, details?: Record<string, unknown>): AccelError {
  return new AccelError(ErrorCode.CDI_INVALID, message, details ? { details } : {});
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optObject(parent: Record<string, unknown>, key: string, field: string): Record<string, unknown> | undefined {
  const v = parent[key];
  if (v === undefined) return undefined;
  if (!isObject(v)) throw configError(field, 'must be an object');
  return v;
}

function optArray(parent: Record<string, unknown>, key: string, field: string): unknown[] | undefined {
  const v = parent[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw configError(field, 'must be an array');
  return v;
}

function checkStrings(items: unknown[], field: string): void {
  items.forEach((s, i) => {
    if (typeof s !== 'string') throw configError(`${field}[${i}]`, 'must be a string');
  });
}

function checkObjects(items: unknown[], field: string, check: (o: Record<string, unknown>, f: string) => void): void {
  items.forEach((o, i) => {
    if (!isObject(o)) throw configError(`${field}[${i}]`, 'must be an object');
    check(o, `${field}[${i}]`);
  });
}

function requireString(o: Record<string, unknown>, key: string, field: string): void {
  if (typeof o[key] !== 'string') throw configError(`${field}.${key}`, 'must be a string');
}

function optIds(o: Record<string, unknown>, key: string, field: string): void {
  const v = optArray(o, key, `${field}.${key}`);
  v?.forEach((n, i) => {
    if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > MAX_ID) {
      throw configError(`${field}.${key}[${i}]`, 'must be a non-negative integer id');
    }
  });
}

/**
 * Checks the parts of a config the edits read or extend, naming the first bad
 * field; everything else is left for the runtime to judge.
 */
export function validateOciConfig(value: unknown): OciConfig {
  if (!isObject(value)) throw configError('(top level)', 'must be a JSON object');
  if (typeof value.ociVersion !== 'string') throw configError('ociVersion', 'must be a string');

  const root = optObject(value, 'root', 'root');
  if (root) requireString(root, 'path', 'root');

  const proc = optObject(value, 'process', 'process');
  if (proc) {
    const env = optArray(proc, 'env', 'process.env');
    if (env) checkStrings(env, 'process.env');
    const user = optObject(proc, 'user', 'process.user');
    if (user) optIds(user, 'additionalGids', 'process.user');
  }

  const mounts = optArray(value, 'mounts', 'mounts');
  if (mounts) {
    checkObjects(mounts, 'mounts', (m, f) => {
      requireString(m, 'destination', f);
      if (m.source !== undefined) requireString(m, 'source', f);
      if (m.type !== undefined) requireString(m, 'type', f);
      const opts = optArray(m, 'options', `${f}.options`);
      if (opts) checkStrings(opts, `${f}.options`);
    });
  }

  const hooks = optObject(value, 'hooks', 'hooks');
  if (hooks) {
    for (const name of Object.keys(hooks)) {
      const list = optArray(hooks, name, `hooks.${name}`);
      if (list) checkObjects(list, `hooks.${name}`, (h, f) => requireString(h, 'path', f));
    }
  }

  const annotations = optObject(value, 'annotations', 'annotations');
  if (annotations) {
    for (const [k, v] of Object.entries(annotations)) {
      if (typeof v !== 'string') throw configError(`annotations[${JSON.stringify(k)}]`, 'must be a string');
    }
  }

  const linux = optObject(value, 'linux', 'linux');
  if (linux) {
    const devices = optArray(linux, 'devices', 'linux.devices');
    if (devices) {
      checkObjects(devices, 'linux.devices', (d, f) => {
        requireString(d, 'path', f);
        requireString(d, 'type', f);
      });
    }
    const resources = optObject(linux, 'resources', 'linux.resources');
    if (resources) {
      const rules = optArray(resources, 'devices', 'linux.resources.devices');
      if (rules) {
        checkObjects(rules, 'linux.resources.devices', (r, f) => {
          if (typeof r.allow !== 'boolean') throw configError(`${f}.allow`, 'must be a boolean');
        });
      }
    }
  }
  return value as OciConfig;
}

// ---------------------------------------------------------------- edit checks

/** An absolute path with no `..` and no NUL, returned normalised; `what` names it in errors. */
export function cleanAbsolutePath(p: unknown, what: string): string {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) {
    throw editError(`${what} must be an absolute path, got ${JSON.stringify(p)}`);
  }
  if (p.split('/').includes('..')) throw editError(`${what} must not contain "..": ${JSON.stringify(p)}`);
  const clean = path.posix.normalize(p);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

function containerPath(p: unknown, what: string): string {
  const clean = cleanAbsolutePath(p, what);
  if (clean === '/') throw editError(`${what} must not be the container root`);
  return clean;
}

function checkId(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > MAX_ID) {
    throw editError(`${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v as number;
}

export interface NodePlan {
  device: OciDevice;
  rule: OciDeviceRule;
}

/** The `linux.devices` entry and cgroup allow rule for one device node edit (validated). */
export function ociDeviceFor(edit: DeviceNodeEdit): NodePlan {
  const where = `device node ${JSON.stringify(edit.path)}`;
  const p = containerPath(edit.path, where);
  if (edit.hostPath !== undefined) cleanAbsolutePath(edit.hostPath, `${where} hostPath`);
  if (edit.type !== 'c' && edit.type !== 'b') {
    throw editError(`${where} needs type "c" or "b" (resolve it from the host first)`, { path: edit.path });
  }
  const major = checkId(edit.major, `${where} major`);
  const minor = checkId(edit.minor, `${where} minor`);
  if (major === undefined || minor === undefined) {
    throw editError(`${where} needs major and minor numbers (resolve them from the host first)`, { path: edit.path });
  }
  const device: OciDevice = { type: edit.type, path: p, major, minor };
  if (edit.fileMode !== undefined) {
    if (!Number.isInteger(edit.fileMode) || edit.fileMode < 0 || edit.fileMode > 0o7777) {
      throw editError(`${where} fileMode must be permission bits (0..0o7777)`);
    }
    device.fileMode = edit.fileMode;
  }
  const uid = checkId(edit.uid, `${where} uid`);
  const gid = checkId(edit.gid, `${where} gid`);
  if (uid !== undefined) device.uid = uid;
  if (gid !== undefined) device.gid = gid;
  const access = edit.permissions ?? 'rwm';
  if (!ACCESS_RE.test(access)) throw editError(`${where} permissions must be letters from "rwm", got ${JSON.stringify(access)}`);
  return { device, rule: { allow: true, type: edit.type, major, minor, access } };
}

/** The OCI bind mount for one mount edit (validated; the source is not resolved here). */
export function ociMountFor(edit: MountEdit): OciMount {
  const where = `mount ${JSON.stringify(edit.containerPath)}`;
  const destination = containerPath(edit.containerPath, where);
  if (typeof edit.hostPath !== 'string' || !edit.hostPath.startsWith('/')) {
    throw editError(`${where} source must be an absolute host path, got ${JSON.stringify(edit.hostPath)}`);
  }
  const source = cleanAbsolutePath(edit.hostPath, `${where} source`);
  const type = edit.type ?? 'bind';
  if (type !== 'bind') throw editError(`${where}: only bind mounts are injected, not ${JSON.stringify(type)}`);
  const options = [...(edit.options ?? [])];
  for (const o of options) {
    if (typeof o !== 'string' || o === '' || /[,\0]/.test(o)) throw editError(`${where}: bad mount option ${JSON.stringify(o)}`);
  }
  if (!options.includes('bind') && !options.includes('rbind')) options.push('rbind');
  return { destination, type, source, options };
}

function planHook(edit: HookEdit, options: ApplyEditsOptions): { name: OciHookName; hook: OciHook } {
  if (!(HOOK_NAMES as readonly string[]).includes(edit.hookName)) throw editError(`unknown hook ${JSON.stringify(edit.hookName)}`);
  const hookPath = cleanAbsolutePath(edit.path, `hook ${edit.hookName} path`);
  const env = [...(edit.env ?? options.defaultHookEnv ?? DEFAULT_HOOK_ENV)];
  for (const e of env) if (typeof e !== 'string' || !ENV_RE.test(e)) throw editError(`hook env entry ${JSON.stringify(e)} is not KEY=VALUE`);
  const timeout = edit.timeout ?? options.defaultHookTimeout ?? DEFAULT_HOOK_TIMEOUT;
  if (!Number.isInteger(timeout) || timeout <= 0) throw editError(`hook timeout must be a positive integer, got ${JSON.stringify(timeout)}`);
  const args = edit.args ?? [hookPath];
  if (!args.every((a) => typeof a === 'string')) throw editError('hook args must be strings');
  return { name: edit.hookName, hook: { path: hookPath, args: [...args], env, timeout } };
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

function sameDevice(a: OciDevice, b: OciDevice): boolean {
  return a.type === b.type && a.major === b.major && a.minor === b.minor;
}

function sameMount(a: OciMount, b: OciMount): boolean {
  return (
    a.source === b.source &&
    (a.type ?? 'bind') === (b.type ?? 'bind') &&
    JSON.stringify(a.options ?? []) === JSON.stringify(b.options ?? [])
  );
}

function sameRule(a: OciDeviceRule, b: OciDeviceRule): boolean {
  return a.allow === b.allow && a.type === b.type && a.major === b.major && a.minor === b.minor && a.access === b.access;
}

/** Normalises a path already in the config for comparison, tolerating odd but harmless spellings. */
function existingPath(p: string): string {
  const clean = path.posix.normalize(p);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/** Drops exact repeats among the edits themselves; two different edits for one path are refused. */
function dedupeEdits<T>(items: T[], key: (x: T) => string, same: (a: T, b: T) => boolean, what: string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    const prior = seen.get(k);
    if (prior === undefined) seen.set(k, item);
    else if (!same(prior, item)) throw editError(`two different ${what} edits for ${k}`, { path: k });
  }
  return [...seen.values()];
}

// ---------------------------------------------------------------- apply

/** The edits merged into a copy of `config`; `config` itself is left untouched. */
export function applyContainerEdits(config: OciConfig, edits: ContainerEdits, options: ApplyEditsOptions = {}): OciConfig {
  validateOciConfig(config);
  const out = structuredClone(config);

  const nodes = (edits.deviceNodes ?? []).map(ociDeviceFor);
  const mounts = (edits.mounts ?? []).map(ociMountFor);
  const env = edits.env ?? [];
  for (const e of env) if (typeof e !== 'string' || !ENV_RE.test(e)) throw editError(`env entry ${JSON.stringify(e)} is not KEY=VALUE`);
  const hooks = (edits.hooks ?? []).map((h) => planHook(h, options));
  const gids = (edits.additionalGids ?? []).map((g, i) => checkId(g, `additionalGids[${i}]`) as number);

  const sameNode = (a: NodePlan, b: NodePlan): boolean => sameDevice(a.device, b.device) && sameRule(a.rule, b.rule);
  const uniqueNodes = dedupeEdits(nodes, (n) => n.device.path, sameNode, 'device node');
  const uniqueMounts = dedupeEdits(mounts, (m) => m.destination, sameMount, 'mount');

  if (uniqueNodes.length > 0) {
    out.linux ??= {};
    const devices = (out.linux.devices ??= []);
    out.linux.resources ??= {};
    const rules = (out.linux.resources.devices ??= []);
    for (const { device, rule } of uniqueNodes) {
      const i = devices.findIndex((d) => existingPath(d.path) === device.path);
      if (i < 0) devices.push(device);
      else if (!sameDevice(devices[i]!, device)) {
        const d = devices[i]!;
        const injected = `${device.path} (${device.type} ${device.major}:${device.minor})`;
        throw configError(`linux.devices[${i}]`, `(${d.type} ${d.major}:${d.minor}) conflicts with injected ${injected}`);
      }
      if (!rules.some((r) => sameRule(r, rule))) rules.push(rule);
    }
  }

  if (uniqueMounts.length > 0) {
    const list = (out.mounts ??= []);
    for (const m of uniqueMounts) {
      const i = list.findIndex((x) => existingPath(x.destination) === m.destination);
      if (i < 0) list.push(m);
      else if (!sameMount(list[i]!, m)) {
        throw configError(`mounts[${i}]`, `(source ${JSON.stringify(list[i]!.source)}) conflicts with the injected mount at ${m.destination}`);
      }
    }
  }

  if (env.length > 0) {
    out.process ??= {};
    const injected = new Map<string, string>();
    for (const e of env) {
      const key = envKey(e);
      const prior = injected.get(key);
      if (prior !== undefined && prior !== e) throw editError(`edits set ${key} twice with different values`);
      injected.set(key, e);
    }
    out.process.env = [...(out.process.env ?? []).filter((e) => !injected.has(envKey(e))), ...injected.values()];
  }

  if (hooks.length > 0) {
    out.hooks ??= {};
    for (const { name, hook } of hooks) {
      const list = (out.hooks[name] ??= []);
      if (!list.some((h) => JSON.stringify(h) === JSON.stringify(hook))) list.push(hook);
    }
  }

  if (gids.length > 0) {
    out.process ??= {};
    out.process.user ??= {};
    const have = (out.process.user.additionalGids ??= []);
    for (const g of gids) if (!have.includes(g)) have.push(g);
  }
  return out;
}
