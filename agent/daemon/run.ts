import type { AgentConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { AgentDaemon } from './agent.js';
import { stopOnSignals } from './signals.js';

/** `accel-agent run`: start the daemon and keep it until SIGTERM or SIGINT. */
export async function runDaemon(config: AgentConfig, log: Logger): Promise<number> {
  const daemon = new AgentDaemon(config, log);
  await daemon.start();
  return new Promise<number>((resolve) => {
    const remove = stopOnSignals(() => daemon.stop(), {
      exit: (code) => {
        remove();
        resolve(code);
      },
    });
  });
}
