import os from 'node:os';
import { createRequire } from 'node:module';
import { describeError } from '../errors.js';
import type { HostRoot } from '../host/host-root.js';
import type { Logger } from '../log.js';
import type { HostFacts } from '../model/device.js';
import { osNameFromOsRelease } from './os-release.js';

/** The systeminformation calls used; injectable so tests can make them fail or hang. */
export interface SystemInfo {
  cpu(): Promise<{ manufacturer: string; brand: string; cores: number }>;
  mem(): Promise<{ total: number }>;
  osInfo(): Promise<{ distro: string; release: string; kernel: string; arch: string; hostname: string }>;
}

export interface HostFactsOptions {
  /** When not `/`, the host's own /etc/os-release and /etc/hostname are preferred over the agent's. */
  host?: HostRoot;
  /** systeminformation is abandoned after this long and node:os answers instead. */
  timeoutMs?: number;
  log?: Logger;
  systemInfo?: SystemInfo;
}

const MIB = 1024 * 1024;

/**
 * CPU, memory, OS and kernel of the node. systeminformation is asked for
 * these only (never `graphics()`, which shells out to nvidia-smi and lspci
 * synchronously); when it fails or is slow, node:os fills in.
 */
export async function collectHostFacts(options: HostFactsOptions = {}): Promise<HostFacts> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const sys = options.systemInfo ?? systemInformation();
  let facts: HostFacts;
  try {
    facts = await withTimeout(fromSystemInfo(sys), timeoutMs);
  } catch (err) {
    options.log?.warn({ reason: describeError(err) }, 'systeminformation failed; host facts from node:os');
    facts = fromNodeOs();
  }
  if (options.host && options.host.root !== '/') facts = await overlayHostFiles(options.host, facts);
  return facts;
}

/**
 * Only the three systeminformation modules that answer these calls. Its index
 * loads all of its modules, a megabyte of heap more that an idle daemon would
 * keep for nothing; the package has no export map, so these paths are public.
 */
function systemInformation(): SystemInfo {
  const load = createRequire(import.meta.url);
  const { cpu } = load('systeminformation/lib/cpu.js') as Pick<SystemInfo, 'cpu'>;
  const { mem } = load('systeminformation/lib/memory.js') as Pick<SystemInfo, 'mem'>;
  const { osInfo } = load('systeminformation/lib/osinfo.js') as Pick<SystemInfo, 'osInfo'>;
  return { cpu, mem, osInfo };
}

async function fromSystemInfo(sys: SystemInfo): Promise<HostFacts> {
  const [cpu, mem, info] = await Promise.all([sys.cpu(), sys.mem(), sys.osInfo()]);
  const fallback = fromNodeOs();
  const cpuModel = [cpu.manufacturer, cpu.brand].filter((s) => s && s.trim()).join(' ');
  return {
    hostname: info.hostname || fallback.hostname,
    os: [info.distro, info.release].filter(Boolean).join(' ') || fallback.os,
    kernel: info.kernel || fallback.kernel,
    arch: info.arch || fallback.arch,
    cpuModel: cpuModel || fallback.cpuModel,
    cpuCores: Number.isInteger(cpu.cores) && cpu.cores > 0 ? cpu.cores : fallback.cpuCores,
    memoryMiB: Number.isFinite(mem.total) && mem.total > 0 ? Math.floor(mem.total / MIB) : fallback.memoryMiB,
  };
}

export function fromNodeOs(): HostFacts {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    os: `${os.type()} ${os.release()}`,
    kernel: os.release(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model.trim() || 'unknown',
    cpuCores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    memoryMiB: Math.floor(os.totalmem() / MIB),
  };
}

/** Inside a container the agent's /etc is the image's; the host's files say what the node is. */
async function overlayHostFiles(host: HostRoot, facts: HostFacts): Promise<HostFacts> {
  const read = async (p: string) => {
    try {
      return await host.readTextIfExists(p);
    } catch {
      return null;
    }
  };
  const osRelease = await read('/etc/os-release');
  const hostname = (await read('/etc/hostname'))?.trim().split('\n')[0]?.trim();
  const osName = osRelease === null ? null : osNameFromOsRelease(osRelease);
  return {
    ...facts,
    ...(osName ? { os: osName } : {}),
    ...(hostname && /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(hostname) ? { hostname } : {}),
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
