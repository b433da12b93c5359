import type { AgentConfig } from '../config/schema.js';
import { npuProfile, nvidiaOptions } from '../config/options.js';
import { Discoverer } from '../discovery/discoverer.js';
import type { Logger } from '../log.js';
import type { Inventory } from '../model/device.js';
import { cdiGenerate, type CdiGenerateResult } from './cdi-command.js';

export interface CdiFromConfigOptions {
  outputDir: string;
  /** An inventory the caller already has (the daemon's); discovery runs when absent. */
  inventory?: Pick<Inventory, 'devices' | 'drivers'>;
  print?: (line: string) => void;
}

/** `cdi generate` and the daemon's spec refresh, both driven by the agent configuration. */
export async function generateCdiForConfig(config: AgentConfig, log: Logger, opts: CdiFromConfigOptions): Promise<CdiGenerateResult> {
  const npu = npuProfile(config);
  const nvidia = nvidiaOptions(config);
  const discover = async () => {
    if (opts.inventory) return opts.inventory;
    const discoverer = new Discoverer(config.hostRoot, { nvidia, npu }, log);
    try {
      return await discoverer.scan();
    } finally {
      await discoverer.close();
    }
  };
  return cdiGenerate({
    hostRoot: config.hostRoot,
    outputDir: opts.outputDir,
    specHostPrefix: config.cdi.hostPrefix,
    discover,
    nvidia: nvidia.enabled ? {} : false,
    npu,
    log,
    ...(opts.print ? { print: opts.print } : {}),
  });
}
