import { AccelError, ErrorCode } from '../../errors.js';
import type { DiscoveryContext } from '../vendor.js';
import { runTool } from '../run-tool.js';
import { parseSmiCsv, SMI_ARGS } from './smi-parse.js';
import { countGpus, type SourceAnswer } from './source.js';

export interface SmiSourceOptions {
  smiPath: string;
  smiTimeoutMs: number;
}

/**
 * Asks nvidia-smi (the host's copy, run from inside the host root) for the
 * GPU list. It spawns a process per call, so it is only a fallback for when
 * NVML cannot be loaded in-process.
 */
export async function querySmi(ctx: DiscoveryContext, opts: SmiSourceOptions): Promise<SourceAnswer> {
  const fail = (why: string) => new AccelError(ErrorCode.NVIDIA_SMI, why, { details: { smiPath: opts.smiPath } });
  const resolved = await ctx.host.resolve(opts.smiPath);
  if (resolved === null) throw fail(`${opts.smiPath} not found on the host`);
  const outcome = await runTool(ctx.host.path(resolved), SMI_ARGS, {
    timeoutMs: opts.smiTimeoutMs,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  switch (outcome.kind) {
    case 'timed-out':
      throw fail(`${opts.smiPath} did not answer within ${opts.smiTimeoutMs} ms and was killed`);
    case 'aborted':
      throw fail(`${opts.smiPath} was stopped: discovery aborted`);
    case 'failed':
      throw fail(`${opts.smiPath} could not run: ${outcome.reason}`);
    case 'exited':
      break;
  }
  if (outcome.exitCode !== 0) {
    const said = (outcome.stderr.trim() || outcome.stdout.trim()).split('\n')[0]?.slice(0, 200) ?? '';
    throw fail(`${opts.smiPath} exited with status ${outcome.exitCode}${said ? `: ${said}` : ''}`);
  }
  const rows = parseSmiCsv(outcome.stdout);
  const versions = new Set(rows.map((r) => r.driverVersion).filter((v): v is string => v !== null));
  const warnings = versions.size > 1 ? [`nvidia-smi reports several driver versions: ${[...versions].join(', ')}`] : [];
  return {
    driverVersion: versions.size === 1 ? [...versions][0]! : null,
    gpus: rows.map((r) => ({
      pciBusId: r.pciBusId,
      uuid: r.uuid,
      name: r.name,
      memoryMiB: r.memoryMiB,
      minor: r.minor,
      virtualizationMode: r.virtualizationMode,
      source: 'nvidia-smi',
      problem: null,
    })),
    detail: `${opts.smiPath}: ${countGpus(rows.length)}`,
    warnings,
  };
}
